"""Editing the final text of a candidate: in the app (e) or in $EDITOR (E). Both open
what core/workspace/current.py says is the final text and hand a changed text to `save`, the
review screen's one decision path. Functions with explicit parameters, no screen state."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from textual.app import App, SuspendNotSupported
from textual.notifications import SeverityLevel

from bare_tui.core.inputs import prompts
from bare_tui.core.inputs.recipes import Recipe
from bare_tui.core.reviewing import review
from bare_tui.core.workspace import current
from bare_tui.core.workspace.store import Store
from bare_tui.errors import BareError
from bare_tui.tui.screens.edit import EditScreen

# Decides the candidate on screen (an action and what it brings), without moving on;
# False when nothing was written.
Save = Callable[[str, review.Change], bool]

# The in-app editor holds a field in a TextArea: a field longer than this goes to
# $EDITOR (E) instead, or every key would wait on the whole text.
EDIT_HERE_CHARS = 100_000


class NotSaved(BareError):
    """The edit could not be made; nothing changed."""

    def __init__(self, text: str, severity: SeverityLevel = "error") -> None:
        super().__init__(text)
        self.severity: SeverityLevel = severity


def final_fields(store: Store, recipe: Recipe, candidate_id: int | None
                 ) -> dict[str, str] | None:
    """The text an edit starts from (None: no candidate)."""
    if candidate_id is None:
        return None
    detail = current.current(store, candidate_id)
    return None if detail is None else detail.final_or_raw(recipe.field_names)


def check_editable_here(fields: dict[str, str]) -> None:
    """NotSaved when a field is too long for the in-app editor."""
    longest = max(fields, key=lambda name: len(fields[name]), default=None)
    if longest is not None and len(fields[longest]) > EDIT_HERE_CHARS:
        raise NotSaved(f"{longest} is {len(fields[longest]):,} characters, too long to edit "
                       f"here (up to {EDIT_HERE_CHARS:,}); E edits it in $EDITOR", "warning")


def edit_externally(app: App, recipe: Recipe, fields: dict[str, str],
                    candidate_id: int) -> dict[str, str]:
    """Hand the terminal to $VISUAL/$EDITOR on the candidate's text and return the fields
    it saved; NotSaved says why nothing changed."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    try:
        command = shlex.split(editor)
    except ValueError as exc:
        raise NotSaved(f"cannot run $EDITOR {editor!r}: {exc}; fix it, or press e to edit "
                       "here") from None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"candidate-{candidate_id}.txt"
        path.write_text(prompts.render_example(recipe, fields) + "\n", encoding="utf-8")
        try:
            with app.suspend():
                finished = subprocess.run([*command, str(path)], check=False)
        except (SuspendNotSupported, OSError) as exc:
            raise NotSaved(f"cannot run {editor}: {exc or 'no terminal to hand over'};"
                           " press e to edit here") from None
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NotSaved(f"{editor} saved text that is not UTF-8 (a byte at offset "
                           f"{exc.start}); nothing changed: save it as UTF-8") from None
        except OSError as exc:
            raise NotSaved(f"cannot read what {editor} saved: {exc.strerror or exc}; "
                           "nothing changed") from None
    if finished.returncode != 0:
        raise NotSaved(f"{editor} exited with status {finished.returncode}; nothing changed",
                       "warning")
    try:
        return prompts.parse_fields(recipe, text)
    except prompts.ParseError as exc:
        raise NotSaved(f"edit not saved: {exc}") from None


def edit_here(app: App, store: Store, recipe: Recipe, candidate_id: int | None,
              save: Save) -> None:
    """Open the candidate's final text in the in-app editor; a changed text is saved."""
    fields = final_fields(store, recipe, candidate_id)
    if fields is None:
        return
    try:
        check_editable_here(fields)
    except NotSaved as exc:
        app.notify(str(exc), severity=exc.severity)
        return

    def saved(result: dict[str, str] | None) -> None:
        if result is not None and result != fields:
            save("edit", review.Change(fields=result))

    app.push_screen(EditScreen(recipe, fields, candidate_id), saved)


def edit_in_editor(app: App, store: Store, recipe: Recipe, candidate_id: int | None,
                   save: Save) -> None:
    """Open the candidate's final text in $EDITOR; a changed text is saved."""
    fields = final_fields(store, recipe, candidate_id)
    if fields is None or candidate_id is None:
        return
    try:
        edited = edit_externally(app, recipe, fields, candidate_id)
    except NotSaved as exc:
        app.notify(str(exc), severity=exc.severity)
        return
    if edited != fields:
        save("edit", review.Change(fields=edited))
