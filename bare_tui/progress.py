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

from bare_tui.core.meter import Meter
from bare_tui.core.pipeline import Sample

PLAIN_EVERY_S = 10.0


class JobProgress:
    def __init__(self, console: Console, label: str, total: int):
        self.console = console
        self.meter = Meter(label, total)
        self._last_plain = time.perf_counter()
        self._progress: Progress | None = None

    def __enter__(self) -> JobProgress:
        if self.console.is_terminal:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}", markup=False, style="bold"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rates]}", markup=False),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.meter.label, total=self.meter.total,
                                                 rates="")
        else:
            self.console.print(f"{self.meter.label}: 0/{self.meter.total}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
        self.console.print(self.meter.line())

    def __call__(self, sample: Sample) -> None:
        self.meter.add(sample.done, sample.generation.completion_tokens, sample.parsed,
                       sample.total)
        if self._progress is not None:
            self._progress.update(self._task, completed=sample.done, total=self.meter.total,
                                  rates=self.meter.rates())
            return
        now = time.perf_counter()
        if now - self._last_plain >= PLAIN_EVERY_S and sample.done < self.meter.total:
            self._last_plain = now
            self.console.print(self.meter.line())
