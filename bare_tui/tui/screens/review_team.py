"""Reviewing as a team on one workspace. Part of the review screen (a mixin of
ReviewScreen).

The pending item on screen is leased to this window (core/leases.py) while it is shown
and the curator is active; deciding moves on to the next item of this reviewer's queue
(core/team.py) that no other window holds. The status line names the others reviewing
now. A decision on an item someone else decided since it was opened asks first.
"""

from __future__ import annotations

import sqlite3
import time
from typing import TYPE_CHECKING

from textual import work
from textual.events import Key

from bare_tui.core import leases, review, team
from bare_tui.errors import BareError
from bare_tui.tui.messages import TeamSeen

if TYPE_CHECKING:
    from bare_tui.tui.screens.review import ReviewScreen

    Base = ReviewScreen
else:
    Base = object

IDLE_S = 300.0  # no key for this long: the lease is given up, the next key takes it back


class ReviewTeam(Base):
    def start_team(self) -> None:
        self.held_by: str | None = None  # who holds the item on screen, when not us
        self.holding: int | None = None  # the item this window holds (the beat renews it)
        self.others: list[leases.Window] = []
        self.opened: tuple[int | None, int | None] = (None, None)  # item, its decision
        self.last_key = time.monotonic()
        settings = self.workspace.settings
        try:
            leases.join(self.workspace.store, self.workspace.session.id,
                        self.workspace.reviewer, self.workspace.recipe.name)
        except BareError as exc:
            self.notify(f"cannot say who is reviewing: {exc}", severity="warning")
        self.set_interval(max(0.2, min(settings.lease_s / 3, 5.0)), self._heartbeat)
        self.call_after_refresh(self._heartbeat)  # who else is here, at once

    def on_key(self, event: Key) -> None:
        idle = time.monotonic() - self.last_key > IDLE_S
        self.last_key = time.monotonic()
        if idle:  # the beat gave the lease up: take it back
            self.holding = None
            self.show_current()

    @property
    def idle(self) -> bool:
        return time.monotonic() - self.last_key > IDLE_S

    def _heartbeat(self) -> None:
        self._beat(self.workspace.session.id, self.idle)

    @work(thread=True, exclusive=True, group="team", exit_on_error=False)
    def _beat(self, session: str, idle: bool) -> None:
        """Renew this window's row (giving up its lease when idle); hear who else is here."""
        workspace = self.workspace
        try:
            with workspace.open_store() as store:
                if idle:
                    leases.release(store, session)
                leases.renew(store, session)
                others = leases.others(store, session, workspace.recipe.name,
                                       workspace.settings.lease_s)
        except (BareError, sqlite3.Error):
            return  # the next beat tries again
        self.post_message(TeamSeen(others))

    def on_team_seen(self, message: TeamSeen) -> None:  # (by name: @on needs a widget class)
        if message.others != self.others:
            self.others = message.others
            self.update_status()

    # --- the item on screen ------------------------------------------------------------------

    def hold(self, candidate_id: int | None) -> None:
        """Lease the item on screen when it is in this reviewer's queue (else give up any
        lease); remember who holds it when another window does."""
        workspace = self.workspace
        if candidate_id != self.opened[0]:
            event = (review.decision_event(workspace.store, candidate_id)
                     if candidate_id is not None else None)
            self.opened = (candidate_id, event)
        if candidate_id is None or self.idle:
            self._release()
            return
        if candidate_id == self.holding:
            return  # ours already: the heartbeat keeps it
        self.held_by = None
        if not team.in_queue(workspace.store, workspace.recipe.name, workspace.reviewer,
                             [candidate_id], workspace.settings.overlap):
            self._release()
            return
        try:
            self.held_by = leases.claim(workspace.store, workspace.session.id, candidate_id,
                                        workspace.settings.lease_s, wait_s=leases.UI_WAIT_S)
        except BareError:
            return  # busy: the next show tries again
        self.holding = candidate_id if self.held_by is None else None

    def _release(self) -> None:
        self.held_by = self.holding = None
        try:
            leases.release(self.workspace.store, self.workspace.session.id,
                           wait_s=leases.UI_WAIT_S)
        except BareError:
            pass  # expires by itself

    def decided_here(self, candidate_id: int) -> None:
        """This window's decision is what it has seen of the item now; the item leaves
        the queue (or stays in it) by the decision, so its lease is looked at again."""
        self.opened = (candidate_id, review.decision_event(self.workspace.store, candidate_id))
        self.holding = None

    def advance(self) -> None:
        """To the next item of this reviewer's queue that no other window holds (taking
        its lease), after this one, else before it; when there is none, or the workspace
        is too busy to claim one now, one row down."""
        here = self.candidates.cursor
        index = self._claim_next(here)
        if index is not None:
            self.candidates.cursor = index
        elif here < len(self.candidates.ids) - 1:
            self.candidates.move(1)
        else:
            self.show_current()

    def _claim_next(self, here: int) -> int | None:
        workspace, settings = self.workspace, self.workspace.settings
        ids = self.candidates.ids
        for start in (here + 1, 0):
            while (index := team.next_in_queue(
                    workspace.store, workspace.recipe.name, workspace.reviewer,
                    workspace.session.id, ids, start, settings.overlap,
                    settings.lease_s)) is not None and index != here:
                try:
                    holder = leases.claim(workspace.store, workspace.session.id, ids[index],
                                          settings.lease_s, wait_s=leases.UI_WAIT_S)
                except BareError:
                    return None  # busy: the next show claims
                if holder is None:
                    self.holding, self.held_by = ids[index], None
                    return index
                start = index + 1  # taken meanwhile: the next one
        return None

    def team_line(self) -> str:
        if not self.others:
            return ""
        names = sorted({window.reviewer for window in self.others})
        return f"reviewing now: {len(self.others)} other{'s' if len(self.others) > 1 else ''}" \
               f" ({', '.join(names)})"
