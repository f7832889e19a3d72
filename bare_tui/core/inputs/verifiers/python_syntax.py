"""`python`: the field parses as Python (`ast.parse`), within a bound of size. It is
never run: parsing is all this verifier does."""

from __future__ import annotations

import ast
from collections.abc import Mapping

from bare_tui.core.inputs.verifiers.base import Verifier

MAX_CHARS = 200_000


class Python(Verifier):
    name = "python"
    version = "1"
    description = "the field parses as Python (never run)"
    options = {"max_chars": f"the longest text accepted (default {MAX_CHARS:,})"}

    def problems(self, text: str, item: Mapping[str, str]) -> list[str]:
        limit = int(self.settings.get("max_chars", MAX_CHARS))
        if len(text) > limit:
            return [f"{len(text):,} characters of code (at most {limit:,})"]
        try:
            ast.parse(text)
        except SyntaxError as exc:
            return [f"not Python: {exc.msg} (line {exc.lineno})"]
        except (ValueError, RecursionError, MemoryError) as exc:
            return [f"not Python: {type(exc).__name__}: {exc}"[:200]]
        return []
