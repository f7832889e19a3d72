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

import regex

from bare_tui.core.inputs import schema, tag_names
from bare_tui.core.inputs.schema import Either, Flag, ListOf, Number, Table, Text, Whole
from bare_tui.core.inputs.verifiers import Use
from bare_tui.errors import BareError

SHOT_SELECTIONS = ("static", "random")
NAMED_CHECKS = ("nonempty", "number", "single_line")
# Drift defaults ([drift]): calibrated on the built-in recipes, README (Drift).
DEFAULT_MIN_SIMILARITY = 0.65
DEFAULT_MIN_OVERLAP = 0.2

SAMPLING_SHAPE = Table({
    "temperature": Number(minimum=0), "top_p": Number(minimum=0), "top_k": Whole(minimum=0),
    "min_p": Number(minimum=0), "repeat_penalty": Number(minimum=0),
    "max_tokens": Whole(minimum=1, maximum=1_000_000), "stop": Either(Text(), ListOf(Text())),
    "constrain": Flag(), "grammar": Text(nonempty=True),
}, example="[base] with temperature = 0.7")
FIELD_SHAPE = Table({
    "name": Text(nonempty=True), "label": Text(nonempty=True), "description": Text(),
    "checks": ListOf(Text()), "pattern": Text(), "pattern_hint": Text(),
    "one_of": ListOf(Text(), nonempty=True), "max_chars": Whole(minimum=1),
    "max_lines": Whole(minimum=1), "grammar": Text(nonempty=True),
    "verify": ListOf(Text(nonempty=True)),
}, required=("name",), example='[[fields]] with name = "question"')
# A verifier with options: its name, the field it verifies, and its own options (each
# verifier checks those when it is built: core/inputs/verifiers/).
OPTION = Either(Text(), Whole(), Number(), Flag(), ListOf(Text()))
VERIFY_SHAPE = Table(values=OPTION, example='[[verify]] with name = "sqlite", field = "query"')
RECIPE_SHAPE = Table({
    "name": Text(nonempty=True), "thing": Text(nonempty=True), "things": Text(nonempty=True),
    "description": Text(nonempty=True), "refine_instruction": Text(),
    "fields": ListOf(FIELD_SHAPE, nonempty=True),
    "shots": Table({"count": Whole(minimum=0, maximum=1000), "selection": Text()},
                   example="[shots] with count = 3"),
    "base": SAMPLING_SHAPE, "refine": SAMPLING_SHAPE,
    "export": Table({"user": Text(), "assistant": Text(), "system": Text()},
                    example='[export] with user = "{question}"'),
    "verify": ListOf(VERIFY_SHAPE),
    "decontam": Table({"against": ListOf(Text(nonempty=True)), "field": Text(nonempty=True),
                       "ngram": Whole(minimum=1, maximum=100)},
                      example='[decontam] with against = ["gsm8k-test"]'),
    "drift": Table({"min_similarity": Number(minimum=0, maximum=1),
                    "min_overlap": Number(minimum=0, maximum=1)},
                   example="[drift] with min_similarity = 0.6"),
    "judge": Table({"pool": Text(nonempty=True)}, example='[judge] with pool = "gsm8k-train"'),
    "instruct": Table({"novelty": Flag()}, example="[instruct] with novelty = true"),
    "review": Table({"tags": ListOf(Text(nonempty=True))},
                    example='[review] with tags = ["wrong arithmetic", "ambiguous"]'),
}, required=("name", "thing", "description", "fields"))


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
    # Constrain the output to the recipe's structure with a grammar (core/generation/grammar.py);
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


# Drafts are free text, as the paper's base model writes them (`constrain = true` in a
# recipe's [base] opts in); refinements keep the recipe's structure by grammar.
BASE_DEFAULTS = Sampling(stop=("EXAMPLE DONE",))
REFINE_DEFAULTS = Sampling(constrain=True)


@dataclass(frozen=True)
class DriftRule:
    """When a refinement has stopped editing its draft (core/inputs/drift.py): its
    similarity to the draft below `min_similarity` (embedding cosine) or, where no
    embedding model is at hand, below `min_overlap` (the share of the text the word diff
    keeps); 0 turns that part off. The defaults are calibrated in README (Drift)."""

    min_similarity: float = DEFAULT_MIN_SIMILARITY
    min_overlap: float = DEFAULT_MIN_OVERLAP


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
    max_lines: int | None = None
    grammar: str | None = None  # GBNF expression of the value (see core/generation/grammar.py)
    verify: tuple[str, ...] = ()  # verifiers run on the value, with default options


@dataclass(frozen=True)
class Recipe:
    name: str
    thing: str
    description: str
    fields: tuple[Field, ...]
    shot_count: int = 3
    shot_selection: str = "static"
    base: Sampling = BASE_DEFAULTS
    refine: Sampling = REFINE_DEFAULTS
    refine_instruction: str = ""
    export: dict[str, str] = field(default_factory=dict)
    source: str = ""  # the TOML text the task was loaded from
    things: str = ""  # the plural of `thing`, as the recipe gives it ("" : say "items")
    # verifiers named in [[verify]] tables (with options); see `verifiers`
    verify_tables: tuple[Use, ...] = ()
    # evaluation sets new candidates are checked against ([decontam]), on which field
    decontam_against: tuple[str, ...] = ()
    decontam_field: str | None = None
    decontam_ngram: int = 13
    drift: DriftRule = DriftRule()
    # the real items the IR judge's lineups draw from ([judge] pool: a file, or a shipped
    # set by name); "" : the task's seeds (core/measures/judge_pool.py)
    judge_pool: str = ""
    # the instruct-only baseline asks for content different from the examples
    # ([instruct] novelty); the paper's does not
    instruct_novelty: bool = False
    # the failures a reject names on number keys 1-9 ([review] tags; core/reviewing/tags.py)
    tags: tuple[str, ...] = ()

    @property
    def verifiers(self) -> tuple[Use, ...]:
        """Every verifier the recipe names: per field (`verify = [...]`), then the
        [[verify]] tables."""
        return tuple(Use(name, f.name) for f in self.fields for name in f.verify) \
            + self.verify_tables

    def count_of(self, count: int) -> str:
        """`count` of the recipe's things: "1 grade school math word problem", "24 items"
        (a plural is never guessed from the singular: "query" is not "querys")."""
        return f"{count} {self.thing if count == 1 else self.things or 'items'}"

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


def load_file(path: str | Path) -> Recipe:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BareError(f"recipe {path} is not UTF-8 text (bad byte at offset {exc.start})"
                        ) from None
    except OSError as exc:
        raise BareError(f"cannot read recipe {path}: {exc.strerror or exc}") from None
    return parse_recipe(text, origin=str(path))


def parse_recipe(text: str, origin: str = "recipe") -> Recipe:
    """A Recipe from TOML, or one BareError that says what is wrong and where."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BareError(f"{origin}: invalid TOML: {exc}") from None
    except RecursionError:
        raise BareError(f"{origin}: invalid TOML: nested too deeply") from None
    try:
        RECIPE_SHAPE.check(data, "")
        return _build_task(data, text)
    except BareError as exc:
        raise BareError(f"{origin}: {exc}") from None


def _build_task(data: dict[str, Any], text: str) -> Recipe:
    """The recipe's values, already of the right types, checked for meaning."""
    name = data["name"]
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise BareError(f"task name {name!r} must be letters, digits, '_', '.' or '-'")
    task_fields = tuple(_build_field(item) for item in data["fields"])
    names = [f.name for f in task_fields]
    if len(set(names)) != len(names):
        raise BareError(f"field names must be unique, got {', '.join(names)}")
    shots = data.get("shots", {})
    selection = shots.get("selection", "static")
    if selection not in SHOT_SELECTIONS:
        raise BareError(f"shots.selection must be one of {', '.join(SHOT_SELECTIONS)}, "
                        f"got {selection!r}")
    export = dict(data.get("export", {}))
    for key, template in export.items():
        schema.template_fields(template, f"export.{key}", names)
    refine_instruction = data.get("refine_instruction", "").strip()
    schema.template_fields(refine_instruction, "refine_instruction", ["thing"])
    verify_tables = tuple(_verify_table(index, table, names)
                          for index, table in enumerate(data.get("verify", []), 1))
    against = data.get("decontam", {})
    if against.get("field", names[0]) not in names:
        raise BareError(f"decontam.field = {against['field']!r} is not a field of the recipe "
                        f"({', '.join(names)})")
    return Recipe(
        name=name,
        thing=data["thing"],
        things=data.get("things", ""),
        description=data["description"].strip(),
        fields=task_fields,
        shot_count=shots.get("count", 3),
        shot_selection=selection,
        base=_sampling(data.get("base", {}), BASE_DEFAULTS),
        refine=_sampling(data.get("refine", {}), REFINE_DEFAULTS),
        refine_instruction=refine_instruction,
        export=export,
        source=text,
        verify_tables=verify_tables,
        decontam_against=tuple(against.get("against", ())),
        decontam_field=against.get("field"),
        decontam_ngram=against.get("ngram", 13),
        drift=DriftRule(**data.get("drift", {})),
        judge_pool=data.get("judge", {}).get("pool", ""),
        instruct_novelty=data.get("instruct", {}).get("novelty", False),
        tags=tag_names.recipe_set(data.get("review", {}).get("tags", ())),
    )


def _verify_table(index: int, table: dict[str, Any], names: list[str]) -> Use:
    where = f"verify[{index}]"
    name, on = table.get("name"), table.get("field")
    if not isinstance(name, str) or not name:
        raise BareError(f"{where}: needs name = \"<verifier>\" (`bare-tui verifiers` lists them)")
    if on not in names:
        raise BareError(f"{where}: field = {on!r} is not a field of the recipe "
                        f"({', '.join(names)})")
    return Use(name, on, {k: v for k, v in table.items() if k not in ("name", "field")})


def _build_field(item: dict[str, Any]) -> Field:
    name = item["name"]
    if not re.fullmatch(r"[A-Za-z_]\w*", name):
        raise BareError(f"field name {name!r} must be an identifier (letters, digits, '_')")
    checks = tuple(item.get("checks", ()))
    unknown = [c for c in checks if c not in NAMED_CHECKS]
    if unknown:
        raise BareError(
            f"field {name!r}: unknown check {unknown[0]!r} (known: {', '.join(NAMED_CHECKS)})"
        )
    pattern = item.get("pattern")
    if pattern is not None:
        try:
            re.compile(pattern)
            regex.compile(pattern)  # what validation matches with (core/inputs/validation.py)
        except (re.error, regex.error, RecursionError, OverflowError) as exc:
            raise BareError(f"field {name!r}: bad pattern: {exc}") from None
    return Field(
        name=name,
        label=item.get("label", name.replace("_", " ").capitalize()),
        description=item.get("description", ""),
        checks=checks,
        pattern=pattern,
        pattern_hint=item.get("pattern_hint"),
        one_of=tuple(item.get("one_of", ())),
        max_chars=item.get("max_chars"),
        max_lines=item.get("max_lines"),
        grammar=item.get("grammar"),
        verify=tuple(item.get("verify", ())),
    )


def _sampling(table: dict[str, Any], defaults: Sampling) -> Sampling:
    values = dict(table)
    if "stop" in values:
        stop = values["stop"]
        values["stop"] = (stop,) if isinstance(stop, str) else tuple(stop)
    return defaults.replace(**values)


def resolve(store: Any, spec: str | None, *, update: bool = False) -> Recipe:
    """The task a command works on: a recipe file path, a task already in the
    workspace, or a built-in recipe; with no spec, the workspace's only task.

    A recipe named by file or built-in is saved into the workspace, so later commands
    can name it and every run is tied to the exact recipe text it used. A recipe file
    that changes a task which already has data is stored only with `update`
    (--update-recipe); its earlier versions stay in the workspace's recipe history.
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
    stored_sha256 = store.task_sha256(task.name)
    if stored_sha256 == task.sha256:
        return task
    if stored_sha256 is not None and not update and store.task_has_data(task.name):
        raise BareError(
            f"{spec} changes the recipe of task {task.name}, which already has seeds or "
            "candidates made with the stored version; pass --update-recipe to make it the "
            "task's recipe (the old version is kept), or give the new recipe another name")
    store.save_task(task.name, task.source, task.sha256)
    return task
