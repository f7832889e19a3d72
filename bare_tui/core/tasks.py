"""Task recipes: what a dataset item looks like and how to prompt for it, from TOML.

A recipe names the item's fields (in order), how one example is rendered in prompts, how
few-shot examples are chosen, the sampling parameters of both stages, per-field checks
and how fields map onto chat-style export profiles. Built-in recipes live in
`bare_tui/tasks/*.toml`; a user's recipe is any TOML file of the same shape.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from bare_tui.errors import BareError

SHOT_SELECTIONS = ("static", "random")
NAMED_CHECKS = ("nonempty", "number", "single_line")


@dataclass(frozen=True)
class Sampling:
    """Sampling parameters; the defaults follow the BARE paper (temperature 0.7, no
    top-k/top-p/min-p truncation, max_tokens 1000)."""

    temperature: float = 0.7
    top_p: float = 1.0
    top_k: int = 0
    min_p: float = 0.0
    repeat_penalty: float = 1.0
    max_tokens: int = 1000
    stop: tuple[str, ...] = ()
    # Constrain the output to the recipe's structure with a grammar (core/grammar.py);
    # `grammar` holds it once built (or a recipe's own, for the whole output).
    constrain: bool = False
    grammar: str | None = None

    def replace(self, **changes: Any) -> Sampling:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update({k: v for k, v in changes.items() if v is not None})
        return Sampling(**values)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in fields(self)}


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    description: str = ""
    checks: tuple[str, ...] = ()
    pattern: str | None = None
    pattern_hint: str | None = None
    one_of: tuple[str, ...] = ()
    max_chars: int | None = None
    grammar: str | None = None  # GBNF expression of the value (see core/grammar.py)


@dataclass(frozen=True)
class Task:
    name: str
    thing: str
    description: str
    fields: tuple[Field, ...]
    shot_count: int = 3
    shot_selection: str = "static"
    base: Sampling = Sampling(stop=("EXAMPLE DONE",))
    refine: Sampling = Sampling()
    refine_instruction: str = ""
    export: dict[str, str] = field(default_factory=dict)
    source: str = ""  # the TOML text the task was loaded from

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()


def builtin_names() -> list[str]:
    return sorted(
        Path(entry.name).stem
        for entry in resources.files("bare_tui.tasks").iterdir()
        if entry.name.endswith(".toml")
    )


def builtin_source(name: str) -> str | None:
    entry = resources.files("bare_tui.tasks").joinpath(f"{name}.toml")
    return entry.read_text(encoding="utf-8") if entry.is_file() else None


def load_file(path: str | Path) -> Task:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BareError(f"cannot read recipe {path}: {exc.strerror or exc}") from None
    return parse_recipe(text, origin=str(path))


def parse_recipe(text: str, origin: str = "recipe") -> Task:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BareError(f"{origin}: invalid TOML: {exc}") from None
    try:
        return _build_task(data, text)
    except (KeyError, TypeError, ValueError) as exc:
        message = exc.args[0] if exc.args else str(exc)
        if isinstance(exc, KeyError):
            message = f"missing required key {message!r}"
        raise BareError(f"{origin}: {message}") from None


def _build_task(data: dict[str, Any], text: str) -> Task:
    name = _text(data, "name")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ValueError(f"task name {name!r} must be letters, digits, '_', '.' or '-'")
    raw_fields = data["fields"]
    if not isinstance(raw_fields, list) or not raw_fields:
        raise ValueError("'fields' must be a non-empty array of tables ([[fields]])")
    task_fields = tuple(_build_field(item) for item in raw_fields)
    names = [f.name for f in task_fields]
    if len(set(names)) != len(names):
        raise ValueError(f"field names must be unique, got {names}")
    shots = data.get("shots", {})
    selection = shots.get("selection", "static")
    if selection not in SHOT_SELECTIONS:
        raise ValueError(f"shots.selection must be one of {', '.join(SHOT_SELECTIONS)}")
    shot_count = int(shots.get("count", 3))
    if shot_count < 0:
        raise ValueError("shots.count must be 0 or more")
    thing = _text(data, "thing")
    export = {k: str(v) for k, v in data.get("export", {}).items()}
    for key, template in export.items():
        for placeholder in re.findall(r"\{(\w+)\}", template):
            if placeholder not in names:
                raise ValueError(f"export.{key} uses unknown field {{{placeholder}}}")
    return Task(
        name=name,
        thing=thing,
        description=_text(data, "description").strip(),
        fields=task_fields,
        shot_count=shot_count,
        shot_selection=selection,
        base=_sampling(data.get("base", {}), Sampling(stop=("EXAMPLE DONE",))),
        refine=_sampling(data.get("refine", {}), Sampling()),
        refine_instruction=str(data.get("refine_instruction", "")).strip(),
        export=export,
        source=text,
    )


def _text(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key!r} must be a non-empty string")
    return value


def _build_field(item: Any) -> Field:
    if not isinstance(item, dict):
        raise ValueError("each [[fields]] entry must be a table")
    name = _text(item, "name")
    if not re.fullmatch(r"[A-Za-z_]\w*", name):
        raise ValueError(f"field name {name!r} must be an identifier")
    checks = tuple(item.get("checks", ()))
    unknown = [c for c in checks if c not in NAMED_CHECKS]
    if unknown:
        raise ValueError(
            f"field {name!r}: unknown check {unknown[0]!r} (known: {', '.join(NAMED_CHECKS)})"
        )
    pattern = item.get("pattern")
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"field {name!r}: bad pattern: {exc}") from None
    return Field(
        name=name,
        label=str(item.get("label", name.replace("_", " ").capitalize())),
        description=str(item.get("description", "")),
        checks=checks,
        pattern=pattern,
        pattern_hint=item.get("pattern_hint"),
        one_of=tuple(str(v) for v in item.get("one_of", ())),
        max_chars=item.get("max_chars"),
        grammar=item.get("grammar"),
    )


def _sampling(table: dict[str, Any], defaults: Sampling) -> Sampling:
    known = {f.name for f in fields(Sampling)}
    unknown = set(table) - known
    if unknown:
        raise ValueError(f"unknown sampling key {sorted(unknown)[0]!r} (known: {sorted(known)})")
    values = dict(table)
    if "stop" in values:
        stop = values["stop"]
        values["stop"] = (stop,) if isinstance(stop, str) else tuple(stop)
    result = defaults.replace(**values)
    if result.max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    return result


def resolve(store: Any, spec: str | None) -> Task:
    """The task a command works on: a recipe file path, a task already in the
    workspace, or a built-in recipe; with no spec, the workspace's only task.

    A recipe named by file or built-in is saved into the workspace, so later commands
    can name it and every run is tied to the exact recipe text it used.
    """
    if spec is None:
        names = store.task_names()
        if len(names) == 1:
            return parse_recipe(store.task_recipe(names[0]), origin=f"task {names[0]}")
        if not names:
            raise BareError(
                "no task in this workspace yet: pass --task NAME (built-ins: "
                f"{', '.join(builtin_names())}) or --task path/to/recipe.toml"
            )
        raise BareError(f"this workspace has several tasks ({', '.join(names)}): pass --task")
    path = Path(spec)
    if spec.endswith(".toml") or path.is_file():
        if not path.is_file():
            raise BareError(f"recipe file not found: {spec}")
        task = load_file(path)
    elif (stored := store.task_recipe(spec)) is not None:
        return parse_recipe(stored, origin=f"task {spec}")
    elif (source := builtin_source(spec)) is not None:
        task = parse_recipe(source, origin=f"built-in task {spec}")
    else:
        raise BareError(
            f"unknown task {spec!r}: built-ins are {', '.join(builtin_names())}; "
            "or pass a path to a .toml recipe"
        )
    store.save_task(task.name, task.source, task.sha256)
    return task
