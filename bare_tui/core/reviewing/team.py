"""A team's queue and what it did: which item a reviewer gets next, the share of items
routed to two reviewers (overlap), their agreement (Cohen's kappa) and each reviewer's
pace.

An item is in a reviewer's queue while it is pending, or, when it is one of the
overlap's doubled items, until two reviewers have decided it and this reviewer is not
one of them. Which items are doubled follows from their ids alone (a fixed hash), so
every window with the same overlap routes the same items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bare_tui.core.reviewing import leases
from bare_tui.core.workspace.store import IN_IDS, Store, from_json, ids_param

HASH = 2654435761  # Knuth's multiplicative hash: ids spread evenly over [0, 1)
DECIDED = ("accepted", "rejected")
BREAK_S = 300.0  # a pause longer than this between two decisions is not review time
CHUNK = 200


def doubled(candidate_id: int, overlap: float) -> bool:
    """Whether the item goes to two reviewers under this overlap (0..1)."""
    return ((candidate_id * HASH) % 2**32) / 2**32 < overlap


# A decision stored without a reviewer's name (the schema allows it) counts under this.
REVIEWER = "coalesce(e.reviewer, '(unnamed)')"


def labels(store: Store, task: str, ids: Sequence[int] | None = None
           ) -> dict[int, dict[str, str]]:
    """Each item's decision by each reviewer who decided it (accepted or rejected): the
    state their latest step on it left, in the order they first decided it."""
    sql = (f"SELECT e.candidate_id, {REVIEWER}, e.after FROM events e"
           " JOIN candidates c ON c.id = e.candidate_id WHERE c.task = ?")
    params: list = [task]
    if ids is not None:
        sql += f" AND e.candidate_id {IN_IDS}"
        params.append(ids_param(ids))
    out: dict[int, dict[str, str]] = {}
    for candidate_id, reviewer, after in store.conn.execute(sql + " ORDER BY e.id", params):
        status = (from_json(after) or {}).get("status", "pending")
        by = out.setdefault(candidate_id, {})
        if status in DECIDED:
            by[reviewer] = status
        else:
            by.pop(reviewer, None)
    return {cid: by for cid, by in out.items() if by}


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


def next_in_queue(store: Store, task: str, reviewer: str, session: str,
                  ids: Sequence[int], start: int, overlap: float = 0.0,
                  lease_s: float = leases.LEASE_S) -> int | None:
    """The index in `ids`, from `start` on, of the first item in this reviewer's queue
    that no other window holds; None when there is none."""
    for offset in range(start, len(ids), CHUNK):
        chunk = list(ids[offset:offset + CHUNK])
        wanted = in_queue(store, task, reviewer, chunk, overlap)
        held = leases.holders(store, session, [i for i in chunk if i in wanted], lease_s)
        for index, candidate_id in enumerate(chunk):
            if candidate_id in wanted and candidate_id not in held:
                return offset + index
    return None


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


@dataclass
class Agreement:
    items: int  # items decided by two reviewers
    agreed: int
    kappa: float | None  # None: undefined (both always gave the same single label)
    pairs: dict[tuple[str, str], int] = field(default_factory=dict)
    disagreements: list[tuple[int, dict[str, str]]] = field(default_factory=list)

    @property
    def observed(self) -> float | None:
        return self.agreed / self.items if self.items else None


def cohen_kappa(first: Sequence[str], second: Sequence[str]) -> float | None:
    """Cohen's kappa of two label sequences: (observed - chance) / (1 - chance)."""
    n = len(first)
    if n == 0:
        return None
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    chance = sum((first.count(label) / n) * (second.count(label) / n)
                 for label in set(first) | set(second))
    return None if chance == 1 else (observed - chance) / (1 - chance)


def agreement(store: Store, task: str) -> Agreement:
    """Agreement on the items two reviewers decided: each item's first two reviewers
    (in the order they decided it), the one whose name sorts first as the first rater,
    so that a pair of reviewers always rate in the same places."""
    first, second = [], []
    result = Agreement(0, 0, None)
    for candidate_id, by in sorted(labels(store, task).items()):
        if len(by) < 2:
            continue
        (one, a), (two, b) = sorted(list(by.items())[:2])
        first.append(a)
        second.append(b)
        result.items += 1
        result.pairs[one, two] = result.pairs.get((one, two), 0) + 1
        if a == b:
            result.agreed += 1
        else:
            result.disagreements.append((candidate_id, dict(by)))
    result.kappa = cohen_kappa(first, second)
    return result


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
