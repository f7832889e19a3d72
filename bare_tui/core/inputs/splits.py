"""Named splits of an export (train/validation/test...), deterministic and stratified.

Each group (a diversity cluster, or all items when nothing is clustered) is shuffled by
the seed and cut by the fractions, so every split spans the groups: a group of n items
gives each split floor(n * fraction) of them. The items left over by the rounding go,
group by group, to the split furthest below its share of the whole, so the splits'
sizes match the fractions to within an item or so.
"""

from __future__ import annotations

import math
import re

import numpy as np

from bare_tui.errors import BareError

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def parse(spec: str) -> dict[str, float]:
    """'train=0.9,validation=0.1' as {name: fraction}; the fractions must add up to 1."""
    splits: dict[str, float] = {}
    for part in spec.split(","):
        name, equals, value = part.strip().partition("=")
        name = name.strip()
        if not equals or not NAME.fullmatch(name):
            raise BareError(f"--split: {part.strip()!r} is not NAME=FRACTION "
                            "(for example train=0.9,validation=0.1)")
        same = next((known for known in splits if known.lower() == name.lower()), None)
        if same is not None:  # Train and train would be one file on some file systems
            raise BareError(f"--split names {name!r} twice" if same == name else
                            f"--split names {same!r} and {name!r}, which differ only in case "
                            "(one file on case-insensitive file systems); rename one")
        try:
            fraction = float(value)
        except ValueError:
            raise BareError(f"--split: {name}'s fraction {value.strip()!r} is not a "
                            "number") from None
        if not 0 < fraction <= 1 or not math.isfinite(fraction):
            raise BareError(f"--split: {name}'s fraction must be above 0 and at most 1, "
                            f"not {value.strip()}")
        splits[name] = fraction
    total = sum(splits.values())
    if abs(total - 1) > 1e-6:
        raise BareError(f"--split: the fractions add up to {total:g}, not 1")
    return splits


def assign(ids: list[int], groups: dict[int, int], fractions: dict[str, float],
           seed: int) -> dict[str, list[int]]:
    """{split: sorted ids}: every id in exactly one split, the same for the same seed.
    `groups` maps an id to its cluster; ids without one form a group of their own."""
    names = list(fractions)
    rng = np.random.default_rng(seed)
    by_group: dict[int | None, list[int]] = {}
    for item in sorted(ids):
        by_group.setdefault(groups.get(item), []).append(item)
    chosen: dict[str, list[int]] = {name: [] for name in names}
    leftovers: list[int] = []
    for key in sorted(by_group, key=lambda k: (k is None, k or 0)):
        members = [by_group[key][i] for i in rng.permutation(len(by_group[key]))]
        start = 0
        for name in names:
            take = math.floor(len(members) * fractions[name] + 1e-9)
            chosen[name] += members[start:start + take]
            start += take
        leftovers += members[start:]
    total = len(ids)
    for item in leftovers:
        name = max(names, key=lambda n: fractions[n] * total - len(chosen[n]))
        chosen[name].append(item)
    return {name: sorted(members) for name, members in chosen.items()}
