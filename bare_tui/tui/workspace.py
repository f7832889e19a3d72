"""What every screen of one review window shares: the workspace's connection, the task,
the reviewer and this window's session, the settings. The app makes one and hands it to
each screen it opens, so that a screen needs nothing of the app's insides (and never
imports it): what it asks of the app it asks by message (tui/messages.py), and the
app's published state (`job_line`, `warning`, `changes`, `diversity_index`) it watches
by name."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from bare_tui.config import Settings
from bare_tui.core import diversity, review
from bare_tui.core.recipes import Recipe
from bare_tui.core.store import Store
from bare_tui.errors import BareError


@dataclass
class Workspace:
    settings: Settings
    recipe: Recipe
    store: Store  # the UI thread's connection; a thread worker opens its own
    session: review.Session = field(default_factory=review.Session)
    near_duplicate: float = diversity.DEFAULT_NEAR_DUPLICATE

    @property
    def reviewer(self) -> str:
        return self.settings.reviewer

    @property
    def keymap(self) -> dict[str, str]:
        return dict(self.settings.keys)

    def open_store(self) -> Store:
        """A connection for the calling thread (a worker's own); never makes a file."""
        return Store(self.settings.db, create=False, busy_timeout=self.settings.busy_timeout)

    def count_statuses(self) -> dict[str, int] | None:
        """Counts by state, on a connection of the calling thread's own (None: the
        workspace cannot be read just now; the next poll tries again)."""
        try:
            with self.open_store() as store:
                return review.status_counts(store, self.recipe.name)
        except (BareError, sqlite3.Error):
            return None
