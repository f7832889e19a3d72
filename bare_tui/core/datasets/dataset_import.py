"""Curate an existing dataset: the items of a JSONL or CSV file become candidates.

Any source will do: another generator, a scrape, or an export of ours in any of its
profiles (fields, chat, alpaca, sharegpt), read back through the recipe's [export]
templates. Each item records where it came from (file, line, the file's sha256), is
checked like a draft, and is reviewed, embedded, clustered and refined like one. An
item already in the task (a seed, or an imported candidate with the same fields) is
skipped, so importing a file twice adds nothing. The file is read as a stream and
written in chunks; a bad line, an error or a Ctrl-C takes back what the import added.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from string import Formatter
from typing import Any

from bare_tui.core.generation.model_files import file_sha256
from bare_tui.core.inputs import verifying
from bare_tui.core.inputs.prompts import render_example
from bare_tui.core.inputs.recipes import Recipe
from bare_tui.core.inputs.seeds import content_sha256, iter_fields
from bare_tui.core.inputs.validation import validate
from bare_tui.core.workspace.store import Store
from bare_tui.core.workspace.values import IN_IDS, ids_param, now, to_json
from bare_tui.text import shown_path

IMPORT_KIND = "import"  # the runs row of an import
CHUNK = 1_000  # items per transaction: the longest a review window waits for one
# Chunks between two copies of the write-ahead log into the file (up to some 400 MB of
# log): each copy writes the index pages the chunks touched once, not once per chunk,
# where they lie scattered over a file that grows (a million rows: a quarter less time).
CHECKPOINT_EVERY = 100


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
                      skip_invalid: bool = False,
                      on_progress: Callable[[int], None] | None = None) -> ImportResult:
    """Add the file's items as candidates of `task`, all or nothing, read as a stream:
    each chunk of `CHUNK` items is checked and verified first, then written in one short
    transaction, so another process (a review window) never waits long and memory stays
    flat. A record that cannot be read (unless `skip_invalid` leaves it out and lists it),
    an error or a Ctrl-C takes back what the import added (`roll_back`), in short
    transactions too. `on_progress(items read)` hears each chunk."""
    path = Path(path)
    shown = shown_path(path)
    records = iter_fields(path, task, mapping, unpack=unpacker(task), what="dataset",
                          skip_invalid=skip_invalid, skipped=(skipped := []))
    first = next(records)  # the file's type and columns are checked before the run starts
    file_hash = _source_sha256(path)
    known_seeds = {row[0] for row in store.conn.execute(
        "SELECT content_sha256 FROM seeds WHERE task = ?", (task.name,))}
    counts = {"added": 0, "duplicates": 0, "seeds": 0, "failing": 0}
    run_id = store.start_run({
        "kind": IMPORT_KIND, "task": task.name, "model": shown_path(path.name),
        "model_path": shown, "model_sha256": file_hash,
        "params": {"file": shown, "mapping": dict(mapping or {})},
        "recipe_sha256": task.sha256})
    read = 0
    automatic = store.autocheckpoint(0)
    try:
        for number, chunk in enumerate(_chunks(chain([first], records), CHUNK), 1):
            rows = [_row(task, fields, where, run_id, shown, file_hash)
                    for fields, where in chunk if not _is_seed(fields, known_seeds, counts)]
            with store.transaction() as conn:
                last = conn.execute("SELECT coalesce(max(id), 0) FROM candidates").fetchone()[0]
                # (Not escaped to ASCII: a lone surrogate fails to bind, as in a value of
                # its own, instead of reaching the table as bad UTF-8.)
                added = conn.execute(INSERT, (json.dumps(rows, ensure_ascii=False),)).rowcount
                counts["added"] += added
                counts["duplicates"] += len(rows) - added
                counts["failing"] += conn.execute(
                    "SELECT count(*) FROM candidates WHERE id > ? AND valid = 0",
                    (last,)).fetchone()[0]
                conn.execute("UPDATE runs SET produced = ? WHERE id = ?",
                             (counts["added"], run_id))
            read += len(chunk)
            if number % CHECKPOINT_EVERY == 0:
                store.checkpoint()
            if on_progress is not None:
                on_progress(read)
        store.checkpoint()
    except BaseException as exc:
        removed = roll_back(store, run_id)
        store.finish_run(run_id, "interrupted" if isinstance(exc, KeyboardInterrupt)
                         else "failed", error=f"{str(exc)[:400]} (rolled back: {removed} "
                         "candidates removed)")
        raise
    finally:
        with suppress(sqlite3.Error):  # (the workspace gone: what failed is said above)
            store.autocheckpoint(automatic)
    store.finish_run(run_id, "done")
    return ImportResult(counts["added"], counts["duplicates"], counts["seeds"],
                        counts["failing"], tuple(skipped))


# A chunk's rows go in as one statement, from a JSON array of `_row`s: the search
# index's trigger (core/workspace/migrations.py) then writes them to the index in one go.
# (Row by row, FTS5 writes its pending rows out at the end of every statement that
# fires the trigger, as measured with SQLite 3.40: 5 s more per 100,000 rows, and a
# merge of the many small pieces now and then, holding the lock.)
_COLUMNS = ("task", "run_id", "raw_text", "fields", "validation", "valid", "created_at",
            "origin", "content_sha256", "verified", "verification")
INSERT = (f"INSERT OR IGNORE INTO candidates ({', '.join(_COLUMNS)}, shot_ids,"
          " finish_reason, prompt_tokens, completion_tokens, ms) SELECT "
          + ", ".join(f"json_extract(row.value, '$[{i}]')" for i in range(len(_COLUMNS)))
          + ", '[]', 'import', 0, 0, 0 FROM json_each(?) row ORDER BY row.key")


def _source_sha256(path: Path) -> str:
    """The file's sha256; a saved dataset folder's is that of its files' hashes, in
    order of name."""
    if not path.is_dir():
        return file_sha256(path, None)
    files = sorted(p for p in path.iterdir() if p.is_file())
    joined = "\n".join(f"{p.name} {file_sha256(p, None)}" for p in files)
    return hashlib.sha256(joined.encode()).hexdigest()


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _is_seed(fields: dict[str, str], known_seeds: set[str], counts: dict[str, int]) -> bool:
    if content_sha256(fields) in known_seeds:
        counts["seeds"] += 1
        return True
    return False


def _row(task: Recipe, fields: dict[str, str], where: str, run_id: int, shown: str,
         file_hash: str | None) -> tuple[Any, ...]:
    """An item's candidates row (`_COLUMNS`), checked and verified (outside any
    transaction)."""
    problems = validate(task, fields)
    verdict = verifying.verify(task, fields).columns()
    line = int(where.rsplit(":", 1)[1])
    return (task.name, run_id, render_example(task, fields), to_json(fields),
            to_json(problems), int(not problems), now(),
            json.dumps({"file": shown, "line": line, "sha256": file_hash}),
            content_sha256(fields), verdict["verified"], verdict["verification"])


# What else may name a candidate an import added, should another job have touched it
# while the import ran (embedded it, clustered it, refined it, held it on a screen).
_DEPENDENTS = ("refinements", "clusters", "contamination", "judgments", "refine_claims")


def roll_back(store: Store, run_id: int) -> int:
    """Take back what an import run added, `CHUNK` candidates per short transaction;
    an item a curator has decided or exported meanwhile stays (its history is kept).
    Returns how many were removed."""
    removed = 0
    while True:
        with store.transaction() as conn:
            ids = [row[0] for row in conn.execute(
                "SELECT c.id FROM candidates c WHERE c.run_id = ? AND NOT EXISTS"
                " (SELECT 1 FROM events e WHERE e.candidate_id = c.id) AND NOT EXISTS"
                " (SELECT 1 FROM export_items x WHERE x.candidate_id = c.id) LIMIT ?",
                (run_id, CHUNK))]
            if not ids:
                return removed
            param = (ids_param(ids),)
            conn.execute("DELETE FROM embeddings WHERE kind = 'refined' AND ref_id IN"
                         f" (SELECT id FROM refinements WHERE candidate_id {IN_IDS})", param)
            conn.execute("DELETE FROM embeddings WHERE kind IN ('draft', 'final')"
                         f" AND ref_id {IN_IDS}", param)
            for table in _DEPENDENTS:
                conn.execute(f"DELETE FROM {table} WHERE candidate_id {IN_IDS}", param)
            conn.execute(f"UPDATE reviewing SET candidate_id = NULL WHERE candidate_id {IN_IDS}",
                         param)
            conn.execute(f"DELETE FROM candidates WHERE id {IN_IDS}", param)
            removed += len(ids)
