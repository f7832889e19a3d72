import pytest

from bare_tui.core.reviewing import review
from bare_tui.core.reviewing.review import State
from bare_tui.errors import BareError


def states(store):
    return {i: review.decision_state(store, i) for i in (1, 2, 3)}


def test_accept_reject_write_events_and_state(drafted):
    review.decide(drafted, [1], "accept", "ann")
    review.decide(drafted, [2], "reject", "ann", reason="wrong sum")
    review.decide(drafted, [3], "accept_draft", "ann")
    assert review.decision_state(drafted, 1) == State("accepted", "refined")
    assert review.decision_state(drafted, 2) == State("rejected", None, None, "wrong sum")
    assert review.decision_state(drafted, 3) == State("accepted", "draft")
    events = drafted.query("SELECT candidate_id, action, reviewer, reason FROM events")
    assert events == [
        {"candidate_id": 1, "action": "accept", "reviewer": "ann", "reason": None},
        {"candidate_id": 2, "action": "reject", "reviewer": "ann", "reason": "wrong sum"},
        {"candidate_id": 3, "action": "accept_draft", "reviewer": "ann", "reason": None},
    ]
    counts = review.status_counts(drafted, "gsm8k")
    assert (counts["accepted"], counts["rejected"], counts["pending"]) == (2, 1, 0)


def test_accept_without_parsed_refinement_takes_the_draft(drafted):
    review.decide(drafted, [2], "accept", "ann")  # its refinement did not parse
    assert review.decision_state(drafted, 2).version == "draft"


def test_edit_is_a_third_version_kept_by_accept(drafted):
    edited = {"question": "Edited?", "answer": "#### 1"}
    review.decide(drafted, [1], "edit", "ann", fields=edited)
    assert review.decision_state(drafted, 1) == State("pending", "edited", edited)
    review.decide(drafted, [1], "accept", "ann")
    assert review.decision_state(drafted, 1) == State("accepted", "edited", edited)
    with pytest.raises(BareError, match="needs the new text"):
        review.decide(drafted, [1], "edit", "ann")


def test_undo_redo_restore_exact_states_and_persist(drafted):
    before = states(drafted)
    review.decide(drafted, [1, 2, 3], "reject", "ann")  # one bulk step
    review.decide(drafted, [1], "accept", "ann")
    after_both = states(drafted)
    assert review.undo(drafted, "ann").ids == [1]
    assert review.decision_state(drafted, 1) == State("rejected")
    assert review.undo(drafted, "ann").ids == [1, 2, 3]
    assert states(drafted) == before
    assert review.undo(drafted, "ann").ids == []
    assert review.redo(drafted, "ann").ids == [1, 2, 3]
    assert review.redo(drafted, "ann").ids == [1]
    assert states(drafted) == after_both
    assert review.redo(drafted, "ann").ids == []
    # A new decision after an undo clears the redo stack.
    review.undo(drafted, "ann")
    review.decide(drafted, [2], "accept", "ann")
    assert review.redo(drafted, "ann").ids == []
    steps = [r["action"] for r in drafted.query(
        "SELECT min(action) AS action FROM events GROUP BY group_id ORDER BY group_id")]
    assert steps == ["reject", "accept", "undo", "undo", "redo", "redo", "undo", "accept"]


def test_undo_is_per_reviewer(drafted):
    review.decide(drafted, [1], "accept", "ann")
    review.decide(drafted, [2], "accept", "bob")
    assert review.undo(drafted, "ann").ids == [1]
    assert review.decision_state(drafted, 2).status == "accepted"


def test_unknown_candidate_changes_nothing(drafted):
    with pytest.raises(BareError, match="no candidate with id 99"):
        review.decide(drafted, [1, 99], "accept", "ann")
    assert review.decision_state(drafted, 1) == State()
    assert drafted.scalar("SELECT count(*) FROM events") == 0


def test_list_rows_say_what_an_export_would_hold(review_db):
    """The list's marks are about the version an export writes: `r` refined, `d` the
    draft although refined, `e` an edit, blank when not refined yet; `!` when that
    version fails its checks."""
    from bare_tui.core.reviewing import review_list
    from bare_tui.core.workspace.store import Store

    def marks(store):
        return {cid: (s.marker, s.valid)
                for cid, s in review_list.summaries(store, [1, 2, 3, 5]).items()}

    with Store(review_db) as store:
        # 1, 3: refined and passing; 2: its refinement did not parse, so the failing
        # draft is what an export holds; 5: not refined yet.
        assert marks(store) == {1: ("r", True), 2: ("d", False), 3: ("r", True),
                                5: (" ", True)}
        review.decide(store, [1], "accept_draft", "ann")
        review.decide(store, [3], "edit", "ann", fields={"question": "Q?", "answer": "#### 1"})
        assert marks(store)[1] == ("d", True) and marks(store)[3][0] == "e"


def test_a_reject_keeps_its_tags_and_the_version_they_were_given_to(review_db):
    from bare_tui.core.reviewing import review_list, tags
    from bare_tui.core.workspace.store import Store

    with Store(review_db) as store:
        review.decide(store, [1], "reject", "ann", tags=["wrong arithmetic", " off-theme "])
        review.decide(store, [2], "reject", "ann", tags=["ambiguous"])  # shows its draft
        edited = {"question": "Edited?", "answer": "#### 1"}
        review.decide(store, [3], "edit", "ann", fields=edited)
        review.decide(store, [3], "reject", "ann", tags=["my own words", "ambiguous"])
        assert review.decision_state(store, 1).tags == ["wrong arithmetic", "off-theme"]
        assert [review.decision_state(store, i).tagged for i in (1, 2, 3)] == [
            "refined", "draft", "edited"]
        assert review_list.candidate_ids(store, "gsm8k", "tag: ambiguous") == [2, 3]
        assert review_list.candidate_ids(store, "gsm8k", "tag: off-theme") == [1]
        counted = {c.tag: c.by_version for c in tags.counts(store, "gsm8k", ["ambiguous",
                                                                            "unused"])}
        assert list(counted) == ["ambiguous", "unused", "my own words", "off-theme",
                                 "wrong arithmetic"]
        assert counted["ambiguous"] == {"draft": 1, "refined": 0, "edited": 1}
        assert counted["unused"] == {"draft": 0, "refined": 0, "edited": 0}
        assert tags.offered(store, "gsm8k", ["ambiguous", "unused"]) == [
            "ambiguous", "unused", "my own words", "off-theme", "wrong arithmetic"]
        # undo takes the tags back with the reject; accept clears them
        review.undo(store, "ann")
        assert review.decision_state(store, 3).tags is None
        assert review_list.candidate_ids(store, "gsm8k", "tag: ambiguous") == [2]
        review.decide(store, [2], "accept", "ann")
        assert review.decision_state(store, 2).tags is None
        with pytest.raises(BareError, match="control characters"):
            review.decide(store, [4], "reject", "ann", tags=["bad\x1b[2J"])


def test_reject_on_the_command_line_takes_tags(review_db):
    from bare_tui.core.workspace.store import Store
    from conftest import run_cli

    out = run_cli("reject", "1", "--tag", "wrong arithmetic", "--tag", "ambiguous",
                  "--reason", "two readings", "--db", str(review_db), "--reviewer", "ann")
    assert out.returncode == 0, out.stderr
    with Store(review_db) as store:
        state = review.decision_state(store, 1)
    assert (state.tags, state.tagged, state.reason) == (
        ["wrong arithmetic", "ambiguous"], "refined", "two readings")
    stats = run_cli("stats", "--db", str(review_db))
    assert stats.returncode == 0, stats.stderr
    row = next(line.split() for line in stats.stdout.splitlines()
               if line.strip().startswith("wrong arithmetic"))
    assert row[-3:] == ["0", "1", "0"]


def test_filters_on_the_decision_read_the_tables_as_the_view_would(review_db):
    """`all`, `pending`, `accepted`, `rejected` and `edited` are read from the tables
    (quick at a million candidates): the same ids, in the same order, as the view's
    condition gives, and with a search they go through the view."""
    from bare_tui.core.reviewing import review_list
    from bare_tui.core.workspace.store import Store

    def through_view(store, name):
        return [row[0] for row in store.conn.execute(
            "SELECT s.candidate_id FROM candidate_state s WHERE s.task = 'gsm8k' AND "
            f"{review_list.FILTERS[name]} ORDER BY s.candidate_id")]

    with Store(review_db) as store:
        review.decide(store, [1], "accept", "ann")
        review.decide(store, [2], "reject", "ann")
        review.decide(store, [3], "edit", "ann", fields={"question": "Q?", "answer": "#### 1"})
        review.decide(store, [4], "accept", "ann")
        review.undo(store, "ann")  # 4 is pending again, with a decisions row
        listed = {name: review_list.candidate_ids(store, "gsm8k", name)
                  for name in review_list.ON_DECISION}
        assert listed == {name: through_view(store, name) for name in review_list.ON_DECISION}
        assert listed["all"] == [1, 2, 3, 4, 5] and listed["pending"] == [3, 4, 5]
        assert listed["accepted"] == [1] and listed["rejected"] == [2]
        assert listed["edited"] == [3]
        assert review_list.candidate_ids(store, "gsm8k", "all", search="anna") == [1, 3]
