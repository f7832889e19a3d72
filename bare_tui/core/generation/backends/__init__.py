"""LLM backends behind one small interface: raw completion for drafts, chat for refines."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from bare_tui.core.inputs.recipes import Sampling


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    ms: float
    finish_reason: str  # "stop" (stop string or end of text) or "length"


K = TypeVar("K")
Messages = list[dict[str, str]]


class Backend:
    """A loaded model. `describe()` is what a run records about it.

    The `*_many` forms take (key, prompt or messages, seed) jobs from an iterable, pulling
    a new one whenever there is room, and yield (key, generation) as each finishes; a
    backend runs as many at once as it can (by default one at a time). The iterable may
    run dry and flow again (core/generation/attempts.py: retries added as results come in): a
    backend asks it again whenever it has room, and ends when none comes while nothing
    is in flight.

    What a backend can do is declared here, with the default a new backend gets; the
    pipeline reads these and nothing else.
    """

    takes_grammar: bool = False  # applies `Sampling.grammar` (GBNF) to what it samples
    takes_reply_start: bool = False  # continues a last, unfinished assistant message
    cannot_chat: str | None = None  # why the model cannot take chat messages, or None

    def complete(self, prompt: str, sampling: Sampling, seed: int) -> Generation:
        raise NotImplementedError

    def chat(self, messages: Messages, sampling: Sampling, seed: int) -> Generation:
        raise NotImplementedError

    def describe(self) -> dict[str, str]:
        raise NotImplementedError

    def complete_many(self, jobs: Iterable[tuple[K, str, int]], sampling: Sampling
                      ) -> Iterator[tuple[K, Generation]]:
        for key, prompt, seed in jobs:
            yield key, self.complete(prompt, sampling, seed)

    def chat_many(self, jobs: Iterable[tuple[K, Messages, int]], sampling: Sampling
                  ) -> Iterator[tuple[K, Generation]]:
        for key, messages, seed in jobs:
            yield key, self.chat(messages, sampling, seed)
