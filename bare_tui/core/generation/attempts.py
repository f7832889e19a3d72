"""Jobs for a backend's `*_many` call that grow while it runs: retries join the batch.

A draft that does not parse, or a refinement that fails its checks, is tried again. Run
in rounds (all first attempts, then the retries, then theirs), each round ends with few
sequences decoding at once while the rest of the batch sits idle. `Attempts` instead
hands the backend each retry as soon as the consumer of the results asks for it, so it
is decoded beside the first attempts still running.

It is an iterator that may run dry and flow again: `next()` raises StopIteration when no
job is waiting now, and returns the next one once a retry was added. Backends poll their
jobs again whenever they have room and stop when none comes while nothing is in flight
(backends/__init__.py); by then every result was handed to the consumer, so every retry
it wanted was added.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")  # what is tried: a slot to draft, a candidate to refine
J = TypeVar("J")  # the backend's job for one attempt at it


class Attempts(Generic[T, J]):
    """The jobs for `items`, each made by `job(item)` when the backend takes it (so a
    retry draws its seed then), retries first."""

    def __init__(self, items: Iterable[T], job: Callable[[T], J]):
        self._items = iter(items)
        self._job = job
        self._retries: deque[T] = deque()

    def again(self, item: T) -> None:
        """Try `item` once more, as soon as the backend has room."""
        self._retries.append(item)

    def __iter__(self) -> Attempts[T, J]:
        return self

    def __next__(self) -> J:
        item = self._retries.popleft() if self._retries else next(self._items)
        return self._job(item)
