"""Decontamination at scale: 10,000 and 100,000 candidates against the 1,319 GSM8K test
questions, by 13-grams of normalised words and by embedding similarity (compared in
chunks). Prints the time of each method at each size and the 100k/10k time ratios: both
must grow linearly (a ratio of at most 12 for ten times the candidates), and how many of
the planted copies (one in a hundred, lightly edited test questions) each method flags.

Candidates are made from the seeds' words (not the test split's) with planted copies
among them; the embeddings are synthetic 384-d unit vectors (the planted ones near their
test item), since embedding 100,000 texts is the embedding model's speed, not this
module's: bench/diversity.py measures that.

    python bench/decontam.py [--small 10000] [--large 100000]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bare_tui.core.measures import decontam  # noqa: E402

SEEDS = ROOT / "data" / "seeds" / "gsm8k_train_200.jsonl"


def candidates(count: int, questions: list[str], rng: random.Random
               ) -> tuple[list[str], dict[int, int]]:
    """`count` texts in the seeds' words, one in a hundred a lightly edited copy of a test
    question; returns the texts and {position: test item} of the planted copies."""
    words = " ".join(json.loads(line)["question"] for line in SEEDS.read_text().splitlines())
    vocabulary = words.split()
    texts, planted = [], {}
    for position in range(count):
        if position % 100 == 7:
            item = rng.randrange(len(questions))
            planted[position] = item
            texts.append(re.sub(r"\d+", lambda m: str(int(m.group()) + 3), questions[item])
                         + " She was glad.")
        else:
            texts.append(" ".join(rng.choice(vocabulary) for _ in range(rng.randint(25, 60))))
    return texts, planted


def vectors(count: int, planted: dict[int, int], items: np.ndarray,
            rng: np.random.Generator) -> np.ndarray:
    matrix = rng.normal(size=(count, items.shape[1])).astype(np.float32)
    for position, item in planted.items():
        matrix[position] = items[item] + rng.normal(scale=0.02, size=items.shape[1])
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    args = parser.parse_args()
    questions = decontam.read_set(decontam.set_path("gsm8k-test"), "question")
    rng, vector_rng = random.Random(1), np.random.default_rng(1)
    items = vector_rng.normal(size=(len(questions), 384)).astype(np.float32)
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    started = time.perf_counter()
    index = decontam.NgramIndex(questions)
    print(f"index of {len(questions):,} test questions' 13-grams: "
          f"{len(index.items):,} grams in {time.perf_counter() - started:.2f}s")
    seconds = {}
    for count in (args.small, args.large):
        texts, planted = candidates(count, questions, rng)
        matrix = vectors(count, planted, items, vector_rng)
        started = time.perf_counter()
        by_grams = decontam.ngram_matches(index, texts)
        grams_s = time.perf_counter() - started
        started = time.perf_counter()
        by_vectors = decontam.embedding_matches(matrix, items)
        vectors_s = time.perf_counter() - started
        seconds[count] = (grams_s, vectors_s)
        right = sum(by_grams.get(p) is not None and by_grams[p].item == i
                    for p, i in planted.items())
        near = sum(by_vectors.get(p) is not None and by_vectors[p].item == i
                   for p, i in planted.items())
        print(f"{count:>7,} candidates: 13-grams {grams_s:.2f}s ({right}/{len(planted)} "
              f"planted copies flagged, {len(by_grams) - right} others), embeddings "
              f"{vectors_s:.2f}s ({near}/{len(planted)} flagged, {len(by_vectors) - near} "
              f"others)")
    small, large = seconds[args.small], seconds[args.large]
    print(f"time ratio {args.large:,}/{args.small:,}: 13-grams {large[0] / small[0]:.2f}, "
          f"embeddings {large[1] / small[1]:.2f} (at most 12: linear)")


if __name__ == "__main__":
    main()
