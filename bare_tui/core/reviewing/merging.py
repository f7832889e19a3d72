"""Hunk-level merge of a draft and its refinement.

The word diff of each field (core/reviewing/diffing.py) is cut into hunks: a run of changed
spans between two unchanged ones. Hunks are numbered across the fields in the recipe's
order, so "hunk 3" means the same words for as long as the two texts are the same. A
merge keeps, per hunk, the draft's side or the refined side; the merged text is the
unchanged words with each hunk's kept side in place.

A merge is stored as an edit whose state also holds the merge (`Merge.to_state`): the
choices, the two texts they were made on, and what the final text was before the first
choice, so that one hunk's choice undoes as a step and the whole merge reverts at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bare_tui.core.inputs.diffing import Span, word_diff

DRAFT, REFINED = "draft", "refined"
SIDES = (DRAFT, REFINED)


@dataclass(frozen=True)
class Piece:
    """One span of a field's diff; `hunk` numbers a changed span's hunk (None: equal)."""

    span: Span
    hunk: int | None


Diff = Callable[[str, str], Sequence[Span]]


def pieces(draft: dict[str, str], refined: dict[str, str], names: list[str],
           diff: Diff = word_diff) -> dict[str, list[Piece]]:
    """Each field's diff as pieces, hunks numbered from 0 across the fields."""
    out: dict[str, list[Piece]] = {}
    number = -1
    for name in names:
        field: list[Piece] = []
        changed = False
        for span in diff(draft.get(name, ""), refined.get(name, "")):
            if span.op == "equal":
                changed = False
                field.append(Piece(span, None))
                continue
            if not changed:
                number += 1
                changed = True
            field.append(Piece(span, number))
        out[name] = field
    return out


def count(parts: dict[str, list[Piece]]) -> int:
    return 1 + max((p.hunk for field in parts.values() for p in field if p.hunk is not None),
                   default=-1)


def merged(parts: dict[str, list[Piece]], choices: list[str]) -> dict[str, str]:
    """The fields with each hunk's kept side: `choices[n]` for hunk n (refined beyond)."""
    fields = {}
    for name, field in parts.items():
        kept = []
        for piece in field:
            side = REFINED if piece.hunk is None or piece.hunk >= len(choices) else (
                choices[piece.hunk])
            if piece.span.op == "equal" or (piece.span.op == "delete") == (side == DRAFT):
                kept.append(piece.span.text)
        fields[name] = "".join(kept)
    return fields


@dataclass(frozen=True)
class Merge:
    """A merge in progress or done: the two texts, a side per hunk, and the state the
    candidate's text was in before the first choice (`was`: version, fields)."""

    draft: dict[str, str]
    refined: dict[str, str]
    choices: tuple[str, ...]
    was: tuple[str | None, dict[str, str] | None] = (None, None)

    def parts(self, names: list[str], diff: Diff = word_diff) -> dict[str, list[Piece]]:
        return pieces(self.draft, self.refined, names, diff)

    def choose(self, names: list[str], hunk: int, side: str, *,
               rest: bool = False) -> Merge:
        """This hunk (and, with `rest`, every hunk after it) takes `side`."""
        if side not in SIDES:
            raise ValueError(f"unknown side {side!r}")
        total = count(self.parts(names))
        if not 0 <= hunk < total:
            raise ValueError(f"no hunk {hunk} (there are {total})")
        choices = list(self.choices) + [REFINED] * (total - len(self.choices))
        for index in range(hunk, total if rest else hunk + 1):
            choices[index] = side
        return Merge(self.draft, self.refined, tuple(choices), self.was)

    def fields(self, names: list[str]) -> dict[str, str]:
        return merged(self.parts(names), list(self.choices))

    def to_state(self) -> dict[str, Any]:
        return {"draft": self.draft, "refined": self.refined, "choices": list(self.choices),
                "was": list(self.was)}

    @classmethod
    def from_state(cls, data: dict[str, Any] | None) -> Merge | None:
        if not data:
            return None
        was = data.get("was") or (None, None)
        return cls(dict(data["draft"]), dict(data["refined"]), tuple(data["choices"]),
                   (was[0], was[1]))
