"""Reviewing as a team on one workspace: this window's presence among the others.

The pending item on screen is leased to this window (core/reviewing/leases.py) while it is shown
and the curator is active; deciding moves on to the next item of this reviewer's queue
(core/reviewing/team.py) that no other window holds, leased in the decision's own transaction.
The status line names the others reviewing now. A decision on an item someone else
decided since it was opened asks first (`opened` keeps the event it showed).

`Presence` is a plain object the review screen holds: it reads and writes through the
workspace, and never touches a widget; the screen runs its heartbeat in a thread.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

from bare_tui.core.reviewing import leases, review, team
from bare_tui.errors import BareError
from bare_tui.tui.workspace import Workspace

IDLE_S = 300.0  # no key for this long: the lease is given up, the next key takes it back


class Presence:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.held_by: str | None = None  # who holds the item on screen, when not us
        self.holding: int | None = None  # the item this window holds (the beat renews it)
        self.others: list[leases.Window] = []  # the other windows reviewing now
        self.opened: tuple[int | None, int | None] = (None, None)  # item, its decision
        self.last_key = time.monotonic()

    @property
    def beat_s(self) -> float:
        """How often the heartbeat renews this window's row."""
        return max(0.2, min(self.workspace.settings.lease_s / 3, 5.0))

    def join(self) -> None:
        """Say this window is reviewing (BareError when the workspace cannot be written)."""
        workspace = self.workspace
        leases.join(workspace.store, workspace.session.id, workspace.reviewer,
                    workspace.recipe.name)

    @property
    def idle(self) -> bool:
        return time.monotonic() - self.last_key > IDLE_S

    def key_pressed(self) -> bool:
        """A key was pressed; True when the curator was idle, so the lease the beat gave
        up must be taken back."""
        was_idle = self.idle
        self.last_key = time.monotonic()
        if was_idle:
            self.holding = None
        return was_idle

    def heard(self, others: list[leases.Window]) -> bool:
        """The heartbeat's news of the others; True when it changed."""
        changed = others != self.others
        self.others = others
        return changed

    def line(self) -> str:
        if not self.others:
            return ""
        names = sorted({window.reviewer for window in self.others})
        count = len(self.others)
        return f"reviewing now: {count} other{'s' if count > 1 else ''} ({', '.join(names)})"

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
            self.release()
            return
        if candidate_id == self.holding:
            return  # ours already: the heartbeat keeps it
        self.held_by = None
        settings = workspace.settings
        if not team.in_queue(workspace.store, workspace.recipe.name, workspace.reviewer,
                             [candidate_id], settings.overlap):
            self.release()
            return
        try:
            self.held_by = leases.claim(workspace.store, workspace.session.id, candidate_id,
                                        settings.lease_s, wait_s=leases.UI_WAIT_S)
        except BareError:
            return  # busy: the next show tries again
        self.holding = candidate_id if self.held_by is None else None

    def release(self) -> None:
        self.held_by = self.holding = None
        try:
            leases.release(self.workspace.store, self.workspace.session.id,
                           wait_s=leases.UI_WAIT_S)
        except BareError:
            pass  # expires by itself

    def decided(self, decided: review.Decided) -> None:
        """This window's decision is what it has seen of the item now (no reading back);
        the item leaves the queue (or stays in it) by the decision, so its lease is
        looked at again when it is shown."""
        candidate_id = self.opened[0]
        if candidate_id in decided.ids:
            self.opened = (candidate_id, decided.latest_event(candidate_id))
        if self.holding in decided.ids:
            self.holding = None

    def claim_next(self, ids: Sequence[int], here: int) -> int | None:
        """Lease the next item of the queue after `here` (else before it), inside the
        caller's transaction when it has one; its index, or None."""
        workspace, settings = self.workspace, self.workspace.settings
        index = team.claim_next(workspace.store, workspace.recipe.name, workspace.reviewer,
                                workspace.session.id, ids, here, settings.overlap,
                                settings.lease_s)
        if index is not None:
            self.holding, self.held_by = ids[index], None
        return index


def beat(workspace: Workspace, idle: bool) -> list[leases.Window] | None:
    """Renew this window's row (giving up its lease when idle) and hear who else is here,
    on a connection of the calling thread's own; None when the workspace cannot be
    written just now (the next beat tries again)."""
    session = workspace.session.id
    try:
        with workspace.open_store() as store:
            if idle:
                leases.release(store, session)
            leases.renew(store, session)
            return leases.others(store, session, workspace.recipe.name,
                                 workspace.settings.lease_s)
    except (BareError, sqlite3.Error):
        return None
