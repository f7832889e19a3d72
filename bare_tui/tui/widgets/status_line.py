"""A fixed-height line of text that repaints alone: no layout pass when it changes."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget


class StatusLine(Widget):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._text = Text()

    def set(self, text: Text) -> None:
        self._text = text
        self.refresh()

    def render(self) -> Text:
        return self._text
