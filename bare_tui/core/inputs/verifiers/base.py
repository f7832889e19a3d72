"""What every verifier is and gives: the `Verifier` base class, a recipe's `Use` of one,
and the `Outcome` of running it on a text."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bare_tui.errors import BareError


class Verifier:
    """The base of every verifier. A subclass declares its name, version, one-line
    description and options (name: one-line help), takes its options in `__init__`
    (BareError for a bad one) and says what is wrong with a text in `problems`."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    options: ClassVar[Mapping[str, str]] = {}

    def __init__(self, options: Mapping[str, Any]) -> None:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            known = ", ".join(self.options) or "none"
            raise BareError(f"verifier {self.name!r} has no option {unknown[0]!r} "
                            f"(its options: {known})")
        self.settings = dict(options)

    def problems(self, text: str, item: Mapping[str, str]) -> list[str] | None:
        """What is wrong with `text` (the field's value; `item` holds every field): an
        empty list when it verifies, None when it holds nothing this verifier can check
        (an answer with no arithmetic in it is "not checkable", not wrong)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Use:
    """A verifier as a recipe names it: on which field, with which options."""

    name: str
    field: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.name}({self.field})"


@dataclass(frozen=True)
class Outcome:
    """One verifier's result on one version of an item."""

    verifier: str  # the use's label: name(field)
    version: str  # the verifier's own version
    problems: tuple[str, ...] = ()
    checked: bool = True  # False: nothing in the text this verifier could check

    @property
    def ok(self) -> bool:
        return self.checked and not self.problems
