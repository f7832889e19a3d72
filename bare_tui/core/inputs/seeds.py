"""Import real seed examples into a task, all or nothing: from JSONL, CSV or TSV, or from
Parquet, Arrow or a folder a Hugging Face dataset was saved to (core/inputs/tables.py).
The reader serves datasets brought in as candidates too (core/datasets/dataset_import.py)."""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bare_tui.core.inputs import tables
from bare_tui.core.inputs.recipes import Recipe
from bare_tui.core.workspace.store import Store
from bare_tui.core.workspace.values import now, to_json
from bare_tui.errors import BareError
from bare_tui.text import has_surrogates, shown_path

# A CSV field may be as long as a JSON string: the csv module's default stops at 128 KiB.
MAX_CSV_FIELD = min(sys.maxsize, 2**31 - 1)
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv",
           ".tsv": "tsv", ".parquet": "parquet", ".arrow": "arrow"}
COLUMNAR = ("parquet", "arrow", "dataset")  # read through pyarrow (core/inputs/tables.py)


@dataclass(frozen=True)
class ImportResult:
    added: int
    duplicates: int
    skipped: tuple[str, ...] = ()  # with skip_invalid: "file:line: why" per record left out


@dataclass(frozen=True)
class Read:
    """A file's records as fields, each with its 'file:line'; and, read with
    `skip_invalid`, the records left out, each as 'file:line: why'."""

    records: list[tuple[dict[str, str], str]]
    skipped: tuple[str, ...] = ()


class _BadLine(BareError):
    """One record that cannot be read; the rest of the file may still be."""


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    """`--map field=column` flags into {field: column}."""
    mapping = {}
    for pair in pairs:
        field_name, sep, column = pair.partition("=")
        if not sep or not field_name.strip() or not column.strip():
            raise BareError(f"bad --map {pair!r}: write it as FIELD=COLUMN, e.g. question=problem")
        mapping[field_name.strip()] = column.strip()
    return mapping


def _records(path: Path, kind: str, columns: list[str]) -> Iterator[tuple[int, Any]]:
    if kind in COLUMNAR:
        yield from tables.records(path, kind, columns)
        return
    shown = shown_path(path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        if kind == "jsonl":
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record: Any = json.loads(line)
                except RecursionError:
                    record = _BadLine(f"{shown}:{number}: JSON nested too deeply")
                except json.JSONDecodeError as exc:
                    # Some messages end in "at", waiting for the position.
                    record = _BadLine(f"{shown}:{number}: invalid JSON: "
                                      f"{exc.msg.removesuffix(' at')} at column {exc.colno}")
                except ValueError as exc:  # an integer of thousands of digits
                    record = _BadLine(f"{shown}:{number}: {str(exc).split(';')[0]}")
                yield number, record
        else:
            csv.field_size_limit(MAX_CSV_FIELD)
            reader = csv.DictReader(handle, delimiter="\t" if kind == "tsv" else ",")
            try:
                if not reader.fieldnames:
                    return
                for row in reader:
                    if None in row:
                        raise BareError(f"{shown}:{reader.line_num}: more values than the "
                                        "header has columns")
                    # a short row's missing values are missing, not null
                    yield reader.line_num, {k: v for k, v in row.items() if v is not None}
            except csv.Error as exc:
                raise BareError(f"{shown}:{reader.line_num}: {exc}") from None


def read_seeds(path: str | Path, task: Recipe, mapping: Mapping[str, str] | None = None, *,
               unpack: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
               what: str = "seed", skip_invalid: bool = False) -> Read:
    """Every record as fields with its 'file:line', or a BareError naming the first bad
    line; with `skip_invalid`, bad records are left out and listed instead (a file that
    cannot be read at all still fails). `unpack` turns a record into columns first (a
    chat-like profile into fields), `what` names the file in messages."""
    skipped: list[str] = []
    records = list(iter_fields(path, task, mapping, unpack=unpack, what=what,
                               skip_invalid=skip_invalid, skipped=skipped))
    return Read(records, tuple(skipped))


def iter_fields(path: str | Path, task: Recipe, mapping: Mapping[str, str] | None = None, *,
                unpack: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                what: str = "seed", skip_invalid: bool = False,
                skipped: list[str] | None = None) -> Iterator[tuple[dict[str, str], str]]:
    """`read_seeds` a record at a time, for files too large to hold: (fields, 'file:line')
    as they are read; records left out with `skip_invalid` go to `skipped`."""
    path = Path(path)
    shown = shown_path(path)
    mapping = dict(mapping or {})
    unknown = set(mapping) - set(task.field_names)
    if unknown:
        raise BareError(
            f"--map names unknown field {sorted(unknown)[0]!r}; task {task.name} has "
            f"fields {', '.join(task.field_names)}"
        )
    kind = "dataset" if tables.is_saved_dataset(path) else FORMATS.get(path.suffix.lower())
    if kind is None:
        raise BareError(f"{shown}: unknown {what} file type; use .jsonl, .csv, .tsv, "
                        ".parquet or .arrow, or a folder datasets' save_to_disk wrote")
    if kind != "dataset" and not path.is_file():
        raise BareError(f"{what} file not found: {shown}")
    columns = [mapping.get(name, name) for name in task.field_names]
    skipped = [] if skipped is None else skipped
    found = 0
    try:
        for number, record in _records(path, kind, columns):
            where = f"{shown}:{number}"
            try:
                fields = _fields(task, mapping, record, where, unpack)
            except _BadLine as exc:
                if not skip_invalid:
                    raise BareError(f"{exc}; --skip-invalid imports the other records and "
                                    "lists what it left out") from None
                skipped.append(str(exc))
                continue
            found += 1
            yield fields, where
    except UnicodeDecodeError as exc:
        raise BareError(f"{shown}: not UTF-8 text (bad byte at offset {exc.start})") from None
    except OSError as exc:
        raise BareError(f"cannot read {shown}: {exc.strerror or exc}") from None
    if not found:
        left = f" ({len(skipped)} left out as invalid, the first: {skipped[0]})" \
            if skipped else ""
        raise BareError(f"{shown}: no {what} records found{left}")


def _fields(task: Recipe, mapping: Mapping[str, str], record: Any, where: str,
            unpack: Callable[[dict[str, Any]], dict[str, Any]] | None) -> dict[str, str]:
    """One record's fields, or _BadLine saying what is wrong with it."""
    if isinstance(record, _BadLine):
        raise record
    if not isinstance(record, dict):
        raise _BadLine(f"{where}: expected a JSON object, got {type(record).__name__}")
    original = record
    if unpack is not None:
        record = unpack(record)
    fields = {}
    for name in task.field_names:
        column = mapping.get(name, name)
        value = record.get(column)
        if value is None or (isinstance(value, str) and not value.strip()):
            present = ", ".join(map(repr, original)) or "nothing"
            if record is not original:  # a chat-like record, read through templates
                raise _BadLine(
                    f"{where}: the record's turns (it has: {present}) do not fill "
                    f"field {name!r} through task {task.name}'s [export] templates")
            if isinstance(value, str):  # there, but blank: not "missing"
                raise _BadLine(f"{where}: field {column!r} is empty")
            if column in record:
                raise _BadLine(f"{where}: field {column!r} is null")
            raise _BadLine(f"{where}: missing field {column!r} (the record has: {present}); "
                           f"map a column with --map {name}=COLUMN")
        if isinstance(value, dict | list):
            raise _BadLine(f"{where}: field {column!r} must be text, not "
                           f"{type(value).__name__}")
        if isinstance(value, str) and has_surrogates(value):
            raise _BadLine(f"{where}: field {column!r} holds half of a character (a lone "
                           "surrogate such as \\ud83d, often a cut emoji); fix or drop "
                           "that record")
        fields[name] = str(value)
    return fields


def content_sha256(fields: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def import_seeds(store: Store, task: Recipe, path: str | Path,
                 mapping: Mapping[str, str] | None = None, *,
                 skip_invalid: bool = False) -> ImportResult:
    """Read the whole file first, then insert in one transaction: a bad line imports
    nothing, unless `skip_invalid` leaves it out (and lists it). Seeds already in the
    task (same fields) are skipped, so re-importing a file is harmless."""
    read = read_seeds(path, task, mapping, skip_invalid=skip_invalid)
    seeds = read.records
    added = 0
    with store.transaction() as conn:
        for fields, where in seeds:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO seeds (task, fields, source, content_sha256, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (task.name, to_json(fields), where, content_sha256(fields), now()),
            )
            added += cursor.rowcount
    return ImportResult(added=added, duplicates=len(seeds) - added, skipped=read.skipped)
