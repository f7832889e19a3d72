"""Drafting throughput: bare-tui's `draft` job vs a plain llama-cpp-python loop.

Part 1, pipeline overhead: with `--parallel 1` both sides use the same loaded model, the
same prompts, the same per-sample seeds and the same token budget, so they generate the
same tokens; the difference is the pipeline's own cost (prompt building, parsing,
checks, one SQLite transaction per sample). Rounds alternate between the two to spread
machine noise; the median round of each is compared.

Part 2, parallel decoding: `bare-tui draft --parallel N` for each N against the plain
sequential loop, measured in the same run on the same prompts and token budget (the
samples differ: sequences decoded together round differently), with the shared prompt
prefix taken from the KV cache (sharing on) and with every prompt evaluated whole
(sharing off). Shots are static by default, as the recipe's `[shots] selection =
"static"` makes them: every prompt is the same few-shot prefix (`--shots random` draws
them per sample, as the gsm8k recipe does).

    python bench/draft_throughput.py [--samples 8] [--max-tokens 128] [--rounds 3]
                                     [--parallel 1,16,24,32] [--parallel-samples 64]
                                     [--shots static] [--sharing on,off]
    python bench/draft_throughput.py --rounds 0 --parallel 16,32   # part 2 only
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bare_tui.config import load  # noqa: E402
from bare_tui.core.generation import model_files, pipeline  # noqa: E402
from bare_tui.core.generation.backends.llamacpp import LlamaCppBackend, LlamaOptions  # noqa: E402
from bare_tui.core.inputs import prompts, recipes  # noqa: E402
from bare_tui.core.inputs.seeds import import_seeds  # noqa: E402
from bare_tui.core.workspace.store import Store  # noqa: E402

SEEDS = ROOT / "data" / "seeds" / "gsm8k_train_200.jsonl"


def plain_loop(llama, task, seeds, sampling, samples: int, rng_seed: int) -> tuple[int, float]:
    """What a user would write by hand: create_completion in a loop."""
    rng = random.Random(rng_seed)
    tokens = 0
    started = time.perf_counter()
    for _ in range(samples):
        shots = pipeline.select_shots(task, seeds, rng)
        seed = pipeline._new_seed(rng)
        out = llama.create_completion(
            prompts.base_prompt(task, [s["fields"] for s in shots]),
            max_tokens=sampling.max_tokens, temperature=sampling.temperature,
            top_p=sampling.top_p, top_k=sampling.top_k, min_p=sampling.min_p,
            repeat_penalty=sampling.repeat_penalty, stop=list(sampling.stop), seed=seed,
        )
        tokens += out["usage"]["completion_tokens"]
    return tokens, time.perf_counter() - started


def bare_tui_draft(backend, task, sampling, samples: int, rng_seed: int) -> tuple[int, float]:
    """Tokens and seconds of one `draft` job into a fresh workspace."""
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "bench.db") as store:
        recipes.resolve(store, task.name)
        import_seeds(store, task, SEEDS)
        started = time.perf_counter()
        pipeline.draft(store, task, backend, samples, sampling=sampling, rng_seed=rng_seed)
        elapsed = time.perf_counter() - started
        tokens = store.scalar("SELECT sum(completion_tokens) FROM candidates")
    return tokens, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--base", default=None, help="base model (default: embedded)")
    parser.add_argument("--parallel", default="1,16,24,32",
                        help="comma-separated sequence counts for part 2 ('' skips it)")
    parser.add_argument("--parallel-samples", type=int, default=64)
    parser.add_argument("--shots", choices=("static", "random"), default="static")
    parser.add_argument("--sharing", default="on,off",
                        help="prefix sharing in part 2: on, off or both (on,off)")
    args = parser.parse_args()

    task = dataclasses.replace(recipes.parse_recipe(recipes.builtin_source("gsm8k")),
                               shot_selection=args.shots)
    sampling = task.base.replace(max_tokens=args.max_tokens)
    model = model_files.resolve(args.base, "base", ROOT / "models", load().cache_dir)
    backend = LlamaCppBackend(model, LlamaOptions(ctx=2048, parallel=1))
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "s.db") as store:
        import_seeds(store, recipes.resolve(store, "gsm8k"), SEEDS)
        seeds = store.seeds("gsm8k")

    print(f"model {backend.model.name} on {backend.describe()['device']}, "
          f"{backend.threads} threads, {args.shots} shots, {args.samples} samples x "
          f"{args.max_tokens} max tokens, {args.rounds} rounds")
    baseline_rates, ours_rates = [], []
    if not args.rounds:
        parallel_part(backend, model, task, sampling, seeds, args)
        return
    for round_index in range(args.rounds):
        rng_seed = 1000 + round_index
        base_tokens, base_s = plain_loop(backend.llama, task, seeds, sampling, args.samples,
                                         rng_seed)
        our_tokens, our_s = bare_tui_draft(backend, task, sampling, args.samples, rng_seed)
        baseline_rates.append(base_tokens / base_s)
        ours_rates.append(our_tokens / our_s)
        print(f"round {round_index + 1}: plain loop {base_tokens} tok in {base_s:.2f}s "
              f"= {base_tokens / base_s:.1f} tok/s | bare-tui draft {our_tokens} tok in "
              f"{our_s:.2f}s = {our_tokens / our_s:.1f} tok/s")
    baseline, ours = statistics.median(baseline_rates), statistics.median(ours_rates)
    print(f"plain create_completion loop: {baseline:.1f} tok/s (median)")
    print(f"bare-tui draft:               {ours:.1f} tok/s (median)")
    print(f"ratio bare-tui / plain: {ours / baseline:.3f}")
    if args.parallel:
        parallel_part(backend, model, task, sampling, seeds, args)


def parallel_part(sequential, model, task, sampling, seeds, args) -> None:
    counts = [int(n) for n in args.parallel.split(",")]
    samples = args.parallel_samples
    print(f"\nparallel decoding: {samples} samples x {args.max_tokens} max tokens")
    base_tokens, base_s = plain_loop(sequential.llama, task, seeds, sampling, samples, 7)
    baseline = base_tokens / base_s
    print(f"plain create_completion loop: {baseline:.1f} tok/s ({base_tokens} tok in "
          f"{base_s:.1f}s)")
    best: dict[bool, float] = {}
    for count in counts:
        for sharing in [part == "on" for part in args.sharing.split(",")]:
            if count == 1 and not sharing:
                continue
            backend = sequential if count == 1 else LlamaCppBackend(
                model, LlamaOptions(ctx=2048, parallel=count, share_prefix=sharing))
            tokens, seconds = bare_tui_draft(backend, task, sampling, samples, 7)
            rate = tokens / seconds
            if count > 1:
                best[sharing] = max(best.get(sharing, 0.0), rate / baseline)
            print(f"bare-tui draft --parallel {count:>2}, prefix sharing "
                  f"{'on ' if sharing else 'off'}: {rate:6.1f} tok/s ({tokens} tok in "
                  f"{seconds:.1f}s), ratio {rate / baseline:.2f}")
            if backend is not sequential:
                backend.engine().close()
    for sharing, ratio in best.items():
        print(f"best parallel ratio vs the plain loop, prefix sharing "
              f"{'on' if sharing else 'off'}: {ratio:.2f}")


if __name__ == "__main__":
    main()
