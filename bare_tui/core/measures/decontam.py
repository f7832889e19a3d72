"""Decontamination: candidates that overlap an evaluation set, found two ways.

- n-gram overlap on normalised words (lower case, punctuation dropped, every number one
  token "<n>", so a copy with its numbers changed still matches): 13-grams by default, as
  the decontamination of LM evaluation harnesses; a candidate sharing at least one with
  an item is flagged, with the count as evidence ("13-gram overlap ×4");
- embedding similarity: a candidate whose text is at or above a cosine threshold to an
  item of the set ("cosine 0.94"), compared in chunks so that 100,000 candidates against
  a few thousand items stay within memory.

Both are linear in the number of candidates: an index of the set's n-grams, looked up
per candidate, and one matrix product per chunk.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from bare_tui.core.inputs.recipes import Recipe
from bare_tui.core.workspace import current
from bare_tui.core.workspace.store import Store
from bare_tui.core.workspace.values import IN_IDS, ids_param, now
from bare_tui.errors import BareError
from bare_tui.text import shown_path

NGRAM = 13
THRESHOLD = 0.9  # cosine of all-MiniLM-L6-v2 vectors; light rewrites of one item score above
CHUNK = 4096  # candidates per matrix product
WORD = re.compile(r"[a-z0-9]+(?:[.,'][a-z0-9]+)*")


def words(text: str) -> list[str]:
    """The normalised words of a text: lower case, no punctuation, numbers as `<n>`."""
    return ["<n>" if any(c.isdigit() for c in word) else word
            for word in WORD.findall(text.lower())]


def grams(text: str, n: int) -> set[tuple[str, ...]]:
    tokens = words(text)
    if len(tokens) < n:  # a short text is one gram of itself
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


@dataclass(frozen=True)
class Match:
    """A candidate's overlap with one item of the set."""

    item: int  # index in the set
    method: str  # "ngram" or "embedding"
    score: float  # n-grams shared, or the cosine
    evidence: str  # for people: "13-gram overlap ×4", "cosine 0.94"


class NgramIndex:
    """The n-grams of an evaluation set, each pointing at the items that hold it."""

    def __init__(self, texts: Sequence[str], n: int = NGRAM) -> None:
        self.n = n
        self.items: dict[tuple[str, ...], list[int]] = {}
        for index, text in enumerate(texts):
            for gram in grams(text, n):
                self.items.setdefault(gram, []).append(index)

    def match(self, text: str) -> Match | None:
        """The item sharing the most n-grams with `text`, if any is shared."""
        shared: Counter[int] = Counter()
        for gram in grams(text, self.n):
            shared.update(self.items.get(gram, ()))
        if not shared:
            return None
        item, count = shared.most_common(1)[0]
        return Match(item, "ngram", float(count), f"{self.n}-gram overlap ×{count}")


def ngram_matches(index: NgramIndex, texts: Iterable[str],
                  on_progress: Callable[[int], None] | None = None) -> dict[int, Match]:
    """{position in `texts`: its match} for the texts that share an n-gram with the set."""
    found = {}
    for position, text in enumerate(texts):
        match = index.match(text)
        if match is not None:
            found[position] = match
        if on_progress and position % 1000 == 999:
            on_progress(position + 1)
    return found


def embedding_matches(candidates: np.ndarray, items: np.ndarray, threshold: float = THRESHOLD,
                      chunk: int = CHUNK) -> dict[int, Match]:
    """{row of `candidates`: its nearest item} for rows at or above `threshold` (both
    matrices of unit vectors), one chunk of candidates at a time."""
    found = {}
    if not len(candidates) or not len(items):
        return found
    for start in range(0, len(candidates), chunk):
        similarity = candidates[start:start + chunk] @ items.T
        nearest = similarity.argmax(axis=1)
        best = similarity[np.arange(len(nearest)), nearest]
        for row in np.flatnonzero(best >= threshold):
            cosine = float(best[row])
            found[start + int(row)] = Match(int(nearest[row]), "embedding", cosine,
                                            f"cosine {cosine:.2f}")
    return found


# --- the evaluation set and the flags a workspace keeps ----------------------------------


def shipped() -> list[str]:
    """The evaluation sets shipped with bare-tui, by the names `--against` takes."""
    folder = resources.files("bare_tui.evalsets")
    return sorted(entry.name.removesuffix(".jsonl").replace("_", "-")
                  for entry in folder.iterdir() if entry.name.endswith(".jsonl"))


def set_path(spec: str) -> Path:
    """A set by file path, or one shipped with bare-tui by its name (`gsm8k-test`)."""
    path = Path(spec)
    if path.is_file():
        return path
    entry = resources.files("bare_tui.evalsets").joinpath(f"{spec.replace('-', '_')}.jsonl")
    if spec in shipped() and entry.is_file():
        return Path(str(entry))
    raise BareError(f"no evaluation set {spec!r}: give a JSONL file, or a shipped set "
                    f"({', '.join(shipped())})")


def read_set(path: Path, field: str | None) -> list[str]:
    """The texts of an evaluation set, a JSONL file of objects: `field`'s value, or
    every text value of the object when it has no such field (or none is named)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BareError(f"cannot read evaluation set {shown_path(path)}: {exc}") from None
    texts = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise BareError(f"{shown_path(path)}:{number}: not JSON: {exc}") from None
        if not isinstance(item, dict):
            raise BareError(f"{shown_path(path)}:{number}: each line must be a JSON object")
        if field is not None and isinstance(item.get(field), str):
            texts.append(item[field])
        else:
            texts.append("\n".join(v for v in item.values() if isinstance(v, str)))
    if not texts:
        raise BareError(f"evaluation set {shown_path(path)} holds no item")
    return texts


@dataclass
class Checked:
    """What one decontamination run found."""

    eval_set: str
    candidates: int
    flagged: dict[int, list[Match]]  # candidate id: its matches

    def lines(self) -> list[str]:
        by_method = Counter(m.method for matches in self.flagged.values() for m in matches)
        how = ", ".join(f"{count} by {method}" for method, count in sorted(by_method.items()))
        return [f"clean: {self.candidates - len(self.flagged)} of {self.candidates} "
                f"candidates; {len(self.flagged)} flagged against {self.eval_set}"
                + (f" ({how})" if how else "")]


def candidate_texts(store: Store, task: Recipe, field: str | None) -> tuple[list[int], list[str]]:
    """(ids, texts) of the task's candidates: the final text's `field` (default: the
    recipe's first field), or the raw draft when nothing parsed."""
    name = field or task.field_names[0]
    if name not in task.field_names:
        raise BareError(f"--field {name!r} is not a field of task {task.name} "
                        f"({', '.join(task.field_names)})")
    ids, texts = [], []
    for item in current.of_task(store, task.name):
        ids.append(item.id)
        texts.append(item.final_fields.get(name, "") if item.final_fields else item.draft_raw)
    return ids, texts


def record(store: Store, task: Recipe, eval_set: str, ids: Sequence[int],
           set_texts: Sequence[str], found: dict[int, list[Match]]) -> None:
    """Replace the task's flags against this set with `found` (positions in `ids`)."""
    with store.transaction():
        store.conn.execute("DELETE FROM contamination WHERE task = ? AND eval_set = ?",
                           (task.name, eval_set))
        store.conn.executemany(
            "INSERT INTO contamination (candidate_id, task, eval_set, method, item, matched,"
            " score, evidence, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(ids[position], task.name, eval_set, m.method, m.item, set_texts[m.item][:2000],
              m.score, m.evidence, now())
             for position, matches in found.items() for m in matches])


def matches(texts: Sequence[str], set_texts: Sequence[str], *, n: int = NGRAM,
            threshold: float | None = THRESHOLD, encoder: Any = None,
            on_progress: Callable[[int], None] | None = None) -> dict[int, list[Match]]:
    """{position in `texts`: its matches} by n-grams and (with an `encoder`, a
    sentence-transformers model, and a threshold) by embedding similarity."""
    found: dict[int, list[Match]] = {}
    for position, match in ngram_matches(NgramIndex(set_texts, n), texts,
                                         on_progress).items():
        found.setdefault(position, []).append(match)
    if encoder is not None and threshold is not None and texts:
        def encode(batch: Sequence[str]) -> np.ndarray:
            return encoder.encode(list(batch), batch_size=64, normalize_embeddings=True,
                                  convert_to_numpy=True, show_progress_bar=False)
        for position, match in embedding_matches(encode(texts), encode(set_texts),
                                                  threshold).items():
            found.setdefault(position, []).append(match)
    return found


def check(store: Store, task: Recipe, set_path: Path, *, field: str | None = None,
          n: int = NGRAM, threshold: float | None = THRESHOLD, encoder: Any = None,
          on_progress: Callable[[int], None] | None = None) -> Checked:
    """Flag the task's candidates that overlap the evaluation set at `set_path`; the
    flags are stored, replacing this set's earlier ones."""
    set_texts = read_set(set_path, field or task.field_names[0])
    ids, texts = candidate_texts(store, task, field)
    found = matches(texts, set_texts, n=n, threshold=threshold, encoder=encoder,
                    on_progress=on_progress)
    name = shown_path(set_path.name)
    record(store, task, name, ids, set_texts, found)
    return Checked(name, len(ids), {ids[p]: found[p] for p in found})


def check_recipe_sets(store: Store, task: Recipe, encoder: Any = None) -> list[Checked]:
    """Check the task's candidates against every set its recipe names ([decontam]):
    n-grams, and embeddings too when an `encoder` is given."""
    return [check(store, task, set_path(name), field=task.decontam_field,
                  n=task.decontam_ngram, encoder=encoder, threshold=THRESHOLD)
            for name in task.decontam_against]


@dataclass(frozen=True)
class Flag:
    """A stored overlap of a candidate with an item of an evaluation set."""

    eval_set: str
    method: str
    item: int
    matched: str  # the set's item
    evidence: str


def flags(store: Store, ids: Sequence[int]) -> dict[int, list[Flag]]:
    """The stored flags of these candidates."""
    found: dict[int, list[Flag]] = {}
    if not ids:
        return found
    rows = store.conn.execute(
        "SELECT candidate_id, eval_set, method, item, matched, evidence FROM contamination"
        f" WHERE candidate_id {IN_IDS} ORDER BY eval_set, method", (ids_param(ids),))
    for candidate_id, *rest in rows:
        found.setdefault(candidate_id, []).append(Flag(*rest))
    return found


# The candidates a decontamination run flagged, as a condition on candidate_state (`s`).
FLAGGED = "s.candidate_id IN (SELECT candidate_id FROM contamination)"
