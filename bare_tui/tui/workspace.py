"""What every screen of one review window shares: the workspace's connection, the task,
the reviewer and this window's session, the settings. The app makes one and hands it to
each screen it opens, so that a screen needs nothing of the app's insides (and never
imports it): what it asks of the app it asks by message (tui/messages.py), and the
app's published state (`job_line`, `warning`, `changes`, `diversity_index`) it watches
by name.

It also holds what this window last saw of the workspace (`fingerprint`): a screen
records its own decisions there as it writes them, so the app's poll reloads the list
for what others wrote, never for this window's own keypresses."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from bare_tui.config import Settings
from bare_tui.core.inputs.recipes import Recipe
from bare_tui.core.measures import diversity
from bare_tui.core.reviewing import review, review_list
from bare_tui.core.workspace.store import Store
from bare_tui.errors import BareError


@dataclass
class Workspace:
    settings: Settings
    recipe: Recipe
    store: Store  # the UI thread's connection; a thread worker opens its own
    session: review.Session = field(default_factory=review.Session)
    near_duplicate: float = diversity.DEFAULT_NEAR_DUPLICATE
    fingerprint: tuple | None = None  # review_list.fingerprint as last seen or written here

    @property
    def reviewer(self) -> str:
        return self.settings.reviewer

    @property
    def keymap(self) -> dict[str, str]:
        return dict(self.settings.keys)

    def open_store(self) -> Store:
        """A connection for the calling thread (a worker's own); never makes a file."""
        return Store(self.settings.db, create=False, busy_timeout=self.settings.busy_timeout)

    def seen_changed(self) -> bool:
        """Whether what the review shows changed since last seen (noting it as seen)."""
        seen = review_list.fingerprint(self.store)
        changed, self.fingerprint = seen != self.fingerprint, seen
        return changed

    def wrote(self, decided: review.Decided) -> None:
        """Record this window's own decision in what it has seen: its events follow the
        newest one seen with nothing between, so the next look finds no change from
        elsewhere. When another process wrote events in between, the fingerprint is left
        as it is and that look reloads."""
        events = decided.event_ids
        if not events or self.fingerprint is None:
            return
        seen = self.fingerprint[review_list.FINGERPRINT_EVENTS]
        if (seen or 0) + 1 == events[0] and events == list(range(events[0], events[-1] + 1)):
            update = list(self.fingerprint)
            update[review_list.FINGERPRINT_EVENTS] = events[-1]
            self.fingerprint = tuple(update)

    def count_statuses(self) -> tuple[dict[str, int], int] | None:
        """Counts by state and the newest decision event they include, read at once on a
        connection of the calling thread's own (None: the workspace cannot be read just
        now; the next poll tries again)."""
        try:
            with self.open_store() as store, store.snapshot():
                as_of = store.scalar("SELECT max(id) FROM events") or 0
                return review.status_counts(store, self.recipe.name), as_of
        except (BareError, sqlite3.Error):
            return None
