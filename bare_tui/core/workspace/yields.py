"""Yield: how much of what the models made is usable, and how fast usable items come.

Drafts and refinement attempts are counted by whether they parse and whether they pass
the recipe's checks; a candidate is usable when its final text (core/workspace/current.py) passes
them, or is the curator's edit, and it is not rejected. Usable items per minute divides
by the wall-clock minutes of the task's generation runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bare_tui.core.workspace.store import Store, now

# A usable candidate, as a condition on the candidate_state view.
USABLE = "status != 'rejected' AND (final_valid = 1 OR edited)"


@dataclass(frozen=True)
class Yield:
    drafts: int
    drafts_parsed: int
    drafts_passing: int
    refinements: int  # attempts, retries included
    refinements_parsed: int
    refinements_passing: int
    candidates: int
    usable: int
    minutes: float  # wall clock of the task's draft and refine runs

    @property
    def usable_per_minute(self) -> float | None:
        return self.usable / self.minutes if self.minutes > 0 else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "usable_per_minute": self.usable_per_minute}

    def lines(self) -> list[str]:
        """Three lines for people: drafts, refinements, usable items."""
        rate = self.usable_per_minute
        speed = f", {rate:.1f} per minute of generation" if rate is not None else ""
        return [
            f"drafts: {self.drafts} ({share(self.drafts_parsed, self.drafts)} parse, "
            f"{share(self.drafts_passing, self.drafts)} pass their checks)",
            f"refinements: {self.refinements} attempts "
            f"({share(self.refinements_parsed, self.refinements)} parse, "
            f"{share(self.refinements_passing, self.refinements)} pass)",
            f"usable items: {self.usable} of {self.candidates}{speed}",
        ]


def share(part: int, whole: int) -> str:
    """A part of a whole as a percentage, or '-' of nothing."""
    return f"{part / whole:.0%}" if whole else "-"


def measure(store: Store, task: str) -> Yield:
    drafts = store.conn.execute(
        "SELECT count(*), sum(fields IS NOT NULL), sum(valid) FROM candidates WHERE task = ?",
        (task,)).fetchone()
    refinements = store.conn.execute(
        "SELECT count(*), sum(r.fields IS NOT NULL), sum(r.valid) FROM refinements r"
        " JOIN candidates c ON c.id = r.candidate_id WHERE c.task = ?"
        " AND r.alternative IS NULL", (task,)).fetchone()
    usable = store.scalar(
        f"SELECT count(*) FROM candidate_state WHERE task = ? AND {USABLE}", (task,))
    seconds = store.scalar(
        "SELECT sum(coalesce(finished_at, ?) - started_at) FROM runs WHERE task = ?"
        " AND kind IN ('draft', 'refine')", (now(), task)) or 0.0
    return Yield(int(drafts[0]), int(drafts[1] or 0), int(drafts[2] or 0),
                 int(refinements[0]), int(refinements[1] or 0), int(refinements[2] or 0),
                 int(drafts[0]), int(usable), seconds / 60)
