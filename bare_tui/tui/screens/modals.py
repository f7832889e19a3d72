"""Small modal dialogs: ask for a line of text, pick one option, export, help."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Select, Static

from bare_tui.core.datasets.export import PROFILES, STATUS_FILTERS
from bare_tui.text import clean

MODAL_CSS = """
ModalScreen { align: center middle; }
ModalScreen > Vertical, ModalScreen > VerticalScroll {
    width: 72; max-width: 95%; height: auto; max-height: 90%;
    border: thick $accent; background: $surface; padding: 1 2;
}
ModalScreen Label.title { text-style: bold; margin-bottom: 1; }
ModalScreen .hint { color: $text-muted; margin-top: 1; }
"""


class AskScreen(ModalScreen[str | None]):
    """One line of input; Enter answers, Escape cancels (answers None)."""

    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, value: str = "", placeholder: str = "",
                 hint: str = "Enter to confirm, Escape to cancel") -> None:
        super().__init__()
        self.title_text, self.value, self.placeholder = clean(title), value, placeholder
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title", markup=False)
            yield Input(self.value, placeholder=self.placeholder, id="answer")
            yield Static(self.hint, classes="hint", markup=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ChooseScreen(ModalScreen[str | None]):
    """Pick one of a few options with the arrow keys and Enter."""

    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, options: list[str], current: str | None = None) -> None:
        super().__init__()
        self.title_text, self.options, self.current = clean(title), options, current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title", markup=False)
            yield OptionList(*self.options, id="choices")

    def on_mount(self) -> None:
        choices = self.query_one(OptionList)
        if self.current in self.options:
            choices.highlighted = self.options.index(self.current)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.options[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)


class ExportScreen(ModalScreen[tuple[str, str, str] | None]):
    """Profile, status filter and path for an export; answers (path, profile, status)."""

    DEFAULT_CSS = MODAL_CSS + """
    ExportScreen Select { margin-bottom: 1; }
    ExportScreen #buttons { height: auto; margin-top: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, default_path: str) -> None:
        super().__init__()
        self.default_path = default_path

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Export to JSONL", classes="title")
            yield Label("Profile")
            yield Select([(p, p) for p in PROFILES], value="chat", allow_blank=False,
                         id="profile")
            yield Label("Candidates")
            yield Select([(s, s) for s in STATUS_FILTERS], value="accepted",
                         allow_blank=False, id="status")
            yield Label("File")
            yield Input(self.default_path, id="path")
            yield Button("Export", variant="primary", id="export")
            yield Static("Tab moves between fields; Enter in the file field exports; "
                         "Escape cancels. A manifest is written beside the file.",
                         classes="hint")

    def _answer(self) -> None:
        path = self.query_one("#path", Input).value.strip()
        if path:
            self.dismiss((path, str(self.query_one("#profile", Select).value),
                          str(self.query_one("#status", Select).value)))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._answer()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self._answer()

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
        for key, description in self.keys:  # keys come from the config file: not markup
            table.add_row(Text(clean(key)), Text(clean(description)))
        with VerticalScroll():
            yield Label("Keys", classes="title")
            yield Static(table)
            # Plain text: our own words are not markup either ("[keys]" stays).
            yield Static("In the list: · pending  ✓ accepted  ✗ rejected;  ! fails the "
                         "recipe's checks;  r refined,  d draft proposed (its refinement "
                         "failed the checks),  e edited or merged;  +N alternatives (p).",
                         classes="hint", markup=False)
            yield Static("In a merge: ▶ ◀ around the current hunk; without colour, "
                         "[-removed-] {+added+} [=kept from the draft=] {~left out~}.",
                         classes="hint", markup=False)
            yield Static("Every action is also in the command palette (ctrl+p). Keys can be "
                         "changed in the [keys] table of the config file. Escape closes.",
                         classes="hint", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)


def default_export_path(db_path: Path, task: str) -> str:
    return str(db_path.parent / f"{task}-export.jsonl")


class StatsScreen(ModalScreen[None]):
    """BARE's diversity metric per set, with the similarity histograms."""

    DEFAULT_CSS = MODAL_CSS + "StatsScreen > VerticalScroll { width: 90; }"
    BINDINGS = [Binding("escape,s,q", "close", "Close")]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Label("Diversity: mean pairwise cosine similarity (lower = more diverse)",
                        classes="title")
            yield Static(Text(self.text))
            yield Static("Escape closes. `bare-tui embed` adds new texts.", classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question: y or the Yes button answers True; n, Escape or No, False."""

    DEFAULT_CSS = MODAL_CSS + """
ConfirmScreen Horizontal { height: auto; margin-top: 1; }
ConfirmScreen Label.title { width: 100%; }
"""
    BINDINGS = [Binding("escape,n", "answer(False)", "No"), Binding("y", "answer(True)", "Yes")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = clean(question)  # it may name a teammate: text from outside

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, classes="title", markup=False)
            with Horizontal():
                yield Button("Yes (y)", variant="warning", id="yes")
                yield Button("No (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
