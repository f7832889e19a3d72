"""Records from columnar files: Parquet (our own exports among them), Arrow files, and a
folder a Hugging Face dataset was saved to (`Dataset.save_to_disk`: state.json naming its
Arrow files). Read a batch at a time through pyarrow (the optional extra that Parquet
exports use), row by row as dicts, so core/inputs/seeds.py checks them like JSONL
records. A column a field is read from must hold text: a number, a list or a struct
there is a one-line error before any row is read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from bare_tui.errors import BareError
from bare_tui.text import shown_path

BATCH = 4_096  # rows read at a time
# Columns a chat-like record of ours is read from (through the recipe's templates):
# nested by nature, so never refused for it.
CHAT_COLUMNS = {"messages", "conversations"}


def pyarrow_module(needed_for: str = "reading Parquet or Arrow") -> Any:
    """pyarrow with its parquet and ipc modules loaded, or one line on how to get it."""
    try:
        import pyarrow as pa
        import pyarrow.ipc  # noqa: F401  (loads pa.ipc)
        import pyarrow.parquet  # noqa: F401  (loads pa.parquet)
    except ImportError:
        raise BareError(f"{needed_for} needs pyarrow: pip install 'bare-tui[parquet]' "
                        "(or pip install pyarrow)") from None
    return pa


def is_saved_dataset(path: Path) -> bool:
    return path.is_dir() and ((path / "state.json").is_file()
                              or (path / "dataset_dict.json").is_file())


def _saved_files(folder: Path) -> list[Path]:
    """The Arrow files of a folder `save_to_disk` wrote, in order."""
    shown = shown_path(folder)
    if (folder / "dataset_dict.json").is_file():
        try:
            splits = json.loads((folder / "dataset_dict.json").read_text())["splits"]
        except (OSError, ValueError, KeyError, TypeError):
            splits = ["?"]
        raise BareError(f"{shown} holds a dataset with splits ({', '.join(map(str, splits))}):"
                        f" import one split's folder, e.g. {shown_path(folder / str(splits[0]))}")
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        names = [entry["filename"] for entry in state["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError):
        raise BareError(f"{shown}/state.json does not name the dataset's Arrow files (is "
                        "this a folder datasets' save_to_disk wrote?)") from None
    files = []
    for name in names:
        path = folder / str(name)
        if Path(str(name)).name != str(name) or not path.is_file():
            raise BareError(f"{shown}/state.json names {name!r}, which is not a file of the "
                            "folder")
        files.append(path)
    return files


def _open_arrow(pa: Any, path: Path) -> Any:
    """A reader of an Arrow file: the stream format `datasets` writes, or the file
    format."""
    source = pa.memory_map(str(path))
    try:
        return pa.ipc.open_stream(source)
    except pa.ArrowInvalid:
        try:
            return pa.ipc.open_file(source)
        except pa.ArrowInvalid:
            raise BareError(f"{shown_path(path)}: not an Arrow file") from None


def _batches(pa: Any, path: Path, kind: str) -> tuple[Any, Iterable[Any]]:
    """(schema, record batches) of one file."""
    if kind == "parquet":
        try:
            parquet = pa.parquet.ParquetFile(str(path))
        except (pa.ArrowException, OSError) as exc:
            raise BareError(f"{shown_path(path)}: not a Parquet file ({exc})") from None
        return parquet.schema_arrow, parquet.iter_batches(batch_size=BATCH)
    reader = _open_arrow(pa, path)
    if hasattr(reader, "num_record_batches"):  # the file format
        return reader.schema, (reader.get_batch(i) for i in range(reader.num_record_batches))
    return reader.schema, reader


def check_columns(pa: Any, schema: Any, columns: Iterable[str], shown: str) -> None:
    """Refuse a column a field is read from that holds something other than text."""
    for name in columns:
        index = schema.get_field_index(name)
        if index < 0:
            continue  # a missing column is said per row, with what the row has
        kind = schema.field(index).type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if pa.types.is_nested(kind):
            raise BareError(f"{shown}: column {name!r} is nested ({kind}), not text; map a "
                            "text column with --map FIELD=COLUMN")
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)
                or pa.types.is_null(kind)):
            raise BareError(f"{shown}: column {name!r} holds {kind}, not text; convert it "
                            "to strings, or map a text column with --map FIELD=COLUMN")


def records(path: Path, kind: str, columns: Iterable[str]) -> Iterator[tuple[int, Any]]:
    """(row number from 1, record) of a Parquet file, an Arrow file or a saved dataset
    folder; `columns` are those the task's fields are read from."""
    pa = pyarrow_module()
    shown = shown_path(path)
    files = _saved_files(path) if kind == "dataset" else [path]
    columns = [c for c in columns if c not in CHAT_COLUMNS]
    number = 0
    for file in files:
        try:
            schema, batches = _batches(pa, file, "arrow" if kind == "dataset" else kind)
            check_columns(pa, schema, columns, shown)
            for batch in batches:
                for row in batch.to_pylist():
                    number += 1
                    yield number, row
        except (pa.ArrowException, OSError) as exc:
            raise BareError(f"{shown}: cannot read row {number + 1}: {exc}") from None
