"""Draft and refine jobs: resumable, cancellable between samples, one transaction each.

`draft` brings a task to a target number of candidates, so rerunning after a crash or
Ctrl-C continues where it stopped. `refine` refines every candidate that has no
refinement yet. Both record a `runs` row with the model's sha256, the parameters, the
master RNG seed and the counters; every sample records its own generation seed.
"""

from __future__ import annotations

import dataclasses
import random
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from bare_tui.core.generation import grammar
from bare_tui.core.generation.attempts import Attempts
from bare_tui.core.generation.backends import Backend, Generation
from bare_tui.core.inputs import drift, prompts, verifying
from bare_tui.core.inputs.recipes import Recipe, Sampling
from bare_tui.core.inputs.validation import validate
from bare_tui.core.workspace.store import Store
from bare_tui.core.workspace.values import IN_IDS, from_json, ids_param, now, to_json
from bare_tui.errors import BareError


@dataclass(frozen=True)
class Sample:
    """What a job reports after committing one sample."""

    kind: str  # "draft" or "refine"
    row_id: int
    done: int  # samples committed by this job so far
    total: int  # samples this job set out to make
    generation: Generation
    parsed: bool
    valid: bool
    verified: bool | None = None  # None: no verifier ran, or none had anything to check
    drifted: bool = False  # a refinement that stopped editing its draft (core/inputs/drift.py)


@dataclass(frozen=True)
class JobResult:
    kind: str
    run_id: int | None
    produced: int
    planned: int
    status: str  # "done", "cancelled", "nothing to do"


OnSample = Callable[[Sample], None]
OnNote = Callable[[str], None]
# More attempts at a refinement that does not parse, fails its checks or a verifier, or
# drifts from its draft.
DEFAULT_RETRIES = 2


def _new_seed(rng: random.Random) -> int:
    return rng.randrange(1, 2**31 - 1)


def sample_rng(master: int, stream: str, stage: str, index: int) -> random.Random:
    """The random stream of one sample: from the master seed, the task, the stage and
    the sample's place in the task (its slot for drafts, its candidate for refinements).
    A rerun with the same master seed continues the stream instead of repeating it, and
    a whole task is reproducible from one seed however many runs made it. `stream` is the
    task's name, or a name tasks share (core/measures/compare.py)."""
    return random.Random(f"{master}:{stream}:{stage}:{index}")


def select_shots(task: Recipe, seeds: Sequence[dict[str, Any]], rng: random.Random
                 ) -> list[dict[str, Any]]:
    count = min(task.shot_count, len(seeds))
    if task.shot_selection == "random":
        return rng.sample(list(seeds), count)
    return list(seeds[:count])


def parse_and_check(task: Recipe, text: str) -> tuple[dict[str, str] | None, str | None, list[str]]:
    """(fields, parse error, validation problems); an unparsed output is invalid."""
    try:
        fields = prompts.parse_fields(task, text)
    except prompts.ParseError as exc:
        return None, str(exc), [f"parse: {exc}"]
    return fields, None, validate(task, fields)


def _require_seeds(store: Store, task: Recipe) -> list[dict[str, Any]]:
    seeds = store.seeds(task.name)
    if not seeds and task.shot_count > 0:
        raise BareError(
            f"task {task.name} has no seeds: import some with "
            f"`bare-tui seeds import FILE --task {task.name}`"
        )
    return seeds


def count_candidates(store: Store, task: Recipe) -> int:
    """The task's candidates toward a target: a slot's re-drafts count once."""
    return store.filled_slots(task.name)


def open_slots(store: Store, task: Recipe, target: int) -> int:
    """Candidates still to make for `target`, less the slots running jobs have claimed."""
    store.mark_interrupted_runs()
    return target - store.taken_slots(task.name)


def reply_opening(task: Recipe, backend: Backend, sampling: Sampling | None) -> str:
    """The first label, to open a chat reply with where the backend continues an opened
    reply; nothing under a recipe's own grammar (a grammar of the whole output)."""
    if backend.takes_reply_start and not (sampling and sampling.grammar):
        return prompts.reply_start(task)
    return ""


def constrained(task: Recipe, sampling: Sampling, backend: Backend, started: bool = False,
                seeds: Sequence[dict[str, Any]] = ()) -> tuple[Sampling, dict[str, Any]]:
    """The stage's sampling with the recipe's grammar when the stage asks for it and the
    backend takes one, and what a run records about it (`started`: the reply opens with
    the first label already, `prompts.reply_start`; `seeds`: the task's, whose shape
    bounds free-text fields, core/generation/grammar.py)."""
    if not sampling.constrain:
        return sampling, {"constrained": False, "notes": []}
    if not backend.takes_grammar:
        return sampling.replace(grammar=None), {
            "constrained": False,
            "notes": [f"{backend.describe().get('model', 'this model')} is served by an "
                      "engine that takes no grammar: the format is only asked for in the "
                      "prompt"]}
    if sampling.grammar:  # the recipe's own
        return sampling, {"constrained": True, "notes": []}
    built = grammar.build(task, started, [seed["fields"] for seed in seeds])
    return sampling.replace(grammar=built.text), {
        "constrained": True, "notes": list(built.notes), "bounds": list(built.bounds)}


class Notes:
    """What a job says about itself, each thing once: recorded in its run's notes and
    passed to `on_note`."""

    def __init__(self, store: Store, run_id: int | None, on_note: OnNote | None):
        self.store, self.run_id, self.on_note = store, run_id, on_note
        self.said: set[str] = set()

    def __call__(self, text: str, record: bool = True) -> None:
        if text in self.said:
            return
        self.said.add(text)
        if record and self.run_id is not None:
            self.store.note_run(self.run_id, text)
        if self.on_note:
            self.on_note(text)


def open_run(store: Store, kind: str, task: Recipe, backend: Backend, sampling: Sampling,
             rng_seed: int, target: int, **extra: Any) -> int:
    """A `runs` row for a job: the model and its sha256, the parameters, the seed."""
    model = backend.describe()
    return store.start_run({
        "kind": kind, "task": task.name, "model": model["model"],
        "model_path": model.get("model_path"), "model_sha256": model.get("model_sha256"),
        "params": {"sampling": sampling.as_dict(), "shots": task.shot_count,
                   "shot_selection": task.shot_selection, "recipe_sha256": task.sha256,
                   "backend": model, **extra},
        "rng_seed": rng_seed, "target": target, "recipe_sha256": task.sha256,
    })


def _finish(store: Store, run_id: int, stopped: bool, produced: int, planned: int,
            kind: str) -> JobResult:
    status = "cancelled" if stopped and produced < planned else "done"
    store.finish_run(run_id, status)
    return JobResult(kind, run_id, produced, planned, status)


def run_recorded(store: Store, run_id: int, body: Callable[[], tuple[int, int, bool]],
                 kind: str) -> JobResult:
    """Run a job's body (produced, planned, stopped) and record how its run ended."""
    try:
        produced, planned, stopped = body()
    except BaseException as exc:
        store.finish_run(run_id, "interrupted" if isinstance(exc, KeyboardInterrupt)
                         else "failed", error=str(exc)[:500])
        raise
    return _finish(store, run_id, stopped, produced, planned, kind)


@dataclass(frozen=True)
class Committed:
    """One stored sample: its row, whether it parsed, passed its checks, verified, and
    (a refinement) drifted from its draft."""

    row_id: int
    parsed: bool
    valid: bool
    verified: bool | None  # None: no verifier ran, or none had anything to check
    drifted: bool = False

    @property
    def good(self) -> bool:
        """Nothing to try again for: parsed, passing its checks, no verifier failed, and
        still an edit of its draft."""
        return self.parsed and self.valid and self.verified is not False and not self.drifted


# A refinement's drift from its draft, from its parsed fields (None: not parsed).
DriftOf = Callable[[dict[str, str] | None], drift.Drift | None]


def commit_sample(store: Store, table: str, task: Recipe, run_id: int, seed: int,
                  generation: Generation, extra: dict[str, Any], fills_slot: bool = False,
                  drift_of: DriftOf | None = None) -> Committed:
    """Parse, check, verify (and, for a refinement, `drift_of` measures its drift) and
    store one sample and its run's counters in one transaction (`fills_slot`: a draft in
    a slot the run reserved)."""
    fields, parse_error, problems = parse_and_check(task, generation.text)
    verdict = verifying.verify(task, fields)
    moved = drift_of(fields) if drift_of else None
    with store.transaction():
        row_id = store.insert(table, {
            **extra, **(moved.columns() if moved else {}),
            "run_id": run_id, "seed": seed, "raw_text": generation.text,
            "fields": to_json(fields), "parse_error": parse_error,
            "validation": to_json(problems), "valid": int(not problems),
            **verdict.columns(),
            "finish_reason": generation.finish_reason,
            "prompt_tokens": generation.prompt_tokens,
            "completion_tokens": generation.completion_tokens,
            "ms": generation.ms, "created_at": now(),
        })
        store.count_sample(run_id, generation.prompt_tokens, generation.completion_tokens,
                           generation.ms, fields is not None)
        if fills_slot:
            store.fill_slot(run_id)
    verified = verdict.verified
    return Committed(row_id, fields is not None, not problems,
                     None if verified is None else bool(verified),
                     bool(moved and moved.drifted))


def draft(store: Store, task: Recipe, backend: Backend, target: int, *,
          sampling: Sampling | None = None, rng_seed: int | None = None, redraft: int = 0,
          instruct: bool = False, stream: str | None = None,
          on_sample: OnSample | None = None, on_note: OnNote | None = None,
          stop: threading.Event | None = None) -> JobResult:
    """Draft with the base model until the task has `target` candidates. A draft that
    does not parse is drafted again in its slot, with new shots and a new recorded seed,
    up to `redraft` more times, beside the drafts still running (core/generation/attempts.py);
    every attempt is kept, and a slot counts once.

    `instruct`: the paper's instruct-only baseline instead, an instruct model asked in a
    chat for one new item like the examples (core/measures/compare.py). `stream` names the random
    streams (default the task's), so that tasks compared draw the same shots and seeds."""
    stop = stop or threading.Event()
    planned = open_slots(store, task, target)
    if planned <= 0:
        return JobResult("draft", None, 0, 0, "nothing to do")
    seeds = _require_seeds(store, task)
    start = reply_opening(task, backend, sampling) if instruct else ""
    sampling, constraint = constrained(task, sampling or task.base, backend,
                                       started=bool(start), seeds=seeds)
    rng_seed = rng_seed if rng_seed is not None else secrets.randbits(31)
    run_id = open_run(store, "draft", task, backend, sampling, rng_seed, target,
                      redraft=redraft, instruct=instruct, reply_start=start, **constraint)
    notes = Notes(store, run_id, on_note)
    for note in constraint["notes"]:
        notes(f"draft: {note}", record=False)

    def claimed() -> Iterator[int]:
        # Each sample first claims a slot in the workspace, so jobs drafting the same
        # task at once (other processes too) end with exactly `target` candidates.
        while not stop.is_set():
            index = store.reserve_slot(task.name, run_id, target)
            if index is None:
                return
            yield index

    def body() -> tuple[int, int, bool]:
        produced, total = 0, planned
        streams: dict[int, random.Random] = {}  # per slot: its first draft and re-drafts
        tries: dict[int, int] = {}  # per slot: drafts made
        in_flight: dict[int, tuple[list[dict[str, Any]], int]] = {}

        def job(index: int) -> tuple[int, Any, int]:
            rng = streams.setdefault(index, sample_rng(rng_seed, stream or task.name,
                                                       "draft", index))
            shots = select_shots(task, seeds, rng)
            seed = _new_seed(rng)
            in_flight[index] = (shots, seed)
            fields = [s["fields"] for s in shots]
            if instruct:
                return index, prompts.instruct_messages(task, fields, start), seed
            return index, prompts.base_prompt(task, fields), seed

        jobs = Attempts(claimed(), job)
        many = backend.chat_many if instruct else backend.complete_many
        for index, generation in many(jobs, sampling):
            generation = dataclasses.replace(generation, text=start + generation.text)
            shots, seed = in_flight.pop(index)
            tries[index] = tries.get(index, 0) + 1
            stored = commit_sample(
                store, "candidates", task, run_id, seed, generation,
                {"task": task.name, "shot_ids": to_json([s["id"] for s in shots]),
                 "sample_index": index}, fills_slot=tries[index] == 1)
            produced += 1
            if not stored.parsed and tries[index] <= redraft and not stop.is_set():
                jobs.again(index)
                total += 1
            if on_sample:
                on_sample(Sample("draft", stored.row_id, produced, total, generation,
                                 stored.parsed, stored.valid, stored.verified))
            if stop.is_set():
                break  # samples still in flight are dropped
        return produced, total, stop.is_set()

    return run_recorded(store, run_id, body, "draft")


def unrefined(store: Store, task: Recipe, limit: int | None = None, *,
              include_unparsed: bool = False, include_imported: bool = False,
              only: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """Drafts with no refinement yet (of `only` those candidates, when given). Drafts
    that did not parse are left out unless asked for: refining their raw text would have
    the instruct model write an item from scratch, an instruct-only item inside a BARE
    set (the paper drops them). Items imported from a dataset are left out unless asked
    for: they are someone's finished work, not a base model's drafts."""
    sql = (
        "SELECT c.id, c.fields, c.raw_text, c.shot_ids FROM candidates c"
        " WHERE c.task = ? AND NOT EXISTS (SELECT 1 FROM refinements r WHERE r.candidate_id = c.id"
        " AND r.alternative IS NULL)"
        " AND trim(c.raw_text) != ''"
        + ("" if include_unparsed else " AND c.fields IS NOT NULL")
        + ("" if include_imported else " AND c.origin IS NULL")
    )
    params: list[Any] = [task.name]
    if only is not None:
        sql += f" AND c.id {IN_IDS}"
        params.append(ids_param(only))
    sql += " ORDER BY c.id"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return store.query(sql, tuple(params))


def unparsed_unrefined(store: Store, task: Recipe) -> int:
    """Drafts that did not parse and have no refinement: what `refine` skips by default."""
    return store.scalar(
        "SELECT count(*) FROM candidates c WHERE c.task = ? AND c.fields IS NULL"
        " AND NOT EXISTS (SELECT 1 FROM refinements r WHERE r.candidate_id = c.id"
        " AND r.alternative IS NULL)",
        (task.name,))


def refine(store: Store, task: Recipe, backend: Backend, *, limit: int | None = None,
           include_unparsed: bool = False, include_imported: bool = False, retries: int = 0,
           sampling: Sampling | None = None, rng_seed: int | None = None,
           only: Sequence[int] | None = None, retry_unverified: bool = True,
           embed: drift.Embed | None = None,
           on_sample: OnSample | None = None, on_note: OnNote | None = None,
           stop: threading.Event | None = None) -> JobResult:
    """Refine, one draft per call, every candidate of the task without a refinement.
    A refinement that does not parse, fails its checks, drifts from its draft
    (core/inputs/drift.py: by embedding cosine with `embed`, else by the words it keeps)
    or (with `retry_unverified`, the default) fails a verifier is tried again, with a new
    recorded seed, up to `retries` more times, beside the refinements still running
    (core/generation/attempts.py); every attempt is kept, and the best one
    (core/workspace/current.py) is what the review proposes: never one that drifted.

    The reply is opened with the first label for the model where the backend continues
    an opened reply (not under a recipe's own grammar, which is of the whole output)."""
    sampling = sampling or task.refine
    start = reply_opening(task, backend, sampling)
    stop = stop or threading.Event()
    store.mark_interrupted_runs()  # their claims on drafts end with them
    pending = unrefined(store, task, limit, include_unparsed=include_unparsed,
                        include_imported=include_imported, only=only)
    if not pending:
        return JobResult("refine", None, 0, 0, "nothing to do")
    seeds = store.seeds(task.name)
    sampling, constraint = constrained(task, sampling, backend, started=bool(start),
                                       seeds=seeds)
    problem = backend.cannot_chat
    if problem:
        Notes(store, None, on_note)(f"refine: {problem}, so it cannot write items in the "
                                    f"recipe's format; no refinements were made and the "
                                    f"{len(pending)} drafts are kept as they are")
        return JobResult("refine", None, 0, len(pending), "skipped")
    seeds_by_id = {s["id"]: s["fields"] for s in seeds}
    static_shots = [s["fields"] for s in seeds[: task.shot_count]]
    drifts = drift.DriftCheck(task, seeds, embed)
    rng_seed = rng_seed if rng_seed is not None else secrets.randbits(31)
    run_id = open_run(store, "refine", task, backend, sampling, rng_seed, len(pending),
                      refine_unparsed=include_unparsed, refine_imported=include_imported,
                      retries=retries, reply_start=start,
                      drift={**dataclasses.asdict(task.drift),
                             "measure": "embedding cosine" if embed else "word overlap"},
                      **constraint)
    notes = Notes(store, run_id, on_note)
    for note in constraint["notes"]:
        notes(f"refine: {note}", record=False)
    # One random stream per candidate: its first attempt and every retry draw from it.
    streams = {c["id"]: sample_rng(rng_seed, task.name, "refine", c["id"]) for c in pending}

    def body() -> tuple[int, int, bool]:
        produced, planned, parsed_any = 0, len(pending), False
        seeds_used: dict[int, int] = {}
        tries: dict[int, int] = {}  # per candidate: refinements made
        by_id = {c["id"]: c for c in pending}
        from_raw = {c["id"] for c in pending if c["fields"] is None}

        def fresh() -> Iterator[dict[str, Any]]:
            for candidate in pending:
                if stop.is_set():
                    return
                # Jobs refining the task at once (other processes too) take other drafts.
                if store.claim_draft(candidate["id"], run_id):
                    yield candidate

        def job(candidate: dict[str, Any]) -> tuple[int, list[dict[str, str]], int]:
            # The same examples the draft was made from, as in the paper.
            shot_ids = from_json(candidate["shot_ids"]) or []
            shots = [seeds_by_id[i] for i in shot_ids if i in seeds_by_id] or static_shots
            draft = from_json(candidate["fields"]) or candidate["raw_text"]
            seed = seeds_used[candidate["id"]] = _new_seed(streams[candidate["id"]])
            return candidate["id"], prompts.refine_messages(task, shots, draft, start), seed

        jobs = Attempts(fresh(), job)
        for candidate_id, generation in backend.chat_many(jobs, sampling):
            generation = dataclasses.replace(generation, text=start + generation.text)
            candidate = by_id[candidate_id]
            stored = commit_sample(
                store, "refinements", task, run_id, seeds_used.pop(candidate_id),
                generation, {"candidate_id": candidate_id,
                             "from_raw": int(candidate_id in from_raw)},
                drift_of=lambda fields, c=candidate: drifts.measure(
                    from_json(c["fields"]) or c["raw_text"], fields,
                    from_json(c["shot_ids"]) or []))
            produced += 1
            tries[candidate_id] = tries.get(candidate_id, 0) + 1
            parsed_any |= stored.parsed
            if constraint["constrained"] and not stored.parsed \
                    and generation.finish_reason == "stop":
                device = backend.describe().get("device", "the backend")
                notes(f"refine: {device} returned a refinement outside the "
                      "output grammar, so it does not apply it: the format is only "
                      "asked for in the prompt")
            again = not stored.good if retry_unverified else not (
                stored.parsed and stored.valid and not stored.drifted)
            if again and tries[candidate_id] <= retries and not stop.is_set():
                jobs.again(by_id[candidate_id])
                planned += 1
            if on_sample:
                on_sample(Sample("refine", stored.row_id, produced, planned, generation,
                                 stored.parsed, stored.valid, stored.verified,
                                 stored.drifted))
            if stop.is_set():
                break
        if produced and not parsed_any:
            notes(f"refine: none of the {produced} refinements holds the recipe's format "
                  "(a smaller budget than the items need, or a model that cannot follow "
                  "it); the drafts stay proposed")
        return produced, planned, stop.is_set()

    return run_recorded(store, run_id, body, "refine")


def where(backend: Backend) -> str:
    """Where a backend runs and how many samples it makes at once."""
    about = backend.describe()
    return f"{about.get('device', '?')}, {about.get('parallel', '1')} at once"


def generate(store: Store, task: Recipe, load_backend: Callable[[str], Backend],
             target: int | None, *, refine_after: bool = True, refine_limit: int | None = None,
             refine_unparsed: bool = False, refine_imported: bool = False,
             refine_retries: int = 0, redraft: int = 0, embed: drift.Embed | None = None,
             base: Sampling | None = None, refine_sampling: Sampling | None = None,
             rng_seed: int | None = None, on_sample: OnSample | None = None,
             on_note: OnNote | None = None,
             on_stage: Callable[[str, int, str], None] | None = None,
             stop: threading.Event | None = None) -> list[JobResult]:
    """Draft up to `target` (None: no drafting), then, if `refine_after`, refine every
    unrefined draft (at most `refine_limit`). Each model is loaded through
    `load_backend("base" | "instruct")` only when its stage has work to do;
    `on_stage(kind, planned, where)` is called before a stage starts, `where` saying
    where the model runs (cpu, gpu, a server) and how many samples it makes at once."""
    stop = stop or threading.Event()
    results = []
    planned = 0 if target is None else open_slots(store, task, target)
    if planned > 0:
        backend = load_backend("base")
        if on_stage:
            on_stage("draft", planned, where(backend))
        results.append(draft(store, task, backend, target, sampling=base,
                             rng_seed=rng_seed, redraft=redraft, on_sample=on_sample,
                             on_note=on_note, stop=stop))
    pending = len(unrefined(store, task, refine_limit, include_unparsed=refine_unparsed,
                            include_imported=refine_imported)) if refine_after else 0
    if pending and not stop.is_set():
        backend = load_backend("instruct")
        if on_stage:
            on_stage("refine", pending, where(backend))
        results.append(refine(store, task, backend, limit=refine_limit,
                              include_unparsed=refine_unparsed,
                              include_imported=refine_imported, retries=refine_retries,
                              embed=embed,
                              sampling=refine_sampling,
                              rng_seed=rng_seed, on_sample=on_sample, on_note=on_note,
                              stop=stop))
    return results
