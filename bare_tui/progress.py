"""Progress of a generation job on the terminal: a Rich bar with counts, samples/s,
tokens/s and ETA; plain periodic lines when output is not a terminal (nohup logs)."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeRemainingColumn,
)

from bare_tui.core.pipeline import Sample

PLAIN_EVERY_S = 10.0


class JobProgress:
    def __init__(self, console: Console, label: str, total: int):
        self.console = console
        self.label = label
        self.total = total
        self.tokens = 0
        self.done = 0
        self.parse_failures = 0
        self.started = time.perf_counter()
        self._last_plain = self.started
        self._progress: Progress | None = None

    def __enter__(self) -> JobProgress:
        if self.console.is_terminal:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rates]}"),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=self.total, rates="")
        else:
            self.console.print(f"{self.label}: 0/{self.total}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
        self.console.print(f"{self.label}: {self.done}/{self.total} {self.rates()}"
                           f"{self._failures()}")

    def rates(self) -> str:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        return f"{self.done / elapsed:.2f} samples/s, {self.tokens / elapsed:.1f} tok/s"

    def _failures(self) -> str:
        return f", {self.parse_failures} unparsed" if self.parse_failures else ""

    def __call__(self, sample: Sample) -> None:
        self.done = sample.done
        self.tokens += sample.generation.completion_tokens
        self.parse_failures += not sample.parsed
        if self._progress is not None:
            self._progress.update(self._task, completed=sample.done, rates=self.rates())
            return
        now = time.perf_counter()
        if now - self._last_plain >= PLAIN_EVERY_S and sample.done < self.total:
            self._last_plain = now
            self.console.print(f"{self.label}: {self.done}/{self.total} {self.rates()}")
