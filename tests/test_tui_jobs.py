"""Background generation from the review screen runs in a worker process: when that
process dies (a native fault, the OOM killer), the review goes on."""

from __future__ import annotations

import asyncio
import os
import re
import signal

import pytest

from bare_tui.core.workspace.store import Store
from bare_tui.tui.messages import StartJob
from conftest import make_app, unrefined_parsed

SIZE = (120, 32)


async def _until(condition, seconds: float = 120) -> None:
    for _ in range(int(seconds / 0.1)):
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


def _rows(db):
    with Store(db) as store:
        return store.query("SELECT id, raw_text, seed FROM candidates ORDER BY id")


@pytest.mark.models
@pytest.mark.parametrize("sig, cause", [
    (signal.SIGKILL, "killed (out of memory, or kill -9) (SIGKILL)"),
    (signal.SIGILL, "illegal instruction (SIGILL)"),
])
async def test_a_dying_worker_ends_the_job_not_the_review(review_db, sig, cause):
    app = make_app(review_db, poll_s=0.2, max_tokens=24, parallel=2, cpu_lock="off")
    async with app.run_test(size=SIZE) as pilot:
        app.post_message(StartJob(40))
        await _until(lambda: app.job_pid is not None and len(_rows(review_db)) >= 6)
        committed = _rows(review_db)
        # Started from the screen, the job runs at the lowest priority, below the review.
        assert os.getpriority(os.PRIO_PROCESS, app.job_pid) == min(
            19, os.getpriority(os.PRIO_PROCESS, 0) + 19)
        os.kill(app.job_pid, sig)
        await _until(lambda: not app.job_running)
        await pilot.pause()
        status = app.review_screen.query_one("#status").plain
        assert f"the model process died: {cause}; see `bare-tui doctor`" in status
        # Every sample committed before the kill is intact, and the review goes on.
        assert _rows(review_db)[:len(committed)] == committed
        await pilot.press("a")
        with Store(review_db) as store:
            run = store.query("SELECT status, reserved, error FROM runs"
                              " WHERE model != 'scripted'")[0]
            assert (run["status"], run["reserved"]) == ("interrupted", 0)
            assert cause in run["error"]
            assert store.scalar("SELECT count(*) FROM events WHERE action = 'accept'") == 1
        # A new job works.
        before = len(_rows(review_db))
        app.post_message(StartJob(1))
        await _until(lambda: len(_rows(review_db)) == before + 1 and not app.job_running)
        assert "job: done; usable items: " in app.review_screen.query_one("#status").plain


@pytest.mark.models
async def test_g_beside_a_cli_run_ends_with_exactly_the_target(review_db, tmp_path,
                                                               monkeypatch):
    """A curator presses `g` while a CLI `run` works on the same task: the screen's job
    queues behind the machine's lease and says so. The task ends with exactly the larger
    of the two targets, and no slot stays claimed. (Jobs drafting side by side, lease
    off, are tested through the CLI in test_jobs.py.)"""
    import subprocess
    import sys


    monkeypatch.setenv("BARE_TUI_LEASE", str(tmp_path / "cpu.lock"))
    cli = subprocess.Popen(
        [sys.executable, "-m", "bare_tui", "run", "-n", "9", "--max-tokens", "12",
         "--parallel", "2", "--db", str(review_db)],
        env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    try:
        with Store(review_db) as store:
            await _until(lambda: store.scalar(
                "SELECT count(*) FROM runs WHERE status = 'running'") == 1)
        app = make_app(review_db, poll_s=0.2, max_tokens=12, parallel=2,
                       cpu_lock=str(tmp_path / "cpu.lock"))  # as the CLI's $BARE_TUI_LEASE
        async with app.run_test(size=SIZE) as pilot:
            app.post_message(StartJob(4))
            await _until(lambda: "waiting for your other generation job" in app.job_line)
            await _until(lambda: not app.job_running, 600)
            await pilot.pause()
        _, err = cli.communicate(timeout=600)
        assert cli.returncode == 0, err
    finally:
        cli.kill()
    with Store(review_db) as store:
        targets = [r["target"] for r in store.query(
            "SELECT target FROM runs WHERE kind = 'draft' AND model != 'scripted'")]
        assert store.scalar("SELECT count(*) FROM candidates") == max(targets) >= 9
        assert store.scalar("SELECT sum(reserved) FROM runs") == 0
        assert unrefined_parsed(store.conn) == 0


@pytest.mark.models
async def test_quitting_during_a_job_records_it_interrupted_and_says_what_is_left(
        review_db):
    from bare_tui.cli.review import unfinished
    from bare_tui.core.inputs import recipes

    app = make_app(review_db, poll_s=0.2, max_tokens=24, parallel=2, cpu_lock="off")
    async with app.run_test(size=SIZE) as pilot:
        app.post_message(StartJob(40))
        await _until(lambda: app.job_pid is not None and len(_rows(review_db)) >= 6)
        worker = app.job_pid
        await pilot.press("q")
    for _ in range(300):  # the worker ends on its own, recording why
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            break
        await asyncio.sleep(0.1)
    with Store(review_db) as store:
        runs = store.query("SELECT status, error FROM runs WHERE model != 'scripted'")
        assert [r["status"] for r in runs] == ["interrupted"]
        assert "No screen" not in (runs[0]["error"] or "")
        task = recipes.resolve(store, "gsm8k")
        made = len(_rows(review_db))
        lines = unfinished(store, task, target=45)
    assert lines[0] == (f"the task has {made} of 45 candidates: `bare-tui run -n 45 --task "
                        "gsm8k` makes the rest")
    assert lines[1].endswith("drafts are not refined yet: `bare-tui refine --task gsm8k` "
                             "refines them")


async def test_the_jobs_time_left_moves_with_the_clock(review_db):
    """Samples come in bursts; between them the status line's time left still moves,
    at the job's pace so far."""
    import time

    from bare_tui.core.generation.meter import Meter

    app = make_app(review_db)
    async with app.run_test(size=SIZE) as pilot:
        meter = Meter("job: draft (cpu, 16 at once)", 10, started=time.perf_counter() - 10)
        meter.add(2, 10, True)  # 2 of 10 in 10 s
        app.job_running, app._job_meter = True, meter
        meter.started -= 10  # 10 s more, no sample: 80 s left, not the 40 s said before
        await pilot.pause(1.5)  # the status line's own tick
        assert "job: draft (cpu, 16 at once): 2/10" in app.job_line
        assert re.search(r"ETA 1:2\d", app.job_line), app.job_line
        app.job_running = False
