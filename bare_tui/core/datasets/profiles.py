"""How an export's items become rows: the profiles and their shapes.

- fields:   the task's fields as one JSON object per line;
- chat:     OpenAI fine-tuning shape, {"messages": [system?, user, assistant]};
- alpaca:   {"instruction", "input", "output"} (+ "system");
- sharegpt: {"conversations": [{"from": "human"}, {"from": "gpt"}]} (+ "system");
- dpo, dpo-chat, kto, kto-chat: preference data from the curator's decisions
  (core/datasets/preference.py), in TRL's column names.
The chat-like profiles map fields through the recipe's [export] templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bare_tui.core.datasets import preference
from bare_tui.core.inputs.recipes import Recipe
from bare_tui.core.workspace import current
from bare_tui.core.workspace.store import Store
from bare_tui.errors import BareError

PROFILES = ("fields", "chat", "alpaca", "sharegpt", *preference.PROFILES)


def templates(task: Recipe, profile: str) -> dict[str, str]:
    if profile == "fields":
        return {}
    missing = [key for key in ("user", "assistant") if key not in task.export]
    if missing:
        raise BareError(
            f"profile {profile!r} needs an [export] section in task {task.name} with "
            f"'user' and 'assistant' templates (missing: {', '.join(missing)}); "
            "or use --profile fields"
        )
    return task.export


def shape(profile: str, fields: dict[str, str], templates: dict[str, str]) -> dict[str, Any]:
    if profile == "fields":
        return dict(fields)
    system, user, assistant = preference.turns(templates, fields)
    if profile == "chat":
        messages = [{"role": "system", "content": system}] if system else []
        messages += [{"role": "user", "content": user},
                     {"role": "assistant", "content": assistant}]
        return {"messages": messages}
    if profile == "alpaca":
        item = {"instruction": user, "input": "", "output": assistant}
        return {**item, "system": system} if system else item
    if profile == "sharegpt":
        item: dict[str, Any] = {"conversations": [{"from": "human", "value": user},
                                                  {"from": "gpt", "value": assistant}]}
        return {**item, "system": system} if system else item
    raise BareError(f"unknown profile {profile!r} (choose from {', '.join(PROFILES)})")


@dataclass(frozen=True)
class Shaping:
    """How items become rows: the profile, the recipe's templates and, for `dpo`, the
    kinds of pairs asked for."""

    profile: str
    templates: dict[str, str]
    kinds: tuple[str, ...] = preference.PAIR_KINDS

    @property
    def status(self) -> str | None:
        """The status a preference profile reads (None: the one asked for)."""
        if self.profile in preference.DPO:
            return "accepted"
        return "any" if self.profile in preference.KTO else None

    def rows(self, store: Store, item: current.Current) -> list[dict[str, Any]]:
        fields = item.final_fields or {}
        if self.profile in preference.DPO:
            return [preference.pair_row(self.profile, pair, self.templates, item.id)
                    for pair in preference.pairs(store, item, self.kinds)]
        if self.profile in preference.KTO:
            accepted = preference.label(item)
            return [] if accepted is None else [
                preference.kto_row(self.profile, fields, accepted, self.templates, item.id)]
        return [shape(self.profile, fields, self.templates)]

    def empty_row(self, names: list[str]) -> dict[str, Any]:
        if self.profile in preference.PROFILES:
            return preference.empty_row(self.profile, names, self.templates)
        return shape(self.profile, dict.fromkeys(names, ""), self.templates)
