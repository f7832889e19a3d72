"""Yield: how much of what the models made is usable and verified, and how fast it comes.

Drafts and refinement attempts are counted at each step of the quality ladder: they
parse, they pass the recipe's checks (usable), their recipe's verifiers pass (verified);
refinement attempts also by drift from their draft (core/inputs/drift.py), and the
candidates whose every refinement drifted, so that the draft is proposed.
A candidate is usable when its final text (core/workspace/current.py) passes its checks,
or is the curator's edit, and it is not rejected; verified when it is usable and its
final text's verifiers passed. Items per minute divide by the wall-clock minutes of the
task's generation runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bare_tui.core.workspace.store import Store

# A usable candidate, as a condition on the candidate_state view: an edit saved before
from bare_tui.core.workspace.values import now

# edits were checked (final_valid NULL) counts, as it did then.
USABLE = "status != 'rejected' AND (final_valid = 1 OR (edited AND final_valid IS NULL))"
VERIFIED = f"{USABLE} AND final_verified = 1"


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
    drafts_verified: int = 0
    refinements_verified: int = 0
    verified: int = 0  # candidates usable and verified
    checked: int = 0  # versions a verifier checked (0: no verifier ran, or had anything)
    refinements_drifted: int = 0  # attempts that drifted from their draft
    kept_drafts: int = 0  # candidates whose every refinement drifted: the draft is proposed
    drift_measured: int = 0  # attempts whose drift was measured (0: made before it was)

    @property
    def usable_per_minute(self) -> float | None:
        return self.usable / self.minutes if self.minutes > 0 else None

    @property
    def verified_per_minute(self) -> float | None:
        return self.verified / self.minutes if self.minutes > 0 else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "usable_per_minute": self.usable_per_minute,
                "verified_per_minute": self.verified_per_minute}

    def lines(self) -> list[str]:
        """Four lines for people: drafts, refinements, usable items, verified items."""
        verified = (f", {share(self.drafts_verified, self.drafts)} verified"
                    if self.checked else "")
        refined = (f", {share(self.refinements_verified, self.refinements)} verified"
                   if self.checked else "")
        if self.drift_measured:
            refined += f", {share(self.refinements_drifted, self.refinements)} drifted"
        kept = (f"; {self.kept_drafts} draft{'s' if self.kept_drafts != 1 else ''} "
                "proposed: every refinement drifted" if self.kept_drafts else "")
        return [
            f"drafts: {self.drafts} ({share(self.drafts_parsed, self.drafts)} parse, "
            f"{share(self.drafts_passing, self.drafts)} pass their checks{verified})",
            f"refinements: {self.refinements} attempts "
            f"({share(self.refinements_parsed, self.refinements)} parse, "
            f"{share(self.refinements_passing, self.refinements)} pass{refined}){kept}",
            f"usable items: {self.usable} of {self.candidates}{speed(self.usable_per_minute)}",
            f"verified items: {self.verified} of {self.candidates}"
            f"{speed(self.verified_per_minute)}" if self.checked else
            "verified items: none (no verifier ran, or none had anything to check)",
        ]


def speed(rate: float | None) -> str:
    return f", {rate:.1f} per minute of generation" if rate is not None else ""


def share(part: int, whole: int) -> str:
    """A part of a whole as a percentage, or '-' of nothing."""
    return f"{part / whole:.0%}" if whole else "-"


def measure(store: Store, task: str) -> Yield:
    drafts = store.conn.execute(
        "SELECT count(*), sum(fields IS NOT NULL), sum(valid), sum(verified = 1),"
        " sum(verified IS NOT NULL) FROM candidates WHERE task = ?", (task,)).fetchone()
    refinements = store.conn.execute(
        "SELECT count(*), sum(r.fields IS NOT NULL), sum(r.valid), sum(r.verified = 1),"
        " sum(r.verified IS NOT NULL), sum(r.drifted = 1), sum(r.drifted IS NOT NULL)"
        " FROM refinements r"
        " JOIN candidates c ON c.id = r.candidate_id WHERE c.task = ?"
        " AND r.alternative IS NULL", (task,)).fetchone()
    usable, verified, kept = store.conn.execute(
        f"SELECT sum({USABLE}), sum({VERIFIED}), sum(refinement_drifted)"
        " FROM candidate_state WHERE task = ?", (task,)).fetchone()
    seconds = store.scalar(
        "SELECT sum(coalesce(finished_at, ?) - started_at) FROM runs WHERE task = ?"
        " AND kind IN ('draft', 'refine')", (now(), task)) or 0.0
    return Yield(int(drafts[0]), int(drafts[1] or 0), int(drafts[2] or 0),
                 int(refinements[0]), int(refinements[1] or 0), int(refinements[2] or 0),
                 int(drafts[0]), int(usable or 0), seconds / 60,
                 drafts_verified=int(drafts[3] or 0),
                 refinements_verified=int(refinements[3] or 0), verified=int(verified or 0),
                 checked=int(drafts[4] or 0) + int(refinements[4] or 0),
                 refinements_drifted=int(refinements[5] or 0), kept_drafts=int(kept or 0),
                 drift_measured=int(refinements[6] or 0))
