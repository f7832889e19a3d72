"""Commands of curation: decisions, undo/redo, status, export, and the review screen."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from bare_tui.cli.common import (
    add_command,
    at_least,
    console,
    model_options,
    open_store,
    resolve_task,
    settings,
    workspace_options,
)
from bare_tui.text import clean


def print_status(store: Any, task: Any) -> None:
    from rich.table import Table
    from rich.text import Text

    from bare_tui.core.reviewing.review import status_counts
    from bare_tui.core.workspace import yields

    counts = status_counts(store, task.name)
    table = Table(title=Text(f"task {task.name} in {clean(store.path)}"), show_header=False)
    for key, value in counts.items():
        table.add_row(key.replace("_", " "), str(value))
    out = console()
    out.print(table)
    for line in yields.measure(store, task.name).lines():
        out.print(line)


def cmd_status(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        task = resolve_task(store, args)
        if args.by_reviewer:
            from bare_tui.cli.team import print_by_reviewer

            print_by_reviewer(store, task)
        else:
            print_status(store, task)
    return 0


def _decide(action: str) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        from bare_tui.core.reviewing import review

        reviewer = args.reviewer or settings(args).reviewer
        chosen = "accept_draft" if action == "accept" and args.draft else action
        with open_store(args) as store:
            review.decide(store, args.ids, chosen, reviewer, reason=getattr(args, "reason", None),
                          tags=getattr(args, "tag", None) or ())
            left_out = _left_out_of_exports(store, args.ids) if action == "accept" else []
        verb = {"accept": "accepted", "accept_draft": "accepted (draft)",
                "reject": "rejected"}[chosen]
        console().print(f"{verb}: {', '.join(map(str, args.ids))}")
        for line in left_out:
            console(stderr=True).print(line, style="yellow")
        return 0

    return command


def _left_out_of_exports(store: Any, ids: list[int]) -> list[str]:
    """A warning per accepted item whose final text an export leaves out: it did not
    parse, fails its checks, or fails a verifier (the flags export has to keep it)."""
    from bare_tui.core.workspace import current

    lines = []
    for candidate_id, item in sorted(current.many(store, ids).items()):
        if item.final_fields is None:
            why = "did not parse"
        elif item.final_valid is False:
            problems = "; ".join(item.final_problems[:2])
            why = f"fails its checks ({clean(problems)}; --include-invalid keeps it)"
        elif item.final_verified is False:
            problems = "; ".join(item.verification_problems[:2])
            why = f"fails a verifier ({clean(problems)}; --include-unverified keeps it)"
        else:
            continue
        lines.append(f"warning: #{candidate_id}'s {item.final_version} {why}: every "
                     "export leaves it out")
    return lines


def _history(action: str) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        from bare_tui.core.reviewing import review

        reviewer = args.reviewer or settings(args).reviewer
        with open_store(args) as store:
            touched = getattr(review, action)(store, reviewer).ids
        if not touched:
            console().print(f"nothing to {action} for reviewer {clean(reviewer)}")
        else:
            console().print(f"{action}: candidates {', '.join(map(str, touched))}")
        return 0

    return command


def cmd_export(args: argparse.Namespace) -> int:
    from bare_tui.core.inputs import splits

    return export_and_say(args, args.out, profile=args.profile, status=args.status,
                          include_invalid=args.include_invalid,
                          include_unverified=args.include_unverified,
                          include_flagged=args.include_flagged, force=args.force,
                          split=splits.parse(args.split) if args.split else None,
                          rng_seed=args.rng_seed, format=args.format,
                          since_last=args.since_last, license=args.license, embed=args.embed,
                          pairs=args.pairs)


def export_and_say(args: argparse.Namespace, out: str, **options: Any) -> int:
    """`core.export.export` of the task `args` names, with a progress bar while it embeds,
    then what it wrote: the one export path of `export` and `demo`."""
    from bare_tui.cli.diversity import EmbedProgress
    from bare_tui.core.datasets.export import export

    model = settings(args).embedder
    say = console(stderr=True)
    with open_store(args) as store, EmbedProgress(model) as progress:
        task = resolve_task(store, args)
        result = export(store, task, out, embedding_model=model, on_embed_batch=progress,
                        on_note=lambda text: say.print(clean(text), markup=False),
                        **options)
    for line in result.summary():
        console().print(clean(line), markup=False)
    return 0


def open_review(args: argparse.Namespace, task: Any, generate: int = 0,
                target: int | None = None) -> int:
    from bare_tui.tui.app import BareApp

    BareApp(settings(args), task, generate=generate,
            max_tokens=getattr(args, "max_tokens", None)).run()
    with open_store(args) as store:
        for line in unfinished(store, task, target):
            console(stderr=True).print(clean(line), soft_wrap=True)
    return 0


def unfinished(store: Any, task: Any, target: int | None = None) -> list[str]:
    """What a job stopped on the way left to do, and the command that does it."""
    from bare_tui.core.generation import pipeline

    lines = []
    have = pipeline.count_candidates(store, task)
    if target is not None and have < target:
        lines.append(f"the task has {have} of {target} candidates: `bare-tui run -n {target} "
                     f"--task {task.name}` makes the rest")
    waiting = len(pipeline.unrefined(store, task))
    if waiting:
        lines.append(f"{waiting} drafts are not refined yet: `bare-tui refine --task "
                     f"{task.name}` refines them")
    return lines


def cmd_review(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        store.mark_interrupted_runs()
        task = resolve_task(store, args)
    return open_review(args, task)


def register(sub: Any) -> None:
    ws = workspace_options()
    for name, text, examples in (
        ("accept", "accept candidates (their refined version)",
         "bare-tui accept 3 4 5\n  bare-tui accept 7 --draft"),
        ("reject", "reject candidates",
         "bare-tui reject 8 --tag 'wrong arithmetic'\n"
         "  bare-tui reject 9 --tag ambiguous --tag off-theme --reason 'two readings'"),
    ):
        p = add_command(sub, name, _decide(name), text, [ws], examples)
        p.add_argument("ids", nargs="+", type=at_least(1), metavar="ID", help="candidate ids")
        p.add_argument("--reviewer", help="name recorded with the decision (default $USER)")
        if name == "accept":
            p.add_argument("--draft", action="store_true",
                           help="accept the draft instead of the refinement")
        else:
            p.add_argument("--reason", help="why, recorded with the decision")
            p.add_argument("--tag", action="append", metavar="TAG",
                           help="a failure this item shows (repeatable): one of the recipe's "
                                "[review] tags, or words of your own; `bare-tui stats` "
                                "counts them")
    for name in ("undo", "redo"):
        p = add_command(sub, name, _history(name), f"{name} your latest review decision", [ws],
                        f"bare-tui {name}")
        p.add_argument("--reviewer", help="whose decisions (default $USER)")

    status = add_command(sub, "status", cmd_status, "counts by state for a task", [ws],
                         "bare-tui status --task gsm8k\n  bare-tui status --by-reviewer")
    status.add_argument("--by-reviewer", action="store_true",
                        help="decisions per reviewer, items per hour and acceptance rate")

    exp = add_command(sub, "export", cmd_export,
                      "write the curated set (JSONL or Parquet, one file per split) with a "
                      "manifest and a dataset card (README.md)", [ws],
                      "bare-tui export out/train.jsonl --profile chat\n"
                      "  bare-tui export out/gsm8k --split train=0.8,validation=0.1,test=0.1\n"
                      "  bare-tui export out/batch2.jsonl --since-last   # only what is new\n"
                      "  bare-tui export out/gsm8k.parquet --license mit\n"
                      "  bare-tui export all.jsonl --profile fields --status any\n"
                      "  bare-tui export prefs.jsonl --profile dpo --pairs edit,refinement\n"
                      "  bare-tui export labels.parquet --profile kto\n"
                      "  bare-tui export out/train.jsonl --force    # replace an earlier export")
    exp.add_argument("out", help="a .jsonl or .parquet file (with --split: FILE-SPLIT.jsonl "
                     "and so on), or a folder (SPLIT.jsonl, manifest.json); the data, the "
                     "manifest and the dataset card README.md are written together, "
                     "atomically (never the workspace, never a device or link)")
    exp.add_argument("--split", metavar="NAME=FRACTION,...",
                     help="named splits, one file each, e.g. train=0.9,validation=0.1; "
                     "stratified by diversity cluster when the task is clustered")
    exp.add_argument("--rng-seed", type=at_least(0), default=0,
                     help="seed of the split: the same seed gives the same splits (default 0)")
    exp.add_argument("--format", choices=("jsonl", "parquet"),
                     help="file format (default: from OUT's suffix, else jsonl); parquet "
                     "needs pyarrow: pip install 'bare-tui[parquet]'")
    exp.add_argument("--since-last", action="store_true",
                     help="only items no earlier export of the task wrote")
    exp.add_argument("--license", metavar="ID",
                     help="the dataset card's licence, e.g. mit or cc-by-4.0 (default: the "
                     "licence file beside the seeds, when known)")
    exp.add_argument("--no-embed", dest="embed", action="store_false",
                     help="do not embed texts that lack embeddings (the card then measures "
                     "diversity over those that have them)")
    exp.add_argument("--force", action="store_true",
                     help="replace the file (and its manifest) if it exists")
    exp.add_argument("--profile", default="chat",
                     choices=("fields", "chat", "alpaca", "sharegpt", "dpo", "dpo-chat", "kto",
                              "kto-chat"),
                     help="record shape (default chat: OpenAI fine-tuning messages); dpo: "
                     "prompt, chosen, rejected from the decisions (TRL's preference "
                     "columns; dpo-chat in messages); kto: prompt, completion and a label, "
                     "true for accepted items, false for rejected ones")
    exp.add_argument("--pairs", metavar="KIND,...",
                     help="with --profile dpo: the kinds of pairs, from edit, merge, "
                     "refinement, draft, alternative (default all)")
    exp.add_argument("--status", default="accepted",
                     choices=("accepted", "pending", "rejected", "any"),
                     help="which candidates (default accepted; dpo reads accepted items, kto "
                     "accepted and rejected ones)")
    exp.add_argument("--include-invalid", action="store_true",
                     help="also export items that fail the recipe's checks")
    exp.add_argument("--include-unverified", action="store_true",
                     help="also export items whose final text fails one of the recipe's "
                     "verifiers (left out by default; the card says how many)")
    exp.add_argument("--include-flagged", action="store_true",
                     help="also export items `bare-tui decontam` flagged as overlapping an "
                     "evaluation set (left out by default; the card says how many)")

    opened = add_command(sub, "review", cmd_review, "open the review workstation (also: "
                         "bare-tui with no command)", [ws, model_options()],
                         "bare-tui\n  bare-tui review --db data/bare.db --task gsm8k\n"
                         "  BARE_TUI_REVIEWER=bob bare-tui review --overlap 0.1   # a team")
    opened.add_argument("--overlap", type=float, metavar="SHARE",
                        help="share of items each decided by two reviewers, for `bare-tui "
                        "agreement` (default 0, or [review] overlap in the config)")
    opened.add_argument("--blind", action=argparse.BooleanOptionalAction, default=None,
                        help="with --overlap: the second reviewer of a doubled item sees it "
                        "undecided, without the first one's decision, tags or edit, until "
                        "they decide it (default on; [review] blind in the config)")
