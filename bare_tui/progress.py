"""Progress of a generation job on the terminal: a Rich bar with counts, samples/s,
tokens/s and time left; plain periodic lines when output is not a terminal (nohup logs).

The time left is the job's own pace so far (core/generation/meter.py), drawn anew with every
refresh: with many sequences decoded at once, samples finish in bursts, and an estimate
from the last burst alone would stand still, too low, until the next one."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
)
from rich.text import Text

from bare_tui.core.generation.meter import Meter
from bare_tui.core.generation.pipeline import Sample

PLAIN_EVERY_S = 10.0


class TimeLeftColumn(ProgressColumn):
    """The meter's time left, from the pace of the whole job so far."""

    def __init__(self, meter: Meter):
        super().__init__()
        self.meter = meter

    def render(self, task: object) -> Text:
        return Text(f"ETA {self.meter.eta()}", style="progress.remaining")


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
                TimeLeftColumn(self.meter),
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
