"""The worker process's jobs besides drafting and refining (bare_tui/worker.py runs
them): the IR judge, a comparison's arms, a candidate's alternatives. Each loads its
model through `load_backend` (which waits for the CPU lease), reports through `emit` and
ends by emitting `done` with its results."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from bare_tui.config import Settings
from bare_tui.worker import JobRequest, StoppedWhileWaiting

Emit = Callable[..., None]


def alternatives(store: Any, task: Any, request: JobRequest,
                  load_backend: Callable[[str], Any], emit: Emit,
                  stop: threading.Event) -> int:
    from bare_tui.core import alternatives, pipeline

    options = request.alternatives or {}
    kind = options.get("kind", "refined")
    try:
        backend = load_backend(alternatives.ROLE.get(kind, "instruct"))
    except StoppedWhileWaiting:
        emit("done", results=[asdict(pipeline.JobResult("alternatives", None, 0, 0,
                                                        "cancelled"))])
        return 0
    emit("stage", kind=f"{options.get('k', 1)} alternatives ({kind})",
         planned=options.get("k", 1), where=pipeline.where(backend))
    result = alternatives.generate(
        store, task, backend, options["candidate_id"], options.get("k", 1), kind=kind,
        sampling=request.refine_sampling if kind == "refined" else request.base,
        rng_seed=request.rng_seed,
        on_sample=lambda sample: emit("sample", **asdict(sample)),
        on_note=lambda text: emit("note", text=text), stop=stop)
    emit("done", results=[asdict(result)])
    return 0


def judge(store: Any, task: Any, request: JobRequest, load_backend: Callable[[str], Any],
           emit: Emit, stop: threading.Event) -> int:
    from bare_tui.core import judge, pipeline

    options = request.judge or {}
    items = judge.to_judge(store, task, options.get("status", "any"),
                           again=options.get("again", False), limit=options.get("limit"))
    results = []
    if items:
        try:
            backend = load_backend("instruct")
        except StoppedWhileWaiting:
            backend = None
            results = [pipeline.JobResult("judge", None, 0, 0, "cancelled")]
        if backend is not None:
            trials = options.get("trials", 1)
            emit("stage", kind="judge", planned=len(items) * trials,
                 where=pipeline.where(backend))
            sampling = judge.SAMPLING.replace(max_tokens=options.get("max_tokens"))
            results = [judge.judge(store, task, backend, items, trials=trials,
                                   rng_seed=request.rng_seed, sampling=sampling,
                                   on_sample=lambda sample: emit("sample", **asdict(sample)),
                                   stop=stop)]
    emit("done", results=[asdict(result) for result in results])
    return 0


def compare(settings: Settings, store: Any, task: Any, request: JobRequest,
             load_backend: Callable[[str], Any], emit: Emit, stop: threading.Event
             ) -> int:
    from dataclasses import replace

    from bare_tui.core import compare, judge
    from bare_tui.loading import open_backend

    options = request.compare or {}
    refine = request.refine_sampling or task.refine
    judge_backend = None
    if options.get("judge_model") or options.get("judge_server"):
        conf = replace(settings, instruct=options.get("judge_model") or settings.instruct,
                       instruct_server=options.get("judge_server") or settings.instruct_server)
        judge_backend = lambda: open_backend(  # noqa: E731
            "instruct", conf, on_note=lambda text: emit("note", text=text))
    try:
        compare.generate(
            store, task, compare.Plan(options["comparison"], options["tasks"],
                                      options["stream"]),
            options["n"], load_backend, rng_seed=request.rng_seed,
            base=request.base or task.base,
            instruct=refine.replace(temperature=options["instruct_temperature"]),
            refine=refine,
            judge_sampling=judge.SAMPLING.replace(max_tokens=options.get("judge_max_tokens")),
            trials=options.get("trials", 1), judge_backend=judge_backend,
            on_stage=lambda kind, planned, where: emit(
                "stage", kind=kind, planned=planned, where=where),
            on_sample=lambda sample: emit("sample", **asdict(sample)), stop=stop)
    except StoppedWhileWaiting:
        pass
    emit("done", results=[])
    return 0
