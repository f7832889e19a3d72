"""Alternatives for one candidate, asked for in review: K more refinements of its draft
(the instruct model), or K more drafts from the same shots (the base model).

Each is stored beside the candidate's refinements, marked as an alternative of its
kind, with its own recorded seed, in a run of kind "alternatives". An alternative
counts for nothing until the curator picks it (`review.decide(..., "pick")`); then it
is the refinement shown and exported (core/workspace/migrations.py, candidate_state). None is
ever deleted.
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bare_tui.core.workspace.store import Store
from bare_tui.core.workspace.values import IN_IDS, from_json, ids_param
from bare_tui.errors import BareError

if TYPE_CHECKING:  # generating needs the pipeline; listing (the review list) does not
    from bare_tui.core.generation.backends import Backend
    from bare_tui.core.generation.pipeline import JobResult, OnNote, OnSample
    from bare_tui.core.inputs.drift import Embed
    from bare_tui.core.inputs.recipes import Recipe, Sampling

KINDS = ("refined", "draft")  # another refinement; another draft from the same shots
ROLE = {"refined": "instruct", "draft": "base"}


@dataclass(frozen=True)
class Alternative:
    id: int
    kind: str
    seed: int
    fields: dict[str, str] | None
    raw: str
    problems: list[str]
    drift: str | None = None  # why it drifted from the draft (core/inputs/drift.py)
    draft_similarity: float | None = None  # its cosine to the draft (None: not embedded)
    draft_overlap: float | None = None  # the share of the draft's words it kept

    @property
    def parsed(self) -> bool:
        return self.fields is not None


def of_candidate(store: Store, candidate_id: int) -> list[Alternative]:
    """A candidate's alternatives, oldest first."""
    rows = store.conn.execute(
        "SELECT id, alternative, seed, fields, raw_text, validation, drift, draft_similarity,"
        " draft_overlap FROM refinements WHERE candidate_id = ? AND alternative IS NOT NULL"
        " ORDER BY id",
        (candidate_id,))
    return [Alternative(row[0], row[1], row[2], from_json(row[3]), row[4] or "",
                        from_json(row[5]) or [], row[6], row[7], row[8]) for row in rows]


def counts(store: Store, ids: list[int]) -> dict[int, int]:
    """How many alternatives each of these candidates has (absent: none)."""
    if not ids:
        return {}
    rows = store.conn.execute(
        "SELECT candidate_id, count(*) FROM refinements WHERE alternative IS NOT NULL AND"
        f" candidate_id {IN_IDS} GROUP BY candidate_id", (ids_param(ids),))
    return dict(rows.fetchall())


def generate(store: Store, task: Recipe, backend: Backend, candidate_id: int, k: int, *,
             kind: str = "refined", sampling: Sampling | None = None,
             rng_seed: int | None = None, embed: Embed | None = None,
             on_sample: OnSample | None = None, on_note: OnNote | None = None,
             stop: threading.Event | None = None) -> JobResult:
    """Make `k` alternatives of `kind` for the candidate, committing each as it comes,
    each with its drift from the draft (core/inputs/drift.py; `embed` as in refine)."""
    from bare_tui.core.generation.pipeline import (
        Notes,
        Sample,
        commit_sample,
        constrained,
        open_run,
        reply_opening,
        run_recorded,
        sample_rng,
    )
    from bare_tui.core.inputs import drift, prompts

    if kind not in KINDS:
        raise BareError(f"unknown kind of alternative {kind!r} (known: {', '.join(KINDS)})")
    if k < 1:
        raise BareError("ask for at least one alternative")
    row = store.conn.execute("SELECT fields, raw_text, shot_ids FROM candidates"
                             " WHERE id = ? AND task = ?", (candidate_id, task.name)).fetchone()
    if row is None:
        raise BareError(f"no candidate #{candidate_id} in task {task.name}")
    stop = stop or threading.Event()
    seeds = store.seeds(task.name)
    by_id = {s["id"]: s["fields"] for s in seeds}
    shots = ([by_id[i] for i in from_json(row[2]) or [] if i in by_id]
             or [s["fields"] for s in seeds[: task.shot_count]])
    refining = kind == "refined"
    draft, shot_ids = from_json(row[0]) or row[1], from_json(row[2]) or []
    drifts = drift.DriftCheck(task, seeds, embed)
    start = reply_opening(task, backend, sampling) if refining else ""
    sampling, constraint = constrained(
        task, sampling or (task.refine if refining else task.base), backend,
        started=bool(start), seeds=seeds)
    prompt: Any = (prompts.refine_messages(task, shots, draft, start)
                   if refining else prompts.base_prompt(task, shots))
    rng_seed = rng_seed if rng_seed is not None else secrets.randbits(31)
    run_id = open_run(store, "alternatives", task, backend, sampling, rng_seed, k,
                      alternative_of=candidate_id, alternative=kind, reply_start=start,
                      **constraint)
    notes = Notes(store, run_id, on_note)
    for note in constraint["notes"]:
        notes(f"alternatives: {note}", record=False)
    rng = sample_rng(rng_seed, task.name, f"alternative-{kind}", candidate_id)
    seeds_used = [rng.randrange(1, 2**31 - 1) for _ in range(k)]

    def body() -> tuple[int, int, bool]:
        produced = 0
        jobs = ((index, prompt, seed) for index, seed in enumerate(seeds_used)
                if not stop.is_set())
        many = backend.chat_many if refining else backend.complete_many
        for index, generation in many(jobs, sampling):
            generation = dataclasses.replace(generation, text=start + generation.text)
            stored = commit_sample(
                store, "refinements", task, run_id, seeds_used[index], generation,
                {"candidate_id": candidate_id, "alternative": kind},
                drift_of=lambda fields: drifts.measure(draft, fields, shot_ids,
                                                       edits_draft=refining))
            produced += 1
            if on_sample:
                on_sample(Sample("refine" if refining else "draft", stored.row_id, produced,
                                 k, generation, stored.parsed, stored.valid, stored.verified,
                                 stored.drifted))
            if stop.is_set():
                break
        return produced, k, stop.is_set()

    return run_recorded(store, run_id, body, "alternatives")
