"""Verified yield on the embedded models: how much of what BARE makes is right, not only
well-formed.

For each recipe (the built-in gsm8k, whose answers' arithmetic is verified, and a
text-to-SQL recipe over a four-table shop schema, bench/data/shop_sql.toml, whose queries
run in a locked-down SQLite) the base model drafts `--n` candidates once; the same drafts
are then refined twice from the same master seed, with the default retries: once with
verifier failures retried like failed checks (the default), once with only parse and
check failures retried (the baseline). It prints, for drafts and refinement attempts,
the parse rate, the check-pass rate and the verified rate; the refinements that broke a
verified draft; and verified items per minute of generation (drafting included) in both
arms, with their ratio. The models are tiny: no rate is a target, they are what they are.

    python bench/verified.py [--n 24] [--rng-seed 1] [--parallel 8] [--max-tokens 300]
                             [--recipes gsm8k,sql]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bare_tui.config import load  # noqa: E402
from bare_tui.core.generation import model_files, pipeline  # noqa: E402
from bare_tui.core.generation.backends.llamacpp import LlamaCppBackend, LlamaOptions  # noqa: E402
from bare_tui.core.inputs import recipes  # noqa: E402
from bare_tui.core.inputs.seeds import import_seeds  # noqa: E402
from bare_tui.core.workspace import yields  # noqa: E402
from bare_tui.core.workspace.store import Store  # noqa: E402

RECIPES = {
    "gsm8k": (None, ROOT / "data" / "seeds" / "gsm8k_train_200.jsonl"),
    "sql": (ROOT / "bench" / "data" / "shop_sql.toml", ROOT / "bench" / "data" / "shop_sql.jsonl"),
}


def rates(store: Store, table: str, task: str) -> str:
    join = ("" if table == "candidates" else
            " JOIN candidates c ON c.id = t.candidate_id")
    where = "t.task = ?" if table == "candidates" else "c.task = ? AND t.alternative IS NULL"
    total, parsed, passing, verified, failed = store.conn.execute(
        f"SELECT count(*), sum(t.fields IS NOT NULL), sum(t.valid), sum(t.verified = 1),"
        f" sum(t.verified = 0) FROM {table} t{join} WHERE {where}", (task,)).fetchone()

    def share(part: int | None) -> str:
        return f"{(part or 0) / total:.0%}" if total else "-"

    return (f"{total} ({share(parsed)} parse, {share(passing)} pass checks, "
            f"{share(verified)} verified, {share(failed)} fail a verifier)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--rng-seed", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--retries", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=300,
                        help="each draft's and refinement's budget (default 300)")
    parser.add_argument("--recipes", default="gsm8k,sql")
    args = parser.parse_args()
    cache = load().cache_dir
    options = LlamaOptions(ctx=2048, parallel=args.parallel)
    base = LlamaCppBackend(model_files.resolve(None, "base", ROOT / "models", cache), options)
    instruct = LlamaCppBackend(model_files.resolve(None, "instruct", ROOT / "models", cache),
                               options)
    print(f"models: {base.model.name} drafts, {instruct.model.name} refines; "
          f"{args.n} candidates per recipe, {args.retries} retries, CPU path "
          f"{base.cpu_path.describe()}")
    with tempfile.TemporaryDirectory() as folder:
        for name in args.recipes.split(","):
            recipe_file, seeds = RECIPES[name]
            drafted = Path(folder) / f"{name}.db"
            with Store(drafted) as store:
                task = (recipes.resolve(store, "gsm8k") if recipe_file is None
                        else recipes.resolve(store, str(recipe_file)))
                import_seeds(store, task, seeds)
                pipeline.draft(store, task, base, args.n, rng_seed=args.rng_seed,
                               sampling=task.base.replace(max_tokens=args.max_tokens))
                print(f"\n{task.name} ({', '.join(u.label for u in task.verifiers)})")
                print(f"  drafts: {rates(store, 'candidates', task.name)}")
            per_minute = {}
            for arm, retry_unverified in (("verifier retries", True),
                                          ("checks retries only", False)):
                db = Path(folder) / f"{name}-{arm.split()[0]}.db"
                shutil.copy(drafted, db)
                with Store(db) as store:
                    pipeline.refine(store, task, instruct, retries=args.retries,
                                    rng_seed=args.rng_seed, retry_unverified=retry_unverified,
                                    sampling=task.refine.replace(
                                        max_tokens=args.max_tokens))
                    measured = yields.measure(store, task.name)
                    broke = store.scalar("SELECT sum(refinement_broke_verified) FROM"
                                         " candidate_state WHERE task = ?", (task.name,))
                    per_minute[arm] = measured.verified_per_minute or 0.0
                    print(f"  {arm}: refinements {rates(store, 'refinements', task.name)}")
                    print(f"    refinements that broke a verified draft: {broke or 0}; "
                          f"usable items {measured.usable}, verified items "
                          f"{measured.verified} of {measured.candidates}, "
                          f"{per_minute[arm]:.2f} verified per minute")
            baseline = per_minute["checks retries only"]
            ratio = per_minute["verifier retries"] / baseline if baseline else float("nan")
            print(f"  verified items per minute, verifier retries / checks retries only: "
                  f"{ratio:.2f}")


if __name__ == "__main__":
    main()
