"""Word-level diff of a draft and its refinement, as neutral spans for any renderer."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

# Words, runs of whitespace and single punctuation marks: a diff that a reader can follow.
_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")
# Past this many tokens a side, an exact diff costs too much: show delete-all/insert-all.
MAX_TOKENS = 6000


@dataclass(frozen=True)
class Span:
    op: str  # "equal", "delete" (only in the old text) or "insert" (only in the new)
    text: str


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def word_diff(old: str, new: str) -> list[Span]:
    """Spans that read as `old` when inserts are dropped and as `new` when deletes are."""
    a, b = tokens(old), tokens(new)
    if len(a) > MAX_TOKENS or len(b) > MAX_TOKENS:
        return [s for s in (Span("delete", old), Span("insert", new)) if s.text]
    spans: list[Span] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            spans.append(Span("equal", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            spans.append(Span("delete", "".join(a[i1:i2])))
        if j2 > j1:
            spans.append(Span("insert", "".join(b[j1:j2])))
    return spans


def similarity(spans: list[Span]) -> float:
    """Share of characters left unchanged, 0..1."""
    same = sum(len(s.text) for s in spans if s.op == "equal")
    total = same + max(sum(len(s.text) for s in spans if s.op == "delete"),
                       sum(len(s.text) for s in spans if s.op == "insert"))
    return 1.0 if total == 0 else same / total
