"""The real `bare-tui` in a real terminal (tmux), driven by keystrokes as a person would."""

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from conftest import make_review_workspace

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Terminal:
    """A tmux session on a tmux server of its own: it starts with the test's environment
    (not that of a tmux server the developer runs), and its options are the test's."""

    def __init__(self, name: str, command: str, width: int = 80, height: int = 24):
        self.name = name
        self.tmux = ["tmux", "-L", f"bare-tui-test-{os.getpid()}-{name}"]
        subprocess.run([*self.tmux, "kill-session", "-t", name], capture_output=True)
        subprocess.run([*self.tmux, "new-session", "-d", "-s", name, "-x", str(width),
                        "-y", str(height), command], check=True)

    def run(self, *args: str) -> str:
        return subprocess.run([*self.tmux, *args], capture_output=True, text=True,
                              check=True).stdout

    def screen(self, escapes: bool = False) -> str:
        return self.run("capture-pane", "-p", *(["-e"] if escapes else []), "-t", self.name)

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.run("send-keys", "-t", self.name, *(["-l"] if literal else []), *keys)

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            shown = self.screen()
            if text in shown:
                return shown
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared; the screen shows:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)


@pytest.fixture
def terminal(tmp_path: Path):
    db = make_review_workspace(tmp_path / "review.db")
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/^2 + 3 = 5$/2 + 3 = five, so/' \"$1\"\n")
    editor.chmod(0o755)
    env = f"HF_HUB_OFFLINE=1 BARE_TUI_REVIEWER=tmux-user EDITOR={editor}"
    term = Terminal(f"bare-tui-test-{os.getpid()}",
                    f"{env} {sys.executable} -m bare_tui review --db {db}")
    yield term, db
    term.close()


def db_rows(db: Path, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(db)) as conn:  # closed now, not when collected
        return conn.execute(sql).fetchall()


def test_review_keys_in_a_real_terminal(terminal):
    term, db = terminal
    term.wait_for("1 / 5")
    term.keys("j")
    term.wait_for("2 / 5")
    term.keys("a")
    term.wait_for("acc 1")  # the status line's short words at 80 columns
    term.keys("x")
    term.wait_for("rej 1")
    term.keys("u")
    term.wait_for("rej 0")
    term.keys("e")
    term.wait_for("ctrl+s saves")
    time.sleep(1)  # as a person would: look at the editor before typing
    term.keys("Edited: ", literal=True)
    term.wait_for("Edited: Anna")
    term.keys("C-s")
    shown = term.wait_for("Edited (final)")
    assert "3 / 5" in shown and "reviewer: tmux-user" in shown
    assert "Edited: Anna has 2 pens" in shown
    # $EDITOR through a real suspend of the terminal, then back to the app.
    term.keys("E")
    deadline = time.monotonic() + 30
    while len(db_rows(db, "SELECT id FROM events WHERE action = 'edit'")) < 2:
        assert time.monotonic() < deadline, term.screen()
        time.sleep(0.1)
    term.keys("d", "d", "d")  # refined (final) only: the whole edited text fits
    shown_after_editor = term.wait_for("[refined only]")
    assert "2 + 3 = five, so" in shown_after_editor and "3 / 5" in shown_after_editor
    term.keys("q")
    assert db_rows(db, "SELECT candidate_id, action, reviewer FROM events ORDER BY id") == [
        (2, "accept", "tmux-user"), (3, "reject", "tmux-user"), (3, "undo", "tmux-user"),
        (3, "edit", "tmux-user"), (3, "edit", "tmux-user"),
    ]
    [(status, version, final)] = db_rows(
        db, "SELECT status, version, final_fields FROM decisions WHERE candidate_id = 3")
    assert (status, version) == ("pending", "edited")
    assert "Edited: Anna has 2 pens" in final and "2 + 3 = five, so" in final
    print(shown)  # what the curator saw, for the record


def test_hostile_text_does_not_touch_the_terminal(terminal):
    term, db = terminal
    term.wait_for("1 / 5")
    term.keys("j", "j", "j")
    shown = term.wait_for("4 / 5")
    assert "[bold red]Shout[/]" in shown and "\\x1b[2J" in shown
    # The screen was not cleared by the escape sequence: the list and status are still there.
    assert "Ann has 2 pens" in shown and "filter: all" in shown


def _after(shown: str, title: str) -> list[str]:
    """The screen's lines below the line that is `title`."""
    lines = shown.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == title), len(lines))
    return [line.strip() for line in lines[start + 1:]]


def test_at_80x24_the_refinement_shows_first_and_J_scrolls_to_the_draft(terminal):
    """On a short screen the two versions stack with the refinement, the thing judged,
    first: all of it shows without scrolling, and J (README's key) scrolls the detail
    down to the draft while the list keeps its place."""
    term, _ = terminal
    shown = term.wait_for("1 / 5")
    assert "? Help" in shown and "q Quit" in shown  # the footer's end is never cut
    assert "[stacked]" in shown
    refined = _after(shown, "Refined")
    assert refined[:2] == ["Question:", "Anna has 2 pens and buys 4. How many?"], shown
    assert "#### 5" in refined[:6]  # the whole refinement, answer included, on screen
    for _ in range(4):
        term.keys("J")
        time.sleep(0.3)
    shown = term.screen()
    draft = _after(shown, "Draft")
    assert draft[:2] == ["Question:", "Ann has 2 pens and buys 3. How many?"], shown
    assert "#### 5" in draft and "1 / 5" in shown
    print(shown)  # what the curator saw, for the record
