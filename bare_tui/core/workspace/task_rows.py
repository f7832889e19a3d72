"""The Store's methods for the rows of tasks, seeds and runs, and the candidate slots a
run claims: mixed into Store (core/workspace/store.py), whose connection and
transactions they use."""

from __future__ import annotations

import os
import socket
from typing import Any

from bare_tui.core.workspace.values import from_json, now, to_json


class TaskRows:
    """Mixed into Store: `self` has its `conn`, `transaction()`, `scalar`, `query`,
    `insert` and `update`."""

    # --- tasks -----------------------------------------------------------------

    def save_task(self, name: str, recipe: str, recipe_sha256: str) -> None:
        """Store a task's recipe as its current one; earlier versions stay in `recipes`."""
        with self.transaction():
            self.conn.execute(
                "INSERT INTO tasks (name, recipe, recipe_sha256, created_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET recipe = excluded.recipe,"
                " recipe_sha256 = excluded.recipe_sha256",
                (name, recipe, recipe_sha256, now()),
            )
            self.conn.execute(
                "INSERT OR IGNORE INTO recipes (task, sha256, recipe, created_at)"
                " VALUES (?, ?, ?, ?)", (name, recipe_sha256, recipe, now()))

    def task_sha256(self, name: str) -> str | None:
        return self.scalar("SELECT recipe_sha256 FROM tasks WHERE name = ?", (name,))

    def task_has_data(self, name: str) -> bool:
        return bool(self.scalar(
            "SELECT EXISTS (SELECT 1 FROM seeds WHERE task = ?)"
            " OR EXISTS (SELECT 1 FROM candidates WHERE task = ?)", (name, name)))

    def task_recipe(self, name: str) -> str | None:
        return self.scalar("SELECT recipe FROM tasks WHERE name = ?", (name,))

    def task_names(self) -> list[str]:
        """The tasks a curator works on; a comparison's arm tasks (their names hold a
        "~", which a recipe's cannot) are left out."""
        return [row["name"] for row in self.query(
            "SELECT name FROM tasks WHERE instr(name, '~') = 0 ORDER BY name")]

    # --- seeds -----------------------------------------------------------------

    def seeds(self, task: str) -> list[dict[str, Any]]:
        rows = self.query("SELECT id, fields FROM seeds WHERE task = ? ORDER BY id", (task,))
        return [{"id": row["id"], "fields": from_json(row["fields"])} for row in rows]

    # --- runs ------------------------------------------------------------------

    def start_run(self, row: dict[str, Any]) -> int:
        row = {
            **row, "status": "running", "produced": 0, "parse_failures": 0,
            "prompt_tokens": 0, "completion_tokens": 0, "generation_ms": 0.0, "reserved": 0,
            "started_at": now(), "pid": os.getpid(), "host": socket.gethostname(),
        }
        row["params"] = to_json(row.get("params"))
        with self.transaction():
            return self.insert("runs", row)

    def note_run(self, run_id: int, note: str) -> None:
        """Adds a line to a run's `notes` (in its params), such as that a server did not
        apply the output grammar."""
        with self.transaction():
            self.conn.execute(
                "UPDATE runs SET params = json_set(params, '$.notes', json_insert("
                "coalesce(json_extract(params, '$.notes'), json('[]')), '$[#]', ?))"
                " WHERE id = ?", (note, run_id))

    def finish_run(self, run_id: int, status: str, error: str | None = None) -> None:
        with self.transaction():
            self.update("runs", "id", run_id, {"status": status, "finished_at": now(),
                                               "error": error, "reserved": 0})

    def reserve_slot(self, task: str, run_id: int, target: int) -> int | None:
        """Claim one of the task's `target` candidate slots for a run, counting the
        candidates made and the slots other running jobs hold. Returns the sample's
        index in the task (each claim gets a new one), or None when every slot is taken.
        The claim is given back when the sample commits (`fill_slot`), when the run
        finishes, or when its process is found dead."""
        self.mark_interrupted_runs()
        with self.transaction():
            if self.taken_slots(task) >= target:
                return None
            self.conn.execute("UPDATE runs SET reserved = reserved + 1 WHERE id = ?", (run_id,))
            index = self.scalar("SELECT drafts_issued FROM tasks WHERE name = ?", (task,)) or 0
            self.conn.execute("UPDATE tasks SET drafts_issued = ? WHERE name = ?",
                              (index + 1, task))
            return int(index)

    def claim_draft(self, candidate_id: int, run_id: int) -> bool:
        """Claim a draft for a refine run: False when it has a refinement already, or a
        running job (another process too) claimed it; so no draft is refined twice."""
        with self.transaction():
            if self.scalar("SELECT 1 FROM refinements WHERE candidate_id = ?"
                           " AND alternative IS NULL", (candidate_id,)):
                return False
            if self.scalar("SELECT 1 FROM refine_claims c JOIN runs r ON r.id = c.run_id"
                           " WHERE c.candidate_id = ? AND c.run_id != ?"
                           " AND r.status = 'running'", (candidate_id, run_id)):
                return False
            self.conn.execute("INSERT OR REPLACE INTO refine_claims (candidate_id, run_id,"
                              " claimed_at) VALUES (?, ?, ?)", (candidate_id, run_id, now()))
            return True

    def filled_slots(self, task: str) -> int:
        """A task's candidates, a slot's re-drafts counted once with it."""
        return self.scalar("SELECT count(DISTINCT coalesce(sample_index, -id)) FROM candidates"
                           " WHERE task = ?", (task,))

    def taken_slots(self, task: str) -> int:
        """A task's filled slots plus the slots its running jobs have claimed."""
        return self.filled_slots(task) + self.scalar(
            "SELECT coalesce(sum(reserved), 0) FROM runs WHERE task = ? AND status = 'running'",
            (task,))

    def fill_slot(self, run_id: int) -> None:
        """A reserved slot became a candidate (call inside the sample's transaction)."""
        self.conn.execute("UPDATE runs SET reserved = max(reserved - 1, 0) WHERE id = ?",
                          (run_id,))

    def count_sample(self, run_id: int, prompt_tokens: int, completion_tokens: int,
                     ms: float, parsed: bool) -> None:
        """Add one sample to its run's counters (call inside the sample's transaction)."""
        self.conn.execute(
            "UPDATE runs SET produced = produced + 1, parse_failures = parse_failures + ?,"
            " prompt_tokens = prompt_tokens + ?, completion_tokens = completion_tokens + ?,"
            " generation_ms = generation_ms + ? WHERE id = ?",
            (0 if parsed else 1, prompt_tokens, completion_tokens, ms, run_id),
        )

    def mark_interrupted_runs(self, error: str | None = None) -> int:
        """Runs left 'running' by a process on this host that no longer exists: marked
        interrupted (with `error`, when the caller knows why), their slots given back."""
        host = socket.gethostname()
        stale = [
            row["id"]
            for row in self.query(
                "SELECT id, pid FROM runs WHERE status = 'running' AND host = ?", (host,)
            )
            if not _pid_alive(row["pid"])
        ]
        if stale:
            with self.transaction():
                for run_id in stale:
                    self.update("runs", "id", run_id, {"status": "interrupted", "reserved": 0,
                                                       "finished_at": now(), "error": error})
        return len(stale)


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
