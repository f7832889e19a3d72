"""One export path: the CLI's `export`, the review screen's `o` and the demo call the
same core function with the same options, and write the same dataset card (embedded
diversity included), byte for byte but for the folder it names and the dates."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from textual.widgets import Input

from conftest import make_app, make_review_workspace, run_cli


def card_text(folder: Path) -> str:
    text = (folder / "README.md").read_text()
    text = text.replace(str(folder), "FOLDER")
    return re.sub(r"\d{4}-\d{2}-\d{2}", "DATE", text)


async def test_the_cli_and_the_review_screen_write_the_same_card(tmp_path):
    db = make_review_workspace(tmp_path / "w.db")
    assert run_cli("accept", "1", "3", "--reviewer", "ann", "--db", str(db)).returncode == 0
    twin = tmp_path / "twin.db"
    shutil.copy(db, twin)  # the same workspace, exported once by each front end
    (tmp_path / "tui").mkdir()
    (tmp_path / "cli").mkdir()
    app = make_app(db)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("o")
        app.screen.query_one("#path", Input).value = str(tmp_path / "tui" / "set.jsonl")
        app.screen.query_one("#path", Input).focus()
        await pilot.press("enter")
        for _ in range(600):  # embedding the texts takes a few seconds
            await pilot.pause(0.1)
            if any("dataset card" in n.message for n in app._notifications):
                break
        assert any("wrote 2 items" in n.message for n in app._notifications)
    result = run_cli("export", str(tmp_path / "cli" / "set.jsonl"), "--db", str(twin))
    assert result.returncode == 0, result.stderr
    cli, tui = card_text(tmp_path / "cli"), card_text(tmp_path / "tui")
    assert "| exported | 2 | 1.0000 |" in cli and "| seeds | 200 |" in cli, cli
    assert cli == tui
