"""Editing the final text of the current candidate: in the app (e) or in $EDITOR (E).
Part of the review screen (a mixin of ReviewScreen): both open what core/current.py says
is the final text, and save an edit through the screen's one decision path."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import SuspendNotSupported

from bare_tui.core import current, prompts
from bare_tui.tui.screens.edit import EditScreen

if TYPE_CHECKING:
    from bare_tui.tui.screens.review import ReviewScreen

    Base = ReviewScreen
else:
    Base = object


# The in-app editor holds a field in a TextArea: a field longer than this goes to
# $EDITOR (E) instead, or every key would wait on the whole text.
EDIT_HERE_CHARS = 100_000


class ReviewEdits(Base):
    def _final_fields(self) -> dict[str, str] | None:
        candidate_id = self.candidates.current_id
        if candidate_id is None:
            return None
        detail = current.current(self.workspace.store, candidate_id)
        return None if detail is None else detail.final_or_raw(self.workspace.recipe.field_names)

    def action_edit(self) -> None:
        fields = self._final_fields()
        if fields is None:
            return
        longest = max(fields, key=lambda name: len(fields[name]), default=None)
        if longest is not None and len(fields[longest]) > EDIT_HERE_CHARS:
            self.notify(f"{longest} is {len(fields[longest]):,} characters, too long to edit "
                        f"here (up to {EDIT_HERE_CHARS:,}); E edits it in $EDITOR",
                        severity="warning")
            return

        def saved(result: dict[str, str] | None) -> None:
            if result is not None and result != fields:
                self._decide("edit", fields=result, advance=False)

        self.app.push_screen(EditScreen(self.workspace.recipe, fields, self.candidates.current_id),
                             saved)

    def action_edit_external(self) -> None:
        fields = self._final_fields()
        if fields is None:
            return
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        try:
            command = shlex.split(editor)
        except ValueError as exc:
            self.notify(f"cannot run $EDITOR {editor!r}: {exc}; fix it, or press e to edit "
                        "here", severity="error")
            return
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"candidate-{self.candidates.current_id}.txt"
            path.write_text(prompts.render_example(self.workspace.recipe, fields) + "\n",
                            encoding="utf-8")
            try:
                with self.app.suspend():
                    finished = subprocess.run([*command, str(path)], check=False)
            except (SuspendNotSupported, OSError) as exc:
                self.notify(f"cannot run {editor}: {exc or 'no terminal to hand over'};"
                            " press e to edit here", severity="error")
                return
            try:
                text = path.read_bytes().decode("utf-8")
            except UnicodeDecodeError as exc:
                self.notify(f"{editor} saved text that is not UTF-8 (a byte at offset "
                            f"{exc.start}); nothing changed: save it as UTF-8",
                            severity="error")
                return
            except OSError as exc:
                self.notify(f"cannot read what {editor} saved: {exc.strerror or exc}; "
                            "nothing changed", severity="error")
                return
        if finished.returncode != 0:
            self.notify(f"{editor} exited with status {finished.returncode}; nothing changed",
                        severity="warning")
            return
        try:
            edited = prompts.parse_fields(self.workspace.recipe, text)
        except prompts.ParseError as exc:
            self.notify(f"edit not saved: {exc}", severity="error")
            return
        if edited != fields:
            self._decide("edit", fields=edited, advance=False)

