"""Diversity of a workspace's sets: statistics, near-duplicates, dedup and clusters,
from the embeddings stored by `core.embeddings`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bare_tui.core.inputs.recipes import Recipe
from bare_tui.core.measures import diversity, embeddings
from bare_tui.core.workspace import current, yields
from bare_tui.core.workspace.store import Store
from bare_tui.core.workspace.values import now
from bare_tui.errors import BareError

# "refinements": each candidate's latest, as generated; "proposed": each candidate's
# final text (the draft where every refinement drifted or failed); "accepted": those
# of the accepted candidates.
SETS = ("seeds", "drafts", "refinements", "proposed", "accepted")


def _require(ids: list[int], what: str) -> None:
    if not ids:
        raise BareError(f"no embeddings for the {what} yet: run `bare-tui embed` first")


def current_vectors(store: Store, task: Recipe, model: embeddings.Model = None
                    ) -> tuple[list[int], np.ndarray]:
    """Each candidate's final text (core/workspace/current.py decides it); a candidate whose final
    text is not embedded yet counts with its draft."""
    chosen: dict[int, np.ndarray] = {}
    for kind in ("draft", "final"):  # later kinds win
        ids, matrix = embeddings.vectors(store, task, kind, model)
        chosen.update(zip(ids, matrix, strict=True))
    ids = sorted(chosen)
    if not ids:
        return [], np.zeros((0, 0), dtype=np.float32)
    return ids, np.stack([chosen[i] for i in ids])


def set_vectors(store: Store, task: Recipe, name: str, model: embeddings.Model = None
                ) -> np.ndarray:
    if name == "seeds":
        return embeddings.vectors(store, task, "seed", model)[1]
    if name == "drafts":
        return embeddings.vectors(store, task, "draft", model)[1]
    if name == "refinements":
        return embeddings.vectors(store, task, "refined", model)[1]
    if name == "proposed":
        return current_vectors(store, task, model)[1]
    accepted = {row[0] for row in store.conn.execute(
        "SELECT d.candidate_id FROM decisions d JOIN candidates c ON c.id = d.candidate_id"
        " WHERE c.task = ? AND d.status = 'accepted'", (task.name,))}
    ids, matrix = current_vectors(store, task, model)
    keep = [i for i, cid in enumerate(ids) if cid in accepted]
    return matrix[keep] if keep else np.zeros((0, 0), dtype=np.float32)


def drift_lines(measured: dict[str, diversity.Diversity | None]) -> list[str]:
    """What refining did to diversity: the drafts' mean similarity against the proposed
    items' (core/inputs/drift.py: a refinement that replaces its draft raises it)."""
    drafts, refined, proposed = (measured.get(name) for name in
                                 ("drafts", "refinements", "proposed"))
    if drafts is None or proposed is None:
        return []
    change = proposed.mean_similarity - drafts.mean_similarity
    as_made = (f"; refinements as generated {refined.mean_similarity:.4f}"
               if refined is not None else "")
    return ["", f"refining moved the mean similarity from {drafts.mean_similarity:.4f} "
                f"(drafts) to {proposed.mean_similarity:.4f} (proposed items), "
                f"{change:+.4f}{as_made}"]


def stats(store: Store, task: Recipe, model: embeddings.Model = None, bins: int = 20
          ) -> dict[str, diversity.Diversity | None]:
    """BARE's diversity of each set (None for a set of fewer than two items)."""
    result: dict[str, diversity.Diversity | None] = {}
    for name in SETS:
        matrix = set_vectors(store, task, name, model)
        result[name] = diversity.diversity(matrix, bins) if len(matrix) >= 2 else None
    return result


def stats_lines(store: Store, task: Recipe, model: embeddings.Model = None, bins: int = 20,
                histogram: bool = True, width: int = 40) -> list[str]:
    """The stats report as lines of plain text, the same for the CLI and the TUI: the
    yield at each quality step, BARE's diversity of each set (with its histogram), and
    the clusters' sizes."""
    lines = [f"yield: {line}" for line in yields.measure(store, task.name).lines()]
    lines.append(f"BARE diversity of task {task.name}: mean pairwise cosine similarity of "
                 "the embeddings (lower = more diverse)")
    measured = stats(store, task, model, bins=bins)
    for name, result in measured.items():
        if result is None:
            lines += ["", f"{name}: fewer than 2 embedded items"]
            continue
        how = (f"histogram from a sample of {result.pairs:,} pairs: mean "
               f"{result.sample_mean:.4f} ± {3 * result.sample_stderr:.4f} (3 SE)"
               if result.sampled else f"histogram of all {result.pairs:,} pairs")
        lines += ["", f"{name}: {result.size} items, mean similarity "
                      f"{result.mean_similarity:.4f} (exact); {how}"]
        if histogram:
            lines += diversity.histogram_text(result, width).splitlines()
    lines += drift_lines(measured)
    clusters = cluster_table(store, task)
    if clusters:
        lines += ["", "clusters: " + ", ".join(f"{c['cluster']}: {c['size']}"
                                             for c in clusters)]
    return lines


@dataclass(frozen=True)
class Twin:
    candidate_id: int
    kind: str  # "seed" or "candidate"
    other_id: int
    similarity: float


def nearest_twins(store: Store, task: Recipe, model: embeddings.Model = None) -> dict[int, Twin]:
    """Each candidate's nearest neighbour among the seeds and the other candidates
    (accepted ones included), with its cosine similarity."""
    ids, matrix = current_vectors(store, task, model)
    _require(ids, "candidates")
    seed_ids, seeds = embeddings.vectors(store, task, "seed", model)
    pool = np.vstack([matrix, seeds]) if len(seeds) else matrix
    labels = [("candidate", i) for i in ids] + [("seed", i) for i in seed_ids]
    best, similarity = diversity.nearest_neighbours(pool)
    twins = {}
    for row, candidate_id in enumerate(ids):
        if best[row] >= 0:
            kind, other = labels[best[row]]
            twins[candidate_id] = Twin(candidate_id, kind, other, float(similarity[row]))
    return twins


def near_duplicates(store: Store, task: Recipe, threshold: float, model: embeddings.Model = None
                    ) -> dict[int, str]:
    """The near-duplicates to reject, keeping one of each group: a seed's copies all go;
    among candidates, the first accepted one stays, else the first that passes the
    checks, else the first. Returns {id to reject: reason}."""
    twins = nearest_twins(store, task, model)
    parent: dict[tuple[str, int], tuple[str, int]] = {}

    def root(node: tuple[str, int]) -> tuple[str, int]:
        while parent.get(node, node) != node:
            node = parent[node]
        return node

    for twin in twins.values():
        if twin.similarity >= threshold:
            a, b = root(("candidate", twin.candidate_id)), root((twin.kind, twin.other_id))
            if a != b:
                parent[a] = b
    groups: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for node in {n for n in parent} | {p for p in parent.values()}:
        groups.setdefault(root(node), []).append(node)
    states = {item.id: (item.status, item.final_valid is not False)
              for item in current.of_task(store, task.name)}
    reasons: dict[int, str] = {}
    for members in groups.values():
        seeds = sorted(i for kind, i in members if kind == "seed")
        candidates = sorted(i for kind, i in members if kind == "candidate")
        if seeds:
            keep, keep_label = None, f"seed {seeds[0]}"
        else:
            keep = min(candidates, key=lambda i: (states[i][0] != "accepted",
                                                  not states[i][1], i))
            keep_label = f"#{keep}"
        for candidate_id in candidates:
            if candidate_id != keep and states[candidate_id][0] != "rejected":
                similarity = twins[candidate_id].similarity if candidate_id in twins else 0
                reasons[candidate_id] = (f"near-duplicate of {keep_label} "
                                         f"(cosine {similarity:.3f})")
    return reasons


def recluster(store: Store, task: Recipe, k: int | None = None, model: embeddings.Model = None
              ) -> list[dict]:
    """Cluster the candidates' current texts; stores and returns one row per cluster
    (size, label, representative)."""
    ids, matrix = current_vectors(store, task, model)
    _require(ids, "candidates")
    labels, _centroids, distances = diversity.cluster(matrix, k)
    count = int(labels.max()) + 1
    texts = {item.ref_id: item.text for item in embeddings.items(store, task)
             if item.kind == "draft"}
    names = diversity.cluster_labels([texts.get(i, "") for i in ids], labels, count)
    info = []
    for index in range(count):
        rows = np.flatnonzero(labels == index)
        representative = ids[int(rows[np.argmin(distances[rows])])] if len(rows) else None
        info.append({"task": task.name, "cluster": index, "label": names[index],
                     "representative_id": representative, "size": int(len(rows)),
                     "model": embeddings.model_name(model), "created_at": now()})
    with store.transaction():
        store.conn.execute("DELETE FROM clusters WHERE task = ?", (task.name,))
        store.conn.execute("DELETE FROM cluster_info WHERE task = ?", (task.name,))
        store.conn.executemany(
            "INSERT INTO clusters (task, candidate_id, cluster, distance) VALUES (?, ?, ?, ?)",
            [(task.name, cid, int(label), float(distance))
             for cid, label, distance in zip(ids, labels, distances, strict=True)])
        for row in info:
            store.insert("cluster_info", row)
    return info


def cluster_members(store: Store, task: Recipe, cluster: int) -> list[int]:
    return [row[0] for row in store.conn.execute(
        "SELECT candidate_id FROM clusters WHERE task = ? AND cluster = ? ORDER BY candidate_id",
        (task.name, cluster))]


def cluster_table(store: Store, task: Recipe) -> list[dict]:
    """Stored clusters with their review counts."""
    return store.query(
        "SELECT i.cluster, i.size, i.label, i.representative_id,"
        " sum(coalesce(d.status, 'pending') = 'accepted') AS accepted,"
        " sum(coalesce(d.status, 'pending') = 'rejected') AS rejected,"
        " sum(coalesce(d.status, 'pending') = 'pending') AS pending"
        " FROM cluster_info i JOIN clusters c ON c.task = i.task AND c.cluster = i.cluster"
        " LEFT JOIN decisions d ON d.candidate_id = c.candidate_id"
        " WHERE i.task = ? GROUP BY i.cluster ORDER BY i.size DESC, i.cluster", (task.name,))


def projection(matrix: np.ndarray, limit: int = 2000, seed: int = 0
               ) -> tuple[np.ndarray, np.ndarray]:
    """(row indices, 2-D coordinates) of at most `limit` rows, on the two principal axes."""
    rows = np.arange(len(matrix))
    if len(rows) > limit:
        rows = np.sort(np.random.default_rng(seed).choice(rows, limit, replace=False))
    if not len(rows):
        return rows, np.zeros((0, 2))
    centred = matrix[rows] - matrix[rows].mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    points = centred @ axes[:2].T
    if points.shape[1] < 2:
        points = np.hstack([points, np.zeros((len(points), 2 - points.shape[1]))])
    return rows, points


class DiversityIndex:
    """The vectors of a task's candidates and seeds in memory, for the review screen:
    any candidate's nearest neighbour costs one matrix-vector product."""

    def __init__(self, store: Store, task: Recipe, model: embeddings.Model = None):
        ids, matrix = current_vectors(store, task, model)
        seed_ids, seeds = embeddings.vectors(store, task, "seed", model)
        self.labels = [("candidate", i) for i in ids] + [("seed", i) for i in seed_ids]
        self.row = {i: n for n, i in enumerate(ids)}
        self.pool = (np.vstack([matrix, seeds]) if len(seeds) and len(ids)
                     else matrix if len(ids) else seeds)
        accepted = set_vectors(store, task, "accepted", model)
        self.accepted_similarity = (diversity.mean_pairwise_cosine(accepted)
                                    if len(accepted) >= 2 else None)

    def twin(self, candidate_id: int) -> Twin | None:
        row = self.row.get(candidate_id)
        if row is None or len(self.pool) < 2:
            return None
        similarities = self.pool @ self.pool[row]
        similarities[row] = -np.inf
        best = int(similarities.argmax())
        kind, other = self.labels[best]
        return Twin(candidate_id, kind, other, float(similarities[best]))
