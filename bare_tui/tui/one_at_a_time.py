"""A thread job that runs one at a time: asked for while it runs, it runs once more
after it ends, however often it was asked meanwhile. A thread cannot be stopped, so
starting another beside it (an exclusive worker) would only add a second reader of the
same million rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class OneAtATime:
    def __init__(self, start: Callable[[], Any]):
        self.start = start  # starts the thread worker
        self.running = False
        self.again = False

    def __call__(self) -> None:
        if self.running:
            self.again = True
            return
        self.running = True
        self.start()

    def ended(self) -> None:
        """The worker ended (the screen hears its Worker.StateChanged)."""
        self.running = False
        if self.again:
            self.again = False
            self()
