"""The in-app editor: one text area per field; ctrl+s saves, Escape cancels."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static, TextArea

from bare_tui.core.tasks import Task
from bare_tui.tui.screens.modals import MODAL_CSS


class EditScreen(ModalScreen[dict[str, str] | None]):
    DEFAULT_CSS = MODAL_CSS + """
    EditScreen > VerticalScroll { width: 100; }
    EditScreen TextArea { height: auto; min-height: 3; max-height: 16; margin-bottom: 1; }
    """
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, task: Task, fields: dict[str, str], candidate_id: int) -> None:
        super().__init__()
        self.recipe, self.fields, self.candidate_id = task, fields, candidate_id

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Label(f"Edit candidate #{self.candidate_id}: the edit becomes the final "
                        "version, kept beside the draft and the refinement", classes="title")
            for spec in self.recipe.fields:
                yield Label(f"{spec.label}:")
                yield TextArea(self.fields.get(spec.name, ""), id=f"field-{spec.name}",
                               soft_wrap=True)
            yield Static("ctrl+s saves, Escape cancels", classes="hint")

    def on_mount(self) -> None:
        self.query(TextArea).first().focus()

    def action_save(self) -> None:
        self.dismiss({spec.name: self.query_one(f"#field-{spec.name}", TextArea).text
                      for spec in self.recipe.fields})

    def action_cancel(self) -> None:
        self.dismiss(None)
