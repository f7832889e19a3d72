"""Text from outside never acts on the terminal and never parses as markup: model output
in the editor, names, GGUF metadata (items 7 and 8), and a huge candidate does not stall
the screen (item 13)."""

from __future__ import annotations

import shutil
import struct
import sys
from pathlib import Path

import pytest
from test_tmux import Terminal

from bare_tui.core.generation import pipeline
from bare_tui.core.inputs import recipes
from bare_tui.core.inputs.seeds import import_seeds
from bare_tui.core.reviewing import review
from bare_tui.core.workspace import current
from bare_tui.core.workspace.store import Store
from bare_tui.tui.screens.edit import EditScreen
from bare_tui.tui.widgets.diff_view import SHOWN_LINES, DiffView
from conftest import (
    GOOD_DRAFT,
    GSM8K_SEEDS,
    ScriptedBackend,
    make_app,
    make_review_workspace,
    run_cli,
)

OSC_DRAFT = ("Question:\nCopy \x1b]52;c;SGVsbG8=\x07 this \x1b]0;pwned\x07 now \x1b[2J ok?\n"
             "Answer:\n#### 1\n")
SIZE = (100, 30)


def drafted_only(path: Path, drafts: list[str]) -> Path:
    """A workspace whose candidates are drafts, not refined: the draft is the final text."""
    with Store(path) as store:
        task = recipes.resolve(store, "gsm8k")
        import_seeds(store, task, GSM8K_SEEDS)
        pipeline.draft(store, task, ScriptedBackend(drafts), len(drafts), rng_seed=1)
    return path


@pytest.fixture
def osc_db(tmp_path: Path) -> Path:
    return drafted_only(tmp_path / "osc.db", [OSC_DRAFT, GOOD_DRAFT])


# --- 7: the in-app editor sends model output raw to the terminal ---------------------------------

@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_editor_does_not_send_model_output_raw_to_the_terminal(osc_db: Path):
    term = Terminal("osc", f"HF_HUB_OFFLINE=1 {sys.executable} -m bare_tui review "
                    f"--db {osc_db}")
    try:
        term.run("set-option", "-s", "set-clipboard", "on")  # OSC 52 would fill a buffer
        term.run("set-option", "-g", "allow-rename", "on")
        title = term.run("display", "-p", "-t", "osc", "#{pane_title}")
        term.wait_for("1 / 2")
        for _ in range(3):  # open and close the editor on the hostile text, as in the report
            term.keys("e")
            shown = term.wait_for("ctrl+s saves")
            assert "\\x1b]52;c;SGVsbG8=\\x07" in shown  # shown as escapes, not sent
            term.keys("Escape")
            term.wait_for("1 / 2")
        term.keys("j", "k")
        shown = term.wait_for("1 / 2")
        assert "filter: all" in shown  # ESC[2J did not clear the screen
        assert "\x1b]" not in term.screen(escapes=True)
        assert term.run("list-buffers").strip() == ""  # the clipboard was never set
        assert term.run("display", "-p", "-t", "osc", "#{pane_title}") == title
        term.keys("q")
    finally:
        term.close()


async def test_editor_restores_control_characters_only_when_unchanged(osc_db: Path):
    app = make_app(osc_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        assert isinstance(app.screen, EditScreen)
        area = app.screen.query_one("#field-question")
        assert "\x1b" not in area.text and "\\x1b]52" in area.text
        await pilot.press("ctrl+s")  # unchanged: nothing to save, the original stays
        await pilot.pause()
        with Store(osc_db) as store:
            assert review.decision_state(store, 1).version is None
        await pilot.press("e")
        await pilot.press("end", "!", "ctrl+s")
        await pilot.pause()
    with Store(osc_db) as store:
        edited = review.decision_state(store, 1).final_fields
    assert "\x1b" not in edited["question"] and "\\x1b]52;c;SGVsbG8=\\x07" in edited["question"]
    assert edited["answer"] == "#### 1"  # the field not touched keeps its text


# --- 8: untrusted strings parsed as markup --------------------------------------------------------

def test_reviewer_name_with_markup_does_not_crash_undo(tmp_path: Path):
    db = str(make_review_workspace(tmp_path / "w.db"))
    for reviewer in ("[/]", "\x1b]0;pwned\x07[bold]x"):
        assert run_cli("accept", "1", "--reviewer", reviewer, "--db", db).returncode == 0
        result = run_cli("undo", "--reviewer", reviewer, "--db", db)
        assert result.returncode == 0 and "undo: candidates 1" in result.stdout
        result = run_cli("undo", "--reviewer", reviewer, "--db", db)
        assert result.returncode == 0 and "\x1b" not in result.stdout
        assert "nothing to undo for reviewer" in result.stdout


def gguf_with(metadata: dict[str, str]) -> bytes:
    def string(text: str) -> bytes:
        raw = text.encode()
        return struct.pack("<Q", len(raw)) + raw

    out = b"GGUF" + struct.pack("<IQQ", 3, 0, len(metadata))
    for key, value in metadata.items():
        out += string(key) + struct.pack("<I", 8) + string(value)
    return out


def test_gguf_metadata_with_escapes_and_markup_is_shown_plain(tmp_path: Path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "evil[bold].gguf").write_bytes(gguf_with({
        "general.architecture": "\x1b]0;pwned\x07llama[/]", "general.name": "[bold]x[/]"}))
    result = run_cli("models", "--db", str(tmp_path / "w.db"),
                     env={"BARE_TUI_MODELS_DIR": str(models), "COLUMNS": "300"})
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "\\x1b]0;pwned\\x07llama[/]" in result.stdout and "evil[bold]" in result.stdout


# --- 13: a very long candidate stalls the screen -------------------------------------------------

LONG_DRAFT = "Question:\n" + "\n".join(f"line {n} of a very long question" for n in range(
    10_000)) + "\nAnswer:\n#### 7\n"


async def test_very_long_candidate_is_cut_until_asked(tmp_path: Path):
    db = drafted_only(tmp_path / "long.db", [LONG_DRAFT, GOOD_DRAFT])
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        view = app.screen.query_one(DiffView)
        lines = view.plain_lines()
        assert len(lines) < 4 * SHOWN_LINES
        assert any("332,400 more characters not" in line for line in lines)
        assert any("line 199 of a" in line for line in lines)
        assert not any("line 200 of a" in line for line in lines)
        await pilot.press("m")
        assert any("line 9999 of a" in line for line in view.plain_lines())
        await pilot.press("j", "k")  # another candidate and back: cut again
        assert len(view.plain_lines()) < 4 * SHOWN_LINES


async def test_f15_m_shows_a_huge_line_only_up_to_its_cap(tmp_path: Path):
    """F15: a 1 MB line is cut by characters, and `m` shows at most WHOLE_CHARS of it."""
    from bare_tui.tui.widgets.diff_view import WHOLE_CHARS

    huge = "Question:\nHow many? " + "word " * 200_000 + "\nAnswer:\n#### 7\n"
    db = drafted_only(tmp_path / "huge.db", [huge, GOOD_DRAFT])
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        view = app.screen.query_one(DiffView)
        await pilot.press("d", "d")  # draft only: one column
        assert any("more characters not shown (m: more, E: all)" in line
                   for line in view.plain_lines())
        await pilot.press("m")
        lines = view.plain_lines()
        left = len(("How many? " + "word " * 200_000).strip()) - WHOLE_CHARS
        assert any(f"{left:,} more characters not shown (E: all, in $EDITOR)" in line
                   for line in lines), [line for line in lines if "…" in line]


async def test_reload_while_a_job_commits_does_not_redraw_an_unchanged_candidate(tmp_path):
    db = drafted_only(tmp_path / "long.db", [LONG_DRAFT, GOOD_DRAFT])
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        view = app.screen.query_one(DiffView)
        layouts = []
        original = view._layout_lines
        view._layout_lines = lambda: (layouts.append(1), original())[1]
        for _ in range(5):  # what every commit of a running job causes
            app.review_screen.reload()
            await pilot.pause()
        assert layouts == []
        with Store(db) as store:  # a change to the shown candidate is drawn
            review.decide(store, [1], "accept", "other")
        app.review_screen.reload()
        await pilot.pause()
        assert layouts == [1]
        assert current.current(app.store, 1).status == "accepted"

