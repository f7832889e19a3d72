"""Where an export's files go, and writing them all or none.

An export is its data (one file per split, JSONL or Parquet), a manifest and a dataset
card. OUT names either a data file (`out/train.jsonl`: the manifest is
`train.manifest.json` beside it, splits are `train-<split>.jsonl`) or a folder
(`out/gsm8k`: `<split>.jsonl`, `manifest.json`). The card is the folder's README.md, as
dataset hubs expect; a README.md that is not one of our cards is never replaced (the
card is then `<stem>.README.md`).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bare_tui.core.store import Store
from bare_tui.errors import BareError

FORMATS = {".jsonl": "jsonl", ".parquet": "parquet"}
CARD_MARK = "# dataset card written by bare-tui export"


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
    if not is_ours(card):
        card = folder / f"{stem}.README.md"
    return Layout(folder, data, manifest, card, format, not folder.exists())


def is_ours(card: Path) -> bool:
    """No file there, or a dataset card an export wrote (the next one may replace it)."""
    if not card.exists():
        return True
    try:
        with card.open(encoding="utf-8", errors="replace") as handle:
            return CARD_MARK in handle.read(4096)
    except OSError:
        return False


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
    """Refuse files that would replace the workspace or what is not a regular file, a
    card that is not ours, or, unless `force`, an existing data file or manifest."""
    for target in [*layout.files(), layout.card]:
        refuse_special(store, target)
    _probe(layout.folder if layout.folder.exists() else layout.folder.parent)
    if not is_ours(layout.card):
        raise FileExists(f"{layout.card} exists and is not a dataset card of ours; "
                         "move it, or choose another name")
    existing = [str(target) for target in layout.files() if target.exists()]
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


def encode(rows: list[dict[str, Any]], format: str, empty_row: dict[str, Any]) -> bytes:
    """The rows as JSONL or Parquet; `empty_row` gives the columns of an empty table."""
    if format == "jsonl":
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()
    pa, pq = parquet_modules()
    table = pa.Table.from_pylist(rows) if rows else pa.Table.from_pylist([empty_row]).slice(0, 0)
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def parquet_modules() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise BareError("--format parquet needs pyarrow: pip install 'bare-tui[parquet]' "
                        "(or pip install pyarrow)") from None
    return pa, pq


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temp_file(path: Path, data: bytes) -> Path:
    """The data in a temp file beside `path`, synced, with the mode a new file gets."""
    try:
        handle = tempfile.NamedTemporaryFile(
            "wb", dir=path.parent, prefix=f".{path.name}.", delete=False
        )
    except OSError as exc:
        raise BareError(f"cannot write {path}: {exc.strerror or exc}") from None
    temp = Path(handle.name)
    try:
        with handle:
            handle.write(data)
            handle.flush()
            # mkstemp creates 0600; the export is a file like any other the user writes.
            os.fchmod(handle.fileno(), 0o666 & ~_umask())
            os.fsync(handle.fileno())
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise BareError(f"cannot write {path}: {exc.strerror or exc}") from None
    return temp


def write_together(files: dict[Path, bytes]) -> None:
    """Write every file to a temp file first, then rename them all: a failure while
    writing (a full disk, a kill) leaves the old files as they were and no temp file;
    readers never see half a file."""
    temps: dict[Path, Path] = {}
    try:
        for path, data in files.items():
            temps[path] = _temp_file(path, data)
        for path, temp in temps.items():
            os.replace(temp, path)
    except OSError as exc:
        raise BareError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        for temp in temps.values():
            temp.unlink(missing_ok=True)
