"""Typed shapes for TOML files (recipes, the config file), with readable messages.

A shape checks a value parsed from TOML and says, in one line, where it is wrong and
what was expected: `shots: expected a table like [shots], got the number 3`. The
recipe and config loaders validate the whole file first, so what builds on the values
can trust their types. Templates get their own check: only plain `{field}`
placeholders, since `str.format` would also read attributes (`{answer.__class__}`) and
items (`{answer[0]}`).
"""

from __future__ import annotations

import difflib
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bare_tui.errors import BareError

INT64 = 2**63 - 1


class SchemaError(BareError):
    pass


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"{'true' if value else 'false'}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 20 else value[:20] + "..."
        return f"the string {shown!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _fail(where: str, expected: str, value: Any) -> SchemaError:
    return SchemaError(f"{where}: expected {expected}, got {_kind(value)}")


class Shape:
    expected = "a value"

    @property
    def plural(self) -> str:
        """`expected` for many: "a string" -> "strings"."""
        return self.expected.removeprefix("a ").removeprefix("an ") + "s"

    def check(self, value: Any, where: str) -> None:
        raise NotImplementedError


class Text(Shape):
    expected = "a string"

    def __init__(self, nonempty: bool = False):
        self.nonempty = nonempty
        if nonempty:
            self.expected = "a non-empty string"

    def check(self, value: Any, where: str) -> None:
        if not isinstance(value, str) or (self.nonempty and not value.strip()):
            raise _fail(where, self.expected, value)


class Whole(Shape):
    def __init__(self, minimum: int = -INT64, maximum: int = INT64):
        self.minimum, self.maximum = minimum, maximum
        self.expected = "a whole number" + (f" of at least {minimum}" if minimum > -INT64 else "")

    def check(self, value: Any, where: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(where, self.expected, value)
        if not self.minimum <= value <= self.maximum:
            raise SchemaError(f"{where}: must be between {self.minimum} and {self.maximum}, "
                              f"got {value}")


class Number(Shape):
    def __init__(self, minimum: float | None = None, maximum: float | None = None):
        self.minimum, self.maximum = minimum, maximum
        self.expected = "a number" + (f" of at least {minimum:g}" if minimum is not None else "")

    def check(self, value: Any, where: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise _fail(where, self.expected, value)
        if self.minimum is not None and value < self.minimum:
            raise SchemaError(f"{where}: must be at least {self.minimum:g}, got {value}")
        if self.maximum is not None and value > self.maximum:
            raise SchemaError(f"{where}: must be at most {self.maximum:g}, got {value}")


class Flag(Shape):
    expected = "true or false"

    def check(self, value: Any, where: str) -> None:
        if not isinstance(value, bool):
            raise _fail(where, self.expected, value)


class ListOf(Shape):
    def __init__(self, item: Shape, nonempty: bool = False):
        self.item, self.nonempty = item, nonempty
        self.expected = f"{'a non-empty' if nonempty else 'an'} array of {item.plural}"

    def check(self, value: Any, where: str) -> None:
        if not isinstance(value, list) or (self.nonempty and not value):
            raise _fail(where, self.expected, value)
        for number, item in enumerate(value):
            self.item.check(item, f"{where}[{number}]")


class Either(Shape):
    def __init__(self, *shapes: Shape):
        self.shapes = shapes
        self.expected = " or ".join(shape.expected for shape in shapes)

    def check(self, value: Any, where: str) -> None:
        for shape in self.shapes:
            try:
                shape.check(value, where)
                return
            except SchemaError:
                continue
        raise _fail(where, self.expected, value)


@dataclass
class Table(Shape):
    """A TOML table with known keys; `required` ones must be present. With `values`,
    any key is allowed and every value takes that shape."""

    keys: Mapping[str, Shape] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    values: Shape | None = None
    example: str = ""

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"a table{f' like {self.example}' if self.example else ''}"

    @property
    def plural(self) -> str:
        return f"tables{f' like {self.example}' if self.example else ''}"

    def check(self, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise _fail(where, self.expected, value)
        prefix = f"{where}." if where else ""
        # Unknown keys first: a misspelt required key ([[feilds]]) is one mistake, said
        # once, with the likely fix.
        for key in value:
            shape = self.values if self.values is not None else self.keys.get(key)
            if shape is None:
                near = difflib.get_close_matches(key, list(self.keys), n=1, cutoff=0.6)
                hint = f"did you mean {near[0]!r}? " if near else ""
                raise SchemaError(f"{prefix}{key}: unknown key; {hint}(known: "
                                  f"{', '.join(sorted(self.keys))})")
        for key in self.required:
            if key not in value:
                raise SchemaError(f"{where or 'file'}: missing required key {key!r}")
        for key, item in value.items():
            (self.values or self.keys[key]).check(item, f"{prefix}{key}")


def template_fields(template: str, where: str, known: list[str]) -> list[str]:
    """The placeholders of a template, each a plain `{field}` of `known`; `{{` and `}}`
    are literal braces. Anything else is refused with a message that says why."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise SchemaError(f"{where}: bad template ({exc}); write {{field}} for a field and "
                          "{{ or }} for a literal brace") from None
    names = []
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            shown = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise SchemaError(f"{where}: placeholder {{{shown}}} is not a plain {{field}}; "
                              "only field names can be filled in")
        if name not in known:
            raise SchemaError(f"{where}: unknown field {{{name}}} (fields: {', '.join(known)})")
        names.append(name)
    return names


def fill(template: str, values: Mapping[str, str]) -> str:
    """A template checked by `template_fields`, filled with plain values; a field the
    values lack is filled with nothing (validation names it as missing)."""
    return "".join(literal + (str(values.get(name, "")) if name is not None else "")
                   for literal, name, _spec, _conv in string.Formatter().parse(template))
