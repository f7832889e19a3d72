"""Counts and rates of a running job: samples/s, tokens/s, ETA."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Meter:
    label: str
    total: int
    done: int = 0
    tokens: int = 0
    unparsed: int = 0
    started: float = field(default_factory=time.perf_counter)

    def add(self, done: int, completion_tokens: int, parsed: bool,
            total: int | None = None) -> None:
        """One more sample; `total` grows when a job plans more (retries)."""
        self.done = done
        self.total = max(self.total, total or 0)
        self.tokens += completion_tokens
        self.unparsed += not parsed

    @property
    def elapsed(self) -> float:
        return max(time.perf_counter() - self.started, 1e-9)

    def rates(self) -> str:
        return (f"{self.done / self.elapsed:.2f} samples/s, "
                f"{self.tokens / self.elapsed:.1f} tok/s")

    def eta(self) -> str:
        """Time left at the pace so far; it grows while no sample comes, so it is never
        stuck on the last burst's estimate."""
        if not self.done:
            return "measuring"
        seconds = int((self.total - self.done) * self.elapsed / self.done)
        return f"{seconds // 60}:{seconds % 60:02d}"

    def line(self) -> str:
        unparsed = f", {self.unparsed} unparsed" if self.unparsed else ""
        return f"{self.label}: {self.done}/{self.total} {self.rates()}{unparsed}"
