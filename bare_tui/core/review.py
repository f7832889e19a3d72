"""Review decisions: accept / reject / edit, with persistent undo and redo.

Every decision is appended to `events` with the candidate's state before and after,
and `decisions` (the current state) is updated in the same transaction. Decisions made
together (a bulk action) share a `group_id` and undo as one step. Undo and redo are
events too, so the history survives restarts and the audit trail is complete.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from bare_tui.core.store import Store, from_json, now, to_json
from bare_tui.errors import BareError

DECISIONS = ("accept", "accept_draft", "reject", "edit")
STATUSES = ("pending", "accepted", "rejected")


@dataclass(frozen=True)
class State:
    status: str = "pending"
    version: str | None = None  # "refined", "draft" or "edited": what the final text is
    final_fields: dict[str, str] | None = None  # only for "edited"
    reason: str | None = None

    def to_json(self) -> str:
        return to_json(asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> State:
        return cls(**from_json(text)) if text else cls()


def current(store: Store, candidate_id: int) -> State:
    row = store.conn.execute(
        "SELECT status, version, final_fields, reason FROM decisions WHERE candidate_id = ?",
        (candidate_id,),
    ).fetchone()
    if row is None:
        return State()
    return State(row[0], row[1], from_json(row[2]), row[3])


def _has_refinement(store: Store, candidate_id: int) -> bool:
    return store.scalar(
        "SELECT 1 FROM refinements WHERE candidate_id = ? AND fields IS NOT NULL LIMIT 1",
        (candidate_id,),
    ) is not None


def _next_state(store: Store, candidate_id: int, before: State, action: str,
                reason: str | None, fields: Mapping[str, str] | None) -> State:
    if action == "accept":
        # An edited text stays the final version; otherwise the refinement, if any parsed.
        if before.version == "edited":
            version = "edited"
        else:
            version = "refined" if _has_refinement(store, candidate_id) else "draft"
        return State("accepted", version, before.final_fields if version == "edited" else None)
    if action == "accept_draft":
        return State("accepted", "draft", None)
    if action == "reject":
        return State("rejected", before.version, before.final_fields, reason)
    if action == "edit":
        if not fields:
            raise BareError("an edit needs the new text of every field")
        return State(before.status, "edited", dict(fields), before.reason)
    raise BareError(f"unknown decision {action!r} (known: {', '.join(DECISIONS)})")


def _write(store: Store, group_id: int, candidate_id: int, action: str, reviewer: str,
           before: State, after: State, reason: str | None = None,
           target_group: int | None = None) -> None:
    event_id = store.insert("events", {
        "group_id": group_id, "candidate_id": candidate_id, "action": action,
        "reviewer": reviewer, "reason": reason, "before": before.to_json(),
        "after": after.to_json(), "target_group": target_group, "created_at": now(),
    })
    store.conn.execute(
        "INSERT INTO decisions (candidate_id, status, version, final_fields, reviewer, reason,"
        " event_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(candidate_id) DO UPDATE SET status = excluded.status,"
        " version = excluded.version, final_fields = excluded.final_fields,"
        " reviewer = excluded.reviewer, reason = excluded.reason,"
        " event_id = excluded.event_id, updated_at = excluded.updated_at",
        (candidate_id, after.status, after.version, to_json(after.final_fields), reviewer,
         after.reason, event_id, now()),
    )


def _next_group(store: Store) -> int:
    return (store.scalar("SELECT max(group_id) FROM events") or 0) + 1


def decide(store: Store, candidate_ids: Iterable[int], action: str, reviewer: str, *,
           reason: str | None = None, fields: Mapping[str, str] | None = None,
           reasons: Mapping[int, str] | None = None) -> int:
    """Apply one decision to one or more candidates as a single undoable step;
    `reasons` gives a candidate its own reason instead of `reason`."""
    ids = list(dict.fromkeys(int(i) for i in candidate_ids))
    if not ids:
        raise BareError("no candidate ids given")
    with store.transaction():
        known = {row[0] for row in store.conn.execute(
            f"SELECT id FROM candidates WHERE id IN ({','.join('?' * len(ids))})", ids)}
        missing = [i for i in ids if i not in known]
        if missing:
            raise BareError(f"no candidate with id {missing[0]} in this workspace")
        group_id = _next_group(store)
        for candidate_id in ids:
            why = (reasons or {}).get(candidate_id, reason)
            before = current(store, candidate_id)
            after = _next_state(store, candidate_id, before, action, why, fields)
            _write(store, group_id, candidate_id, action, reviewer, before, after, why)
    return group_id


def _stacks(store: Store, reviewer: str) -> tuple[list[int], list[int]]:
    """(done, undone) decision groups of a reviewer, replayed from the event log."""
    done: list[int] = []
    undone: list[int] = []
    rows = store.conn.execute(
        "SELECT group_id, min(action), min(target_group) FROM events WHERE reviewer = ?"
        " GROUP BY group_id ORDER BY group_id",
        (reviewer,),
    )
    for _group, action, target in rows:
        if action == "undo":
            done.remove(target)
            undone.append(target)
        elif action == "redo":
            undone.remove(target)
            done.append(target)
        else:
            done.append(_group)
            undone.clear()
    return done, undone


def _replay(store: Store, reviewer: str, action: str) -> list[int]:
    with store.transaction():
        done, undone = _stacks(store, reviewer)
        stack = done if action == "undo" else undone
        if not stack:
            return []
        target = stack[-1]
        events = store.conn.execute(
            "SELECT candidate_id, before, after FROM events WHERE group_id = ? ORDER BY id",
            (target,),
        ).fetchall()
        group_id = _next_group(store)
        # Undo walks the group backwards so a candidate touched twice ends at its first state.
        for candidate_id, before, after in (reversed(events) if action == "undo" else events):
            restored = State.from_json(before if action == "undo" else after)
            _write(store, group_id, candidate_id, action, reviewer,
                   current(store, candidate_id), restored, target_group=target)
        return [row[0] for row in events]


def undo(store: Store, reviewer: str) -> list[int]:
    """Undo the reviewer's latest decision step; returns the candidate ids it touched."""
    return _replay(store, reviewer, "undo")


def redo(store: Store, reviewer: str) -> list[int]:
    """Redo the reviewer's latest undone step; returns the candidate ids it touched."""
    return _replay(store, reviewer, "redo")


def status_counts(store: Store, task: str) -> dict[str, Any]:
    row = store.conn.execute(
        "SELECT count(*),"
        " sum(c.fields IS NULL), sum(c.valid = 0),"
        " sum(EXISTS (SELECT 1 FROM refinements r WHERE r.candidate_id = c.id)),"
        " sum(coalesce(d.status, 'pending') = 'pending'),"
        " sum(d.status = 'accepted'), sum(d.status = 'rejected'),"
        " sum(d.version = 'edited')"
        " FROM candidates c LEFT JOIN decisions d ON d.candidate_id = c.id WHERE c.task = ?",
        (task,),
    ).fetchone()
    keys = ("candidates", "parse_failures", "invalid_drafts", "refined", "pending",
            "accepted", "rejected", "edited")
    counts = {key: int(value or 0) for key, value in zip(keys, row, strict=True)}
    counts["seeds"] = store.scalar("SELECT count(*) FROM seeds WHERE task = ?", (task,))
    return counts
