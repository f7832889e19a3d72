"""Fixed-height lines of text that repaint alone: no layout pass when they change."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.widget import Widget


class StatusLine(Widget):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._lines: list[Text] = []

    def set(self, *lines: Text) -> None:
        self._lines = list(lines)
        self.refresh()

    @property
    def plain(self) -> str:
        return "\n".join(line.plain for line in self._lines)

    def render(self) -> Group:
        return Group(*self._lines)
