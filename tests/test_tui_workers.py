"""The message-driven TUI: slow work runs in thread workers while keys keep working, and
an error nobody planned for becomes a notification and a logged traceback, never the
end of the session."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from bare_tui.core.inputs import recipes
from bare_tui.core.measures import curation, embeddings
from bare_tui.core.workspace.store import Store
from bare_tui.core.workspace.values import now
from bare_tui.tui.app import error_log
from bare_tui.tui.messages import StartJob
from conftest import make_app, wait_until

SIZE = (120, 40)


async def test_job_raising_an_unexpected_exception_leaves_the_app_running(
        review_db: Path, monkeypatch):
    def broken_job(*args, **kwargs):
        raise RuntimeError("the backend fell over")

    monkeypatch.setattr("bare_tui.tui.app.run_job", broken_job)
    app = make_app(review_db)
    async with app.run_test(size=SIZE) as pilot:
        app.post_message(StartJob(3))
        await wait_until(pilot, lambda: not app.job_running and app._notifications, 20)
        assert app.is_running
        [note] = [n for n in app._notifications if n.severity == "error"]
        assert "the generation job failed: RuntimeError: the backend fell over" in note.message
        assert "RuntimeError" in app.job_line and "g starts a new job" in app.job_line
        await pilot.press("a")  # the review goes on
        await pilot.pause()
        assert app.review_screen.tally.counts.get("accepted") == 1
    logged = error_log().read_text()
    assert "Traceback" in logged and "the backend fell over" in logged


async def test_worker_failing_unexpectedly_is_said_and_logged(review_db: Path, monkeypatch):
    with Store(review_db) as store:  # some embeddings, so the diversity worker loads them
        with store.transaction() as conn:
            conn.execute("INSERT INTO embeddings (kind, ref_id, model, text_sha256, dim,"
                         " vector, created_at) VALUES ('draft', 1, 'm', '', 2, ?, ?)",
                         (np.ones(2, dtype=np.float32).tobytes(), now()))

    class Broken:
        def __init__(self, *args, **kwargs):
            raise ValueError("index exploded")

    monkeypatch.setattr("bare_tui.core.measures.curation.DiversityIndex", Broken)
    app = make_app(review_db)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: any("index exploded" in n.message
                                            for n in app._notifications), 20)
        assert app.is_running
        await pilot.press("j")
        assert app.review_screen.candidates.current_id == 2
    assert "ValueError: index exploded" in error_log().read_text()


def synthetic_vectors(db: Path, count: int = 20_000, dim: int = 384) -> None:
    """`count` candidates with grouped synthetic final-text embeddings, clustered once."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(8, dim))
    with Store(db) as store:
        task = recipes.resolve(store, "gsm8k")
        with store.transaction() as conn:
            first = store.scalar("SELECT max(id) FROM candidates") + 1
            conn.executemany(
                "INSERT INTO candidates (id, task, run_id, seed, shot_ids, raw_text, fields,"
                " validation, valid, created_at) VALUES (?, 'gsm8k', 1, 0, '[]', ?, NULL,"
                " '[]', 0, ?)", [(first + i, f"text {i}", now()) for i in range(count)])
            vectors = centres[rng.integers(0, 8, count)] + rng.normal(scale=0.6,
                                                                      size=(count, dim))
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            conn.executemany(
                "INSERT INTO embeddings (kind, ref_id, model, text_sha256, dim, vector,"
                " created_at) VALUES ('final', ?, ?, '', ?, ?, ?)",
                [(first + i, embeddings.model_name(None), dim,
                  vectors[i].astype(np.float32).tobytes(), now()) for i in range(count)])
        curation.recluster(store, task, k=8)


async def test_reclustering_20k_vectors_keeps_the_clusters_table_moving(review_db: Path,
                                                                        monkeypatch):
    from textual.widgets import DataTable

    synthetic_vectors(review_db)
    clustered, release = threading.Event(), threading.Event()
    real_recluster = curation.recluster

    def recluster(*args, **kwargs):
        """The real clustering of the 20,000 vectors; then the worker stays busy until
        the test has pressed its keys, so they are surely handled while it runs."""
        result = real_recluster(*args, **kwargs)
        clustered.set()
        release.wait(60)
        return result

    monkeypatch.setattr(curation, "recluster", recluster)
    app = make_app(review_db, poll_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("c")
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        assert table.row_count == 8
        await pilot.press("r")
        assert "working: clustering" in str(app.screen.query_one("#note").render())
        moved = []
        for key in "jjjkk":
            await pilot.press(key)
            moved.append(table.cursor_row)
        assert moved == [1, 2, 3, 2, 1]
        assert any(w.group == "clusters" and w.is_running for w in app.workers)
        release.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert clustered.is_set()
        # r embedded the review's own 5 candidates too: every one is clustered
        assert "clusters of 20005 of the task's 20005 candidates" in str(
            app.screen.query_one("#note").render())


async def test_a_keypress_never_copies_the_log_an_import_left_a_thread_does(review_db: Path):
    """A log of 1,500 pages another connection left (as an import does between its
    copies): a keypress's commit leaves it, where SQLite would copy it all there and then
    (past 1,000 pages); the app's checkpoint thread copies it into the file."""
    app = make_app(review_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        with Store(review_db) as other:
            other.autocheckpoint(0)
            with other.transaction() as conn:
                conn.execute("CREATE TABLE bulk (body BLOB)")
                conn.execute("INSERT INTO bulk VALUES (zeroblob(1500 * 4096))")
            file_size = review_db.stat().st_size
            await pilot.press("a")
            await wait_until(pilot, lambda: app.review_screen.tally.counts.get("accepted"))
            assert review_db.stat().st_size == file_size  # nothing copied by the keypress
            logged, copied = await app.checkpoint().wait()
            assert copied == logged > 1_500
            assert review_db.stat().st_size > file_size + 1_500 * 4096
