"""What a tag may be: a few words on one line, as a recipe's `[review] tags` declare
them and as a curator types their own (core/reviewing/tags.py keeps and counts them)."""

from __future__ import annotations

from collections.abc import Iterable

from bare_tui.errors import BareError
from bare_tui.text import clean

MAX_SET = 9  # a recipe's tags are bound to the number keys 1-9
MAX_CHARS = 60


def name(text: str) -> str:
    """One tag as stored: its words, single-spaced."""
    tag = " ".join(str(text).split())
    if not tag:
        raise BareError("a tag needs at least one word")
    if len(tag) > MAX_CHARS:
        raise BareError(f"tag {tag[:20]!r}... is {len(tag)} characters long (at most "
                        f"{MAX_CHARS})")
    if clean(tag) != tag:
        raise BareError(f"tag {clean(tag)!r} holds control characters")
    return tag


def names(tags: Iterable[str]) -> tuple[str, ...]:
    """Tags as stored, each once, in the order given."""
    return tuple(dict.fromkeys(name(tag) for tag in tags))


def recipe_set(values: Iterable[str]) -> tuple[str, ...]:
    """A recipe's `[review] tags`, checked: at most one per number key."""
    tags = names(values)
    if len(tags) > MAX_SET:
        raise BareError(f"review.tags: {len(tags)} tags, but only {MAX_SET} number keys "
                        "to bind them to; keep the most common failures")
    return tags
