"""Curate an existing dataset: the items of a JSONL or CSV file become candidates.

Any source will do: another generator, a scrape, or an export of ours in any of its
profiles (fields, chat, alpaca, sharegpt), read back through the recipe's [export]
templates. Each item records where it came from (file, line, the file's sha256), is
checked like a draft, and is reviewed, embedded, clustered and refined like one. An
item already in the task (a seed, or an imported candidate with the same fields) is
skipped, so importing a file twice adds nothing. The whole file is read first: a bad
line imports nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Formatter
from typing import Any

from bare_tui.core.generation.model_files import file_sha256
from bare_tui.core.inputs import verifying
from bare_tui.core.inputs.prompts import render_example
from bare_tui.core.inputs.recipes import Recipe
from bare_tui.core.inputs.seeds import content_sha256, read_seeds
from bare_tui.core.inputs.validation import validate
from bare_tui.core.workspace.store import Store, now, to_json
from bare_tui.text import shown_path

IMPORT_KIND = "import"  # the runs row of an import
CHUNK = 2_000  # items per transaction


@dataclass(frozen=True)
class ImportResult:
    added: int
    duplicates: int  # already imported into the task
    seeds: int  # the same as one of the task's seeds
    failing: int  # added, but failing the recipe's checks
    skipped: tuple[str, ...] = ()  # with skip_invalid: "file:line: why" per record left out


def template_pattern(template: str) -> re.Pattern[str]:
    """A template ("Solve: {question}") as a pattern that reads its fields back out of
    a filled one; a field that comes twice must be the same text both times."""
    parts, seen = [], set()
    for literal, name, _spec, _conversion in Formatter().parse(template):
        parts.append(re.escape(literal))
        if name is None:
            continue
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.*?)")
        seen.add(name)
    return re.compile("".join(parts), re.S)


def _turns(record: Mapping[str, Any]) -> dict[str, str] | None:
    """System, user and assistant text of a record in one of the chat-like profiles."""
    if isinstance(record.get("messages"), list):  # chat
        turns = {m["role"]: m.get("content") for m in record["messages"]
                 if isinstance(m, dict) and isinstance(m.get("role"), str)}
    elif isinstance(record.get("conversations"), list):  # sharegpt
        roles = {"system": "system", "human": "user", "gpt": "assistant"}
        turns = {roles.get(m["from"]): m.get("value") for m in record["conversations"]
                 if isinstance(m, dict) and isinstance(m.get("from"), str)}
        if isinstance(record.get("system"), str):
            turns.setdefault("system", record["system"])
    elif "instruction" in record and "output" in record:  # alpaca
        user = "\n\n".join(str(record[key]) for key in ("instruction", "input")
                           if record.get(key))
        turns = {"user": user, "assistant": record["output"], "system": record.get("system")}
    else:
        return None
    return {role: text for role, text in turns.items() if isinstance(text, str)}


def unpacker(task: Recipe):
    """The function that turns a record into the task's fields where the record is in a
    chat-like profile (through the [export] templates); other records pass as they are,
    their columns named as the fields or mapped with --map."""
    patterns = {role: template_pattern(template) for role, template in task.export.items()
                if role in ("system", "user", "assistant")}

    def unpack(record: dict[str, Any]) -> dict[str, Any]:
        turns = _turns(record)
        if turns is None:
            return record
        fields: dict[str, Any] = {}
        for role, pattern in patterns.items():
            match = pattern.fullmatch(turns.get(role, ""))
            if match:
                fields.update(match.groupdict())
        return fields

    return unpack


def import_candidates(store: Store, task: Recipe, path: str | Path,
                      mapping: Mapping[str, str] | None = None, *,
                      skip_invalid: bool = False) -> ImportResult:
    """Add the file's items as candidates of `task`, in transactions of `CHUNK` items:
    another process (a review window) waits for one chunk at most, never for the whole
    file. Stopped half-way, an import is finished by running it again (what it added
    is skipped as already imported). A record that cannot be read stops the import before
    anything is added, unless `skip_invalid` leaves it out (and lists it)."""
    path = Path(path)
    shown = shown_path(path)
    read = read_seeds(path, task, mapping, unpack=unpacker(task), what="dataset",
                      skip_invalid=skip_invalid)
    items = read.records
    file_hash = file_sha256(path, None)  # hashed once per import: nothing to remember
    known_seeds = {row[0] for row in store.conn.execute(
        "SELECT content_sha256 FROM seeds WHERE task = ?", (task.name,))}
    added = duplicates = seeds = failing = 0
    run_id = store.start_run({
        "kind": IMPORT_KIND, "task": task.name, "model": shown_path(path.name),
        "model_path": shown, "model_sha256": file_hash,
        "params": {"file": shown, "mapping": dict(mapping or {})},
        "recipe_sha256": task.sha256})
    try:
        for start in range(0, len(items), CHUNK):
            with store.transaction() as conn:
                for fields, where in items[start:start + CHUNK]:
                    digest = content_sha256(fields)
                    if digest in known_seeds:
                        seeds += 1
                        continue
                    problems = validate(task, fields)
                    verdict = verifying.verify(task, fields).columns()
                    line = int(where.rsplit(":", 1)[1])
                    cursor = conn.execute(
                        "INSERT OR IGNORE INTO candidates (task, shot_ids, run_id, raw_text,"
                        " fields, validation, valid, finish_reason, prompt_tokens,"
                        " completion_tokens, ms, created_at, origin, content_sha256,"
                        " verified, verification)"
                        " VALUES (?, '[]', ?, ?, ?, ?, ?, 'import', 0, 0, 0, ?, ?, ?, ?, ?)",
                        (task.name, run_id, render_example(task, fields), to_json(fields),
                         to_json(problems), int(not problems), now(),
                         json.dumps({"file": shown, "line": line, "sha256": file_hash}),
                         digest, verdict["verified"], verdict["verification"]))
                    added += cursor.rowcount
                    duplicates += 1 - cursor.rowcount
                    failing += cursor.rowcount and bool(problems)
                conn.execute("UPDATE runs SET produced = ? WHERE id = ?", (added, run_id))
    except BaseException as exc:
        store.finish_run(run_id, "interrupted" if isinstance(exc, KeyboardInterrupt)
                         else "failed", error=str(exc)[:500])
        raise
    store.finish_run(run_id, "done")
    return ImportResult(added, duplicates, seeds, failing, read.skipped)
