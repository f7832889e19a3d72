"""The review queue: which candidates to show, in what order, and what each one holds.

Listing returns ids only; summaries are fetched a page at a time for the rows on screen,
so the cost of a keypress does not grow with the size of the workspace.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bare_tui.core.review import State
from bare_tui.core.store import Store, from_json

# The latest refinement of a candidate `c`, as a correlated sub-query.
_LATEST = "(SELECT max(r.id) FROM refinements r WHERE r.candidate_id = c.id)"
# An item is valid when its refinement is, or, with no refinement yet, its draft is.
_VALID = (f"coalesce((SELECT r.valid FROM refinements r WHERE r.id = {_LATEST}), c.valid)")

PENDING = "coalesce(d.status, 'pending') = 'pending'"
FILTERS: dict[str, str] = {
    "all": "1",
    "pending": PENDING,
    # Pending, ordered so the next one comes from the cluster with the fewest accepted.
    "pending, diversity first": PENDING,
    "accepted": "d.status = 'accepted'",
    "rejected": "d.status = 'rejected'",
    "edited": "d.version = 'edited'",
    "failing checks": f"{_VALID} = 0",
    "unparsed drafts": "c.fields IS NULL",
}


@dataclass(frozen=True)
class Summary:
    id: int
    status: str
    edited: bool
    valid: bool
    refined: bool
    title: str


@dataclass(frozen=True)
class Detail:
    id: int
    draft_fields: dict[str, str] | None
    draft_raw: str
    draft_problems: list[str]
    refined_fields: dict[str, str] | None
    refined_raw: str | None
    refined_problems: list[str]
    state: State
    seed: int
    shot_ids: list[int]


def candidate_ids(store: Store, task: str, filter_name: str = "all",
                  search: str | None = None, cluster: int | None = None) -> list[int]:
    if filter_name not in FILTERS:
        raise ValueError(f"unknown filter {filter_name!r}")
    sql = ("SELECT c.id FROM candidates c LEFT JOIN decisions d ON d.candidate_id = c.id"
           f" WHERE c.task = :task AND {FILTERS[filter_name]}")
    params: dict[str, Any] = {"task": task, "cluster": cluster}
    if cluster is not None:
        sql += (" AND c.id IN (SELECT candidate_id FROM clusters WHERE task = :task"
                " AND cluster = :cluster)")
    if search:
        sql += (" AND (instr(lower(c.raw_text), :needle) OR instr(lower(d.final_fields), :needle)"
                " OR EXISTS (SELECT 1 FROM refinements r WHERE r.candidate_id = c.id"
                " AND instr(lower(r.raw_text), :needle)))")
        params["needle"] = search.lower()
    ids = [row[0] for row in store.conn.execute(sql + " ORDER BY c.id", params)]
    return diversity_first(store, task, ids) if filter_name.endswith("diversity first") else ids


def diversity_first(store: Store, task: str, ids: list[int]) -> list[int]:
    """Interleave clusters, those with the fewest accepted candidates first: the n-th
    pending candidate of a cluster with a accepted ones comes at rank a + n."""
    rows = store.conn.execute(
        "SELECT c.candidate_id, c.cluster, (SELECT count(*) FROM clusters k JOIN decisions d"
        " ON d.candidate_id = k.candidate_id WHERE k.task = c.task AND k.cluster = c.cluster"
        " AND d.status = 'accepted') FROM clusters c WHERE c.task = ?", (task,))
    info = {cid: (cluster, accepted) for cid, cluster, accepted in rows}
    seen: dict[int, int] = {}
    keys = {}
    for cid in ids:
        cluster, accepted = info.get(cid, (-1, 0))
        seen[cluster] = seen.get(cluster, 0) + 1
        keys[cid] = (accepted + seen[cluster], cluster, cid)
    return sorted(ids, key=keys.__getitem__)


def _first_line(fields: dict[str, str] | None, raw: str | None) -> str:
    text = next(iter(fields.values()), "") if fields else (raw or "")
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def summaries(store: Store, ids: Iterable[int]) -> dict[int, Summary]:
    ids = list(ids)
    if not ids:
        return {}
    rows = store.conn.execute(
        "SELECT c.id, coalesce(d.status, 'pending'), d.version = 'edited', "
        f"{_VALID}, r.fields, c.fields, c.raw_text, d.final_fields, r.id IS NOT NULL"
        " FROM candidates c LEFT JOIN decisions d ON d.candidate_id = c.id"
        f" LEFT JOIN refinements r ON r.id = {_LATEST}"
        f" WHERE c.id IN ({','.join('?' * len(ids))})",
        ids,
    )
    result = {}
    for cid, status, edited, valid, refined, draft, raw, final, has_refined in rows:
        fields = from_json(final) if edited else (from_json(refined) or from_json(draft))
        result[cid] = Summary(cid, status, bool(edited), bool(valid), bool(has_refined),
                              _first_line(fields, raw))
    return result


def detail(store: Store, candidate_id: int) -> Detail | None:
    row = store.conn.execute(
        "SELECT c.fields, c.raw_text, c.validation, r.fields, r.raw_text, r.validation,"
        " d.status, d.version, d.final_fields, d.reason, c.seed, c.shot_ids"
        " FROM candidates c LEFT JOIN decisions d ON d.candidate_id = c.id"
        f" LEFT JOIN refinements r ON r.id = {_LATEST} WHERE c.id = ?",
        (candidate_id,),
    ).fetchone()
    if row is None:
        return None
    (draft, raw, draft_problems, refined, refined_raw, refined_problems, status, version,
     final, reason, seed, shot_ids) = row
    state = State(status or "pending", version, from_json(final), reason)
    return Detail(candidate_id, from_json(draft), raw, from_json(draft_problems) or [],
                  from_json(refined), refined_raw, from_json(refined_problems) or [],
                  state, seed, from_json(shot_ids) or [])
