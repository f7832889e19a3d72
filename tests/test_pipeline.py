import threading

import pytest

from bare_tui.core.generation import pipeline
from bare_tui.core.inputs import prompts
from bare_tui.core.inputs.seeds import import_seeds
from bare_tui.core.workspace.values import from_json
from bare_tui.errors import BareError
from conftest import BAD_DRAFT, GOOD_DRAFT, GSM8K_SEEDS, ScriptedBackend


def test_draft_stores_every_sample_with_its_seed_shots_and_checks(store, gsm8k):
    import_seeds(store, gsm8k, GSM8K_SEEDS)
    backend = ScriptedBackend([GOOD_DRAFT, BAD_DRAFT, "garbage"])
    result = pipeline.draft(store, gsm8k, backend, 3, rng_seed=7)
    assert (result.produced, result.status) == (3, "done")
    rows = store.query("SELECT * FROM candidates ORDER BY id")
    assert [r["valid"] for r in rows] == [1, 0, 0]
    assert rows[2]["parse_error"] == "no 'Question:' label found"
    assert from_json(rows[0]["fields"])["answer"] == "2 + 3 = 5\n#### 5"
    seeds = [r["seed"] for r in rows]
    assert len(set(seeds)) == 3 and seeds == [seed for _, seed in backend.calls]
    first_ids = [s["id"] for s in store.seeds("gsm8k")[:3]]
    assert all(from_json(r["shot_ids"]) == first_ids for r in rows)  # static: first k
    assert backend.calls[0][0] == prompts.base_prompt(
        gsm8k, [s["fields"] for s in store.seeds("gsm8k")[:3]])
    run = store.query("SELECT * FROM runs")[0]
    assert (run["kind"], run["status"], run["produced"], run["parse_failures"]) == (
        "draft", "done", 3, 1)
    assert run["rng_seed"] == 7 and run["model_sha256"] == "0" * 64
    assert from_json(run["params"])["sampling"]["temperature"] == 0.7


def test_draft_continues_to_target_and_never_repeats(store, gsm8k):
    import_seeds(store, gsm8k, GSM8K_SEEDS)
    stop = threading.Event()
    backend = ScriptedBackend([GOOD_DRAFT])
    result = pipeline.draft(store, gsm8k, backend, 5,
                            on_sample=lambda s: s.done == 2 and stop.set(), stop=stop)
    assert (result.produced, result.status) == (2, "cancelled")
    assert pipeline.draft(store, gsm8k, backend, 5).produced == 3
    assert pipeline.count_candidates(store, gsm8k) == 5
    assert pipeline.draft(store, gsm8k, backend, 5).status == "nothing to do"
    statuses = [r["status"] for r in store.query("SELECT status FROM runs ORDER BY id")]
    assert statuses == ["cancelled", "done"]


def test_random_shots_are_drawn_per_call_and_recorded(store, tmp_path):
    from bare_tui.core.inputs import recipes
    from conftest import REVIEW_SEEDS

    reviews = recipes.resolve(store, "reviews")
    import_seeds(store, reviews, REVIEW_SEEDS)
    pipeline.draft(store, reviews, ScriptedBackend(["Review:\nok\nSentiment:\nmixed"]), 6)
    shot_sets = [tuple(from_json(r["shot_ids"]))
                 for r in store.query("SELECT shot_ids FROM candidates")]
    assert all(len(s) == 4 and len(set(s)) == 4 for s in shot_sets)
    assert len(set(shot_sets)) > 1


def test_refine_uses_the_drafts_own_shots_and_skips_refined(drafted, gsm8k):
    rows = drafted.query("SELECT * FROM refinements ORDER BY id")
    assert len(rows) == 3 and [r["valid"] for r in rows] == [1, 0, 1]
    assert rows[1]["parse_error"] == "no 'Question:' label found"
    backend = ScriptedBackend([GOOD_DRAFT])
    assert pipeline.refine(drafted, gsm8k, backend).status == "nothing to do"
    pipeline.draft(drafted, gsm8k, ScriptedBackend([BAD_DRAFT]), 4)
    pipeline.refine(drafted, gsm8k, backend)
    [(messages, _seed)] = backend.calls
    content = messages[0]["content"]
    shot = drafted.seeds("gsm8k")[0]["fields"]["question"]
    assert shot in content and "Ben has apples." in content


def test_no_seeds_is_a_clear_error(store, gsm8k):
    with pytest.raises(BareError, match="has no seeds: import some"):
        pipeline.draft(store, gsm8k, ScriptedBackend([GOOD_DRAFT]), 1)


def test_backend_failure_marks_run_failed_and_keeps_committed(store, gsm8k):
    import_seeds(store, gsm8k, GSM8K_SEEDS)

    class Failing(ScriptedBackend):
        def complete(self, prompt, sampling, seed):
            if len(self.calls) == 2:
                raise RuntimeError("device lost")
            return super().complete(prompt, sampling, seed)

    with pytest.raises(RuntimeError):
        pipeline.draft(store, gsm8k, Failing([GOOD_DRAFT]), 5)
    assert pipeline.count_candidates(store, gsm8k) == 2
    run = store.query("SELECT status, error, produced FROM runs")[0]
    assert run == {"status": "failed", "error": "device lost", "produced": 2}


def _seeds_of(store, table="candidates"):
    return [r["seed"] for r in store.query(f"SELECT seed FROM {table} ORDER BY id")]


def test_reruns_with_one_master_seed_continue_the_stream(tmp_path):
    """Two runs with the same --rng-seed, to N then to 2N, give 2N distinct per-sample
    seeds, the same as one run to 2N: a task is reproducible from one seed."""
    from bare_tui.core.inputs import recipes
    from bare_tui.core.workspace.store import Store

    def workspace(name):
        store = Store(tmp_path / name)
        task = recipes.resolve(store, "gsm8k")
        import_seeds(store, task, GSM8K_SEEDS)
        return store, task

    resumed, task = workspace("resumed.db")
    pipeline.draft(resumed, task, ScriptedBackend([GOOD_DRAFT]), 4, rng_seed=5)
    pipeline.draft(resumed, task, ScriptedBackend([GOOD_DRAFT]), 8, rng_seed=5)
    at_once, _ = workspace("at_once.db")
    pipeline.draft(at_once, task, ScriptedBackend([GOOD_DRAFT]), 8, rng_seed=5)
    seeds = _seeds_of(resumed)
    assert len(set(seeds)) == 8 and seeds == _seeds_of(at_once)
    assert [r["sample_index"] for r in resumed.query(
        "SELECT sample_index FROM candidates ORDER BY id")] == list(range(8))
    other, _ = workspace("other.db")
    pipeline.draft(other, task, ScriptedBackend([GOOD_DRAFT]), 8, rng_seed=6)
    assert not set(_seeds_of(other)) & set(seeds)
    # Refinements: one seed per candidate from the master seed, reproducible as well.
    for store in (resumed, at_once):
        pipeline.refine(store, task, ScriptedBackend([GOOD_DRAFT]), limit=3, rng_seed=9)
        pipeline.refine(store, task, ScriptedBackend([GOOD_DRAFT]), rng_seed=9)
    refined = _seeds_of(resumed, "refinements")
    assert len(set(refined)) == 8 and refined == _seeds_of(at_once, "refinements")
    for store in (resumed, at_once, other):
        store.close()


def test_unparsed_drafts_are_not_refined_unless_asked(store, gsm8k):
    import_seeds(store, gsm8k, GSM8K_SEEDS)
    pipeline.draft(store, gsm8k, ScriptedBackend([GOOD_DRAFT, "no labels at all", GOOD_DRAFT]),
                   3)
    backend = ScriptedBackend([GOOD_DRAFT])
    result = pipeline.refine(store, gsm8k, backend)
    assert result.produced == 2 and pipeline.unparsed_unrefined(store, gsm8k) == 1
    assert all("no labels at all" not in str(messages) for messages, _ in backend.calls)
    result = pipeline.refine(store, gsm8k, backend, include_unparsed=True)
    assert result.produced == 1 and pipeline.unparsed_unrefined(store, gsm8k) == 0
    assert "no labels at all" in str(backend.calls[-1][0])
    rows = store.query("SELECT candidate_id, from_raw FROM refinements ORDER BY candidate_id")
    assert [(r["candidate_id"], r["from_raw"]) for r in rows] == [(1, 0), (2, 1), (3, 0)]
    params = [from_json(r["params"]) for r in store.query(
        "SELECT params FROM runs WHERE kind = 'refine' ORDER BY id")]
    assert [p["refine_unparsed"] for p in params] == [False, True]
