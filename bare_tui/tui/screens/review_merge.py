"""Merging by hunks and picking alternatives: functions with explicit parameters that
hand each change to `save`, the review screen's one decision path, and tell what
happened through `flash` (a passing word in the status line).

`]`/`[` make the next/previous changed hunk of the diff current; `<` keeps the draft's
side of it, `>` the refined side, `{`/`}` that side for it and every hunk after. Each
choice is saved at once as an edit holding the merge (core/reviewing/merging.py), so `u` undoes
the last choice and `U` reverts the whole merge. `p` pages through the candidate's
alternatives and picks one.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.app import App

from bare_tui.core.inputs.recipes import Recipe
from bare_tui.core.reviewing import alternatives, review
from bare_tui.core.reviewing.merging import Merge
from bare_tui.core.workspace.store import Store
from bare_tui.errors import BareError
from bare_tui.tui.screens.alternatives import AlternativesScreen
from bare_tui.tui.screens.review_edits import Save
from bare_tui.tui.widgets.diff_view import DiffView

Flash = Callable[[str], None]


class NothingToMerge(BareError):
    """The key changes nothing; the text says why (a passing word, not an error)."""


def keep_side(view: DiffView, store: Store, recipe: Recipe, candidate_id: int, side: str,
              rest: bool = False) -> tuple[review.Change, int]:
    """The merge that keeps `side` of the view's current hunk (with `rest`, of every hunk
    after it too), as a decision's change, and the hunk it chose. The first choice on a
    candidate remembers its decision before, so that U can put it back."""
    pair = view.pair()
    if pair is None:
        raise NothingToMerge("nothing shown to merge")
    if view.hunk is None and view.move_hunk(1) is None:
        raise NothingToMerge("no changed hunks here to merge")
    hunk = view.hunk
    assert hunk is not None
    names = recipe.field_names
    merge = view.merge
    if merge is None:
        before = review.decision_state(store, candidate_id)
        merge = Merge(*pair, (), (before.version, before.final_fields))
    chosen = merge.choose(names, hunk, side, rest=rest)
    fields = chosen.fields(names)
    if view.merge is not None and fields == merge.fields(names):
        raise NothingToMerge(f"hunk {hunk + 1} already keeps the {side} side")
    return review.Change(fields=fields, merge=chosen.to_state()), hunk


def move_hunk(view: DiffView, delta: int, flash: Flash) -> None:
    hunk = view.move_hunk(delta)
    if hunk is None:
        flash("no changed hunks here: draft and refinement read the same")
    else:
        flash(f"hunk {hunk + 1} of {view.hunk_count}: < keeps the draft, > the refinement")


def keep(view: DiffView, store: Store, recipe: Recipe, candidate_id: int | None, side: str,
         rest: bool, save: Save, flash: Flash) -> None:
    """Keep one side of the current hunk (and, with `rest`, of all after it), saved at
    once; the view moves on to the next hunk."""
    if candidate_id is None:
        return
    try:
        change, hunk = keep_side(view, store, recipe, candidate_id, side, rest)
    except NothingToMerge as exc:
        flash(str(exc))
        return
    if not rest and hunk + 1 < view.hunk_count:
        view.hunk = hunk + 1  # on to the next hunk, drawn with the saved merge
    if not save("merge", change):
        view.hunk = hunk
        return
    what = "all hunks from here on" if rest else f"hunk {hunk + 1}"
    flash(f"{what}: {side} kept (u undoes it, U the whole merge)")


def unmerge(view: DiffView, save: Save, flash: Flash) -> None:
    if view.merge is None:
        flash("this text is not a merge: nothing to revert")
    elif save("unmerge", review.Change()):
        flash("merge reverted (u brings it back)")


def pick(app: App, view: DiffView, store: Store, recipe: Recipe, candidate_id: int | None,
         save: Save, flash: Flash) -> None:
    """Page through the candidate's alternatives; the one picked becomes its refinement."""
    detail = view.detail
    if candidate_id is None or detail is None:
        return
    found = alternatives.of_candidate(store, candidate_id)
    if not found:
        flash("no alternatives yet: t asks for refinements, T for drafts")
        return

    def picked(refinement_id: int | None) -> None:
        if refinement_id is not None and save(
                "pick", review.Change(refinement_id=refinement_id)):
            flash(f"alternative {refinement_id} is the refinement now (u undoes)")

    app.push_screen(AlternativesScreen(recipe, detail, found), picked)
