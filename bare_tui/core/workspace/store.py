"""The workspace: one SQLite file holding tasks, seeds, runs, candidates and review events.

WAL mode and a busy timeout let a CLI job and a reviewer share the file. Every write
that produces a sample happens in one `transaction()`, so killing the process at any
moment loses at most the sample being generated and never leaves a partial row.

A Store refuses what is not a workspace (another application's SQLite file, a file that
is not SQLite), notices when its file is deleted or replaced under it (a write then
fails loudly instead of going to a file nobody will see again), and turns SQLite's
errors (a lock held too long, a read-only file, a full disk) into one-line messages.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import sqlite_utils

from bare_tui.core.workspace.migrations import MIGRATIONS, SCHEMA_VERSION
from bare_tui.core.workspace.task_rows import TaskRows
from bare_tui.errors import BareError

BUSY_TIMEOUT_S = 30.0  # how long a write waits for another process's lock


def explain(exc: sqlite3.Error, path: Path, waited_s: float = BUSY_TIMEOUT_S) -> str:
    """SQLite's error as one line that says what happened to the workspace and what to do;
    what was committed before it is always kept."""
    text = str(exc)
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return (f"the workspace {path} is busy: another process held its write lock for "
                f"over {waited_s:g} s; nothing was written, try again when it is done")
    if "readonly" in lowered or "read-only" in lowered:
        return (f"cannot write the workspace {path}: it is read-only (check the file's "
                "and its folder's permissions); nothing was changed")
    if "full" in lowered:
        return (f"cannot write the workspace {path}: the disk is full; what was saved before "
                "is kept, free some space and try again")
    if "not a database" in lowered or "malformed" in lowered:
        return f"{path} is not a bare-tui workspace, or it is damaged ({text})"
    if "disk i/o" in lowered:
        return f"cannot read or write the workspace {path}: disk I/O error"
    return f"workspace {path}: {text}"


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino


# The workspace files this process has open, by identity, with how many connections (a
# workspace made by a failed first command is taken away only when no other Store of
# this process has it open). A workspace is never opened outside SQLite: closing any
# descriptor of a file drops every POSIX lock the process holds on it, its SQLite
# connections' included (those of a caller's own `sqlite3.connect` too). Another process
# could then take them for gone, check the write-ahead log in, delete it and its index,
# and write anew where this process's connections, still mapping the old index, never
# look: each side would go on unseen by the other.
_OPEN: dict[tuple[int, int], int] = {}
_OPEN_LOCK = threading.Lock()


class Store(TaskRows):
    """A workspace database. Open one per thread (sqlite3 connections are not shared)."""

    def __init__(self, path: str | Path, *, create: bool = True, make_folder: bool = False,
                 busy_timeout: float | None = None):
        """`create`: make the workspace if the file does not exist (only commands that
        write pass it); `make_folder`: make its folder too (only for the default path);
        `busy_timeout`: seconds a write waits for another process's lock (default 30)."""
        self.path = Path(path)
        self.busy_timeout = BUSY_TIMEOUT_S if busy_timeout is None else busy_timeout
        self._identity: tuple[int, int] | None = None
        with _OPEN_LOCK:
            self._check_file(create, make_folder)
            self.made = create and not self.path.exists()  # this Store makes the file
            self._open(create)

    def _open(self, create: bool) -> None:
        # Without `create`, SQLite itself refuses a missing file: one deleted between the
        # check and the connection is not made anew, empty.
        target = self.path if create else f"{self.path.absolute().as_uri()}?mode=rw"
        try:
            conn = sqlite3.connect(target, timeout=self.busy_timeout, isolation_level=None,
                                   check_same_thread=False, uri=not create)
        except (sqlite3.Error, OSError) as exc:
            raise BareError(f"cannot open workspace database {self.path}: {exc}") from None
        self.conn = conn
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            self._check_ours()
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            # No foreign keys are declared (SQLite cannot add them to existing tables
            # without rebuilding them), so the pragma is not set: references are kept
            # whole by writing each sample or decision in one transaction, and rows are
            # never deleted.
            self.db = sqlite_utils.Database(conn)
            self._migrate()
        except sqlite3.Error as exc:
            conn.close()
            if getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB":
                raise BareError(f"{self.path} is not a bare-tui workspace (not a SQLite "
                                "database, or a damaged one); pass --db with a new file name"
                                ) from None
            raise BareError(explain(exc, self.path, self.busy_timeout)) from None
        except BaseException:
            conn.close()
            raise
        self._identity = _file_identity(self.path)
        if self._identity is not None:
            _OPEN[self._identity] = _OPEN.get(self._identity, 0) + 1

    def _check_file(self, create: bool, make_folder: bool) -> None:
        path = self.path
        if path.exists():
            # Only looked at, never opened outside SQLite: closing any descriptor of the
            # file drops every POSIX lock this process holds on it (see _OPEN). What is
            # not SQLite is refused by SQLite itself (`_open`).
            if not path.is_file():
                raise BareError(f"{path} is not a regular file; a workspace is a SQLite file "
                                "(pass --db PATH)")
            if not os.access(path, os.R_OK):
                raise BareError(f"cannot read workspace {path}: permission denied")
            return
        if not create:
            raise BareError(f"no workspace at {path}: `bare-tui demo`, or `bare-tui seeds "
                            "import FILE --task NAME`, makes one (or pass --db PATH)")
        if not path.parent.is_dir():
            if not make_folder:
                raise BareError(f"cannot create workspace {path}: folder {path.parent} "
                                "does not exist")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise BareError(f"cannot create folder {path.parent}: {exc.strerror or exc}"
                                ) from None

    def _check_ours(self) -> None:
        """Refuse another application's database instead of adding our tables to it."""
        tables = {row[0] for row in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite_%'")}
        if tables and ("tasks" not in tables or self.schema_version == 0):
            shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
            raise BareError(f"{self.path} is a SQLite database of another application "
                            f"(tables: {shown}), not a bare-tui workspace; pass --db with a "
                            "new file name")

    def check_present(self) -> None:
        """Raise when the workspace file was deleted or replaced since it was opened:
        writes would go to a file no other process, and no later session, will see."""
        if _file_identity(self.path) != self._identity:
            raise WorkspaceGone(
                f"the workspace {self.path} was deleted or replaced while open; nothing "
                "more is saved to it: quit, and restore the file or start anew")

    def close(self) -> None:
        self.conn.close()
        with _OPEN_LOCK:
            count = _OPEN.pop(self._identity, 0) - 1 if self._identity else 0
            if count > 0:
                _OPEN[self._identity] = count  # type: ignore[index]

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        """Close; and when this Store made the workspace and the command failed before
        anything was stored in it, take the file away again: a failed first command
        (a seed file that does not exist) leaves no empty workspace behind."""
        forget = exc_type is not None and self.made and self._holds_nothing()
        identity = self._identity
        self.close()
        if forget and identity is not None and _file_identity(self.path) == identity \
                and identity not in _OPEN:
            for suffix in ("-wal", "-shm", ""):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def _holds_nothing(self) -> bool:
        try:
            return not self.conn.execute(
                "SELECT EXISTS (SELECT 1 FROM seeds) OR EXISTS (SELECT 1 FROM candidates)"
                " OR EXISTS (SELECT 1 FROM events)").fetchone()[0]
        except sqlite3.Error:
            return False

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        version = self.schema_version
        if version < 0:
            raise BareError(f"{self.path} is not a bare-tui workspace (its schema version is "
                            f"{version}); pass --db with a new file name")
        if version > SCHEMA_VERSION:
            raise BareError(
                f"{self.path} was written by a newer bare-tui (schema {version}, this one "
                f"knows {SCHEMA_VERSION}); upgrade bare-tui"
            )
        # Each step is idempotent, so a crash half-way through is repaired by rerunning it.
        for target in range(version + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[target](self.db)
            self.conn.execute(f"PRAGMA user_version = {target}")

    @contextmanager
    def transaction(self, wait_s: float | None = None) -> Iterator[sqlite3.Connection]:
        """One atomic write. BEGIN IMMEDIATE takes the write lock up front, so two
        processes queue on the busy timeout instead of failing on a lock upgrade
        (`wait_s`: a shorter wait, for writes a screen makes while a person waits).
        SQLite's errors leave as a BareError that says what happened; nothing of the
        failed transaction is written, everything committed before is kept."""
        if self.conn.in_transaction:
            yield self.conn
            return
        self.check_present()
        try:
            if wait_s is None:
                self.conn.execute("BEGIN IMMEDIATE")
            else:
                self._begin_within(wait_s)
            try:
                yield self.conn
            except BaseException:
                self._rollback()
                raise
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise BareError(explain(exc, self.path, self.busy_timeout)) from None

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """Several reads that see one state of the workspace (a read transaction: what
        other connections commit meanwhile is not seen until it ends)."""
        if self.conn.in_transaction:
            yield self.conn
            return
        self.conn.execute("BEGIN")
        try:
            yield self.conn
        finally:
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error:  # never left open: a write joining it would wait in it
                self._rollback()

    def _begin_within(self, wait_s: float) -> None:
        self.conn.execute(f"PRAGMA busy_timeout = {int(wait_s * 1000)}")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")

    def _rollback(self) -> None:
        # SQLite may already have rolled back (a full disk does): a second ROLLBACK
        # would fail and hide the error that matters.
        if self.conn.in_transaction:
            with suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")

    def autocheckpoint(self, pages: int) -> int:
        """After a commit on this connection, SQLite copies the write-ahead log into the
        file, there and then, once the log holds `pages` pages (1,000 by default; up to
        all of it, another process's writes included). 0: never, for a window's
        keypresses, which must not wait on it, and for an import, which copies on a
        schedule of its own (`checkpoint()`). Returns the setting it replaced."""
        before = int(self.scalar("PRAGMA wal_autocheckpoint"))
        self.conn.execute(f"PRAGMA wal_autocheckpoint = {int(pages)}")
        return before

    def checkpoint(self) -> tuple[int, int]:
        """Copy the write-ahead log into the file as far as no reader still needs it,
        waiting for no lock; (pages in the log, pages copied)."""
        try:
            _busy, logged, copied = self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)"
                                                      ).fetchone()
        except sqlite3.Error as exc:
            raise BareError(explain(exc, self.path, self.busy_timeout)) from None
        return logged, copied

    def insert(self, table: str, row: dict[str, Any]) -> int:
        """Insert one row inside the caller's transaction and return its rowid."""
        columns = ", ".join(f'"{key}"' for key in row)
        marks = ", ".join("?" for _ in row)
        cursor = self.conn.execute(
            f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', list(row.values())
        )
        return int(cursor.lastrowid)

    def update(self, table: str, pk: str, key: Any, changes: dict[str, Any]) -> None:
        sets = ", ".join(f'"{column}" = ?' for column in changes)
        self.conn.execute(
            f'UPDATE "{table}" SET {sets} WHERE "{pk}" = ?', [*changes.values(), key]
        )

    def query(self, sql: str, params: tuple | dict = ()) -> list[dict[str, Any]]:
        return list(self.db.query(sql, params))

    def scalar(self, sql: str, params: tuple | dict = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]


class WorkspaceGone(BareError):
    """The workspace file was deleted or replaced while a Store had it open."""
