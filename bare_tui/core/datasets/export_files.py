"""Where an export's files go, and writing them all or none.

An export is its data (one file per split, JSONL or Parquet), a manifest and a dataset
card. OUT names either a data file (`out/train.jsonl`: the manifest is
`train.manifest.json` beside it, splits are `train-<split>.jsonl`) or a folder
(`out/gsm8k`: `<split>.jsonl`, `manifest.json`). The card is the folder's README.md, as
dataset hubs expect; a README.md that is not one of our cards is never replaced (the
card is then `<stem>.README.md`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bare_tui.core.inputs import tables
from bare_tui.core.workspace.store import Store
from bare_tui.errors import BareError
from bare_tui.text import shown_path

FORMATS = {".jsonl": "jsonl", ".parquet": "parquet"}
# The line after a card's front matter that says an export wrote it (and the next may
# replace it); cards of earlier versions carry the first mark, in their front matter.
CARD_MARK = "<!-- dataset card written by bare-tui export -->"
CARD_MARKS = ("# dataset card written by bare-tui export", CARD_MARK)


class FileExists(BareError):
    """The export would replace an existing file and was not told to."""


@dataclass(frozen=True)
class Layout:
    folder: Path
    data: dict[str, Path]  # split name -> its file
    manifest: Path
    card: Path
    format: str
    new_folder: bool  # the folder is made by this export

    def files(self) -> list[Path]:
        return [*self.data.values(), self.manifest]


def plan(out: str | Path, splits: list[str], format: str | None = None) -> Layout:
    """The files an export to `out` writes, in the format asked or named by its suffix."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix in FORMATS and not out.is_dir():
        if format and format != FORMATS[suffix]:
            raise BareError(f"{out} ends in {out.suffix} but --format is {format}; "
                            "make them agree")
        format = FORMATS[suffix]
        if len(splits) == 1:
            data = {splits[0]: out}
        else:
            data = {name: out.with_name(f"{out.stem}-{name}{out.suffix}") for name in splits}
        folder, manifest, stem = out.parent, out.with_name(out.stem + ".manifest.json"), out.stem
        must_exist = folder
    elif out.is_dir() or (not out.exists() and not out.suffix):
        format = format or "jsonl"
        folder, stem = out, "dataset"
        data = {name: out / f"{name}.{format}" for name in splits}
        manifest = out / "manifest.json"
        must_exist = out.parent
    else:
        raise BareError(f"export to {out}: give a .jsonl or .parquet file name, or a "
                        "folder (a name without a suffix)")
    if not must_exist.is_dir():
        raise BareError(f"cannot write {out}: folder {must_exist} does not exist")
    card = folder / "README.md"
    if card.exists() and not (is_ours(card) and manifest.exists()):
        # Not ours, or the card of another export in this folder: a card of its own.
        card = folder / f"{stem}.README.md"
    return Layout(folder, data, manifest, card, format, not folder.exists())


def is_ours(card: Path) -> bool:
    """No file there, or a dataset card an export wrote (the next one may replace it)."""
    if not card.exists():
        return True
    try:
        with card.open(encoding="utf-8", errors="replace") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return any(mark in head for mark in CARD_MARKS)


def _workspace_files(store: Store) -> list[Path]:
    return [store.path, *(store.path.with_name(store.path.name + end)
                          for end in ("-wal", "-shm", "-journal"))]


def _same_file(path: Path, other: Path) -> bool:
    try:
        return os.path.samefile(path, other)
    except OSError:  # one of them does not exist (yet)
        return path.resolve() == other.resolve()


def refuse_special(store: Store, target: Path, *, folder: bool = False) -> None:
    """Refuse the workspace, a link, and what is not a regular file (a device, a pipe;
    a folder too, unless `folder`)."""
    if any(_same_file(target, kept) for kept in _workspace_files(store)):
        raise BareError(f"refusing to export to {target}: it is the workspace "
                        f"{store.path}; choose another file name")
    if target.is_symlink() or (target.exists() and not target.is_file()
                               and not (folder and target.is_dir())):
        raise BareError(f"refusing to export to {target}: it is not a regular file")


def check_target(store: Store, layout: Layout, *, force: bool = False) -> None:
    """An export's targets: `check_targets` for its data, manifest and card, and a card
    that is not ours is never replaced."""
    if layout.card.exists() and not is_ours(layout.card):
        raise FileExists(f"{layout.card} exists and is not a dataset card of ours; "
                         "move it, or choose another name")
    check_targets(store, [*layout.files(), layout.card], force=force,
                  new_folder=layout.folder if layout.new_folder else None)


def check_targets(store: Store, targets: list[Path], *, force: bool = False,
                  new_folder: Path | None = None) -> None:
    """What every command that writes files checks first (export, compare's report):
    never the workspace, a link or what is not a regular file; a folder that exists
    (or `new_folder`, made by the command) and takes new files; and no existing file
    replaced without `force`."""
    for target in targets:
        refuse_special(store, target)
    for folder in {target.parent for target in targets}:
        if folder == new_folder:
            _probe(folder.parent)
        elif folder.is_dir():
            _probe(folder)
        else:
            raise BareError(f"cannot write in {shown_path(folder)}: no such folder")
    existing = [shown_path(target) for target in targets if target.exists()]
    if existing and not force:
        raise FileExists(f"{' and '.join(existing)} already exist"
                         f"{'s' if len(existing) == 1 else ''}; pass --force to replace, "
                         "or choose another name")


def _probe(folder: Path) -> None:
    """Fail now, before any slow work, when the folder takes no new files."""
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".bare-tui-probe."):
            pass
    except OSError as exc:
        raise BareError(f"cannot write in {folder}: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class Written:
    """A data file written beside its target under a temporary name, not yet in place."""

    temp: Path
    sha256: str
    rows: int


ROWS_PER_BATCH = 5_000  # Parquet rows encoded at a time


def write_rows(target: Path, rows: Iterable[dict[str, Any]], format: str,
               empty_row: dict[str, Any]) -> Written:
    """Stream the rows into a temporary file beside `target` (JSONL, or Parquet a batch
    at a time; `empty_row` gives the columns of an empty table), synced, with the mode a
    new file gets; memory holds one batch, never the whole set."""
    handle = _temp_handle(target)
    temp = Path(handle.name)
    digest = hashlib.sha256()
    count = 0
    try:
        with handle:
            if format == "jsonl":
                for row in rows:
                    line = (json.dumps(row, ensure_ascii=False) + "\n").encode()
                    digest.update(line)
                    handle.write(line)
                    count += 1
            else:
                count = _write_parquet(handle, rows, empty_row)
            _finish(handle)
        if format != "jsonl":
            digest = _file_digest(temp)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise BareError(f"cannot write {shown_path(target)}: {exc.strerror or exc}") from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return Written(temp, digest.hexdigest(), count)


def _write_parquet(handle: Any, rows: Iterable[dict[str, Any]],
                   empty_row: dict[str, Any]) -> int:
    pa, pq = parquet_modules()
    schema = None
    writer = None
    count = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal schema, writer
        table = (pa.Table.from_pylist(batch) if schema is None
                 else pa.Table.from_pylist(batch, schema=schema))
        if writer is None:
            schema = table.schema
            writer = pq.ParquetWriter(handle, schema)
        writer.write_table(table)
        batch.clear()

    for row in rows:
        batch.append(row)
        count += 1
        if len(batch) == ROWS_PER_BATCH:
            flush()
    if batch:
        flush()
    if writer is None:  # no row: an empty table with the profile's columns
        table = pa.Table.from_pylist([empty_row]).slice(0, 0)
        writer = pq.ParquetWriter(handle, table.schema)
        writer.write_table(table)
    writer.close()
    return count


def _file_digest(path: Path) -> Any:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest


def parquet_modules() -> tuple[Any, Any]:
    pa = tables.pyarrow_module("--format parquet")
    return pa, pa.parquet


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temp_handle(path: Path) -> Any:
    try:
        return tempfile.NamedTemporaryFile("wb", dir=path.parent, prefix=f".{path.name}.",
                                           delete=False)
    except OSError as exc:
        raise BareError(f"cannot write {shown_path(path)}: {exc.strerror or exc}") from None


def _finish(handle: Any) -> None:
    """Flush and sync a temp file; mkstemp creates 0600, and the export is a file like
    any other the user writes."""
    handle.flush()
    os.fchmod(handle.fileno(), 0o666 & ~_umask())
    os.fsync(handle.fileno())


def _temp_file(path: Path, data: bytes) -> Path:
    """The data in a temp file beside `path`, synced, with the mode a new file gets."""
    handle = _temp_handle(path)
    temp = Path(handle.name)
    try:
        with handle:
            handle.write(data)
            _finish(handle)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise BareError(f"cannot write {shown_path(path)}: {exc.strerror or exc}") from None
    return temp


@dataclass
class Placed:
    """Files renamed into place, with the files they replaced kept aside until the
    workspace has recorded them: `keep` drops what was replaced, `undo` puts it back."""

    new: list[Path]  # files that did not exist before
    replaced: dict[Path, Path]  # file: what it was, kept aside
    made_folder: Path | None = None

    def keep(self) -> None:
        for kept in self.replaced.values():
            kept.unlink(missing_ok=True)

    def undo(self) -> None:
        for path, kept in self.replaced.items():
            os.replace(kept, path)
        for path in self.new:
            path.unlink(missing_ok=True)
        if self.made_folder is not None:
            with contextlib.suppress(OSError):
                self.made_folder.rmdir()


def make_folder(folder: Path) -> Path:
    """Make an export's new folder (before its files are written into it)."""
    try:
        folder.mkdir()
    except OSError as exc:
        raise BareError(f"cannot make folder {shown_path(folder)}: "
                        f"{exc.strerror or exc}") from None
    return folder


def place(files: dict[Path, bytes | Written], made_folder: Path | None = None) -> Placed:
    """Write every file to a temp file first (a `Written` one is already), then rename
    them all into place: a failure while writing (a full disk, a kill) leaves the old
    files as they were and no temp file; readers never see half a file. The files
    replaced are kept aside (`Placed`). `made_folder`: a folder the caller made for them
    (removed on `undo`)."""
    placed = Placed([], {}, made_folder)
    temps: dict[Path, Path] = {}
    try:
        for path, data in files.items():
            temps[path] = data.temp if isinstance(data, Written) else _temp_file(path, data)
        for path, temp in temps.items():
            if path.exists():
                placed.replaced[path] = _aside(path)
            else:
                placed.new.append(path)
            os.replace(temp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):  # the first error is the one to report
            placed.undo()
        if isinstance(exc, OSError):
            raise BareError(f"cannot write {shown_path(path)}: {exc.strerror or exc}"
                            ) from None
        raise
    finally:
        for temp in temps.values():
            temp.unlink(missing_ok=True)
    return placed


def write_files(files: dict[Path, bytes]) -> None:
    """`place` the files, with nothing to wait for before the replaced ones go."""
    place(files).keep()


def _aside(path: Path) -> Path:
    """`path` renamed to a new hidden name beside it."""
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.before.")
    os.close(handle)
    try:
        os.replace(path, name)
    except OSError:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)
