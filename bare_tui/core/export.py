"""Write the curated set as JSONL in a fine-tuning profile, atomically, with a manifest.

Profiles:
- fields:   the task's fields as one JSON object per line;
- chat:     OpenAI fine-tuning shape, {"messages": [system?, user, assistant]};
- alpaca:   {"instruction", "input", "output"} (+ "system");
- sharegpt: {"conversations": [{"from": "human"}, {"from": "gpt"}]} (+ "system").
The chat-like profiles map fields through the recipe's [export] templates.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bare_tui import __version__
from bare_tui.core import current, yields
from bare_tui.core.recipes import Task
from bare_tui.core.schema import fill
from bare_tui.core.store import Store, now, to_json
from bare_tui.core.validation import validate
from bare_tui.errors import BareError

PROFILES = ("fields", "chat", "alpaca", "sharegpt")
STATUS_FILTERS = current.STATUSES


@dataclass(frozen=True)
class ExportResult:
    path: Path
    manifest_path: Path
    written: int
    skipped_invalid: int
    skipped_unparsed: int


def _templates(task: Task, profile: str) -> dict[str, str]:
    if profile == "fields":
        return {}
    missing = [key for key in ("user", "assistant") if key not in task.export]
    if missing:
        raise BareError(
            f"profile {profile!r} needs an [export] section in task {task.name} with "
            f"'user' and 'assistant' templates (missing: {', '.join(missing)}); "
            "or use --profile fields"
        )
    return task.export


def shape(profile: str, fields: dict[str, str], templates: dict[str, str]) -> dict[str, Any]:
    if profile == "fields":
        return dict(fields)
    user = fill(templates["user"], fields)
    assistant = fill(templates["assistant"], fields)
    system = fill(templates["system"], fields) if "system" in templates else None
    if profile == "chat":
        messages = [{"role": "system", "content": system}] if system else []
        messages += [{"role": "user", "content": user},
                     {"role": "assistant", "content": assistant}]
        return {"messages": messages}
    if profile == "alpaca":
        item = {"instruction": user, "input": "", "output": assistant}
        return {**item, "system": system} if system else item
    if profile == "sharegpt":
        item: dict[str, Any] = {"conversations": [{"from": "human", "value": user},
                                                  {"from": "gpt", "value": assistant}]}
        return {**item, "system": system} if system else item
    raise BareError(f"unknown profile {profile!r} (choose from {', '.join(PROFILES)})")


def _models_used(store: Store, ids: list[int]) -> list[dict[str, Any]]:
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    return store.query(
        "SELECT DISTINCT kind, model, model_sha256 FROM runs WHERE id IN ("
        f" SELECT run_id FROM candidates WHERE id IN ({marks})"
        f" UNION SELECT run_id FROM refinements WHERE candidate_id IN ({marks}))"
        " ORDER BY kind, model",
        (*ids, *ids),
    )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _workspace_files(store: Store) -> list[Path]:
    return [store.path, *(store.path.with_name(store.path.name + end)
                          for end in ("-wal", "-shm", "-journal"))]


def check_target(store: Store, path: Path, *, force: bool = False) -> None:
    """Refuse an export path that would replace the workspace, something that is not a
    regular file (a device, a pipe, a folder), or, unless `force`, an existing file."""
    if path.is_dir():
        raise BareError(f"export path {path} is a folder; give a file name like {path}/out.jsonl")
    if not path.parent.is_dir():
        raise BareError(f"cannot write {path}: folder {path.parent} does not exist")
    manifest = manifest_path(path)
    for target in (path, manifest):
        if any(_same_file(target, kept) for kept in _workspace_files(store)):
            raise BareError(f"refusing to export to {target}: it is the workspace "
                            f"{store.path}; choose another file name")
        if target.is_symlink() or (target.exists() and not target.is_file()):
            raise BareError(f"refusing to export to {target}: it is not a regular file")
    existing = [str(target) for target in (path, manifest) if target.exists()]
    if existing and not force:
        raise FileExists(f"{' and '.join(existing)} already exist"
                         f"{'s' if len(existing) == 1 else ''}; pass --force to replace, "
                         "or choose another name")


def _same_file(path: Path, other: Path) -> bool:
    try:
        return os.path.samefile(path, other)
    except OSError:  # one of them does not exist (yet)
        return path.resolve() == other.resolve()


class FileExists(BareError):
    """The export would replace an existing file and was not told to."""


def manifest_path(path: Path) -> Path:
    return path.with_name(path.stem + ".manifest.json")


def _temp_file(path: Path, text: str) -> Path:
    """The text in a temp file beside `path`, synced, with the mode a new file gets."""
    try:
        handle = tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False
        )
    except OSError as exc:
        raise BareError(f"cannot write {path}: {exc.strerror or exc}") from None
    temp = Path(handle.name)
    try:
        with handle:
            handle.write(text)
            handle.flush()
            # mkstemp creates 0600; the export is a file like any other the user writes.
            os.fchmod(handle.fileno(), 0o666 & ~_umask())
            os.fsync(handle.fileno())
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise BareError(f"cannot write {path}: {exc.strerror or exc}") from None
    return temp


def write_together(files: dict[Path, str]) -> None:
    """Write every file to a temp file first, then rename them all: a failure while
    writing (a full disk, a kill) leaves the old files as they were and no temp file;
    readers never see half a file."""
    temps: dict[Path, Path] = {}
    try:
        for path, text in files.items():
            temps[path] = _temp_file(path, text)
        for path, temp in temps.items():
            os.replace(temp, path)
    except OSError as exc:
        raise BareError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        for temp in temps.values():
            temp.unlink(missing_ok=True)


def export(store: Store, task: Task, path: str | Path, *, profile: str = "chat",
           status: str = "accepted", include_invalid: bool = False,
           force: bool = False) -> ExportResult:
    """Write the JSONL and its manifest together; `force` replaces existing files."""
    path = Path(path)
    if profile not in PROFILES:
        raise BareError(f"unknown profile {profile!r} (choose from {', '.join(PROFILES)})")
    check_target(store, path, force=force)
    templates = _templates(task, profile)
    lines, ids = [], []
    skipped_invalid = skipped_unparsed = 0
    versions: dict[str, int] = {}
    for item in current.of_task(store, task.name, status):
        candidate_id, version, fields = item.id, item.final_version, item.final_fields
        if fields is None:
            skipped_unparsed += 1
            continue
        if not include_invalid and validate(task, fields):
            skipped_invalid += 1
            continue
        lines.append(json.dumps(shape(profile, fields, templates), ensure_ascii=False))
        ids.append(candidate_id)
        versions[version] = versions.get(version, 0) + 1
    text = "".join(line + "\n" for line in lines)
    digest = hashlib.sha256(text.encode()).hexdigest()
    manifest = {
        "file": path.name, "sha256": digest, "count": len(lines), "created_at": now(),
        "bare_tui_version": __version__, "task": task.name, "recipe_sha256": task.sha256,
        "profile": profile,
        "filters": {"status": status, "include_invalid": include_invalid},
        "skipped": {"invalid": skipped_invalid, "unparsed": skipped_unparsed},
        "versions": versions, "models": _models_used(store, ids),
        "yield": yields.measure(store, task.name).as_dict(), "candidate_ids": ids,
    }
    write_together({path: text, manifest_path(path): json.dumps(manifest, indent=2) + "\n"})
    with store.transaction():
        store.insert("exports", {
            "task": task.name, "path": str(path.resolve()), "profile": profile,
            "filters": to_json(manifest["filters"]), "count": len(lines), "sha256": digest,
            "created_at": now(),
        })
    return ExportResult(path, manifest_path(path), len(lines), skipped_invalid,
                        skipped_unparsed)
