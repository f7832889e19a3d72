"""How sure a comparison's numbers are: bootstrap intervals of mean pairwise similarity
and of its difference between two arms, McNemar's test on paired verdicts, Newcombe's
interval for a difference of two proportions, how many items would separate two arms,
and whether a judge favours a position."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bare_tui.core.measures.diversity import mean_pairwise_cosine
from bare_tui.core.measures.judge import wilson

Z95 = 1.959964
Z80_POWER = 0.841621  # one-sided z of 80% power
RESAMPLES = 2000


@dataclass(frozen=True)
class Estimate:
    """A number with its 95% interval and standard error."""

    value: float
    low: float
    high: float
    se: float


def resampled_similarity(unit: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean cosine over the pairs of distinct items of each resample, `counts[b, i]`
    being how often item i was drawn in resample b: the sum over i != j of
    c_i c_j cos(i, j) over the sum of c_i c_j (an item drawn twice is not a pair with
    itself). Unit vectors make it ||C X||^2 less the diagonal, so no n x n matrix."""
    counts = counts.astype(np.float64)
    summed = counts @ unit.astype(np.float64)
    diagonal = (counts * counts) @ np.einsum("ij,ij->i", unit, unit, dtype=np.float64)
    pairs = counts.sum(axis=1) ** 2 - (counts * counts).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.einsum("bd,bd->b", summed, summed) - diagonal) / pairs


def _counts(rng: np.random.Generator, n: int, resamples: int) -> np.ndarray:
    draws = rng.integers(0, n, size=(resamples, n))
    return np.stack([np.bincount(row, minlength=n) for row in draws])


def _replicates(unit: np.ndarray, rng: np.random.Generator, resamples: int) -> np.ndarray:
    values = resampled_similarity(unit, _counts(rng, len(unit), resamples))
    return values[np.isfinite(values)]


def percentile(replicates: np.ndarray, value: float) -> Estimate:
    """The 95% percentile interval of bootstrap replicates around `value`."""
    low, high = np.percentile(replicates, [2.5, 97.5])
    return Estimate(value, float(low), float(high), float(np.std(replicates, ddof=1)))


def similarity(unit: np.ndarray, *, seed: int, resamples: int = RESAMPLES) -> Estimate:
    """An arm's mean pairwise similarity with its bootstrap interval (items resampled)."""
    value = mean_pairwise_cosine(unit)
    return percentile(_replicates(unit, np.random.default_rng(seed), resamples), value)


def difference(first: np.ndarray, second: np.ndarray, *, seed: int,
               resamples: int = RESAMPLES) -> Estimate:
    """first's mean similarity less second's, the arms resampled independently."""
    rng = np.random.default_rng(seed)
    a = resampled_similarity(first, _counts(rng, len(first), resamples))
    b = resampled_similarity(second, _counts(rng, len(second), resamples))
    keep = np.isfinite(a) & np.isfinite(b)
    value = mean_pairwise_cosine(first) - mean_pairwise_cosine(second)
    return percentile(a[keep] - b[keep], value)


@dataclass(frozen=True)
class McNemar:
    """Paired verdicts of two versions of the same items in the same lineups:
    `first_only` pairs where only the first passed, `second_only` where only the second."""

    pairs: int
    first_only: int
    second_only: int

    @property
    def p_value(self) -> float:
        """Exact two-sided binomial test on the discordant pairs."""
        discordant = self.first_only + self.second_only
        if not discordant:
            return 1.0
        from scipy.stats import binomtest

        return float(binomtest(self.second_only, discordant, 0.5).pvalue)


def mcnemar(first: Sequence[bool], second: Sequence[bool]) -> McNemar:
    if len(first) != len(second):
        raise ValueError("paired verdicts differ in length")
    return McNemar(len(first), sum(a and not b for a, b in zip(first, second, strict=True)),
                   sum(b and not a for a, b in zip(first, second, strict=True)))


def proportion_difference(x1: int, n1: int, x2: int, n2: int) -> Estimate:
    """p1 - p2 with Newcombe's hybrid score interval (his method 10), from the two
    Wilson intervals."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1)
    l2, u2 = wilson(x2, n2)
    gap = p1 - p2
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return Estimate(gap, gap - math.hypot(p1 - l1, u2 - p2), gap + math.hypot(u1 - p1, p2 - l2),
                    se)


def items_to_separate(estimate: Estimate, n: int) -> int | None:
    """Items per arm at which a gap of this size would have a 95% interval clear of zero
    with 80% power, scaling the standard error as 1/sqrt(n); None for no gap."""
    if not estimate.value or not math.isfinite(estimate.se) or estimate.se <= 0:
        return None
    return math.ceil(n * ((Z95 + Z80_POWER) * estimate.se / abs(estimate.value)) ** 2)


@dataclass(frozen=True)
class Positions:
    """How often the judge named each place in its lineups, and whether that departs
    from uniform (chi-square goodness of fit, 5%)."""

    counts: tuple[int, ...]
    p_value: float | None

    @property
    def uneven(self) -> bool:
        return self.p_value is not None and self.p_value < 0.05


def positions(picked: Sequence[int], k: int) -> Positions:
    counts = tuple(sum(1 for p in picked if p == place) for place in range(1, k + 1))
    if sum(counts) < 2 * k:  # too few answers to test
        return Positions(counts, None)
    from scipy.stats import chisquare

    return Positions(counts, float(chisquare(counts).pvalue))
