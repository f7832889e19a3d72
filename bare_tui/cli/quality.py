"""Commands that measure quality: the IR judge."""

from __future__ import annotations

import argparse
from typing import Any

from bare_tui.cli.common import (
    add_command,
    at_least,
    console,
    graceful_stop,
    model_options,
    open_store,
    resolve_task,
    settings,
    workspace_options,
)
from bare_tui.text import clean

SMALL_JUDGE = ("the judge is the embedded 135M instruct model: it shows the protocol "
               "working, but a judge that small is weak, and its IR says little about "
               "quality; give a stronger one with --judge or --judge-server")


def cmd_judge(args: argparse.Namespace) -> int:
    from bare_tui.cli.generation import run_with_progress
    from bare_tui.core.model_files import EMBEDDED_INSTRUCT
    from bare_tui.worker import JobRequest

    args.instruct = args.judge or args.instruct
    args.instruct_server = args.judge_server or args.instruct_server
    out = console(stderr=True)
    conf = settings(args)
    with open_store(args) as store:
        store.mark_interrupted_runs()
        task = resolve_task(store, args)
        if not conf.server_for("instruct") and conf.instruct in (None, EMBEDDED_INSTRUCT):
            out.print(SMALL_JUDGE, soft_wrap=True, style="yellow")
        request = JobRequest(task=task.name, target=None, refine=False, rng_seed=args.rng_seed,
                             judge={"trials": args.trials, "status": args.status,
                                    "limit": args.limit, "again": args.again,
                                    "max_tokens": args.max_tokens})
        with graceful_stop(out) as stop:
            results = run_with_progress(conf, request, task, stop)
        report(store, task, results)
    return 0


def report(store: Any, task: Any, results: list[Any]) -> None:
    from bare_tui.core import judge

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


def register(sub: Any) -> None:
    ws, mo = workspace_options(), model_options()
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
    p.add_argument("--max-tokens", type=at_least(16), default=256,
                   help="the judge's reply budget (default 256)")
    p.add_argument("--rng-seed", type=at_least(0),
                   help="fixes the lineups and the judge's sampling (default random)")
