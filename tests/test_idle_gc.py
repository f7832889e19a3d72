"""Full garbage collections wait for a pause in the keys (tui/idle_gc.py)."""

import gc
import weakref

from bare_tui.tui import idle_gc
from bare_tui.tui.idle_gc import IdleCollector
from conftest import make_app


class Cycle:
    def __init__(self) -> None:
        self.me = self


def garbage_in_the_oldest_generation() -> weakref.ref:
    """A cycle that outlived a younger collection, then became garbage: only a full
    collection frees it."""
    holder = [Cycle()]
    gc.collect(1)  # (alive: moved to the oldest generation)
    ref = weakref.ref(holder[0])
    holder.clear()
    return ref


def test_a_full_collection_waits_for_a_pause_in_the_keys():
    now = [100.0]
    collector = IdleCollector(clock=lambda: now[0])
    before = gc.get_threshold()
    collector.start()
    try:
        assert gc.get_threshold()[2] == idle_gc.FULL_EVERY
        ref = garbage_in_the_oldest_generation()
        collector.pressed()
        now[0] += idle_gc.IDLE_S / 2
        assert not collector.tick() and ref() is not None  # keys still coming
        now[0] += idle_gc.IDLE_S
        assert collector.tick() and ref() is None  # a pause: collected
        assert not collector.tick()  # nothing new since
    finally:
        collector.stop()
        gc.unfreeze()
    assert gc.get_threshold() == before


async def test_the_app_hears_every_key_and_gives_the_threshold_back(review_db):
    before = gc.get_threshold()
    app = make_app(review_db)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert gc.get_threshold()[2] == idle_gc.FULL_EVERY
        heard = app._collector.last_key
        await pilot.press("j")
        assert app._collector.last_key > heard
    gc.unfreeze()
    assert gc.get_threshold() == before
