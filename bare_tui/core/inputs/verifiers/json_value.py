"""`json`: the field parses as JSON, within bounds of size and depth, and (optionally)
is an object with the keys it must have."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bare_tui.core.inputs.verifiers.base import Verifier
from bare_tui.errors import BareError

MAX_CHARS = 1_000_000
MAX_DEPTH = 64


def depth(value: Any) -> int:
    """How deeply arrays and objects nest in a parsed value (iteratively)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, (list, dict)):
            deepest = max(deepest, level)
            stack.extend((child, level + 1)
                         for child in (node.values() if isinstance(node, dict) else node))
    return deepest


class JSON(Verifier):
    name = "json"
    version = "1"
    description = "the field parses as JSON (bounded in size and depth), with required keys"
    options = {
        "required": "keys the JSON object must have (a list)",
        "max_chars": f"the longest text accepted (default {MAX_CHARS:,})",
        "max_depth": f"the deepest nesting accepted (default {MAX_DEPTH})",
    }

    def __init__(self, options: Mapping[str, Any]) -> None:
        super().__init__(options)
        required = self.settings.get("required", [])
        if not isinstance(required, list) or not all(isinstance(k, str) for k in required):
            raise BareError("`required` must be a list of key names")
        self.required = required
        self.max_chars = int(self.settings.get("max_chars", MAX_CHARS))
        self.max_depth = int(self.settings.get("max_depth", MAX_DEPTH))

    def problems(self, text: str, item: Mapping[str, str]) -> list[str]:
        if len(text) > self.max_chars:
            return [f"{len(text):,} characters of JSON (at most {self.max_chars:,})"]
        try:
            value = json.loads(text)
        except RecursionError:
            return [f"nested deeper than {self.max_depth} levels"]
        except ValueError as exc:
            return [f"not JSON: {exc}"]
        if depth(value) > self.max_depth:
            return [f"nested deeper than {self.max_depth} levels"]
        if self.required and not isinstance(value, dict):
            return [f"not a JSON object with the keys {', '.join(self.required)}"]
        missing = [key for key in self.required if key not in value]
        return [f"missing key {key!r}" for key in missing]
