"""Merging by hunks and picking alternatives. Part of the review screen (a mixin of
ReviewScreen).

`]`/`[` make the next/previous changed hunk of the diff current; `<` keeps the draft's
side of it, `>` the refined side, `{`/`}` that side for it and every hunk after. Each
choice is saved at once as an edit holding the merge (core/merging.py), so `u` undoes
the last choice and `U` reverts the whole merge. `t` asks for more refinements of the
candidate in the background, `T` for more drafts from its shots; `p` pages through its
alternatives and picks one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bare_tui.core import alternatives, merging, review
from bare_tui.core.merging import Merge
from bare_tui.tui.messages import StartAlternatives
from bare_tui.tui.screens.alternatives import AlternativesScreen
from bare_tui.tui.widgets.diff_view import DiffView

if TYPE_CHECKING:
    from bare_tui.tui.screens.review import ReviewScreen

    Base = ReviewScreen
else:
    Base = object

ALTERNATIVES_K = 3  # alternatives asked for by one key press


class ReviewMerge(Base):
    @property
    def diff_view(self) -> DiffView:
        return self.query_one(DiffView)

    def action_hunk(self, delta: int) -> None:
        view = self.diff_view
        hunk = view.move_hunk(delta)
        if hunk is None:
            self.flash("no changed hunks here: draft and refinement read the same")
        else:
            self.flash(f"hunk {hunk + 1} of {view.hunk_count}: < keeps the draft, "
                       "> the refinement")

    def action_keep(self, side: str, rest: bool = False) -> None:
        """Keep one side of the current hunk (and, with `rest`, of all after it)."""
        view = self.diff_view
        candidate_id = self.candidates.current_id
        pair = view.pair()
        if candidate_id is None or pair is None:
            return
        if view.hunk is None and view.move_hunk(1) is None:
            self.flash("no changed hunks here to merge")
            return
        hunk = view.hunk
        assert hunk is not None
        names = self.workspace.recipe.field_names
        merge = view.merge
        if merge is None:
            before = review.decision_state(self.workspace.store, candidate_id)
            merge = Merge(*pair, (), (before.version, before.final_fields))
        chosen = merge.choose(names, hunk, side, rest=rest)
        fields = chosen.fields(names)
        if view.merge is not None and fields == merge.fields(names):
            self.flash(f"hunk {hunk + 1} already keeps the {side} side")
            return
        if not rest and hunk + 1 < view.hunk_count:
            view.hunk = hunk + 1  # on to the next hunk, drawn with the saved merge
        change = review.Change(fields=fields, merge=chosen.to_state())
        if not self._decide("merge", change=change, advance=False):
            view.hunk = hunk
            return
        what = "all hunks from here on" if rest else f"hunk {hunk + 1}"
        self.flash(f"{what}: {side} kept (u undoes it, U the whole merge)")

    def action_unmerge(self) -> None:
        if self.diff_view.merge is None:
            self.flash("this text is not a merge: nothing to revert")
            return
        if self._decide("unmerge", advance=False):
            self.flash("merge reverted (u brings it back)")

    # --- alternatives ----------------------------------------------------------------------

    def action_alternatives(self, kind: str) -> None:
        candidate_id = self.candidates.current_id
        if candidate_id is None:
            return
        if self.job_running:
            self.notify("a job is already running (G stops it)", severity="warning")
            return
        self.post_message(StartAlternatives(candidate_id, ALTERNATIVES_K, kind))
        what = "refinements" if kind == merging.REFINED else "drafts from the same shots"
        self.flash(f"asking for {ALTERNATIVES_K} more {what} of #{candidate_id}; p shows them")

    def action_pick(self) -> None:
        candidate_id = self.candidates.current_id
        if candidate_id is None:
            return
        found = alternatives.of_candidate(self.workspace.store, candidate_id)
        if not found:
            self.flash("no alternatives yet: t asks for refinements, T for drafts")
            return
        detail = self.diff_view.detail
        if detail is None:
            return

        def picked(refinement_id: int | None) -> None:
            if refinement_id is not None and self._decide(
                    "pick", change=review.Change(refinement_id=refinement_id), advance=False):
                self.flash(f"alternative {refinement_id} is the refinement now (u undoes)")

        self.app.push_screen(AlternativesScreen(self.workspace.recipe, detail, found), picked)
