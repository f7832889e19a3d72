"""What a candidate says now: its final text and state, from one place.

The rule lives in the `candidate_state` view (core/workspace/migrations.py,
CANDIDATE_STATE_V17): the final text is the curator's edit, else the draft when the
curator accepted the draft, when no refinement parsed, or (undecided) when the best
refinement fails checks the draft passes or drifted from the draft (core/inputs/drift.py),
else the best refinement: of several attempts, one that did not drift before one that
did, then the highest on the quality ladder, then the latest.
Export, the review list and detail, the editors (`e`/`E`), embeddings and the
accepted-set measures all read it here; no other module picks a version.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from bare_tui.core.workspace.store import Store
from bare_tui.core.workspace.values import IN_IDS, from_json, ids_param
from bare_tui.errors import BareError

STATUS_FILTERS = ("accepted", "pending", "rejected", "any")  # what lists and exports take


@dataclass(frozen=True)
class Current:
    """A candidate as the curator sees it now."""

    id: int
    status: str  # pending, accepted or rejected
    decided_version: str | None  # what the decision chose: refined, draft, edited or None
    reason: str | None
    edited: bool
    final_version: str  # edited, draft or refined: the text export writes
    final_fields: dict[str, str] | None  # None when nothing parsed (only the raw draft)
    final_valid: bool | None  # the final version's checks (None: an edit saved unchecked)
    final_problems: list[str]
    draft_fields: dict[str, str] | None
    draft_raw: str
    draft_problems: list[str]
    latest_fields: dict[str, str] | None  # the latest refinement, parsed or not
    latest_raw: str | None
    latest_problems: list[str]
    best_fields: dict[str, str] | None  # the best refinement that parsed, and its problems
    best_problems: list[str]
    refinement_failed: bool  # the best refinement fails checks the draft passes
    seed: int | None  # None for an item imported from a dataset
    shot_ids: list[int]
    origin: dict[str, Any] | None = None  # an imported item's file, line and file sha256
    merge: dict[str, Any] | None = None  # an edit made by hunks (core/reviewing/merging.py)
    picked_id: int | None = None  # the alternative picked as the refinement
    # the final version's verifiers: True verified, False failed, None none ran or had
    # anything to check (an edit is not verified here); and their outcomes
    final_verified: bool | None = None
    final_verification: list[dict[str, Any]] | None = None
    draft_verified: bool | None = None
    refinement_broke_verified: bool = False  # the draft verifies, the best refinement fails
    # the best refinement's drift from its draft (core/inputs/drift.py): why it drifted
    # (None: it did not, or was not measured), its similarity (cosine, None without an
    # embedding model) and overlap; `refinement_drifted`: it drifted and nobody picked it,
    # so the draft is proposed
    drift: str | None = None
    draft_similarity: float | None = None
    draft_overlap: float | None = None
    refinement_drifted: bool = False
    tags: list[str] | None = None  # a reject's tags (core/reviewing/tags.py)
    # what `accept` takes when nothing was decided (draft or refined), and the best
    # refinement's verifiers
    proposed_version: str = "draft"
    best_verified: bool | None = None
    best_verification: list[dict[str, Any]] | None = None

    @property
    def refined(self) -> bool:
        return self.latest_raw is not None

    @property
    def verification_problems(self) -> list[str]:
        """The final version's verifier problems, each named by its verifier."""
        return [f"{outcome['verifier']}: {problem}" for outcome in self.final_verification or []
                for problem in outcome.get("problems", [])]

    def undecided(self) -> Current:
        """The item as it stood before anyone decided it: pending, with no reason, tags,
        edit or merge, and the version `accept` would take (a blind second review,
        core/reviewing/team.py)."""
        draft = self.proposed_version == "draft" or self.best_fields is None
        fields, problems = ((self.draft_fields, self.draft_problems) if draft
                            else (self.best_fields, self.best_problems))
        return replace(
            self, status="pending", decided_version=None, reason=None, tags=None,
            edited=False, merge=None, final_version="draft" if draft else "refined",
            final_fields=fields, final_valid=None if fields is None else not problems,
            final_problems=problems,
            final_verified=self.draft_verified if draft else self.best_verified,
            final_verification=None if draft else self.best_verification)

    def final_or_raw(self, names: list[str]) -> dict[str, str]:
        """The final fields, or the raw draft in the first field when nothing parsed."""
        if self.final_fields is not None:
            return dict(self.final_fields)
        return {names[0]: self.draft_raw, **{name: "" for name in names[1:]}}


_COLUMNS = ("candidate_id, status, decided_version, reason, edited, final_version, "
            "final_fields, final_valid, final_validation, draft_fields, draft_raw, "
            "draft_validation, latest_fields, latest_raw, latest_validation, parsed_id, "
            "parsed_fields, parsed_validation, refinement_failed, seed, shot_ids, origin, "
            "merge, picked_id, final_verified, final_verification, draft_verified, "
            "refinement_broke_verified, drift, draft_similarity, draft_overlap, "
            "refinement_drifted, tags, proposed_version, parsed_verified, "
            "parsed_verification")


def _current(row: tuple[Any, ...]) -> Current:
    (cid, status, decided, reason, edited, final_version, final_fields, final_valid,
     final_validation, draft, draft_raw, draft_validation, latest, latest_raw,
     latest_validation, _parsed_id, best, best_validation, refinement_failed, seed,
     shot_ids, origin, merge, picked_id, final_verified, final_verification, draft_verified,
     broke, drift, draft_similarity, draft_overlap, drifted, tags, proposed, best_verified,
     best_verification) = row
    return Current(cid, status, decided, reason, bool(edited), final_version,
                   from_json(final_fields), None if final_valid is None else bool(final_valid),
                   from_json(final_validation) or [],
                   from_json(draft), draft_raw, from_json(draft_validation) or [],
                   from_json(latest), latest_raw, from_json(latest_validation) or [],
                   from_json(best), from_json(best_validation) or [],
                   bool(refinement_failed), seed,
                   from_json(shot_ids) or [], from_json(origin), from_json(merge), picked_id,
                   _maybe(final_verified), from_json(final_verification),
                   _maybe(draft_verified), bool(broke), drift, draft_similarity,
                   draft_overlap, bool(drifted), from_json(tags), proposed,
                   _maybe(best_verified), from_json(best_verification))


def _maybe(flag: int | None) -> bool | None:
    return None if flag is None else bool(flag)


def current(store: Store, candidate_id: int) -> Current | None:
    row = store.conn.execute(f"SELECT {_COLUMNS} FROM candidate_state WHERE candidate_id = ?",
                             (candidate_id,)).fetchone()
    return None if row is None else _current(row)


def many(store: Store, ids: list[int]) -> dict[int, Current]:
    if not ids:
        return {}
    rows = store.conn.execute(f"SELECT {_COLUMNS} FROM candidate_state WHERE candidate_id"
                              f" {IN_IDS}", (ids_param(ids),))
    return {row[0]: _current(row) for row in rows}


def of_task(store: Store, task: str, status: str = "any") -> Iterator[Current]:
    """Every candidate of a task with that status ("any" for all), by id."""
    if status not in STATUS_FILTERS:
        raise BareError(f"unknown status {status!r} (choose from {', '.join(STATUS_FILTERS)})")
    where = "" if status == "any" else " AND status = :status"
    rows = store.conn.execute(f"SELECT {_COLUMNS} FROM candidate_state WHERE task = :task"
                              f"{where} ORDER BY candidate_id", {"task": task, "status": status})
    for row in rows:
        yield _current(row)


def proposed_version(store: Store, candidate_id: int) -> str:
    """What `accept` takes, whatever was decided before: the best refinement, or the
    draft when no refinement parsed, the best one fails checks the draft passes, or every
    one drifted from the draft."""
    return store.scalar("SELECT proposed_version FROM candidate_state WHERE candidate_id = ?",
                        (candidate_id,)) or "draft"
