"""The review screen: the candidate list beside the draft/refinement diff, and the keys
that decide. Every decision goes through core.review and is saved at once.

It watches the app's state (job line, warning, changes, diversity index) and asks the
app for things by messages; slow work (counts, stats, export) runs in thread workers
that post their results back."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer

from bare_tui.core import curation, current, judge, review, review_list
from bare_tui.errors import BareError
from bare_tui.text import clean
from bare_tui.tui import keys
from bare_tui.tui.messages import Computed, Counted
from bare_tui.tui.screens.modals import (
    AskScreen,
    ChooseScreen,
    ConfirmScreen,
    HelpScreen,
)
from bare_tui.tui.screens.review_edits import ReviewEdits
from bare_tui.tui.screens.review_merge import ReviewMerge
from bare_tui.tui.screens.review_team import ReviewTeam
from bare_tui.tui.screens.review_tools import ReviewTools
from bare_tui.tui.widgets.candidate_list import CandidateList
from bare_tui.tui.widgets.diff_view import DiffView
from bare_tui.tui.widgets.status_line import StatusLine
from bare_tui.tui.workspace import Workspace

NARROW = 100  # columns below which the list goes on top and the two versions stack
STATUS_ORDER = ("pending", "accepted", "rejected")


class ReviewScreen(ReviewEdits, ReviewTools, ReviewMerge, ReviewTeam, Screen):
    BINDINGS = keys.bindings()

    def __init__(self, workspace: Workspace) -> None:
        super().__init__()
        self.workspace = workspace
        # The app's published state, as last seen (watched by name: tui/workspace.py).
        self.job_line = ""
        self.warning = ""
        self.diversity_index: curation.DiversityIndex | None = None
        self.job_running = False
        self.filter_name = "all"
        self.cluster: int | None = None
        self.search: str | None = None
        self.counts: dict[str, int] = {}
        self.decided = 0  # decisions made here: a count read before the latest is stale
        self.working = ""  # what a thread worker is doing for this screen
        self.flashed = ""  # a passing word (self.flash)

    # --- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        with Horizontal(id="body"):
            yield CandidateList(self._summaries, id="list")
            yield DiffView(self.workspace.recipe, id="diff")
        yield Footer()

    def on_mount(self) -> None:
        self.start_team()
        self.reload(keep=None)
        if self.held_by is not None:  # another window has the first item: the next one
            self.advance()
        self.query_one(CandidateList).focus()
        self.watch(self.app, "job_line", self._job_line_changed, init=False)
        self.watch(self.app, "job_running", self._job_running_changed, init=False)
        self.watch(self.app, "warning", self._warning_changed, init=False)
        self.watch(self.app, "changes", lambda _count: self.reload(), init=False)
        self.watch(self.app, "diversity_index", self._diversity_changed, init=False)

    def on_resize(self, event) -> None:
        narrow = event.size.width < NARROW
        self.set_class(narrow, "narrow")
        self.query_one(DiffView).set_stacked(narrow)
        self.update_status()  # shorter words when narrow

    @property
    def candidates(self) -> CandidateList:
        return self.query_one(CandidateList)

    def _summaries(self, ids: list[int]) -> dict[int, review_list.Summary]:
        return review_list.summaries(self.workspace.store, ids)

    # --- data ----------------------------------------------------------------------------

    def reload(self, keep: int | None = -1) -> None:
        """Re-read the list from the database; the cursor stays on the same candidate."""
        stay_on = self.candidates.current_id if keep == -1 else keep
        ids = review_list.candidate_ids(self.workspace.store, self.workspace.recipe.name,
                                        self.filter_name, self.search, self.cluster)
        self.candidates.set_ids(ids, keep=stay_on)
        self.show_current()
        self.count()

    def count(self) -> None:
        self._count(self.decided)

    @work(thread=True, exclusive=True, group="counts")
    def _count(self, decided: int) -> None:
        counts = self.workspace.count_statuses()
        if counts is not None:
            self.post_message(Counted(counts, decided))

    @on(Counted)
    def _set_counts(self, message: Counted) -> None:
        if message.decided != self.decided:  # read before a decision made here since
            self.count()
            return
        self.counts = message.counts
        self.update_status()

    @on(Computed)
    def _computed(self, message: Computed) -> None:
        self.working = ""
        self.update_status()
        message.then(message.result)

    def show_current(self) -> None:
        candidate_id = self.candidates.current_id
        self.hold(candidate_id)
        detail = (None if candidate_id is None
                  else current.current(self.workspace.store, candidate_id))
        self.query_one(DiffView).show(detail, self._note(candidate_id))
        self.update_status()

    def _note(self, candidate_id: int | None) -> Text | None:
        """The line under the heading: who else is on it, the nearest neighbour, the
        judge's verdict."""
        parts = [self._twin_note(candidate_id)]
        if self.held_by is not None:
            parts.insert(0, Text(f"⚑ {clean(self.held_by)} is reviewing this now; j moves on",
                                 style="bold magenta"))
        if candidate_id is not None:
            verdict = judge.verdicts(self.workspace.store, [candidate_id]).get(candidate_id)
            if verdict:
                style = "dim" if verdict[0] == verdict[1] else "yellow"
                parts.append(Text(judge.verdict_text(*verdict), style=style))
        shown = [part for part in parts if part is not None]
        return Text("  ").join(shown) if shown else None

    def _twin(self, candidate_id: int | None) -> curation.Twin | None:
        index = self.diversity_index
        return index.twin(candidate_id) if index and candidate_id is not None else None

    def _twin_note(self, candidate_id: int | None) -> Text | None:
        twin = self._twin(candidate_id)
        if twin is None:
            return None
        other = f"seed {twin.other_id}" if twin.kind == "seed" else f"#{twin.other_id}"
        if twin.similarity >= self.workspace.near_duplicate:
            return Text(f"⚠ near-duplicate of {other} (cosine {twin.similarity:.3f});"
                        " n jumps there", style="bold yellow")
        return Text(f"nearest: {other} (cosine {twin.similarity:.3f})", style="dim")

    @on(CandidateList.Highlighted)
    def _highlighted(self, event: CandidateList.Highlighted) -> None:
        self.show_current()

    def update_status(self) -> None:
        """Two lines, each cut rather than wrapped (a wrapped line would push the
        second out), with shorter words on a narrow screen; a warning above them."""
        total = len(self.candidates.ids)
        position = self.candidates.cursor + 1 if total else 0
        short = self.size.width < NARROW
        names = (dict(zip(STATUS_ORDER, ("pend", "acc", "rej"), strict=True)) if short
                 else {status: status for status in STATUS_ORDER})
        top = Text()
        top.append(f" {self.workspace.recipe.name} ", style="bold reverse")
        top.append(f"  {position} / {total}", style="bold")
        if self.counts:
            top.append(f" of {self.counts.get('candidates', 0)}  ")
            for status, style in zip(STATUS_ORDER, ("", "green", "red"), strict=True):
                top.append(f" {names[status]} {self.counts.get(status, 0)}", style=style)
            top.append(f"  usable {self.counts.get('usable', 0)}", style="bold")
        index = self.diversity_index
        if index is not None and index.accepted_similarity is not None:
            top.append(f"  {'div' if short else 'diversity(accepted)'} "
                       f"{index.accepted_similarity:.3f}", style="bold")
        bottom = Text(f"filter: {self.filter_name}")
        if self.cluster is not None:
            bottom.append(f" in cluster {self.cluster}", style="bold")
        if self.search:
            bottom.append(f"  search: {clean(self.search)}", style="italic")
        bottom.append(f"  reviewer: {clean(self.workspace.reviewer)}  ")
        if self.team_line():
            bottom.append(f"{clean(self.team_line())}  ", style="bold magenta")
        if self.flashed:
            bottom.append(f"{clean(self.flashed)}  ", style="bold reverse")
        if self.working:
            bottom.append(f"working: {clean(self.working)}…  ", style="bold")
        bottom.append(self.job_line or "job: idle (g generates more)", style="dim")
        for line in (top, bottom):
            line.no_wrap, line.overflow = True, "ellipsis"
        warning = ([Text(clean(self.warning), style="bold white on red")]
                   if self.warning else [])
        self.query_one(StatusLine).set(*warning, top, bottom)

    def _job_line_changed(self, line: str) -> None:
        self.job_line = line
        self.update_status()

    def _job_running_changed(self, running: bool) -> None:
        self.job_running = running

    def _diversity_changed(self, index: curation.DiversityIndex | None) -> None:
        self.diversity_index = index
        self.show_current()

    def _warning_changed(self, text: str) -> None:
        self.warning = text
        # The warning takes up to two lines at 80 columns, above the usual two.
        self.query_one(StatusLine).styles.height = 4 if text else 2
        self.update_status()

    # --- moving --------------------------------------------------------------------------

    def action_next(self) -> None:
        self.candidates.move(1)

    def action_previous(self) -> None:
        self.candidates.move(-1)

    def action_skip(self) -> None:
        self.candidates.move(1)

    def action_page(self, direction: int) -> None:
        self.candidates.move(direction * max(1, self.candidates.size.height - 1))

    def action_jump(self, index: int) -> None:
        if self.candidates.ids:
            self.candidates.cursor = index % len(self.candidates.ids)

    def action_scroll_detail(self, lines: int) -> None:
        self.query_one(DiffView).scroll_relative(y=lines, animate=False)

    # --- deciding ------------------------------------------------------------------------

    def _decide(self, action: str, *, reason: str | None = None,
                fields: dict[str, str] | None = None, change: review.Change | None = None,
                advance: bool = True, confirmed: bool = False) -> bool:
        """Decide the current candidate; False when nothing was written. A candidate
        someone else decided since it was opened is overwritten only when confirmed."""
        candidate_id = self.candidates.current_id
        if candidate_id is None:
            return False
        if self.held_by is not None:
            self.notify(f"{self.held_by} is reviewing #{candidate_id} now; j moves on",
                        severity="warning")
            return False
        store = self.workspace.store
        before = review.decision_state(store, candidate_id)
        seen = None if confirmed else {candidate_id: self.opened[1]}
        try:
            review.decide(store, [candidate_id], action, self.workspace.reviewer,
                          reason=reason, change=change or review.Change(fields=fields),
                          session=self.workspace.session, seen=seen)
        except review.DecidedSince as exc:
            self.app.push_screen(ConfirmScreen(str(exc)), lambda yes: yes and self._decide(
                action, reason=reason, fields=fields, change=change, advance=advance,
                confirmed=True))
            return False
        except BareError as exc:
            self.notify(str(exc), severity="error")
            return False
        after = review.decision_state(store, candidate_id)
        self._shift_count(before.status, after.status)
        self.candidates.invalidate([candidate_id])
        self.decided_here(candidate_id)
        try:
            if advance:
                self.advance()
            else:
                self.show_current()
        except BareError as exc:  # the workspace is busy: stay, the next key tries again
            self.notify(str(exc), severity="warning")
            self.show_current()
        return True

    def _shift_count(self, before: str, after: str) -> None:
        self.decided += 1
        if self.counts and before != after:
            self.counts[before] = self.counts.get(before, 0) - 1
            self.counts[after] = self.counts.get(after, 0) + 1

    def action_accept(self) -> None:
        self._decide("accept")

    def action_accept_draft(self) -> None:
        self._decide("accept_draft")

    def action_reject(self) -> None:
        self._decide("reject")

    def action_reject_with_reason(self) -> None:
        def answered(reason: str | None) -> None:
            if reason is not None:
                self._decide("reject", reason=reason.strip() or None)

        self.app.push_screen(AskScreen("Reject: why? (optional)", placeholder="reason"),
                             answered)

    def _history(self, action: str, confirmed: bool = False) -> None:
        """Undo or redo; a step made in another window is reverted only when confirmed."""
        session = None if confirmed else self.workspace.session
        try:
            touched = getattr(review, action)(self.workspace.store, self.workspace.reviewer,
                                              session)
        except review.OtherSession as exc:
            self.app.push_screen(ConfirmScreen(str(exc)),
                                 lambda yes: yes and self._history(action, confirmed=True))
            return
        except BareError as exc:
            self.notify(str(exc), severity="error", timeout=8)
            return
        if not touched:
            self.flash(f"nothing to {action}")
            return
        self.candidates.invalidate(touched)
        if touched[0] in self.candidates.ids:
            self.candidates.cursor = self.candidates.ids.index(touched[0])
        self.show_current()
        self.count()

    def action_undo(self) -> None:
        self._history("undo")

    def action_redo(self) -> None:
        self._history("redo")

    # --- views and tools ---------------------------------------------------------------------

    def action_show_all(self) -> None:
        if not self.query_one(DiffView).show_whole():
            self.flash("the whole text is shown already")

    def action_cycle_diff(self) -> None:
        self.flash(f"diff: {self.query_one(DiffView).cycle_mode()}")

    def flash(self, text: str, seconds: float = 2.0) -> None:
        """A passing word in the status line, where it covers nothing being read."""
        self.flashed = text
        self.update_status()

        def clear() -> None:
            if self.flashed == text:
                self.flashed = ""
                self.update_status()

        self.set_timer(seconds, clear)

    def action_search(self) -> None:
        def answered(text: str | None) -> None:
            if text is not None:
                self.search = text.strip() or None
                self.reload()

        self.app.push_screen(AskScreen("Search the candidates' text (empty clears)",
                                       value=self.search or ""), answered)

    def action_filter(self) -> None:
        def chosen(name: str | None) -> None:
            if name is not None:
                self.filter_name = name
                self.cluster = None
                self.reload()

        self.app.push_screen(ChooseScreen("Show", list(review_list.FILTERS), self.filter_name),
                             chosen)

    def action_refresh(self) -> None:
        self.reload()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(keys.help_rows(self.workspace.keymap)))

    def action_quit(self) -> None:
        self.app.exit()

