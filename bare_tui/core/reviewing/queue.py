"""A filter's candidates in id order, read from SQLite a page at a time: the review list
at a million candidates holds a few pages of ids, not a million.

A page is read by keyset from a neighbouring page it has (`id > last ORDER BY id LIMIT
n`), so moving through the list costs one indexed read per page; only a jump into the
middle reads by offset. The length is counted once, on request (it scans the filter's
index): until then the queue says what it knows, and a page that comes back short tells
where the list ends. Candidates added after the queue was made are not in it (it reads up
to the highest id it saw), so the length holds until the list is read again; a page
forgotten and read again shows the filter as it is then (the screen reads the list again
after any other window's writes, and its own decisions stay on pages it holds).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any, overload

from bare_tui.core.workspace.store import Store

PAGE = 256
PAGES_KEPT = 64  # 16,384 ids at most
STALE_CHECK = 100_000  # steps of SQLite's machine between looks at a count's staleness


class Queue(Sequence[int]):
    """`source` is the FROM and WHERE of a query whose `key` column is the candidate id
    (named parameters in `params`)."""

    def __init__(self, store: Store, source: str, key: str, params: dict[str, Any]) -> None:
        self._store = store
        self._source = source
        self._key = key
        self._params = params
        self._last = store.scalar("SELECT max(id) FROM candidates") or 0
        self._pages: OrderedDict[int, list[int]] = OrderedDict()
        self.length: int | None = None  # counted, or learnt from a short page

    def on(self, store: Store) -> Queue:
        """Read through another connection from now on (a queue made in a thread)."""
        self._store = store
        return self

    # --- reading -----------------------------------------------------------------------

    def _select(self, what: str, tail: str = "", *, above: int | None = None,
                below: int | None = None, store: Store | None = None) -> list:
        """Rows of the queue with ids in (above, below), never past the last it saw: one
        upper bound, so that SQLite ranges its index on it."""
        below = min(below, self._last + 1) if below is not None else self._last + 1
        sql = (f"SELECT {what} FROM {self._source} AND {self._key} < :below"
               f"{f' AND {self._key} > :above' if above is not None else ''} {tail}")
        return (store or self._store).conn.execute(
            sql, {**self._params, "above": above, "below": below}).fetchall()

    def count_all(self, store: Store | None = None,
                  stale: Callable[[], bool] | None = None) -> int:
        """The length, counted: it scans the filter's index (at a million candidates, tens
        of milliseconds; a search's matches, up to a second), so a thread counts it on a
        connection of its own (`store`). Once `stale()` says the count is not wanted any
        more (looked at every STALE_CHECK steps of SQLite's machine), it stops with
        sqlite3.OperationalError ("interrupted"), leaving the length unknown."""
        connection = (store or self._store).conn
        if stale is not None:
            connection.set_progress_handler(stale, STALE_CHECK)
        try:
            self.length = self._select("count(*)", store=store)[0][0]
        finally:
            if stale is not None:
                connection.set_progress_handler(None, STALE_CHECK)
        return self.length

    def _read_page(self, number: int) -> list[int]:
        key, pages = self._key, self._pages
        before, after = pages.get(number - 1), pages.get(number + 1)
        ends_here = True  # a short page read forwards from the start says where the end is
        if before is not None and len(before) == PAGE:
            rows = self._select(key, f"ORDER BY {key} LIMIT {PAGE}", above=before[-1])
        elif after:
            rows = self._select(key, f"ORDER BY {key} DESC LIMIT {PAGE}", below=after[0])[::-1]
            ends_here = False
        elif self.length is not None and number * PAGE > self.length // 2:  # from the end
            wanted = max(0, min(PAGE, self.length - number * PAGE))
            skip = self.length - number * PAGE - wanted  # counted from the last row
            rows = self._select(key, f"ORDER BY {key} DESC LIMIT {wanted} OFFSET {skip}")[::-1]
            ends_here = False
        else:
            rows = self._select(key, f"ORDER BY {key} LIMIT {PAGE} OFFSET {number * PAGE}")
        ids = [row[0] for row in rows]
        if len(ids) < PAGE and ends_here:
            self.length = number * PAGE + len(ids)
        return ids

    def _page(self, number: int) -> list[int]:
        ids = self._pages.get(number)
        if ids is None:
            return self._keep(number, self._read_page(number))
        self._pages.move_to_end(number)
        return ids

    def _keep(self, number: int, ids: list[int]) -> list[int]:
        self._pages[number] = ids
        while len(self._pages) > PAGES_KEPT:  # the least recently read goes
            self._pages.popitem(last=False)
        return ids

    # --- the sequence ------------------------------------------------------------------

    def __len__(self) -> int:
        return self.length if self.length is not None else self.count_all()

    @property
    def known(self) -> int:
        """How many rows are known to exist without counting: the length when known,
        else up to the furthest page read, and one page beyond it."""
        if self.length is not None:
            return self.length
        furthest = max(self._pages, default=-1)
        return (furthest + 2) * PAGE

    @overload
    def __getitem__(self, index: int) -> int: ...

    @overload
    def __getitem__(self, index: slice) -> list[int]: ...

    def __getitem__(self, index):
        if isinstance(index, slice):
            start, stop, step = index.start or 0, index.stop, index.step or 1
            if start < 0 or stop is None or stop < 0 or step != 1:
                return [self[i] for i in range(*index.indices(len(self)))]
            found = []
            for position in range(start, stop):
                if not self.has(position):
                    break
                found.append(self._page(position // PAGE)[position % PAGE])
            return found
        if index < 0:
            index += len(self)
        if index < 0 or not self.has(index):
            raise IndexError("queue index out of range")
        return self._page(index // PAGE)[index % PAGE]

    def has(self, index: int) -> bool:
        """Whether there is a row at this position (reads its page when needed)."""
        if index < 0 or (self.length is not None and index >= self.length):
            return False
        return index % PAGE < len(self._page(index // PAGE))

    def __iter__(self) -> Iterator[int]:
        number = 0
        while True:
            page = self._page(number)
            yield from page
            if len(page) < PAGE:
                return
            number += 1

    def __contains__(self, candidate_id: object) -> bool:
        return self._locate(candidate_id) is not None

    def index(self, candidate_id: Any, start: int = 0, stop: int | None = None) -> int:
        """The position of a candidate in the queue (ValueError when it is not in it)."""
        position = self._locate(candidate_id)
        if position is None:
            raise ValueError(f"{candidate_id} is not in the queue")
        return position

    def _locate(self, candidate_id: object) -> int | None:
        """Its position, from a page read already, else counted (up to it), its page read
        then; None when it is not in the queue as read (one that joined the filter since,
        on a page read without it, is not: an undone accept in the pending filter)."""
        for number, page in self._pages.items():
            if candidate_id in page:
                return number * PAGE + page.index(candidate_id)
        if not isinstance(candidate_id, int) or not self._select(
                "1", "LIMIT 1", above=candidate_id - 1, below=candidate_id + 1):
            return None
        key = self._key
        position = self._select("count(*)", below=candidate_id)[0][0]
        number, offset = divmod(position, PAGE)
        if number in self._pages:
            return None
        # Its page, read by keyset on both sides of it: the rows around it come next.
        before = self._select(key, f"ORDER BY {key} DESC LIMIT {offset}",
                              below=candidate_id)[::-1] if offset else []
        rest = self._select(key, f"ORDER BY {key} LIMIT {PAGE - offset}",
                            above=candidate_id - 1)
        self._keep(number, [row[0] for row in before + rest])
        return position

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Queue({self.known if self.length is None else self.length} ids)"


def holds(ids: Sequence[int], index: int) -> bool:
    """Whether a list or queue has a row at this position, without counting a queue (it
    reads the page the position is on)."""
    return ids.has(index) if isinstance(ids, Queue) else 0 <= index < len(ids)


def known_length(ids: Sequence[int]) -> int:
    """How many ids a list or queue is known to hold, without counting a queue."""
    return ids.known if isinstance(ids, Queue) else len(ids)


def counted_length(ids: Sequence[int]) -> int | None:
    """The length of a list, or of a queue once counted (None before)."""
    return ids.length if isinstance(ids, Queue) else len(ids)
