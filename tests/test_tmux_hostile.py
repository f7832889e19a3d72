"""Hostile names, keys, sizes and a busy workspace in a real terminal (tmux), as a curator
meets them (F12, F15, F16, F18, F21, F26): the screen shows them, keeps answering, and
the terminal itself is never touched."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from test_tmux import Terminal, db_rows

from bare_tui.core.measures import compare_report
from bare_tui.core.workspace.store import Store
from conftest import GSM8K_SEEDS, make_review_workspace, run_cli

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

PY = sys.executable


@contextmanager
def review(tmp_path: Path, db: Path, name: str, env: str = "", width: int = 100,
           height: int = 30) -> Iterator[Terminal]:
    """`bare-tui review` in a terminal of its own, open until the block ends."""
    term = Terminal(f"{name}-{os.getpid()}",
                    f"HF_HUB_OFFLINE=1 BARE_TUI_REVIEWER=curator {env} {PY} -m bare_tui "
                    f"review --db {db}", width=width, height=height)
    try:
        yield term
    finally:
        term.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return make_review_workspace(tmp_path / "review.db")


def still_reviewing(term: Terminal) -> None:
    """The app is up and answers keys: back from any dialog, down a row and up again."""
    term.keys("escape")
    time.sleep(0.5)  # a key right after escape would read as alt+key
    term.wait_for("filter:")
    term.keys("j")
    term.wait_for("2 / 5")
    term.keys("k")
    term.wait_for("1 / 5")


# --- F12: model names in the compare view ------------------------------------------------------

def test_f12_model_names_with_markup_show_literally_in_the_compare_view(tmp_path, db):
    from test_compare import REPORT

    hostile = "fake [bold]z[/italic] [@click=app.quit]x[/]"
    report = {**REPORT, "arms": [{**arm, "model": hostile} for arm in REPORT["arms"]]}
    with Store(db) as store, store.transaction() as conn:
        conn.execute("INSERT INTO comparisons (task, n, params, report, report_md, created_at)"
                     " VALUES ('gsm8k', 32, '{}', ?, ?, 0)",
                     (json.dumps(report), compare_report.markdown(report)))
    with review(tmp_path, db, "f12", width=160, height=40) as term:
        term.wait_for("1 / 5")
        term.keys("v")
        term.wait_for("Comparison 2")
        term.keys("End")  # the verdicts come first: the models' line is below them
        shown = term.wait_for("base: fake [bold]z[/italic]")
        assert "[@click=app.quit]x[/]" in shown
        still_reviewing(term)


# --- F16: a [keys] value with brackets ---------------------------------------------------------

def test_f16_a_key_with_brackets_shows_in_help(tmp_path, db):
    config = tmp_path / "keys.toml"
    config.write_text('[keys]\naccept = "[/oops]"\n')
    with review(tmp_path, db, "f16", env=f"BARE_TUI_CONFIG={config}", height=50) as term:
        term.wait_for("1 / 5")
        term.keys("?")
        shown = term.wait_for("Keys")
        assert "[/oops]" in shown
        still_reviewing(term)


# --- F15: a candidate whose one line is 20 MB --------------------------------------------------

def test_f15_a_20_mb_line_neither_freezes_m_nor_e(tmp_path):
    db = tmp_path / "big.db"
    items = tmp_path / "big.jsonl"
    huge = "How many words? " + "word " * 4_000_000
    with items.open("w") as handle:
        handle.write(json.dumps({"question": huge, "answer": "#### 1"}) + "\n")
        handle.write(json.dumps({"question": "Ann has 2 pens. How many?",
                                 "answer": "#### 2"}) + "\n")
    assert run_cli("seeds", "import", str(GSM8K_SEEDS), "--task", "gsm8k", "--db", str(db)
                   ).returncode == 0
    result = run_cli("candidates", "import", str(items), "--task", "gsm8k", "--db", str(db))
    assert result.returncode == 0, result.stderr
    with review(tmp_path, db, "f15") as term:
        term.wait_for("1 / 2", timeout=60)
        term.keys("m")  # once ~48 s of a frozen screen
        term.keys("e")  # once minutes of waiting on every key; keys are handled in order
        term.wait_for("too long to edit here", timeout=30)
        term.keys("j")
        term.wait_for("2 / 2", timeout=30)
        term.keys("k")
        term.wait_for("1 / 2", timeout=30)


# --- F18: another process holds the write lock -------------------------------------------------

def test_f18_moving_stays_quick_while_another_process_holds_the_write_lock(tmp_path, db):
    with review(tmp_path, db, "f18") as term:
        term.wait_for("1 / 5")
        holder = subprocess.Popen(
            [PY, "-c", "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], "
             "isolation_level=None); c.execute('BEGIN IMMEDIATE'); print('held', flush=True);"
             " time.sleep(120)", str(db)], stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "held"
            for key, position in (("j", "2 / 5"), ("j", "3 / 5"), ("k", "2 / 5"),
                                  ("k", "1 / 5")):
                term.keys(key)
                # Each move once waited for the review's busy timeout, 5 s (0.3 s now).
                term.wait_for(position, timeout=2.5)
        finally:
            holder.kill()
            holder.wait()


# --- F26: a teammate's name with terminal escapes ----------------------------------------------

def test_f26_a_teammates_name_never_reaches_the_terminal_raw(tmp_path, db):
    with review(tmp_path, db, "f26", width=80, height=24) as term:
        term.wait_for("1 / 5")
        title = term.run("display-message", "-p", "-t", term.name, "#{pane_title}")
        term.keys("j")
        term.wait_for("2 / 5")
        mallory = "mallory\x1b]0;PWNED\x07"
        result = run_cli("accept", "2", "--db", str(db), env={"BARE_TUI_REVIEWER": mallory})
        assert result.returncode == 0, result.stderr
        term.keys("a")
        shown = term.wait_for("mallory\\x1b]0;PWNED\\x07")
        assert "overwrite that decision?" in shown  # the end of the question shows too
        assert "PWNED" not in term.run("display-message", "-p", "-t", term.name,
                                       "#{pane_title}")
        assert term.run("display-message", "-p", "-t", term.name, "#{pane_title}") == title
        term.keys("n")
        term.wait_for("2 / 5")


# --- F21: $EDITOR that cannot be split, or saves Latin-1 ---------------------------------------

@pytest.mark.parametrize("editor, said", [
    ("vi 'oops", "cannot run $EDITOR"),
    ("LATIN1", "saved text that is not UTF-8"),
])
def test_f21_a_bad_editor_changes_nothing_and_says_why(tmp_path, db, editor, said):
    if editor == "LATIN1":
        script = tmp_path / "latin1.sh"
        script.write_text("#!/bin/sh\nprintf 'Question:\\nCaf\\351?\\nAnswer:\\n#### 1\\n' "
                          "> \"$1\"\n")
        script.chmod(0o755)
        editor = str(script)
    with review(tmp_path, db, "f21", env=f"EDITOR=\"{editor}\"", width=120) as term:
        term.wait_for("1 / 5")
        term.keys("E")
        term.wait_for(said, timeout=30)
        still_reviewing(term)
        assert db_rows(db, "SELECT count(*) FROM events") == [(0,)]

