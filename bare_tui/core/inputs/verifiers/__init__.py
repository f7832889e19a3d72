"""Verifiers: named checks that run an item's content and say what is wrong with it.

A recipe's checks test an item's shape (a number, a pattern, a length); a verifier
tests whether it is right: the arithmetic of a worked answer adds up, a query compiles
against the recipe's schema, a field is JSON with the keys it needs, a snippet is
Python. A recipe names verifiers per field (`verify = ["arithmetic"]`) or in `[[verify]]`
tables with options; the built-ins live here, and an installed package adds more
through the entry-point group `bare_tui.verifiers` (a recipe names them the same way,
and never names code to import: recipes are data and may come from anyone).

Every verifier is bounded: hostile content (a huge power, deep nesting, a query that
never ends) is a problem it reports, never a hang.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from bare_tui.core.inputs.verifiers.base import Outcome, Use, Verifier
from bare_tui.errors import BareError

__all__ = ["Outcome", "Use", "Verifier", "Verifiers", "available", "builtins"]

ENTRY_POINTS = "bare_tui.verifiers"


def builtins() -> dict[str, type[Verifier]]:
    from bare_tui.core.inputs.verifiers import arithmetic, json_value, python_syntax, sql

    return {kind.name: kind for kind in (arithmetic.Arithmetic, sql.SQLite,
                                         json_value.JSON, python_syntax.Python)}


def available() -> dict[str, type[Verifier]]:
    """The built-ins and those installed packages add (entry points `bare_tui.verifiers`);
    a plugin never replaces a built-in of the same name."""
    found = builtins()
    for entry in entry_points(group=ENTRY_POINTS):
        if entry.name in found:
            continue
        try:
            kind = entry.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin is named, not fatal
            raise BareError(f"verifier plugin {entry.name!r} ({entry.value}) does not load: "
                            f"{type(exc).__name__}: {exc}") from None
        if not (isinstance(kind, type) and issubclass(kind, Verifier)):
            raise BareError(f"verifier plugin {entry.name!r} ({entry.value}) is not a "
                            "bare_tui Verifier class")
        found[entry.name] = kind
    return found


@dataclass
class Verifiers:
    """The verifiers of one recipe, built once and run on each version of an item."""

    uses: Sequence[Use]
    built: list[tuple[Use, Verifier]] = field(default_factory=list)

    def __post_init__(self) -> None:
        known = available() if self.uses else {}
        for use in self.uses:
            kind = known.get(use.name)
            if kind is None:
                raise BareError(f"unknown verifier {use.name!r} (available: "
                                f"{', '.join(sorted(known))}; `bare-tui verifiers` lists "
                                "them)")
            try:
                self.built.append((use, kind(use.options)))
            except BareError as exc:
                raise BareError(f"verifier {use.label}: {exc}") from None

    def __bool__(self) -> bool:
        return bool(self.uses)

    def run(self, fields: Mapping[str, str]) -> list[Outcome]:
        """Every verifier on its field of a parsed item."""
        outcomes = []
        for use, verifier in self.built:
            text = fields.get(use.field)
            found: list[str] | None
            if text is None:
                found = [f"no field {use.field!r} to verify"]
            else:
                try:
                    found = verifier.problems(text, fields)
                except Exception as exc:  # noqa: BLE001 - a plugin's fault is the item's problem
                    found = [f"the verifier failed: {type(exc).__name__}: {exc}"]
            outcomes.append(Outcome(use.label, verifier.version,
                                    tuple(str(p)[:500] for p in found or ()),
                                    checked=found is not None))
        return outcomes
