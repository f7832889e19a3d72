"""Tags on rejects: a recipe's set of failure names (`[review] tags`), offered on number
keys when a curator rejects, beside free words of their own. A reject keeps its tags and
the version they were given to (the draft, the refinement or an edit), so the counts say
which failures the refiner fixes and which it makes. What a tag may be:
core/inputs/tag_names.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bare_tui.core.workspace.store import Store

FILTER_PREFIX = "tag: "  # the review list's filter by tag is "tag: <name>"
# Candidates whose current decision carries the tag (`:tag`), as a condition on the
# candidate_state view (`s`).
HAS_TAG = ("s.candidate_id IN (SELECT d.candidate_id FROM decisions d, json_each(d.tags) t"
           " WHERE d.tags IS NOT NULL AND t.value = :tag)")
VERSIONS = ("draft", "refined", "edited")


def filter_name(tag: str) -> str:
    return FILTER_PREFIX + tag


def used(store: Store, task: str) -> list[str]:
    """Every tag a current decision of the task carries, by name."""
    return [row[0] for row in store.conn.execute(
        "SELECT DISTINCT t.value FROM decisions d JOIN candidates c ON c.id = d.candidate_id,"
        " json_each(d.tags) t WHERE c.task = ? AND d.tags IS NOT NULL ORDER BY 1", (task,))]


def offered(store: Store, task: str, recipe_tags: Iterable[str]) -> list[str]:
    """The recipe's tags in its order, then the other tags curators gave."""
    first = list(recipe_tags)
    return first + [tag for tag in used(store, task) if tag not in first]


@dataclass(frozen=True)
class Count:
    tag: str
    by_version: dict[str, int]  # draft / refined / edited: rejects so tagged

    @property
    def total(self) -> int:
        return sum(self.by_version.values())


def counts(store: Store, task: str, recipe_tags: Iterable[str] = ()) -> list[Count]:
    """Rejected items per tag and the version the tag was given to; the recipe's tags
    come first (with 0 when unused), then the others by name."""
    found: dict[str, dict[str, int]] = {}
    for tag, version, number in store.conn.execute(
            "SELECT t.value, d.tagged, count(*) FROM decisions d"
            " JOIN candidates c ON c.id = d.candidate_id, json_each(d.tags) t"
            " WHERE c.task = ? AND d.status = 'rejected' AND d.tags IS NOT NULL"
            " GROUP BY 1, 2", (task,)):
        found.setdefault(tag, {})[version or "draft"] = number
    order = list(dict.fromkeys([*recipe_tags, *sorted(found)]))
    return [Count(tag, {v: found.get(tag, {}).get(v, 0) for v in VERSIONS}) for tag in order]


def report_lines(store: Store, task: str, recipe_tags: Iterable[str] = ()) -> list[str]:
    """The counts per tag as plain text, for `stats` in the CLI and the TUI."""
    found = counts(store, task, recipe_tags)
    if not found:
        return ["", "rejects by tag: none tagged (reject with X, or `bare-tui reject ID "
                "--tag TAG`)"]
    width = max(len("tag"), *(len(count.tag) for count in found))
    lines = ["", "rejected items by tag, and the version the tag was given to:",
             f"  {'tag':<{width}}  drafts  refinements  edits"]
    lines += [f"  {count.tag:<{width}}  {count.by_version['draft']:>6}  "
              f"{count.by_version['refined']:>11}  {count.by_version['edited']:>5}"
              for count in found]
    return lines
