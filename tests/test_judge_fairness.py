"""A fair IR judge: the paper's protocol, a pool of real items without the task's shots,
a draft and its refinement in the same lineup, calibration on real items, and a warning
when the judge grades its own work."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from test_compare import _compare
from test_judge import Picky

from bare_tui.core.inputs.seeds import import_seeds
from bare_tui.core.measures import compare, compare_measures, judge, judge_pool, judge_protocols
from bare_tui.errors import BareError
from conftest import GSM8K_SEEDS, ROOT, ScriptedBackend

TRAIN = ROOT / "bare_tui" / "evalsets" / "gsm8k_train.jsonl"
LINEUP = [{"question": f"Q{i}?", "answer": f"#### {i}"} for i in range(1, 5)]


def test_the_paper_protocol_asks_as_the_reference_does(gsm8k):
    paper = judge_protocols.PROTOCOLS["paper"]
    system, user = paper.messages(gsm8k, LINEUP)
    assert system["role"] == "system" and user["role"] == "user"
    assert system["content"].startswith(
        "You are an expert at evaluating grade school math word problems.\n\nYou will be "
        "shown 4 examples. Each example is a grade school math word problem. All but one of "
        "them is generated from a high quality AI while one of them is of low quality.")
    for criterion in ("1. Differing natural language patterns and flow",
                      "2. Differing question structure, clarity, and difficulty",
                      "3. Context and specificity",
                      "4. Any subtle artifacts or unnatural patterns"):
        assert criterion in system["content"]
    assert system["content"].endswith(
        "Analyze each example carefully and explain your reasoning. End with 'Answer: "
        "[Example Number]' where Example Number is 1, 2, ..., 4.")
    assert user["content"].startswith("Here are 4 examples. One of them is of low quality. "
                                      "Please identify which one:\n\nExample 1:\nQuestion:\nQ1?")
    assert "Example 4:\nQuestion:\nQ4?\nAnswer:\n#### 4" in user["content"]
    # The reference samples at its API's default temperature with 1,000 tokens.
    assert (paper.sampling.temperature, paper.sampling.max_tokens) == (1.0, 1000)
    strict = judge_protocols.PROTOCOLS["strict"]
    assert (strict.sampling.temperature, strict.sampling.max_tokens) == (0.0, 256)
    assert "written by people" in strict.messages(gsm8k, LINEUP)[0]["content"]
    assert judge_protocols.DEFAULT == "paper"


@pytest.mark.parametrize(("reply", "answer"), [
    # Replies in the shape the reference's prompt asks for ("End with 'Answer: [Question
    # Number]'"), as its parser reads them: the last line holding "answer:".
    ("Example 1 flows naturally. Example 3 has an awkward, repetitive question and its "
     "arithmetic does not follow.\n\nAnswer: 3", 3),
    ("Analysis:\n1. Clear.\n2. Clear.\n3. Clear.\n4. The answer: 12 is wrong.\nAnswer: [4]",
     4),
    ("Question 2 is the odd one out.\nAnswer: Question 2", 2),
    ("**Answer: 1**", 1),
    ("Answer: 3\nOn reflection, example 1 is weaker.\nAnswer: 1", 1),
    ("All four look like they come from a high quality AI.", None),
    ("Answer: 5", None),
])
def test_the_paper_protocols_replies_are_read(reply, answer):
    assert judge_protocols.parse_answer(reply) == answer


def _pool_file(tmp_path: Path, seeds: int, others: int) -> Path:
    """The task's first seeds (possible shots) and other items of the train split."""
    seed_lines = GSM8K_SEEDS.read_text().splitlines()[:seeds]
    train = [line for line in TRAIN.read_text().splitlines() if line not in seed_lines]
    path = tmp_path / "pool.jsonl"
    path.write_text("\n".join(seed_lines + train[-others:]) + "\n")
    return path


def test_a_pool_file_leaves_out_every_item_equal_to_a_seed(drafted, gsm8k, tmp_path):
    pool = judge_pool.load(drafted, gsm8k, str(_pool_file(tmp_path, 10, 6)))
    assert len(pool.items) == 16 and len(pool.left_out) == 10
    assert pool.describe().endswith("(6 real items, 10 equal to the task's seeds left out)")
    items = judge.to_judge(drafted, gsm8k)
    judge.judge(drafted, gsm8k, Picky("Answer: 1"), items, trials=8, rng_seed=5, pool=pool)
    seeds = {s["id"] for s in drafted.seeds("gsm8k")}
    shown = {ref for (lineup,) in drafted.conn.execute("SELECT lineup FROM judgments")
             for ref in json.loads(lineup) if ref is not None}
    assert shown and shown <= set(pool.drawable()) and not shown & pool.left_out
    assert not shown & seeds  # pool rows are rows of a pool task, not the seeds
    run = drafted.query("SELECT params FROM runs WHERE kind = 'judge'")[0]
    assert json.loads(run["params"])["protocol"] == "paper"
    assert {row[0] for row in drafted.conn.execute("SELECT protocol FROM judgments")} == {"paper"}


def test_the_task_seeds_as_pool_leave_out_each_items_shots(drafted, gsm8k):
    own = dataclasses.replace(gsm8k, judge_pool="")
    shots = {ref for (ids,) in drafted.conn.execute("SELECT shot_ids FROM candidates")
             for ref in json.loads(ids)}
    assert shots == {1, 2, 3}  # the recipe's static shots
    judge.judge(drafted, own, Picky("Answer: 2"), judge.to_judge(drafted, own), trials=30,
                rng_seed=8)
    shown = {ref for (lineup,) in drafted.conn.execute("SELECT lineup FROM judgments")
             for ref in json.loads(lineup) if ref is not None}
    assert len(shown) > 20 and not shown & shots


def test_the_builtin_recipe_judges_against_the_whole_train_split(store, gsm8k):
    import_seeds(store, gsm8k, GSM8K_SEEDS)
    pool = judge_pool.load(store, gsm8k)
    assert gsm8k.judge_pool == "gsm8k-train" and len(pool.items) == 7473
    assert len(pool.left_out) == 200  # the seed sample is the split's first 200
    assert pool.describe() == ("gsm8k-train (7,273 real items, 200 equal to the task's "
                               "seeds left out)")
    again = judge_pool.load(store, gsm8k)  # kept in the workspace: loaded once
    assert again.items == pool.items
    with pytest.raises(BareError, match="no evaluation set 'nope.jsonl'"):
        judge_pool.load(store, gsm8k, "nope.jsonl")


def test_a_draft_and_its_refinement_stand_in_the_same_lineup(store, gsm8k):
    import_seeds(store, gsm8k, GSM8K_SEEDS)
    plan, runs, _ = _compare(store, gsm8k, trials=2)
    rows = {}
    for version, run in (("draft", runs["base"]["judge"]), ("refined", runs["bare"]["judge"])):
        rows[version] = {(r["candidate_id"], r["trial"]): (r["lineup"], r["position"], r["seed"])
                         for r in store.query("SELECT * FROM judgments WHERE run_id = ?",
                                              (run,))}
    # Every refinement that parsed is judged where its draft was, trial by trial.
    assert len(rows["draft"]) == 6 and rows["refined"]
    assert all(rows["draft"][key] == same for key, same in rows["refined"].items())
    data = compare_measures.report(store, gsm8k, plan.comparison)
    paired = data["differences"]["base-bare IR paired"]
    read = store.scalar("SELECT count(*) FROM judgments WHERE run_id = ? AND picked IS NOT"
                        " NULL", (runs["bare"]["judge"],))
    assert paired["pairs"] == read > 0


def test_calibration_judges_real_items_among_real_ones(store, gsm8k):
    import_seeds(store, gsm8k, GSM8K_SEEDS)
    result = judge.calibrate(store, gsm8k, Picky("Answer: 1"), 12, rng_seed=4)
    assert result.produced == 12
    rows = store.query("SELECT * FROM judgments WHERE run_id = ?", (result.run_id,))
    held_out = {row["real_id"] for row in rows}
    assert len(held_out) == 12 and all(row["candidate_id"] is None for row in rows)
    assert all(row["version"] == "real" for row in rows)
    pool = judge_pool.load(store, gsm8k)
    for row in rows:
        others = [ref for ref in json.loads(row["lineup"]) if ref is not None]
        assert len(others) == 3 and not set(others) & held_out
        assert set(others) <= set(pool.drawable())
    rate = judge.rate(store, "gsm8k", run_id=result.run_id)
    assert rate.trials == 12 and rate.not_detected == sum(r["position"] != 1 for r in rows)
    with pytest.raises(BareError, match="calibrating on 7300 real items needs 7303"):
        judge.calibrate(store, gsm8k, Picky("Answer: 1"), 7300)


def test_a_comparison_judged_by_its_own_instruct_model_says_self_judged(store, gsm8k):
    import_seeds(store, gsm8k, GSM8K_SEEDS)
    plan, _, _ = _compare(store, gsm8k, calibrate=8)  # the scripted instruct model judges
    data = compare_measures.report(store, gsm8k, plan.comparison)
    assert data["judge"]["self_judged"] == ["base", "instruct", "bare"]
    assert data["judge"]["calibration"]["trials"] == 8
    assert sum(data["judge"]["positions"]) > 0
    # A judge of its own, loaded apart, is not.
    plan, _, _ = _compare(store, gsm8k, judge_backend=lambda: Picky("Answer: 3"))
    data = compare_measures.report(store, gsm8k, plan.comparison)
    assert data["judge"]["self_judged"] == [] and data["judge"]["model"] == "picky"


def test_compare_warns_before_it_runs_when_the_judge_wrote_an_arm():
    from argparse import Namespace

    from bare_tui.cli.quality import warn_self_judged
    from bare_tui.config import Settings
    from bare_tui.core.measures.compare import self_judged

    assert self_judged({"m1"}, {"base": {"m0"}, "instruct": {"m1"}, "bare": {"m0", "m1"}}) == [
        "instruct", "bare"]

    class Out:
        def __init__(self):
            self.said = []

        def print(self, text, **_):
            self.said.append(text)

    served = Settings(base="base-7b", instruct="chat-7b", server="http://127.0.0.1:9")
    out = Out()
    warn_self_judged(out, served, Namespace(judge=None, judge_server=None))
    assert out.said == [
        "warning: the judge is the model that writes the instruct and bare arm(s); it grades "
        "its own work, and the report will say \"self-judged\". Name a separate judge with "
        "--judge FILE.gguf or --judge-server URL --judge NAME."]
    out = Out()
    warn_self_judged(out, served, Namespace(judge="judge-70b", judge_server=None))
    assert out.said == []
    # The same model on another engine is still the same model (by its name).
    warn_self_judged(out, served, Namespace(judge=None, judge_server="http://127.0.0.1:10"))
    assert len(out.said) == 1
    # The base model as the judge wrote the drafts the bare arm refined.
    out = Out()
    warn_self_judged(out, served, Namespace(judge="base-7b", judge_server=None))
    assert "writes the base and bare arm(s)" in out.said[0]


def test_the_scripted_arms_record_which_arms_took_a_grammar(store, gsm8k):
    """The report's grammar column reads what each run recorded."""
    import_seeds(store, gsm8k, GSM8K_SEEDS)
    plan, _, _ = _compare(store, gsm8k)
    data = compare_measures.report(store, gsm8k, plan.comparison)
    assert [arm["constrained"] for arm in data["arms"]] == [False, False, False]
    assert isinstance(ScriptedBackend([]).describe()["model"], str)
    assert compare.CONSTRAIN == ("none", "refine", "all")


def test_a_served_embedding_model_measures_diversity_like_the_local_one(store, gsm8k):
    """An OpenAI-compatible /v1/embeddings on loopback, serving the real MiniLM model:
    the served embedder's vectors are the local model's, stored under its own name."""
    import numpy as np
    from fake_server import FakeServer, Request, json_reply

    from bare_tui.core.measures import embeddings

    local = embeddings.load_model(None)

    def answer(request: Request):
        body = json.loads(request.body)
        vectors = local.encode(body["input"], convert_to_numpy=True)
        return json_reply({"object": "list", "model": body["model"], "data": [
            {"object": "embedding", "index": i, "embedding": [float(x) for x in v]}
            for i, v in reversed(list(enumerate(vectors)))]})  # out of order: read by index

    fake = FakeServer(answer)
    try:
        import_seeds(store, gsm8k, GSM8K_SEEDS)
        name = embeddings.served(fake.url, "all-MiniLM-L6-v2")
        assert embeddings.model_name(name) == f"all-MiniLM-L6-v2 at {fake.url}"
        assert embeddings.embed(store, gsm8k, name) == 200
        ids, served_vectors = embeddings.vectors(store, gsm8k, "seed", name)
        assert embeddings.embed(store, gsm8k) == 200
        same_ids, local_vectors = embeddings.vectors(store, gsm8k, "seed")
        assert ids == same_ids and len(ids) == 200
        assert np.allclose(served_vectors, local_vectors, atol=1e-5)
        asked = json.loads(fake.posts()[0].body)
        assert fake.posts()[0].path == "/v1/embeddings" and asked["model"] == "all-MiniLM-L6-v2"
    finally:
        fake.close()
    broken = FakeServer(lambda request: json_reply({"data": [{"embedding": "nope"}]}))
    try:
        with pytest.raises(BareError, match="answered 1 embeddings for 2 texts"):
            embeddings.load_model(embeddings.served(broken.url, "m")).encode(["a", "b"])
    finally:
        broken.close()
