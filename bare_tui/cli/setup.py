"""Commands that set things up: recipes, seeds, models, and the machine check."""

from __future__ import annotations

import argparse
from typing import Any

from bare_tui.cli.common import (
    add_command,
    console,
    model_options,
    open_store,
    resolve_task,
    settings,
    workspace_options,
)
from bare_tui.errors import BareError
from bare_tui.text import clean


def cmd_tasks(args: argparse.Namespace) -> int:
    from rich.table import Table

    from bare_tui.core.inputs import recipes

    stored = _workspace_recipes(args)
    if args.name:
        source = stored.get(args.name) or recipes.builtin_source(args.name)
        if source is None:
            raise BareError(f"unknown task {args.name!r} (built-ins: "
                            f"{', '.join(recipes.builtin_names())}"
                            + (f"; in the workspace: {', '.join(stored)}" if stored else "")
                            + ")")
        print(source, end="")
        return 0
    table = Table("task", "from", "fields", "shots", "describes")
    sources = [(name, "workspace", source) for name, source in stored.items()] + [
        (name, "built-in", recipes.builtin_source(name) or "")
        for name in recipes.builtin_names() if name not in stored]
    for name, origin, source in sources:
        task = recipes.parse_recipe(source, origin=name)
        table.add_row(clean(name), origin, ", ".join(task.field_names),
                      f"{task.shot_count} {task.shot_selection}", clean(task.thing))
    console().print(table)
    return 0


def _workspace_recipes(args: argparse.Namespace) -> dict[str, str]:
    """The recipes of the workspace's tasks, when there is a workspace (--db, or the
    default one); none otherwise: `tasks` works before any workspace exists."""
    if args.db is None and not settings(args).db.exists():
        return {}
    with open_store(args) as store:  # a --db that is not there: "no workspace at ..."
        return {name: store.task_recipe(name) for name in store.task_names()}


def cmd_seeds_import(args: argparse.Namespace) -> int:
    from bare_tui.core.inputs.seeds import import_seeds, parse_mapping

    mapping = parse_mapping(args.map or [])
    with open_store(args, create=True) as store:
        task = resolve_task(store, args)
        result = import_seeds(store, task, args.file, mapping, skip_invalid=args.skip_invalid)
    dup = f" ({result.duplicates} already present, skipped)" if result.duplicates else ""
    console().print(f"imported {result.added} seeds into task {task.name}{dup}")
    _say_skipped(result.skipped)
    return 0


def _say_skipped(skipped: tuple[str, ...]) -> None:
    """What --skip-invalid left out, by line."""
    if skipped:
        out = console(stderr=True)
        out.print(f"left out {len(skipped)} invalid record{'s' if len(skipped) > 1 else ''}:",
                  style="yellow")
        for line in skipped:
            out.print(f"  {clean(line)}", soft_wrap=True)


def cmd_candidates_import(args: argparse.Namespace) -> int:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from bare_tui.core.datasets.dataset_import import import_candidates
    from bare_tui.core.inputs.seeds import parse_mapping

    mapping = parse_mapping(args.map or [])
    progress = Progress(SpinnerColumn(), TextColumn("import: {task.completed:,} items read"),
                        TimeElapsedColumn(), console=console(stderr=True), transient=True)
    with open_store(args, create=True) as store, progress:
        task = resolve_task(store, args)
        bar = progress.add_task("import", total=None)
        result = import_candidates(store, task, args.file, mapping,
                                   skip_invalid=args.skip_invalid,
                                   on_progress=lambda read: progress.update(bar, completed=read))
    skipped = [f"{count} {what}" for count, what in (
        (result.duplicates, "already imported"), (result.seeds, "the same as a seed"))
        if count]
    console().print(f"imported {result.added} candidates into task {task.name}"
                    + (f" ({result.failing} failing its checks)" if result.failing else "")
                    + (f"; skipped {', '.join(skipped)}" if skipped else ""))
    _say_skipped(result.skipped)
    return 0


def _size(num: int) -> str:
    return f"{num / 1e6:.0f} MB" if num < 1e9 else f"{num / 1e9:.2f} GB"


def _cpu_path_line(current: Any) -> str:
    from bare_tui.core.generation import cpu_path

    verdict = cpu_path.known_verdict(current.cpu_path, current.probing)
    if verdict is None:
        return ("CPU path: not probed yet on this machine (the first model load, or "
                "`bare-tui doctor`, probes it)")
    return f"CPU path: {verdict.describe()}"


def cmd_models(args: argparse.Namespace) -> int:
    from rich.table import Table
    from rich.text import Text

    from bare_tui.core.generation import model_files

    current = settings(args)
    offload = model_files.gpu_offload_available()
    runs_on = ("GPU: all layers offloaded by default, flash attention on" if offload
               else "no GPU offload in this llama.cpp build: models run on the CPU")
    table = Table("name", "role", "size", "architecture", "context", "chat template",
                  "sha256", "path", title=Text(runs_on), caption=Text(_cpu_path_line(current)))
    defaults = {"base": current.base, "instruct": current.instruct}
    chosen = {role: model_files.resolve(spec, role, current.models_dir, current.cache_dir).path
              for role, spec in defaults.items()}
    for model in model_files.all_models(current.models_dir, current.cache_dir):
        try:
            model.metadata  # noqa: B018 - a file that is not GGUF is listed with its error
        except BareError as exc:
            table.add_row(clean(model.name), "-", _size(model.size_bytes),
                          Text(clean(exc), style="red"), "", "", "", clean(model.path))
            continue
        roles = [role for role, path in chosen.items() if path == model.path]
        role = ", ".join(f"{r} (in use)" for r in roles) or (model.default_role or "-")
        table.add_row(clean(model.name), role, _size(model.size_bytes),
                      clean(model.architecture),
                      str(model.context_length or "?"),
                      "yes" if model.has_chat_template else "no",
                      model.sha256[:12], clean(model.path))
    console().print(table)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from rich.text import Text

    from bare_tui.core import doctor
    from bare_tui.core.generation import cpu_path

    current = settings(args)
    if args.reprobe:
        cpu_path.forget(current.probing)
    setup = doctor.Setup(db=current.db, models_dir=current.models_dir, base=current.base,
                         instruct=current.instruct, cpu_path=current.cpu_path,
                         probing=current.probing,
                         embedding_model=current.embedder, threads=current.threads)
    out = console()
    failed = 0
    styles = {doctor.OK: "green", doctor.WARN: "yellow", doctor.FAIL: "bold red"}
    for check in doctor.run_checks(setup):
        line = Text()
        line.append(f"{check.status:<4} ", style=styles[check.status])
        line.append(f"{check.name}: {clean(check.detail)}")
        if check.fix:
            label = "note" if check.status == doctor.OK else "fix"
            line.append(f" -> {label}: {clean(check.fix)}", style="dim" if label == "note" else "")
        out.print(line, soft_wrap=True)
        failed += check.status == doctor.FAIL
    if failed:
        out.print(Text(f"{failed} check(s) failed", style="bold red"))
    return 1 if failed else 0


def _import_group(sub: Any, group: str, about: str, func: Any, text: str, examples: str,
                  item: str, ws: argparse.ArgumentParser) -> None:
    """A command group whose `import` action reads a file of records (`bare-tui seeds
    import`, `bare-tui candidates import`)."""
    parser = sub.add_parser(group, help=about, description=about)
    actions = parser.add_subparsers(dest=f"{group}_command", metavar="ACTION", required=True)
    imp = add_command(actions, "import", func, text, [ws], examples)
    imp.add_argument("file", help=f"a .jsonl, .csv (.tsv), .parquet or .arrow file, one "
                     f"{item} per line/row, or a folder a Hugging Face dataset was saved to "
                     "(save_to_disk); Parquet and Arrow need pyarrow: pip install "
                     "'bare-tui[parquet]'")
    imp.add_argument("--map", action="append", metavar="FIELD=COLUMN",
                     help="take FIELD from COLUMN of the file (repeatable)")
    imp.add_argument("--skip-invalid", action="store_true",
                     help=f"import every {item} that reads, leave out the ones that do not "
                          "(an empty or missing field, a line that is not JSON) and list "
                          "them by line (default: a bad line imports nothing)")


def register(sub: Any) -> None:
    ws, mo = workspace_options(), model_options()
    tasks_parser = add_command(sub, "tasks", cmd_tasks, "list task recipes (the workspace's "
                               "and the built-in ones), or print one", [ws],
                               "bare-tui tasks\n  bare-tui tasks gsm8k > my_recipe.toml\n"
                               "  bare-tui tasks --db other.db")
    tasks_parser.add_argument("name", nargs="?", help="print this task's recipe TOML")

    _import_group(sub, "seeds", "manage seed examples", cmd_seeds_import,
                  "import seed examples from JSONL, CSV, Parquet, Arrow or a saved Hugging "
                  "Face dataset (all or nothing)",
                  "bare-tui seeds import data/seeds/gsm8k_train_200.jsonl --task gsm8k\n"
                  "  bare-tui seeds import problems.csv --task gsm8k "
                  "--map question=problem --map answer=solution\n"
                  "  bare-tui seeds import train.parquet --task gsm8k\n"
                  "  bare-tui seeds import saved/gsm8k/train --task gsm8k   # save_to_disk",
                  "example", ws)
    _import_group(sub, "candidates", "bring an existing dataset in to curate",
                  cmd_candidates_import,
                  "import a dataset (JSONL, CSV, Parquet, Arrow, or a Hugging Face dataset "
                  "saved with save_to_disk) as candidates to review, check, embed and "
                  "refine (any source, or an export of ours in any profile; all or nothing; "
                  "a second import of the same items adds nothing)",
                  "bare-tui candidates import scraped.jsonl --task gsm8k\n"
                  "  bare-tui candidates import old-export.jsonl --task gsm8k   # chat, "
                  "alpaca, sharegpt or fields\n"
                  "  bare-tui candidates import sheet.csv --task gsm8k --map question=problem\n"
                  "  bare-tui candidates import out/train.parquet --task gsm8k",
                  "item", ws)

    add_command(sub, "models", cmd_models, "list models: embedded defaults and GGUF files in "
                "models/, and the CPU path llama.cpp takes", [ws, mo],
                "bare-tui models\n  bare-tui models --base models/my-base.gguf")
    doc = add_command(sub, "doctor", cmd_doctor, "check this machine: the llama.cpp build and "
                      "its CPU path, the models, the embedding model, the workspace, the "
                      "terminal and the versions; exit status 1 when something is broken",
                      [ws, mo], "bare-tui doctor\n  bare-tui doctor --db other.db --reprobe")
    doc.add_argument("--reprobe", action="store_true",
                     help="forget this machine's CPU-path verdict and probe again")
