"""Hunk-level merge (core/reviewing/merging.py) and its decisions: merge, unmerge, undo by hunk,
the merged text as what a candidate says now."""

import json

import pytest

from bare_tui.core.reviewing import merging, review
from bare_tui.core.reviewing.merging import DRAFT, REFINED, Merge
from bare_tui.core.workspace import current
from bare_tui.core.workspace.store import Store
from bare_tui.errors import BareError

NAMES = ["question", "answer"]
DRAFT_TEXT = {"question": "Ann has 2 pens and buys 3. How many?", "answer": "2 + 3 = 5"}
REFINED_TEXT = {"question": "Anna has 2 pens and buys 4. How many now?",
                "answer": "2 + 4 = 6"}


def test_hunks_are_numbered_across_fields_in_order():
    parts = merging.pieces(DRAFT_TEXT, REFINED_TEXT, NAMES)
    assert merging.count(parts) == 5
    hunks = {}
    for name in NAMES:
        for piece in parts[name]:
            if piece.hunk is not None:
                hunks.setdefault(piece.hunk, []).append((name, piece.span.op, piece.span.text))
    assert hunks[0] == [("question", "delete", "Ann"), ("question", "insert", "Anna")]
    assert hunks[1] == [("question", "delete", "3"), ("question", "insert", "4")]
    assert hunks[2] == [("question", "insert", " now")]
    assert [name for name, *_ in hunks[3]] == ["answer", "answer"]
    assert hunks[4][0][0] == "answer"


def test_a_mix_of_sides_reads_as_expected():
    merge = Merge(DRAFT_TEXT, REFINED_TEXT, ())
    merge = merge.choose(NAMES, 1, DRAFT)  # keep "buys 3"
    assert merge.choices == (REFINED, DRAFT, REFINED, REFINED, REFINED)
    assert merge.fields(NAMES) == {"question": "Anna has 2 pens and buys 3. How many now?",
                                   "answer": "2 + 4 = 6"}
    everything_draft = merge.choose(NAMES, 0, DRAFT, rest=True)
    assert everything_draft.fields(NAMES) == DRAFT_TEXT
    assert merge.choose(NAMES, 0, REFINED, rest=True).fields(NAMES) == REFINED_TEXT
    with pytest.raises(ValueError):
        merge.choose(NAMES, 5, DRAFT)
    assert Merge.from_state(json.loads(json.dumps(merge.to_state()))) == merge


def _merge_step(store, choices_merge: Merge, names, reviewer="tester"):
    review.decide(store, [1], "merge", reviewer, change=review.Change(
        fields=choices_merge.fields(names), merge=choices_merge.to_state()))


def test_merge_decisions_undo_hunk_by_hunk_and_revert_whole(review_db):
    with Store(review_db) as store:
        detail = current.current(store, 1)
        names = list(detail.draft_fields)
        first = Merge(detail.draft_fields, detail.best_fields, (), (None, None))
        one = first.choose(names, 0, DRAFT)
        _merge_step(store, one, names)
        two = one.choose(names, 1, DRAFT)
        _merge_step(store, two, names)
        now = current.current(store, 1)
        assert now.final_version == "edited" and now.edited
        assert now.final_fields == detail.draft_fields  # both hunks back to the draft
        assert Merge.from_state(now.merge).choices == (DRAFT, DRAFT)
        event = store.query("SELECT action, after FROM events ORDER BY id DESC LIMIT 1")[0]
        assert event["action"] == "merge"
        assert json.loads(event["after"])["merge"]["choices"] == [DRAFT, DRAFT]
        # u undoes one hunk's choice
        assert review.undo(store, "tester").ids == [1]
        assert Merge.from_state(current.current(store, 1).merge).choices == (DRAFT, REFINED)
        assert current.current(store, 1).final_fields == one.fields(names)
        # U reverts the whole merge: the text before the first choice, the refinement
        review.decide(store, [1], "unmerge", "tester")
        back = current.current(store, 1)
        assert back.final_version == "refined" and back.merge is None
        assert back.final_fields == detail.best_fields
        # ... and is a step of its own
        review.undo(store, "tester")
        assert Merge.from_state(current.current(store, 1).merge).choices == (DRAFT, REFINED)
        with pytest.raises(BareError, match="no merge"):
            review.decide(store, [2], "unmerge", "tester")


def test_accepting_a_merge_keeps_it_and_a_hand_edit_replaces_it(review_db):
    with Store(review_db) as store:
        detail = current.current(store, 1)
        names = list(detail.draft_fields)
        merge = Merge(detail.draft_fields, detail.best_fields, (), (None, None)).choose(
            names, 0, DRAFT)
        _merge_step(store, merge, names)
        review.decide(store, [1], "accept", "tester")
        accepted = current.current(store, 1)
        assert accepted.status == "accepted" and accepted.final_fields == merge.fields(names)
        assert accepted.merge is not None
        review.decide(store, [1], "edit", "tester", fields={**merge.fields(names),
                                                             "answer": "by hand"})
        assert current.current(store, 1).merge is None
