"""Diversity speed: embedding throughput, clustering and near-duplicate search.

1. Texts/s of `bare-tui embed` (incremental embedding into a workspace) vs a plain
   `SentenceTransformer.encode` of the same texts with the same model and batch size,
   measured in the same run (the model is loaded once, outside both timings).
2. Time to cluster and to find every vector's nearest neighbour for 10,000 and 100,000
   synthetic unit vectors of dimension 384, and the 100k/10k ratio (linear would be 10).
3. With --backend: ONNX Runtime (what bare-tui runs) against plain PyTorch
   `SentenceTransformer.encode` on the same 2,000 real texts (GSM8K training items, as
   bare-tui renders and embeds them): texts/s of each and their ratio, the per-text
   cosine between the two backends' vectors (median and lowest), and the mean pairwise
   similarity (the BARE diversity metric) by each. With --end-to-end N: N texts (GSM8K
   questions with their numbers changed, as drafts are) embedded by ONNX Runtime,
   clustered and searched for near-duplicates, each step timed.

    python bench/diversity.py [--texts 200] [--small 10000] [--large 100000]
    python bench/diversity.py --backend [--texts 2000] [--end-to-end 100000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
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
TRAIN = ROOT.parent / "shared" / "data" / "gsm8k" / "train.jsonl"


@contextlib.contextmanager
def seeded(source: Path, count: int):
    """A fresh gsm8k workspace holding the first `count` items of `source` as seeds."""
    with tempfile.TemporaryDirectory() as folder:
        seeds = Path(folder) / "seeds.jsonl"
        seeds.write_text("".join(source.read_text().splitlines(True)[:count]))
        with Store(Path(folder) / "bench.db") as store:
            task = recipes.resolve(store, "gsm8k")
            import_seeds(store, task, seeds)
            yield store, task


def embed_once(encoder, count: int) -> tuple[float, float]:
    """(plain texts/s, bare-tui texts/s) on the same texts, in a fresh workspace."""
    with seeded(SEEDS, count) as (store, task):
        texts = [item.text for item in embeddings.items(store, task)]
        _, plain = timed(lambda: encoder.encode(texts, batch_size=embeddings.BATCH,
                                                normalize_embeddings=True))
        done, ours = timed(lambda: embeddings.embed(store, task, encoder=encoder))
    return len(texts) / plain, done / ours


def embed_part(count: int, rounds: int = 3) -> None:
    encoder = embeddings.load_model(None)
    encoder.encode(["warm up"] * 8)
    results = [embed_once(encoder, count) for _ in range(rounds)]
    plain = statistics.median(r[0] for r in results)
    ours = statistics.median(r[1] for r in results)
    print(f"embedding {count} texts ({rounds} rounds, median): plain encode {plain:.1f} "
          f"texts/s, bare-tui embed {ours:.1f} texts/s, ratio {ours / plain:.2f}")


def timed(call, *args):
    """(what the call returned, its seconds)."""
    started = time.perf_counter()
    result = call(*args)
    return result, time.perf_counter() - started


def curation_steps(unit: np.ndarray) -> tuple[float, float, float, float]:
    """Seconds to cluster, to find every nearest neighbour and to measure diversity, and
    the mean similarity."""
    _, clustered = timed(diversity.cluster, unit)
    _, searched = timed(diversity.nearest_neighbours, unit)
    metric, measured = timed(diversity.diversity, unit)
    return clustered, searched, measured, metric.mean_similarity


def vector_part(sizes: list[int]) -> None:
    rng = np.random.default_rng(0)
    timings = {}
    for size in sizes:
        centres = rng.standard_normal((200, 384))
        unit = diversity.normalise(centres[rng.integers(0, 200, size)]
                                   + 1.5 * rng.standard_normal((size, 384)))
        clustered, searched, measured, _ = curation_steps(unit)
        timings[size] = (clustered, searched, measured)
        method = ("exact" if size <= diversity.EXACT_NEIGHBOURS_LIMIT else "hashed")
        print(f"{size:>7,} vectors: k-means (k={diversity.auto_clusters(size)}) "
              f"{clustered:.2f}s, nearest neighbours ({method}) {searched:.2f}s, "
              f"diversity metric + histogram {measured:.2f}s")
    small, large = timings[sizes[0]], timings[sizes[-1]]
    print(f"ratios {sizes[-1]:,}/{sizes[0]:,}: clustering {large[0] / small[0]:.1f}, "
          f"nearest neighbours {large[1] / small[1]:.1f}, metric {large[2] / small[2]:.1f}, "
          f"clustering + search {(large[0] + large[1]) / (small[0] + small[1]):.1f}")


def real_texts(count: int) -> list[str]:
    """GSM8K training items as bare-tui embeds a seed (the recipe's rendering)."""
    with seeded(TRAIN, count) as (store, task):
        return [item.text for item in embeddings.items(store, task)]


def timed_encode(encoder, texts: list[str], rounds: int) -> tuple[float, np.ndarray]:
    """(median texts/s over the rounds, the vectors)."""
    speeds = []
    for _ in range(rounds):
        started = time.perf_counter()
        vectors = encoder.encode(texts, batch_size=embeddings.BATCH, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)
        speeds.append(len(texts) / (time.perf_counter() - started))
    return statistics.median(speeds), np.asarray(vectors, dtype=np.float32)


def backend_part(count: int, rounds: int, cache: Path) -> None:
    texts = real_texts(count)
    plain, _ = embeddings.loaded(embeddings.Embedder(None, "torch"))
    onnx, how = embeddings.loaded(embeddings.Embedder(None, "onnx", cache))
    for encoder in (plain, onnx):
        encoder.encode(texts[:embeddings.BATCH], batch_size=embeddings.BATCH)
    plain_speed, plain_vectors = timed_encode(plain, texts, rounds)
    onnx_speed, onnx_vectors = timed_encode(onnx, texts, rounds)
    cosine = (plain_vectors * onnx_vectors).sum(axis=1)
    plain_mean = diversity.diversity(plain_vectors).mean_similarity
    onnx_mean = diversity.diversity(onnx_vectors).mean_similarity
    print(f"backends on {len(texts):,} GSM8K texts ({rounds} rounds, median): plain "
          f"SentenceTransformer.encode (PyTorch) {plain_speed:.1f} texts/s, {how.split(' (')[0]} "
          f"{onnx_speed:.1f} texts/s, ratio {onnx_speed / plain_speed:.2f}")
    print(f"per-text cosine between the backends: median {np.median(cosine):.4f}, lowest "
          f"{cosine.min():.4f}; mean pairwise similarity: PyTorch {plain_mean:.4f}, ONNX "
          f"{onnx_mean:.4f}, difference {abs(plain_mean - onnx_mean):.4f}")


def draft_like(count: int) -> list[str]:
    """GSM8K questions with their numbers changed, as many as asked (drafts vary so)."""
    questions = [json.loads(line)["question"] for line in TRAIN.read_text().splitlines()]
    rng = np.random.default_rng(0)
    return [re.sub(r"\d+", lambda m: str(int(rng.integers(2, 10 * (int(m.group()) + 2)))),
                   questions[i % len(questions)]) for i in range(count)]


def end_to_end(count: int, cache: Path) -> None:
    texts = draft_like(count)
    encoder, how = embeddings.loaded(embeddings.Embedder(None, "onnx", cache))
    vectors, embedded = timed(encoder.encode, texts)
    clustered, searched, measured, mean = curation_steps(np.asarray(vectors, np.float32))
    total = embedded + clustered + searched + measured
    print(f"end to end, {count:,} texts on {how.split(' (')[0]}: embed {embedded:.0f}s "
          f"({count / embedded:.0f} texts/s), k-means (k={diversity.auto_clusters(count)}) "
          f"{clustered:.1f}s, nearest neighbours {searched:.1f}s, metric {measured:.1f}s "
          f"(mean similarity {mean:.4f}); total {total:.0f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=200)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--backend", action="store_true",
                        help="compare ONNX Runtime with PyTorch (default --texts 2000)")
    parser.add_argument("--end-to-end", type=int, default=0, metavar="N",
                        help="with --backend: embed, cluster and search N texts")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.backend:
        with tempfile.TemporaryDirectory() as cache:
            backend_part(args.texts if args.texts != 200 else 2000, args.rounds, Path(cache))
            if args.end_to_end:
                end_to_end(args.end_to_end, Path(cache))
        return
    embed_part(args.texts)
    vector_part([args.small, args.large])


if __name__ == "__main__":
    main()
