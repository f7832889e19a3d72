"""Nothing lost: exports never replace what they must not, the workspace is never
silently lost, migrated or overwritten, undo never crosses reviewers, and SQLite's
errors are one line with everything committed kept (items 1-6 and 10)."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from test_cli import one_line_error

from bare_tui.core.datasets import export_files
from bare_tui.core.datasets.export import export
from bare_tui.core.generation import pipeline
from bare_tui.core.inputs import recipes
from bare_tui.core.reviewing import review
from bare_tui.core.workspace.store import Store, WorkspaceGone
from bare_tui.errors import BareError
from conftest import GOOD_DRAFT, GSM8K_SEEDS, ScriptedBackend, make_app, run_cli, wait_until

SIZE = (100, 30)


def status_of(db: Path, candidate_id: int) -> str | None:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT status FROM decisions WHERE candidate_id = ?",
                           (candidate_id,)).fetchone()
    return row and row[0]


def is_workspace(db: Path) -> bool:
    with Store(db, create=False) as store:
        return store.scalar("SELECT count(*) FROM candidates") > 0


# --- 1: export replaces any path ----------------------------------------------------------

def test_export_refuses_the_workspace_and_its_wal(review_db: Path):
    for target in (review_db, Path(f"{review_db}-wal"), Path(f"{review_db}-shm")):
        one_line_error(run_cli("export", str(target), "--db", str(review_db),
                               "--status", "any", "--force"), "it is the workspace")
    assert is_workspace(review_db)


def test_export_refuses_what_is_not_a_regular_file(review_db: Path, tmp_path: Path):
    one_line_error(run_cli("export", "/dev/null", "--db", str(review_db), "--force"),
                   "/dev/null: it is not a regular file")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    real = tmp_path / "real.jsonl"
    real.write_text("keep\n")
    (tmp_path / "link.jsonl").symlink_to(real)
    one_line_error(run_cli("export", str(tmp_path / "link.jsonl"), "--db", str(review_db),
                           "--force"), "not a regular file")
    assert real.read_text() == "keep\n"


def test_export_overwrites_only_with_force(review_db: Path, tmp_path: Path):
    out = tmp_path / "X.jsonl"
    unrelated = tmp_path / "X.manifest.json"
    unrelated.write_text("someone else's file\n")
    one_line_error(run_cli("export", str(out), "--db", str(review_db), "--status", "any"),
                   "X.manifest.json already exists; pass --force")
    assert unrelated.read_text() == "someone else's file\n" and not out.exists()
    assert run_cli("export", str(out), "--db", str(review_db), "--status", "any",
                   "--force").returncode == 0
    assert json.loads(unrelated.read_text())["count"] == len(out.read_text().splitlines())
    one_line_error(run_cli("export", str(out), "--db", str(review_db)), "already exist")


async def test_tui_export_asks_before_overwriting(review_db: Path, tmp_path: Path):
    from bare_tui.tui.screens.modals import ConfirmScreen, ExportScreen

    out = tmp_path / "mine.jsonl"
    out.write_text("precious\n")
    app = make_app(review_db)
    async with app.run_test(size=SIZE) as pilot:
        for answer in ("n", "y"):
            await pilot.press("o")
            assert isinstance(app.screen, ExportScreen)
            app.screen.dismiss((str(out), "fields", "any"))
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press(answer)
            await pilot.pause()
            if answer == "n":
                assert out.read_text() == "precious\n"
        await wait_until(pilot, lambda: any("dataset card" in n.message
                                            for n in app._notifications))
        lines = out.read_text().splitlines()
        assert lines and all(json.loads(line)["question"] for line in lines)
        await pilot.press("o")
        app.screen.dismiss((str(review_db), "fields", "any"))
        await pilot.pause()
        assert app.is_running
        assert any("it is the workspace" in n.message for n in app._notifications)
    assert is_workspace(review_db)


async def test_tui_export_path_with_markup_does_not_crash(review_db: Path, tmp_path: Path):
    target = str(tmp_path / "x[/foo]y")
    app = make_app(review_db)
    messages: list[str] = []  # every notification, also those that timed out since
    notify = app.notify
    app.notify = lambda message, **kwargs: (messages.append(message),  # type: ignore
                                            notify(message, **kwargs))[1]
    async with app.run_test(size=SIZE) as pilot:
        for said in range(1, 3):
            await pilot.press("o")
            app.screen.dismiss((target, "fields", "any"))
            await wait_until(pilot, lambda: len(messages) >= said)  # noqa: B023
            (tmp_path / "x[").mkdir(exist_ok=True)  # the second time, its folder exists
        assert app.is_running
        assert "x[ does not exist" in messages[0]
        assert messages[1].startswith("wrote ") and "x[/foo]y/train.jsonl" in messages[1]
        assert "dataset card" in messages[1]


# --- 2: export and manifest are one step ------------------------------------------------------

@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt])
def test_export_and_manifest_land_together_or_not_at_all(drafted, gsm8k, tmp_path, monkeypatch,
                                                         failure):
    out = tmp_path / "out.jsonl"
    export(drafted, gsm8k, out, status="any")
    manifest, card = out.with_name("out.manifest.json"), tmp_path / "README.md"
    before = (out.read_text(), manifest.read_text(), card.read_text())
    written = export_files._temp_file

    def manifest_fails(path: Path, data: bytes) -> Path:
        if path.name.endswith(".manifest.json"):
            raise failure
        return written(path, data)

    monkeypatch.setattr(export_files, "_temp_file", manifest_fails)
    with pytest.raises((BareError, KeyboardInterrupt)):
        export(drafted, gsm8k, out, status="accepted", force=True)
    assert (out.read_text(), manifest.read_text(), card.read_text()) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    assert drafted.scalar("SELECT count(*) FROM exports") == 1  # the failed one is not kept
    assert drafted.scalar("SELECT count(*) FROM export_items") == 2


def test_export_files_get_the_umask_mode(drafted, gsm8k, tmp_path):
    previous = os.umask(0o027)
    try:
        result = export(drafted, gsm8k, tmp_path / "out.jsonl", status="any")
    finally:
        os.umask(previous)
    for path in (result.path, result.manifest_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o640


# --- 3: decisions after the workspace file is deleted ---------------------------------------

def test_store_refuses_to_write_to_a_deleted_workspace(store: Store):
    for path in store.path.parent.glob(f"{store.path.name}*"):
        path.unlink()
    with pytest.raises(WorkspaceGone, match="deleted or replaced"):
        store.save_task("t", "recipe", "0" * 64)


def test_a_workspace_deleted_while_a_connection_opens_is_not_made_anew(store, monkeypatch):
    """A thread opening its own connection just as the file is deleted (the review's
    heartbeat, say) fails; it never leaves a new empty file where the workspace was."""
    path = store.path
    check = Store._check_file

    def check_then_delete(self, create, make_folder):
        check(self, create, make_folder)
        for leftover in path.parent.glob(f"{path.name}*"):
            leftover.unlink()

    monkeypatch.setattr(Store, "_check_file", check_then_delete)
    with pytest.raises(BareError, match="cannot open workspace"):
        Store(path, create=False)
    assert not path.exists()


async def test_decisions_after_the_workspace_is_deleted_are_refused_loudly(review_db: Path):
    app = make_app(review_db, poll_s=0.1)
    async with app.run_test(size=SIZE) as pilot:
        for path in review_db.parent.glob(f"{review_db.name}*"):
            path.unlink()
        await pilot.press("a", "a", "x")
        await pilot.pause(0.3)
        assert app.is_running and app.workspace_gone
        errors = [n.message for n in app._notifications if n.severity == "error"]
        assert any("deleted or replaced" in m for m in errors)
        assert "deleted or replaced" in app.warning
        await pilot.press("q")
    assert not review_db.exists()  # nothing was written anywhere, not even a new file


# --- 4: a read-only command overwrote the recipe ---------------------------------------------

def test_changed_recipe_of_a_task_with_data_needs_update_recipe(tmp_path: Path):
    db, recipe = tmp_path / "w.db", tmp_path / "r.toml"
    source = recipes.builtin_source("gsm8k") or ""
    recipe.write_text(source.replace('name = "gsm8k"', 'name = "r"'))
    assert run_cli("seeds", "import", str(GSM8K_SEEDS), "--task", str(recipe),
                   "--db", str(db)).returncode == 0
    with Store(db) as store:
        first = store.task_sha256("r")
    recipe.write_text(recipe.read_text().replace("temperature = 0.7", "temperature = 0.9"))
    one_line_error(run_cli("status", "--task", str(recipe), "--db", str(db)),
                   "changes the recipe of task r", "--update-recipe")
    with Store(db) as store:
        assert store.task_sha256("r") == first
    assert run_cli("status", "--task", str(recipe), "--update-recipe",
                   "--db", str(db)).returncode == 0
    with Store(db) as store:
        assert store.task_sha256("r") != first
        versions = store.query("SELECT sha256 FROM recipes WHERE task = 'r'")
        assert {row["sha256"] for row in versions} == {first, store.task_sha256("r")}


def test_each_run_records_its_recipe_version(store: Store, gsm8k):
    from bare_tui.core.inputs.seeds import import_seeds

    import_seeds(store, gsm8k, GSM8K_SEEDS)
    pipeline.draft(store, gsm8k, ScriptedBackend([GOOD_DRAFT]), 1)
    assert store.scalar("SELECT recipe_sha256 FROM runs") == gsm8k.sha256


# --- 5: undo crosses reviewers -------------------------------------------------------------------

def test_undo_crosses_reviewers_is_refused(review_db: Path):
    db = str(review_db)
    assert run_cli("accept", "1", "--reviewer", "alice", "--db", db).returncode == 0
    assert run_cli("reject", "1", "--reviewer", "bob", "--db", db).returncode == 0
    one_line_error(run_cli("undo", "--reviewer", "alice", "--db", db),
                   "cannot undo: #1 was decided since (reject by bob)")
    assert status_of(review_db, 1) == "rejected"
    assert run_cli("undo", "--reviewer", "bob", "--db", db).returncode == 0
    assert status_of(review_db, 1) == "accepted"  # bob's undo gives alice's decision back


def test_redo_over_a_later_decision_is_refused(drafted):
    review.decide(drafted, [1], "accept", "alice")
    review.undo(drafted, "alice")
    review.decide(drafted, [1], "reject", "bob")
    with pytest.raises(BareError, match="cannot redo: #1 was decided since"):
        review.redo(drafted, "alice")


async def test_two_windows_of_one_reviewer_do_not_undo_each_other(review_db: Path):
    from bare_tui.tui.screens.modals import ConfirmScreen

    app = make_app(review_db, reviewer="sam")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")  # this window accepts #1
        with Store(review_db) as other:  # another window of sam's accepts #2
            review.decide(other, [2], "accept", "sam", session=review.Session())
        await pilot.press("u")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "made in another window" in str(app.screen.question)
        await pilot.press("n")
        assert (status_of(review_db, 1), status_of(review_db, 2)) == ("accepted", "accepted")
        await pilot.press("u", "y")
        await pilot.pause()
        assert status_of(review_db, 2) == "pending"


# --- 6: foreign databases and missing folders ---------------------------------------------------

def test_foreign_database_is_refused_and_left_alone(tmp_path: Path):
    other = tmp_path / "other-app.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    one_line_error(run_cli("seeds", "import", str(GSM8K_SEEDS), "--task", "gsm8k",
                           "--db", str(other)), "database of another application (tables: notes)")
    with sqlite3.connect(other) as conn:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master")]
        assert tables == ["notes"] and conn.execute("PRAGMA user_version").fetchone()[0] == 0


def test_file_that_is_not_sqlite_is_refused(tmp_path: Path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    one_line_error(run_cli("status", "--db", str(notes)), "not a SQLite database")
    assert notes.read_text() == "my notes\n"


def test_missing_folder_is_never_created(tmp_path: Path):
    missing = tmp_path / "no" / "such" / "dir"
    one_line_error(run_cli("status", "--db", str(missing / "x.db")), "no workspace at")
    one_line_error(run_cli("seeds", "import", str(GSM8K_SEEDS), "--task", "gsm8k",
                           "--db", str(missing / "x.db")), "folder", "does not exist")
    assert not (tmp_path / "no").exists()


# --- 10: SQLite errors --------------------------------------------------------------------------

def hold_write_lock(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def test_write_lock_held_elsewhere_is_one_line(review_db: Path):
    holder = hold_write_lock(review_db)
    try:
        result = run_cli("accept", "1", "--db", str(review_db),
                         env={"BARE_TUI_BUSY_TIMEOUT_S": "0.5"})
        one_line_error(result, "is busy: another process held its write lock")
    finally:
        holder.rollback()
        holder.close()
    assert status_of(review_db, 1) is None


async def test_tui_stays_up_while_another_process_holds_the_lock(review_db: Path):
    app = make_app(review_db, busy_timeout=0.3)
    async with app.run_test(size=SIZE) as pilot:
        holder = hold_write_lock(review_db)
        try:
            await pilot.press("a")
            await pilot.pause()
            assert app.is_running
            assert any("is busy" in n.message for n in app._notifications)
            assert status_of(review_db, 1) is None
        finally:
            holder.rollback()
            holder.close()
        await pilot.press("k", "a")  # the cursor stayed; the same key now saves
        await pilot.pause()
        assert status_of(review_db, 1) == "accepted"


def test_full_disk_says_so_and_keeps_what_was_committed(drafted):
    review.decide(drafted, [1], "accept", "ann")
    pages = drafted.scalar("PRAGMA page_count")
    drafted.conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is now full
    with pytest.raises(BareError, match="the disk is full") as caught:
        with drafted.transaction() as conn:
            for number in range(200):
                conn.execute("INSERT INTO exports (task, path, count) VALUES (?, ?, ?)",
                             ("gsm8k", "x" * 4000, number))
    assert "rollback" not in str(caught.value).lower()
    assert review.decision_state(drafted, 1).status == "accepted"
    drafted.conn.execute(f"PRAGMA max_page_count = {pages * 100}")
    review.decide(drafted, [2], "reject", "ann")  # the workspace works on
    assert review.decision_state(drafted, 2).status == "rejected"


def test_read_only_workspace_says_so(drafted):
    drafted.conn.execute("PRAGMA query_only = ON")
    with pytest.raises(BareError, match="read-only"):
        review.decide(drafted, [1], "accept", "ann")
