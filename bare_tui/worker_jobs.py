"""What the worker process does for each kind of job (bare_tui/jobs.py): drafting and
refining, the IR judge, a comparison's arms, a candidate's alternatives. Each loads its
model through `load_backend` (which waits for the CPU lock), reports through `emit` and
ends by emitting `done` with its results. bare_tui/worker.py runs the process and
dispatches here; this module knows nothing of it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, replace

from bare_tui.config import Settings
from bare_tui.core.generation.backends import Backend
from bare_tui.core.generation.pipeline import JobResult, OnSample
from bare_tui.core.inputs.drift import Embed
from bare_tui.core.inputs.recipes import Recipe
from bare_tui.core.workspace.store import Store
from bare_tui.errors import BareError
from bare_tui.jobs import Alternatives, Compare, Generate, Judge, StoppedWhileWaiting

Emit = Callable[..., None]
LoadBackend = Callable[[str], Backend]


def sample_emitter(emit: Emit) -> OnSample:
    """The one way a committed sample is reported to the caller."""
    return lambda sample: emit("sample", **asdict(sample))


def done(emit: Emit, results: list[JobResult]) -> int:
    emit("done", results=[asdict(result) for result in results])
    return 0


def drift_embedding(settings: Settings, emit: Emit) -> Embed | None:
    """What measures a refinement's drift from its draft (core/inputs/drift.py): the
    embedding model, loaded when the first refinement comes; without it, the words kept."""
    from bare_tui.core.measures import embeddings

    try:
        if not embeddings.is_served(settings.embedder):
            embeddings.model_path(settings.embedder)
    except BareError as exc:
        emit("note", text=f"drift: measured by the words each refinement keeps, not by "
             f"embeddings ({exc})")
        return None
    return embeddings.encoder(settings.embedder)


def generate(settings: Settings, store: Store, task: Recipe, job: Generate,
             load_backend: LoadBackend, emit: Emit, stop: threading.Event) -> int:
    from bare_tui.core.generation import pipeline

    try:
        results = pipeline.generate(
            store, task, load_backend, job.target, refine_after=job.refine,
            refine_limit=job.refine_limit, refine_unparsed=job.refine_unparsed,
            refine_imported=job.refine_imported,
            embed=drift_embedding(settings, emit) if job.refine else None,
            refine_retries=job.retries, redraft=job.redraft, base=job.base,
            refine_sampling=job.refine_sampling, rng_seed=job.rng_seed,
            on_sample=sample_emitter(emit), on_note=lambda text: emit("note", text=text),
            on_stage=lambda kind, planned, where: emit(
                "stage", kind=kind, planned=planned, where=where),
            stop=stop)
    except StoppedWhileWaiting as waiting:
        results = [JobResult(str(waiting), None, 0, 0, "cancelled")]
    if task.decontam_against and any(result.produced for result in results):
        from bare_tui.core.measures import decontam

        for checked in decontam.check_recipe_sets(store, task):  # n-grams: a second or so
            for line in checked.lines():
                emit("note", text=f"decontam: {line}")
    return done(emit, results)


def alternatives(settings: Settings, store: Store, task: Recipe, job: Alternatives,
                 load_backend: LoadBackend, emit: Emit, stop: threading.Event) -> int:
    from bare_tui.core.generation import pipeline
    from bare_tui.core.reviewing import alternatives

    try:
        backend = load_backend(alternatives.ROLE.get(job.kind, "instruct"))
    except StoppedWhileWaiting:
        return done(emit, [JobResult("alternatives", None, 0, 0, "cancelled")])
    emit("stage", kind=f"{job.k} alternatives ({job.kind})", planned=job.k,
         where=pipeline.where(backend))
    result = alternatives.generate(
        store, task, backend, job.candidate_id, job.k, kind=job.kind,
        sampling=job.refine_sampling if job.kind == "refined" else job.base,
        rng_seed=job.rng_seed, embed=drift_embedding(settings, emit),
        on_sample=sample_emitter(emit), on_note=lambda text: emit("note", text=text),
        stop=stop)
    return done(emit, [result])


def judge(store: Store, task: Recipe, job: Judge, load_backend: LoadBackend, emit: Emit,
          stop: threading.Event) -> int:
    from bare_tui.core.generation import pipeline
    from bare_tui.core.measures import judge, judge_pool, judge_protocols

    items = judge.to_judge(store, task, job.status, again=job.again, limit=job.limit)
    if not items:
        return done(emit, [])
    pool = judge_pool.load(store, task, job.judge_pool)
    try:
        backend = load_backend("instruct")
    except StoppedWhileWaiting:
        return done(emit, [JobResult("judge", None, 0, 0, "cancelled")])
    emit("stage", kind="judge", planned=len(items) * job.trials, where=pipeline.where(backend))
    result = judge.judge(store, task, backend, items, trials=job.trials,
                         rng_seed=job.rng_seed, protocol=judge_protocols.protocol(job.protocol),
                         pool=pool, max_tokens=job.max_tokens,
                         on_sample=sample_emitter(emit), stop=stop)
    return done(emit, [result])


def compare(settings: Settings, store: Store, task: Recipe, job: Compare,
            load_backend: LoadBackend, emit: Emit, stop: threading.Event) -> int:
    from bare_tui.core.measures import compare, judge_pool, judge_protocols
    from bare_tui.loading import open_backend

    refine = job.refine_sampling or task.refine
    judge_backend = None
    if job.judge_model or job.judge_server:
        conf = replace(settings, instruct=job.judge_model or settings.instruct,
                       instruct_server=job.judge_server or settings.instruct_server)
        judge_backend = lambda: open_backend(  # noqa: E731
            "instruct", conf, on_note=lambda text: emit("note", text=text))
    try:
        compare.generate(
            store, task, compare.Plan(job.comparison, job.tasks, job.stream), job.n,
            load_backend, rng_seed=job.rng_seed, base=job.base or task.base,
            instruct=refine.replace(temperature=job.instruct_temperature), refine=refine,
            trials=job.trials, constrain=job.constrain,
            protocol=judge_protocols.protocol(job.protocol),
            pool=judge_pool.load(store, task, job.judge_pool),
            judge_max_tokens=job.judge_max_tokens, calibrate=job.calibrate,
            judge_backend=judge_backend,
            embed=drift_embedding(settings, emit),
            on_stage=lambda kind, planned, where: emit(
                "stage", kind=kind, planned=planned, where=where),
            on_sample=sample_emitter(emit), stop=stop)
    except StoppedWhileWaiting:
        pass
    return done(emit, [])
