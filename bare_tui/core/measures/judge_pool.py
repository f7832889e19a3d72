"""The real items an IR lineup draws from (core/measures/judge.py).

By default the task's own seeds, less each judged item's shots (a draft that paraphrases
a shot must not stand beside it). A pool file (`--judge-pool FILE`, or the recipe's
`[judge] pool`, a shipped set such as the GSM8K train split) holds real items of the
task's fields; every item of it equal to one of the task's seeds is left out, since any
seed may be a shot. A pool file is kept in the workspace as the seeds of a task of its own
(`gsm8k~pool-<sha256 of the file>`), so a trial's lineup names rows that stay.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from bare_tui.core.inputs.recipes import Recipe
from bare_tui.core.inputs.seeds import content_sha256, read_seeds
from bare_tui.core.measures.decontam import set_path
from bare_tui.core.workspace.store import Store
from bare_tui.core.workspace.values import from_json, now, to_json
from bare_tui.errors import BareError

POOL_MARK = "~pool-"  # task names cannot hold "~": a pool never clashes with a recipe


@dataclass(frozen=True)
class Pool:
    name: str  # what reports call it: "the task's seeds", a shipped set's name, a file
    items: dict[int, dict[str, str]]  # id (a row of `seeds`) -> fields
    hashes: dict[int, str]  # id -> content sha256
    own: bool  # the task's own seeds: each item's shots are left out per item
    left_out: frozenset[int]  # items never drawn (a pool file's copies of the seeds)

    def drawable(self) -> list[int]:
        return sorted(set(self.items) - self.left_out)

    def describe(self) -> str:
        drawn = len(self.items) - len(self.left_out)
        out = (f", {len(self.left_out)} equal to the task's seeds left out"
               if self.left_out else "")
        return f"{self.name} ({drawn:,} real items{out})"


def load(store: Store, task: Recipe, spec: str | None = None) -> Pool:
    """The pool `spec` names (a file, or a shipped set by name), else the recipe's
    default, else the task's own seeds."""
    spec = spec or task.judge_pool
    if not spec:
        return _of(store, task.name, "the task's seeds", own=True, seeds=set())
    path = set_path(spec)
    data = path.read_bytes()
    name = f"{task.name}{POOL_MARK}{hashlib.sha256(data).hexdigest()[:12]}"
    if not store.scalar("SELECT count(*) FROM seeds WHERE task = ?", (name,)):
        records = read_seeds(path, task, what="judge pool").records
        with store.transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO seeds (task, fields, source, content_sha256, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [(name, to_json(fields), where, content_sha256(fields), now())
                 for fields, where in records])
    seeds = {row[0] for row in store.conn.execute(
        "SELECT content_sha256 FROM seeds WHERE task = ?", (task.name,))}
    shown = spec if not Path(spec).is_file() else str(path)
    return _of(store, name, shown, own=False, seeds=seeds)


def _of(store: Store, pool_task: str, name: str, *, own: bool, seeds: set[str]) -> Pool:
    items, hashes = {}, {}
    for row in store.query("SELECT id, fields, content_sha256 FROM seeds WHERE task = ?"
                           " ORDER BY id", (pool_task,)):
        items[row["id"]] = from_json(row["fields"])
        hashes[row["id"]] = row["content_sha256"]
    if not items:
        raise BareError(f"the judge's pool {name} holds no item")
    left_out = frozenset(ref for ref, sha in hashes.items() if sha in seeds)
    return Pool(name, items, hashes, own, left_out)


def shots_of(store: Store, task: str, candidate_ids: set[int]) -> dict[int, set[str]]:
    """{candidate: the content sha256 of each of its shots}."""
    if not candidate_ids:
        return {}
    seeds = {row[0]: row[1] for row in store.conn.execute(
        "SELECT id, content_sha256 FROM seeds WHERE task = ?", (task,))}
    shots: dict[int, set[str]] = {}
    for candidate_id, shot_ids in store.conn.execute(
            "SELECT id, shot_ids FROM candidates WHERE task = ?", (task,)):
        if candidate_id in candidate_ids:
            shots[candidate_id] = {seeds[ref] for ref in from_json(shot_ids or "[]")
                                   if ref in seeds}
    return shots
