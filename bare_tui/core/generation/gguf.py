"""Read the metadata of a GGUF file without loading the model.

Only the key/value header is read (through mmap, so large tokenizer arrays are skipped
cheaply); tensors are not touched. A file that is not GGUF, or is cut short, raises
GGUFError with a one-line reason.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path
from typing import Any

MAGIC = b"GGUF"

# GGUF value types -> struct format (scalars), 8 = string, 9 = array.
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
# Arrays longer than this (tokenizer vocabularies) are skipped, their length kept.
MAX_ARRAY_KEPT = 64
MAX_DEPTH = 8  # arrays of arrays: real files nest one level


class GGUFError(ValueError):
    pass


class _Reader:
    def __init__(self, buffer: mmap.mmap | bytes):
        self.buffer = buffer
        self.offset = 0

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.offset + size > len(self.buffer):
            raise GGUFError("file ends inside the metadata (truncated?)")
        (value,) = struct.unpack_from(fmt, self.buffer, self.offset)
        self.offset += size
        return value

    def string(self) -> str:
        length = self.unpack("<Q")
        end = self.offset + length
        if end > len(self.buffer):
            raise GGUFError("file ends inside the metadata (truncated?)")
        raw = self.buffer[self.offset:end]
        self.offset = end
        return raw.decode("utf-8", errors="replace")

    def value(self, kind: int, depth: int = 0) -> Any:
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            if depth >= MAX_DEPTH:
                raise GGUFError(f"metadata arrays nested over {MAX_DEPTH} deep")
            item_kind = self.unpack("<I")
            count = self.unpack("<Q")
            if count <= MAX_ARRAY_KEPT:
                return [self.value(item_kind, depth + 1) for _ in range(count)]
            self.skip(item_kind, count, depth + 1)
            return f"<array of {count}>"
        raise GGUFError(f"unknown metadata value type {kind} (corrupt file?)")

    def skip(self, kind: int, count: int, depth: int = 0) -> None:
        if kind in _SCALARS:
            self.offset += struct.calcsize(_SCALARS[kind]) * count
        elif kind == _STRING:
            for _ in range(count):
                (length,) = struct.unpack_from("<Q", self.buffer, self.offset)
                self.offset += 8 + length
        else:
            for _ in range(count):
                self.value(kind, depth)
                if self.offset > len(self.buffer):
                    break
        if self.offset > len(self.buffer):
            raise GGUFError("file ends inside the metadata (truncated?)")


def read_metadata(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    with path.open("rb") as handle:
        if handle.read(4) != MAGIC:
            raise GGUFError(f"{path} is not a GGUF file (wrong magic bytes)")
        handle.seek(0)
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
            try:
                return _parse(_Reader(buffer))
            except (GGUFError, struct.error) as exc:
                raise GGUFError(f"{path}: corrupt or truncated GGUF file ({exc})") from None


def _parse(reader: _Reader) -> dict[str, Any]:
    reader.offset = 4
    version = reader.unpack("<I")
    if version not in (2, 3):
        raise GGUFError(f"unsupported GGUF version {version}")
    reader.unpack("<Q")  # tensor count
    kv_count = reader.unpack("<Q")
    if kv_count > 1_000_000:
        raise GGUFError("corrupt GGUF header (absurd metadata count)")
    metadata: dict[str, Any] = {"GGUF.version": version}
    for _ in range(kv_count):
        key = reader.string()
        metadata[key] = reader.value(reader.unpack("<I"))
    return metadata
