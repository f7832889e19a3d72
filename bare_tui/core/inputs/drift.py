"""Has a refinement stopped editing its draft? Drift, measured and judged.

BARE's diversity comes from the drafts: the instruct model is asked to *edit* each one
("Do not change the theme"). A refinement that writes an item of its own instead brings
back the instruct model's sameness, and one that copies a seed undoes what BARE is for.
For every refinement (and alternative) this measures, on the item's prompt (the fields
of its export's user turn: `prompt_fields`):

- its similarity to its draft: embedding cosine where an embedding model is at hand
  (`Embed`), and always the share of words the word diff keeps (`overlap`);
- its highest similarity to any of the draft's shots, in both measures.

It has drifted (the recipe's `[drift]`, recipes.DriftRule) when a field copies a seed's
(word for word, ignoring case, spacing and punctuation), when it is near a shot (at or
above the threshold) and nearer to it than to its draft, or when its similarity to the
draft falls below the threshold: cosine when measured, else overlap. The pipeline
retries a drifted refinement like one that fails its checks, and the `candidate_state`
view never proposes one over its draft.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bare_tui.core.inputs.diffing import word_diff
from bare_tui.core.inputs.recipes import Recipe
from bare_tui.core.inputs.schema import template_fields

# Unit vectors of texts, one row per text (core/measures/embeddings.py makes one).
Embed = Callable[[Sequence[str]], np.ndarray]
# A field shorter than this many words is not called a copy: labels and short answers
# ("positive", "42") repeat across items by nature.
COPY_MIN_WORDS = 5
_WORD = re.compile(r"\w+")
_VECTORS_KEPT = 20_000  # texts whose vectors a check keeps (drafts, shots) before it forgets


@dataclass(frozen=True)
class Drift:
    """How far one refinement moved from its draft, and whether that is too far."""

    draft_similarity: float | None  # embedding cosine; None without an embedding model
    draft_overlap: float  # share of the text the word diff keeps, 0..1
    shot_similarity: float | None  # the highest cosine to any of the draft's shots
    shot_overlap: float  # the highest overlap with any of the draft's shots
    shot_id: int | None  # the closest shot's seed id (by the measure that decides)
    reason: str | None = None  # why it drifted; None when it did not

    @property
    def drifted(self) -> bool:
        return self.reason is not None

    def columns(self) -> dict[str, Any]:
        """The `refinements` columns this fills (schema v15)."""
        return {"draft_similarity": self.draft_similarity, "draft_overlap": self.draft_overlap,
                "shot_similarity": self.shot_similarity, "shot_overlap": self.shot_overlap,
                "shot_id": self.shot_id, "drifted": int(self.drifted), "drift": self.reason}


def prompt_fields(task: Recipe) -> list[str]:
    """The fields that make an item the item it is: those its export's user turn holds
    (the prompt a fine-tuned model is given: gsm8k's question, a review's text), or every
    field when the recipe has no user turn. A refiner is asked to correct the rest (a
    solution may be rewritten whole); the prompt is where the theme lives."""
    template = task.export.get("user", "")
    named = set(template_fields(template, "export.user", task.field_names)) if template \
        else set()
    return [name for name in task.field_names if name in named] or task.field_names


def content(names: Sequence[str], fields: Mapping[str, str] | str) -> str:
    """The text a measure compares: the values of those fields without their labels
    (labels are alike in every item), or the raw text of a draft that did not parse."""
    if isinstance(fields, str):
        return fields.strip()
    return "\n".join(str(fields.get(name, "")).strip() for name in names)


def overlap(old: str, new: str) -> float:
    """The share of words a word diff of `old` and `new` keeps, 0..1: words in both, over
    those plus the larger of the words taken out and put in (spaces and punctuation do
    not count: every two texts share those)."""
    spans = word_diff(old, new)

    def words(op: str) -> int:
        return sum(len(_WORD.findall(span.text)) for span in spans if span.op == op)

    kept = words("equal")
    total = kept + max(words("delete"), words("insert"))
    return 1.0 if total == 0 else kept / total


def normalised(text: str) -> str:
    """Words only, lower case: what two copies of one text share."""
    return " ".join(_WORD.findall(text.lower()))


class DriftCheck:
    """Measures the refinements of one job against their drafts and the task's seeds.
    Vectors of drafts and shots are kept, so a retry embeds only its own text."""

    def __init__(self, task: Recipe, seeds: Sequence[dict[str, Any]],
                 embed: Embed | None = None):
        self.task, self.rule, self.embed = task, task.drift, embed
        self.prompt = prompt_fields(task)
        self.seeds = {seed["id"]: seed["fields"] for seed in seeds}
        self.static_shots = [seed["id"] for seed in seeds[: task.shot_count]]
        # per field: a seed's normalised value (long enough to be a copy) -> its seed id
        self.copies: dict[str, dict[str, int]] = {f.name: {} for f in task.fields}
        for seed_id, fields in self.seeds.items():
            for name, index in self.copies.items():
                value = normalised(str(fields.get(name, "")))
                if len(value.split()) >= COPY_MIN_WORDS:
                    index.setdefault(value, seed_id)
        self._vectors: dict[str, np.ndarray] = {}

    def measure(self, draft: Mapping[str, str] | str, fields: Mapping[str, str] | None,
                shot_ids: Sequence[int] = (), *, edits_draft: bool = True) -> Drift | None:
        """The drift of a refinement (`fields`; None when it did not parse: nothing to
        measure) from `draft` (its fields, or raw text), the draft made from `shot_ids`.
        `edits_draft`: False for a new draft from the same shots (an alternative), which
        is meant to differ from the draft; only a copy of a seed counts against it."""
        if fields is None:
            return None
        text, draft_text = content(self.prompt, fields), content(self.prompt, draft)
        shots = [(i, content(self.prompt, self.seeds[i]))
                 for i in ([i for i in shot_ids if i in self.seeds] or self.static_shots)]
        draft_overlap = overlap(draft_text, text)
        shot_overlaps = [overlap(shot, text) for _, shot in shots]
        cosines = self._cosines(text, [draft_text, *(shot for _, shot in shots)])
        draft_similarity = cosines[0] if cosines else None
        shot_cosines = cosines[1:] if cosines else []
        decisive = shot_cosines if cosines else shot_overlaps
        closest = max(range(len(shots)), key=decisive.__getitem__) if shots else None
        measured = Drift(
            draft_similarity, round(draft_overlap, 4),
            max(shot_cosines) if shot_cosines else None,
            round(max(shot_overlaps), 4) if shot_overlaps else 0.0,
            shots[closest][0] if closest is not None else None)
        reason = self._copy(draft, fields)
        if reason is None and edits_draft:
            reason = self._too_far(measured, decisive[closest] if closest is not None else None)
        return dataclasses.replace(measured, reason=reason)

    def _copy(self, draft: Mapping[str, str] | str, fields: Mapping[str, str]) -> str | None:
        """A field that copies a seed's, where the draft's did not already."""
        for f in self.task.fields:
            value = normalised(str(fields.get(f.name, "")))
            seed_id = self.copies[f.name].get(value)
            if seed_id is None:
                continue
            if not isinstance(draft, str) and normalised(str(draft.get(f.name, ""))) == value:
                continue  # the draft was a copy already: not the refinement's doing
            return f"copies seed {seed_id}'s {f.label.lower()} word for word"
        return None

    def _too_far(self, measured: Drift, shot: float | None) -> str | None:
        embedded = measured.draft_similarity is not None
        to_draft = measured.draft_similarity if embedded else measured.draft_overlap

        def said(value: float) -> str:  # three places: 0.699 is not "0.70, below 0.70"
            return f"cosine {value:.3f}" if embedded else f"{value:.1%} of words kept"

        floor = self.rule.min_similarity if embedded else self.rule.min_overlap
        # Near a shot (as near as an edit is to its draft), and nearer than to the draft:
        # two low similarities say only that it is far from both.
        if shot is not None and shot > to_draft and shot >= floor:
            return (f"closer to a shot, seed {measured.shot_id} ({said(shot)}), than to its "
                    f"draft ({said(to_draft)})")
        if to_draft < floor:
            return f"far from its draft: {said(to_draft)}, below the recipe's {floor:g}"
        return None

    def _cosines(self, text: str, others: list[str]) -> list[float]:
        """Cosine of `text` to each of `others`; [] without an embedding model."""
        if self.embed is None:
            return []
        todo = [t for t in dict.fromkeys(others) if t not in self._vectors]
        if len(self._vectors) + len(todo) > _VECTORS_KEPT:
            self._vectors.clear()
            todo = list(dict.fromkeys(others))
        vectors = self.embed([text, *todo])
        self._vectors.update(zip(todo, vectors[1:], strict=True))
        return [round(float(np.dot(vectors[0], self._vectors[o])), 4) for o in others]
