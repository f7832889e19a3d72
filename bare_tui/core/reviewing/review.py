"""Review decisions: accept / reject / edit, with persistent undo and redo.

Every decision is appended to `events` with the candidate's state before and after,
and `decisions` (the current state) is updated in the same transaction. Decisions made
together (a bulk action) share a `group_id` and undo as one step. Undo and redo are
events too, so the history survives restarts and the audit trail is complete.

Undo and redo never overwrite a later decision: when a candidate of the step was
decided since (by another reviewer, or by the same name in another window), they refuse
and say who decided what. A session (one TUI window) is told before it reverts a step
another window of the same reviewer made while it was open (`OtherSession`); steps
made before it opened (an earlier run, a CLI command) undo as usual.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from bare_tui.core.inputs import tag_names, verifying
from bare_tui.core.inputs.recipes import Recipe
from bare_tui.core.inputs.validation import validate
from bare_tui.core.workspace.current import proposed_version
from bare_tui.core.workspace.store import Store
from bare_tui.core.workspace.values import IN_IDS, from_json, ids_param, now, to_json
from bare_tui.core.workspace.yields import USABLE
from bare_tui.errors import BareError

DECISIONS = ("accept", "accept_draft", "reject", "edit", "merge", "unmerge", "pick")


@dataclass(frozen=True)
class State:
    status: str = "pending"
    version: str | None = None  # "refined", "draft" or "edited": what the final text is
    final_fields: dict[str, str] | None = None  # only for "edited"
    reason: str | None = None
    refinement_id: int | None = None  # the alternative picked as the refinement
    merge: dict[str, Any] | None = None  # an edit made by hunks (core/reviewing/merging.py)
    # an edit's verifiers (core/inputs/verifying.py): 1, 0 or None, and their outcomes
    verified: int | None = None
    verification: list[dict[str, Any]] | None = None
    # an edit's checks (core/inputs/validation.py): 1 or 0, and the problems
    valid: int | None = None
    validation: list[str] | None = None
    # a reject's tags (the recipe's [review] tags, or the curator's own words) and the
    # version they were given to: "draft", "refined" or "edited"
    tags: list[str] | None = None
    tagged: str | None = None

    def to_json(self) -> str:
        return to_json(asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> State:
        return cls(**from_json(text)) if text else cls()


def _state(row: Sequence[Any]) -> State:
    """A State from the decision columns (`_STATE_COLUMNS`); a candidate never decided
    has a NULL status."""
    if row[0] is None:
        return State()
    return State(row[0], row[1], from_json(row[2]), row[3], row[4], from_json(row[5]),
                 row[6], from_json(row[7]), row[8], from_json(row[9]), from_json(row[10]),
                 row[11])


_STATE_COLUMNS = ("d.status, d.version, d.final_fields, d.reason, d.refinement_id, d.merge,"
                  " d.verified, d.verification, d.valid, d.validation, d.tags, d.tagged")
_STATE_WIDTH = 12


def decision_state(store: Store, candidate_id: int) -> State:
    row = store.conn.execute(f"SELECT {_STATE_COLUMNS} FROM decisions d"
                             " WHERE d.candidate_id = ?", (candidate_id,)).fetchone()
    return State() if row is None else _state(row)


@dataclass(frozen=True)
class Step:
    """One candidate's part of a decision: its states before and after, and the event
    that records it."""

    candidate_id: int
    before: State
    after: State
    event_id: int


@dataclass(frozen=True)
class Decided:
    """What one decision step (or an undo or redo of one) wrote: its group and a Step
    per candidate, in the order written. Empty when there was nothing to do."""

    group_id: int | None = None
    steps: tuple[Step, ...] = ()
    ids: list[int] = field(default_factory=list)  # the candidates, in the step's order

    @property
    def event_ids(self) -> list[int]:
        return [step.event_id for step in self.steps]

    def latest_event(self, candidate_id: int) -> int | None:
        """The event now behind the candidate's decision, as this step left it."""
        return next((step.event_id for step in reversed(self.steps)
                     if step.candidate_id == candidate_id), None)

    def __bool__(self) -> bool:
        return bool(self.steps)


def _next_state(store: Store, candidate_id: int, before: State, action: str,
                reason: str | None, change: Change) -> State:
    keep = {"refinement_id": before.refinement_id}
    if action == "accept":
        # An edited text (or a picked alternative) stays the final version; otherwise
        # what core/workspace/current.py proposes.
        if before.version == "edited":
            return replace(before, status="accepted", reason=None, tags=None, tagged=None)
        if before.version == "refined" and before.refinement_id is not None:
            version = "refined"
        else:
            version = proposed_version(store, candidate_id)
        return State("accepted", version, **keep)
    if action == "accept_draft":
        return State("accepted", "draft", **keep)
    if action == "reject":
        tags = list(dict.fromkeys(change.tags)) or None
        return replace(before, status="rejected", reason=reason, tags=tags,
                       tagged=(before.version or proposed_version(store, candidate_id))
                       if tags else None)
    if action in ("edit", "merge"):
        if not change.fields:
            raise BareError(f"an {action} needs the new text of every field")
        if action == "merge" and not change.merge:
            raise BareError("a merge needs its hunk choices")
        return State(before.status, "edited", dict(change.fields), before.reason,
                     merge=dict(change.merge) if action == "merge" else None,
                     **dict(change.verdict or {}), tags=before.tags, tagged=before.tagged,
                     **keep)
    if action == "unmerge":
        if not before.merge:
            raise BareError(f"#{candidate_id} has no merge to revert")
        version, fields = before.merge.get("was") or (None, None)
        return State(before.status, version, fields, before.reason, tags=before.tags,
                     tagged=before.tagged, **keep)
    if action == "pick":
        if change.refinement_id is None:
            raise BareError("a pick needs the alternative's id")
        row = store.conn.execute("SELECT candidate_id, fields IS NOT NULL FROM refinements"
                                 " WHERE id = ?", (change.refinement_id,)).fetchone()
        if row is None or row[0] != candidate_id:
            raise BareError(f"refinement {change.refinement_id} is not one of "
                            f"#{candidate_id}'s")
        if not row[1]:
            raise BareError(f"alternative {change.refinement_id} did not parse; pick one "
                            "that did")
        return State(before.status, "refined", None, before.reason, change.refinement_id,
                     tags=before.tags, tagged=before.tagged)
    raise BareError(f"unknown decision {action!r} (known: {', '.join(DECISIONS)})")


@dataclass(frozen=True)
class Change:
    """What a decision brings besides its verb: an edit's or merge's fields and what
    their checks and verifiers found (`checked`), the merge (core/reviewing/merging.py's
    state), the refinement a pick makes final, a reject's tags."""

    fields: Mapping[str, str] | None = None
    merge: Mapping[str, Any] | None = None
    refinement_id: int | None = None
    verdict: Mapping[str, Any] | None = None
    tags: Sequence[str] = ()


def checked(recipe: Recipe, change: Change) -> Change:
    """An edit's or merge's change with its text checked and verified as generated text
    is, so the review shows its problems and counts it by them the moment it is saved."""
    if not change.fields:
        return change
    problems = validate(recipe, change.fields)
    verdict = verifying.verify(recipe, change.fields)
    return replace(change, verdict={"valid": int(not problems), "validation": problems,
                                    **verdict.as_state()})


@dataclass(frozen=True)
class Session:
    """One window's identity in the event log, and when it opened."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started_at: float = field(default_factory=now)


class OtherSession(BareError):
    """The step undo or redo would revert was made by another window while this one was
    open."""


def _write(store: Store, group_id: int, candidate_id: int, action: str, reviewer: str,
           before: State, after: State, reason: str | None = None,
           target_group: int | None = None, session: Session | None = None) -> Step:
    event_id = store.insert("events", {
        "group_id": group_id, "candidate_id": candidate_id, "action": action,
        "reviewer": reviewer, "reason": reason, "before": before.to_json(),
        "after": after.to_json(), "target_group": target_group, "created_at": now(),
        "session": session and session.id,
    })
    store.conn.execute(
        "INSERT INTO decisions (candidate_id, status, version, final_fields, reviewer, reason,"
        " event_id, updated_at, refinement_id, merge, verified, verification, valid,"
        " validation, tags, tagged) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(candidate_id) DO UPDATE SET status = excluded.status,"
        " version = excluded.version, final_fields = excluded.final_fields,"
        " reviewer = excluded.reviewer, reason = excluded.reason,"
        " event_id = excluded.event_id, updated_at = excluded.updated_at,"
        " refinement_id = excluded.refinement_id, merge = excluded.merge,"
        " verified = excluded.verified, verification = excluded.verification,"
        " valid = excluded.valid, validation = excluded.validation,"
        " tags = excluded.tags, tagged = excluded.tagged",
        (candidate_id, after.status, after.version, to_json(after.final_fields), reviewer,
         after.reason, event_id, now(), after.refinement_id, to_json(after.merge),
         after.verified, to_json(after.verification), after.valid,
         to_json(after.validation), to_json(after.tags), after.tagged),
    )
    return Step(candidate_id, before, after, event_id)


def _next_group(store: Store) -> int:
    return (store.scalar("SELECT max(group_id) FROM events") or 0) + 1


class DecidedSince(BareError):
    """Someone else decided the candidate since the curator opened it."""


def decide(store: Store, candidate_ids: Iterable[int], action: str, reviewer: str, *,
           reason: str | None = None, fields: Mapping[str, str] | None = None,
           reasons: Mapping[int, str] | None = None, session: Session | None = None,
           change: Change | None = None, seen: Mapping[int, int | None] | None = None,
           tags: Sequence[str] = ()) -> Decided:
    """Apply one decision to one or more candidates as a single undoable step, and say
    what it wrote; `reasons` gives a candidate its own reason instead of `reason`, `tags`
    are a reject's (core/reviewing/tags.py: the recipe's set, or free words). `seen`
    holds the decision event each candidate showed when the curator opened it: when
    another reviewer or window has decided it since, DecidedSince is raised and nothing
    written. Inside a caller's transaction it is part of that transaction."""
    change = change or Change(fields=fields, tags=tag_names.names(tags))
    ids = list(dict.fromkeys(int(i) for i in candidate_ids))
    if not ids:
        raise BareError("no candidate ids given")
    with store.transaction():
        # One read: which ids exist, their states now and the events behind them.
        found = {row[0]: (_state(row[1:_STATE_WIDTH + 1]), row[_STATE_WIDTH + 1])
                 for row in store.conn.execute(
            f"SELECT c.id, {_STATE_COLUMNS}, d.event_id FROM candidates c"
            f" LEFT JOIN decisions d ON d.candidate_id = c.id WHERE c.id {IN_IDS}",
            (ids_param(ids),))}
        missing = [i for i in ids if i not in found]
        if missing:
            raise BareError(f"no candidate with id {missing[0]} in this workspace")
        for candidate_id, opened in (seen or {}).items():
            _check_not_decided_since(store, candidate_id, opened,
                                     found.get(candidate_id, (None, None))[1], session)
        group_id = _next_group(store)
        steps = []
        for candidate_id in ids:
            why = (reasons or {}).get(candidate_id, reason)
            before = found[candidate_id][0]
            after = _next_state(store, candidate_id, before, action, why, change)
            steps.append(_write(store, group_id, candidate_id, action, reviewer, before,
                                after, why, session=session))
    return Decided(group_id, tuple(steps), ids)


def decision_event(store: Store, candidate_id: int) -> int | None:
    """The event behind a candidate's current decision (None: never decided)."""
    return store.scalar("SELECT event_id FROM decisions WHERE candidate_id = ?",
                        (candidate_id,))


def _check_not_decided_since(store: Store, candidate_id: int, opened: int | None,
                             now_event: int | None, session: Session | None) -> None:
    if now_event == opened:
        return
    row = store.conn.execute("SELECT action, reviewer, session FROM events WHERE id = ?",
                             (now_event,)).fetchone()
    if row is None or (session is not None and row[2] == session.id):
        return
    raise DecidedSince(f"#{candidate_id} was decided since you opened it ({row[0]} by "
                       f"{row[1]}); overwrite that decision?")


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


def _check_unchanged(store: Store, reviewer: str, target: int, action: str,
                     ids: list[int]) -> None:
    """Refuse when a candidate of the step was decided since by someone else. Its current
    decision is the step's own last event (undo) or the undo that reverted it (redo),
    unless the reviewer's own later undo/redo steps put it back since."""
    for candidate_id in dict.fromkeys(ids):
        if action == "undo":
            expected = store.scalar("SELECT max(id) FROM events WHERE group_id = ?"
                                    " AND candidate_id = ?", (target, candidate_id))
        else:
            expected = store.scalar("SELECT max(id) FROM events WHERE action = 'undo'"
                                    " AND target_group = ? AND candidate_id = ?",
                                    (target, candidate_id))
        row = store.conn.execute(
            "SELECT e.id, e.action, e.reviewer FROM decisions d"
            " JOIN events e ON e.id = d.event_id WHERE d.candidate_id = ?", (candidate_id,)
        ).fetchone()
        if row is not None and row[0] != expected and (
                row[2] != reviewer or row[1] not in ("undo", "redo")):
            raise BareError(
                f"cannot {action}: #{candidate_id} was decided since ({row[1]} by {row[2]}), "
                f"and {action} would overwrite that; decide #{candidate_id} again instead")


def _replay(store: Store, reviewer: str, action: str, session: Session | None) -> Decided:
    with store.transaction():
        done, undone = _stacks(store, reviewer)
        stack = done if action == "undo" else undone
        if not stack:
            return Decided()
        target = stack[-1]
        events = store.conn.execute(
            "SELECT candidate_id, before, after, session, action, created_at FROM events"
            " WHERE group_id = ? ORDER BY id", (target,),
        ).fetchall()
        ids = list(dict.fromkeys(row[0] for row in events))
        _check_unchanged(store, reviewer, target, action, ids)
        made_in, verb, made_at = events[0][3], events[0][4], events[0][5]
        if session is not None and made_in != session.id and made_at >= session.started_at:
            shown = ", ".join(f"#{i}" for i in ids[:5]) + (" ..." if len(ids) > 5 else "")
            raise OtherSession(f"{reviewer}'s latest step ({verb} {shown}) was made in another "
                               f"window or command; {action} it anyway?")
        group_id = _next_group(store)
        # Undo walks the group backwards so a candidate touched twice ends at its first state.
        steps = []
        for candidate_id, before, after, *_ in (
                reversed(events) if action == "undo" else events):
            restored = State.from_json(before if action == "undo" else after)
            steps.append(_write(store, group_id, candidate_id, action, reviewer,
                                decision_state(store, candidate_id), restored,
                                target_group=target, session=session))
        return Decided(group_id, tuple(steps), ids)


def undo(store: Store, reviewer: str, session: Session | None = None) -> Decided:
    """Undo the reviewer's latest decision step; says what it wrote (empty: nothing to
    undo). With `session`, a step another window made while it was open raises
    OtherSession."""
    return _replay(store, reviewer, "undo", session)


def redo(store: Store, reviewer: str, session: Session | None = None) -> Decided:
    """Redo the reviewer's latest undone step; says what it wrote (empty: nothing)."""
    return _replay(store, reviewer, "redo", session)


def status_counts(store: Store, task: str) -> dict[str, Any]:
    row = store.conn.execute(
        "SELECT count(*), sum(draft_fields IS NULL), sum(draft_valid = 0),"
        " sum(latest_id IS NOT NULL), sum(status = 'pending'), sum(status = 'accepted'),"
        " sum(status = 'rejected'), sum(edited),"
        f" sum({USABLE})"
        " FROM candidate_state WHERE task = ?", (task,),
    ).fetchone()
    keys = ("candidates", "parse_failures", "invalid_drafts", "refined", "pending",
            "accepted", "rejected", "edited", "usable")
    counts = {key: int(value or 0) for key, value in zip(keys, row, strict=True)}
    counts["seeds"] = store.scalar("SELECT count(*) FROM seeds WHERE task = ?", (task,))
    return counts
