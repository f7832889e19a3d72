"""Snapshots of the review workstation at 80x24 and 160x48 (pytest-textual-snapshot).

Update after an intended change of the screens with `pytest --snapshot-update`, then
look at the new snapshots before committing them.
"""

from pathlib import Path

import pytest

from conftest import make_app, make_review_workspace

SIZES = [(80, 24), (160, 48)]


@pytest.fixture
def app(tmp_path, monkeypatch):
    # A relative workspace path keeps the export modal's default path the same every run.
    monkeypatch.chdir(tmp_path)
    return make_app(make_review_workspace(Path("review.db")), poll_s=3600)


async def settle(pilot):
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize(
    "keys",
    [(), ("d",), ("question_mark",), ("o",), ("j", "j", "j"), ("X", "1", "4", "o", "k")],
    ids=["side-by-side", "inline", "help", "export", "hostile-text", "reject-tags"],
)
def test_review_screens(snap_compare, app, size, keys):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press(*keys)
        await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize(
    "keys",
    [("j",), ("j", "J", "J")],
    ids=["failed-refinement", "detail-scrolled"],
)
def test_review_at_80x24(snap_compare, app, keys):
    """A short screen: #2's refinement did not parse. Its problems come first in the
    detail and in the heading, `J` scrolls the detail while the list keeps its place, and
    the footer keeps `? Help` and `q Quit`, under both header lines."""
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press(*keys)
        await settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("keys", [(), ("d",)], ids=["side-by-side", "inline"])
def test_no_color_marks_changes_in_the_text(snap_compare, tmp_path, monkeypatch, keys):
    """With NO_COLOR the changes read from the text itself: [-removed-] and {+added+}."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(make_review_workspace(Path("review.db")), poll_s=3600)
    assert app.no_color

    async def run_before(pilot):
        await settle(pilot)
        await pilot.press(*keys)
        await settle(pilot)
        shown = "\n".join(pilot.app.review_screen.query_one("DiffView").plain_lines())
        assert "[-Ann-]" in shown and "{+Anna+}" in shown

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_diff_with_a_current_hunk(snap_compare, app, size):
    """`]` twice: the second changed hunk is current, marked ▶ ◀ and highlighted in both
    columns; `<` kept the draft's side of the first (the right column is the merge)."""
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("right_square_bracket", "less_than_sign")
        await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_alternatives_pager(snap_compare, app, size):
    """`p`: the newest alternative of #1 beside its draft, with its own diff."""
    from test_tui_merge import _add_alternatives

    _add_alternatives(Path("review.db"))

    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("p", "left")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_drifted_refinement_at_80x24(snap_compare, tmp_path, monkeypatch):
    """#1's refinement is another item altogether: the list marks it `~`, the heading
    says the draft is proposed and how little of it the refinement kept."""
    from test_drift import drifted_workspace

    monkeypatch.chdir(tmp_path)
    app = make_app(drifted_workspace(Path("drift.db")), poll_s=3600)

    async def run_before(pilot):
        await settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
