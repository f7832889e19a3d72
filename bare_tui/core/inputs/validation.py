"""Per-field checks declared in a task recipe."""

from __future__ import annotations

import re
from collections.abc import Mapping

import regex

from bare_tui.core.inputs.recipes import Field, Recipe

_NUMBER = re.compile(r"\s*-?\$?[\d,]*\.?\d+\s*")
# A recipe's pattern runs on model output: a pattern with nested repetition can take
# exponential time on a value a small model repeats itself into. `regex` stops it.
PATTERN_TIMEOUT_S = 0.05


def pattern_problem(pattern: str, value: str) -> str | None:
    """None when the value matches; else why not (a match that ran out of time fails)."""
    try:
        found = regex.search(pattern, value, timeout=PATTERN_TIMEOUT_S)
    except TimeoutError:
        return (f"was not checked against /{pattern}/ in {PATTERN_TIMEOUT_S * 1000:g} ms "
                "(a pattern with nested repetition? simplify the recipe's pattern)")
    return None if found else ""


def _named_check(check: str, value: str) -> str | None:
    if check == "nonempty":
        return None if value.strip() else "is empty"
    if check == "number":
        return None if _NUMBER.fullmatch(value) else "is not a number"
    if check == "single_line":
        return None if "\n" not in value.strip() else "must be a single line"
    raise ValueError(f"unknown check {check!r}")


def field_problems(spec: Field, value: str) -> list[str]:
    problems = [p for check in spec.checks if (p := _named_check(check, value))]
    if spec.pattern is not None:
        problem = pattern_problem(spec.pattern, value)
        if problem is not None:
            problems.append(problem or spec.pattern_hint or f"does not match /{spec.pattern}/")
    if spec.one_of and value.strip().lower() not in {v.lower() for v in spec.one_of}:
        problems.append(f"must be one of: {', '.join(spec.one_of)}")
    if spec.max_chars is not None and len(value) > spec.max_chars:
        problems.append(f"is longer than {spec.max_chars} characters")
    if spec.max_lines is not None and len(value.strip().splitlines()) > spec.max_lines:
        problems.append(f"has more than {spec.max_lines} lines")
    return problems


def validate(task: Recipe, fields: Mapping[str, str]) -> list[str]:
    """Every problem with an item, each as 'field: problem'; empty when it is valid. A
    field the item lacks (it was made under an earlier recipe) is a problem too."""
    return [
        f"{spec.name}: {problem}"
        for spec in task.fields
        for problem in (["is missing"] if spec.name not in fields
                        else field_problems(spec, str(fields[spec.name])))
    ]
