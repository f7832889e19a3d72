"""Generation jobs sharing one machine, through the real CLI and its worker processes.

Measured in one run, on one workspace, with the embedded base model:
1. the plain llama-cpp-python loop (`create_completion`, one sample at a time) in this
   process: the baseline;
2. today's job in this process (`pipeline.draft`, as `draft` ran before the worker):
   its tokens/s over the baseline is the overhead ratio to keep;
3. one `bare-tui draft` job alone (a CLI process, its worker doing the model work);
4. two `bare-tui draft` jobs started at once on two tasks of the same recipe in the same
   workspace: their tokens together over the wall time from the first start to the last
   finish. On a CPU they take turns through the machine's lease.
Optionally (`--without-lease`) the same pair with the lease off: the OpenMP threads of
the two processes then busy-wait against each other.

Job tokens/s are read from the workspace (`runs`: tokens over started..finished), so
process start-up and model loading are outside the window, as for the in-process job.

    python bench/concurrent_jobs.py [--samples 16] [--max-tokens 64] [--rounds 3]
                                    [--without-lease]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from draft_throughput import plain_loop  # noqa: E402

from bare_tui.config import load  # noqa: E402
from bare_tui.core.generation import model_files, pipeline  # noqa: E402
from bare_tui.core.generation.backends.llamacpp import LlamaCppBackend, LlamaOptions  # noqa: E402
from bare_tui.core.inputs import recipes  # noqa: E402
from bare_tui.core.inputs.seeds import import_seeds  # noqa: E402
from bare_tui.core.workspace.store import Store  # noqa: E402

SEEDS = ROOT / "data" / "seeds" / "gsm8k_train_200.jsonl"


def twin_recipe(folder: Path) -> Path:
    """The gsm8k recipe under another task name: the same work, a separate target."""
    source = recipes.builtin_source("gsm8k") or ""
    path = folder / "gsm8k_twin.toml"
    path.write_text(source.replace('name = "gsm8k"', 'name = "gsm8k_twin"', 1))
    return path


def workspace(folder: Path, recipe: Path) -> Path:
    db = folder / "bench.db"
    with Store(db) as store:
        import_seeds(store, recipes.resolve(store, "gsm8k"), SEEDS)
        import_seeds(store, recipes.resolve(store, str(recipe)), SEEDS)
    return db


def rate_of_runs(db: Path, run_ids: list[int]) -> tuple[int, float]:
    """Tokens of these runs and the seconds from the first start to the last finish."""
    marks = ",".join("?" * len(run_ids))
    with Store(db) as store:
        tokens, first, last = store.conn.execute(
            f"SELECT sum(completion_tokens), min(started_at), max(finished_at) FROM runs"
            f" WHERE id IN ({marks})", run_ids).fetchone()
    return int(tokens or 0), last - first


def new_runs(db: Path, since: int) -> list[int]:
    with Store(db) as store:
        return [r["id"] for r in store.query("SELECT id FROM runs WHERE id > ? AND"
                                             " kind = 'draft' ORDER BY id", (since,))]


def last_run(db: Path) -> int:
    with Store(db) as store:
        return store.scalar("SELECT coalesce(max(id), 0) FROM runs")


def cli_jobs(db: Path, jobs: list[tuple[str, int]], max_tokens: int, rng_seed: int,
             env: dict[str, str]) -> tuple[int, float, float]:
    """Start one `bare-tui draft` per (task, target) at once; (tokens, seconds, wall)."""
    since = last_run(db)
    started = time.perf_counter()
    processes = [subprocess.Popen(
        [sys.executable, "-m", "bare_tui", "draft", "--task", task, "-n", str(target),
         "--max-tokens", str(max_tokens), "--rng-seed", str(rng_seed), "--db", str(db)],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True) for task, target in jobs]
    for process in processes:
        _, err = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"bare-tui draft failed: {err.strip()[-500:]}")
    wall = time.perf_counter() - started
    tokens, seconds = rate_of_runs(db, new_runs(db, since))
    return tokens, seconds, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=16, help="samples per job")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--without-lease", action="store_true",
                        help="also run the pair with the lease off (slow: it shows why)")
    args = parser.parse_args()

    task = recipes.parse_recipe(recipes.builtin_source("gsm8k"))
    sampling = task.base.replace(max_tokens=args.max_tokens)
    model = model_files.resolve(None, "base", ROOT / "models", load().cache_dir)
    n = args.samples
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        recipe = twin_recipe(folder)
        db = workspace(folder, recipe)
        lease = {"BARE_TUI_LEASE": str(folder / "cpu.lock")}
        backend = LlamaCppBackend(model, LlamaOptions(ctx=2048, parallel=1))
        print(f"model {model.name}, CPU path: {backend.cpu_path.describe()}; "
              f"{n} samples x {args.max_tokens} max tokens per job, {os.cpu_count()} cores")
        with Store(db) as store:
            seeds = store.seeds("gsm8k")
        tokens, seconds = plain_loop(backend.llama, task, seeds, sampling, n, 11)
        plain = tokens / seconds
        print(f"1. plain create_completion loop:  {plain:7.1f} tok/s ({tokens} tok in "
              f"{seconds:.1f}s)")
        del backend

        # Rounds alternate the in-process job and one CLI job, to spread machine noise;
        # the median round of each is compared. Both load the model afresh (as `draft`
        # did before, and as the worker does), with the CLI's default options.
        today_rates, alone_rates = [], []
        target = 0
        for round_index in range(args.rounds):
            target += n
            parallel = LlamaCppBackend(model, LlamaOptions())
            with Store(db) as store:
                since = last_run(db)
                pipeline.draft(store, recipes.resolve(store, "gsm8k"), parallel, target,
                               sampling=sampling, rng_seed=100 + round_index)
            parallel.engine().close()
            del parallel
            tokens, seconds = rate_of_runs(db, new_runs(db, since))
            today_rates.append(tokens / seconds)
            target += n
            tokens, seconds, wall = cli_jobs(db, [("gsm8k", target)], args.max_tokens,
                                             200 + round_index, lease)
            alone_rates.append(tokens / seconds)
            print(f"round {round_index + 1}: in-process job {today_rates[-1]:.1f} tok/s, "
                  f"one CLI job {alone_rates[-1]:.1f} tok/s ({wall:.1f}s with start-up)")
        today, alone = statistics.median(today_rates), statistics.median(alone_rates)
        print(f"2. in-process job (before):       {today:7.1f} tok/s (median), "
              f"{today / plain:.2f}x the plain loop")
        print(f"3. one CLI job alone (worker):    {alone:7.1f} tok/s (median), "
              f"{alone / plain:.2f}x the plain loop")

        tokens, seconds, wall = cli_jobs(db, [("gsm8k", target + n), ("gsm8k_twin", n)],
                                         args.max_tokens, 13, lease)
        pair = tokens / seconds
        print(f"4. two CLI jobs at once:          {pair:7.1f} tok/s together ({tokens} tok "
              f"in {seconds:.1f}s; {wall:.1f}s with start-up)")
        if args.without_lease:
            tokens, seconds, wall = cli_jobs(db, [("gsm8k", target + 2 * n),
                                                  ("gsm8k_twin", 2 * n)],
                                             args.max_tokens, 14, {"BARE_TUI_LEASE": "off"})
            print(f"   the same pair, lease off:      {tokens / seconds:7.1f} tok/s together "
                  f"({tokens} tok in {seconds:.1f}s), ratio {tokens / seconds / alone:.2f}")

    print(f"\nratio two jobs together / one alone: {pair / alone:.2f} (target >= 0.8)")
    print(f"overhead ratio now / before: {(alone / plain) / (today / plain):.2f} "
          "(one CLI job vs the in-process job, each over the plain loop; target >= 0.95)")


if __name__ == "__main__":
    main()
