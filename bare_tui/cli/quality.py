"""Commands that measure quality: the IR judge, and `compare` of the paper's arms."""

from __future__ import annotations

import argparse
import os
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
from bare_tui.core.measures.compare import CONSTRAIN
from bare_tui.errors import BareError
from bare_tui.text import clean

SMALL_JUDGE = ("the judge is the embedded 135M instruct model: it shows the protocol "
               "working, but a judge that small is weak, and its IR says little about "
               "quality; give a stronger one with --judge or --judge-server")


def cmd_judge(args: argparse.Namespace) -> int:
    from bare_tui.cli.generation import run_with_progress
    from bare_tui.core.generation.model_files import EMBEDDED_INSTRUCT
    from bare_tui.core.measures import judge_pool
    from bare_tui.jobs import Judge

    args.instruct = args.judge or args.instruct
    args.instruct_server = args.judge_server or args.instruct_server
    out = console(stderr=True)
    conf = settings(args)
    with open_store(args) as store:
        store.mark_interrupted_runs()
        task = resolve_task(store, args)
        if not conf.server_for("instruct") and conf.instruct in (None, EMBEDDED_INSTRUCT):
            out.print(SMALL_JUDGE, soft_wrap=True, style="yellow")
        pool = judge_pool.load(store, task, args.judge_pool)  # a bad file fails here
        out.print(f"judge: protocol {args.protocol}; lineups from {clean(pool.describe())}",
                  markup=False)
        job = Judge(task=task.name, rng_seed=args.rng_seed, trials=args.trials,
                    status=args.status, limit=args.limit, again=args.again,
                    max_tokens=args.max_tokens, protocol=args.protocol,
                    judge_pool=args.judge_pool)
        with graceful_stop(out) as stop:
            results = run_with_progress(conf, job, task, stop)
        report(store, task, results)
    return exit_status(stop)


def report(store: Any, task: Any, results: list[Any]) -> None:
    from bare_tui.core.measures import judge

    out = console()
    ran = [r for r in results if r.run_id is not None]
    if not ran:
        out.print("judge: nothing to judge (every parsed candidate is judged; --again "
                  "judges them anew)")
    for result in ran:
        rate = judge.rate(store, task.name, run_id=result.run_id)
        out.print(f"judge run {result.run_id}: {clean(rate.text())}")
    overall = judge.rate(store, task.name)
    if overall.trials:
        out.print(f"task {clean(task.name)}, latest verdict of each judged candidate: "
                  f"{clean(overall.text())}")


def cmd_compare(args: argparse.Namespace) -> int:
    import secrets

    from bare_tui.cli.generation import overrides, run_with_progress
    from bare_tui.core.datasets.export_files import check_targets
    from bare_tui.core.measures import compare, judge, judge_pool
    from bare_tui.jobs import Compare

    out = console(stderr=True)
    if args.constrain_refinements is not None or args.constrain_drafts is not None:
        raise BareError("compare chooses the arms under grammar with --constrain "
                        "none|refine|all (default none, as in the paper); --no-constrain and "
                        "--constrain-drafts are for run, draft and refine")
    conf = settings(args)
    rng_seed = args.rng_seed if args.rng_seed is not None else secrets.randbits(31)
    with open_store(args) as store:
        store.mark_interrupted_runs()
        task = resolve_task(store, args)
        seeds = len(store.seeds(task.name))
        if seeds < judge.K - 1:
            raise BareError(f"task {task.name} has {seeds} seed{'s' * (seeds != 1)}; the "
                            f"judge's lineups need {judge.K - 1}: import more with "
                            f"`bare-tui seeds import FILE --task {task.name}`")
        report = report_paths(args.out, task.name) if args.out else None
        if report is not None:  # before any generation, not after it
            check_targets(store, list(report), force=args.force)
        pool = judge_pool.load(store, task, args.judge_pool)  # a bad file fails here
        warn_self_judged(out, conf, args)
        base, refine = overrides(task.base, args, "draft"), overrides(task.refine, args, "refine")
        plan = compare.plan(store, task, args.n, into_queue=args.into_queue, params={
            "rng_seed": rng_seed, "instruct_temperature": args.instruct_temperature,
            "trials": args.trials, "judge": args.judge_server and f"{args.judge} at "
            f"{args.judge_server}" or args.judge, "base": base.as_dict(),
            "refine": refine.as_dict(), "constrain": args.constrain,
            "protocol": args.protocol, "judge_pool": pool.describe(),
            "calibrate": args.calibrate})
        out.print(f"comparison {plan.comparison}: {args.n} items per arm (base, instruct, "
                  f"bare), rng seed {rng_seed}; arm items go to "
                  f"{', '.join(sorted(set(plan.tasks.values())))}", markup=False)
        job = Compare(
            task=task.name, rng_seed=rng_seed, base=base, refine_sampling=refine,
            comparison=plan.comparison, tasks=plan.tasks, stream=plan.stream, n=args.n,
            instruct_temperature=args.instruct_temperature, trials=args.trials,
            judge_model=args.judge, judge_server=args.judge_server,
            judge_max_tokens=args.judge_max_tokens, protocol=args.protocol,
            judge_pool=args.judge_pool, constrain=args.constrain, calibrate=args.calibrate)
        with graceful_stop(out) as stop:
            run_with_progress(conf, job, task, stop)
        show_comparison(store, task, plan, conf.embedder, report)
    return exit_status(stop)


def warn_self_judged(out: Any, conf: Any, args: argparse.Namespace) -> None:
    """Before anything runs: say so when the judge is a model that writes an arm."""
    from dataclasses import replace

    from bare_tui.core.measures import compare
    from bare_tui.loading import model_identity

    judging = replace(conf, instruct=args.judge or conf.instruct,
                      instruct_server=args.judge_server or conf.instruct_server)
    base, instruct = model_identity("base", conf), model_identity("instruct", conf)
    own = compare.self_judged(model_identity("instruct", judging),
                              {"base": base, "instruct": instruct, "bare": base | instruct})
    if own:
        out.print(f"warning: the judge is the model that writes the {' and '.join(own)} "
                  "arm(s); it grades its own work, and the report will say "
                  "\"self-judged\". Name a separate judge with --judge FILE.gguf or "
                  "--judge-server URL --judge NAME.", soft_wrap=True, style="yellow",
                  markup=False)


def report_paths(out: str, task: str) -> tuple[Path, Path]:
    """Where `--out` writes the report: PATH.md and PATH.json, or, when PATH is a folder
    (or ends in a slash), compare-TASK.md and .json inside it."""
    path = Path(out)
    if path.is_dir() or out.endswith(("/", os.sep)):
        path = path / f"compare-{task}"
    elif path.suffix.lower() in (".md", ".json"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".md"), path.with_name(path.name + ".json")


def show_comparison(store: Any, task: Any, plan: Any, model: str | None,
                    report: tuple[Path, Path] | None) -> None:
    """Embed the arms' texts, then build, save, print and (`out_path`) write the report."""
    import dataclasses
    import json

    from rich.table import Column, Table

    from bare_tui.cli.diversity import embed_missing
    from bare_tui.core.measures import compare, compare_measures, compare_report

    for name in sorted(set(plan.tasks.values())):
        try:
            embed_missing(store, dataclasses.replace(task, name=name), model, quiet=True)
        except BareError as exc:
            console(stderr=True).print(f"diversity not measured: {clean(str(exc))}",
                                       markup=False)
    data = compare_measures.report(store, task, plan.comparison, model)
    text = compare_report.markdown(data)
    compare.save(store, plan.comparison, data, text)
    out = console()
    out.print(clean(compare_report.heading(data)), markup=False, style="bold")
    for line in [*compare_report.verdicts(data), *compare_report.warnings(data)]:
        out.print(clean(line), markup=False)
    out.print(clean(compare_report.method(data)), markup=False)
    for columns, cells in compare_report.parts(data):
        table = Table(*(Column(name, no_wrap=True) for name in columns), box=None,
                      pad_edge=False, header_style="bold underline")
        for row in cells:
            table.add_row(*map(clean, row))
        out.print(table)
    for arm in data["arms"]:
        out.print(f"{arm['arm']}: {clean(arm['model'])} at temperature {arm['temperature']}",
                  markup=False)
    for line in compare_report.findings(data):
        out.print(clean(line), markup=False)
    out.print("\n".join(compare_report.histogram(data)), markup=False, highlight=False)
    out.print("\n".join(compare_report.positions_chart(data)), markup=False, highlight=False)
    if report is not None:
        from bare_tui.core.datasets.export_files import write_files

        markdown_path, json_path = report
        write_files({markdown_path: text.encode(), json_path: json.dumps(data, indent=2).encode()})
        out.print(f"report: {clean(markdown_path)} and {clean(json_path)}", markup=False)


def judge_options(parser: argparse.ArgumentParser) -> None:
    from bare_tui.core.measures.judge_protocols import DEFAULT, PROTOCOLS

    parser.add_argument("--protocol", choices=tuple(PROTOCOLS), default=DEFAULT,
                        help="how the judge is asked: paper (the BARE reference's prompt, "
                        "reasoning, temperature 1.0; default) or strict (one sentence, "
                        "greedy)")
    parser.add_argument("--judge-pool", metavar="FILE",
                        help="real items the lineups draw from: a JSONL/CSV file of the "
                        "task's fields or a shipped set (gsm8k-train); the task's seeds are "
                        "left out (default: the recipe's [judge] pool, else the task's "
                        "seeds less each item's shots)")


def register(sub: Any) -> None:
    ws, mo, sa = workspace_options(), model_options(), sampling_options()
    p = add_command(
        sub, "judge", cmd_judge,
        "the BARE paper's quality judge: how often a judge model fails to tell a "
        "candidate from real seeds (IR)", [ws, mo],
        "bare-tui judge --task gsm8k\n"
        "  bare-tui judge --trials 3 --limit 50 --judge models/qwen2.5-7b-instruct.gguf\n"
        "  bare-tui judge --judge-server http://127.0.0.1:8000 --judge Qwen/Qwen2.5-72B-Instruct\n"
        "  bare-tui judge --again --rng-seed 7       # judge every candidate anew")
    p.add_argument("--judge", metavar="MODEL",
                   help="judge model: embedded name, GGUF path, file in models/, or a served "
                   "model's name (default: the instruct model)")
    p.add_argument("--judge-server", metavar="URL",
                   help="OpenAI-compatible engine serving the judge")
    p.add_argument("--trials", type=at_least(1), default=1,
                   help="lineups per candidate, each with its own seeds and place (default 1)")
    p.add_argument("--limit", type=at_least(1), help="judge at most this many candidates")
    p.add_argument("--status", default="any", choices=("accepted", "pending", "rejected", "any"),
                   help="which candidates (default any)")
    p.add_argument("--again", action="store_true",
                   help="also candidates judged before (a new run; the review shows the latest)")
    p.add_argument("--max-tokens", type=at_least(16),
                   help="the judge's reply budget (default: the protocol's, paper 1000, "
                   "strict 256)")
    judge_options(p)
    p.add_argument("--rng-seed", type=at_least(0),
                   help="fixes the lineups and the judge's sampling (default random)")

    c = add_command(
        sub, "compare", cmd_compare,
        "the BARE paper's arms side by side on your seeds: base drafts, an instruct model's "
        "few-shot items, and refined drafts; yield, diversity, IR, speed", [ws, mo, sa],
        "bare-tui compare --task gsm8k -n 32 --calibrate 16\n"
        "  bare-tui compare -n 200 --judge models/qwen2.5-7b-instruct.gguf --out reports/cmp\n"
        "  bare-tui compare -n 200 --judge-server http://127.0.0.1:8000 --judge Qwen/Qwen2.5-72B\n"
        "  bare-tui compare -n 50 --constrain refine --protocol strict --judge-pool real.jsonl")
    c.add_argument("-n", type=at_least(2), required=True, help="items per arm")
    c.add_argument("--instruct-temperature", type=float, default=1.0,
                   help="the instruct arm's temperature (default 1.0; the paper used 1.0-1.2, "
                   "the highest that stays coherent)")
    c.add_argument("--trials", type=at_least(1), default=1,
                   help="judge lineups per item (default 1)")
    c.add_argument("--judge", metavar="MODEL", help="judge model (default: the instruct model)")
    c.add_argument("--judge-server", metavar="URL", help="engine serving the judge")
    c.add_argument("--judge-max-tokens", type=at_least(16),
                   help="the judge's reply budget (default: the protocol's, paper 1000, "
                   "strict 256)")
    judge_options(c)
    c.add_argument("--constrain", choices=CONSTRAIN, default="none",
                   help="which arms keep the recipe's structure by grammar: none (the "
                   "paper, default), refine (the refinements), all")
    c.add_argument("--calibrate", type=at_least(0), default=0, metavar="K",
                   help="also judge K real items of the pool among real ones: a fair judge "
                   "lands near 75%%")
    c.add_argument("--into-queue", action="store_true",
                   help="make the base and BARE arms in the task itself, for review and "
                   "export (default: in a task of their own, out of the queue)")
    c.add_argument("--out", metavar="PATH",
                   help="also write the report as PATH.md and PATH.json (in a folder: "
                   "compare-TASK.md and .json)")
    c.add_argument("--force", action="store_true",
                   help="replace report files that exist")
