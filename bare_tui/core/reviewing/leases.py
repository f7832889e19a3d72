"""A team on one workspace: who is reviewing now, and short leases on queue items.

Every open review window has a row in `reviewing` (its session, reviewer, pid, host),
renewed while it runs. The item on its screen is leased to it when no other live
window holds it: the queue hands that item to nobody else until the lease is released
(a decision, moving on, quitting) or expires (the window died, or its curator went
idle). Claims happen in a write transaction, so two windows never hold one item.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from bare_tui.core.workspace.store import Store
from bare_tui.core.workspace.values import IN_IDS, ids_param, now

LEASE_S = 60.0  # a lease not renewed for this long is free again
GONE_AFTER = 10  # rows of windows silent for this many lease spans are removed


@dataclass(frozen=True)
class Window:
    session: str
    reviewer: str
    candidate_id: int | None


def _fresh(lease_s: float) -> float:
    return now() - lease_s


def join(store: Store, session: str, reviewer: str, task: str) -> None:
    """Say this window is reviewing (and clear rows of windows long gone)."""
    with store.transaction():
        store.conn.execute("DELETE FROM reviewing WHERE seen_at < ?",
                           (now() - GONE_AFTER * LEASE_S,))
        store.conn.execute(
            "INSERT INTO reviewing (session, reviewer, task, candidate_id, pid, host, seen_at)"
            " VALUES (?, ?, ?, NULL, ?, ?, ?) ON CONFLICT(session) DO UPDATE SET"
            " seen_at = excluded.seen_at",
            (session, reviewer, task, os.getpid(), socket.gethostname(), now()))


# A screen claims and gives up leases while a person waits for the next item: when
# another process holds the write lock (a big import), it waits this long, not the
# workspace's busy timeout, and tries again on the next move.
UI_WAIT_S = 0.2


def claim(store: Store, session: str, candidate_id: int, lease_s: float = LEASE_S,
          wait_s: float | None = None) -> str | None:
    """Lease the item to this window; None when it now holds it, else the reviewer who
    does. Either way the item held before is given up. `wait_s`: how long to wait for
    the write lock (BareError when busy for longer)."""
    with store.transaction(wait_s):
        holder = store.scalar(
            "SELECT reviewer FROM reviewing WHERE candidate_id = ? AND session != ?"
            " AND seen_at >= ?", (candidate_id, session, _fresh(lease_s)))
        store.conn.execute("UPDATE reviewing SET candidate_id = ?, seen_at = ?"
                           " WHERE session = ?",
                           (candidate_id if holder is None else None, now(), session))
    return holder


def renew(store: Store, session: str) -> None:
    """This window is still here (and still has the item it holds)."""
    with store.transaction():
        store.conn.execute("UPDATE reviewing SET seen_at = ? WHERE session = ?",
                           (now(), session))


def release(store: Store, session: str, wait_s: float | None = None) -> None:
    with store.transaction(wait_s):
        store.conn.execute("UPDATE reviewing SET candidate_id = NULL WHERE session = ?",
                           (session,))


def leave(store: Store, session: str) -> None:
    with store.transaction():
        store.conn.execute("DELETE FROM reviewing WHERE session = ?", (session,))


def others(store: Store, session: str, task: str, lease_s: float = LEASE_S) -> list[Window]:
    """The other windows reviewing the task now (heard from within a lease span)."""
    rows = store.conn.execute(
        "SELECT session, reviewer, candidate_id FROM reviewing WHERE session != ?"
        " AND task = ? AND seen_at >= ? ORDER BY reviewer", (session, task, _fresh(lease_s)))
    return [Window(*row) for row in rows]


def holders(store: Store, session: str, ids: Sequence[int], lease_s: float = LEASE_S
            ) -> dict[int, str]:
    """Of these items, those another live window holds, and its reviewer."""
    if not ids:
        return {}
    rows = store.conn.execute(
        "SELECT candidate_id, reviewer FROM reviewing WHERE session != ? AND seen_at >= ?"
        f" AND candidate_id {IN_IDS}", (session, _fresh(lease_s), ids_param(ids)))
    return dict(rows.fetchall())
