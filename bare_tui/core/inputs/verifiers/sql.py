"""`sqlite`: the field's query compiles against the recipe's schema and, given rows,
returns at least one.

Each query runs in a fresh in-memory database made from the recipe's `schema` (and its
`rows`, when given). The connection is locked down while the query runs: an authorizer
allows reading only (no writes, no ATTACH, no PRAGMA, no extension loading), and a
progress handler stops a runaway query (a recursive CTE that never ends) after a step
budget. The schema and rows are the recipe's, checked when the recipe is loaded.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from bare_tui.core.inputs.verifiers.base import Verifier
from bare_tui.errors import BareError

STEPS = 2_000_000  # virtual machine steps a query may take (a few tens of ms)
ROWS = 100_000  # rows a query may return
MAX_QUERY = 20_000  # characters

# What a query may do: read, and compute. Everything else (writes, ATTACH, PRAGMA,
# transactions, creating anything) is refused when the statement is prepared.
READ_ONLY = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
             sqlite3.SQLITE_RECURSIVE}
# Making the database from the recipe: tables, indexes, views and rows only.
BUILD = READ_ONLY | {sqlite3.SQLITE_CREATE_TABLE, sqlite3.SQLITE_CREATE_INDEX,
                     sqlite3.SQLITE_CREATE_VIEW, sqlite3.SQLITE_INSERT}
REFUSED_FUNCTIONS = {"load_extension"}


def _allow(allowed: set[int], catalogue: bool = False):
    """An authorizer that allows these actions only (with `catalogue`, also the updates
    of sqlite_master that creating a table makes)."""
    def authorizer(action: int, arg1: str | None, _arg2: str | None, _db: str | None,
                   _trigger: str | None) -> int:
        if action == sqlite3.SQLITE_FUNCTION and (arg1 or "").lower() in REFUSED_FUNCTIONS:
            return sqlite3.SQLITE_DENY
        if catalogue and action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master":
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_OK if action in allowed else sqlite3.SQLITE_DENY
    return authorizer


class SQLite(Verifier):
    name = "sqlite"
    version = "1"
    description = ("the query compiles against the recipe's schema in a fresh read-only "
                   "database; given rows, it returns at least one")
    options = {
        "schema": "CREATE TABLE statements the query runs against (required)",
        "rows": "INSERT statements to fill the tables; then the query must return a row",
        "steps": f"the step budget of one query (default {STEPS:,})",
    }

    def __init__(self, options: Mapping[str, Any]) -> None:
        super().__init__(options)
        schema, rows = self.settings.get("schema"), self.settings.get("rows", "")
        if not isinstance(schema, str) or not schema.strip():
            raise BareError("needs `schema`, the CREATE TABLE statements of the database")
        if not isinstance(rows, str):
            raise BareError("`rows` must be text: INSERT statements")
        steps = self.settings.get("steps", STEPS)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1000:
            raise BareError("`steps` must be a whole number of at least 1000")
        self.schema, self.rows, self.steps = schema, rows, steps
        self.database()  # a schema that does not build is the recipe's error, said now

    def database(self) -> sqlite3.Connection:
        """A fresh in-memory database with the recipe's tables (and rows)."""
        conn = sqlite3.connect(":memory:", isolation_level=None)
        conn.set_authorizer(_allow(BUILD, catalogue=True))
        try:
            conn.executescript(self.schema + "\n;\n" + self.rows)
        except sqlite3.Error as exc:
            conn.close()
            raise BareError(f"the schema or rows do not build: {exc}") from None
        conn.set_authorizer(_allow(READ_ONLY))
        return conn

    def explain(self, exc: Exception, out_of_steps: bool) -> str:
        message = str(exc)
        if out_of_steps:
            return (f"the query ran past its step budget ({self.steps:,} steps): a query "
                    "that never ends?")
        if "one statement at a time" in message:
            return "more than one statement: a query is one SELECT"
        if "not authorized" in message or "authorization denied" in message:
            return "not a read: writes, ATTACH, PRAGMA and the like are refused"
        return f"does not run on the schema: {message}"

    def problems(self, text: str, item: Mapping[str, str]) -> list[str]:
        query = text.strip().rstrip(";").strip()
        if not query:
            return ["the query is empty"]
        if len(query) > MAX_QUERY:
            return [f"the query is {len(query):,} characters (at most {MAX_QUERY:,})"]
        conn = self.database()
        budget = [self.steps // 1000]

        def tick() -> int:
            budget[0] -= 1
            return 1 if budget[0] < 0 else 0  # nonzero interrupts the query

        conn.set_progress_handler(tick, 1000)
        try:
            cursor = conn.execute(query)
            rows = cursor.fetchmany(ROWS + 1)
        except (sqlite3.Error, sqlite3.Warning) as exc:
            return [self.explain(exc, budget[0] < 0)]
        finally:
            conn.close()
        if len(rows) > ROWS:
            return [f"the query returns more than {ROWS:,} rows"]
        if self.rows.strip() and not rows:
            return ["the query returns no row on the recipe's rows"]
        return []
