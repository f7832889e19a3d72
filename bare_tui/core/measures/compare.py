"""`compare`: the BARE paper's two claims, side by side on the curator's own seeds.

Three arms make the same number of items from the same seeds, with the same shot
choices and per-sample seeds where the arms allow (one random stream, named after the
comparison):
- base: the base model's few-shot drafts;
- instruct: the instruct model asked in a chat for an example like the examples, at a
  high temperature (the paper's independent instruct-only baseline);
- bare: the base arm's drafts, each refined once by the instruct model.

As in the paper, no arm is grammar-constrained unless `constrain` says so ("refine": the
refinements only; "all": every arm). Arm items live in tasks of their own
(`gsm8k~compare3`, `gsm8k~compare3-instruct`), so the task's review queue and exports
never see them; with `into_queue` the base and BARE arms are made in the task itself.
Each arm is then judged (core/measures/judge.py) in lineups from the judge's pool, a draft
and its refinement in the same lineup; `calibrate` real items are judged among real ones.
core/measures/compare_measures.py makes the report's numbers, with their intervals.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from bare_tui.core.generation import pipeline
from bare_tui.core.generation.backends import Backend
from bare_tui.core.inputs.drift import Embed
from bare_tui.core.inputs.recipes import Recipe, Sampling
from bare_tui.core.measures import judge, judge_pool
from bare_tui.core.measures.judge_pool import Pool
from bare_tui.core.measures.judge_protocols import Protocol
from bare_tui.core.workspace.store import Store
from bare_tui.core.workspace.values import from_json, now, to_json

ARMS = ("base", "instruct", "bare")
CONSTRAIN = ("none", "refine", "all")  # which arms are grammar-constrained
ARM_MARK = "~compare"  # task names cannot hold "~": arm tasks never clash with a recipe
OnStage = Callable[[str, int, str], None]


@dataclass(frozen=True)
class Plan:
    comparison: int
    tasks: dict[str, str]  # arm -> the task its items are in
    stream: str  # the random stream every arm draws from


def _arm_task(store: Store, task: Recipe, name: str) -> Recipe:
    """The task under another name, with its recipe and a copy of its seeds."""
    if name == task.name:
        return task
    store.save_task(name, task.source, task.sha256)
    with store.transaction() as conn:
        conn.execute(
            "INSERT OR IGNORE INTO seeds (task, fields, source, content_sha256, created_at)"
            " SELECT ?, fields, source, content_sha256, created_at FROM seeds WHERE task = ?"
            " ORDER BY id", (name, task.name))
    return dataclasses.replace(task, name=name)


def plan(store: Store, task: Recipe, n: int, *, into_queue: bool, params: dict[str, Any]
         ) -> Plan:
    """A comparison row and its arm tasks."""
    with store.transaction() as conn:
        comparison = conn.execute(
            "INSERT INTO comparisons (task, n, params, created_at) VALUES (?, ?, ?, ?)",
            (task.name, n, to_json({**params, "into_queue": into_queue}), now())).lastrowid
    own = f"{task.name}{ARM_MARK}{comparison}"
    drafts = task.name if into_queue else own
    tasks = {"base": drafts, "bare": drafts, "instruct": f"{own}-instruct"}
    with store.transaction():
        store.update("comparisons", "id", comparison, {"tasks": to_json(tasks)})
    return Plan(comparison, tasks, own)


def generate(store: Store, task: Recipe, plan: Plan, n: int,
             load_backend: Callable[[str], Backend], *, rng_seed: int,
             base: Sampling, instruct: Sampling, refine: Sampling, trials: int,
             constrain: str = "none", protocol: Protocol = judge.PAPER,
             pool: Pool | None = None, judge_max_tokens: int | None = None,
             calibrate: int = 0, judge_backend: Callable[[], Backend] | None = None,
             embed: Embed | None = None, on_stage: OnStage | None = None,
             on_sample: pipeline.OnSample | None = None,
             stop: threading.Event | None = None) -> dict[str, dict[str, int | None]]:
    """Make and judge every arm (the judge is the instruct model unless `judge_backend`
    loads another; `embed` measures the bare arm's drift, core/inputs/drift.py), then
    calibrate the judge on `calibrate` real items; {arm|"calibration": {"draft"|
    "refine"|"judge": run id}}."""
    stop = stop or threading.Event()
    base, instruct, refine = constrained(constrain, base, instruct, refine)
    pool = pool or judge_pool.load(store, task)
    tasks = {arm: _arm_task(store, task, name) for arm, name in plan.tasks.items()}
    drafts = tasks["base"]
    target = n + (pipeline.count_candidates(store, drafts) if drafts.name == task.name else 0)
    runs: dict[str, dict[str, int | None]] = {arm: {} for arm in (*ARMS, "calibration")}

    def stage(kind: str, planned: int, backend: Backend) -> None:
        if on_stage:
            on_stage(kind, planned, pipeline.where(backend))

    backend = load_backend("base")
    stage("base arm: draft", n, backend)
    runs["base"]["draft"] = pipeline.draft(
        store, drafts, backend, target, sampling=base, rng_seed=rng_seed, stream=plan.stream,
        on_sample=on_sample, stop=stop).run_id
    if stop.is_set():
        return _saved(store, plan, runs)
    del backend
    backend = load_backend("instruct")
    if not stop.is_set():
        stage("instruct arm: draft", n, backend)
        runs["instruct"]["draft"] = pipeline.draft(
            store, tasks["instruct"], backend, n, sampling=instruct, rng_seed=rng_seed,
            instruct=True, stream=plan.stream, on_sample=on_sample, stop=stop).run_id
    if not stop.is_set():
        pending = arm_items(store, "base", runs["base"])
        stage("bare arm: refine", len(pending), backend)
        runs["bare"]["refine"] = pipeline.refine(
            store, drafts, backend, sampling=refine, rng_seed=rng_seed,
            only=[item.candidate_id for item in pending], embed=embed,
            on_sample=on_sample, stop=stop).run_id
        runs["bare"]["draft"] = runs["base"]["draft"]
    if judge_backend is not None:
        del backend
        backend = judge_backend()
    for arm in ARMS:
        items = arm_items(store, arm, runs[arm])
        if stop.is_set() or not items:
            continue
        stage(f"{arm} arm: judge", len(items) * trials, backend)
        runs[arm]["judge"] = judge.judge(
            store, tasks[arm], backend, items, trials=trials, rng_seed=rng_seed,
            protocol=protocol, pool=pool, max_tokens=judge_max_tokens,
            on_sample=on_sample, stop=stop).run_id
    if calibrate and not stop.is_set():
        stage("judge calibration", calibrate, backend)
        runs["calibration"]["judge"] = judge.calibrate(
            store, task, backend, calibrate, rng_seed=rng_seed, protocol=protocol,
            pool=pool, max_tokens=judge_max_tokens, on_sample=on_sample, stop=stop).run_id
    return _saved(store, plan, runs)


def constrained(constrain: str, base: Sampling, instruct: Sampling, refine: Sampling
                ) -> tuple[Sampling, Sampling, Sampling]:
    """The arms' sampling with grammars on only where `constrain` says: "none" (the
    paper), "refine" (refinements keep the recipe's structure), or "all"."""
    if constrain not in CONSTRAIN:
        raise ValueError(f"constrain must be one of {', '.join(CONSTRAIN)}")
    every = constrain == "all"
    return (base.replace(constrain=every), instruct.replace(constrain=every),
            refine.replace(constrain=constrain != "none"))


def self_judged(judge_model: Collection[str], makers: dict[str, Collection[str]]
                ) -> list[str]:
    """The arms whose items were written or refined by the judge's own model: any name
    in common (`identity`); a judge grading its own work favours it."""
    return [arm for arm, model in makers.items() if set(model) & set(judge_model)]


def identity(run: dict[str, Any]) -> set[str]:
    """What tells a model apart as a run recorded it: its name (a served copy of a local
    model has it too), and its file's sha256 or, served, its name and address."""
    if not run:
        return set()
    exact = run.get("model_sha256") or f"{run.get('model')} at {run.get('model_path')}"
    return {run.get("model") or exact, exact}


def _saved(store: Store, plan: Plan, runs: dict[str, dict[str, int | None]]
           ) -> dict[str, dict[str, int | None]]:
    with store.transaction():
        store.update("comparisons", "id", plan.comparison, {"runs": to_json(runs)})
    return runs


def arm_items(store: Store, arm: str, runs: dict[str, int | None]) -> list[judge.Item]:
    """The arm's items that parsed: its drafts, or (bare) the refinements of its run."""
    if arm == "bare":
        rows = store.query("SELECT candidate_id AS id, fields FROM refinements WHERE"
                           " run_id = ? AND fields IS NOT NULL ORDER BY id",
                           (runs.get("refine"),))
        return [judge.Item(row["id"], "refined", from_json(row["fields"])) for row in rows]
    rows = store.query("SELECT id, fields FROM candidates WHERE run_id = ? AND fields IS NOT"
                       " NULL ORDER BY id", (runs.get("draft"),))
    return [judge.Item(row["id"], "draft", from_json(row["fields"])) for row in rows]


def save(store: Store, comparison: int, data: dict[str, Any], markdown: str) -> None:
    with store.transaction():
        store.update("comparisons", "id", comparison, {
            "report": json.dumps(data), "report_md": markdown, "finished_at": now()})


def latest(store: Store, task: str) -> tuple[dict[str, Any], str] | None:
    """The newest saved report of a task: (data, Markdown)."""
    rows = store.query("SELECT report, report_md FROM comparisons WHERE task = ? AND report"
                       " IS NOT NULL ORDER BY id DESC LIMIT 1", (task,))
    return (json.loads(rows[0]["report"]), rows[0]["report_md"]) if rows else None
