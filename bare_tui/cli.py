"""Command-line entry point: every pipeline step as a headless command.

User mistakes end in one line on stderr (`error: ...`) and exit status 1, never a
traceback. Heavy libraries load only inside the commands that need them.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bare_tui import __version__
from bare_tui.errors import BareError

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130
DEMO_MAX_TOKENS = 300  # keeps the first run short on a laptop CPU; override with --max-tokens


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


# --- shared options -----------------------------------------------------------------

def _workspace_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("workspace")
    group.add_argument("--db", help="workspace database (default data/bare.db, or $BARE_TUI_DB)")
    group.add_argument("--config", help="config file (default ./bare-tui.toml or "
                       "~/.config/bare-tui/config.toml)")
    group.add_argument("--task", help="built-in task name, task in the workspace, or path to a "
                       "recipe .toml (default: the workspace's only task)")
    return parent


def _model_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("models")
    group.add_argument("--base", help="base model: embedded name, GGUF path, or file in models/ "
                       "(default: embedded Gemma 3 270M)")
    group.add_argument("--instruct", help="instruct model, same forms "
                       "(default: embedded SmolLM2-135M-Instruct)")
    group.add_argument("--gpu-layers", type=int,
                       help="layers to offload to the GPU (-1 all; default all when this "
                       "llama.cpp build can offload, else 0)")
    group.add_argument("--ctx", type=int, help="context length in tokens (default 4096)")
    group.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    group.add_argument("--parallel", type=int,
                       help="sequences decoded at once (default 16 on CPU, 64 with GPU offload;"
                       " 1 = one at a time)")
    served = parent.add_argument_group("serving engine (instead of local GGUF models)")
    served.add_argument("--server", metavar="URL",
                        help="OpenAI-compatible engine (vLLM, llama-server, SGLang) for both"
                        " roles; --base/--instruct then name served models (default: the"
                        " first listed); API key from $BARE_TUI_API_KEY")
    served.add_argument("--base-server", metavar="URL", help="engine for the base model only")
    served.add_argument("--instruct-server", metavar="URL",
                        help="engine for the instruct model only")
    served.add_argument("--concurrency", type=int, help="requests in flight (default 8)")
    return parent


def _sampling_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("sampling (override the recipe)")
    group.add_argument("--max-tokens", type=int, help="token budget per sample")
    group.add_argument("--temperature", type=float, help="sampling temperature")
    group.add_argument("--rng-seed", type=int,
                       help="master seed for shot choice and per-sample seeds (default random)")
    return parent


def _settings(args: argparse.Namespace):
    from bare_tui import config

    return config.load(
        getattr(args, "config", None), db=getattr(args, "db", None),
        base=getattr(args, "base", None), instruct=getattr(args, "instruct", None),
        gpu_layers=getattr(args, "gpu_layers", None), ctx=getattr(args, "ctx", None),
        threads=getattr(args, "threads", None), parallel=getattr(args, "parallel", None),
        server=getattr(args, "server", None), base_server=getattr(args, "base_server", None),
        instruct_server=getattr(args, "instruct_server", None),
        concurrency=getattr(args, "concurrency", None),
    )


def _open(args: argparse.Namespace):
    from bare_tui.core.store import Store

    return Store(_settings(args).db)


def _task(store: Any, args: argparse.Namespace):
    from bare_tui.core import tasks

    return tasks.resolve(store, args.task)


# --- commands -----------------------------------------------------------------------

def cmd_tasks(args: argparse.Namespace) -> int:
    from bare_tui.core import tasks

    if args.name:
        source = tasks.builtin_source(args.name)
        if source is None:
            raise BareError(f"unknown built-in task {args.name!r} "
                            f"(built-ins: {', '.join(tasks.builtin_names())})")
        print(source, end="")
        return 0
    from rich.table import Table

    table = Table("task", "fields", "shots", "describes")
    for name in tasks.builtin_names():
        task = tasks.parse_recipe(tasks.builtin_source(name) or "", origin=name)
        table.add_row(name, ", ".join(task.field_names),
                      f"{task.shot_count} {task.shot_selection}", task.thing)
    _console().print(table)
    return 0


def cmd_seeds_import(args: argparse.Namespace) -> int:
    from bare_tui.core.seeds import import_seeds, parse_mapping

    mapping = parse_mapping(args.map or [])
    with _open(args) as store:
        task = _task(store, args)
        result = import_seeds(store, task, args.file, mapping)
    dup = f" ({result.duplicates} already present, skipped)" if result.duplicates else ""
    _console().print(f"imported {result.added} seeds into task {task.name}{dup}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from rich.table import Table
    from rich.text import Text

    from bare_tui.core import models

    settings = _settings(args)
    offload = models.gpu_offload_available()
    runs_on = ("GPU: all layers offloaded by default, flash attention on" if offload
               else "no GPU offload in this llama.cpp build: models run on the CPU")
    table = Table("name", "role", "size", "architecture", "context", "chat template",
                  "sha256", "path", title=runs_on)
    defaults = {"base": settings.base, "instruct": settings.instruct}
    chosen = {role: models.resolve(spec, role, settings.models_dir).path
              for role, spec in defaults.items()}
    for model in models.all_models(settings.models_dir):
        try:
            model.metadata  # noqa: B018 - a file that is not GGUF is listed with its error
        except BareError as exc:
            table.add_row(model.name, "-", _size(model.size_bytes), Text(str(exc), style="red"),
                          "", "", "", str(model.path))
            continue
        roles = [role for role, path in chosen.items() if path == model.path]
        role = ", ".join(f"{r} (in use)" for r in roles) or (model.default_role or "-")
        table.add_row(model.name, role, _size(model.size_bytes), model.architecture,
                      str(model.context_length or "?"),
                      "yes" if model.has_chat_template else "no",
                      model.sha256[:12], str(model.path))
    _console().print(table)
    return 0


def _size(num: int) -> str:
    return f"{num / 1e6:.0f} MB" if num < 1e9 else f"{num / 1e9:.2f} GB"


@contextmanager
def _graceful_stop(console: Any) -> Iterator[threading.Event]:
    """First Ctrl-C: finish the current sample, then stop. Second: stop at once."""
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        console.print("[yellow]stopping after the current sample (Ctrl-C again to stop now)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def _overrides(sampling: Any, args: argparse.Namespace) -> Any:
    return sampling.replace(max_tokens=args.max_tokens, temperature=args.temperature)


def _target(store: Any, task: Any, args: argparse.Namespace) -> int:
    from bare_tui.core import pipeline

    if args.more is not None:
        return pipeline.count_candidates(store, task) + args.more
    if args.n is None:
        raise BareError("say how many: -n N (total for the task) or --more M")
    return args.n


def _generate(store: Any, task: Any, args: argparse.Namespace, stop: threading.Event, *,
              draft: bool, refine: bool) -> None:
    """Run the pipeline stages with one progress bar per stage."""
    from bare_tui.core import pipeline
    from bare_tui.core.backends.loading import open_backend
    from bare_tui.progress import JobProgress

    console = _console(stderr=True)
    settings = _settings(args)
    target = _target(store, task, args) if draft else None
    stage: list[JobProgress] = []

    def on_stage(kind: str, planned: int, where: str) -> None:
        if stage:
            stage.pop().__exit__(None, None, None)
        console.print(f"{kind}: {planned} samples on {where}")
        stage.append(JobProgress(console, f"{kind} {task.name}", planned).__enter__())

    try:
        results = pipeline.generate(
            store, task, lambda role: open_backend(role, settings), target,
            refine_after=refine, refine_limit=getattr(args, "limit", None),
            base=_overrides(task.base, args), refine_sampling=_overrides(task.refine, args),
            rng_seed=args.rng_seed, on_sample=lambda sample: stage[-1](sample),
            on_stage=on_stage, stop=stop,
        )
    finally:
        if stage:
            stage.pop().__exit__(None, None, None)
    if not results:
        console.print("nothing to do: the task has its candidates and every draft is refined")
    for result in results:
        if result.status == "cancelled":
            console.print(f"[yellow]{result.kind}: stopped after {result.produced} of "
                          f"{result.planned}; rerun the same command to continue")


def _pipeline_command(draft: bool, refine: bool) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        console = _console(stderr=True)
        with _open(args) as store:
            store.mark_interrupted_runs()
            task = _task(store, args)
            with _graceful_stop(console) as stop:
                _generate(store, task, args, stop, draft=draft, refine=refine)
            settings = _settings(args)
            if settings.auto_embed:
                from bare_tui.core import embeddings

                count = embeddings.embed(store, task, settings.embedding_model)
                console.print(f"embed: {count} new or changed texts")
            _print_status(store, task)
        return 0

    return command


cmd_draft = _pipeline_command(draft=True, refine=False)
cmd_refine = _pipeline_command(draft=False, refine=True)
cmd_run = _pipeline_command(draft=True, refine=True)


def _print_status(store: Any, task: Any) -> None:
    from rich.table import Table

    from bare_tui.core.review import status_counts

    counts = status_counts(store, task.name)
    table = Table(title=f"task {task.name} in {store.path}", show_header=False)
    for key, value in counts.items():
        table.add_row(key.replace("_", " "), str(value))
    _console().print(table)


def cmd_status(args: argparse.Namespace) -> int:
    with _open(args) as store:
        _print_status(store, _task(store, args))
    return 0


def _decide(action: str) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        from bare_tui.core import review

        settings = _settings(args)
        reviewer = args.reviewer or settings.reviewer
        chosen = "accept_draft" if action == "accept" and args.draft else action
        with _open(args) as store:
            review.decide(store, args.ids, chosen, reviewer, reason=getattr(args, "reason", None))
        verb = {"accept": "accepted", "accept_draft": "accepted (draft)",
                "reject": "rejected"}[chosen]
        _console().print(f"{verb}: {', '.join(map(str, args.ids))}")
        return 0

    return command


def _history(action: str) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        from bare_tui.core import review

        reviewer = args.reviewer or _settings(args).reviewer
        with _open(args) as store:
            touched = getattr(review, action)(store, reviewer)
        if not touched:
            _console().print(f"nothing to {action} for reviewer {reviewer}")
        else:
            _console().print(f"{action}: candidates {', '.join(map(str, touched))}")
        return 0

    return command


def cmd_export(args: argparse.Namespace) -> int:
    from bare_tui.core.export import export

    with _open(args) as store:
        task = _task(store, args)
        result = export(store, task, args.out, profile=args.profile, status=args.status,
                        include_invalid=args.include_invalid)
    skipped = result.skipped_invalid + result.skipped_unparsed
    note = (f" (skipped {result.skipped_invalid} failing validation, "
            f"{result.skipped_unparsed} unparsed)") if skipped else ""
    _console().print(f"wrote {result.written} items to {result.path}{note}; "
                     f"manifest {result.manifest_path}")
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    from bare_tui.core import embeddings
    from bare_tui.core.meter import Meter

    console = _console(stderr=True)
    args.model = args.model or _settings(args).embedding_model
    with _open(args) as store:
        task = _task(store, args)
        todo = len(embeddings.missing(store, task, embeddings.model_name(args.model)))
        if not todo:
            console.print("embed: every text already has its embedding")
            return 0
        console.print(f"embed: {todo} new or changed texts with "
                      f"{embeddings.model_name(args.model)}")
        meter = Meter("embed", todo)
        from rich.progress import Progress

        with Progress(console=console, transient=True) as progress:
            bar = progress.add_task("embed", total=todo)

            def on_batch(done: int, total: int) -> None:
                meter.done = done
                progress.update(bar, completed=done)

            embeddings.embed(store, task, args.model, on_batch=on_batch)
        console.print(f"embed: {meter.done}/{todo} texts, "
                      f"{meter.done / meter.elapsed:.1f} texts/s")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from bare_tui.core import curation, diversity

    console = _console()
    with _open(args) as store:
        task = _task(store, args)
        results = curation.stats(store, task, args.model, bins=args.bins)
        console.print(f"BARE diversity of task {task.name}: mean pairwise cosine similarity "
                      "of the embeddings (lower = more diverse)")
        for name, result in results.items():
            if result is None:
                console.print(f"\n{name}: fewer than 2 embedded items")
                continue
            how = (f"histogram from a sample of {result.pairs:,} pairs: mean "
                   f"{result.sample_mean:.4f} ± {3 * result.sample_stderr:.4f} (3 SE)"
                   if result.sampled else f"histogram of all {result.pairs:,} pairs")
            console.print(f"\n[bold]{name}[/]: {result.size} items, mean similarity "
                          f"{result.mean_similarity:.4f} (exact); {how}")
            if args.histogram:
                console.print(diversity.histogram_text(result), highlight=False, markup=False)
        clusters = curation.cluster_table(store, task)
        if clusters:
            console.print("\nclusters: " + ", ".join(
                f"{c['cluster']}: {c['size']}" for c in clusters))
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    from rich.table import Table

    from bare_tui.core import curation
    from bare_tui.tui.safe import clean

    reviewer = args.reviewer or _settings(args).reviewer
    with _open(args) as store:
        task = _task(store, args)
        if args.accept is not None or args.reject is not None:
            cluster = args.accept if args.accept is not None else args.reject
            action = "accept" if args.accept is not None else "reject"
            members = curation.decide_cluster(store, task, cluster, action, reviewer)
            _console().print(f"{action}ed cluster {cluster}: {len(members)} candidates "
                             "(bare-tui undo reverts it)")
            return 0
        curation.recluster(store, task, args.k, args.model)
        table = Table("cluster", "size", "accepted", "rejected", "pending", "label",
                      "representative", title=f"clusters of task {task.name}")
        for row in curation.cluster_table(store, task):
            table.add_row(str(row["cluster"]), str(row["size"]), str(row["accepted"]),
                          str(row["rejected"]), str(row["pending"]), clean(row["label"]),
                          f"#{row['representative_id']}")
        _console().print(table)
    return 0


def cmd_dedup(args: argparse.Namespace) -> int:
    from bare_tui.core import curation

    reviewer = args.reviewer or _settings(args).reviewer
    with _open(args) as store:
        task = _task(store, args)
        rejected = curation.dedup(store, task, reviewer, args.threshold, model=args.model,
                                  dry_run=args.dry_run)
    verb = "would reject" if args.dry_run else "rejected"
    for candidate_id, reason in rejected.items():
        _console().print(f"#{candidate_id}: {reason}", markup=False)
    _console().print(f"{verb} {len(rejected)} near-duplicates (threshold {args.threshold})"
                     + ("" if args.dry_run or not rejected else "; bare-tui undo reverts it"))
    return 0


def _demo_seeds() -> Path:
    name = Path("data/seeds/gsm8k_train_200.jsonl")
    for root in (Path.cwd(), Path(__file__).resolve().parents[1]):
        if (root / name).is_file():
            return root / name
    raise BareError(f"demo seed file {name} not found; run from the bare-tui checkout")


def _open_review(args: argparse.Namespace, task: Any, generate: int = 0) -> int:
    from bare_tui.tui.app import BareApp

    BareApp(_settings(args), task, generate=generate,
            max_tokens=getattr(args, "max_tokens", None)).run()
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    with _open(args) as store:
        store.mark_interrupted_runs()
        task = _task(store, args)
    return _open_review(args, task)


DEMO_FIRST = 3  # drafted before the review opens; the rest are made in the background


def cmd_demo(args: argparse.Namespace) -> int:
    from bare_tui.core import pipeline, tasks
    from bare_tui.core.seeds import import_seeds

    console = _console(stderr=True)
    interactive = sys.stdin.isatty() and sys.stdout.isatty() and not args.headless
    args.task = args.task or "gsm8k"
    target = args.n
    with _open(args) as store:
        store.mark_interrupted_runs()
        task = tasks.resolve(store, args.task)
        result = import_seeds(store, task, _demo_seeds())
        console.print(f"seeds: {result.added} new, {result.duplicates} already present")
        if interactive:
            args.n = min(DEMO_FIRST, target)
        with _graceful_stop(console) as stop:
            _generate(store, task, args, stop, draft=True, refine=True)
        remaining = target - pipeline.count_candidates(store, task)
        if not interactive:
            _print_status(store, task)
    if interactive:
        return _open_review(args, task, generate=max(0, remaining))
    args.status, args.include_invalid = "any", False
    return cmd_export(args)


# --- parser ---------------------------------------------------------------------------

EXAMPLES = {
    "tasks": "bare-tui tasks\n  bare-tui tasks gsm8k > my_recipe.toml",
    "seeds import": "bare-tui seeds import data/seeds/gsm8k_train_200.jsonl --task gsm8k\n"
                    "  bare-tui seeds import problems.csv --task gsm8k "
                    "--map question=problem --map answer=solution",
    "models": "bare-tui models\n  bare-tui models --base models/my-base.gguf",
    "draft": "bare-tui draft -n 100 --task gsm8k\n  bare-tui draft --more 50 --max-tokens 400",
    "refine": "bare-tui refine\n  bare-tui refine --limit 10 --instruct models/my-chat.gguf",
    "run": "bare-tui run -n 100 --task gsm8k\n  nohup bare-tui run -n 5000 > run.log 2>&1 &\n"
           "  bare-tui run -n 5000 --server http://gpu-box:8000 --base Qwen/Qwen2.5-7B "
           "--instruct Qwen/Qwen2.5-7B-Instruct --concurrency 64",
    "accept": "bare-tui accept 3 4 5\n  bare-tui accept 7 --draft",
    "reject": "bare-tui reject 8 --reason 'wrong arithmetic'",
    "undo": "bare-tui undo",
    "redo": "bare-tui redo",
    "status": "bare-tui status --task gsm8k",
    "export": "bare-tui export out/train.jsonl --profile chat\n"
              "  bare-tui export all.jsonl --profile fields --status any",
    "demo": "bare-tui demo\n  bare-tui demo -n 20 --max-tokens 300\n  bare-tui demo --headless",
    "review": "bare-tui\n  bare-tui review --db data/bare.db --task gsm8k",
    "embed": "bare-tui embed\n  bare-tui embed --model /models/my-sentence-model",
    "stats": "bare-tui stats\n  bare-tui stats --histogram --bins 12",
    "cluster": "bare-tui cluster\n  bare-tui cluster -k 8\n  bare-tui cluster --reject 3",
    "dedup": "bare-tui dedup --dry-run\n  bare-tui dedup --threshold 0.9",
}


def _add(sub: Any, name: str, func: Callable, help_text: str, parents: list) -> Any:
    parser = sub.add_parser(
        name.split()[-1], help=help_text, description=help_text, parents=parents,
        epilog=f"examples:\n  {EXAMPLES[name]}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=func)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bare-tui",
        description="Make fine-tuning datasets with BARE: a base model drafts diverse "
        "candidates, an instruct model refines each one, you curate and export JSONL.",
        epilog="examples:\n  bare-tui demo\n  bare-tui seeds import seeds.jsonl --task gsm8k\n"
        "  bare-tui run -n 200\n  bare-tui export train.jsonl --profile chat",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"bare-tui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    ws, mo, sa = _workspace_options(), _model_options(), _sampling_options()

    tasks_parser = _add(sub, "tasks", cmd_tasks, "list built-in task recipes, or print one",
                        [])
    tasks_parser.add_argument("name", nargs="?", help="print this built-in recipe's TOML")

    seeds = sub.add_parser("seeds", help="manage seed examples",
                           description="manage seed examples")
    seeds_sub = seeds.add_subparsers(dest="seeds_command", metavar="ACTION", required=True)
    imp = _add(seeds_sub, "seeds import", cmd_seeds_import,
               "import seed examples from JSONL or CSV (all or nothing)", [ws])
    imp.add_argument("file", help="a .jsonl or .csv (.tsv) file, one example per line/row")
    imp.add_argument("--map", action="append", metavar="FIELD=COLUMN",
                     help="take FIELD from COLUMN of the file (repeatable)")

    _add(sub, "models", cmd_models, "list models: embedded defaults and GGUF files in models/",
         [ws, mo])

    for name, func, text in (
        ("draft", cmd_draft, "draft candidates with the base model (raw completion)"),
        ("run", cmd_run, "draft with the base model, then refine every new draft"),
    ):
        p = _add(sub, name, func, text, [ws, mo, sa])
        p.add_argument("-n", type=int, help="target number of candidates for the task; "
                       "rerunning continues up to it")
        p.add_argument("--more", type=int, help="draft this many more than the task has now")
        if name == "run":
            p.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    ref = _add(sub, "refine", cmd_refine,
               "refine, with the instruct model, every draft that has no refinement", [ws, mo, sa])
    ref.add_argument("--limit", type=int, help="refine at most this many drafts")

    for name, func, text in (
        ("accept", _decide("accept"), "accept candidates (their refined version)"),
        ("reject", _decide("reject"), "reject candidates"),
    ):
        p = _add(sub, name, func, text, [ws])
        p.add_argument("ids", nargs="+", type=int, metavar="ID", help="candidate ids")
        p.add_argument("--reviewer", help="name recorded with the decision (default $USER)")
        if name == "accept":
            p.add_argument("--draft", action="store_true",
                           help="accept the draft instead of the refinement")
        else:
            p.add_argument("--reason", help="why, recorded with the decision")
    for name in ("undo", "redo"):
        p = _add(sub, name, _history(name), f"{name} your latest review decision", [ws])
        p.add_argument("--reviewer", help="whose decisions (default $USER)")

    _add(sub, "status", cmd_status, "counts by state for a task", [ws])

    exp = _add(sub, "export", cmd_export, "write the curated set as JSONL, with a manifest", [ws])
    exp.add_argument("out", help="output .jsonl file (written atomically)")
    exp.add_argument("--profile", default="chat", choices=("fields", "chat", "alpaca", "sharegpt"),
                     help="record shape (default chat: OpenAI fine-tuning messages)")
    exp.add_argument("--status", default="accepted",
                     choices=("accepted", "pending", "rejected", "any"),
                     help="which candidates (default accepted)")
    exp.add_argument("--include-invalid", action="store_true",
                     help="also export items that fail the recipe's checks")

    demo = _add(sub, "demo", cmd_demo, "import the GSM8K sample seeds, draft and refine "
                "candidates with the embedded models, and open the review (more are made in "
                "the background); headless, export them instead", [ws, mo, sa])
    demo.add_argument("-n", type=int, default=8, help="candidates to have (default 8)")
    demo.add_argument("--more", type=int, help=argparse.SUPPRESS)
    demo.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    demo.add_argument("--out", default="data/demo.jsonl", help="export file (default "
                      "data/demo.jsonl)")
    demo.add_argument("--profile", default="chat", help=argparse.SUPPRESS)
    demo.add_argument("--headless", action="store_true",
                      help="no review screen: generate all, then export (the default when "
                      "not on a terminal)")
    demo.set_defaults(max_tokens=DEMO_MAX_TOKENS)

    emb_parent = argparse.ArgumentParser(add_help=False)
    emb_parent.add_argument("--model", help="sentence-transformers model folder (default: the "
                            "packaged all-MiniLM-L6-v2)")
    _add(sub, "embed", cmd_embed, "embed seeds, drafts, refinements and edits that are new or "
         "changed", [ws, emb_parent])
    st = _add(sub, "stats", cmd_stats, "BARE's diversity metric per set, with the similarity "
              "histogram", [ws, emb_parent])
    st.add_argument("--bins", type=int, default=20, help="histogram bins (default 20)")
    st.add_argument("--histogram", action="store_true", help="draw the histograms")
    cl = _add(sub, "cluster", cmd_cluster, "cluster the candidates (k-means), or decide a "
              "whole cluster", [ws, emb_parent])
    cl.add_argument("-k", type=int, help="number of clusters (default: about sqrt(n/2), 2..50)")
    cl.add_argument("--accept", type=int, metavar="CLUSTER", help="accept every candidate in it")
    cl.add_argument("--reject", type=int, metavar="CLUSTER", help="reject every candidate in it")
    cl.add_argument("--reviewer", help="name recorded with the decisions (default $USER)")
    dd = _add(sub, "dedup", cmd_dedup, "reject near-duplicates, keeping one of each group",
              [ws, emb_parent])
    dd.add_argument("--threshold", type=float, default=0.95,
                    help="cosine similarity from which two texts are near-duplicates "
                    "(default 0.95)")
    dd.add_argument("--dry-run", action="store_true", help="only list what would be rejected")
    dd.add_argument("--reviewer", help="name recorded with the decisions (default $USER)")

    _add(sub, "review", cmd_review, "open the review workstation (also: bare-tui with no "
         "command)", [ws, mo])
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        args = parser.parse_args(["review"])
    try:
        return args.func(args)
    except BareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted; committed samples are kept, rerun to continue", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_ERROR
