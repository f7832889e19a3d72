"""`compare`: the BARE paper's two claims, side by side on the curator's own seeds.

Three arms make the same number of items from the same seeds, with the same shot
choices and per-sample seeds where the arms allow (one random stream, named after the
comparison):
- base: the base model's few-shot drafts;
- instruct: the instruct model asked in a chat for one new item like the examples, at a
  high temperature (the paper's instruct-only baseline);
- bare: the base arm's drafts, each refined once by the instruct model.

Arm items live in tasks of their own (`gsm8k~compare3`, `gsm8k~compare3-instruct`), so
the task's review queue and exports never see them; with `into_queue` the base and
BARE arms are made in the task itself. Each arm is then judged (core/measures/judge.py), and the
report gives per arm the yield, the diversity (mean pairwise cosine, exact), IR with its
interval, tokens/s and wall time.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bare_tui.core.generation import pipeline
from bare_tui.core.generation.backends import Backend
from bare_tui.core.inputs.drift import Embed
from bare_tui.core.inputs.recipes import Recipe, Sampling
from bare_tui.core.measures import curation, diversity, embeddings, judge
from bare_tui.core.workspace.store import Store, from_json, now, to_json

ARMS = ("base", "instruct", "bare")
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
             base: Sampling, instruct: Sampling, refine: Sampling, judge_sampling: Sampling,
             trials: int, judge_backend: Callable[[], Backend] | None = None,
             embed: Embed | None = None, on_stage: OnStage | None = None,
             on_sample: pipeline.OnSample | None = None,
             stop: threading.Event | None = None) -> dict[str, dict[str, int | None]]:
    """Make and judge every arm (the judge is the instruct model unless `judge_backend`
    loads another; `embed` measures the bare arm's drift, core/inputs/drift.py);
    {arm: {"draft"|"refine"|"judge": run id}}."""
    stop = stop or threading.Event()
    tasks = {arm: _arm_task(store, task, name) for arm, name in plan.tasks.items()}
    drafts = tasks["base"]
    target = n + (pipeline.count_candidates(store, drafts) if drafts.name == task.name else 0)
    runs: dict[str, dict[str, int | None]] = {arm: {} for arm in ARMS}

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
            sampling=judge_sampling, on_sample=on_sample, stop=stop).run_id
    return _saved(store, plan, runs)


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


# --- the report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Arm:
    name: str
    model: str
    model_sha256: str
    temperature: float | None
    made: int  # items the arm set out to make (bare: the base arm's parsed drafts)
    parsed: int
    passing: int
    similarity: float | None  # mean pairwise cosine of the parsed items, exact
    histogram: diversity.Diversity | None
    ir: judge.Rate
    tokens_per_s: float | None
    wall_s: float
    drifted: int | None = None  # bare: refinements that drifted from their draft




def _run(store: Store, run_id: int | None) -> dict[str, Any]:
    rows = store.query("SELECT * FROM runs WHERE id = ?", (run_id,)) if run_id else []
    return rows[0] if rows else {}


def _arm(store: Store, name: str, task: Recipe, runs: dict[str, int | None],
         model: str | None) -> Arm:
    stage = "refine" if name == "bare" else "draft"
    run = _run(store, runs.get(stage))
    table = "refinements" if name == "bare" else "candidates"
    made, parsed, passing = store.conn.execute(
        f"SELECT count(*), count(fields), coalesce(sum(valid), 0) FROM {table}"
        " WHERE run_id = ?", (run.get("id"),)).fetchone()
    drifted = store.scalar("SELECT coalesce(sum(drifted = 1), 0) FROM refinements WHERE"
                           " run_id = ?", (run.get("id"),)) if name == "bare" else None
    items = arm_items(store, name, runs)
    kind = "refined" if name == "bare" else "draft"
    _, matrix = embeddings.vectors(store, task, kind, model, [i.candidate_id for i in items])
    spread = diversity.diversity(matrix) if len(matrix) >= 2 else None
    seconds = (run.get("finished_at") or now()) - run["started_at"] if run else 0.0
    tokens = run.get("completion_tokens") or 0
    return Arm(name, run.get("model") or "-", run.get("model_sha256") or "-",
               (from_json(run["params"]) or {}).get("sampling", {}).get("temperature")
               if run else None,
               made, parsed, int(passing),
               spread.mean_similarity if spread else None, spread,
               judge.rate(store, task.name, run_id=runs.get("judge"))
               if runs.get("judge") else judge.Rate(0, 0),
               tokens / seconds if seconds > 0 else None, seconds, drifted)


def report(store: Store, task: Recipe, comparison: int, model: str | None = None
           ) -> dict[str, Any]:
    """The comparison as data: parameters, and per arm the yield, diversity, IR, speed."""
    row = store.query("SELECT * FROM comparisons WHERE id = ?", (comparison,))[0]
    tasks, runs = from_json(row["tasks"]), from_json(row["runs"]) or {}
    # The instruct arm's task has a copy of the seeds, embedded with the arm's items.
    seeds = curation.set_vectors(store, dataclasses.replace(task, name=tasks["instruct"]),
                                 "seeds", model)
    arms = [_arm(store, name, dataclasses.replace(task, name=tasks[name]), runs.get(name, {}),
                 model) for name in ARMS]
    return {
        "comparison": comparison, "task": task.name, "recipe_sha256": task.sha256,
        "n": row["n"], "params": from_json(row["params"]), "created_at": row["created_at"],
        "embedding_model": embeddings.model_name(model),
        "seeds_similarity": diversity.mean_pairwise_cosine(seeds) if len(seeds) >= 2 else None,
        "chance": judge.CHANCE,
        "arms": [_arm_dict(arm) for arm in arms],
        "histograms": {arm.name: {"counts": arm.histogram.counts.tolist(),
                                  "edges": arm.histogram.edges.tolist()}
                       for arm in arms if arm.histogram},
    }


def _arm_dict(arm: Arm) -> dict[str, Any]:
    low_high = arm.ir.interval
    return {"arm": arm.name, "model": arm.model, "model_sha256": arm.model_sha256,
            "temperature": arm.temperature, "made": arm.made, "parsed": arm.parsed,
            "passing": arm.passing, "similarity": arm.similarity,
            "ir": arm.ir.value, "ir_interval": list(low_high) if low_high else None,
            "ir_trials": arm.ir.trials, "ir_unread": arm.ir.unread,
            "tokens_per_s": arm.tokens_per_s,
            "wall_s": arm.wall_s, "drifted": arm.drifted}


def save(store: Store, comparison: int, data: dict[str, Any], markdown: str) -> None:
    with store.transaction():
        store.update("comparisons", "id", comparison, {
            "report": json.dumps(data), "report_md": markdown, "finished_at": now()})


def latest(store: Store, task: str) -> tuple[dict[str, Any], str] | None:
    """The newest saved report of a task: (data, Markdown)."""
    rows = store.query("SELECT report, report_md FROM comparisons WHERE task = ? AND report"
                       " IS NOT NULL ORDER BY id DESC LIMIT 1", (task,))
    return (json.loads(rows[0]["report"]), rows[0]["report_md"]) if rows else None
