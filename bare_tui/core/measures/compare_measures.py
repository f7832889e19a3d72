"""A comparison's numbers (core/measures/compare.py), each with how sure it is.

Per arm: yield, verified share (Wilson interval), mean pairwise similarity (bootstrap
interval), IR (Wilson), speed. Between arms: the base-instruct and BARE-instruct
similarity differences (bootstrap), BARE vs instruct IR (Newcombe), and base vs BARE IR
in paired lineups (McNemar). About the judge: its protocol, model and pool, whether it
judged its own work, its IR on real items (calibration) and the places it names.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np

from bare_tui.core.inputs.recipes import Recipe
from bare_tui.core.measures import curation, diversity, embeddings, intervals, judge
from bare_tui.core.measures.compare import ARMS, arm_items, identity, self_judged
from bare_tui.core.measures.intervals import Estimate
from bare_tui.core.workspace.store import Store
from bare_tui.core.workspace.values import from_json, now


def _run(store: Store, run_id: int | None) -> dict[str, Any]:
    rows = store.query("SELECT * FROM runs WHERE id = ?", (run_id,)) if run_id else []
    return rows[0] if rows else {}


def _estimate(value: Estimate | None) -> dict[str, float] | None:
    return dataclasses.asdict(value) if value else None


def _arm(store: Store, name: str, task: Recipe, runs: dict[str, int | None],
         model: embeddings.Model, seed: int
         ) -> tuple[dict[str, Any], np.ndarray, diversity.Diversity | None]:
    stage = "refine" if name == "bare" else "draft"
    run = _run(store, runs.get(stage))
    table = "refinements" if name == "bare" else "candidates"
    made, parsed, passing, verified = store.conn.execute(
        f"SELECT count(*), count(fields), coalesce(sum(valid), 0),"
        f" coalesce(sum(verified = 1 AND fields IS NOT NULL), 0) FROM {table}"
        " WHERE run_id = ?", (run.get("id"),)).fetchone()
    drifted = store.scalar("SELECT coalesce(sum(drifted = 1), 0) FROM refinements WHERE"
                           " run_id = ?", (run.get("id"),)) if name == "bare" else None
    items = arm_items(store, name, runs)
    kind = "refined" if name == "bare" else "draft"
    _, matrix = embeddings.vectors(store, task, kind, model, [i.candidate_id for i in items])
    spread = diversity.diversity(matrix) if len(matrix) >= 2 else None
    seconds = (run.get("finished_at") or now()) - run["started_at"] if run else 0.0
    tokens = run.get("completion_tokens") or 0
    params = (from_json(run["params"]) or {}) if run else {}
    rate = judge.rate(store, task.name, run_id=runs.get("judge")) \
        if runs.get("judge") else judge.Rate(0, 0)
    low_high = rate.interval
    return {
        "arm": name, "model": run.get("model") or "-",
        "model_sha256": run.get("model_sha256") or "-",
        "temperature": params.get("sampling", {}).get("temperature"),
        "constrained": params.get("constrained"),
        "made": made, "parsed": parsed, "passing": int(passing),
        "verified": int(verified),
        "verified_interval": list(judge.wilson(int(verified), parsed)) if parsed else None,
        "similarity": spread.mean_similarity if spread else None,
        "similarity_interval": _estimate(intervals.similarity(matrix, seed=seed))
        if spread else None,
        "ir": rate.value, "ir_interval": list(low_high) if low_high else None,
        "ir_trials": rate.trials, "ir_unread": rate.unread, "ir_read": rate.read,
        "ir_passed": rate.not_detected,
        "tokens_per_s": tokens / seconds if seconds > 0 else None,
        "wall_s": seconds, "drifted": drifted,
    }, matrix, spread


def _paired(store: Store, base_run: int | None, bare_run: int | None
            ) -> intervals.McNemar | None:
    """Base vs BARE verdicts on the same candidate, trial, lineup and place, both read."""
    if not base_run or not bare_run:
        return None
    rows = store.conn.execute(
        "SELECT a.detected, b.detected FROM judgments a JOIN judgments b"
        " ON a.candidate_id = b.candidate_id AND a.trial = b.trial AND a.lineup = b.lineup"
        " AND a.position = b.position WHERE a.run_id = ? AND b.run_id = ?"
        " AND a.picked IS NOT NULL AND b.picked IS NOT NULL", (base_run, bare_run)).fetchall()
    if not rows:
        return None
    return intervals.mcnemar([not a for a, _ in rows], [not b for _, b in rows])


def _judge(store: Store, runs: dict[str, dict[str, int | None]]) -> dict[str, Any]:
    """The judge: protocol, model, pool, calibration and the places it named."""
    judge_runs = [r["judge"] for r in runs.values() if r.get("judge")]
    run = _run(store, judge_runs[0]) if judge_runs else {}
    params = (from_json(run["params"]) or {}) if run else {}
    def maker(arm: str, stage: str) -> set[str]:
        return identity(_run(store, runs.get(arm, {}).get(stage)))

    # the bare arm: the base model's drafts, refined by the instruct model
    makers = {"base": maker("base", "draft"), "instruct": maker("instruct", "draft"),
              "bare": maker("base", "draft") | maker("bare", "refine")}
    picked = [row[0] for row in store.conn.execute(
        "SELECT picked FROM judgments WHERE run_id IN (SELECT value FROM json_each(?))"
        " AND picked IS NOT NULL", (json.dumps(judge_runs),))]
    places = intervals.positions(picked, judge.K)
    calibration = runs.get("calibration", {}).get("judge")
    rate = judge.rate(store, "", run_id=calibration) if calibration else None
    return {
        "protocol": params.get("protocol", "strict"), "model": run.get("model") or "-",
        "model_sha256": run.get("model_sha256") or "-", "pool": params.get("pool"),
        "self_judged": self_judged(identity(run), makers),
        "positions": list(places.counts), "positions_p": places.p_value,
        "positions_uneven": places.uneven,
        "calibration": None if rate is None else {
            "trials": rate.trials, "read": rate.read, "ir": rate.value,
            "interval": list(rate.interval) if rate.interval else None},
    }


def report(store: Store, task: Recipe, comparison: int, model: embeddings.Model = None
           ) -> dict[str, Any]:
    """The comparison as data: parameters, per arm the yield, verified share, diversity,
    IR and speed with their intervals, the differences between arms, and the judge."""
    row = store.query("SELECT * FROM comparisons WHERE id = ?", (comparison,))[0]
    tasks, runs = from_json(row["tasks"]), from_json(row["runs"]) or {}
    params = from_json(row["params"]) or {}
    seed = int(params.get("rng_seed") or 0)
    # The instruct arm's task has a copy of the seeds, embedded with the arm's items.
    seeds = curation.set_vectors(store, dataclasses.replace(task, name=tasks["instruct"]),
                                 "seeds", model)
    arms, matrices, histograms = {}, {}, {}
    for name in ARMS:
        arms[name], matrices[name], spread = _arm(store, name, dataclasses.replace(
            task, name=tasks[name]), runs.get(name, {}), model, seed)
        if spread:
            histograms[name] = {"counts": spread.counts.tolist(),
                                "edges": spread.edges.tolist()}
    data: dict[str, Any] = {
        "comparison": comparison, "task": task.name, "recipe_sha256": task.sha256,
        "n": row["n"], "params": params, "created_at": row["created_at"],
        "embedding_model": embeddings.model_name(model),
        "seeds_similarity": diversity.mean_pairwise_cosine(seeds) if len(seeds) >= 2 else None,
        "chance": judge.CHANCE, "arms": list(arms.values()),
        "histograms": histograms,
        "judge": _judge(store, runs),
        "differences": {},
    }
    for first in ("base", "bare"):
        if len(matrices[first]) >= 2 and len(matrices["instruct"]) >= 2:
            gap = intervals.difference(matrices[first], matrices["instruct"], seed=seed)
            data["differences"][f"{first}-instruct similarity"] = {
                **dataclasses.asdict(gap),
                "items_to_separate": intervals.items_to_separate(gap, row["n"])}
    bare, instruct = arms["bare"], arms["instruct"]
    if bare["ir_read"] and instruct["ir_read"]:
        gap = intervals.proportion_difference(bare["ir_passed"], bare["ir_read"],
                                              instruct["ir_passed"], instruct["ir_read"])
        data["differences"]["bare-instruct IR"] = {
            **dataclasses.asdict(gap),
            "items_to_separate": intervals.items_to_separate(gap, row["n"])}
    paired = _paired(store, runs.get("base", {}).get("judge"), runs.get("bare", {}).get("judge"))
    if paired:
        data["differences"]["base-bare IR paired"] = {
            **dataclasses.asdict(paired), "p_value": paired.p_value}
    return data
