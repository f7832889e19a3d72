"""Drift: a refinement that stops editing its draft (a new item, a copy of a seed, closer
to a shot than to its draft) is measured, marked, retried and never proposed."""

from __future__ import annotations

import json

import pytest

from bare_tui.core.generation import pipeline
from bare_tui.core.inputs import drift, recipes
from bare_tui.core.inputs.seeds import import_seeds
from bare_tui.core.workspace import current, yields
from bare_tui.errors import BareError
from conftest import GOOD_DRAFT, GSM8K_SEEDS, ScriptedBackend, item

DRAFT = item("Mary puts $50 in her savings account every month. After 6 months she takes "
             "out $40 for a gift. How much money is left in the account?",
             "Mary saves 50 * 6 = 300 dollars.\nAfter the gift she has 300 - 40 = 260 "
             "dollars.\n#### 260")
# A light edit: a clause reworded and a number fixed.
LIGHT_EDIT = item("Mary puts $50 into her savings account each month. After 6 months she "
                  "takes out $40 to buy a gift. How much money is left in the account?",
                  "Mary saves 50 * 6 = 300 dollars.\nAfter buying the gift she has "
                  "300 - 40 = 260 dollars.\n#### 260")
# Another item altogether, as the embedded refiner wrote one.
NEW_ITEM = item("Kiera purchased 200 apples at the market. She sold 90% of them to a "
                "bakery. How many apples does she have left?",
                "Kiera sold 0.90 x 200 = 180 apples.\nShe has 200 - 180 = 20 apples.\n#### 20")
SEED_1 = json.loads(GSM8K_SEEDS.read_text().splitlines()[0])
# The draft's answer under the first shot's question, word for word.
COPIES_SHOT = item(SEED_1["question"], "Mary saves 50 * 6 = 300 dollars.\nAfter the gift "
                   "she has 300 - 40 = 260 dollars.\n#### 260")
# The first shot itself, the numbers barely changed: closer to the shot than to the draft.
NEAR_SHOT = item(SEED_1["question"].replace("48", "46"),
                 SEED_1["answer"].replace("48", "46").replace("24", "23").replace("72", "69"))


def one_draft(store, task, text=DRAFT):
    import_seeds(store, task, GSM8K_SEEDS)
    pipeline.draft(store, task, ScriptedBackend([text]), 1, rng_seed=1)


def attempts(store) -> list[dict]:
    return store.query("SELECT drifted, drift, draft_overlap, shot_overlap, shot_id"
                       " FROM refinements WHERE candidate_id = 1 ORDER BY id")


def test_a_refinement_that_is_another_item_is_drifted_retried_and_not_proposed(store, gsm8k):
    one_draft(store, gsm8k)
    result = pipeline.refine(store, gsm8k, ScriptedBackend([NEW_ITEM]), retries=2, rng_seed=5)
    tried = attempts(store)
    assert result.produced == 3 and len(tried) == 3  # retried until the retries ran out
    assert all(row["drifted"] == 1 for row in tried)
    assert tried[0]["draft_overlap"] < recipes.DEFAULT_MIN_OVERLAP
    assert tried[0]["drift"].startswith("far from its draft")
    shown = current.current(store, 1)
    assert shown.refinement_drifted and shown.final_version == "draft"
    assert current.proposed_version(store, 1) == "draft"
    assert shown.final_fields["question"].startswith("Mary puts $50")
    assert shown.drift.startswith("far from its draft")


def test_a_light_edit_is_not_marked_and_is_proposed(store, gsm8k):
    one_draft(store, gsm8k)
    pipeline.refine(store, gsm8k, ScriptedBackend([LIGHT_EDIT]), retries=2, rng_seed=5)
    tried = attempts(store)
    assert len(tried) == 1 and tried[0]["drifted"] == 0 and tried[0]["drift"] is None
    assert tried[0]["draft_overlap"] > 0.7
    shown = current.current(store, 1)
    assert not shown.refinement_drifted and shown.final_version == "refined"
    assert "buy a gift" in shown.final_fields["question"]


def test_a_drifted_attempt_loses_to_a_later_one_that_edits(store, gsm8k):
    one_draft(store, gsm8k)
    pipeline.refine(store, gsm8k, ScriptedBackend([NEW_ITEM, LIGHT_EDIT]), retries=2,
                    rng_seed=5)
    assert [row["drifted"] for row in attempts(store)] == [1, 0]
    shown = current.current(store, 1)
    assert shown.final_version == "refined" and "buy a gift" in shown.final_fields["question"]


def test_a_refinement_that_copies_a_shots_question_is_flagged_and_the_draft_proposed(
        store, gsm8k):
    one_draft(store, gsm8k)
    pipeline.refine(store, gsm8k, ScriptedBackend([COPIES_SHOT]), retries=1, rng_seed=5)
    tried = attempts(store)
    assert len(tried) == 2 and all(row["drifted"] == 1 for row in tried)
    seed_id = store.seeds("gsm8k")[0]["id"]
    assert tried[0]["drift"] == f"copies seed {seed_id}'s question word for word"
    shown = current.current(store, 1)
    assert shown.final_version == "draft" and current.proposed_version(store, 1) == "draft"
    assert shown.drift == f"copies seed {seed_id}'s question word for word"


def test_a_refinement_closer_to_a_shot_than_to_its_draft_is_marked(store, gsm8k):
    one_draft(store, gsm8k)
    # Turn the far-from-draft rule off: the shot rule alone must mark it.
    task = gsm8k.__class__(**{**gsm8k.__dict__,
                              "drift": recipes.DriftRule(min_similarity=0, min_overlap=0)})
    pipeline.refine(store, task, ScriptedBackend([NEAR_SHOT]), retries=0, rng_seed=5)
    [row] = attempts(store)
    assert row["drifted"] == 1 and row["drift"].startswith("closer to a shot, seed")
    assert row["shot_overlap"] > row["draft_overlap"]
    assert row["shot_id"] == store.seeds("gsm8k")[0]["id"]


def test_a_draft_that_copied_a_seed_does_not_make_its_refinement_a_copy(store, gsm8k):
    copied = item(SEED_1["question"], "48 + 24 = 72\n#### 72")
    one_draft(store, gsm8k, copied)
    kept = item(SEED_1["question"], "She sold 48 / 2 = 24 in May.\n48 + 24 = 72\n#### 72")
    pipeline.refine(store, gsm8k, ScriptedBackend([kept]), retries=0, rng_seed=5)
    [row] = attempts(store)
    assert row["drift"] is None or not row["drift"].startswith("copies")


def test_an_unparsed_refinement_is_not_measured(store, gsm8k):
    one_draft(store, gsm8k)
    pipeline.refine(store, gsm8k, ScriptedBackend(["no labels at all"]), retries=0)
    [row] = attempts(store)
    assert row["drifted"] is None and row["draft_overlap"] is None


def test_a_picked_drifted_alternative_is_the_curators_choice(store, gsm8k):
    from bare_tui.core.reviewing import alternatives, review

    one_draft(store, gsm8k)
    pipeline.refine(store, gsm8k, ScriptedBackend([LIGHT_EDIT]), rng_seed=5)
    result = alternatives.generate(store, gsm8k, ScriptedBackend([NEW_ITEM]), 1, 1,
                                   rng_seed=6)
    assert result.produced == 1
    [alt] = alternatives.of_candidate(store, 1)
    assert alt.drift.startswith("far from its draft")
    review.decide(store, [1], "pick", "tester", change=review.Change(refinement_id=alt.id))
    shown = current.current(store, 1)
    assert shown.picked_id == alt.id and shown.final_version == "refined"
    assert not shown.refinement_drifted  # picked on purpose: not proposed silently
    assert shown.final_fields["question"].startswith("Kiera")


def test_the_yield_counts_drifted_refinements_before_and_after_retries(store, gsm8k):
    import_seeds(store, gsm8k, GSM8K_SEEDS)
    pipeline.draft(store, gsm8k, ScriptedBackend([DRAFT, DRAFT]), 2, rng_seed=1)
    # The first draft: a drifted attempt then an edit; the second: drifts every time.
    pipeline.refine(store, gsm8k, ScriptedBackend([NEW_ITEM, LIGHT_EDIT, NEW_ITEM, NEW_ITEM,
                                                   NEW_ITEM]), retries=1, rng_seed=5)
    measured = yields.measure(store, "gsm8k")
    assert measured.refinements >= 3 and measured.refinements_drifted >= 2
    assert measured.kept_drafts == 1
    line = measured.lines()[1]
    assert "drifted" in line and "1 draft proposed: every refinement drifted" in line


def test_the_recipe_sets_the_threshold_and_refuses_a_bad_one():
    source = recipes.builtin_source("gsm8k")
    task = recipes.parse_recipe(source + "\n[drift]\nmin_similarity = 0.8\nmin_overlap = 0\n")
    assert task.drift == recipes.DriftRule(min_similarity=0.8, min_overlap=0)
    assert recipes.parse_recipe(source).drift == recipes.DriftRule()
    with pytest.raises(BareError, match="min_similarity"):
        recipes.parse_recipe(source + "\n[drift]\nmin_similarity = 1.5\n")
    with pytest.raises(BareError, match="drift"):
        recipes.parse_recipe(source + "\n[drift]\nmin_cosine = 0.5\n")


def test_measures_with_embeddings_when_given():
    """The rule takes the embedding cosine when there is one (here a planted embedding:
    the real one is in test_drift_models.py)."""
    import numpy as np

    task = recipes.parse_recipe(recipes.builtin_source("gsm8k"))
    vectors = {"a": [1.0, 0.0], "b": [0.8, 0.6], "c": [0.0, 1.0]}

    def embed(texts):
        return np.array([vectors[t.split()[0].lower()] for t in texts], dtype=np.float32)

    check = drift.DriftCheck(task, [{"id": 7, "fields": {"question": "c shot",
                                                        "answer": "c"}}], embed)
    close = check.measure({"question": "a draft", "answer": "a"},
                          {"question": "b edit", "answer": "b"}, [7])
    assert close.draft_similarity == pytest.approx(0.8) and not close.drifted
    assert close.shot_similarity == pytest.approx(0.6)
    far = check.measure({"question": "a draft", "answer": "a"},
                        {"question": "c other", "answer": "c"}, [7])
    assert far.drifted and far.reason.startswith("closer to a shot, seed 7")


def test_good_draft_light_edit_from_the_fixtures_stays_an_edit(store, gsm8k):
    """The refinements other tests plant are edits, not drift."""
    from conftest import REFINED

    one_draft(store, gsm8k, GOOD_DRAFT)
    pipeline.refine(store, gsm8k, ScriptedBackend([REFINED]), retries=0)
    assert attempts(store)[0]["drifted"] == 0


def drifted_workspace(path):
    """Seeds and two candidates: #1's every refinement drifted (a new item), #2 is a
    light edit."""
    from bare_tui.core.workspace.store import Store

    with Store(path) as store:
        task = recipes.resolve(store, "gsm8k")
        import_seeds(store, task, GSM8K_SEEDS)
        pipeline.draft(store, task, ScriptedBackend([DRAFT, DRAFT]), 2, rng_seed=1)
        pipeline.refine(store, task, ScriptedBackend([NEW_ITEM, LIGHT_EDIT]), retries=0,
                        rng_seed=2)
    return path


async def test_the_review_marks_filters_and_explains_a_drifted_item(tmp_path):
    from bare_tui.core.reviewing.review_list import FILTERS
    from conftest import make_app

    app = make_app(drifted_workspace(tmp_path / "drift.db"), poll_s=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.review_screen
        await pilot.pause()
        rows = screen.candidates
        assert rows._summary(0).marker == "~" and rows._summary(1).marker == "r"
        text = " ".join(" ".join(screen.query_one("DiffView").plain_lines()).split())
        assert "the refinement replaced the draft; the draft is proposed" in text
        assert "Refinement drifted (far from its" in text, text
        assert "kept 11%" in text
        await pilot.press("f")
        app.screen.query_one("OptionList").highlighted = list(FILTERS).index("drifted")
        await pilot.press("enter")
        assert screen.filter_name == "drifted" and screen.candidates.ids == [1]
        await pilot.press("a")  # accept takes what is proposed: the draft
        await pilot.pause()
    from bare_tui.core.workspace.store import Store

    with Store(tmp_path / "drift.db") as store:
        shown = current.current(store, 1)
        assert shown.status == "accepted" and shown.final_version == "draft"


def test_stats_the_card_and_compare_report_drift(store, gsm8k, tmp_path):
    """The share of drifted refinements and the drafts' diversity against the proposed
    items', in `stats`, the dataset card and a comparison's findings."""
    from test_current import HashEncoder

    from bare_tui.core.datasets.export import export
    from bare_tui.core.measures import compare_report, curation, embeddings
    from bare_tui.core.reviewing import review
    from conftest import DRAFTS

    import_seeds(store, gsm8k, GSM8K_SEEDS)
    pipeline.draft(store, gsm8k, ScriptedBackend(DRAFTS[:3]), 3, rng_seed=1)
    pipeline.refine(store, gsm8k, ScriptedBackend(
        [NEW_ITEM, DRAFTS[1].replace("travels", "goes"), DRAFTS[2].replace("reads", "read")]),
        retries=0, rng_seed=2)
    assert [c.refinement_drifted for c in current.of_task(store, "gsm8k")] == [
        True, False, False]
    embeddings.embed(store, gsm8k, encoder=HashEncoder())
    lines = curation.stats_lines(store, gsm8k, histogram=False)
    assert "yield: refinements: 3 attempts (100% parse, 100% pass, 100% verified, 33% " \
           "drifted); 1 draft proposed: every refinement drifted" in lines
    assert any(line.startswith("proposed: 3 items, mean similarity") for line in lines)
    assert any(line.startswith("refining moved the mean similarity from") and
               "(proposed items)" in line for line in lines)
    review.decide(store, [1, 2, 3], "accept", "ann")
    body = export(store, gsm8k, tmp_path / "x.jsonl").card_path.read_text()
    assert "| all drafts | 3 |" in body and "| all proposed items | 3 |" in body
    assert "33% drifted); 1 draft proposed: every refinement drifted" in body
    arms = [{"arm": name, "similarity": 0.4, "ir": None, "parsed": 10, "drifted": drifted}
            for name, drifted in (("base", None), ("instruct", None), ("bare", 3))]
    found = " ".join(compare_report.findings({"arms": arms}))
    assert "3 of 10 refinements (30%) drifted from their draft" in found
