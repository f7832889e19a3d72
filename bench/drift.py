"""Drift on the embedded models: how far refinements move from their drafts, and what the
drift rule does to BARE's diversity.

For each built-in recipe (gsm8k, the README demo's, and reviews) it makes a fresh
workspace and runs what a user runs, `bare-tui seeds import` then `bare-tui run -n N`
(default retries), so refinements are measured and retried by the drift rule
(core/inputs/drift.py) as in use. Then it prints:

- the distribution of draft -> refinement similarity of first attempts, by embedding
  cosine and by words kept, with the share below each candidate threshold (how the
  default in recipes.DriftRule was chosen: README, Drift);
- the drift share of first attempts, of all attempts, and of candidates after retries
  (every attempt drifted, so the draft is proposed);
- the mean pairwise similarity (BARE's diversity metric) of the drafts, of the
  refinements as generated (first attempts), and of the proposed items, and the guard:
  proposed may exceed drafts by at most 0.02.

    python bench/drift.py [--n 24] [--rng-seed 7] [--recipes gsm8k,reviews] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bare_tui.core.inputs import drift, recipes  # noqa: E402
from bare_tui.core.measures import diversity, embeddings  # noqa: E402
from bare_tui.core.workspace import current, yields  # noqa: E402
from bare_tui.core.workspace.store import Store  # noqa: E402
from bare_tui.core.workspace.values import from_json  # noqa: E402

SEEDS = {"gsm8k": ROOT / "data" / "seeds" / "gsm8k_train_200.jsonl",
         "reviews": ROOT / "data" / "seeds" / "reviews.jsonl"}
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
GUARD = 0.02  # the paper: refining keeps the drafts' diversity


def cli(*args: str) -> None:
    command = [sys.executable, "-m", "bare_tui", *args]
    print("$ bare-tui " + " ".join(args), flush=True)
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def spread(values: list[float]) -> str:
    if not values:
        return "none measured"
    q = np.quantile(values, [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1])
    return ("min {:.2f}  p10 {:.2f}  p25 {:.2f}  median {:.2f}  p75 {:.2f}  p90 {:.2f}  "
            "max {:.2f}".format(*q))


def histogram(values: list[float]) -> list[str]:
    counts, edges = np.histogram(values, bins=10, range=(0, 1))
    return [f"    {edges[i]:.1f}-{edges[i + 1]:.1f} {'#' * int(c)} {int(c) or ''}"
            for i, c in enumerate(counts)]


def mean_similarity(encode: drift.Embed, texts: list[str]) -> float | None:
    return diversity.mean_pairwise_cosine(encode(texts)) if len(texts) >= 2 else None


def report(db: Path, name: str, encode: drift.Embed) -> bool:
    with Store(db, create=False) as store:
        task = recipes.resolve(store, name)
        first = store.query(
            "SELECT r.candidate_id, r.fields, r.draft_similarity, r.draft_overlap, r.drifted,"
            " r.drift FROM refinements r JOIN candidates c ON c.id = r.candidate_id"
            " WHERE c.task = ? AND r.alternative IS NULL AND r.id = (SELECT min(x.id) FROM"
            " refinements x WHERE x.candidate_id = r.candidate_id AND x.alternative IS NULL)",
            (name,))
        measured = [row for row in first if row["drifted"] is not None]
        cosines = [row["draft_similarity"] for row in measured
                   if row["draft_similarity"] is not None]
        overlaps = [row["draft_overlap"] for row in measured]
        print(f"\n== {name}: {len(first)} first attempts, {len(measured)} parsed and "
              "measured")
        print(f"  draft -> refinement cosine:      {spread(cosines)}")
        print(*histogram(cosines), sep="\n")
        print(f"  draft -> refinement words kept:  {spread(overlaps)}")
        print(*histogram(overlaps), sep="\n")
        for label, values in (("cosine", cosines), ("words kept", overlaps)):
            if values:
                print(f"  first attempts below each {label} threshold: " + ", ".join(
                    f"{t:.1f}: {sum(v < t for v in values)}" for t in THRESHOLDS))
        reasons = [row["drift"] for row in measured if row["drifted"]]
        for reason in reasons:
            print(f"    drifted: {reason}")
        made = yields.measure(store, name)
        print(f"  drift share, first attempts: {yields.share(len(reasons), len(measured))} "
              f"({len(reasons)} of {len(measured)})")
        print(f"  drift share, all attempts:   "
              f"{yields.share(made.refinements_drifted, made.drift_measured)} "
              f"({made.refinements_drifted} of {made.drift_measured})")
        refined = len({row["candidate_id"] for row in measured})
        print(f"  drift share after retries:   {yields.share(made.kept_drafts, refined)} "
              f"({made.kept_drafts} of {refined} candidates: every attempt drifted, the "
              "draft is proposed)")
        print("  yield: " + "\n  yield: ".join(made.lines()))
        items = list(current.of_task(store, name))
        drafts = [embeddings.text_of(task, i.draft_fields, i.draft_raw) for i in items
                  if i.draft_fields]
        as_made = [embeddings.text_of(task, from_json(row["fields"]), "") for row in measured]
        proposed = [embeddings.text_of(task, i.final_fields, i.draft_raw) for i in items
                    if i.final_fields]
    sims = {label: mean_similarity(encode, texts) for label, texts in
            (("drafts", drafts), ("refinements as generated", as_made),
             ("proposed items", proposed))}
    print("  mean pairwise similarity (lower = more diverse): " + ", ".join(
        f"{label} {value:.4f} ({n})" for (label, value), n in
        zip(sims.items(), (len(drafts), len(as_made), len(proposed)), strict=True)
        if value is not None))
    if sims["drafts"] is None or sims["proposed items"] is None:
        print("  guard: not measured (fewer than 2 items)")
        return False
    change = sims["proposed items"] - sims["drafts"]
    held = change <= GUARD
    print(f"  guard: proposed - drafts = {change:+.4f} (at most +{GUARD}): "
          f"{'held' if held else 'BROKEN'}")
    return held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--rng-seed", type=int, default=7)
    parser.add_argument("--recipes", default="gsm8k,reviews")
    parser.add_argument("--keep", type=Path, help="make the workspaces here and keep them")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bare-drift-"))
    folder.mkdir(parents=True, exist_ok=True)
    encode = embeddings.encoder(None)
    held = []
    for name in args.recipes.split(","):
        db = folder / f"{name}.db"
        if not db.exists():
            cli("seeds", "import", str(SEEDS[name]), "--task", name, "--db", str(db))
            cli("run", "--task", name, "--db", str(db), "-n", str(args.n),
                "--rng-seed", str(args.rng_seed))
        held.append(report(db, name, encode))
    print(f"\nworkspaces in {folder}")
    sys.exit(0 if all(held) else 1)


if __name__ == "__main__":
    main()
