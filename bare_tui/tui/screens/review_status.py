"""What the review screen writes around the diff: its status line (two lines, a warning
above them) and the note under the candidate's heading. Pure functions of what they are
given; the screen draws what they return."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from rich.text import Text

from bare_tui.core.measures import curation, decontam, judge
from bare_tui.core.reviewing import review
from bare_tui.core.reviewing.review_list import Summary
from bare_tui.text import clean

NARROW = 100  # columns below which the list goes on top and the two versions stack
STATUS_ORDER = ("pending", "accepted", "rejected")


@dataclass
class Tally:
    """Counts by state: read in a thread now and then, shifted at once by this window's
    own decisions. A count read before one of them was written is brought up to date
    with it, so nothing is read again after a keypress. `usable` (not rejected, and
    passing its checks: core/workspace/yields.py) shifts with a reject or its undo, by
    the item's list row from before the step; a step that may change which text is final
    (an accept of the draft over a refinement) says the counts are stale, and the screen
    counts again in a thread."""

    counts: dict[str, int] = field(default_factory=dict)
    # This window's steps as (event id, status before, after, item usable when not
    # rejected), kept until a count that includes them arrives.
    own: list[tuple[int, str, str, bool]] = field(default_factory=list)

    def wrote(self, decided: review.Decided, shown: Mapping[int, Summary]) -> bool:
        """Shift by what this window wrote (`shown`: the decided items' list rows from
        before it); False when a count must be read again."""
        known = True
        for step in decided.steps:
            row = shown.get(step.candidate_id)
            # The row's final version is what an undecided item proposes: a step that
            # leaves that text final keeps its checks.
            known &= row is not None and step.after.version in (None, row.final_version)
            passes = row is not None and row.valid
            self.own.append((step.event_id, step.before.status, step.after.status, passes))
            self._shift(step.before.status, step.after.status, passes)
        return known

    def counted(self, counts: Mapping[str, int], as_of: int) -> None:
        """A count that includes every decision event up to `as_of`."""
        self.counts = dict(counts)
        self.own = [shift for shift in self.own if shift[0] > as_of]
        for _event, before, after, passes in self.own:
            self._shift(before, after, passes)

    def _shift(self, before: str, after: str, passes: bool) -> None:
        if self.counts and before != after:
            self.counts[before] = self.counts.get(before, 0) - 1
            self.counts[after] = self.counts.get(after, 0) + 1
            if passes and "rejected" in (before, after):
                self.counts["usable"] = self.counts.get("usable", 0) + (
                    1 if before == "rejected" else -1)


@dataclass(frozen=True)
class Shown:
    """What the status line tells."""

    recipe: str
    reviewer: str
    position: int  # 1-based; 0 when the list is empty
    total: int | None  # None while the list is being counted
    counts: Mapping[str, int]
    diversity: float | None  # the accepted set's mean similarity
    filter_name: str
    cluster: int | None
    search: str | None
    team: str  # who else is reviewing now
    flashed: str  # a passing word
    working: str  # what a thread worker is doing
    job_line: str
    warning: str


def status_lines(shown: Shown, width: int) -> list[Text]:
    """Two lines, each cut rather than wrapped (a wrapped line would push the second
    out), with shorter words on a narrow screen; a warning above them."""
    short = width < NARROW
    names = (dict(zip(STATUS_ORDER, ("pend", "acc", "rej"), strict=True)) if short
             else {status: status for status in STATUS_ORDER})
    top = Text()
    top.append(f" {shown.recipe} ", style="bold reverse")
    total = "…" if shown.total is None else shown.total
    top.append(f"  {shown.position} / {total}", style="bold")
    counts = shown.counts
    if counts:
        top.append(f" of {counts.get('candidates', 0)}  ")
        for status, style in zip(STATUS_ORDER, ("", "green", "red"), strict=True):
            top.append(f" {names[status]} {counts.get(status, 0)}", style=style)
        # usable: not rejected and passing its checks, so pending items count too
        top.append(f"  {'usable' if short else 'usable, not rejected'} "
                   f"{counts.get('usable', 0)}", style="bold")
    if shown.diversity is not None:
        top.append(f"  {'div' if short else 'diversity(accepted)'} {shown.diversity:.3f}",
                   style="bold")
    bottom = Text(f"filter: {shown.filter_name}")
    if shown.cluster is not None:
        bottom.append(f" in cluster {shown.cluster}", style="bold")
    if shown.search:
        bottom.append(f"  search: {clean(shown.search)}", style="italic")
    bottom.append(f"  reviewer: {clean(shown.reviewer)}  ")
    if shown.team:
        bottom.append(f"{clean(shown.team)}  ", style="bold magenta")
    if shown.flashed:
        bottom.append(f"{clean(shown.flashed)}  ", style="bold reverse")
    if shown.working:
        bottom.append(f"working: {clean(shown.working)}…  ", style="bold")
    bottom.append(shown.job_line or "job: idle (g generates more)", style="dim")
    for line in (top, bottom):
        line.no_wrap, line.overflow = True, "ellipsis"
    warning = [Text(clean(shown.warning), style="bold white on red")] if shown.warning else []
    return [*warning, top, bottom]


def twin_note(twin: curation.Twin | None, near_duplicate: float) -> Text | None:
    if twin is None:
        return None
    other = f"seed {twin.other_id}" if twin.kind == "seed" else f"#{twin.other_id}"
    if twin.similarity >= near_duplicate:
        return Text(f"⚠ near-duplicate of {other} (cosine {twin.similarity:.3f});"
                    " n jumps there", style="bold yellow")
    return Text(f"nearest: {other} (cosine {twin.similarity:.3f})", style="dim")


def flag_note(found: list[decontam.Flag]) -> Text | None:
    """An overlap with an evaluation set, with the item it matches, to read beside it."""
    if not found:
        return None
    first = found[0]
    matched = " ".join(first.matched.split())
    how = "; ".join(flag.evidence for flag in found)
    return Text(f"⚠ overlaps {clean(first.eval_set)} item {first.item + 1} ({how}): "
                f"“{clean(matched[:160])}{'…' if len(matched) > 160 else ''}”",
                style="bold red")


def detail_note(held_by: str | None, twin: curation.Twin | None, near_duplicate: float,
                verdict: tuple[int, int] | None,
                found: list[decontam.Flag] | None = None) -> Text | None:
    """The line under the heading: who else is on it, an overlap with an evaluation set,
    the nearest neighbour, the judge's verdict."""
    parts = [flag_note(found or []), twin_note(twin, near_duplicate)]
    if held_by is not None:
        parts.insert(0, Text(f"⚑ {clean(held_by)} is reviewing this now; j moves on",
                             style="bold magenta"))
    if verdict:
        style = "dim" if verdict[0] == verdict[1] else "yellow"
        parts.append(Text(judge.verdict_text(*verdict), style=style))
    shown = [part for part in parts if part is not None]
    return Text("  ").join(shown) if shown else None
