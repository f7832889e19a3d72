"""Two curators on one workspace: two real `bare-tui review` processes in two real
terminals (tmux), each driven by keys, sharing a queue of 30 items."""

import os
import shutil
import signal
import sqlite3
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
from test_tmux import Terminal

from bare_tui.core.inputs import recipes
from bare_tui.core.reviewing import leases, team
from bare_tui.core.workspace.store import Store
from conftest import GOOD_DRAFT, GSM8K_SEEDS, ScriptedBackend, run_cli

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

ITEMS = 30
LEASE_S = 3.0


def queue_workspace(path: Path) -> Path:
    from bare_tui.core.generation import pipeline
    from bare_tui.core.inputs.seeds import import_seeds

    with Store(path) as store:
        task = recipes.resolve(store, "gsm8k")
        import_seeds(store, task, GSM8K_SEEDS)
        drafts = [GOOD_DRAFT.replace("2 pens", f"{n} pens") for n in range(ITEMS)]
        pipeline.draft(store, task, ScriptedBackend(drafts), ITEMS, rng_seed=1)
    return path


def rows(db: Path, sql: str, params=()) -> list[tuple]:
    with closing(sqlite3.connect(db)) as conn:  # closed now, not when collected
        return conn.execute(sql, params).fetchall()


def events(db: Path) -> int:
    return rows(db, "SELECT count(*) FROM events")[0][0]


class Curator:
    def __init__(self, name: str, db: Path, state: Path, *options: str):
        # (COLUMNS and LINES, set by the test runner's plugins, would fix the app's size)
        env = (f"env -u COLUMNS -u LINES HF_HUB_OFFLINE=1 BARE_TUI_REVIEWER={name} "
               f"BARE_TUI_LEASE_S={LEASE_S} XDG_STATE_HOME={state}")
        self.name = name
        self.term = Terminal(f"team-{name}-{os.getpid()}",
                             f"{env} {sys.executable} -m bare_tui review --db {db} "
                             f"{' '.join(options)}", width=160, height=30)

    def has_work(self, db: Path, overlap: float) -> bool:
        """Whether this curator's queue holds an item no other window holds."""
        ids = list(range(1, ITEMS + 1))
        with Store(db) as store:
            session = store.scalar("SELECT session FROM reviewing WHERE reviewer = ?",
                                   (self.name,))
            return team.next_in_queue(store, "gsm8k", self.name, session, ids, 0,
                                      overlap, LEASE_S) is not None

    def decide(self, db: Path, key: str) -> None:
        """One key press, then wait until the workspace has it."""
        before = events(db)
        self.term.keys(key)
        deadline = time.monotonic() + 15
        while events(db) == before:
            assert time.monotonic() < deadline, (
                f"{self.name}'s {key} never reached the workspace:\n{self.term.screen()}\n"
                f"{rows(db, 'SELECT candidate_id, action, reviewer FROM events')}\n"
                f"{rows(db, 'SELECT reviewer, candidate_id FROM reviewing')}")
            time.sleep(0.05)


def run_team(db: Path, state: Path, overlap: float = 0.0):
    options = (f"--overlap {overlap}",) if overlap else ()
    alice = Curator("alice", db, state, *options)
    bob = Curator("bob", db, state, *options)
    for curator in (alice, bob):
        curator.term.wait_for(f"/ {ITEMS}")
    alice.term.wait_for("reviewing now: 1 other (bob)", timeout=LEASE_S * 3)
    presses = {"alice": 0, "bob": 0}
    while True:
        busy = False
        for curator, key in ((alice, "a"), (bob, "x")):
            if curator.has_work(db, overlap):
                curator.decide(db, key)
                presses[curator.name] += 1
                busy = True
        if not busy:
            break
    return alice, bob, presses


def test_two_curators_share_a_queue_without_deciding_one_item_twice(tmp_path):
    db = queue_workspace(tmp_path / "team.db")
    alice, bob, presses = run_team(db, tmp_path)
    try:
        assert presses == {"alice": ITEMS // 2, "bob": ITEMS // 2}
        # every key press is in events, and every item was decided by one curator
        assert events(db) == ITEMS
        by_reviewer = dict(rows(db, "SELECT reviewer, count(*) FROM events GROUP BY 1"))
        assert by_reviewer == {"alice": 15, "bob": 15}
        assert rows(db, "SELECT max(n) FROM (SELECT count(DISTINCT reviewer) AS n FROM"
                    " events GROUP BY candidate_id)") == [(1,)]
        assert rows(db, "SELECT count(*) FROM decisions WHERE status != 'pending'") == [
            (ITEMS,)]
        # no lock error, on screen or in the error log
        for curator in (alice, bob):
            screen = curator.term.screen().lower()
            assert "locked" not in screen and "busy" not in screen
        assert not (tmp_path / "bare-tui" / "errors.log").exists()
        out = run_cli("status", "--by-reviewer", "--db", str(db), "--task", "gsm8k")
        assert "alice" in out.stdout and "bob" in out.stdout and "100%" in out.stdout

        # alice takes one of hers back (u): the item is pending and leased to her again
        alice.term.keys("u")
        deadline = time.monotonic() + 10
        while not rows(db, "SELECT candidate_id FROM reviewing WHERE reviewer = 'alice'"
                       " AND candidate_id IS NOT NULL"):
            assert time.monotonic() < deadline, alice.term.screen()
            time.sleep(0.05)
        (held, pid), = rows(db, "SELECT candidate_id, pid FROM reviewing"
                            " WHERE reviewer = 'alice'")
        with Store(db) as store:
            assert leases.holders(store, "someone", [held], LEASE_S) == {held: "alice"}
        os.kill(pid, signal.SIGKILL)  # no goodbye: the row stays until it expires
        killed = time.monotonic()
        with Store(db) as store:
            while leases.holders(store, "someone", [held], LEASE_S):
                assert time.monotonic() - killed < LEASE_S + 1
                time.sleep(0.1)
        freed = time.monotonic() - killed
        assert freed <= LEASE_S + 1
        # bob's screen no longer counts alice among those reviewing, and takes her item
        bob.term.wait_for("job: idle", timeout=5)
        deadline = time.monotonic() + LEASE_S * 2
        while "reviewing now" in bob.term.screen():
            assert time.monotonic() < deadline, bob.term.screen()
            time.sleep(0.2)
        bob.term.keys("/")
        bob.term.wait_for("Search the candidates' text")
        bob.term.keys(f"Ann has {held - 1} pens", literal=True)
        bob.term.keys("Enter")
        bob.term.wait_for(f"search: Ann has {held - 1} pens")
        bob.term.wait_for(f"#{held} ", timeout=30)  # a search, on a loaded machine
        bob.decide(db, "a")
        assert rows(db, "SELECT status, reviewer FROM decisions WHERE candidate_id = ?",
                    (held,)) == [("accepted", "bob")]
    finally:
        alice.term.close()
        bob.term.close()


def test_overlap_doubles_a_share_of_items_and_agreement_reports_them(tmp_path):
    db = queue_workspace(tmp_path / "team.db")
    overlap = 0.2
    doubled = [i for i in range(1, ITEMS + 1) if team.doubled(i, overlap)]
    assert doubled  # the fixed hash routes some of the 30
    alice, bob, presses = run_team(db, tmp_path, overlap)
    try:
        assert sum(presses.values()) == ITEMS + len(doubled) == events(db)
        twice = [cid for cid, n in rows(db, "SELECT candidate_id, count(DISTINCT reviewer)"
                                        " FROM events GROUP BY 1") if n == 2]
        assert sorted(twice) == doubled
        out = run_cli("agreement", "--db", str(db), "--task", "gsm8k")
        assert out.returncode == 0, out.stderr
        print(out.stdout)
        assert (f"{len(doubled)} items decided by two or more reviewers: 0 agree (0%)"
                in out.stdout)
        # 5 items, each (a, r): n_a = n_r = 5, alpha = 1 - 9 * 10 / (2 * 5 * 5) = -0.8
        assert "Krippendorff's alpha (nominal, 2 reviewers): -0.800" in out.stdout
        for candidate_id in doubled:
            assert f"#{candidate_id}" in out.stdout
    finally:
        alice.term.close()
        bob.term.close()


def heading(screen: str, candidate_id: int) -> str:
    """The detail's heading line of an item: "#N  <status> ..."."""
    return next((line for line in screen.splitlines() if f"#{candidate_id}  " in line), "")


@pytest.mark.parametrize("blind", [True, False])
def test_the_second_reviewer_of_a_doubled_item_does_not_see_the_first_ones(tmp_path, blind):
    """Overlap 1: every item goes to two. Alice rejects #1 with a tag in her window and
    edits #2; Bob's window then shows both undecided, with neither her tag nor her edit,
    until he decides. Without blind review (--no-blind) he sees them (the check can
    fail)."""
    db = queue_workspace(tmp_path / "blind.db")
    alice = Curator("alice", db, tmp_path, "--overlap", "1")
    try:
        alice.term.wait_for(f"/ {ITEMS}")
        alice.term.wait_for("#1  pending")
        alice.term.keys("X")
        alice.term.wait_for("wrong arithmetic")
        alice.term.keys("1")
        alice.term.wait_for("[x] wrong arithmetic")
        alice.term.keys("Enter")
        deadline = time.monotonic() + 15
        while not rows(db, "SELECT 1 FROM decisions WHERE candidate_id = 1"):
            assert time.monotonic() < deadline, alice.term.screen()
            time.sleep(0.05)
        # alice is done: her process ends before bob starts (no window of hers lingers)
        (pid,) = rows(db, "SELECT pid FROM reviewing WHERE reviewer = 'alice'")[0]
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while os.path.exists(f"/proc/{pid}"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        alice.term.close()
    assert rows(db, "SELECT status, tags, reviewer FROM decisions") == [
        ("rejected", '["wrong arithmetic"]', "alice")]
    with Store(db) as store:  # alice's edit of #2, as her `e` would save it
        from bare_tui.core.reviewing import review

        review.decide(store, [2], "edit", "alice", fields={
            "question": "ALICE REWROTE THIS QUESTION?", "answer": "1 + 1 = 2\n#### 2"})
    bob = Curator("bob", db, tmp_path, "--overlap", "1", *(() if blind else ("--no-blind",)))
    try:
        bob.term.wait_for(f"/ {ITEMS}")
        screen = bob.term.wait_for("#1  ")
        first = heading(screen, 1)
        if not blind:
            assert "#1  rejected" in first and "tags: wrong arithmetic" in first, screen
            bob.term.keys("j")
            assert "ALICE REWROTE" in bob.term.wait_for("ALICE REWROTE")
            return
        assert "#1  pending" in first and "rejected" not in first, screen
        assert "wrong arithmetic" not in screen, screen
        bob.term.keys("j")
        screen = bob.term.wait_for("#2  ")
        assert "#2  pending" in heading(screen, 2), screen
        assert "ALICE REWROTE" not in screen and "Ann has 1 pens" in screen, screen
        bob.term.keys("e")  # the editor would show her edit: refused while blind
        assert "blind review: decide #2 first" in bob.term.wait_for("blind review")
        bob.term.keys("k")
        bob.term.wait_for("#1  pending")
        bob.decide(db, "a")  # decided: now he sees the item as it stands
        deadline = time.monotonic() + 15
        while heading(bob.term.screen(), 1):  # on to the next item no window holds
            assert time.monotonic() < deadline, bob.term.screen()
            time.sleep(0.05)
        for _ in range(ITEMS):  # back up to #1
            bob.term.keys("k")
            time.sleep(0.2)
            if heading(bob.term.screen(), 1):
                break
        screen = bob.term.wait_for("#1  accepted")
        assert rows(db, "SELECT status, reviewer FROM decisions WHERE candidate_id = 1") == [
            ("accepted", "bob")]
    finally:
        bob.term.close()
    out = run_cli("agreement", "--db", str(db), "--task", "gsm8k")
    assert "1 items decided by two or more reviewers: 0 agree" in out.stdout, out.stdout
