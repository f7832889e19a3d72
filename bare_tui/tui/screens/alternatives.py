"""The alternatives pager: a candidate's draft beside one alternative at a time (more
refinements, or more drafts from the same shots), each with its own diff; Enter picks
the one shown, which becomes the candidate's refinement."""

from __future__ import annotations

import dataclasses

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen

from bare_tui.core.inputs.recipes import Recipe
from bare_tui.core.reviewing.alternatives import Alternative
from bare_tui.core.workspace.current import Current
from bare_tui.text import clean
from bare_tui.tui.widgets.diff_view import DiffView
from bare_tui.tui.widgets.steady_footer import SteadyFooter

KIND_NAMES = {"refined": "another refinement", "draft": "another draft, same shots"}


class AlternativesScreen(Screen[int | None]):
    """Dismissed with the refinement id to pick, or None."""

    BINDINGS = [
        Binding("escape,q,p", "close", "Back"),
        Binding("l,right,n", "page(1)", "Next"),
        Binding("h,left,N", "page(-1)", "Prev"),
        Binding("enter", "pick", "Pick this one"),
        Binding("d", "cycle_diff", "Diff"),
        Binding("J,shift+down,down,j", "scroll(3)", "Scroll", show=False),
        Binding("K,shift+up,up,k", "scroll(-3)", "Scroll up", show=False),
    ]

    def __init__(self, recipe: Recipe, detail: Current, found: list[Alternative]):
        super().__init__()
        self.recipe = recipe
        self.detail = detail
        self.found = found
        picked = [i for i, alt in enumerate(found) if alt.id == detail.picked_id]
        self.index = picked[0] if picked else len(found) - 1  # the newest first

    def compose(self) -> ComposeResult:
        yield DiffView(self.recipe, id="diff")
        yield SteadyFooter()

    def on_mount(self) -> None:
        self._show()
        self.query_one(DiffView).focus()

    @property
    def shown(self) -> Alternative:
        return self.found[self.index]

    def _show(self) -> None:
        alt = self.shown
        # The candidate as it would read with this alternative as its refinement.
        detail = dataclasses.replace(
            self.detail, status=self.detail.status, decided_version=None, edited=False,
            final_version="refined" if alt.parsed else "draft", final_fields=alt.fields,
            final_problems=alt.problems, latest_fields=alt.fields, latest_raw=alt.raw,
            latest_problems=alt.problems, best_fields=alt.fields, best_problems=alt.problems,
            refinement_failed=False, merge=None, picked_id=None, drift=alt.drift,
            draft_similarity=alt.draft_similarity, draft_overlap=alt.draft_overlap,
            refinement_drifted=False)
        state = "did not parse" if not alt.parsed else (
            f"fails {len(alt.problems)} check(s)" if alt.problems else "passes its checks")
        note = Text()
        note.append(f"alternative {self.index + 1} of {len(self.found)} (#{alt.id})",
                    style="bold")
        note.append(f"  {KIND_NAMES.get(alt.kind, alt.kind)}, seed {alt.seed}, {state}")
        if alt.drift:  # core/inputs/drift.py: shown, never proposed; picking is a choice
            note.append(f"  drifted: {clean(alt.drift)}", style="bold yellow")
        if alt.id == self.detail.picked_id:
            note.append("  (picked)", style="bold green")
        note.append("  ← → pages, Enter picks", style="dim")
        self.query_one(DiffView).show(detail, note)

    def action_page(self, delta: int) -> None:
        self.index = (self.index + delta) % len(self.found)
        self._show()

    def action_scroll(self, lines: int) -> None:
        self.query_one(DiffView).scroll_relative(y=lines, animate=False)

    def action_cycle_diff(self) -> None:
        self.query_one(DiffView).cycle_mode()

    def action_pick(self) -> None:
        if not self.shown.parsed:
            self.notify("this alternative did not parse: it cannot be the refinement",
                        severity="warning")
            return
        self.dismiss(self.shown.id)

    def action_close(self) -> None:
        self.dismiss(None)
