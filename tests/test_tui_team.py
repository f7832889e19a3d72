"""The review screen beside another curator's window (a second connection standing in
for it), driven through Textual's pilot and checked against the database."""

from __future__ import annotations

from bare_tui.core.reviewing import leases, review
from bare_tui.core.workspace.store import Store
from bare_tui.tui.screens.modals import ConfirmScreen
from conftest import make_app

SIZE = (140, 32)


def status(app) -> str:
    return app.review_screen.query_one("#status").plain


async def test_an_item_held_elsewhere_is_skipped_named_and_refused(review_db):
    with Store(review_db) as bob:
        leases.join(bob, "bob-window", "bob", "gsm8k")
        assert leases.claim(bob, "bob-window", 1) is None
        app = make_app(review_db, lease_s=30.0)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.review_screen
            assert screen.candidates.current_id == 2  # #1 is bob's: the queue hands out #2
            await pilot.pause(0.3)
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert "reviewing now: 1 other (bob)" in status(app)
            await pilot.press("k")  # back to bob's item: named, and not decided here
            assert screen.presence.held_by == "bob"
            await pilot.press("a")
            assert review.decision_state(bob, 1).status == "pending"
            await pilot.press("j", "a")  # #2 is ours: decided, and on to #3
            assert review.decision_state(bob, 2).status == "accepted"
            assert screen.candidates.current_id == 3
            with Store(review_db) as store:
                assert leases.holders(store, "bob-window", [2, 3]) == {3: "tester"}
        with Store(review_db) as store:  # quitting gives the lease back at once
            assert leases.holders(store, "bob-window", [3]) == {}


async def test_a_decision_made_elsewhere_since_opening_asks_before_overwriting(review_db):
    app = make_app(review_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j", "a")  # #2 accepted here; the screen shows #3
        with Store(review_db) as bob:
            review.decide(bob, [2], "reject", "bob", reason="wrong")
        await pilot.press("k", "j", "k")  # reopened after bob's decision: no question
        await pilot.press("a")
        assert not isinstance(app.screen, ConfirmScreen)
        assert review.decision_state(app.store, 2).status == "accepted"
        await pilot.press("k")  # on #2 now, opened with this window's decision
        with Store(review_db) as bob:
            review.decide(bob, [2], "reject", "bob", reason="still wrong")
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert review.decision_state(app.store, 2).reason == "still wrong"  # kept
        await pilot.press("x")
        await pilot.press("y")
        await pilot.pause()
        after = review.decision_state(app.store, 2)
        assert (after.status, after.reason) == ("rejected", None)
    with Store(review_db) as store:
        last = store.query("SELECT reviewer, action FROM events ORDER BY id DESC LIMIT 1")
    assert last == [{"reviewer": "tester", "action": "reject"}]


async def test_an_item_whose_holder_leaves_becomes_ours_without_moving(review_db):
    """The window on an item someone else holds takes it as soon as they leave (their
    window closes or its lease expires), with no key pressed: no stale refusal."""
    from conftest import wait_until

    with Store(review_db) as bob:
        leases.join(bob, "bob-window", "bob", "gsm8k")
        assert leases.claim(bob, "bob-window", 1) is None
        app = make_app(review_db, lease_s=1.0)  # beats every 0.33 s
        async with app.run_test(size=SIZE) as pilot:
            screen = app.review_screen
            await pilot.press("k")
            assert screen.candidates.current_id == 1 and screen.presence.held_by == "bob"
            leases.leave(bob, "bob-window")  # bob closes his window
            await wait_until(pilot, lambda: screen.presence.held_by is None, 10)
            assert screen.presence.holding == 1
            await pilot.press("a")
            assert review.decision_state(bob, 1).status == "accepted"
