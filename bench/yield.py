"""Yield of the refine stage with and without constrained output, on the embedded models.

For each task (the built-in gsm8k and reviews recipes, and README's trivia recipe) the
base model drafts `--n` candidates once; the same drafts are then refined twice, from
the same master seed, with the recipe's output grammar off (the baseline) and on, each
with the default retries. Per task and mode it prints:

- the share of drafts and of refinement attempts that parse and pass their checks;
- usable items (final version passes, core/workspace/yields.py) per minute of generation, the
  drafting minutes included in both modes;
- usable refined items (the best refinement itself passes) per minute;
- the mean pairwise cosine similarity of the refinements (all-MiniLM-L6-v2).

and, per task, the ratio of usable items per minute and the change in similarity, with
a 90% bootstrap interval of that change (candidates resampled, the same ones in both
modes): at 24 candidates a change of a few hundredths is within the noise. The change is
also given over the candidates whose refinements pass their checks in both modes: text
that fails them (rambling on to its budget) makes a set look more diverse than its
usable items are.

    python bench/yield.py [--n 24] [--max-tokens 300] [--rng-seed 1] [--parallel 16]
                          [--tasks gsm8k,reviews,trivia] [--modes off,on]
                          [--json out.json] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bare_tui.config import load  # noqa: E402
from bare_tui.core.generation import model_files, pipeline  # noqa: E402
from bare_tui.core.generation.backends.llamacpp import LlamaCppBackend, LlamaOptions  # noqa: E402
from bare_tui.core.inputs import recipes  # noqa: E402
from bare_tui.core.inputs.seeds import import_seeds  # noqa: E402
from bare_tui.core.measures import diversity, embeddings  # noqa: E402
from bare_tui.core.workspace import current, yields  # noqa: E402
from bare_tui.core.workspace.store import Store  # noqa: E402

SEEDS = {"gsm8k": ROOT / "data" / "seeds" / "gsm8k_train_200.jsonl",
         "reviews": ROOT / "data" / "seeds" / "reviews.jsonl"}
MODES = ("off", "on")


def readme_trivia(folder: Path) -> tuple[Path, Path]:
    """README's trivia recipe and seeds, as a user would copy them."""
    readme = (ROOT / "README.md").read_text()
    recipe = re.search(r"<!-- recipe -->\n```toml\n(.*?)```", readme, re.S).group(1)
    seeds = re.search(r"<!-- seeds -->\n```json\n(.*?)```", readme, re.S).group(1)
    (folder / "trivia.toml").write_text(recipe)
    (folder / "trivia.jsonl").write_text(seeds)
    return folder / "trivia.toml", folder / "trivia.jsonl"


def draft_workspace(folder: Path, name: str, base, args) -> tuple[Path, recipes.Recipe]:
    db = folder / f"{name}-drafts.db"
    with Store(db) as store:
        if name == "trivia":
            recipe, seeds = readme_trivia(folder)
            task = recipes.resolve(store, str(recipe))
        else:
            task, seeds = recipes.resolve(store, name), SEEDS[name]
        import_seeds(store, task, seeds)
        pipeline.draft(store, task, base, args.n, rng_seed=args.rng_seed,
                       sampling=task.base.replace(max_tokens=args.max_tokens))
    return db, task


Vectors = dict[int, tuple[np.ndarray, bool]]


def refinement_vectors(store: Store, task: recipes.Recipe, encoder) -> Vectors:
    """Per refined candidate, the unit embedding of its best refinement, and whether
    that passes its checks."""
    refined = [c for c in current.of_task(store, task.name) if c.latest_raw is not None]
    texts = [embeddings.text_of(task, c.best_fields, c.latest_raw or "") for c in refined]
    unit = diversity.normalise(encoder.encode(texts, batch_size=32))
    return {c.id: (vector, c.best_fields is not None and not c.best_problems)
            for c, vector in zip(refined, unit, strict=True)}


def similarity_changes(off: Vectors, on: Vectors) -> dict[str, list[float]]:
    """The change in similarity over the candidates refined in both modes, and over
    those whose refinements pass their checks in both (text that failed, rambling
    on to its budget, makes a set look more diverse than its usable items are)."""
    refined = sorted(set(off) & set(on))
    passing = [i for i in refined if off[i][1] and on[i][1]]
    changes = {"refined": [len(refined), *similarity_change(off, on, refined)]}
    if len(passing) > 2:
        changes["passing"] = [len(passing), *similarity_change(off, on, passing)]
    return changes


def similarity_change(off: Vectors, on: Vectors, ids: list[int],
                      rounds: int = 2000) -> tuple[float, float, float]:
    """The change in mean pairwise cosine similarity from `off` to `on` over `ids`, and
    its 90% bootstrap interval."""
    a, b = np.stack([off[i][0] for i in ids]), np.stack([on[i][0] for i in ids])
    rng = np.random.default_rng(0)
    changes = []
    for _ in range(rounds):
        pick = np.unique(rng.choice(len(ids), len(ids)))
        if len(pick) > 1:
            changes.append(diversity.mean_pairwise_cosine(b[pick])
                           - diversity.mean_pairwise_cosine(a[pick]))
    low, high = np.percentile(changes, [5, 95])
    change = diversity.mean_pairwise_cosine(b) - diversity.mean_pairwise_cosine(a)
    return float(change), float(low), float(high)


def measure(db: Path, task: recipes.Recipe, instruct, mode: str, args, encoder
            ) -> tuple[dict, Vectors]:
    notes: list[str] = []
    with Store(db) as store:
        started = time.perf_counter()
        pipeline.refine(store, task, instruct, retries=args.retries, rng_seed=args.rng_seed,
                        on_note=notes.append,
                        sampling=task.refine.replace(max_tokens=args.max_tokens,
                                                     constrain=mode == "on"))
        seconds = time.perf_counter() - started
        got = yields.measure(store, task.name)
        refined_usable = sum(c.best_fields is not None and not c.best_problems
                             for c in current.of_task(store, task.name))
        first = store.conn.execute(
            "SELECT count(*), sum(fields IS NOT NULL), sum(valid) FROM refinements r"
            " WHERE r.id IN (SELECT min(id) FROM refinements GROUP BY candidate_id)"
        ).fetchone()
        vectors = refinement_vectors(store, task, encoder)
        return {"task": task.name, "mode": mode, **got.as_dict(),
                "refine_seconds": seconds, "refined_usable": refined_usable,
                "refined_usable_per_minute": refined_usable / got.minutes,
                "first_attempts": first[0], "first_parsed": first[1] or 0,
                "first_passing": first[2] or 0,
                "similarity": diversity.mean_pairwise_cosine(
                    np.stack([vector for vector, _ in vectors.values()])),
                "notes": notes}, vectors


def share(part: int, whole: int) -> str:
    return f"{part / whole:6.1%}" if whole else "     -"


def report(rows: list[dict]) -> None:
    print(f"\n{'task':8} {'mode':4} {'drafts parse/pass':>18} {'refine parse/pass':>18} "
          f"{'1st try parse/pass':>19} {'usable':>7} {'/min':>6} {'refined':>8} {'/min':>6} "
          f"{'min':>5} {'sim':>6}")
    for r in rows:
        print(f"{r['task']:8} {r['mode']:4} "
              f"{share(r['drafts_parsed'], r['drafts'])} {share(r['drafts_passing'], r['drafts'])}"
              f"     {share(r['refinements_parsed'], r['refinements'])} "
              f"{share(r['refinements_passing'], r['refinements'])}"
              f"      {share(r['first_parsed'], r['first_attempts'])} "
              f"{share(r['first_passing'], r['first_attempts'])}"
              f" {r['usable']:4}/{r['candidates']:<3}{r['usable_per_minute']:6.2f}"
              f" {r['refined_usable']:4}/{r['candidates']:<3}{r['refined_usable_per_minute']:6.2f}"
              f" {r['minutes']:5.1f} {r['similarity']:6.3f}")
    print()
    for name in dict.fromkeys(r["task"] for r in rows):
        off, on = (next(r for r in rows if r["task"] == name and r["mode"] == m) for m in MODES)
        ratio = (on["usable_per_minute"] / off["usable_per_minute"]
                 if off["usable"] else float("inf"))
        refined = (on["refined_usable_per_minute"] / off["refined_usable_per_minute"]
                   if off["refined_usable"] else float("inf"))
        changes = on["similarity_change"]
        _, change, low, high = changes["refined"]
        passing = ("; among the {:.0f} passing their checks in both {:+.3f} ({:+.3f} to "
                   "{:+.3f})".format(*changes["passing"]) if "passing" in changes else "")
        print(f"{name}: constrained/unconstrained usable per minute {ratio:.2f}x, usable "
              f"refined per minute {refined:.2f}x; refinement similarity "
              f"{change:+.3f} (90% interval {low:+.3f} to {high:+.3f}){passing}; "
              "constrained refinements "
              f"{share(on['refinements_parsed'], on['refinements']).strip()} parse, "
              f"{share(on['refinements_passing'], on['refinements']).strip()} pass")
        for note in on["notes"] + off["notes"]:
            print(f"  note: {note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=24, help="candidates per task")
    parser.add_argument("--max-tokens", type=int, default=300)
    parser.add_argument("--retries", type=int, default=pipeline.DEFAULT_RETRIES)
    parser.add_argument("--rng-seed", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=None)
    parser.add_argument("--tasks", default="gsm8k,reviews,trivia")
    parser.add_argument("--modes", default="off,on", help="constraints off, on, or both")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--keep", type=Path, help="keep the workspaces in this folder")
    args = parser.parse_args()

    options = LlamaOptions(ctx=2048, parallel=args.parallel)
    cache = load().cache_dir
    base = LlamaCppBackend(model_files.resolve(None, "base", ROOT / "models", cache), options)
    instruct = LlamaCppBackend(model_files.resolve(None, "instruct", ROOT / "models", cache),
                               options)
    encoder = embeddings.load_model(None)
    print(f"models: {base.model.name} (drafts), {instruct.model.name} (refinements), "
          f"{base.describe()['device']}, {base.describe()['cpu_path']} path, "
          f"{base.parallel} at once, {os.cpu_count()} cpus; n={args.n}, "
          f"max_tokens={args.max_tokens}, retries={args.retries}, rng_seed={args.rng_seed}")
    rows = []
    with tempfile.TemporaryDirectory() as name:
        folder = args.keep or Path(name)
        folder.mkdir(parents=True, exist_ok=True)
        for task_name in args.tasks.split(","):
            drafts, task = draft_workspace(folder, task_name, base, args)
            vectors: dict[str, Vectors] = {}
            for mode in args.modes.split(","):
                db = folder / f"{task_name}-{mode}.db"
                shutil.copy(drafts, db)
                row, vectors[mode] = measure(db, task, instruct, mode, args, encoder)
                rows.append(row)
                r = rows[-1]
                print(f"{task_name} {mode}: {r['usable']}/{r['candidates']} usable, "
                      f"refine {r['refine_seconds']:.0f}s", flush=True)
            if set(vectors) == set(MODES):
                constrained = next(r for r in rows[-2:] if r["mode"] == "on")
                constrained["similarity_change"] = similarity_changes(vectors["off"],
                                                                      vectors["on"])
    if set(args.modes.split(",")) == set(MODES):
        report(rows)
    else:
        print(json.dumps(rows, indent=1))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
