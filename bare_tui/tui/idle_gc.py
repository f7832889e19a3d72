"""Python's full garbage collections, moved to when nobody is typing.

A full collection walks every object made since the last one (Textual's caches, the
rows and lines drawn, the dialogs opened and closed): 20 to 30 ms on a 2-core machine,
and it came in the middle of a keypress every few searches or filters. The app freezes
what lives as long as it does after its first frame, raises the threshold of the full
collection so that it hardly ever comes on its own, and collects in full once no key
came for IDLE_S."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

IDLE_S = 0.5
# Younger collections between two full ones while keys never pause (Python's: 10).
FULL_EVERY = 1_000


class IdleCollector:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.last_key = clock()
        self._threshold: tuple[int, int, int] | None = None

    def start(self) -> None:
        """After the first frame: what is alive now lives as long as the app."""
        gc.freeze()
        self._threshold = gc.get_threshold()
        young, middle, _full = self._threshold
        gc.set_threshold(young, middle, FULL_EVERY)

    def stop(self) -> None:
        if self._threshold is not None:
            gc.set_threshold(*self._threshold)
            self._threshold = None

    def pressed(self) -> None:
        self.last_key = self.clock()

    def tick(self) -> bool:
        """Collect in full when the keys paused and a younger collection has run since
        the last full one (else nothing new can wait for it); whether it did."""
        if self.clock() - self.last_key < IDLE_S or gc.get_count()[2] == 0:
            return False
        gc.collect()
        return True
