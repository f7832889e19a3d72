"""Plain temperature sampling drawn in numpy (core/generation/backends/sampling.py): the
distribution llama.cpp's temperature and dist samplers draw from, repeatable by seed."""

from __future__ import annotations

import numpy as np
import pytest

from bare_tui.core.generation.backends import sampling
from bare_tui.core.inputs.recipes import Sampling


@pytest.mark.parametrize("size", [5, 1024, 3000])
def test_draws_follow_the_softmax_of_logits_over_the_temperature(size: int):
    rng = np.random.default_rng(size)
    logits = rng.normal(0, 1.5, size).astype(np.float32)
    logits[:5] = [4.0, 5.0, 6.0, 3.0, 4.5]  # most of the mass on the first five
    temperature = 0.7
    expected = np.exp((logits - logits.max()) / temperature)
    expected /= expected.sum()
    draw = sampling.TemperatureDraw(temperature, seed=11)
    draws = 100_000
    seen = np.bincount([draw(logits) for _ in range(draws)], minlength=size) / draws
    assert seen.sum() == pytest.approx(1.0) and len(seen) == size  # no padding drawn
    # Within 5 standard errors for every token that carries mass, and the rest's share.
    error = np.sqrt(expected * (1 - expected) / draws)
    assert np.all(np.abs(seen - expected) <= 5 * error + 1e-4)
    assert seen[5:].sum() == pytest.approx(expected[5:].sum(), abs=0.01)


def test_the_same_seed_draws_the_same_tokens_and_another_seed_others():
    logits = np.random.default_rng(0).normal(0, 2, 262_144).astype(np.float32)

    def tokens(seed: int) -> list[int]:
        draw = sampling.TemperatureDraw(1.0, seed)
        return [draw(logits) for _ in range(20)]

    assert tokens(7) == tokens(7)
    assert tokens(7) != tokens(8)
    assert all(0 <= token < 262_144 for token in tokens(9))


def test_a_peaked_distribution_draws_its_peak():
    logits = np.full(50_000, -30.0, dtype=np.float32)
    logits[12_345] = 30.0
    draw = sampling.TemperatureDraw(0.7, 1)
    assert {draw(logits) for _ in range(200)} == {12_345}


def test_only_a_temperature_alone_is_drawn_in_numpy():
    assert sampling.plain_temperature(Sampling(temperature=0.7))
    for settings in (Sampling(temperature=0.0), Sampling(top_k=40), Sampling(top_p=0.9),
                     Sampling(min_p=0.05), Sampling(repeat_penalty=1.1),
                     Sampling(temperature=0.7, grammar='root ::= "a"')):
        assert not sampling.plain_temperature(settings)
