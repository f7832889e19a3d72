"""Commands that generate: draft, refine, run and demo.

The model work runs in a worker process (`bare_tui.worker`): a crash of llama.cpp ends
the job with a one-line cause, never this process, and committed samples are kept.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bare_tui.cli.common import (
    add_command,
    at_least,
    console,
    exit_status,
    graceful_stop,
    model_options,
    open_store,
    resolve_task,
    sampling_options,
    settings,
    workspace_options,
)
from bare_tui.cli.review import print_status
from bare_tui.core.generation.pipeline import DEFAULT_RETRIES
from bare_tui.core.workspace import yields
from bare_tui.errors import BareError
from bare_tui.jobs import Generate, Job
from bare_tui.text import clean

DEMO_MAX_TOKENS = 300  # keeps the first run short on a laptop CPU; override with --max-tokens
DEMO_FIRST = 3  # drafted before the review opens; the rest are made in the background
REFINE_UNPARSED = ("also refine drafts that did not parse, from their raw text (default: "
                   "skip them, as the paper does; recorded per refinement)")
REDRAFT = ("more attempts, each with new shots and a new recorded seed, at a draft that "
           "does not parse; all are kept, and a slot counts once toward -n (default 0)")
RETRIES = (f"more attempts, each with a new recorded seed, at a refinement that does not "
           f"parse, fails its checks or a verifier, or drifts from its draft; all are kept, "
           f"the best is proposed (default {DEFAULT_RETRIES})")
REFINE_IMPORTED = ("also refine items imported from a dataset (`candidates import`); by "
                   "default they are kept as they are: finished items, not drafts")


def overrides(sampling: Any, args: argparse.Namespace, stage: str) -> Any:
    """A stage's recipe sampling with the flags for that stage (or both) applied."""
    return sampling.replace(
        max_tokens=getattr(args, f"{stage}_max_tokens", None) or args.max_tokens,
        temperature=getattr(args, f"{stage}_temperature", None),
        constrain=getattr(args, "constrain_drafts" if stage == "draft"
                          else "constrain_refinements", None))


def _target(store: Any, task: Any, args: argparse.Namespace) -> int:
    from bare_tui.core.generation import pipeline

    if args.more is not None:
        return pipeline.count_candidates(store, task) + args.more
    if args.n is None:
        raise BareError("say how many: -n N (total for the task) or --more M")
    return args.n


def generate(store: Any, task: Any, args: argparse.Namespace, stop: Any, *,
             draft: bool, refine: bool, show_yield: bool = True) -> None:
    """Run the pipeline stages in a worker process, with one progress bar per stage,
    and (`show_yield`) the task's yield after them."""
    from bare_tui.core.generation import pipeline
    out = console(stderr=True)
    request = Generate(
        task=task.name, target=_target(store, task, args) if draft else None,
        refine=refine, refine_limit=getattr(args, "limit", None),
        refine_unparsed=getattr(args, "refine_unparsed", False),
        refine_imported=getattr(args, "refine_imported", False),
        retries=getattr(args, "retries", DEFAULT_RETRIES),
        redraft=getattr(args, "redraft", 0),
        base=overrides(task.base, args, "draft"),
        refine_sampling=overrides(task.refine, args, "refine"), rng_seed=args.rng_seed)
    results = run_with_progress(settings(args), request, task, stop)
    if not results:
        out.print("nothing to do: the task has its candidates and every draft is refined")
    skipped = pipeline.unparsed_unrefined(store, task) if refine else 0
    if skipped and not request.refine_unparsed:
        out.print(f"refine: {skipped} drafts that did not parse were not refined (as in the "
                  "paper: refining them would write new items from scratch); "
                  "--refine-unparsed refines their raw text", soft_wrap=True)
    for result in results:
        if result.status == "cancelled":
            out.print(f"{result.kind}: stopped after {result.produced} of "
                      f"{result.planned}; rerun the same command to continue", style="yellow")
    if results and show_yield:
        print_yield(store, task)


def run_with_progress(conf: Any, job: Job, task: Any, stop: Any) -> list[Any]:
    """Run a job in a worker process, with one progress bar per stage."""
    from bare_tui.progress import JobProgress
    from bare_tui.worker import Listener, run_job

    out = console(stderr=True)
    stage: list[JobProgress] = []

    def on_stage(kind: str, planned: int, where: str) -> None:
        if stage:
            stage.pop().__exit__(None, None, None)
        out.print(f"{kind}: {planned} samples on {clean(where)}")
        stage.append(JobProgress(out, f"{kind} {task.name}", planned).__enter__())

    listener = Listener(on_note=lambda text: out.print(clean(text), soft_wrap=True),
                        on_stage=on_stage, on_sample=lambda sample: stage[-1](sample))
    try:
        return run_job(conf, job, listener, stop)
    finally:
        if stage:
            stage.pop().__exit__(None, None, None)


def print_yield(store: Any, task: Any) -> None:
    for line in yields.measure(store, task.name).lines():
        console(stderr=True).print(f"yield: {line}")


def _pipeline_command(draft: bool, refine: bool) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        out = console(stderr=True)
        with open_store(args, create=draft) as store:
            store.mark_interrupted_runs()
            task = resolve_task(store, args)
            with graceful_stop(out) as stop:
                generate(store, task, args, stop, draft=draft, refine=refine)
            if settings(args).auto_embed:
                from bare_tui.core.measures import embeddings

                count = embeddings.embed(store, task, settings(args).embedder)
                out.print(f"embed: {count} new or changed texts")
            print_status(store, task)
        return exit_status(stop)

    return command


def _demo_seeds() -> Path:
    name = Path("data/seeds/gsm8k_train_200.jsonl")
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (root / name).is_file():
            return root / name
    raise BareError(f"demo seed file {name} not found; run from the bare-tui checkout")


DEMO_INTRO = (
    "BARE makes fine-tuning data in two steps: a base model drafts diverse candidates "
    "from a few examples, and an instruct model refines each one. You review each draft "
    "beside its refinement, accept or reject it with one key, and export what you accept.")
EMBEDDED_NOTE = (
    "These two are tiny, to prove the setup offline, not to make data worth training on: "
    "give real models with --base/--instruct, or a serving engine with --server.")


def demo_intro(args: argparse.Namespace, target: int) -> list[str]:
    """What the demo does, with which models, where they run, and how time is told."""
    from bare_tui.core.generation import model_files

    conf = settings(args)
    lines = [DEMO_INTRO, ""]
    local = []
    for role, does in (("base", "drafts"), ("instruct", "refines")):
        server = conf.server_for(role)
        if server:
            lines.append(f"{role}: {getattr(conf, role) or 'the first model listed'}, "
                         f"served by {server}; it {does}")
            continue
        model = model_files.resolve(getattr(conf, role), role, conf.models_dir, conf.cache_dir)
        local.append(model.origin == "embedded")
        lines.append(f"{role}: {model.name} ({model.size_bytes / 1e6:.0f} MB GGUF, "
                     f"llama.cpp); it {does}")
    if local:
        where = ("the GPU" if conf.gpu_layers != 0 and model_files.gpu_offload_available()
                 else f"this machine's CPU ({conf.threads or os.cpu_count()} threads)")
        lines.append(f"where: {where}")
    if local and all(local):
        lines += ["", EMBEDDED_NOTE]
    lines += ["", f"{target} candidates: each stage's bar shows its time left, measured "
              "from the samples made so far."]
    return lines


def cmd_demo(args: argparse.Namespace) -> int:
    from bare_tui.cli.review import export_and_say, open_review
    from bare_tui.core.generation import pipeline
    from bare_tui.core.inputs.seeds import import_seeds

    out = console(stderr=True)
    interactive = sys.stdin.isatty() and sys.stdout.isatty() and not args.headless
    args.task = args.task or "gsm8k"
    target = args.n
    for line in demo_intro(args, target):
        out.print(clean(line), markup=False, highlight=False)
    with open_store(args, create=True) as store:
        store.mark_interrupted_runs()
        task = resolve_task(store, args)
        result = import_seeds(store, task, _demo_seeds())
        out.print(f"seeds: {result.added} new, {result.duplicates} already present")
        if interactive:
            args.n = min(DEMO_FIRST, target)
        with graceful_stop(out) as stop:
            generate(store, task, args, stop, draft=True, refine=True,
                     show_yield=interactive)
        remaining = target - pipeline.count_candidates(store, task)
        if not interactive or stop.is_set():
            print_status(store, task)
        if stop.is_set():  # no review, no export: rerun `bare-tui demo` to continue
            return exit_status(stop)
    if interactive:
        return open_review(args, task, generate=max(0, remaining), target=target)
    # The demo's export is its own output: a rerun replaces it.
    status = export_and_say(args, args.out, profile=args.profile, status="any", force=True,
                            rng_seed=args.rng_seed or 0, embed=True)
    with open_store(args) as store:
        print_yield(store, task)  # the last word: how much of what was made is usable
    return status


def register(sub: Any) -> None:
    ws, mo, sa = workspace_options(), model_options(), sampling_options()
    for name, func, text, examples in (
        ("draft", _pipeline_command(draft=True, refine=False),
         "draft candidates with the base model (raw completion)",
         "bare-tui draft -n 100 --task gsm8k\n  bare-tui draft --more 50 --max-tokens 400"),
        ("run", _pipeline_command(draft=True, refine=True),
         "draft with the base model, then refine every new draft",
         "bare-tui run -n 100 --task gsm8k\n  nohup bare-tui run -n 5000 > run.log 2>&1 &\n"
         "  bare-tui run -n 200 --draft-temperature 1.0 --refine-max-tokens 400 --rng-seed 7\n"
         "  bare-tui run -n 5000 --server http://gpu-box:8000 --base Qwen/Qwen2.5-7B "
         "--instruct Qwen/Qwen2.5-7B-Instruct --concurrency 64"),
    ):
        p = add_command(sub, name, func, text, [ws, mo, sa], examples)
        p.add_argument("-n", type=at_least(0), help="target number of candidates for the "
                       "task; rerunning continues up to it, and jobs running at once share it")
        p.add_argument("--more", type=at_least(0),
                       help="draft this many more than the task has now")
        p.add_argument("--redraft", type=at_least(0), default=0, help=REDRAFT)
        if name == "run":
            p.add_argument("--limit", type=at_least(0), help=argparse.SUPPRESS)
            p.add_argument("--refine-unparsed", action="store_true", help=REFINE_UNPARSED)
            p.add_argument("--refine-imported", action="store_true", help=REFINE_IMPORTED)
            p.add_argument("--retries", type=at_least(0), default=DEFAULT_RETRIES, help=RETRIES)
    ref = add_command(sub, "refine", _pipeline_command(draft=False, refine=True),
                      "refine, with the instruct model, every draft that has no refinement",
                      [ws, mo, sa],
                      "bare-tui refine\n  bare-tui refine --limit 10 --instruct "
                      "models/my-chat.gguf")
    ref.add_argument("--limit", type=at_least(0), help="refine at most this many drafts")
    ref.add_argument("--refine-unparsed", action="store_true", help=REFINE_UNPARSED)
    ref.add_argument("--refine-imported", action="store_true", help=REFINE_IMPORTED)
    ref.add_argument("--retries", type=at_least(0), default=DEFAULT_RETRIES, help=RETRIES)

    demo = add_command(sub, "demo", cmd_demo, "import the GSM8K sample seeds, draft and refine "
                       "candidates with the embedded models, and open the review (more are "
                       "made in the background); headless, export them instead",
                       [workspace_options(), model_options(), sampling_options()],
                       "bare-tui demo\n  bare-tui demo -n 20 --max-tokens 300\n"
                       "  bare-tui demo --headless")
    demo.add_argument("-n", type=at_least(1), default=8, help="candidates to have (default 8)")
    demo.add_argument("--retries", type=at_least(0), default=DEFAULT_RETRIES, help=RETRIES)
    demo.add_argument("--redraft", type=at_least(0), default=0, help=REDRAFT)
    demo.add_argument("--more", type=int, help=argparse.SUPPRESS)
    demo.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    demo.add_argument("--out", default="data/demo.jsonl", help="export file (default "
                      "data/demo.jsonl)")
    demo.add_argument("--profile", default="chat", help=argparse.SUPPRESS)
    demo.add_argument("--headless", action="store_true",
                      help="no review screen: generate all, then export (the default when "
                      "not on a terminal)")
    # Its own option objects (fresh parents), so this default stays the demo's alone.
    demo.set_defaults(max_tokens=DEMO_MAX_TOKENS)
