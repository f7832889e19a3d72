"""How sure `compare` is: the bootstrap of mean pairwise similarity, McNemar's test,
Newcombe's interval, the items that would separate two arms and the judge's places,
each against values worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bare_tui.core.measures import intervals

SQRT_HALF = math.sqrt(0.5)
# Three unit vectors: cos(a, b) = 0, cos(a, c) = cos(b, c) = 0.7071.
ABC = np.array([[1.0, 0.0], [0.0, 1.0], [SQRT_HALF, SQRT_HALF]], dtype=np.float32)


def test_a_resample_counts_pairs_of_distinct_items_only():
    counts = np.array([[1, 1, 1], [2, 1, 0], [2, 0, 1], [3, 0, 0]])
    values = intervals.resampled_similarity(ABC, counts)
    # {a, b, c}: (0 + 0.7071 + 0.7071) / 3 = 0.4714.
    assert values[0] == pytest.approx(0.4714, abs=1e-4)
    # {a, a, b}: the two pairs (a, b) are 0; (a, a) is one item, no pair.
    assert values[1] == pytest.approx(0.0, abs=1e-6)
    # {a, a, c}: the two pairs (a, c), 0.7071 each.
    assert values[2] == pytest.approx(SQRT_HALF, abs=1e-4)
    # {a, a, a}: no pair of distinct items at all.
    assert math.isnan(values[3])


def test_the_percentile_interval_of_known_replicates():
    replicates = np.arange(1, 101, dtype=float)
    estimate = intervals.percentile(replicates, 50.0)
    # numpy's linear percentile: 1 + 0.025 * 99 and 1 + 0.975 * 99.
    assert (estimate.low, estimate.high) == pytest.approx((3.475, 97.525))
    assert estimate.se == pytest.approx(29.0115, abs=1e-4)  # sd of 1..100, ddof 1


def test_bootstrap_intervals_hold_the_estimate_and_tell_apart_two_clouds():
    rng = np.random.default_rng(0)

    def cloud(spread: float, n: int = 60) -> np.ndarray:
        points = np.array([1.0, 0, 0, 0]) + spread * rng.normal(size=(n, 4))
        return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)

    tight, loose = cloud(0.3), cloud(1.5)
    one = intervals.similarity(tight, seed=1)
    assert one.low < one.value < one.high
    assert intervals.similarity(tight, seed=1) == one  # the seed fixes the resamples
    gap = intervals.difference(loose, tight, seed=2)
    assert gap.value < 0 and gap.high < 0
    same = intervals.difference(tight, tight, seed=3)
    assert same.value == 0 and same.low < 0 < same.high


def test_mcnemar_exact_against_hand_worked_values():
    # 12 discordant pairs, 10 one way: p = 2 * (C(12,0) + C(12,1) + C(12,2)) / 2^12
    # = 2 * 79 / 4096 = 0.038574.
    first = [True] * 2 + [False] * 10 + [True] * 5 + [False] * 3
    second = [False] * 2 + [True] * 10 + [True] * 5 + [False] * 3
    test = intervals.mcnemar(first, second)
    assert (test.pairs, test.first_only, test.second_only) == (20, 2, 10)
    assert test.p_value == pytest.approx(158 / 4096, abs=1e-6)
    assert intervals.mcnemar([True, False], [False, True]).p_value == 1.0
    assert intervals.mcnemar([True], [True]).p_value == 1.0  # no discordant pair
    with pytest.raises(ValueError):
        intervals.mcnemar([True], [True, False])


def test_newcombe_interval_against_his_worked_example():
    # Newcombe (1998), method 10, 56/70 vs 48/80: difference 0.2000, 0.0524 to 0.3339.
    gap = intervals.proportion_difference(56, 70, 48, 80)
    assert gap.value == pytest.approx(0.2)
    assert (gap.low, gap.high) == pytest.approx((0.0524, 0.3339), abs=1e-4)


def test_items_that_would_separate_two_arms():
    # n * ((1.959964 + 0.841621) * se / gap)^2 = 24 * (2.801585 * 0.01 / 0.02)^2 = 47.09.
    estimate = intervals.Estimate(-0.02, -0.04, 0.0, 0.01)
    assert intervals.items_to_separate(estimate, 24) == 48
    assert intervals.items_to_separate(intervals.Estimate(0.0, -0.1, 0.1, 0.05), 24) is None


def test_a_judge_that_favours_a_place_is_flagged():
    even = intervals.positions([1, 2, 3, 4] * 10, 4)
    assert even.counts == (10, 10, 10, 10) and even.p_value == pytest.approx(1.0)
    assert not even.uneven
    # chi-square of (25, 5, 5, 5) against 10 each: (225 + 25 + 25 + 25) / 10 = 30, 3 df.
    favoured = intervals.positions([1] * 25 + [2] * 5 + [3] * 5 + [4] * 5, 4)
    assert favoured.uneven and favoured.p_value == pytest.approx(1.38e-6, rel=0.01)
    assert intervals.positions([1, 2, 3], 4).p_value is None  # too few to test
