import sqlite3
from pathlib import Path

import pytest

from bare_tui.core.reviewing import review_list
from bare_tui.core.workspace.store import SCHEMA_VERSION, Store
from bare_tui.errors import BareError


def test_new_workspace_has_schema_wal_and_busy_timeout(tmp_path: Path):
    with Store(tmp_path / "w" / "bare.db", make_folder=True) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.scalar("PRAGMA journal_mode") == "wal"
        assert store.scalar("PRAGMA busy_timeout") >= 5000
        tables = set(store.db.table_names())
        assert {"tasks", "seeds", "runs", "candidates", "refinements", "events",
                "decisions", "exports"} <= tables


def test_reopening_keeps_data_and_does_not_migrate_again(tmp_path: Path):
    path = tmp_path / "bare.db"
    with Store(path) as store:
        store.save_task("t", "recipe", "abc")
    with Store(path) as store:
        assert store.task_recipe("t") == "recipe"


def test_transaction_is_all_or_nothing(store: Store):
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.insert("tasks", {"name": "a", "recipe": "r", "recipe_sha256": "s",
                                   "created_at": 0})
            raise RuntimeError("crash between two writes")
    assert store.task_names() == []


def test_newer_schema_is_refused_with_one_line(tmp_path: Path):
    path = tmp_path / "bare.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(BareError, match="newer bare-tui"):
        Store(path)


def test_unwritable_location_is_one_line(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(BareError, match="cannot create workspace .*does not exist"):
        Store(blocker / "bare.db")


def test_second_connection_writes_while_first_reads(tmp_path: Path):
    path = tmp_path / "bare.db"
    with Store(path) as first, Store(path) as second:
        first.save_task("a", "r", "s")
        rows = first.conn.execute("SELECT name FROM tasks")  # an open read cursor
        second.save_task("b", "r", "s")
        assert [r[0] for r in rows] == ["a"]
        assert first.task_names() == ["a", "b"]


class CommitFails:
    """A connection whose COMMIT fails (as one can, on an I/O error)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, *args):
        if sql == "COMMIT":
            raise sqlite3.OperationalError("disk I/O error")
        return self.conn.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self.conn, name)


OTHER_PROCESS = """
import sqlite3, sys
first = sqlite3.connect(sys.argv[1])
first.execute("SELECT count(*) FROM tasks").fetchall()
first.close()  # the last connection anywhere, were the reader's locks dropped: log deleted
second = sqlite3.connect(sys.argv[1])
second.execute("INSERT INTO tasks (name, recipe, recipe_sha256, created_at)"
               " VALUES ('theirs', '', '', 0)")
second.commit()
print("written", flush=True)
sys.stdin.readline()  # open until this process has looked
"""


def test_opening_a_workspace_keeps_this_process_seen_by_others(tmp_path: Path):
    """A connection of this process (a caller's own `sqlite3.connect`, open while a
    Store opens and closes) keeps its locks: another process does not take it for gone,
    delete the write-ahead log and write where this process never looks again."""
    import subprocess
    import sys

    path = tmp_path / "w.db"
    Store(path).close()
    reader = sqlite3.connect(path)
    try:
        assert reader.execute("SELECT count(*) FROM tasks").fetchall() == [(0,)]
        Store(path).close()
        other = subprocess.Popen([sys.executable, "-c", OTHER_PROCESS, str(path)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert other.stdout.readline() == "written\n"
            fresh = sqlite3.connect(path)
            try:
                assert fresh.execute("SELECT name FROM tasks").fetchall() == [("theirs",)]
            finally:
                fresh.close()
        finally:
            other.communicate("\n", timeout=60)
        assert other.returncode == 0
    finally:
        reader.close()


def test_a_snapshot_whose_commit_fails_is_not_left_open(tmp_path: Path):
    """A read transaction left open would swallow the next write: `transaction` joins an
    open one, so the write would wait, uncommitted, unseen by every other window."""
    path = tmp_path / "bare.db"
    with Store(path) as first, Store(path) as second:
        real = first.conn
        first.conn = CommitFails(real)
        with first.snapshot() as conn:
            assert conn.execute("SELECT count(*) FROM tasks").fetchone()[0] == 0
        first.conn = real
        assert not real.in_transaction
        first.save_task("a", "r", "s")
        assert second.task_names() == ["a"]  # committed: another connection sees it


def test_interrupted_runs_are_marked(store: Store):
    run_id = store.start_run({"kind": "draft", "task": "t", "model": "m"})
    store.update("runs", "id", run_id, {"pid": 2**22 + 12345})  # no such process
    assert store.mark_interrupted_runs() == 1
    assert store.scalar("SELECT status FROM runs WHERE id = ?", (run_id,)) == "interrupted"
    live = store.start_run({"kind": "draft", "task": "t", "model": "m"})
    assert store.mark_interrupted_runs() == 0
    assert store.scalar("SELECT status FROM runs WHERE id = ?", (live,)) == "running"


@pytest.mark.parametrize("start", [4, 5, 6, 10, 17])
def test_a_workspace_of_an_earlier_schema_upgrades_to_todays_view(tmp_path: Path, start):
    """Steps before the latest view change only drop it; the latest makes it in full.
    The search index is filled with the texts there were."""
    import sqlite3

    import sqlite_utils

    from bare_tui.core.workspace.migrations import MIGRATIONS

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    db = sqlite_utils.Database(conn)
    for version in range(1, start + 1):
        MIGRATIONS[version](db)
        conn.execute(f"PRAGMA user_version = {version}")
    conn.execute("INSERT INTO tasks (name, recipe, recipe_sha256, created_at)"
                 " VALUES ('gsm8k', '', '', 0)")
    conn.execute("INSERT INTO candidates (task, raw_text, fields, valid, created_at)"
                 " VALUES ('gsm8k', 'raw', '{\"question\": \"q\"}', 1, 0)")
    conn.close()
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        rows = store.query("SELECT candidate_id, status, final_version, origin, picked_id"
                           " FROM candidate_state")
        assert review_list.candidate_ids(store, "gsm8k", search="RAW") == [1]
    assert rows == [{"candidate_id": 1, "status": "pending", "final_version": "draft",
                     "origin": None, "picked_id": None}]
