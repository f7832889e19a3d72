"""How much a team's reviewers agree, on the items more than one of them decided.

- Krippendorff's alpha (the `krippendorff` package, nominal: accepted or rejected) over
  every reviewer and every such item, whatever pairs of reviewers they had, with a
  bootstrap interval over items;
- Cohen's kappa for each pair of reviewers on the items both decided (scikit-learn's
  `cohen_kappa_score`);
- per tag: whether the reviewers of an item gave it the tag or not, with its alpha;
- the items they disagree on, for a third look.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from bare_tui.core.reviewing import team
from bare_tui.core.workspace.store import Store

LABELS = ("accepted", "rejected")
RESAMPLES = 1000
CONFIDENCE = 0.95


def alpha(counts: np.ndarray) -> float | None:
    """Krippendorff's alpha, nominal, of items × values counts (how many reviewers gave
    each item each value); None when undefined (one value only, or no item with two)."""
    import krippendorff

    usable = counts[counts.sum(axis=1) >= 2]
    if len(usable) == 0 or np.count_nonzero(usable.sum(axis=0)) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = krippendorff.alpha(value_counts=usable, level_of_measurement="nominal")
    return None if np.isnan(value) else float(value)


def alpha_interval(counts: np.ndarray, resamples: int = RESAMPLES, rng_seed: int = 0
                   ) -> tuple[float, float] | None:
    """A percentile bootstrap interval for alpha, resampling items; None when fewer than
    half of the resamples define it."""
    usable = counts[counts.sum(axis=1) >= 2]
    if len(usable) < 2:
        return None
    rng = np.random.default_rng(rng_seed)
    found = [value for _ in range(resamples)
             if (value := alpha(usable[rng.integers(0, len(usable), len(usable))]))
             is not None]
    if len(found) < resamples / 2:
        return None
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(found, [tail, 100 - tail])
    return float(low), float(high)


def kappa(first: Sequence[str], second: Sequence[str]) -> float | None:
    """Cohen's kappa of two reviewers' labels on the same items (scikit-learn); None when
    undefined (both gave one and the same label throughout)."""
    from sklearn.metrics import cohen_kappa_score

    if not first:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = cohen_kappa_score(first, second, labels=list(LABELS))
    return None if np.isnan(value) else float(value)


@dataclass(frozen=True)
class Pair:
    reviewers: tuple[str, str]
    items: int
    agreed: int
    kappa: float | None


@dataclass(frozen=True)
class TagAgreement:
    tag: str
    items: int  # items of several reviewers on which at least one gave the tag
    all_gave: int  # ... on which every one of them did
    alpha: float | None


@dataclass
class Agreement:
    items: int  # items decided by two reviewers or more
    agreed: int  # ... on which all of them decided the same
    alpha: float | None = None
    interval: tuple[float, float] | None = None
    reviewers: list[str] = field(default_factory=list)
    pairs: list[Pair] = field(default_factory=list)
    tags: list[TagAgreement] = field(default_factory=list)
    disagreements: list[tuple[int, dict[str, str]]] = field(default_factory=list)

    @property
    def observed(self) -> float | None:
        return self.agreed / self.items if self.items else None


def _value_counts(by_item: Iterable[dict[str, object]], values: Sequence[object]
                  ) -> np.ndarray:
    return np.array([[list(by.values()).count(value) for value in values]
                     for by in by_item], dtype=float).reshape(-1, len(values))


def measure(store: Store, task: str, recipe_tags: Iterable[str] = (),
            rng_seed: int = 0) -> Agreement:
    """Agreement on the task's items that more than one reviewer decided."""
    shared = {cid: by for cid, by in sorted(team.decided_by(store, task, shared=True).items())
              if len(by) >= 2}
    status = {cid: {r: state["status"] for r, state in by.items()}
              for cid, by in shared.items()}
    result = Agreement(len(shared), sum(len(set(by.values())) == 1
                                        for by in status.values()))
    if not shared:
        return result
    counts = _value_counts(status.values(), LABELS)
    result.alpha = alpha(counts)
    result.interval = alpha_interval(counts, rng_seed=rng_seed)
    result.reviewers = sorted({r for by in status.values() for r in by})
    for one, two in combinations(result.reviewers, 2):
        both = [(by[one], by[two]) for by in status.values() if one in by and two in by]
        if both:
            first, second = (list(side) for side in zip(*both, strict=True))
            result.pairs.append(Pair((one, two), len(both),
                                     sum(a == b for a, b in both), kappa(first, second)))
    result.tags = _tag_agreement(shared, recipe_tags)
    result.disagreements = [(cid, by) for cid, by in status.items()
                            if len(set(by.values())) > 1]
    return result


def _tag_agreement(shared: dict[int, dict[str, dict]], recipe_tags: Iterable[str]
                   ) -> list[TagAgreement]:
    """For each tag given on a shared item: did each of its reviewers give it or not."""
    given = {cid: {r: set(state.get("tags") or ()) for r, state in by.items()}
             for cid, by in shared.items()}
    used = {tag for by in given.values() for tags in by.values() for tag in tags}
    out = []
    for tag in [*dict.fromkeys(t for t in recipe_tags if t in used),
                *sorted(used - set(recipe_tags))]:
        marks = [{r: tag in tags for r, tags in by.items()} for by in given.values()]
        touched = [m for m in marks if any(m.values())]
        out.append(TagAgreement(tag, len(touched), sum(all(m.values()) for m in touched),
                                alpha(_value_counts(marks, (True, False)))))
    return out
