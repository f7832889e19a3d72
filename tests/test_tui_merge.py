"""Merging by hunks and picking alternatives in the review screen, driven through
Textual's pilot and checked against the database."""

from __future__ import annotations

import asyncio
import json

import pytest

from bare_tui.core.reviewing import alternatives, review_list
from bare_tui.core.reviewing.merging import DRAFT, REFINED, Merge
from bare_tui.core.workspace import current
from bare_tui.core.workspace.store import Store
from bare_tui.tui.screens.alternatives import AlternativesScreen
from bare_tui.tui.widgets.diff_view import DiffView
from conftest import GOOD_DRAFT, make_app

SIZE = (120, 32)


def detail(db, candidate_id=1):
    with Store(db) as store:
        return current.current(store, candidate_id)


def merge_events(db):
    with Store(db) as store:
        return [(row["action"], json.loads(row["after"]).get("merge"))
                for row in store.query("SELECT action, after FROM events ORDER BY id")]


def current_hunk_line(app) -> str:
    lines = app.review_screen.query_one(DiffView).plain_lines()
    return next(line for line in lines if "▶" in line)


async def test_hunk_navigation(review_db):
    app = make_app(review_db)
    async with app.run_test(size=SIZE) as pilot:
        view = app.review_screen.query_one(DiffView)
        assert view.hunk is None and "▶" not in "".join(view.plain_lines())
        await pilot.press("right_square_bracket")
        assert (view.hunk, view.hunk_count) == (0, 2)
        line = current_hunk_line(app)
        # side by side: the draft's side (Ann) and the refined side (Anna) both marked
        assert "▶Ann◀" in line and "▶Anna◀" in line
        await pilot.press("right_square_bracket")
        assert view.hunk == 1 and "▶3◀" in current_hunk_line(app)
        await pilot.press("right_square_bracket")
        assert view.hunk == 1  # the last stays current
        await pilot.press("left_square_bracket")
        assert view.hunk == 0
        await pilot.press("d")  # inline: the hunk stays addressable
        assert "▶AnnAnna◀" in current_hunk_line(app)
        await pilot.press("j")  # another candidate: no hunk current
        assert view.hunk is None
        await pilot.press("j", "j", "j", "right_square_bracket")  # #5: nothing to diff
        assert view.hunk is None
        assert "no changed hunks" in app.review_screen.flashed
    assert merge_events(review_db) == []


async def test_keep_a_mix_of_sides_then_undo_a_hunk_and_the_whole_merge(review_db):
    refined = detail(review_db).best_fields
    draft = detail(review_db).draft_fields
    app = make_app(review_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("right_square_bracket", "less_than_sign")  # hunk 1: the draft
        assert app.review_screen.query_one(DiffView).hunk == 1  # moved on to the next
        await pilot.press("less_than_sign")  # hunk 2: the draft too
        now = detail(review_db)
        assert now.final_version == "edited" and now.final_fields == draft
        assert now.status == "pending"
        await pilot.press("u")  # one hunk's choice undone
        now = detail(review_db)
        assert now.final_fields["question"] == draft["question"].replace("buys 3", "buys 4")
        assert Merge.from_state(now.merge).choices == (DRAFT, REFINED)
        with Store(review_db) as store:
            assert review_list.summaries(store, [1])[1].marker == "e"  # the list: edited
        title = [line for line in app.review_screen.query_one(DiffView).plain_lines()
                 if "Merged:" in line]
        assert title and "Merged: 1/2 hunks from the draft" in title[0]
    events = merge_events(review_db)
    assert [action for action, _ in events] == ["merge", "merge", "undo"]
    assert events[0][1]["choices"] == [DRAFT, REFINED]
    assert events[1][1]["choices"] == [DRAFT, DRAFT]
    assert events[1][1]["draft"] == draft and events[1][1]["refined"] == refined

    app = make_app(review_db)  # after a restart
    async with app.run_test(size=SIZE) as pilot:
        assert Merge.from_state(app.review_screen.query_one(DiffView).merge.to_state()
                                ).choices == (DRAFT, REFINED)
        await pilot.press("U")  # the whole merge reverted
        now = detail(review_db)
        assert now.final_version == "refined" and now.merge is None
        assert now.final_fields == refined
        await pilot.press("u")  # the revert undone: the merge is back
        assert Merge.from_state(detail(review_db).merge).choices == (DRAFT, REFINED)
        await pilot.press("right_square_bracket", "right_curly_bracket")  # refined, all
        assert detail(review_db).final_fields == refined
        await pilot.press("a")
    assert detail(review_db).status == "accepted"
    assert detail(review_db).final_version == "edited"


async def test_merge_marks_read_without_colour(review_db, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(review_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("right_square_bracket", "less_than_sign")
        await pilot.press("d")  # inline
        lines = "\n".join(app.review_screen.query_one(DiffView).plain_lines())
        assert "[=Ann=]{~Anna~}" in lines  # the draft's side kept, the refined one left out
        assert "▶[-3-]{+4+}◀" in lines  # the current hunk, marked by text


def _add_alternatives(db):
    """Two refinement alternatives for #1 (the second does not parse), made by the real
    code path with a scripted model."""
    from bare_tui.core.inputs import recipes
    from conftest import ScriptedBackend

    other = GOOD_DRAFT.replace("pens", "pencils")
    with Store(db) as store:
        task = recipes.resolve(store, "gsm8k")
        alternatives.generate(store, task, ScriptedBackend([other, "no labels"]), 1, 2,
                              rng_seed=5)


async def test_pick_an_alternative_from_the_pager(review_db):
    _add_alternatives(review_db)
    app = make_app(review_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p")
        assert isinstance(app.screen, AlternativesScreen)
        assert app.screen.index == 1  # the newest first
        await pilot.press("enter")  # it did not parse: refused
        assert isinstance(app.screen, AlternativesScreen)
        await pilot.press("left", "enter")
        assert not isinstance(app.screen, AlternativesScreen)
    found = alternatives.of_candidate(Store(review_db), 1)
    now = detail(review_db)
    assert now.picked_id == found[0].id
    assert now.final_version == "refined"
    assert now.final_fields["question"].startswith("Ann has 2 pencils")


@pytest.mark.models
async def test_alternatives_requested_and_picked_with_real_models(review_db):
    app = make_app(review_db, poll_s=0.2, max_tokens=96, parallel=2)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")
        for _ in range(3000):
            await asyncio.sleep(0.1)
            if not app.job_running:
                break
        assert not app.job_running
        with Store(review_db) as store:
            made = alternatives.of_candidate(store, 1)
            runs = store.query("SELECT kind, model, params FROM runs WHERE kind ="
                               " 'alternatives'")
        assert len(made) == 3 and {alt.kind for alt in made} == {"refined"}
        assert len({alt.seed for alt in made}) == 3  # each with its own seed
        assert "SmolLM2" in runs[0]["model"] or "smollm2" in runs[0]["model"].lower()
        parsed = [alt for alt in made if alt.parsed]  # the recipe's grammar: they parse
        assert parsed, [alt.raw for alt in made]
        await pilot.press("p")
        assert isinstance(app.screen, AlternativesScreen)
        while app.screen.shown.id != parsed[0].id:
            await pilot.press("right")
        await pilot.press("enter")
        assert not isinstance(app.screen, AlternativesScreen)
        picked = detail(review_db)
        assert picked.picked_id == parsed[0].id
        assert picked.final_fields == parsed[0].fields  # what the review shows, and exports
        with Store(review_db) as store:
            assert review_list.summaries(store, [1])[1].alternatives == 3
            exported = list(current.of_task(store, "gsm8k", "any"))
        assert exported[0].final_fields == parsed[0].fields
        await pilot.press("u")  # the pick undone: the pipeline's refinement again
        assert detail(review_db).picked_id is None
        await pilot.press("p")
        await pilot.press("escape")
        await pilot.pause()
    with Store(review_db) as store:
        # the pipeline's own refinement is untouched; alternatives do not count as one
        assert store.scalar("SELECT count(*) FROM refinements WHERE candidate_id = 1"
                            " AND alternative IS NULL") == 1
