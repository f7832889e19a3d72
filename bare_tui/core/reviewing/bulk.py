"""Decisions on many candidates at once, each one undoable step: rejecting the
near-duplicates the embeddings find, and accepting or rejecting a whole cluster."""

from __future__ import annotations

from bare_tui.core.inputs.recipes import Recipe
from bare_tui.core.measures import curation
from bare_tui.core.reviewing import review
from bare_tui.core.workspace.store import Store
from bare_tui.errors import BareError


def reject_near_duplicates(store: Store, task: Recipe, reviewer: str, threshold: float, *,
                           model: str | None = None, dry_run: bool = False
                           ) -> dict[int, str]:
    """Reject near-duplicates (curation.near_duplicates), one undoable step; returns
    {rejected id: reason}. `dry_run` only says which."""
    reasons = curation.near_duplicates(store, task, threshold, model)
    if reasons and not dry_run:
        review.decide(store, list(reasons), "reject", reviewer, reasons=reasons)
    return reasons


def decide_cluster(store: Store, task: Recipe, cluster: int, action: str, reviewer: str,
                   session: review.Session | None = None) -> list[int]:
    """Accept or reject a whole cluster as one undoable step."""
    members = curation.cluster_members(store, task, cluster)
    if not members:
        raise BareError(f"no cluster {cluster} in task {task.name}: run `bare-tui cluster`")
    review.decide(store, members, action, reviewer, reason=f"cluster {cluster}",
                  session=session)
    return members
