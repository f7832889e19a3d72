"""Diversity in the review workstation: near-duplicate warning, clusters view, stats."""

import shutil
from pathlib import Path

import pytest

from bare_tui.core.generation import pipeline
from bare_tui.core.inputs import recipes
from bare_tui.core.inputs.seeds import import_seeds
from bare_tui.core.measures import curation, embeddings
from bare_tui.core.reviewing import review
from bare_tui.core.reviewing.review import State
from bare_tui.core.workspace.store import Store
from bare_tui.tui.screens.clusters import ClustersScreen
from bare_tui.tui.screens.modals import ConfirmScreen, StatsScreen
from bare_tui.tui.widgets.diff_view import DiffView
from conftest import DRAFTS, GSM8K_SEEDS, ScriptedBackend, make_app, wait_until

pytestmark = pytest.mark.models
SIZE = (120, 32)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("diversity")
    seeds = folder / "seeds.jsonl"
    seeds.write_text("".join(GSM8K_SEEDS.read_text().splitlines(True)[:20]))
    path = folder / "template.db"
    with Store(path) as store:
        task = recipes.resolve(store, "gsm8k")
        import_seeds(store, task, seeds)
        pipeline.draft(store, task, ScriptedBackend(DRAFTS), len(DRAFTS), rng_seed=1)
        embeddings.embed(store, task)
        curation.recluster(store, task, k=2)
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture
def workspace(template, tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    shutil.copy(template, tmp_path / "review.db")
    return Path("review.db")


async def ready(app, pilot):
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_near_duplicate_warning_and_jump_to_twin(workspace):
    app = make_app(workspace, poll_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        await pilot.press("end", "k")  # candidate #4, the planted copy of #1
        assert app.review_screen.candidates.current_id == 4
        lines = app.review_screen.query_one(DiffView).plain_lines()
        assert any("⚠ near-duplicate of #1 (cosine" in line for line in lines)
        await pilot.press("n")
        assert app.review_screen.candidates.current_id == 1
        await pilot.press("j")  # #2 has no near-duplicate: its nearest is shown, quietly
        lines = app.review_screen.query_one(DiffView).plain_lines()
        assert any(line.strip().startswith("nearest: ") for line in lines)


async def test_accepted_diversity_is_on_screen(workspace):
    app = make_app(workspace, poll_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        await pilot.press("a", "a", "a")
        with Store(workspace) as other:  # as if embedded by another process
            other.conn.execute("UPDATE embeddings SET created_at = created_at + 1")
        app.load_diversity()
        await ready(app, pilot)
        status = app.review_screen.query_one("#status").plain
        assert "diversity(accepted) " in status
        # At 80 columns the same facts in shorter words: each line fits, none wraps.
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        top, bottom = app.review_screen.query_one("#status").plain.splitlines()
        assert " div 0." in top and "acc 3" in top and len(top) <= 80, top
        assert bottom.startswith("filter: all  reviewer: tester")


async def test_clusters_view_filters_and_bulk_decides_undoably(workspace):
    app = make_app(workspace, poll_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        await pilot.press("c")
        assert isinstance(app.screen, ClustersScreen)
        table = app.screen.query_one("DataTable")
        assert table.row_count == 2
        cluster = int(table.get_row_at(table.cursor_row)[0])
        with Store(workspace) as store:
            members = curation.cluster_members(store, recipes.resolve(store, "gsm8k"), cluster)
        await pilot.press("enter")
        assert app.review_screen.cluster == cluster and app.review_screen.candidates.ids == members
        await pilot.press("c", "X")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        with Store(workspace) as store:
            assert all(review.decision_state(store, i).status == "rejected" for i in members)
        await pilot.press("escape")
        await pilot.press("u")  # one step undoes the whole cluster
        with Store(workspace) as store:
            assert all(review.decision_state(store, i) == State() for i in members)


async def test_the_status_line_clusters_view_and_a_pick_agree_with_the_workspace(workspace):
    """Decisions, a reclustering after new candidates, and a pick: after each, the status
    line's counts, the clusters view and the picked alternative's name say what the
    workspace holds."""
    from bare_tui.core.reviewing import alternatives
    from bare_tui.core.workspace import current
    from bare_tui.tui.screens.alternatives import AlternativesScreen

    with Store(workspace) as store:
        task = recipes.resolve(store, "gsm8k")
        alternatives.generate(store, task, ScriptedBackend([DRAFTS[0].replace("cakes", "pies")]),
                              1, 1, rng_seed=5)
        [alt] = alternatives.of_candidate(store, 1)
    made = len(DRAFTS)
    app = make_app(workspace, poll_s=0.2)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.review_screen

        def agrees() -> bool:
            with Store(workspace) as store:
                truth = review.status_counts(store, "gsm8k")
            line = screen.query_one("#status").plain
            return all(screen.tally.counts.get(key) == truth[key] for key in (
                "pending", "accepted", "rejected", "usable")) and (
                f"usable, not rejected {truth['usable']}" in line)

        await ready(app, pilot)
        await wait_until(pilot, agrees, 10)
        for key in ("x", "x", "a", "u"):
            await pilot.press(key)
            await wait_until(pilot, agrees, 10)
        with Store(workspace) as store:  # two more, from another process's job
            pipeline.draft(store, recipes.resolve(store, "gsm8k"),
                           ScriptedBackend(DRAFTS[1:3]), made + 2, rng_seed=2)
        await wait_until(pilot, lambda: len(screen.candidates.ids) == made + 2, 10)
        await wait_until(pilot, agrees, 10)
        await pilot.press("c")
        await ready(app, pilot)
        note = str(app.screen.query_one("#note").render())
        assert f"of {made} of the task's {made + 2} candidates. 2 candidates made since" \
            in note
        await pilot.press("r")
        await wait_until(pilot, lambda: f"of {made + 2} of the task's {made + 2} "
                         in str(app.screen.query_one("#note").render()), 60)
        await pilot.press("escape")
        await pilot.press("home")
        assert screen.candidates.current_id == 1
        await pilot.press("p")
        assert isinstance(app.screen, AlternativesScreen)
        pager = " ".join(" ".join(app.screen.query_one(DiffView).plain_lines()).split())
        assert f"alternative 1 of 1 (#{alt.id})" in pager
        await pilot.press("enter")
        await pilot.pause()
        shown = " ".join(" ".join(screen.query_one(DiffView).plain_lines()).split())
        assert f"Alternative #{alt.id} (picked)" in shown
        await wait_until(pilot, agrees, 10)
    with Store(workspace) as store:
        assert current.current(store, 1).picked_id == alt.id


async def test_bulk_decision_needs_confirmation(workspace):
    app = make_app(workspace, poll_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        await pilot.press("c", "A", "n")
        assert isinstance(app.screen, ClustersScreen)
    with Store(workspace) as store:
        assert store.scalar("SELECT count(*) FROM events") == 0


async def test_stats_view(workspace):
    app = make_app(workspace, poll_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        await pilot.press("s")
        assert isinstance(app.screen, StatsScreen)
        assert "drafts: 5 items, mean similarity" in app.screen.text
        assert "seeds: 20 items" in app.screen.text and "█" in app.screen.text


async def test_diversity_first_order(workspace):
    app = make_app(workspace, poll_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        app.review_screen.filter_name = "pending, diversity first"
        app.review_screen.reload()
        ids = app.review_screen.candidates.ids
        with Store(workspace) as store:
            clusters = dict(store.conn.execute("SELECT candidate_id, cluster FROM clusters"))
        assert sorted(ids) == [1, 2, 3, 4, 5]
        assert clusters[ids[0]] != clusters[ids[1]]  # the two clusters take turns


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("keys", [("c",), ("end", "k")], ids=["clusters", "near-duplicate"])
def test_diversity_snapshots(snap_compare, workspace, size, keys):
    async def run_before(pilot):
        await ready(pilot.app, pilot)
        await pilot.press(*keys)
        await ready(pilot.app, pilot)

    assert snap_compare(make_app(workspace, poll_s=3600), terminal_size=size,
                        run_before=run_before)
