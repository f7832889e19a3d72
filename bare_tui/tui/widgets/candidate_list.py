"""A virtual list of candidates: only the rows on screen are fetched and drawn, from a
queue that reads its ids a page at a time (core/reviewing/queue.py), so it stays as
quick with a million candidates as with a hundred."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from bare_tui.core.reviewing.queue import holds, known_length
from bare_tui.core.reviewing.review_list import Summary
from bare_tui.text import clean

STATUS_MARK = {"pending": "·", "accepted": "✓", "rejected": "✗"}
PREFETCH = 40
DRAWN_KEPT = 512  # rows kept drawn: a screen drawn again (a dialog closing) draws none


class CandidateList(ScrollView, can_focus=True):
    COMPONENT_CLASSES = {
        "candidate-list--cursor",
        "candidate-list--accepted",
        "candidate-list--rejected",
        "candidate-list--flag",
    }
    DEFAULT_CSS = """
    CandidateList > .candidate-list--cursor { background: $accent 40%; text-style: bold; }
    CandidateList:focus > .candidate-list--cursor { background: $accent; }
    CandidateList > .candidate-list--accepted { color: $success; }
    CandidateList > .candidate-list--rejected { color: $error; }
    CandidateList > .candidate-list--flag { color: $warning; text-style: bold; }
    """

    cursor: reactive[int] = reactive(0, always_update=True)

    class Highlighted(Message):
        def __init__(self, candidate_id: int | None) -> None:
            super().__init__()
            self.candidate_id = candidate_id

    def __init__(self, fetch: Callable[[list[int]], dict[int, Summary]], **kwargs) -> None:
        super().__init__(**kwargs)
        self._fetch = fetch
        self.ids: Sequence[int] = []
        self._cache: dict[int, Summary] = {}
        # Each row as drawn, by what it shows: (id, summary, under the cursor, width,
        # focused). A row's look comes only from these and the styles (notify_style_update).
        self._drawn: LRUCache[tuple, Strip] = LRUCache(DRAWN_KEPT)

    @property
    def current_id(self) -> int | None:
        return self.ids[self.cursor] if self.has_row(self.cursor) else None

    def has_row(self, index: int) -> bool:
        return holds(self.ids, index)

    def _rows(self) -> int:
        """The rows known to be there (a queue not counted yet knows a page beyond the
        furthest it read); the scroll range grows as more are read."""
        rows = known_length(self.ids)
        if self.virtual_size.height != rows:
            self.virtual_size = Size(self.size.width, rows)
        return rows

    def set_ids(self, ids: Sequence[int], keep: int | None = None) -> None:
        """Show a new list; the cursor stays on `keep` (an id) when it is still there."""
        self.ids = ids
        self._cache.clear()
        index = self.cursor
        if keep is not None:
            try:
                index = ids.index(keep)
            except ValueError:
                pass
        self._rows()
        self.cursor = self._clamped(index)
        self.refresh()

    def counted(self) -> None:
        """The list's length is known now: the scroll range is set to it."""
        self._rows()
        self.cursor = self._clamped(self.cursor)
        self.refresh()

    def _clamped(self, index: int) -> int:
        """The nearest row to `index` that is there (0 when the list is empty)."""
        index = max(0, index)
        if self.has_row(index):
            return index
        return max(0, len(self.ids) - 1)

    def invalidate(self, candidate_ids: list[int] | None = None) -> None:
        """Forget cached rows (all, or those ids) so they are fetched again."""
        if candidate_ids is None:
            self._cache.clear()
        else:
            for candidate_id in candidate_ids:
                self._cache.pop(candidate_id, None)
        self.refresh()

    def watch_cursor(self, old: int, new: int) -> None:
        self._rows()
        self.refresh_line(old)
        self.refresh_line(new)
        self.scroll_to_region(Region(0, new, 1, 1), animate=False, immediate=True)
        self.post_message(self.Highlighted(self.current_id))

    def refresh_line(self, index: int) -> None:
        self.refresh(Region(0, index - self.scroll_offset.y, self.size.width, 1))

    def move(self, delta: int) -> None:
        if self.has_row(0):
            self.cursor = self._clamped(self.cursor + delta)

    def cached(self, candidate_ids: list[int]) -> dict[int, Summary]:
        """The rows of these candidates as last drawn (none read for it)."""
        return {i: self._cache[i] for i in candidate_ids if i in self._cache}

    def _summary(self, index: int) -> Summary | None:
        candidate_id = self.ids[index]
        if candidate_id not in self._cache:
            top = self.scroll_offset.y
            window = self.ids[max(0, top - PREFETCH): top + self.size.height + PREFETCH]
            wanted = [i for i in window if i not in self._cache] or [candidate_id]
            if candidate_id not in wanted:
                wanted.append(candidate_id)
            self._cache.update(self._fetch(wanted))
        return self._cache.get(candidate_id)

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.size.width
        if not self.has_row(index):
            return Strip.blank(width, self.rich_style)
        shows = (self.ids[index], self._summary(index), index == self.cursor, width,
                 self.has_focus)
        strip = self._drawn.get(shows)
        if strip is None:
            strip = self._drawn[shows] = self._draw(*shows[:4])  # (focus: in the styles)
        return strip

    def _draw(self, candidate_id: int, summary: Summary | None, under_cursor: bool,
              width: int) -> Strip:
        base = self.rich_style
        if under_cursor:
            base += self.get_component_rich_style("candidate-list--cursor")
        text = self._line(summary, candidate_id)
        segments = list(text.render(self.app.console))
        segments = [Segment(s.text, base + s.style if s.style else base) for s in segments
                    if s.text != "\n"]
        return Strip(segments).crop_extend(0, width, base)

    def notify_style_update(self) -> None:
        self._drawn.clear()  # a new theme or focus: every row is drawn again
        super().notify_style_update()

    def _line(self, summary: Summary | None, candidate_id: int) -> Text:
        if summary is None:
            return Text(f" {candidate_id:>6}  (gone)")
        status_style: Style | str = ""
        if summary.status in ("accepted", "rejected"):
            status_style = self.get_component_rich_style(f"candidate-list--{summary.status}")
        flag = self.get_component_rich_style("candidate-list--flag")
        line = Text(f"{candidate_id:>6} ")
        line.append(STATUS_MARK.get(summary.status, "?"), style=status_style)
        # ! fails its checks, ≠ fails a verifier (its checks pass)
        line.append("!" if not summary.valid else "≠" if summary.verified is False else " ",
                    style=flag)
        line.append(summary.marker)
        if summary.alternatives:  # p pages through them
            line.append(f" +{summary.alternatives}", style="bold")
        line.append(" " + clean(summary.title).replace("\n", " "))
        line.no_wrap = True
        return line
