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
    [(), ("d",), ("question_mark",), ("o",), ("j", "j", "j")],
    ids=["side-by-side", "inline", "help", "export", "hostile-text"],
)
def test_review_screens(snap_compare, app, size, keys):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press(*keys)
        await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
