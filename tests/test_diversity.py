"""Diversity: BARE's metric, near-duplicates, dedup, clusters, with the real embedding model."""

import math

import numpy as np
import pytest

from bare_tui.core.generation import pipeline
from bare_tui.core.inputs.seeds import import_seeds
from bare_tui.core.measures import curation, diversity, embeddings
from bare_tui.core.reviewing import bulk, review
from bare_tui.core.reviewing.review import State
from bare_tui.core.workspace.store import Store
from conftest import DRAFTS, GSM8K_SEEDS, ScriptedBackend, run_cli

# --- the metric, on synthetic vectors (pure numerics) -------------------------------------


def normalise(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as the embedding model returns them."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms == 0, 1, norms)).astype(np.float32)


def brute_force_mean(unit: np.ndarray) -> float:
    similarities = unit.astype(np.float64) @ unit.astype(np.float64).T
    n = len(unit)
    return float((similarities.sum() - np.trace(similarities)) / (n * (n - 1)))


def test_metric_matches_brute_force():
    unit = normalise(np.random.default_rng(1).standard_normal((300, 384)))
    assert abs(diversity.mean_pairwise_cosine(unit) - brute_force_mean(unit)) < 1e-6
    small = diversity.diversity(unit)
    assert not small.sampled and small.pairs == 300 * 299 // 2
    assert abs(small.sample_mean - brute_force_mean(unit)) < 1e-6


def test_sampled_histogram_is_within_its_printed_error():
    rng = np.random.default_rng(2)
    centres = rng.standard_normal((5, 64))
    unit = normalise(centres[rng.integers(0, 5, 6000)]
                               + 0.8 * rng.standard_normal((6000, 64)))
    result = diversity.diversity(unit)
    assert result.sampled and result.pairs == diversity.SAMPLE_PAIRS
    exact = brute_force_mean(unit)
    assert abs(result.mean_similarity - exact) < 1e-6
    assert 0 < result.sample_stderr and abs(result.sample_mean - exact) <= 3 * result.sample_stderr


def test_hashed_neighbours_find_planted_twins():
    rng = np.random.default_rng(3)
    unit = normalise(rng.standard_normal((30_000, 64)))
    twins = rng.choice(30_000, 50, replace=False)
    noise = 0.05 * rng.standard_normal((25, 64))
    unit[twins[:25]] = normalise(unit[twins[25:]] + noise)
    best, similarity = diversity.nearest_neighbours(unit)  # past the exact limit: hashing
    found = sum(best[a] == b for a, b in zip(twins[:25], twins[25:], strict=True))
    assert found >= 24 and similarity[twins[:25]].min() > 0.88


def test_auto_cluster_rule():
    assert [diversity.auto_clusters(n) for n in (3, 8, 200, 100_000)] == [1, 2, 10, 50]


# --- with the real embedding model --------------------------------------------------------

@pytest.fixture(scope="module")
def encoder():
    return embeddings.load_model(None)


@pytest.mark.models
def test_near_identical_texts_are_more_similar_than_unrelated(encoder):
    alike = ["Tom has 3 apples and buys 2 more. How many apples does he have?",
             "Tom has 3 apples and then buys 2 more. How many apples does Tom have?",
             "Tom had 3 apples and bought 2 more. How many apples does he have now?"]
    unrelated = ["The train leaves the station at noon.",
                 "Photosynthesis turns light into chemical energy.",
                 "She painted the fence a bright shade of blue."]
    def score(texts):
        return diversity.mean_pairwise_cosine(
            encoder.encode(texts, normalize_embeddings=True).astype(np.float32))

    assert score(alike) > 0.8 > 0.3 > score(unrelated)


SEED_COUNT = 20


def few_seeds(tmp_path):
    path = tmp_path / "seeds.jsonl"
    path.write_text("".join(GSM8K_SEEDS.read_text().splitlines(True)[:SEED_COUNT]))
    return path


@pytest.fixture
def embedded(store, gsm8k, encoder, tmp_path):
    import_seeds(store, gsm8k, few_seeds(tmp_path))
    pipeline.draft(store, gsm8k, ScriptedBackend(DRAFTS), len(DRAFTS), rng_seed=1)
    # Seeds, drafts, and each candidate's final text (its draft here: the vector is reused).
    assert embeddings.embed(store, gsm8k, encoder=encoder) == SEED_COUNT + 2 * len(DRAFTS)
    return store


@pytest.mark.models
def test_embed_is_incremental(embedded, gsm8k, encoder):
    assert embeddings.embed(embedded, gsm8k, encoder=encoder) == 0
    review.decide(embedded, [2], "edit", "ann",
                  fields={"question": "Edited?", "answer": "#### 1"})
    pipeline.refine(embedded, gsm8k, ScriptedBackend([DRAFTS[2]]), limit=1)
    # #2's final text (the edit); #1's refinement, and its final text (that refinement).
    assert embeddings.embed(embedded, gsm8k, encoder=encoder) == 3
    assert embeddings.embed(embedded, gsm8k, encoder=encoder) == 0
    rows = embedded.query("SELECT kind, dim, length(vector) AS size FROM embeddings"
                          " WHERE ref_id = 2 AND kind != 'seed' ORDER BY kind")
    assert rows == [{"kind": "draft", "dim": 384, "size": 384 * 4},
                    {"kind": "final", "dim": 384, "size": 384 * 4}]


@pytest.mark.models
def test_planted_near_duplicate_is_flagged_and_dedup_rejects_exactly_it(embedded, gsm8k):
    twins = curation.nearest_twins(embedded, gsm8k)
    assert (twins[4].kind, twins[4].other_id) == ("candidate", 1)
    assert twins[4].similarity >= 0.95
    flagged = {cid for cid, twin in twins.items() if twin.similarity >= 0.95}
    assert flagged == {1, 4}
    rejected = bulk.reject_near_duplicates(embedded, gsm8k, "ann", 0.95)
    assert list(rejected) == [4] and "near-duplicate of #1" in rejected[4]
    assert review.decision_state(embedded, 4).status == "rejected"
    assert review.decision_state(embedded, 1).status == "pending"
    assert review.undo(embedded, "ann").ids == [4]
    assert review.decision_state(embedded, 4) == State()


@pytest.mark.models
def test_dedup_keeps_the_accepted_one(embedded, gsm8k):
    review.decide(embedded, [4], "accept", "ann")
    assert list(bulk.reject_near_duplicates(embedded, gsm8k, "ann", 0.95)) == [1]


@pytest.mark.models
def test_clusters_and_undo_of_a_bulk_action(embedded, gsm8k):
    info = curation.recluster(embedded, gsm8k, k=2)
    assert sum(row["size"] for row in info) == 5
    assert all(row["representative_id"] in range(1, 6) and row["label"] for row in info)
    cakes = next(row["cluster"] for row in embedded.query(
        "SELECT cluster FROM clusters WHERE candidate_id = 1"))
    members = curation.cluster_members(embedded, gsm8k, cakes)
    assert 4 in members
    before = {i: review.decision_state(embedded, i) for i in range(1, 6)}
    review.decide(embedded, [2], "accept", "ann")
    before[2] = review.decision_state(embedded, 2)
    assert bulk.decide_cluster(embedded, gsm8k, cakes, "reject", "ann") == members
    assert all(review.decision_state(embedded, i).status == "rejected" for i in members)
    assert sorted(review.undo(embedded, "ann").ids) == members
    assert {i: review.decision_state(embedded, i) for i in range(1, 6)} == before


@pytest.mark.models
def test_stats_per_set(embedded, gsm8k):
    review.decide(embedded, [1, 2, 3], "accept", "ann")
    result = curation.stats(embedded, gsm8k)
    assert result["seeds"].size == SEED_COUNT and result["drafts"].size == 5
    assert result["refinements"] is None and result["accepted"].size == 3
    assert 0 < result["seeds"].mean_similarity < 1
    assert math.isclose(result["drafts"].counts.sum(), 10)


@pytest.mark.models
def test_cli_embed_stats_cluster_dedup(tmp_path):
    db = ["--db", str(tmp_path / "w.db")]
    with Store(tmp_path / "w.db") as store:
        from bare_tui.core.inputs import recipes

        task = recipes.resolve(store, "gsm8k")
        import_seeds(store, task, few_seeds(tmp_path))
        pipeline.draft(store, task, ScriptedBackend(DRAFTS), len(DRAFTS), rng_seed=1)
    first = run_cli("embed", *db)
    assert first.returncode == 0 and "30/30 texts" in first.stderr
    assert "already has its embedding" in run_cli("embed", *db).stderr
    stats = run_cli("stats", "--histogram", *db)
    assert stats.returncode == 0 and "seeds: 20 items, mean similarity" in stats.stdout
    assert "histogram of all 10 pairs" in stats.stdout and "█" in stats.stdout
    clusters = run_cli("cluster", "-k", "2", *db)
    assert clusters.returncode == 0 and "clusters of task gsm8k" in clusters.stdout
    dry = run_cli("dedup", "--dry-run", *db)
    assert "#4: near-duplicate of #1" in dry.stdout and "would reject 1" in dry.stdout
    done = run_cli("dedup", *db)
    assert "rejected 1 near-duplicates" in done.stdout


@pytest.mark.models
def test_auto_embed_after_a_run(tmp_path):
    db = ["--db", str(tmp_path / "w.db")]
    run_cli("seeds", "import", str(few_seeds(tmp_path)), "--task", "gsm8k", *db)
    result = run_cli("draft", "-n", "2", "--max-tokens", "16", *db,
                     env={"BARE_TUI_AUTO_EMBED": "1"})
    assert result.returncode == 0, result.stderr
    assert "embed: 24 new or changed texts" in result.stderr  # 20 seeds, 2 drafts, 2 finals
