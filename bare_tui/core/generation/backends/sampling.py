"""How a parallel sequence picks its next token (core/generation/backends/parallel.py).

Sampling settings other than a temperature (top-k, top-p, min-p, a repeat penalty) and
greedy decoding go through llama.cpp's sampler chain, with the output grammar kept apart.
Plain temperature sampling, BARE's default for both models, is drawn here instead: the
chain copies and normalises the whole vocabulary for every token (262,144 entries for
Gemma 3, about 2 ms, a third of a decoding step at 16 sequences on 2 cores); here the
weights are computed in place in float32 and the draw finds its block of 1,024 tokens
first, then the token in it (about 0.3 ms).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bare_tui.core.inputs.recipes import Sampling
from bare_tui.errors import BareError

PENALTY_LAST_N = 64
BLOCK = 1024


def plain_temperature(sampling: Sampling) -> bool:
    """Whether the settings are a temperature alone, no grammar either (drawn by
    `TemperatureDraw`)."""
    return (sampling.temperature > 0 and sampling.top_k == 0 and sampling.top_p >= 1.0
            and sampling.min_p == 0 and sampling.repeat_penalty == 1.0
            and not sampling.grammar)


class TemperatureDraw:
    """A token from softmax(logits / temperature), the distribution llama.cpp's
    temperature and dist samplers draw from, with a generator of its own seeded by the
    request's seed: the same seed gives the same tokens."""

    def __init__(self, temperature: float, seed: int):
        self.temperature = temperature
        self.rng = np.random.default_rng(seed & 0xFFFFFFFF)
        self.weights: np.ndarray | None = None  # the vocabulary's, padded to whole blocks

    def __call__(self, logits: np.ndarray) -> int:
        n = len(logits)
        if self.weights is None or len(self.weights) < n:
            self.weights = np.zeros(-(-n // BLOCK) * BLOCK, dtype=np.float32)
        weights = self.weights[:n]
        np.subtract(logits, logits.max(), out=weights)
        np.multiply(weights, 1 / self.temperature, out=weights)
        np.exp(weights, out=weights)
        running = np.cumsum(self.weights.reshape(-1, BLOCK).sum(axis=1, dtype=np.float64))
        target = self.rng.random() * running[-1]
        block = min(int(np.searchsorted(running, target, side="right")), len(running) - 1)
        start = block * BLOCK
        inside = self.weights[start:start + BLOCK]
        within = np.cumsum(inside, dtype=np.float64)
        index = int(np.searchsorted(within, target - (running[block - 1] if block else 0.0),
                                    side="right"))
        # Rounding can carry the target past the block's last token that has weight.
        index = min(index, int(np.flatnonzero(inside)[-1]))
        return start + index


def grammar(llama_cpp: Any, vocab: Any, sampling: Sampling) -> Any:
    """The output grammar's sampler, kept out of the chain (see `ParallelEngine._pick`)."""
    if not sampling.grammar:
        return None
    made = llama_cpp.llama_sampler_init_grammar(vocab, sampling.grammar.encode(), b"root")
    if not made:
        raise BareError("llama.cpp could not load the output grammar")
    return made


def chain(llama_cpp: Any, sampling: Sampling, seed: int) -> Any:
    """llama.cpp's sampler chain for the settings."""
    made = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    add = llama_cpp.llama_sampler_chain_add
    if sampling.repeat_penalty != 1.0:
        add(made, llama_cpp.llama_sampler_init_penalties(PENALTY_LAST_N,
                                                         sampling.repeat_penalty, 0.0, 0.0))
    if sampling.temperature <= 0:
        add(made, llama_cpp.llama_sampler_init_greedy())
        return made
    if sampling.top_k > 0:
        add(made, llama_cpp.llama_sampler_init_top_k(sampling.top_k))
    if sampling.top_p < 1.0:
        add(made, llama_cpp.llama_sampler_init_top_p(sampling.top_p, 1))
    if sampling.min_p > 0.0:
        add(made, llama_cpp.llama_sampler_init_min_p(sampling.min_p, 1))
    add(made, llama_cpp.llama_sampler_init_temp(sampling.temperature))
    add(made, llama_cpp.llama_sampler_init_dist(seed & 0xFFFFFFFF))
    return made
