"""LLM backends behind one small interface: raw completion for drafts, chat for refines."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

from bare_tui.core.recipes import Sampling


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    ms: float
    finish_reason: str  # "stop" (stop string or end of text) or "length"


K = TypeVar("K")
Messages = list[dict[str, str]]


class Backend(Protocol):
    """A loaded model. `describe()` is what a run records about it.

    The `*_many` forms take (key, prompt or messages, seed) jobs from an iterable, pulling
    a new one whenever there is room, and yield (key, generation) as each finishes; a
    backend runs as many at once as it can. The iterable may run dry and flow again
    (core/attempts.py: retries added as results come in): a backend asks it again
    whenever it has room, and ends when none comes while nothing is in flight.
    """

    def complete(self, prompt: str, sampling: Sampling, seed: int) -> Generation: ...

    def chat(self, messages: Messages, sampling: Sampling, seed: int) -> Generation: ...

    def complete_many(self, jobs: Iterable[tuple[K, str, int]], sampling: Sampling
                      ) -> Iterator[tuple[K, Generation]]: ...

    def chat_many(self, jobs: Iterable[tuple[K, Messages, int]], sampling: Sampling
                  ) -> Iterator[tuple[K, Generation]]: ...

    def describe(self) -> dict[str, str]: ...


class OneAtATime:
    """`*_many` for a backend that generates one sample at a time."""

    def complete_many(self, jobs: Iterable[tuple[K, str, int]], sampling: Sampling
                      ) -> Iterator[tuple[K, Generation]]:
        for key, prompt, seed in jobs:
            yield key, self.complete(prompt, sampling, seed)  # type: ignore[attr-defined]

    def chat_many(self, jobs: Iterable[tuple[K, Messages, int]], sampling: Sampling
                  ) -> Iterator[tuple[K, Generation]]:
        for key, messages, seed in jobs:
            yield key, self.chat(messages, sampling, seed)  # type: ignore[attr-defined]
