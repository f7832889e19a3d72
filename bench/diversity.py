"""Diversity speed: embedding throughput, clustering and near-duplicate search.

1. Texts/s of `bare-tui embed` (incremental embedding into a workspace) vs a plain
   `SentenceTransformer.encode` of the same texts with the same model and batch size,
   measured in the same run (the model is loaded once, outside both timings).
2. Time to cluster and to find every vector's nearest neighbour for 10,000 and 100,000
   synthetic unit vectors of dimension 384, and the 100k/10k ratio (linear would be 10).

    python bench/diversity.py [--texts 200] [--small 10000] [--large 100000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bare_tui.core.inputs import recipes  # noqa: E402
from bare_tui.core.inputs.seeds import import_seeds  # noqa: E402
from bare_tui.core.measures import diversity, embeddings  # noqa: E402
from bare_tui.core.workspace.store import Store  # noqa: E402

SEEDS = ROOT / "data" / "seeds" / "gsm8k_train_200.jsonl"


def embed_once(encoder, count: int) -> tuple[float, float]:
    """(plain texts/s, bare-tui texts/s) on the same texts, in a fresh workspace."""
    with tempfile.TemporaryDirectory() as folder:
        seeds = Path(folder) / "seeds.jsonl"
        seeds.write_text("".join(SEEDS.read_text().splitlines(True)[:count]))
        with Store(Path(folder) / "bench.db") as store:
            task = recipes.resolve(store, "gsm8k")
            import_seeds(store, task, seeds)
            texts = [item.text for item in embeddings.items(store, task)]
            started = time.perf_counter()
            encoder.encode(texts, batch_size=embeddings.BATCH, normalize_embeddings=True)
            plain = len(texts) / (time.perf_counter() - started)
            started = time.perf_counter()
            done = embeddings.embed(store, task, encoder=encoder)
            ours = done / (time.perf_counter() - started)
    return plain, ours


def embed_part(count: int, rounds: int = 3) -> None:
    encoder = embeddings.load_model(None)
    encoder.encode(["warm up"] * 8)
    results = [embed_once(encoder, count) for _ in range(rounds)]
    plain = statistics.median(r[0] for r in results)
    ours = statistics.median(r[1] for r in results)
    print(f"embedding {count} texts ({rounds} rounds, median): plain encode {plain:.1f} "
          f"texts/s, bare-tui embed {ours:.1f} texts/s, ratio {ours / plain:.2f}")


def vector_part(sizes: list[int]) -> None:
    rng = np.random.default_rng(0)
    timings = {}
    for size in sizes:
        centres = rng.standard_normal((200, 384))
        unit = diversity.normalise(centres[rng.integers(0, 200, size)]
                                   + 1.5 * rng.standard_normal((size, 384)))
        started = time.perf_counter()
        diversity.cluster(unit)
        clustered = time.perf_counter() - started
        started = time.perf_counter()
        diversity.nearest_neighbours(unit)
        searched = time.perf_counter() - started
        started = time.perf_counter()
        diversity.diversity(unit)
        measured = time.perf_counter() - started
        timings[size] = (clustered, searched, measured)
        method = ("exact" if size <= diversity.EXACT_NEIGHBOURS_LIMIT else "hashed")
        print(f"{size:>7,} vectors: k-means (k={diversity.auto_clusters(size)}) "
              f"{clustered:.2f}s, nearest neighbours ({method}) {searched:.2f}s, "
              f"diversity metric + histogram {measured:.2f}s")
    small, large = timings[sizes[0]], timings[sizes[-1]]
    print(f"ratios {sizes[-1]:,}/{sizes[0]:,}: clustering {large[0] / small[0]:.1f}, "
          f"nearest neighbours {large[1] / small[1]:.1f}, metric {large[2] / small[2]:.1f}, "
          f"clustering + search {(large[0] + large[1]) / (small[0] + small[1]):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=200)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    args = parser.parse_args()
    embed_part(args.texts)
    vector_part([args.small, args.large])


if __name__ == "__main__":
    main()
