"""A recipe's verifiers run on one version of an item, and what is stored of it.

Each version (a draft, a refinement attempt, an alternative, an imported item) keeps
`verified` (1 every verifier that had something to check passed, 0 one failed, NULL no
verifier ran or none had anything to check) and `verification`, the outcomes as JSON:
the verifier and its version, whether it checked, its problems.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bare_tui.core.inputs.recipes import Recipe
from bare_tui.core.inputs.verifiers import Outcome, Verifiers
from bare_tui.core.workspace.store import Store
from bare_tui.core.workspace.values import from_json, to_json

_BUILT: dict[str, Verifiers] = {}  # by recipe sha256: verifiers are built once


def verifiers_of(recipe: Recipe) -> Verifiers:
    """The recipe's verifiers, built (and their options checked) once per process;
    BareError names a verifier that is unknown or misconfigured."""
    built = _BUILT.get(recipe.sha256)
    if built is None:
        built = _BUILT[recipe.sha256] = Verifiers(recipe.verifiers)
    return built


@dataclass(frozen=True)
class Verdict:
    outcomes: tuple[Outcome, ...] = ()

    @property
    def verified(self) -> int | None:
        checked = [outcome for outcome in self.outcomes if outcome.checked]
        if not checked:
            return None
        return int(all(outcome.ok for outcome in checked))

    @property
    def problems(self) -> list[str]:
        return [f"{o.verifier}: {problem}" for o in self.outcomes for problem in o.problems]

    def outcomes_json(self) -> list[dict[str, Any]]:
        return [{"verifier": o.verifier, "version": o.version, "checked": o.checked,
                 "problems": list(o.problems)} for o in self.outcomes]

    def as_state(self) -> dict[str, Any]:
        """What a decision keeps of an edit's verification (review.State's fields)."""
        return {"verified": self.verified,
                "verification": self.outcomes_json() if self.outcomes else None}

    def columns(self) -> dict[str, Any]:
        """What is stored beside a version's checks."""
        if not self.outcomes:
            return {"verified": None, "verification": None}
        return {"verified": self.verified, "verification": to_json(self.outcomes_json())}


def verify(recipe: Recipe, fields: Mapping[str, str] | None) -> Verdict:
    """The recipe's verifiers on a parsed item (nothing runs on one that did not parse)."""
    if fields is None or not recipe.verifiers:
        return Verdict()
    return Verdict(tuple(verifiers_of(recipe).run(fields)))


@dataclass
class Reverified:
    """What `reverify` did: versions looked at, and how they came out."""

    versions: int = 0
    verified: int = 0
    failed: int = 0
    unchecked: int = 0  # no verifier had anything to check

    def add(self, verified: int | None) -> None:
        self.versions += 1
        if verified is None:
            self.unchecked += 1
        elif verified:
            self.verified += 1
        else:
            self.failed += 1


CHUNK = 500  # versions written per transaction: another process waits for one chunk


def reverify(store: Store, recipe: Recipe,
             on_progress: Callable[[int, int], None] | None = None) -> Reverified:
    """Run the recipe's verifiers again on every parsed draft and refinement of its task
    (after the recipe changed, or on an imported dataset), storing the new results."""
    verifiers_of(recipe)  # an unknown or misconfigured verifier fails before any write
    rows = [("candidates", row_id, fields) for row_id, fields in store.conn.execute(
        "SELECT id, fields FROM candidates WHERE task = ? AND fields IS NOT NULL",
        (recipe.name,))]
    rows += [("refinements", row_id, fields) for row_id, fields in store.conn.execute(
        "SELECT r.id, r.fields FROM refinements r JOIN candidates c ON c.id = r.candidate_id"
        " WHERE c.task = ? AND r.fields IS NOT NULL", (recipe.name,))]
    done = Reverified()
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        results = [(table, row_id, verify(recipe, from_json(fields)).columns())
                   for table, row_id, fields in chunk]
        with store.transaction():
            for table, row_id, columns in results:
                store.conn.execute(f"UPDATE {table} SET verified = ?, verification = ?"
                                   " WHERE id = ?",
                                   (columns["verified"], columns["verification"], row_id))
                done.add(columns["verified"])
        if on_progress:
            on_progress(min(start + CHUNK, len(rows)), len(rows))
    return done
