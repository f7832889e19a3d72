"""How diverse a set is: BARE's metric, the similarity histogram, clusters, near-duplicates.

BARE's diversity metric is the mean pairwise cosine similarity of L2-normalised
embeddings (lower = more diverse). It is computed exactly for a set of any size, in
linear time: for unit vectors x_i, sum over pairs i != j of x_i . x_j equals
|sum_i x_i|^2 - sum_i |x_i|^2. The histogram of pairwise similarities (the paper's
figure) uses every pair up to EXACT_PAIRS_LIMIT items and a uniform sample of
SAMPLE_PAIRS pairs beyond, whose mean is printed with its standard error.

Nearest neighbours are exact (blocked matrix products) up to EXACT_NEIGHBOURS_LIMIT
items; beyond that, random-hyperplane hashing (several tables, buckets of about
BUCKET_SIZE items) finds them in near-linear time, with high recall for the close pairs
that matter for near-duplicates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

EXACT_PAIRS_LIMIT = 2000
SAMPLE_PAIRS = 200_000
EXACT_NEIGHBOURS_LIMIT = 20_000
BUCKET_SIZE = 64
HASH_TABLES = 8
DEFAULT_NEAR_DUPLICATE = 0.95
MAX_AUTO_CLUSTERS = 50


def mean_pairwise_cosine(unit: np.ndarray) -> float:
    """Mean cosine similarity over all pairs i != j of unit vectors, exactly."""
    n = len(unit)
    if n < 2:
        return float("nan")
    total = unit.sum(axis=0, dtype=np.float64)
    self_sum = float(np.einsum("ij,ij->", unit, unit, dtype=np.float64))
    return (float(total @ total) - self_sum) / (n * (n - 1))


@dataclass(frozen=True)
class Diversity:
    size: int
    mean_similarity: float  # exact
    pairs: int  # pairs behind the histogram
    sampled: bool
    sample_mean: float  # mean over those pairs (equals mean_similarity when not sampled)
    sample_stderr: float  # standard error of sample_mean (0 when exact)
    counts: np.ndarray
    edges: np.ndarray


def pair_similarities(unit: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    n = len(unit)
    if n <= EXACT_PAIRS_LIMIT:
        similarities = unit @ unit.T
        return similarities[np.triu_indices(n, k=1)], False
    first = rng.integers(0, n, SAMPLE_PAIRS)
    second = rng.integers(0, n - 1, SAMPLE_PAIRS)
    second = np.where(second >= first, second + 1, second)  # uniform over pairs i != j
    return np.einsum("ij,ij->i", unit[first], unit[second]), True


def diversity(unit: np.ndarray, bins: int = 20, seed: int = 0) -> Diversity:
    similarities, sampled = pair_similarities(unit, np.random.default_rng(seed))
    counts, edges = np.histogram(similarities, bins=bins, range=(-0.2, 1.0))
    stderr = (float(similarities.std(ddof=1) / math.sqrt(len(similarities)))
              if sampled and len(similarities) > 1 else 0.0)
    return Diversity(len(unit), mean_pairwise_cosine(unit), len(similarities), sampled,
                     float(similarities.mean()) if len(similarities) else float("nan"),
                     stderr, counts, edges)


def histogram_text(result: Diversity, width: int = 40) -> str:
    """The histogram as lines of plain text bars."""
    peak = max(int(result.counts.max()), 1) if len(result.counts) else 1
    return "\n".join(
        f"  {low:5.2f}..{high:5.2f} {'█' * round(width * count / peak)} {count}"
        for count, low, high in zip(result.counts, result.edges, result.edges[1:],
                                    strict=False))


def overlay_text(edges: Sequence[float], series: dict[str, Sequence[int]],
                 width: int = 20) -> list[str]:
    """Histograms of several sets over the same bins, side by side: each bin's share of
    its set's pairs as a bar and a percentage (bins empty in every set at either end
    are left out)."""
    marks = "█░▓▒"
    shares = {name: np.asarray(counts, dtype=float) / max(sum(counts), 1)
              for name, counts in series.items()}
    used = np.flatnonzero(np.any([share >= 0.005 for share in shares.values()], axis=0))
    if not len(used):
        return []
    peak = max(float(share.max()) for share in shares.values())

    def column(value: float, mark: str) -> str:
        share = f"{value:4.0%}" if value >= 0.005 else ""
        return f"{mark * round(width * value / peak):<{width}} {share:>4}"

    lines = [f"{'similarity':<11} " + "   ".join(f"{name:<{width + 5}}"
                                                 for name in series).rstrip()]
    for i in range(used[0], used[-1] + 1):
        cells = [column(share[i], marks[k % len(marks)])
                 for k, share in enumerate(shares.values())]
        lines.append(f"{edges[i]:4.2f} - {edges[i + 1]:4.2f} " + "   ".join(cells).rstrip())
    return lines


# --- nearest neighbours -------------------------------------------------------------------


def nearest_neighbours(unit: np.ndarray, block: int = 1024, seed: int = 0
                       ) -> tuple[np.ndarray, np.ndarray]:
    """For every row, the index of its most similar other row and that similarity
    (-1 and -inf where none was found)."""
    n = len(unit)
    if n <= EXACT_NEIGHBOURS_LIMIT:
        return _exact_neighbours(unit, block)
    return _hashed_neighbours(unit, np.random.default_rng(seed))


def _exact_neighbours(unit: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    n = len(unit)
    best = np.full(n, -1, dtype=np.int64)
    best_similarity = np.full(n, -np.inf, dtype=np.float32)
    for start in range(0, n, block):
        similarities = unit[start:start + block] @ unit.T
        rows = np.arange(similarities.shape[0])
        similarities[rows, rows + start] = -np.inf  # not itself
        best[start:start + block] = similarities.argmax(axis=1)
        best_similarity[start:start + block] = similarities[rows, best[start:start + block]]
    if n == 1:
        best[:] = -1
    return best, best_similarity


def _hashed_neighbours(unit: np.ndarray, rng: np.random.Generator
                       ) -> tuple[np.ndarray, np.ndarray]:
    n, dim = unit.shape
    bits = max(1, int(math.log2(n / BUCKET_SIZE)))
    best = np.full(n, -1, dtype=np.int64)
    best_similarity = np.full(n, -np.inf, dtype=np.float32)
    weights = 1 << np.arange(bits)
    for _ in range(HASH_TABLES):
        planes = rng.standard_normal((dim, bits)).astype(np.float32)
        codes = ((unit @ planes) > 0).astype(np.int64) @ weights
        order = np.argsort(codes, kind="stable")
        boundaries = np.flatnonzero(np.diff(codes[order])) + 1
        for members in np.split(order, boundaries):
            if len(members) < 2:
                continue
            similarities = unit[members] @ unit[members].T
            np.fill_diagonal(similarities, -np.inf)
            local = similarities.argmax(axis=1)
            found = similarities[np.arange(len(members)), local]
            better = found > best_similarity[members]
            best[members[better]] = members[local[better]]
            best_similarity[members[better]] = found[better]
    return best, best_similarity


# --- clusters --------------------------------------------------------------------------------


def auto_clusters(n: int) -> int:
    """The rule for k when it is not given: about sqrt(n/2), between 2 and 50."""
    if n < 4:
        return 1
    return int(min(MAX_AUTO_CLUSTERS, max(2, round(math.sqrt(n / 2)))))


def cluster(unit: np.ndarray, k: int | None = None, seed: int = 0
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(label per row, centroids, distance of each row to its centroid) by k-means;
    mini-batch k-means past 10,000 rows, so reclustering stays quick."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    k = min(k or auto_clusters(len(unit)), len(unit))
    if k <= 1:
        centroid = unit.mean(axis=0, keepdims=True)
        return (np.zeros(len(unit), dtype=np.int64), centroid,
                np.linalg.norm(unit - centroid, axis=1))
    if len(unit) > 10_000:
        model = MiniBatchKMeans(n_clusters=k, batch_size=4096, n_init=3, random_state=seed)
    else:
        model = KMeans(n_clusters=k, n_init=3, random_state=seed)
    labels = model.fit_predict(unit)
    distances = np.linalg.norm(unit - model.cluster_centers_[labels], axis=1)
    return labels.astype(np.int64), model.cluster_centers_, distances


def cluster_labels(texts: list[str], labels: np.ndarray, k: int, terms: int = 3) -> list[str]:
    """A few terms that set each cluster apart: highest mean TF-IDF in the cluster,
    relative to the whole set."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    try:
        matrix = TfidfVectorizer(stop_words="english", max_features=20_000,
                                 token_pattern=r"(?u)\b[A-Za-z][A-Za-z]+\b").fit(texts)
    except ValueError:  # no usable words at all
        return [""] * k
    weights = matrix.transform(texts)
    vocabulary = np.array(matrix.get_feature_names_out())
    overall = np.asarray(weights.mean(axis=0)).ravel()
    names = []
    for index in range(k):
        rows = np.flatnonzero(labels == index)
        if not len(rows):
            names.append("")
            continue
        inside = np.asarray(weights[rows].mean(axis=0)).ravel()
        top = np.argsort(inside - overall)[::-1][:terms]
        names.append(", ".join(vocabulary[i] for i in top if inside[i] > 0))
    return names
