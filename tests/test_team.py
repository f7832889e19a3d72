"""A team on one workspace: leases, the queue, overlap, agreement and pace, and the
overwrite check, on a real workspace with two connections as two windows."""

import time

import pytest

from bare_tui.core.reviewing import agreement, leases, review, review_list, team
from bare_tui.core.workspace.store import Store
from conftest import GOOD_DRAFT, make_review_workspace, run_cli


@pytest.fixture
def two(review_db):
    with Store(review_db) as alice, Store(review_db) as bob:
        leases.join(alice, "A", "alice", "gsm8k")
        leases.join(bob, "B", "bob", "gsm8k")
        yield alice, bob


def test_a_lease_goes_to_one_window_until_released_or_expired(two):
    alice, bob = two
    assert leases.claim(alice, "A", 1) is None
    assert leases.claim(bob, "B", 1) == "alice"
    assert leases.holders(bob, "B", [1, 2]) == {1: "alice"}
    assert [w.reviewer for w in leases.others(bob, "B", "gsm8k")] == ["alice"]
    assert leases.claim(alice, "A", 2) is None  # moving on gives up #1
    assert leases.claim(bob, "B", 1) is None
    leases.release(bob, "B")
    assert leases.holders(alice, "A", [1]) == {}
    # a window that stops renewing (killed) loses its lease after the expiry
    assert leases.claim(bob, "B", 2, lease_s=0.3) == "alice"
    time.sleep(0.4)
    assert leases.claim(bob, "B", 2, lease_s=0.3) is None
    assert leases.others(bob, "B", "gsm8k", lease_s=0.3) == []
    leases.leave(bob, "B")
    assert [w.reviewer for w in leases.others(alice, "A", "gsm8k")] == []


def test_the_queue_skips_decided_and_held_items(two):
    alice, bob = two
    ids = [1, 2, 3, 4, 5]
    review.decide(alice, [1], "accept", "alice")
    assert team.in_queue(alice, "gsm8k", "alice", ids) == {2, 3, 4, 5}
    assert leases.claim(bob, "B", 2) is None
    assert team.next_in_queue(alice, "gsm8k", "alice", "A", ids, 0) == 2  # index of #3
    assert team.next_in_queue(alice, "gsm8k", "alice", "A", ids, 4) == 4
    for candidate_id in (3, 4, 5):
        review.decide(alice, [candidate_id], "reject", "alice")
    assert team.next_in_queue(alice, "gsm8k", "alice", "A", ids, 0) is None


def test_overlap_routes_doubled_items_to_a_second_reviewer(two):
    alice, bob = two
    ids = [1, 2, 3, 4, 5]
    assert all(team.doubled(i, 1.0) for i in ids) and not any(team.doubled(i, 0) for i in ids)
    share = sum(team.doubled(i, 0.2) for i in range(1, 10001)) / 10000
    assert 0.18 < share < 0.22
    review.decide(alice, [1, 2], "accept", "alice")
    assert team.in_queue(bob, "gsm8k", "bob", ids, overlap=1.0) == {1, 2, 3, 4, 5}
    assert team.in_queue(alice, "gsm8k", "alice", ids, overlap=1.0) == {3, 4, 5}
    review.decide(bob, [1], "reject", "bob")
    review.decide(bob, [2], "accept", "bob")
    assert team.in_queue(bob, "gsm8k", "carol", ids, overlap=1.0) == {3, 4, 5}
    result = agreement.measure(bob, "gsm8k")
    assert (result.items, result.agreed) == (2, 1)
    assert result.disagreements == [(1, {"alice": "accepted", "bob": "rejected"})]
    assert [(p.reviewers, p.items, p.agreed) for p in result.pairs] == [
        (("alice", "bob"), 2, 1)]
    # the review's filter for a third look
    assert review_list.candidate_ids(bob, "gsm8k", "disagreements") == [1]


def test_cohen_kappa_against_hand_worked_values():
    a = ["accepted"] * 20 + ["rejected"] * 5 + ["accepted"] * 10 + ["rejected"] * 15
    b = ["accepted"] * 20 + ["rejected"] * 5 + ["rejected"] * 10 + ["accepted"] * 15
    # observed 0.5; chance 0.6 * 0.7 + 0.4 * 0.3 = 0.54; kappa = -0.04 / 0.46
    assert agreement.kappa(a, b) == pytest.approx(-0.04 / 0.46)
    assert agreement.kappa(["accepted"] * 4, ["accepted"] * 4) is None
    assert agreement.kappa(["accepted", "rejected"], ["accepted", "rejected"]) == 1.0


# Three reviewers, each item decided by a different pair or by all three:
#   1: alice a, bob a      2: alice a, bob r      3: bob r, carol r
#   4: alice a, bob a, carol a                    5: alice r, carol a
# Krippendorff's coincidences (each ordered pair of an item's values weighs 1/(m - 1)):
#   o(a,a) = 2 + 3 = 5, o(r,r) = 2, o(a,r) = o(r,a) = 1 + 1 = 2; n_a = 7, n_r = 4, n = 11
#   alpha = 1 - (n - 1) * (o(a,r) + o(r,a)) / (2 * n_a * n_r) = 1 - 10 * 4 / 56 = 2/7
# Cohen's kappa per pair, on the items both decided:
#   alice & bob (1, 2, 4): observed 2/3, chance 1 * 2/3 = 2/3 -> 0
#   alice & carol (4, 5): observed 1/2, chance 1/2 * 1 = 1/2 -> 0
#   bob & carol (3, 4): observed 1, chance 1/2 * 1/2 + 1/2 * 1/2 = 1/2 -> 1
THREE = {1: {"alice": "accept", "bob": "accept"}, 2: {"alice": "accept", "bob": "reject"},
         3: {"bob": "reject", "carol": "reject"},
         4: {"alice": "accept", "bob": "accept", "carol": "accept"},
         5: {"alice": "reject", "carol": "accept"}}


def test_alpha_and_kappa_of_three_reviewers_with_varying_pairs(tmp_path):
    seven = make_review_workspace(tmp_path / "seven.db", drafts=[GOOD_DRAFT] * 6)
    with Store(seven) as store:
        for candidate_id, by in THREE.items():
            for reviewer, action in by.items():
                tags = ("ambiguous",) if action == "reject" else ()
                review.decide(store, [candidate_id], action, reviewer, tags=tags)
        # an item one reviewer decided does not count; an undone decision does not either
        review.decide(store, [6], "reject", "alice")
        review.decide(store, [7], "accept", "bob")
        review.decide(store, [7], "reject", "carol")
        review.undo(store, "carol")
        result = agreement.measure(store, "gsm8k")
    assert (result.items, result.agreed) == (5, 3)
    assert result.reviewers == ["alice", "bob", "carol"]
    assert result.alpha == pytest.approx(2 / 7)
    low, high = result.interval
    assert low < 2 / 7 < high <= 1
    assert [(p.reviewers, p.items, p.agreed) for p in result.pairs] == [
        (("alice", "bob"), 3, 2), (("alice", "carol"), 2, 1), (("bob", "carol"), 2, 2)]
    assert [p.kappa for p in result.pairs] == [pytest.approx(0), pytest.approx(0),
                                               pytest.approx(1)]
    # per tag: every reject was tagged "ambiguous", so the tag's agreement is the
    # decision's (the same coincidences, with "given" for "rejected"): 2/7; it was given
    # on items 2, 3 and 5, and by every reviewer of item 3 only
    (tag,) = result.tags
    assert (tag.tag, tag.items, tag.all_gave) == ("ambiguous", 3, 1)
    assert tag.alpha == pytest.approx(2 / 7)
    assert [cid for cid, _by in result.disagreements] == [2, 5]


def test_alpha_is_the_krippendorff_packages_on_a_known_table():
    """Krippendorff's own worked example (Content Analysis, 2004: 4 coders, 12 units,
    nominal): alpha = 0.743."""
    import numpy as np

    nan = np.nan
    data = [[1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
            [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
            [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
            [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan]]
    values = [1, 2, 3, 4, 5]
    counts = np.array([[sum(row[u] == v for row in data) for v in values]
                       for u in range(12)], dtype=float)
    assert agreement.alpha(counts) == pytest.approx(0.743, abs=5e-4)
    assert agreement.alpha(np.array([[2.0, 0.0], [3.0, 0.0]])) is None  # one value only


def test_a_decision_made_since_opening_is_not_overwritten_unasked(two):
    alice, bob = two
    opened = review.decision_event(bob, 3)
    review.decide(alice, [3], "accept", "alice", session=review.Session("A"))
    with pytest.raises(review.DecidedSince, match="accept by alice"):
        review.decide(bob, [3], "reject", "bob", seen={3: opened},
                      session=review.Session("B"))
    assert review.decision_state(bob, 3).status == "accepted"
    review.decide(bob, [3], "reject", "bob", session=review.Session("B"))  # confirmed
    assert review.decision_state(bob, 3).status == "rejected"


def test_status_by_reviewer_and_agreement_commands(review_db):
    with Store(review_db) as store:
        review.decide(store, [1], "accept", "alice")
        review.decide(store, [2], "reject", "alice")
        review.decide(store, [1], "reject", "bob")
        review.decide(store, [2], "reject", "bob")
        review.decide(store, [3], "accept", "bob")
    out = run_cli("status", "--by-reviewer", "--db", str(review_db), "--task", "gsm8k")
    assert out.returncode == 0, out.stderr
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in out.stdout.splitlines() if line.count("│") > 5}
    assert rows["alice"][:4] == ["2", "2", "1", "1"] and rows["alice"][-1] == "50%"
    assert rows["bob"][:4] == ["3", "3", "1", "2"] and rows["bob"][-1] == "33%"
    out = run_cli("agreement", "--db", str(review_db), "--task", "gsm8k")
    assert out.returncode == 0, out.stderr
    assert "2 items decided by two or more reviewers: 1 agree (50%)" in out.stdout
    # coincidences: item 1 gives (a,r) and (r,a), item 2 (r,r) twice: n_a = 1, n_r = 3,
    # alpha = 1 - 3 * 2 / (2 * 1 * 3) = 0; kappa: observed 1/2, chance 1/2 -> 0
    assert "Krippendorff's alpha (nominal, 2 reviewers): 0.000" in out.stdout
    assert any(line.split() == ["│", "alice", "&", "bob", "│", "2", "│", "1", "│", "0.000",
                                "│"] for line in out.stdout.splitlines()), out.stdout
    assert "#1" in out.stdout and "alice: accepted, bob: rejected" in out.stdout


def test_a_blind_review_hides_another_reviewers_decision_tags_and_edit(two):
    from bare_tui.core.workspace import current

    alice, bob = two
    ids = [1, 2, 3, 4, 5]
    review.decide(alice, [1], "reject", "alice", reason="sums", tags=["wrong arithmetic"])
    edited = {"question": "Alice's question?", "answer": "#### 1"}
    review.decide(alice, [3], "edit", "alice", fields=edited)
    review.decide(alice, [5], "accept", "alice")
    assert team.blind_to(bob, "gsm8k", "bob", ids, overlap=1.0) == {1, 3, 5}
    assert team.blind_to(bob, "gsm8k", "bob", ids, overlap=0.0) == set()  # not doubled
    assert team.blind_to(alice, "gsm8k", "alice", ids, overlap=1.0) == set()  # her own
    seen = current.current(bob, 1).undecided()
    assert (seen.status, seen.reason, seen.tags, seen.final_version) == (
        "pending", None, None, "refined")
    third = current.current(bob, 3)
    assert third.final_fields == edited
    assert third.undecided().final_fields == third.best_fields != edited
    rows = review_list.summaries(bob, ids, blind={1, 3, 5})
    assert [rows[i].status for i in ids] == ["pending"] * 5
    assert rows[3].final_version == "refined" and "Alice" not in rows[3].title
    review.decide(bob, [1], "accept", "bob")  # decided: no longer hidden from him
    assert team.blind_to(bob, "gsm8k", "bob", ids, overlap=1.0) == {3, 5}
