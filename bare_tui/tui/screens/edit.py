"""The in-app editor: one text area per field; ctrl+s saves, Escape cancels.

A text area puts its text on the terminal as it is, so what enters it is cleaned first
(control characters shown as escapes, like everywhere else). On save, a field whose
shown text was not changed keeps its original characters; a changed one is saved as
typed, the escapes as the plain characters they now are.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static, TextArea

from bare_tui.core.inputs.recipes import Recipe
from bare_tui.text import clean
from bare_tui.tui.screens.modals import MODAL_CSS

# The text area's own keys (Textual's TextArea), said on the screen.
EDITOR_KEYS = (
    "ctrl+s saves · Escape cancels · Tab / shift+Tab: next / previous field\n"
    "shift+arrows select · F6 selects the line, F7 everything · ctrl+x / ctrl+c / ctrl+v "
    "cut, copy, paste · ctrl+k deletes to the line's end · ctrl+z / ctrl+y undo, redo")


class EditScreen(ModalScreen[dict[str, str] | None]):
    DEFAULT_CSS = MODAL_CSS + """
    EditScreen > VerticalScroll { width: 100; max-width: 100%; }
    EditScreen Label, EditScreen Static { width: 100%; }
    EditScreen TextArea { height: auto; min-height: 3; max-height: 16; margin-bottom: 1; }
    """
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, task: Recipe, fields: dict[str, str], candidate_id: int) -> None:
        super().__init__()
        self.recipe, self.fields, self.candidate_id = task, fields, candidate_id

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Label(f"Edit candidate #{self.candidate_id}: the edit becomes the final "
                        "version, kept beside the draft and the refinement", classes="title")
            for spec in self.recipe.fields:
                yield Label(f"{clean(spec.label)}:", markup=False)
                yield TextArea(clean(self.fields.get(spec.name, "")), id=f"field-{spec.name}",
                               soft_wrap=True)
            yield Static(EDITOR_KEYS, classes="hint", markup=False)

    def on_mount(self) -> None:
        self.query(TextArea).first().focus()

    def action_save(self) -> None:
        self.dismiss({spec.name: self._saved(spec.name) for spec in self.recipe.fields})

    def _saved(self, name: str) -> str:
        original = self.fields.get(name, "")
        typed = self.query_one(f"#field-{name}", TextArea).text
        return original if typed == clean(original) else typed

    def action_cancel(self) -> None:
        self.dismiss(None)
