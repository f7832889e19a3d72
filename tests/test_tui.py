"""The review workstation driven through Textual's pilot, checked against the database."""

import contextlib
import json
import re
from html import unescape

import pytest
from textual.widgets import Input, TextArea

from bare_tui.core.reviewing import review
from bare_tui.core.reviewing.review import State
from bare_tui.core.reviewing.review_list import FILTERS
from bare_tui.core.workspace.store import Store
from bare_tui.text import clean
from bare_tui.tui.keys import KEYS
from bare_tui.tui.messages import StartJob
from bare_tui.tui.screens.edit import EditScreen
from bare_tui.tui.screens.modals import HelpScreen
from bare_tui.tui.widgets.diff_view import MODES, DiffView
from conftest import export_in_app, make_app, unrefined_parsed, wait_until

SIZE = (120, 32)


def state(db, candidate_id):
    with Store(db) as store:
        return review.decision_state(store, candidate_id)


def events(db):
    with Store(db) as store:
        return store.query("SELECT candidate_id, action, reviewer, reason FROM events"
                           " ORDER BY id")


def cursor_id(app):
    return app.review_screen.candidates.current_id


async def test_moving_with_j_k_and_arrows(review_db):
    app = make_app(review_db)
    async with app.run_test(size=SIZE) as pilot:
        assert cursor_id(app) == 1
        await pilot.press("j", "j")
        assert cursor_id(app) == 3
        await pilot.press("k")
        assert cursor_id(app) == 2
        await pilot.press("down", "down", "down", "down")
        assert cursor_id(app) == 5  # stops at the end
        await pilot.press("up", "home")
        assert cursor_id(app) == 1
        await pilot.press("end")
        assert cursor_id(app) == 5
    assert events(review_db) == []


async def test_accept_accept_draft_reject_skip(review_db):
    app = make_app(review_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        assert cursor_id(app) == 2
        await pilot.press("A")
        await pilot.press("x")
        await pilot.press("space")
        assert cursor_id(app) == 5
        await pilot.press("X")
        await pilot.press(*"dup", "enter")
        await pilot.pause()
    assert state(review_db, 1) == State("accepted", "refined")
    assert state(review_db, 2) == State("accepted", "draft")
    assert state(review_db, 3) == State("rejected")
    assert state(review_db, 4) == State()  # skipped
    assert state(review_db, 5) == State("rejected", None, None, "dup")
    assert events(review_db) == [
        {"candidate_id": 1, "action": "accept", "reviewer": "tester", "reason": None},
        {"candidate_id": 2, "action": "accept_draft", "reviewer": "tester", "reason": None},
        {"candidate_id": 3, "action": "reject", "reviewer": "tester", "reason": None},
        {"candidate_id": 5, "action": "reject", "reviewer": "tester", "reason": "dup"},
    ]


async def test_counts_and_position_follow_decisions(review_db):
    app = make_app(review_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("a", "x")
        status = app.review_screen.query_one("#status").plain
        assert "3 / 5" in status and "accepted 1" in status and "rejected 1" in status
        assert "pending 3" in status and "reviewer: tester" in status


async def test_edit_in_app_is_a_third_version(review_db):
    app = make_app(review_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        assert isinstance(app.screen, EditScreen)
        question = app.screen.query_one("#field-question", TextArea)
        assert question.text == "Anna has 2 pens and buys 4. How many?"
        question.text = "Zoe has 7 pens. How many?"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert cursor_id(app) == 1  # an edit does not advance
        assert app.review_screen.query_one(DiffView).detail.edited
    edited = state(review_db, 1)
    assert edited == State("pending", "edited",
                           {"question": "Zoe has 7 pens. How many?", "answer": "2 + 3 = 5\n#### 5"},
                           verified=1, verification=[  # verified as it was saved
                               {"verifier": "arithmetic(answer)", "version": "1",
                                "checked": True, "problems": []}],
                           valid=1, validation=[])  # and checked
    with Store(review_db) as store:  # draft and refinement are kept beside the edit
        assert store.scalar("SELECT count(*) FROM refinements WHERE candidate_id = 1") == 1
        assert "Ann has" in store.scalar("SELECT raw_text FROM candidates WHERE id = 1")


async def test_an_edit_that_fails_its_checks_is_marked_and_not_usable_at_once(review_db):
    """An edit is checked as it is saved: the list's `!`, the problem line and the
    status line's usable count follow at once, and export agrees."""
    app = make_app(review_db)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.review_screen
        await wait_until(pilot, lambda: screen.tally.counts.get("usable") is not None)
        usable = screen.tally.counts["usable"]
        assert screen.candidates._summary(0).valid  # #1 is usable before the edit
        await pilot.press("e")
        answer = app.screen.query_one("#field-answer", TextArea)
        answer.text = "DROP TABLE customers"  # no '#### n' line: fails the recipe's pattern
        await pilot.press("ctrl+s")
        await pilot.pause()
        line = screen.candidates._line(screen.candidates._summary(0), 1).plain
        assert line.split()[1] == "·!e"  # pending, fails its checks, the edit is final
        shown = " ".join(" ".join(screen.query_one(DiffView).plain_lines()).split())
        assert "Edited (final) │ ! answer: must end" in shown
        await wait_until(pilot, lambda: screen.tally.counts.get("usable") == usable - 1)
        await pilot.press("f")
        app.screen.query_one("OptionList").highlighted = list(FILTERS).index(
            "failing checks")
        await pilot.press("enter")
        assert 1 in screen.candidates.ids
    edited = state(review_db, 1)
    assert edited.valid == 0 and edited.validation and "####" in edited.validation[0]


async def test_edit_cancelled_changes_nothing(review_db):
    app = make_app(review_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e", "escape")
        assert not isinstance(app.screen, EditScreen)
    assert events(review_db) == []


async def test_edit_in_external_editor(review_db, tmp_path, monkeypatch):
    script = tmp_path / "editor.sh"
    script.write_text("#!/bin/sh\nsed -i 's/Anna/Bea/' \"$1\"\n")
    script.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(script))
    monkeypatch.delenv("VISUAL", raising=False)
    app = make_app(review_db)
    # The pilot has no real terminal to give up; the tmux test suspends for real.
    monkeypatch.setattr(app, "suspend", contextlib.nullcontext)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("E")
        await pilot.pause()
    assert state(review_db, 1).final_fields["question"] == "Bea has 2 pens and buys 4. How many?"


async def test_external_editor_that_breaks_the_format_saves_nothing(review_db, tmp_path,
                                                                   monkeypatch):
    script = tmp_path / "editor.sh"
    script.write_text("#!/bin/sh\necho 'just prose' > \"$1\"\n")
    script.chmod(0o755)
    monkeypatch.setenv("VISUAL", str(script))
    app = make_app(review_db)
    monkeypatch.setattr(app, "suspend", contextlib.nullcontext)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("E")
        await pilot.pause()
    assert events(review_db) == []


async def test_undo_redo_restore_exact_state(review_db):
    app = make_app(review_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a", "x")
        await pilot.press("u")
        assert cursor_id(app) == 2  # undo shows the candidate it restored
        assert state(review_db, 2) == State()
        await pilot.press("u")
        assert state(review_db, 1) == State()
        await pilot.press("ctrl+r")
        assert state(review_db, 1) == State("accepted", "refined")
        await pilot.press("ctrl+r")
        assert state(review_db, 2) == State("rejected")


async def test_undo_survives_a_restart(review_db):
    app = make_app(review_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j", "x")
    assert state(review_db, 2) == State("rejected")
    again = make_app(review_db)
    async with again.run_test(size=SIZE) as pilot:
        await pilot.press("u")
        assert cursor_id(again) == 2
    assert state(review_db, 2) == State()
    third = make_app(review_db)
    async with third.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+r")
    assert state(review_db, 2) == State("rejected")


async def test_diff_modes_cycle(review_db):
    app = make_app(review_db)
    async with app.run_test(size=SIZE) as pilot:
        view = app.review_screen.query_one(DiffView)
        assert view.mode == "side-by-side" and view.side_by_side
        row = next(line for line in view.plain_lines() if "Draft" in line)
        assert "Draft" in row and "│" in row and "Refined" in row  # two columns
        seen = []
        for _ in MODES:
            await pilot.press("d")
            seen.append(view.mode)
            titles = [line for line in view.plain_lines() if "Draft" in line or "Refined" in line]
            assert ("│" in titles[0]) == (view.mode == "side-by-side")
        assert seen == [*MODES[1:], MODES[0]]
        assert any("Draft → Refined" in line for line in view.plain_lines()) is False
        await pilot.press("d")
        assert any("Draft → Refined" in line for line in view.plain_lines())


async def test_search_and_filter(review_db):
    app = make_app(review_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"ben", "enter")
        assert app.review_screen.candidates.ids == [2]
        await pilot.press("slash")
        app.screen.query_one(Input).value = ""
        await pilot.press("enter")
        assert app.review_screen.candidates.ids == [1, 2, 3, 4, 5]
        assert cursor_id(app) == 2  # the cursor stayed on the candidate it was on
        await pilot.press("x", "x")
        await pilot.press("f")
        options = app.screen.query_one("OptionList")
        options.highlighted = list(FILTERS).index("rejected")
        await pilot.press("enter")
        assert app.review_screen.filter_name == "rejected"
        assert app.review_screen.candidates.ids == [2, 3]
        await pilot.press("f", "home", "enter")
        assert app.review_screen.filter_name == "all"
        await pilot.press("f", "end", "enter")  # the recipe's tags come last
        assert app.review_screen.filter_name == "tag: unanswerable"
        assert app.review_screen.candidates.ids == []  # nothing is tagged
        await pilot.press("f")
        app.screen.query_one("OptionList").highlighted = list(FILTERS).index("disagreements")
        await pilot.press("enter")
        assert app.review_screen.filter_name == "disagreements"
        assert app.review_screen.candidates.ids == []  # one reviewer: nobody disagrees
        await pilot.press("f")
        app.screen.query_one("OptionList").highlighted = list(FILTERS).index(
            "judge: most detected first")
        await pilot.press("enter")
        assert app.review_screen.filter_name == "judge: most detected first"
        assert app.review_screen.candidates.ids == []  # nothing is judged


async def test_filter_failing_checks(review_db):
    app = make_app(review_db)
    async with app.run_test(size=SIZE):
        app.review_screen.filter_name = "failing checks"
        app.review_screen.reload()
        assert app.review_screen.candidates.ids == [2]


async def test_export_modal_writes_same_file_as_cli(review_db, tmp_path):
    from bare_tui.core.datasets.export import export
    from bare_tui.core.inputs import recipes

    out = tmp_path / "tui.jsonl"
    app = make_app(review_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a", "a")
        await export_in_app(app, pilot, out)
    with Store(review_db) as store:
        export(store, recipes.resolve(store, "gsm8k"), tmp_path / "cli.jsonl")
    assert out.read_text() == (tmp_path / "cli.jsonl").read_text()
    assert len(out.read_text().splitlines()) == 1  # #2 accepted the draft, which fails checks
    assert json.loads((tmp_path / "tui.manifest.json").read_text())["count"] == 1


async def test_help_lists_every_key_and_palette_has_every_action(review_db):
    app = make_app(review_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        shown = " ".join(str(static.render()) for static in app.screen.query(".hint"))
        assert "changed in the [keys] table of the config file" in shown
        await pilot.press("escape")
        titles = [c.title for c in app.get_system_commands(app.review_screen)]
        for key in KEYS:
            assert key.help[0].upper() + key.help[1:] in titles


async def test_a_dialog_closing_keeps_the_key_bar_and_the_rows_as_drawn(review_db):
    """The footer is built again only when its keys change, and the list draws a row again
    only when what it shows changes (both were redrawn whole as a dialog closed)."""
    from textual.widgets._footer import FooterKey

    app = make_app(review_db)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.review_screen
        keys_before = list(screen.query(FooterKey))
        assert "a" in [key.key for key in keys_before]
        drawn = {key: screen.candidates._drawn.get(key) for key in screen.candidates._drawn.keys()}
        assert len(drawn) >= 5  # the five rows on screen, drawn once
        await pilot.press("question_mark")
        await pilot.press("escape")
        await pilot.pause()
        assert list(screen.query(FooterKey)) == keys_before  # the same widgets
        assert all(screen.candidates._drawn.get(key) is strip for key, strip in drawn.items())
        await pilot.press("a")  # row 1 is accepted: drawn again with its mark
        await pilot.pause()
        assert "✓" in screen.candidates.render_line(0).text
        app.set_keymap({"accept": "y"})  # the keys change: the bar is built again
        await pilot.pause()
        keys_after = {key.key: key for key in screen.query(FooterKey)}
        assert "y" in keys_after and "a" not in keys_after
        assert keys_after["y"] not in keys_before


async def test_palette_runs_an_action(review_db):
    app = make_app(review_db)
    async with app.run_test(size=SIZE) as pilot:
        [command] = [c for c in app.get_system_commands(app.review_screen)
                     if c.title.startswith("Reject and advance")]
        await command.callback()
        await pilot.pause()
    assert state(review_db, 1) == State("rejected")


async def test_keys_are_remappable_from_config(review_db):
    app = make_app(review_db, keys={"accept": "y", "next": "n"})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")  # no longer bound
        await pilot.press("n", "y")
    assert state(review_db, 1) == State()
    assert state(review_db, 2).status == "accepted"


def test_unknown_key_action_in_config_is_one_line(review_db, tmp_path):
    from conftest import run_cli

    config = tmp_path / "bare-tui.toml"
    config.write_text('[keys]\nacept = "y"\n')
    result = run_cli("review", "--db", str(review_db), "--config", str(config))
    assert result.returncode == 1
    assert result.stderr.startswith("error: config [keys]: unknown action 'acept'")
    assert len(result.stderr.strip().splitlines()) == 1


async def test_sees_changes_from_another_process(review_db):
    app = make_app(review_db, reviewer="ann")
    async with app.run_test(size=SIZE) as pilot:
        with Store(review_db) as other:
            review.decide(other, [3], "reject", "bob")
        app.poll()
        await pilot.pause()
        summary = app.review_screen.candidates._summary(2)
        assert summary.status == "rejected"


def screen_text(app) -> str:
    """What the terminal shows, as text (from the app's own screenshot)."""
    svg = app.export_screenshot()
    text = re.sub(r"<[^>]+>", "", svg)
    return unescape(text).replace("\xa0", " ")


async def test_untrusted_text_shows_literally(review_db):
    app = make_app(review_db)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press("j", "j", "j")
        assert cursor_id(app) == 4
        await pilot.press("d")  # inline view: one pane holds the whole text
        await pilot.pause()
        text = screen_text(app)
        assert "[bold red]Shout[/]" in text
        assert "[link=https://evil.example]click[/link]" in text
        assert "\\x1b[2J\\x1b]52;c;SGVsbG8=\\x07" in text and "bell\\x07" in text
        assert "\\u202eevil" in text
        assert "\x1b" not in text and "\x07" not in text
        list_line = screen_text(app).split("\n")
        assert any("4 ·" in line and "[bold red]Shout[/]" in line for line in list_line)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2J", "\\x1b[2J"),
        ("\x1b]52;c;SGVsbG8=\x07", "\\x1b]52;c;SGVsbG8=\\x07"),
        ("a\rb\x7f\x9b", "a\\x0db\\x7f\\x9b"),
        ("bidi \u202e \u2066", "bidi \\u202e \\u2066"),
        ("keep\nlines\tand tabs [b]", "keep\nlines    and tabs [b]"),
    ],
)
def test_clean_shows_control_characters_as_escapes(raw, shown):
    assert clean(raw) == shown


@pytest.mark.models
async def test_cli_run_and_review_share_the_database(review_db):
    """A real `bare-tui run` drafts into the workspace while a curator decides."""
    import asyncio
    import subprocess
    import sys


    process = subprocess.Popen(
        [sys.executable, "-m", "bare_tui", "run", "--more", "4", "--max-tokens", "16",
         "--db", str(review_db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"},
    )
    app = make_app(review_db, poll_s=0.2)
    made = 0
    async with app.run_test(size=SIZE) as pilot:
        while process.poll() is None or made < 10:
            await pilot.press("x" if made % 3 else "a")
            made += 1
            if app.review_screen.candidates.cursor == len(app.review_screen.candidates.ids) - 1:
                await pilot.press("home")
            await asyncio.sleep(0.05)
        out, err = process.communicate()
        app.poll()
        await pilot.pause()
        assert len(app.review_screen.candidates.ids) == 9  # the run's 4 new candidates appeared
    assert process.returncode == 0, err
    assert "locked" not in err.lower()
    decided = events(review_db)
    assert len(decided) == made and all(e["reviewer"] == "tester" for e in decided)
    with Store(review_db) as store:
        assert store.scalar("SELECT count(*) FROM candidates") == 9
        assert unrefined_parsed(store.conn) == 0  # every draft that parsed is refined
        assert store.scalar("SELECT count(*) FROM decisions") == len(
            {e["candidate_id"] for e in decided})


@pytest.mark.models
async def test_generate_in_background_while_reviewing(review_db):
    import asyncio

    app = make_app(review_db, poll_s=0.2, max_tokens=16)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("g")
        app.screen.query_one(Input).value = "2"
        await pilot.press("enter")
        assert app.job_running
        await pilot.press("a")  # reviewing goes on while the job runs
        for _ in range(600):
            if not app.job_running:
                break
            await asyncio.sleep(0.1)
        await pilot.pause()
        assert not app.job_running
        assert len(app.review_screen.candidates.ids) == 7
        assert "job: done; usable items: " in app.review_screen.query_one("#status").plain
    assert state(review_db, 1).status == "accepted"
    with Store(review_db) as store:
        kinds = [r["kind"] for r in store.query("SELECT kind FROM runs WHERE status = 'done'"
                                                " AND model != 'scripted'")]
        assert kinds == ["draft", "refine"]
        assert unrefined_parsed(store.conn) == 0


@pytest.mark.models
async def test_background_job_can_be_stopped(review_db):
    import asyncio

    app = make_app(review_db, poll_s=0.2, max_tokens=16)
    async with app.run_test(size=SIZE) as pilot:
        app.post_message(StartJob(50))
        for _ in range(600):
            if len(app.review_screen.candidates.ids) > 5:
                break
            await asyncio.sleep(0.1)
            app.poll()
        await pilot.press("G")
        for _ in range(600):
            if not app.job_running:
                break
            await asyncio.sleep(0.1)
        assert not app.job_running
    with Store(review_db) as store:
        assert 6 <= store.scalar("SELECT count(*) FROM candidates") < 55
        assert store.scalar("SELECT status FROM runs WHERE model != 'scripted'") == "cancelled"


async def test_changes_are_marked_without_colour(review_db, monkeypatch):
    """With NO_COLOR, deletions stay struck through and insertions underlined, and the
    text marks them too (grey on grey cannot be told apart)."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(review_db)
    async with app.run_test(size=(160, 40)):
        view = app.review_screen.query_one(DiffView)
        segments = [segment for strip in view._strips for segment in strip]
        deleted = [s for s in segments if s.style and s.style.strike]
        inserted = [s for s in segments if s.style and s.style.underline]
        assert [s.text for s in deleted] == ["[-Ann-]", "[-3-]"]
        assert [s.text for s in inserted] == ["{+Anna+}", "{+4+}"]
        assert app.no_color
