"""Preference data from a curator's decisions, in the shapes TRL's trainers read.

A pair prefers one version of an item to another, and says which decision made it:
- `edit`:        the curator's edit over the refinement it replaced (the draft when no
                 refinement parsed);
- `merge`:       a merge by hunks over the refinement it was made from;
- `refinement`:  the refinement over its draft, where the curator accepted the refinement;
- `draft`:       the draft over its refinement, where the curator accepted the draft;
- `alternative`: the alternative the curator picked over each one not picked (and over
                 the refinement it replaced).
Pairs come from accepted items. KTO rows label every decided item's final text: True
for an accept, False for a reject.

Profiles (core/datasets/export.py): `dpo` and `kto` in TRL's standard format (strings),
`dpo-chat` and `kto-chat` in its conversational format (lists of messages). The prompt
is the recipe's export user turn (with its system turn in the chat variants); the
completions are its assistant turn.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bare_tui.core.inputs.schema import fill
from bare_tui.core.workspace.current import Current
from bare_tui.core.workspace.store import Store
from bare_tui.core.workspace.values import from_json
from bare_tui.errors import BareError

PAIR_KINDS = ("edit", "merge", "refinement", "draft", "alternative")
DPO = ("dpo", "dpo-chat")
KTO = ("kto", "kto-chat")
PROFILES = (*DPO, *KTO)


@dataclass(frozen=True)
class Pair:
    kind: str
    chosen: dict[str, str]
    rejected: dict[str, str]
    rejected_version: str  # draft, refined or alternative: what lost


def parse_kinds(text: str | None) -> tuple[str, ...]:
    """`--pairs edit,merge`: the kinds of pairs to export (all when not given)."""
    if not text:
        return PAIR_KINDS
    kinds = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [kind for kind in kinds if kind not in PAIR_KINDS]
    if unknown or not kinds:
        raise BareError(f"--pairs: unknown kind {unknown[0] if unknown else text!r} (choose "
                        f"from {', '.join(PAIR_KINDS)}, separated by commas)")
    return kinds


def _unpicked(store: Store, item: Current) -> list[dict[str, str]]:
    """The parsed refinements and alternatives of an item other than the one picked."""
    return [from_json(row[0]) for row in store.conn.execute(
        "SELECT fields FROM refinements WHERE candidate_id = ? AND id != ?"
        " AND fields IS NOT NULL ORDER BY id", (item.id, item.picked_id))]


def pairs(store: Store, item: Current, kinds: Iterable[str] = PAIR_KINDS) -> list[Pair]:
    """The pairs an accepted item's decisions make, of the kinds asked for; a pair whose
    two sides say the same is no preference and is left out."""
    if item.status != "accepted" or item.final_fields is None:
        return []
    wanted = set(kinds)
    final = item.final_fields
    found: list[Pair] = []
    if item.edited:
        if item.merge:
            found.append(Pair("merge", final, dict(item.merge["refined"]), "refined"))
        elif item.best_fields is not None:
            found.append(Pair("edit", final, item.best_fields, "refined"))
        elif item.draft_fields is not None:
            found.append(Pair("edit", final, item.draft_fields, "draft"))
    elif item.final_version == "refined" and item.draft_fields is not None:
        found.append(Pair("refinement", final, item.draft_fields, "draft"))
    elif item.final_version == "draft" and item.best_fields is not None:
        found.append(Pair("draft", final, item.best_fields, "refined"))
    if item.picked_id is not None and item.best_fields is not None:
        found += [Pair("alternative", item.best_fields, other, "alternative")
                  for other in _unpicked(store, item)]
    seen: set[tuple] = set()
    out = []
    for pair in found:
        key = (pair.kind, tuple(pair.chosen.items()), tuple(pair.rejected.items()))
        if pair.kind in wanted and pair.chosen != pair.rejected and key not in seen:
            seen.add(key)
            out.append(pair)
    return out


def label(item: Current) -> bool | None:
    """A KTO label: True for an accepted item, False for a rejected one, None when
    undecided or nothing parsed."""
    if item.final_fields is None or item.status not in ("accepted", "rejected"):
        return None
    return item.status == "accepted"


def turns(templates: dict[str, str], fields: dict[str, str]) -> tuple[str | None, str, str]:
    """The recipe's [export] system (None when it has none), user and assistant turns."""
    system = fill(templates["system"], fields) if "system" in templates else None
    return system, fill(templates["user"], fields), fill(templates["assistant"], fields)


def _prompt(profile: str, system: str | None, user: str) -> Any:
    if not profile.endswith("-chat"):
        return user
    return ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": user}]


def _completion(profile: str, text: str) -> Any:
    return [{"role": "assistant", "content": text}] if profile.endswith("-chat") else text


def pair_row(profile: str, pair: Pair, templates: dict[str, str], candidate_id: int
             ) -> dict[str, Any]:
    """A DPO row: the prompt (from the chosen side), the chosen and the rejected
    completion, and where the pair came from."""
    system, user, chosen = turns(templates, pair.chosen)
    rejected = turns(templates, pair.rejected)[2]
    return {"prompt": _prompt(profile, system, user),
            "chosen": _completion(profile, chosen),
            "rejected": _completion(profile, rejected),
            "kind": pair.kind, "rejected_version": pair.rejected_version,
            "candidate_id": candidate_id}


def kto_row(profile: str, fields: dict[str, str], accepted: bool, templates: dict[str, str],
            candidate_id: int) -> dict[str, Any]:
    system, user, completion = turns(templates, fields)
    return {"prompt": _prompt(profile, system, user),
            "completion": _completion(profile, completion), "label": accepted,
            "candidate_id": candidate_id}


def empty_row(profile: str, names: list[str], templates: dict[str, str]) -> dict[str, Any]:
    """A row of the profile's columns (an empty Parquet table needs its schema)."""
    blank = dict.fromkeys(names, "")
    if profile in DPO:
        return pair_row(profile, Pair("edit", blank, blank, "refined"), templates, 0)
    return kto_row(profile, blank, True, templates, 0)
