"""Reject with a reason: the recipe's tags on the number keys, and a line of free text."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.events import Key
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from bare_tui.core.inputs.tag_names import MAX_SET
from bare_tui.text import clean
from bare_tui.tui.screens.modals import MODAL_CSS


@dataclass(frozen=True)
class Rejection:
    tags: tuple[str, ...]
    reason: str | None


class TagList(Static, can_focus=True):
    """The tags on offer; holds the focus while the number keys choose. Any other
    character starts the reason, so a curator who types one right away loses nothing."""

    def on_key(self, event: Key) -> None:
        if event.is_printable and event.character and not event.character.isdigit():
            reason = self.screen.query_one(Input)
            reason.focus()
            reason.insert_text_at_cursor(event.character)
            event.stop()
            event.prevent_default()


class RejectScreen(ModalScreen[Rejection | None]):
    """Number keys toggle the tags (the first nine offered), Tab goes to the reason line,
    Enter rejects, Escape cancels."""

    DEFAULT_CSS = MODAL_CSS + """
    RejectScreen #tags { height: auto; }
    RejectScreen #tags:focus { background: $boost; }
    RejectScreen Input { margin-top: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel"),
                Binding("enter", "answer", "Reject", priority=True),
                *(Binding(str(n), f"toggle({n})", show=False) for n in range(1, MAX_SET + 1))]

    def __init__(self, offered: list[str]) -> None:
        super().__init__()
        self.offered = offered[:MAX_SET]
        self.chosen: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Reject: what is wrong?", classes="title")
            yield TagList(id="tags")
            yield Input(placeholder="reason, in your own words (optional)", id="reason",
                        select_on_focus=False)
            yield Static("1-9 toggle a tag; type (or Tab) to write a reason; Enter rejects; "
                         "Escape cancels" if self.offered else "Enter rejects; Escape cancels. "
                         "A recipe's [review] tags would be offered here on 1-9.",
                         classes="hint", markup=False)

    def on_mount(self) -> None:
        self._show()
        if self.offered:
            self.query_one(TagList).focus()  # the number keys choose tags until Tab
        else:
            self.query_one(Input).focus()

    def _show(self) -> None:
        text = Text()
        for number, tag in enumerate(self.offered, 1):
            mark = "[x]" if tag in self.chosen else "[ ]"
            text.append(f"{number} {mark} ", style="bold" if tag in self.chosen else "")
            text.append(clean(tag) + "\n", style="bold" if tag in self.chosen else "")
        self.query_one(TagList).update(text)

    def action_toggle(self, number: int) -> None:
        if self.query_one(Input).has_focus or number > len(self.offered):
            return
        tag = self.offered[number - 1]
        if tag in self.chosen:
            self.chosen.remove(tag)
        else:
            self.chosen.append(tag)
        self._show()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_answer()

    def action_answer(self) -> None:
        reason = self.query_one(Input).value.strip() or None
        self.dismiss(Rejection(tuple(self.chosen), reason))

    def action_cancel(self) -> None:
        self.dismiss(None)
