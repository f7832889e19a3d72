"""One round trip per decision: the SQL a keypress runs on the window's connection,
counted with sqlite3's trace callback, and the app's poll that no longer reloads the
list for this window's own decisions."""

from __future__ import annotations

from bare_tui.core.reviewing import leases, review, review_list
from bare_tui.core.workspace.store import Store
from conftest import make_app

SIZE = (140, 32)

# Pinned: a change here is a change in what one keypress costs; look at the statements
# (the test prints them when it fails) before moving a number. Of them, the decision
# (BEGIN to COMMIT, the next item's lease included), the decided row drawn again, and
# the next item shown: its decision event, its text, the judge's verdict, its
# decontamination flags. Two of them are the search index's trigger on the decision
# row, which finds the edit unchanged and writes nothing (the trigger's entry, and the
# index's check of the file's version); the first key's two more are the index's first
# use on this connection (its version and settings, read once).
PER_KEY = {"a": 21, "x": 18, "u": 25}


async def settled(app, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()


async def press_counting(app, pilot, key: str) -> list[str]:
    seen: list[str] = []
    app.store.conn.set_trace_callback(seen.append)
    try:
        await pilot.press(key)
        await pilot.pause()
    finally:
        app.store.conn.set_trace_callback(None)
    return seen


async def test_statements_per_decision_key_are_pinned_and_one_transaction_writes(review_db):
    app = make_app(review_db, poll_s=3600)  # polled by hand, where a test says
    async with app.run_test(size=SIZE) as pilot:
        await settled(app, pilot)
        screen = app.review_screen
        counted = {}
        for key in ("a", "x", "u"):
            statements = await press_counting(app, pilot, key)
            counted[key] = statements
            # the decision is written once: no second read of the decision row after it
            after_commit = statements[statements.index("COMMIT") + 1:]
            assert not any("FROM decisions d WHERE" in s for s in after_commit), statements
        summary = {key: len(statements) for key, statements in counted.items()}
        assert summary == PER_KEY, "\n".join(f"{k}: {s}" for k, s in counted.items())
        for key in ("a", "x"):  # the decision and the next item's lease: one transaction
            assert counted[key].count("BEGIN IMMEDIATE") == 1
            begin, commit = counted[key].index("BEGIN IMMEDIATE"), counted[key].index("COMMIT")
            assert any(s.startswith("UPDATE reviewing") for s in counted[key][begin:commit])
        assert counted["u"].count("BEGIN IMMEDIATE") == 2  # the undo, the item's lease again
        # what was decided, as the database has it: #1 accepted, #2 rejected then undone
        assert review.decision_state(app.store, 1).status == "accepted"
        assert review.decision_state(app.store, 2).status == "pending"
        assert screen.candidates.current_id == 2  # u shows the item it reverted
        with Store(review_db) as other:  # this window holds #2 again, in the database
            assert leases.holders(other, "someone-else", [2]) == {2: "tester"}


async def test_own_decisions_never_reload_the_list_others_do(review_db):
    app = make_app(review_db, poll_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        await settled(app, pilot)
        changes = app.changes
        await pilot.press("a", "x", "u")
        with Store(review_db) as other:  # another connection commits (a heartbeat)
            leases.join(other, "elsewhere", "bob", "gsm8k")
        app.poll()
        assert app.changes == changes  # this window's own decisions: no reload
        counts = app.review_screen.tally.counts
        assert (counts["accepted"], counts["rejected"]) == (1, 0)
        with Store(review_db) as other:
            review.decide(other, [4], "reject", "bob")
        app.poll()
        assert app.changes == changes + 1  # another reviewer's decision: reloaded
        await settled(app, pilot)
        counts = app.review_screen.tally.counts
        assert (counts["accepted"], counts["rejected"], counts["pending"]) == (1, 1, 3)


def test_a_count_read_before_a_decision_here_is_brought_up_to_date(review_db):
    from bare_tui.tui.screens.review_status import Tally

    with Store(review_db) as store:
        tally = Tally()
        tally.counted(review.status_counts(store, "gsm8k"), as_of=0)
        stale = review.status_counts(store, "gsm8k")  # read before the decision below
        rows = review_list.summaries(store, [1, 2])
        decided = review.decide(store, [1], "accept", "tester")
        assert tally.wrote(decided, rows)  # the proposed text stays final: nothing to read
        assert tally.counts["accepted"] == 1
        tally.counted(stale, as_of=0)  # arrives late: the decision is applied to it
        assert (tally.counts["accepted"], tally.counts["pending"]) == (1, 4)
        fresh = review.status_counts(store, "gsm8k")
        tally.counted(fresh, as_of=decided.event_ids[-1])  # includes it: not twice
        assert (tally.counts["accepted"], tally.counts["pending"]) == (1, 4)
        assert tally.own == []


def test_usable_follows_rejections_and_their_undo_without_a_read(review_db):
    """The status line's usable count (not rejected, passing its checks) shifts with a
    reject of a usable item, not with one that fails its checks; an accept of the draft
    over a refinement asks for a count (the final text's checks may change)."""
    from bare_tui.tui.screens.review_status import Tally

    with Store(review_db) as store:
        tally = Tally()
        tally.counted(review.status_counts(store, "gsm8k"), as_of=0)
        usable = tally.counts["usable"]
        rows = review_list.summaries(store, [1, 2, 3])
        assert rows[1].valid and not rows[2].valid
        assert tally.wrote(review.decide(store, [1, 2], "reject", "tester"), rows)
        assert tally.counts["usable"] == usable - 1 == review.status_counts(
            store, "gsm8k")["usable"]
        assert tally.wrote(review.undo(store, "tester"), rows)
        assert tally.counts["usable"] == usable == review.status_counts(store, "gsm8k")["usable"]
        assert not tally.wrote(review.decide(store, [3], "accept_draft", "tester"), rows)
