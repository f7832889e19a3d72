"""The review screen: the candidate list beside the draft/refinement diff, and the keys
that decide. Every decision goes through core.reviewing.review and is saved at once.

It watches the app's state (job line, warning, changes, diversity index) and asks the
app for things by messages; slow work (counts, stats, export) runs in thread workers
that post their results back.

It is made of parts it holds or calls, none of which knows the screen: `Presence`
(review_presence.py: this window's lease and the others reviewing), the edit, merge and
tool functions (review_edits.py, review_merge.py, review_tools.py), and the status
line's text (review_status.py). Every key ends in one of its actions."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.events import Key
from textual.screen import Screen
from textual.worker import Worker

from bare_tui.core.measures import curation, decontam, judge
from bare_tui.core.reviewing import merging, review, review_list, tags, team
from bare_tui.core.reviewing.queue import Queue, counted_length
from bare_tui.core.workspace import current
from bare_tui.core.workspace.store import Store
from bare_tui.errors import BareError
from bare_tui.tui import keys
from bare_tui.tui.messages import (
    Computed,
    Counted,
    Lengthened,
    Listed,
    StartAlternatives,
    StopJob,
    TeamSeen,
)
from bare_tui.tui.one_at_a_time import OneAtATime
from bare_tui.tui.screens import review_edits, review_merge, review_tools
from bare_tui.tui.screens.modals import (
    AskScreen,
    ChooseScreen,
    ConfirmScreen,
    HelpScreen,
)
from bare_tui.tui.screens.reject import Rejection, RejectScreen
from bare_tui.tui.screens.review_presence import Presence, beat
from bare_tui.tui.screens.review_status import (
    NARROW,
    Shown,
    Tally,
    detail_note,
    status_lines,
)
from bare_tui.tui.widgets.candidate_list import CandidateList
from bare_tui.tui.widgets.diff_view import DiffView
from bare_tui.tui.widgets.status_line import StatusLine
from bare_tui.tui.widgets.steady_footer import SteadyFooter
from bare_tui.tui.workspace import Workspace

ALTERNATIVES_K = 3  # alternatives asked for by one key press


class ReviewScreen(Screen):
    BINDINGS = keys.bindings()

    def __init__(self, workspace: Workspace) -> None:
        super().__init__()
        self.workspace = workspace
        self.presence = Presence(workspace)
        # The app's published state, as last seen (watched by name: tui/workspace.py).
        self.job_line = ""
        self.warning = ""
        self.diversity_index: curation.DiversityIndex | None = None
        self.job_running = False
        self.filter_name = "all"
        self.cluster: int | None = None
        self.search: str | None = None
        self.tally = Tally()  # counts by state
        # Counts by state (seconds at a million candidates) and the list after another
        # window's writes, read in threads, one at a time each.
        self.count = OneAtATime(self._count_in_thread)
        self.relist = OneAtATime(lambda: self._list_in_thread(self.candidates.current_id))
        self.working = ""  # what a thread worker is doing for this screen
        self.flashed = ""  # a passing word (self.flash)

    # --- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        with Horizontal(id="body"):
            yield CandidateList(self._summaries, id="list")
            yield DiffView(self.workspace.recipe, id="diff")
        yield SteadyFooter()

    def on_mount(self) -> None:
        try:
            self.presence.join()
        except BareError as exc:
            self.notify(f"cannot say who is reviewing: {exc}", severity="warning")
        self.set_interval(self.presence.beat_s, self._heartbeat)
        self.call_after_refresh(self._heartbeat)  # who else is here, at once
        self.reload(keep=None)
        self.count()
        if self.presence.held_by is not None:  # another window has the first item
            self._move_to(self._claim_next())
        self.query_one(CandidateList).focus()
        self.watch(self.app, "job_line", self._job_line_changed, init=False)
        self.watch(self.app, "job_running", self._job_running_changed, init=False)
        self.watch(self.app, "warning", self._warning_changed, init=False)
        self.watch(self.app, "changes", lambda _count: self.relist(), init=False)
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
        return review_list.summaries(self.workspace.store, ids, self._blind_to(ids))

    def _blind_to(self, ids: list[int]) -> set[int]:
        """The doubled items another reviewer decided and this one has not: shown
        undecided while the review is blind (the [review] blind setting, on by default)."""
        settings = self.workspace.settings
        if not settings.blind or not settings.overlap:
            return set()
        return team.blind_to(self.workspace.store, self.workspace.recipe.name,
                             self.workspace.reviewer, ids, settings.overlap)

    # --- data ----------------------------------------------------------------------------

    def reload(self, keep: int | None = -1) -> None:
        """Read the list for the filter, search and cluster (the counts by state, which
        they do not change, are not read again); the cursor stays on the same candidate."""
        stay_on = self.candidates.current_id if keep == -1 else keep
        ids = review_list.queue(self.workspace.store, self.workspace.recipe.name,
                                self.filter_name, self.search, self.cluster)
        self.candidates.set_ids(ids, keep=stay_on)
        self.show_current()
        if counted_length(ids) is None:
            shown = self.candidates
            self._count_length(ids, lambda: shown.ids is not ids)

    @work(thread=True, group="length", exit_on_error=False)
    def _count_length(self, ids: Queue, stale: Callable[[], bool]) -> None:
        """Count the list while the keys go on; a list shown in its place stops the count
        (`stale`: a search's matches at a million take up to a second of a core)."""
        try:
            with self.workspace.open_store() as store:
                ids.count_all(store, stale)
        except (BareError, sqlite3.Error):
            return  # busy, gone or not wanted: the next change counts it again
        self.post_message(Lengthened(ids))

    @on(Lengthened)
    def _lengthened(self, message: Lengthened) -> None:
        if message.ids is self.candidates.ids:
            self.candidates.counted()
            self.update_status()

    @work(thread=True, group="list", exit_on_error=False)
    def _list_in_thread(self, here: int | None) -> None:
        """Re-read the list after another window's or a job's writes, while the keys go
        on: a new filter or search meanwhile makes these ids stale. (`here`, the
        candidate under the cursor, is read before: the list reads on the screen's own
        connection.)"""
        wanted = (self.filter_name, self.search, self.cluster)
        try:
            with self.workspace.open_store() as store:
                ids = review_list.queue(store, self.workspace.recipe.name, *wanted)
                if isinstance(ids, Queue):  # counted, and the page of the cursor read
                    ids.count_all(stale=lambda: wanted != (self.filter_name, self.search,
                                                            self.cluster))
                    with contextlib.suppress(ValueError):
                        ids.index(here)
        except (BareError, sqlite3.Error):
            return  # busy or gone: the next change reads it again
        self.post_message(Listed(wanted, ids))

    @on(Listed)
    def _relisted(self, message: Listed) -> None:
        if message.wanted == (self.filter_name, self.search, self.cluster):
            if isinstance(message.ids, Queue):
                message.ids.on(self.workspace.store)
            self.candidates.set_ids(message.ids, keep=self.candidates.current_id)
            self.show_current()
            self.count()

    @work(thread=True, group="counts", exit_on_error=False)
    def _count_in_thread(self) -> None:
        counted = self.workspace.count_statuses()
        if counted is not None:
            self.post_message(Counted(*counted))

    @on(Worker.StateChanged)
    def _thread_ended(self, event: Worker.StateChanged) -> None:
        if event.worker.is_finished:
            job = {"counts": self.count, "list": self.relist}.get(event.worker.group)
            if job is not None:
                job.ended()

    @on(Counted)
    def _set_counts(self, message: Counted) -> None:
        self.tally.counted(message.counts, message.as_of)
        self.update_status()

    @on(Computed)
    def _computed(self, message: Computed) -> None:
        self.working = ""
        self.update_status()
        message.then(message.result)

    def show_current(self) -> None:
        candidate_id = self.candidates.current_id
        self.presence.hold(candidate_id)
        detail = (None if candidate_id is None
                  else current.current(self.workspace.store, candidate_id))
        if detail is not None and self._blind_to([detail.id]):
            detail = detail.undecided()
        self.query_one(DiffView).show(detail, self._note(candidate_id))
        self.update_status()

    def _note(self, candidate_id: int | None) -> Text | None:
        store = self.workspace.store
        verdict = (None if candidate_id is None else judge.verdicts(
            store, [candidate_id]).get(candidate_id))
        found = ([] if candidate_id is None
                 else decontam.flags(store, [candidate_id]).get(candidate_id, []))
        return detail_note(self.presence.held_by, self._twin(candidate_id),
                           self.workspace.near_duplicate, verdict, found)

    def _twin(self, candidate_id: int | None) -> curation.Twin | None:
        index = self.diversity_index
        return index.twin(candidate_id) if index and candidate_id is not None else None

    @on(CandidateList.Highlighted)
    def _highlighted(self, event: CandidateList.Highlighted) -> None:
        self.show_current()

    def update_status(self) -> None:
        index = self.diversity_index
        lines = status_lines(Shown(
            recipe=self.workspace.recipe.name, reviewer=self.workspace.reviewer,
            position=self.candidates.cursor + 1 if self.candidates.has_row(0) else 0,
            total=counted_length(self.candidates.ids), counts=self.tally.counts,
            diversity=index.accepted_similarity if index is not None else None,
            filter_name=self.filter_name, cluster=self.cluster, search=self.search,
            team=self.presence.line(), flashed=self.flashed, working=self.working,
            job_line=self.job_line, warning=self.warning), self.size.width)
        self.query_one(StatusLine).set(*lines)

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
        if self.candidates.has_row(0):
            self.candidates.cursor = index % len(self.candidates.ids)

    def action_scroll_detail(self, lines: int) -> None:
        self.query_one(DiffView).scroll_relative(y=lines, animate=False)

    # --- deciding ------------------------------------------------------------------------

    def _decide(self, action: str, *, reason: str | None = None,
                change: review.Change | None = None, advance: bool = True,
                confirmed: bool = False) -> bool:
        """Decide the current candidate; False when nothing was written. A candidate
        someone else decided since it was opened is overwritten only when confirmed.
        With `advance`, the lease on the next item is taken in the same transaction."""
        candidate_id = self.candidates.current_id
        if candidate_id is None:
            return False
        held_by = self.presence.held_by
        if held_by is not None:
            self.notify(f"{held_by} is reviewing #{candidate_id} now; j moves on",
                        severity="warning")
            return False
        store = self.workspace.store
        seen = None if confirmed else {candidate_id: self.presence.opened[1]}
        try:
            with store.transaction():
                decided = review.decide(
                    store, [candidate_id], action, self.workspace.reviewer, reason=reason,
                    change=change, session=self.workspace.session, seen=seen)
                claimed = self._claim_next() if advance else None
        except review.DecidedSince as exc:
            self.app.push_screen(ConfirmScreen(str(exc)), lambda yes: yes and self._decide(
                action, reason=reason, change=change, advance=advance, confirmed=True))
            return False
        except BareError as exc:
            self.notify(str(exc), severity="error")
            return False
        self._written(decided)
        if advance:
            self._move_to(claimed)
        else:
            self.show_current()
        return True

    def _written(self, decided: review.Decided) -> None:
        """Show what this window's decision (or undo, or redo) wrote, from what it says
        it wrote: the counts shift, the rows are drawn again, and the app's poll is told
        it was this window's own write."""
        if not self.tally.wrote(decided, self.candidates.cached(decided.ids)):
            self.count()  # the version may have changed its checks: count in a thread
        self.candidates.invalidate(decided.ids)
        self.presence.decided(decided)
        self.workspace.wrote(decided)

    def _claim_next(self) -> int | None:
        return self.presence.claim_next(self.candidates.ids, self.candidates.cursor)

    def _move_to(self, index: int | None) -> None:
        """To the item claimed next; when there is none, one row down."""
        if index is not None:
            self.candidates.cursor = index
        elif self.candidates.has_row(self.candidates.cursor + 1):
            self.candidates.move(1)
        else:
            self.show_current()

    def action_accept(self) -> None:
        self._decide("accept")

    def action_accept_draft(self) -> None:
        self._decide("accept_draft")

    def action_reject(self) -> None:
        self._decide("reject")

    def action_reject_with_reason(self) -> None:
        def answered(rejection: Rejection | None) -> None:
            if rejection is not None:
                self._decide("reject", reason=rejection.reason,
                             change=review.Change(tags=rejection.tags))

        offered = tags.offered(self.workspace.store, self.workspace.recipe.name,
                               self.workspace.recipe.tags)
        self.app.push_screen(RejectScreen(offered), answered)

    def _history(self, action: str, confirmed: bool = False) -> None:
        """Undo or redo; a step made in another window is reverted only when confirmed."""
        session = None if confirmed else self.workspace.session
        replay = review.undo if action == "undo" else review.redo
        try:
            decided = replay(self.workspace.store, self.workspace.reviewer, session)
        except review.OtherSession as exc:
            self.app.push_screen(ConfirmScreen(str(exc)),
                                 lambda yes: yes and self._history(action, confirmed=True))
            return
        except BareError as exc:
            self.notify(str(exc), severity="error", timeout=8)
            return
        if not decided:
            self.flash(f"nothing to {action}")
            return
        self._written(decided)
        first = decided.ids[0]
        if first in self.candidates.ids and first != self.candidates.current_id:
            self.candidates.cursor = self.candidates.ids.index(first)  # shows it
        else:
            self.show_current()

    def action_undo(self) -> None:
        self._history("undo")

    def action_redo(self) -> None:
        self._history("redo")

    # --- editing and merging -----------------------------------------------------------------

    def _save(self, action: str, change: review.Change) -> bool:
        """Decide the candidate on screen and stay on it (an edit, a merge, a pick); an
        edit's or merge's text is checked and verified first, as generated text is."""
        saved = self._decide(action, change=review.checked(self.workspace.recipe, change),
                             advance=False)
        if saved:  # a new version may be usable or not: counted again, in a thread
            self.count()
        return saved

    def _blind_here(self) -> bool:
        """Refuse to edit an item shown blind: the editor would show the other reviewer's
        edit."""
        candidate_id = self.candidates.current_id
        if candidate_id is not None and self._blind_to([candidate_id]):
            self.notify(f"blind review: decide #{candidate_id} first (a, A or x); then e "
                        "edits it", severity="warning")
            return True
        return False

    def action_edit(self) -> None:
        if self._blind_here():
            return
        review_edits.edit_here(self.app, self.workspace.store, self.workspace.recipe,
                               self.candidates.current_id, self._save)

    def action_edit_external(self) -> None:
        if self._blind_here():
            return
        review_edits.edit_in_editor(self.app, self.workspace.store, self.workspace.recipe,
                                    self.candidates.current_id, self._save)

    @property
    def diff_view(self) -> DiffView:
        return self.query_one(DiffView)

    def action_hunk(self, delta: int) -> None:
        review_merge.move_hunk(self.diff_view, delta, self.flash)

    def action_keep(self, side: str, rest: bool = False) -> None:
        review_merge.keep(self.diff_view, self.workspace.store, self.workspace.recipe,
                          self.candidates.current_id, side, rest, self._save, self.flash)

    def action_unmerge(self) -> None:
        review_merge.unmerge(self.diff_view, self._save, self.flash)

    def action_pick(self) -> None:
        review_merge.pick(self.app, self.diff_view, self.workspace.store,
                          self.workspace.recipe, self.candidates.current_id, self._save,
                          self.flash)

    def action_alternatives(self, kind: str) -> None:
        """`t` asks for more refinements of the candidate in the background, `T` for more
        drafts from its shots."""
        candidate_id = self.candidates.current_id
        if candidate_id is None:
            return
        if self.job_running:
            self.notify("a job is already running (G stops it)", severity="warning")
            return
        self.post_message(StartAlternatives(candidate_id, ALTERNATIVES_K, kind))
        what = "refinements" if kind == merging.REFINED else "drafts from the same shots"
        self.flash(f"asking for {ALTERNATIVES_K} more {what} of #{candidate_id}; p shows them")

    # --- the team ----------------------------------------------------------------------------

    def on_key(self, event: Key) -> None:
        if self.presence.key_pressed():  # the beat gave the lease up: take it back
            self.show_current()

    def _heartbeat(self) -> None:
        self._beat(self.presence.idle)

    @work(thread=True, exclusive=True, group="team", exit_on_error=False)
    def _beat(self, idle: bool) -> None:
        others = beat(self.workspace, idle)
        if others is not None:
            self.post_message(TeamSeen(others))

    def on_team_seen(self, message: TeamSeen) -> None:  # (by name: @on needs a widget class)
        if self.presence.heard(message.others):
            if self.presence.held_by is not None:
                self.show_current()  # its holder may have gone: the item may be ours now
            self.update_status()

    # --- views and tools ---------------------------------------------------------------------

    def in_thread(self, what: str, compute: Callable[[Store], Any],
                  then: Callable[[Any], None]) -> None:
        """Run `compute` on a connection of a worker thread's own, the status line saying
        so; `then` gets its result, or the BareError it raised, back on this screen."""
        self.working = what
        self.update_status()
        review_tools.run_in_thread(self, self.workspace, compute, then)

    def action_generate(self) -> None:
        if self.job_running:
            self.notify("a job is already running (G stops it)", severity="warning")
            return
        review_tools.ask_how_many(self.app, self.post_message)

    def action_cancel_job(self) -> None:
        self.post_message(StopJob())

    def action_export(self) -> None:
        review_tools.ask_export(self.app, self.workspace, self.in_thread)

    def action_stats(self) -> None:
        review_tools.show_stats(self.app, self.workspace, self.in_thread)

    def action_compare(self) -> None:
        review_tools.show_comparison(self.app, self.workspace, self.in_thread)

    def show_cluster(self, cluster: int) -> None:
        """Review one cluster: the queue holds its candidates only (f clears it)."""
        self.cluster = cluster
        self.reload(keep=None)

    def action_clusters(self) -> None:
        from bare_tui.tui.screens.clusters import ClustersScreen

        def chosen(cluster: int | None) -> None:
            if cluster is not None:
                self.show_cluster(cluster)

        self.app.push_screen(ClustersScreen(self.workspace), chosen)

    def action_twin(self) -> None:
        index = review_tools.twin_index(self.app, self._twin(self.candidates.current_id),
                                        self.candidates.ids)
        if index is not None:
            self.candidates.cursor = index
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

        by_tag = [tags.filter_name(tag) for tag in tags.offered(
            self.workspace.store, self.workspace.recipe.name, self.workspace.recipe.tags)]
        self.app.push_screen(ChooseScreen("Show", [*review_list.FILTERS, *by_tag],
                                          self.filter_name), chosen)

    def action_refresh(self) -> None:
        self.reload()
        self.count()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(keys.help_rows(self.workspace.keymap)))

    def action_quit(self) -> None:
        self.app.exit()

