"""The review list's queue reads pages by keyset and holds a few: it must give exactly
the ids, positions and membership of the whole list it stands for, from every side."""

from __future__ import annotations

import random
import sqlite3

import pytest

from bare_tui.core.generation import pipeline
from bare_tui.core.inputs.seeds import import_seeds
from bare_tui.core.reviewing import queue, review, review_list
from conftest import BAD_DRAFT, GOOD_DRAFT, GSM8K_SEEDS, ScriptedBackend

COUNT = 41


@pytest.fixture
def decided(store, gsm8k, monkeypatch):
    """41 candidates, some decided; pages of 4 ids, 3 pages kept: every read crosses
    pages and forgets some."""
    monkeypatch.setattr(queue, "PAGE", 4)
    monkeypatch.setattr(queue, "PAGES_KEPT", 3)
    import_seeds(store, gsm8k, GSM8K_SEEDS)
    drafts = [BAD_DRAFT if i % 5 == 0 else GOOD_DRAFT for i in range(COUNT)]
    pipeline.draft(store, gsm8k, ScriptedBackend(drafts), COUNT)
    chance = random.Random(7)
    for candidate_id in range(1, COUNT + 1):
        action = chance.choice(["accept", "reject", None, None])
        if action:
            review.decide(store, [candidate_id], action, "ann")
    return store


def whole(store, filter_name: str) -> list[int]:
    """What the filter holds, read the plain way."""
    statuses = {row[0]: row[1] for row in store.conn.execute(
        "SELECT c.id, coalesce(d.status, 'pending') FROM candidates c"
        " LEFT JOIN decisions d ON d.candidate_id = c.id ORDER BY c.id")}
    return [i for i, status in statuses.items() if filter_name in ("all", status)]


@pytest.mark.parametrize("filter_name", ["all", "pending", "accepted", "rejected"])
def test_a_queue_reads_what_the_whole_list_holds(decided, filter_name):
    expected = whole(decided, filter_name)
    assert len(expected) >= 5  # the random decisions left every state several items
    listed = review_list.queue(decided, "gsm8k", filter_name)
    assert isinstance(listed, queue.Queue)
    assert listed.length is None  # not counted by making it
    assert list(listed) == expected
    # Backwards from the end, then forwards, then jumps: pages read by keyset from a
    # neighbour, by offset from either end, and forgotten again.
    fresh = review_list.queue(decided, "gsm8k", filter_name)
    assert [fresh[i] for i in range(-1, -len(expected) - 1, -1)] == expected[::-1]
    assert [fresh[i] for i in range(len(expected))] == expected
    for position in random.Random(3).sample(range(len(expected)), len(expected)):
        jumping = review_list.queue(decided, "gsm8k", filter_name)
        assert jumping[position] == expected[position]
        assert jumping.index(expected[position]) == position
        assert jumping[position:position + 6] == expected[position:position + 6]
    assert fresh[2:9] == expected[2:9] and fresh[-3:] == expected[-3:]
    assert fresh[len(expected):len(expected) + 5] == []
    with pytest.raises(IndexError):
        fresh[len(expected)]
    outside = [i for i in range(1, COUNT + 1) if i not in expected]
    assert all(i in fresh for i in expected) and not any(i in fresh for i in outside)
    with pytest.raises(ValueError):
        fresh.index(outside[0] if outside else COUNT + 1)
    assert fresh.count_all(decided) == len(expected) == len(fresh)


def test_a_count_no_longer_wanted_stops_and_leaves_the_length_unknown(decided, monkeypatch):
    monkeypatch.setattr(queue, "STALE_CHECK", 1)  # looked at on every step
    asked = []

    def stale() -> bool:
        asked.append(True)
        return len(asked) > 3  # wanted for three looks, then not

    listed = review_list.queue(decided, "gsm8k")
    with pytest.raises(sqlite3.OperationalError, match="interrupt"):
        listed.count_all(decided, stale)
    assert listed.length is None and len(asked) == 4
    # The connection counts as before afterwards, and a count still wanted ends.
    assert listed.count_all(decided) == COUNT
    again = review_list.queue(decided, "gsm8k", "pending")
    assert again.count_all(decided, lambda: False) == len(whole(decided, "pending")) > 0
    assert len(asked) == 4  # the handler was taken off after the stopped count


def test_a_queue_knows_a_page_beyond_what_it_read_until_counted(decided):
    listed = review_list.queue(decided, "gsm8k")
    assert listed.has(0) and listed.known == 8  # page 0 read: one more page may be there
    assert listed.has(COUNT - 1) and not listed.has(COUNT)  # the short last page: the end
    assert listed.length == COUNT and listed.known == COUNT


def test_candidates_added_after_the_queue_was_made_wait_for_the_next_listing(decided, gsm8k):
    listed = review_list.queue(decided, "gsm8k")
    pipeline.draft(decided, gsm8k, ScriptedBackend([GOOD_DRAFT]), COUNT + 1)  # one more
    assert len(listed) == COUNT and COUNT + 1 not in listed
    assert len(review_list.queue(decided, "gsm8k")) == COUNT + 1


def scanned(store, needle: str) -> list[int]:
    """What a search finds by reading every text (draft, edit, refinements)."""
    needle = needle.lower()
    found = set()
    for table, column in (("candidates", "id"), ("refinements", "candidate_id")):
        found |= {row[0] for row in store.conn.execute(
            f"SELECT {column} FROM {table} WHERE instr(lower(raw_text), ?)", (needle,))}
    found |= {row[0] for row in store.conn.execute(
        "SELECT candidate_id FROM decisions WHERE instr(lower(final_fields), ?)", (needle,))}
    return sorted(found)


def test_search_reads_the_index_and_finds_what_reading_every_text_finds(drafted):
    """Drafts, refinements and edits, as written and as changed (an edit, its undo, a
    candidate removed); needles shorter than a trigram are read from the texts."""
    def search(needle, filter_name="all"):
        return review_list.candidate_ids(drafted, "gsm8k", filter_name, search=needle)

    assert search("ANNA") == scanned(drafted, "anna") == [1, 3]  # refined: "Anna"
    assert search("Ben has") == scanned(drafted, "ben has") == [2]  # the draft
    review.decide(drafted, [2], "edit", "ann", fields={"question": "Zoe's 7 \"kites\"?",
                                                        "answer": "#### 7"})
    assert search("zoe") == scanned(drafted, "zoe") == [2]
    assert search('7 \\"kites') == [2]  # quotes in the needle are text (JSON of the edit)
    assert search("zoe", "pending") == [2] and search("zoe", "accepted") == []
    review.undo(drafted, "ann")
    assert search("zoe") == scanned(drafted, "zoe") == []
    assert search("nn") == scanned(drafted, "nn") == [1, 3]  # two letters: read, not indexed
    assert search("5_") == search("5%") == scanned(drafted, "5%") == []  # wildcards: as text
    drafted.conn.execute("DELETE FROM refinements WHERE candidate_id = 3")
    assert search("anna") == scanned(drafted, "anna") == [1]
    listed = review_list.queue(drafted, "gsm8k", "pending", search="anna")
    plan = [row[3] for row in drafted.conn.execute(
        f"EXPLAIN QUERY PLAN SELECT {listed._key} FROM {listed._source}", listed._params)]
    assert "VIRTUAL TABLE INDEX" in plan[0] and ":M" in plan[0]  # led by its rare trigrams


def test_a_search_whose_trigrams_are_all_common_is_led_by_all_of_them(drafted, monkeypatch):
    """Where no trigram of the needle is rare, FTS5's LIKE leads (by every trigram); the
    same candidates are found either way, and a trigram no text holds finds none."""
    def search(needle):
        return review_list.candidate_ids(drafted, "gsm8k", "all", search=needle)

    needles = ["ANNA", "Ben has", 'has "', "kites", "qqq", "Ann\\"]
    led_by_rare = {needle: search(needle) for needle in needles}
    assert review_list.rare_trigrams(drafted, "xqz") == ['"xqz"']  # in no text: rare
    assert sorted(review_list.rare_trigrams(drafted, 'a "b')) == ['" ""b"', '"a """']  # quoted
    monkeypatch.setattr(review_list, "RARE", -1)  # nothing is rare now
    assert review_list.rare_trigrams(drafted, "Anna") == []
    assert {needle: search(needle) for needle in needles} == led_by_rare
    assert led_by_rare["ANNA"] == scanned(drafted, "anna") == [1, 3]
    assert led_by_rare["qqq"] == []
    listed = review_list.queue(drafted, "gsm8k", "all", search="anna")
    plan = [row[3] for row in drafted.conn.execute(
        f"EXPLAIN QUERY PLAN SELECT {listed._key} FROM {listed._source}", listed._params)]
    assert "VIRTUAL TABLE INDEX" in plan[0] and ":L" in plan[0]  # led by LIKE


def test_a_candidate_that_joined_the_filter_since_is_not_in_it_as_read(decided, monkeypatch):
    """An accept undone in the pending filter: the queue as read does not hold it (its
    page was read without it), so the list does not shift under the cursor. (A page
    forgotten and read again shows the filter as it is then.)"""
    monkeypatch.setattr(queue, "PAGES_KEPT", 64)
    listed = review_list.queue(decided, "gsm8k", "pending")
    before = list(listed)
    joined = review.undo(decided, "ann").ids[0]  # the latest decision: pending again
    assert joined not in before
    assert joined not in listed and list(listed) == before
    with pytest.raises(ValueError):
        listed.index(joined)
    assert joined in review_list.queue(decided, "gsm8k", "pending")  # read again: there
