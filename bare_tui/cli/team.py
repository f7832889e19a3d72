"""Commands of a team on one workspace: who decided what, at what pace, and how much
the reviewers of the same items agree."""

from __future__ import annotations

import argparse
from typing import Any

from bare_tui.cli.common import (
    add_command,
    at_least,
    console,
    open_store,
    resolve_task,
    workspace_options,
)
from bare_tui.text import clean


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def print_by_reviewer(store: Any, task: Any) -> None:
    """Decisions per reviewer, items per hour and acceptance rate."""
    from rich.table import Table
    from rich.text import Text

    from bare_tui.core.reviewing import leases, team

    table = Table(title=Text(f"reviewers of task {task.name}"))
    for column in ("reviewer", "decisions", "items", "accepted", "rejected",
                   "items/hour", "acceptance"):
        table.add_column(column, justify="left" if column == "reviewer" else "right")
    paces = team.by_reviewer(store, task.name)
    for pace in paces:
        per_hour = "-" if pace.per_hour is None else f"{pace.per_hour:.0f}"
        table.add_row(Text(clean(pace.reviewer)), str(pace.decisions),
                      str(pace.accepted + pace.rejected), str(pace.accepted),
                      str(pace.rejected), per_hour, _share(pace.acceptance))
    out = console()
    if not paces:
        out.print(f"no decisions on task {clean(task.name)} yet", markup=False)
        return
    out.print(table)
    now = leases.others(store, "", task.name)
    if now:
        names = ", ".join(sorted({clean(window.reviewer) for window in now}))
        out.print(f"reviewing now: {names}", markup=False)


def _number(value: float | None, undefined: str = "n/a") -> str:
    return undefined if value is None else f"{value:.3f}"


def cmd_agreement(args: argparse.Namespace) -> int:
    from rich.table import Table
    from rich.text import Text

    from bare_tui.core.reviewing import agreement

    with open_store(args) as store:
        task = resolve_task(store, args)
        result = agreement.measure(store, task.name, task.tags)
    out = console()
    if not result.items:
        out.print(f"no item of task {clean(task.name)} was decided by two reviewers yet: "
                  "review with --overlap 0.1 (or [review] overlap in the config) to route "
                  "a share of items to two", markup=False)
        return 0
    out.print(f"{result.items} items decided by two or more reviewers: {result.agreed} "
              f"agree ({_share(result.observed)})", markup=False)
    interval = (f", 95% interval {result.interval[0]:.3f} to {result.interval[1]:.3f} "
                f"(bootstrap over items)" if result.interval else "")
    out.print(f"Krippendorff's alpha (nominal, {len(result.reviewers)} reviewers): "
              f"{_number(result.alpha, 'n/a (every decision was the same)')}{interval}",
              markup=False)
    pairs = Table(title=Text("Cohen's kappa per pair of reviewers"))
    for column in ("reviewers", "items", "agree", "kappa"):
        pairs.add_column(column, justify="left" if column == "reviewers" else "right")
    for pair in result.pairs:
        pairs.add_row(Text(" & ".join(clean(r) for r in pair.reviewers)), str(pair.items),
                      str(pair.agreed), _number(pair.kappa, "n/a (one label)"))
    out.print(pairs)
    if result.tags:
        tags = Table(title=Text("per tag: items where any reviewer gave it, where all did"))
        for column in ("tag", "any", "all", "alpha"):
            tags.add_column(column, justify="left" if column == "tag" else "right")
        for tag in result.tags:
            tags.add_row(Text(clean(tag.tag)), str(tag.items), str(tag.all_gave),
                         _number(tag.alpha))
        out.print(tags)
    if result.disagreements:
        table = Table(title=Text(f"{len(result.disagreements)} disagreements: the review's "
                                 "filter (f) \"disagreements\" lists them for a third look"))
        table.add_column("item", justify="right")
        table.add_column("decisions")
        for candidate_id, by in result.disagreements[: args.limit]:
            table.add_row(f"#{candidate_id}", Text(", ".join(
                f"{clean(reviewer)}: {status}" for reviewer, status in by.items())))
        out.print(table)
        if len(result.disagreements) > args.limit:
            out.print(f"... and {len(result.disagreements) - args.limit} more (--limit)",
                      markup=False)
    return 0


def register(sub: Any) -> None:
    p = add_command(sub, "agreement", cmd_agreement,
                    "how much reviewers agree on the items two or more of them decided "
                    "(Krippendorff's alpha with its interval, Cohen's kappa per pair, "
                    "agreement per tag), and the items they disagree on",
                    [workspace_options()],
                    "bare-tui review --overlap 0.1      # each reviewer, in their own shell\n"
                    "  bare-tui agreement --task gsm8k")
    p.add_argument("--limit", type=at_least(0), default=50,
                   help="disagreements listed (default 50)")
