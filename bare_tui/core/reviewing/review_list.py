"""The review list: which candidates to show, in what order, and a line for each.

Listing returns ids only; summaries are fetched a page at a time for the rows on screen,
so the cost of a keypress does not grow with the size of the workspace.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bare_tui.core.measures import decontam, judge
from bare_tui.core.reviewing import alternatives, tags, team
from bare_tui.core.reviewing.queue import Queue
from bare_tui.core.workspace import current
from bare_tui.core.workspace.store import Store
from bare_tui.core.workspace.values import IN_IDS, from_json, ids_param

PENDING = "s.status = 'pending'"
# Candidates whose latest judge run (core/measures/judge.py) ...
JUDGED = ("s.candidate_id IN (SELECT j.candidate_id FROM judgments j WHERE "
          f"{judge.LATEST}")
# Each filter is a condition on the candidate_state view (core/workspace/current.py), as `s`.
FILTERS: dict[str, str] = {
    "all": "1",
    "pending": PENDING,
    # Pending, ordered so the next one comes from the cluster with the fewest accepted.
    "pending, diversity first": PENDING,
    "accepted": "s.status = 'accepted'",
    "rejected": "s.status = 'rejected'",
    "edited": "s.edited",
    "failing checks": "s.final_valid = 0",
    # The final text's verifiers (core/inputs/verifiers/) passed, or one failed.
    "verified": "s.final_verified = 1",
    "failed verification": "s.final_verified = 0",
    # Every refinement drifted from its draft (core/inputs/drift.py): the draft is proposed.
    "drifted": "s.refinement_drifted",
    # Overlaps an evaluation set (core/measures/decontam.py): `bare-tui decontam` flagged it.
    "flagged: contamination": decontam.FLAGGED,
    "unparsed drafts": "s.draft_fields IS NULL",
    # ... picked the candidate out of its lineup in some trial.
    "judge: detected": JUDGED + " AND j.detected = 1)",
    # Every judged candidate, those the judge picked out most often first.
    "judge: most detected first": JUDGED + ")",
    # Two reviewers decided it differently (core/reviewing/team.py): for a third look.
    "disagreements": "s.candidate_id IN (SELECT candidate_id FROM events"
                     " GROUP BY candidate_id HAVING count(DISTINCT reviewer) > 1)",
}


# Filters that are a condition on the decision alone, read from the tables and their
# indexes (candidates by task, decisions by candidate) rather than through the view,
# whose refinement lookups cost a million of them at a million candidates.
ON_DECISION: dict[str, str] = {
    "all": "1",
    "pending": "coalesce(d.status, 'pending') = 'pending'",
    "accepted": "d.status = 'accepted'",
    "rejected": "d.status = 'rejected'",
    "edited": "d.version = 'edited'",
}


# A search finds a substring in a candidate's draft, edit or any refinement, in any case:
# through the trigram index of those texts (core/workspace/migrations.py, v18), or, for a
# needle shorter than a trigram or holding LIKE's wildcards, by reading the texts.
TRIGRAM = 3
# The index leads a search by the needle's rarest trigrams, where some are rare (in at
# most RARE texts); LIKE then checks the texts they find. Led by all of them (FTS5's own
# LIKE), every entry of the common ones is read: "(variant 123)" among a million texts
# that all say "variant", 78 ms against 6. How many texts hold a trigram is estimated from
# the first SAMPLED entries of its list (ids spread as the texts are): a few reads each.
SAMPLED = 64
RARE = 20_000
PROBES = 32  # of a long needle's trigrams, the first so many are looked at
LEADING = 2  # trigrams that lead


def rare_trigrams(store: Store, needle: str) -> list[str]:
    """The needle's rare trigrams, rarest first, as FTS5 strings (the index folds their
    case as it folds the texts')."""
    texts = store.scalar("SELECT max(id) FROM candidates") or 0
    grams = list(dict.fromkeys(needle[i:i + TRIGRAM] for i in range(len(needle) - 2)))
    estimated = []
    for gram in grams[:PROBES]:
        phrase = '"' + gram.replace('"', '""') + '"'
        found, furthest = store.conn.execute(
            "SELECT count(*), max(rowid) FROM (SELECT rowid FROM search_text WHERE"
            " search_text MATCH ? ORDER BY rowid LIMIT ?)", (phrase, SAMPLED)).fetchone()
        holding = found if found < SAMPLED else found * texts / furthest
        if holding <= RARE:
            estimated.append((holding, phrase))
    return [phrase for _holding, phrase in sorted(estimated)[:LEADING]]


SEARCH_SCANNED = (
    " AND (instr(lower(s.draft_raw), :needle) OR instr(lower(s.edited_fields), :needle)"
    " OR EXISTS (SELECT 1 FROM refinements r WHERE r.candidate_id = s.candidate_id"
    " AND instr(lower(r.raw_text), :needle)))")


@dataclass(frozen=True)
class Summary:
    """A list row: what an export of the candidate would hold, and its state."""

    id: int
    status: str
    final_version: str  # edited, draft or refined: the version an export writes
    valid: bool  # that version passes its checks
    refined: bool
    title: str
    alternatives: int = 0  # alternatives asked for in review (core/reviewing/alternatives.py)
    verified: bool | None = None  # that version's verifiers: passed, failed, or none ran
    drifted: bool = False  # every refinement drifted from the draft: the draft is proposed

    @property
    def marker(self) -> str:
        """`e` edited, `r` refined, `~` the draft because every refinement drifted from
        it, `d` the draft although refined otherwise (the refinement failed, did not
        parse, or the draft was accepted), blank when not refined yet."""
        if self.final_version == "draft":
            return ("~" if self.drifted else "d") if self.refined else " "
        return self.final_version[0]


def candidate_ids(store: Store, task: str, filter_name: str = "all",
                  search: str | None = None, cluster: int | None = None) -> list[int]:
    """The ids a filter shows, in its order, all at once (see `queue`)."""
    return list(queue(store, task, filter_name, search, cluster))


def queue(store: Store, task: str, filter_name: str = "all", search: str | None = None,
          cluster: int | None = None) -> Sequence[int]:
    """The ids a filter shows, in its order: one of FILTERS, or "tag: <name>"
    (core/reviewing/tags.py). In id order they are read a page at a time (a Queue); the
    orders worked out in Python (diversity first, most detected first, disagreements)
    are a list."""
    params: dict[str, Any] = {"task": task, "cluster": cluster}
    scanned = bool(search) and (len(search) < TRIGRAM or "%" in search or "_" in search)
    if filter_name in ON_DECISION and not scanned:
        condition = ON_DECISION[filter_name]
        table = ("candidates c" if condition == "1" else
                 "candidates c LEFT JOIN decisions d ON d.candidate_id = c.id")
        where = f"c.task = :task AND {condition}"
        key = "c.id"
    else:
        if filter_name.startswith(tags.FILTER_PREFIX):
            condition = tags.HAS_TAG
            params["tag"] = filter_name.removeprefix(tags.FILTER_PREFIX)
        elif filter_name in FILTERS:
            condition = FILTERS[filter_name]
        else:
            raise ValueError(f"unknown filter {filter_name!r}")
        table, where, key = "candidate_state s", f"s.task = :task AND {condition}", \
            "s.candidate_id"
    if cluster is not None:
        where += (f" AND {key} IN (SELECT candidate_id FROM clusters WHERE task = :task"
                  " AND cluster = :cluster)")
    if scanned:
        where += SEARCH_SCANNED
        params["needle"] = search.lower()
    elif search:  # the index's matches lead, in id order: a page reads a page of them
        table = f"search_text f CROSS JOIN {table}"
        rare = rare_trigrams(store, search)
        found = "f.body LIKE :pattern"  # by all its trigrams, when none is rare
        if rare:  # by the rare ones, the texts they find checked (+: not by the index)
            found = "f.search_text MATCH :rare AND +f.body LIKE :pattern"
            params["rare"] = " AND ".join(rare)
        where = f"{found} AND {key} = f.rowid AND {where}"
        key = "f.rowid"
        params["pattern"] = f"%{search}%"
    source = f"{table} WHERE {where}"
    listed = Queue(store, source, key, params)
    if filter_name.endswith("diversity first"):
        return diversity_first(store, task, list(listed))
    if filter_name == "disagreements":
        disputed = {cid for cid, by in team.labels(store, task, shared=True).items()
                    if len(set(by.values())) > 1}
        return [i for i in listed if i in disputed]
    if filter_name.endswith("most detected first"):
        ids = list(listed)
        verdicts = judge.verdicts(store, ids)
        return sorted(ids, key=lambda i: verdicts[i][0] / verdicts[i][1])
    return listed


# What the review shows, as one cheap row: a commit that changes none of it (who is
# reviewing now, a lease) does not make the screen read its list again.
FINGERPRINT = (
    "SELECT (SELECT max(id) FROM candidates), (SELECT max(id) FROM refinements),"
    " (SELECT max(id) FROM events), (SELECT max(created_at) FROM embeddings),"
    " (SELECT max(created_at) FROM cluster_info), (SELECT max(id) FROM judgments),"
    " (SELECT max(created_at) FROM recipes)")


FINGERPRINT_EVENTS = 2  # where the newest decision event is in it


def fingerprint(store: Store) -> tuple:
    """Changes whenever anything the review list or detail shows may have changed."""
    return tuple(store.conn.execute(FINGERPRINT).fetchone())


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


# What a list row reads of the candidate_state view: a narrow read (a page of the list at
# a million candidates: 0.3 ms, where the whole of each candidate takes 2).
_SUMMARY_COLUMNS = ("candidate_id, status, final_version, final_valid, final_fields,"
                    " draft_raw, latest_raw IS NOT NULL, final_verified, refinement_drifted")


def summaries(store: Store, ids: Iterable[int], blind: Collection[int] = ()
              ) -> dict[int, Summary]:
    """One list row per candidate: its state, the first line of its final text, and how
    many alternatives it has; those in `blind` as they stood undecided."""
    ids = list(ids)
    more = alternatives.counts(store, ids)
    seen = [cid for cid in ids if cid not in blind]
    rows = [(*row[:4], from_json(row[4]), *row[5:]) for row in store.conn.execute(
        f"SELECT {_SUMMARY_COLUMNS} FROM candidate_state WHERE candidate_id {IN_IDS}",
        (ids_param(seen),))] if seen else []
    rows += [(item.id, item.status, item.final_version, item.final_valid, item.final_fields,
              item.draft_raw, item.refined, item.final_verified, item.refinement_drifted)
             for item in (each.undecided() for each in current.many(
                 store, [cid for cid in ids if cid in blind]).values())]
    return {cid: Summary(cid, status, version, valid is None or bool(valid), bool(refined),
                         _first_line(fields, raw), more.get(cid, 0),
                         None if verified is None else bool(verified), bool(drifted))
            for cid, status, version, valid, fields, raw, refined, verified, drifted in rows}

