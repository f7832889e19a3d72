"""LLM backends behind one small interface: raw completion for drafts, chat for refines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bare_tui.core.tasks import Sampling


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    ms: float
    finish_reason: str  # "stop" (stop string or end of text) or "length"


class Backend(Protocol):
    """A loaded model. `describe()` is what a run records about it."""

    def complete(self, prompt: str, sampling: Sampling, seed: int) -> Generation: ...

    def chat(self, messages: list[dict[str, str]], sampling: Sampling, seed: int) -> Generation: ...

    def describe(self) -> dict[str, str]: ...
