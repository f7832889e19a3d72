"""Tags on rejects, driven through Textual's pilot: the recipe's tags on number keys in
the reject dialog, the filter by tag, and their counts in stats and the dataset card."""

from dataclasses import replace

from huggingface_hub import DatasetCard

from bare_tui.core.reviewing import review
from bare_tui.core.workspace.store import Store
from bare_tui.tui.screens.modals import ChooseScreen, StatsScreen
from bare_tui.tui.screens.reject import RejectScreen
from conftest import export_in_app, make_app, run_cli, wait_until

SIZE = (120, 32)


def decision(db, candidate_id):
    with Store(db) as store:
        return review.decision_state(store, candidate_id)


async def test_reject_with_tags_by_number_key_filter_and_count(review_db, tmp_path):
    out = tmp_path / "tags.jsonl"
    app = make_app(review_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("X")
        assert isinstance(app.screen, RejectScreen)
        assert app.screen.offered[:2] == ["wrong arithmetic", "ambiguous"]
        await pilot.press("1", "3", "3")  # 3 on, then off again
        assert app.screen.chosen == ["wrong arithmetic"]
        await pilot.press("tab", *"two steps off", "enter")
        # #2 (its refinement did not parse: the draft is what it shows) and #3 untagged
        await pilot.press("X", "2", "5", "enter")
        await pilot.press("X", "enter")
        first, second, third = (decision(review_db, i) for i in (1, 2, 3))
        assert (first.status, first.tags, first.tagged, first.reason) == (
            "rejected", ["wrong arithmetic"], "refined", "two steps off")
        assert (second.tags, second.tagged) == (["ambiguous", "unanswerable"], "draft")
        assert (third.status, third.tags, third.tagged) == ("rejected", None, None)

        # the filter by tag
        await pilot.press("f")
        assert isinstance(app.screen, ChooseScreen)
        app.screen.query_one("OptionList").highlighted = app.screen.options.index(
            "tag: ambiguous")
        await pilot.press("enter")
        assert app.review_screen.filter_name == "tag: ambiguous"
        assert app.review_screen.candidates.ids == [2]
        heading = app.review_screen.diff_view.plain_lines()
        assert any("tags: ambiguous, unanswerable" in line for line in heading)

        # stats: per tag, for drafts and refinements
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, StatsScreen))
        rows = {line.split("  ")[1].strip(): line.split()[-3:]
                for line in app.screen.text.splitlines() if line.startswith("  ")
                and line.split("  ")[1].strip() in ("wrong arithmetic", "ambiguous",
                                                    "off-theme")}
        assert rows == {"wrong arithmetic": ["0", "1", "0"], "ambiguous": ["1", "0", "0"],
                        "off-theme": ["0", "0", "0"]}
        await pilot.press("escape")

        await pilot.press("f", "home", "enter", "end")
        await pilot.press("a")  # #5: an accepted item for the export below
        await export_in_app(app, pilot, out)
    card = (tmp_path / "README.md").read_text()
    assert "## Rejects by tag (the whole task)" in card
    assert "| wrong arithmetic | 0 | 1 | 0 |" in card
    assert "| ambiguous | 1 | 0 | 0 |" in card and "| unanswerable | 1 | 0 | 0 |" in card
    assert DatasetCard.load(tmp_path / "README.md").data.license == "mit"
    cli = run_cli("stats", "--db", str(review_db), "--task", "gsm8k")
    assert cli.returncode == 0, cli.stderr
    assert "rejected items by tag, and the version the tag was given to:" in cli.stdout


async def test_a_reject_without_a_tag_set_offers_free_text(review_db):
    """With no tag on offer, the reason line has the focus."""
    app = make_app(review_db)
    async with app.run_test(size=SIZE) as pilot:
        workspace = app.review_screen.workspace
        workspace.recipe = replace(workspace.recipe, tags=())
        await pilot.press("X")
        assert isinstance(app.screen, RejectScreen) and app.screen.offered == []
        await pilot.press(*"12 wrong", "enter")
    assert decision(review_db, 1).reason == "12 wrong"
    assert decision(review_db, 1).tags is None
