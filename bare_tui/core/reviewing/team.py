"""A team's queue and what it did: which item a reviewer gets next, the share of items
routed to two reviewers (overlap), what each reviewer decided, and each reviewer's pace
(core/reviewing/agreement.py measures how much they agree).

An item is in a reviewer's queue while it is pending, or, when it is one of the
overlap's doubled items, until two reviewers have decided it and this reviewer is not
one of them. Which items are doubled follows from their ids alone (a fixed hash), so
every window with the same overlap routes the same items.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bare_tui.core.reviewing import leases
from bare_tui.core.workspace.store import Store
from bare_tui.core.workspace.values import IN_IDS, from_json, ids_param

HASH = 2654435761  # Knuth's multiplicative hash: ids spread evenly over [0, 1)
DECIDED = ("accepted", "rejected")
BREAK_S = 300.0  # a pause longer than this between two decisions is not review time
CHUNK = 200


def doubled(candidate_id: int, overlap: float) -> bool:
    """Whether the item goes to two reviewers under this overlap (0..1)."""
    return ((candidate_id * HASH) % 2**32) / 2**32 < overlap


# A decision stored without a reviewer's name (the schema allows it) counts under this.
REVIEWER = "coalesce(e.reviewer, '(unnamed)')"


# Items more than one reviewer has a step on: the only ones agreement can measure.
SHARED = (" AND e.candidate_id IN (SELECT candidate_id FROM events GROUP BY candidate_id"
          " HAVING count(DISTINCT coalesce(reviewer, '')) > 1)")


def decided_by(store: Store, task: str, ids: Sequence[int] | None = None, *,
               shared: bool = False) -> dict[int, dict[str, dict[str, Any]]]:
    """Each item's decision by each reviewer who decided it (accepted or rejected): the
    state their own latest step on it left (status, tags, ...), in the order they first
    decided it. An undo puts back what the reviewer had decided before the step it
    reverts (nothing, when that step was their first), a redo what the step decided.
    `shared`: only items more than one reviewer has a step on."""
    sql = (f"SELECT e.candidate_id, {REVIEWER}, e.after, e.action, e.group_id,"
           " e.target_group FROM events e JOIN candidates c ON c.id = e.candidate_id"
           " WHERE c.task = ?" + (SHARED if shared else ""))
    params: list = [task]
    if ids is not None:
        sql += f" AND e.candidate_id {IN_IDS}"
        params.append(ids_param(ids))
    out: dict[int, dict[str, dict[str, Any]]] = {}
    # (item, reviewer, group): the reviewer's decision before and after that step
    steps: dict[tuple[int, str, int], tuple[dict | None, dict | None]] = {}
    for candidate_id, reviewer, after, action, group, target in store.conn.execute(
            sql + " ORDER BY e.id", params):
        by = out.setdefault(candidate_id, {})
        had = by.get(reviewer)
        if action in ("undo", "redo"):
            before_after = steps.get((candidate_id, reviewer, target), (had, had))
            state = before_after[0] if action == "undo" else before_after[1]
        else:
            state = from_json(after) or {}
            state = state if state.get("status") in DECIDED else None
            steps[candidate_id, reviewer, group] = (had, state)
        if state is None:
            by.pop(reviewer, None)
        else:
            by[reviewer] = state
    return {cid: by for cid, by in out.items() if by}


def labels(store: Store, task: str, ids: Sequence[int] | None = None, *,
           shared: bool = False) -> dict[int, dict[str, str]]:
    """Each item's decision by each reviewer who decided it: accepted or rejected."""
    return {cid: {reviewer: state["status"] for reviewer, state in by.items()}
            for cid, by in decided_by(store, task, ids, shared=shared).items()}


def in_queue(store: Store, task: str, reviewer: str, ids: Sequence[int],
             overlap: float = 0.0) -> set[int]:
    """Of these items, those still to review for this reviewer."""
    if not ids:
        return set()
    pending = {row[0] for row in store.conn.execute(
        f"SELECT c.id FROM candidates c LEFT JOIN decisions d ON d.candidate_id = c.id"
        f" WHERE c.id {IN_IDS} AND coalesce(d.status, 'pending') = 'pending'",
        (ids_param(ids),))}
    twice = [i for i in ids if i not in pending and doubled(i, overlap)]
    if twice:
        for candidate_id, by in labels(store, task, twice).items():
            if reviewer not in by and len(by) < 2:
                pending.add(candidate_id)
    return pending


def blind_to(store: Store, task: str, reviewer: str, ids: Sequence[int],
             overlap: float) -> set[int]:
    """Of these items, the doubled ones whose state another reviewer wrote (a decision,
    its tags, an edit) while this one has not decided them: a blind review shows them
    undecided (`Current.undecided`) until this one decides."""
    twice = [i for i in ids if doubled(i, overlap)]
    if not twice:
        return set()
    others = {row[0] for row in store.conn.execute(
        f"SELECT candidate_id FROM decisions WHERE candidate_id {IN_IDS}"
        " AND reviewer IS NOT NULL AND reviewer != ?", (ids_param(twice), reviewer))}
    if not others:
        return set()
    mine = {cid for cid, by in labels(store, task, list(others)).items() if reviewer in by}
    return others - mine


def next_in_queue(store: Store, task: str, reviewer: str, session: str,
                  ids: Sequence[int], start: int, overlap: float = 0.0,
                  lease_s: float = leases.LEASE_S) -> int | None:
    """The index in `ids`, from `start` on, of the first item in this reviewer's queue
    that no other window holds; None when there is none."""
    for offset in itertools.count(start, CHUNK):  # (a queue is not counted for it)
        chunk = list(ids[offset:offset + CHUNK])
        if not chunk:
            return None
        wanted = in_queue(store, task, reviewer, chunk, overlap)
        held = leases.holders(store, session, [i for i in chunk if i in wanted], lease_s)
        for index, candidate_id in enumerate(chunk):
            if candidate_id in wanted and candidate_id not in held:
                return offset + index


def claim_next(store: Store, task: str, reviewer: str, session: str, ids: Sequence[int],
               here: int, overlap: float = 0.0, lease_s: float = leases.LEASE_S) -> int | None:
    """Lease to this window the next item of `ids` in the reviewer's queue that no other
    window holds, after index `here`, else before it; its index, or None when there is
    none. One write transaction (the caller's, when it has one: a decision and the
    lease on the next item are written together), so no other window takes it meanwhile."""
    with store.transaction():
        for start in (here + 1, 0):
            index = next_in_queue(store, task, reviewer, session, ids, start, overlap, lease_s)
            if index is not None and index != here:
                leases.claim(store, session, ids[index], lease_s)
                return index
    return None


# --- what the team did ---------------------------------------------------------------------


@dataclass(frozen=True)
class Pace:
    reviewer: str
    decisions: int  # decision steps taken (undo and redo not counted)
    accepted: int  # items whose latest decision by this reviewer is accepted
    rejected: int
    hours: float  # time spent deciding: the gaps between decisions, breaks left out

    @property
    def per_hour(self) -> float | None:
        return (self.accepted + self.rejected) / self.hours if self.hours > 0 else None

    @property
    def acceptance(self) -> float | None:
        decided = self.accepted + self.rejected
        return self.accepted / decided if decided else None


def by_reviewer(store: Store, task: str) -> list[Pace]:
    steps: dict[str, list[float]] = {}
    for reviewer, created in store.conn.execute(
            f"SELECT {REVIEWER}, min(e.created_at) FROM events e"
            " JOIN candidates c ON c.id = e.candidate_id WHERE c.task = ?"
            " AND e.action NOT IN ('undo', 'redo') GROUP BY e.group_id ORDER BY 2", (task,)):
        steps.setdefault(reviewer, []).append(created)
    tally: dict[str, list[int]] = {}
    for by in labels(store, task).values():
        for reviewer, status in by.items():
            counts = tally.setdefault(reviewer, [0, 0])
            counts[status == "rejected"] += 1
    out = []
    for reviewer in sorted(set(steps) | set(tally)):
        times = steps.get(reviewer, [])
        seconds = sum(min(b - a, BREAK_S) for a, b in zip(times, times[1:], strict=False))
        accepted, rejected = tally.get(reviewer, [0, 0])
        out.append(Pace(reviewer, len(times), accepted, rejected, seconds / 3600))
    return out
