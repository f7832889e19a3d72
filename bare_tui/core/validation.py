"""Per-field checks declared in a task recipe."""

from __future__ import annotations

import re
from collections.abc import Mapping

from bare_tui.core.recipes import Field, Task

_NUMBER = re.compile(r"\s*-?\$?[\d,]*\.?\d+\s*")


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
    if spec.pattern is not None and not re.search(spec.pattern, value):
        problems.append(spec.pattern_hint or f"does not match /{spec.pattern}/")
    if spec.one_of and value.strip().lower() not in {v.lower() for v in spec.one_of}:
        problems.append(f"must be one of: {', '.join(spec.one_of)}")
    if spec.max_chars is not None and len(value) > spec.max_chars:
        problems.append(f"is longer than {spec.max_chars} characters")
    if spec.max_lines is not None and len(value.strip().splitlines()) > spec.max_lines:
        problems.append(f"has more than {spec.max_lines} lines")
    return problems


def validate(task: Task, fields: Mapping[str, str]) -> list[str]:
    """Every problem with an item, each as 'field: problem'; empty when it is valid."""
    return [
        f"{spec.name}: {problem}"
        for spec in task.fields
        for problem in field_problems(spec, str(fields.get(spec.name, "")))
    ]
