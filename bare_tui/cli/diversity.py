"""Commands of diversity: embed, stats, cluster, dedup."""

from __future__ import annotations

import argparse
from typing import Any

from bare_tui.cli.common import (
    add_command,
    at_least,
    between,
    console,
    open_store,
    resolve_task,
    settings,
    workspace_options,
)


class EmbedProgress:
    """A progress bar for embedding, shown from the first batch reported to it; says at
    the end how many texts it embedded and how fast."""

    def __init__(self, model: Any):
        self.model = model
        self.out = console(stderr=True)
        self.progress: Any = None
        self.meter: Any = None

    def __enter__(self) -> EmbedProgress:
        return self

    def __call__(self, done: int, total: int) -> None:
        if self.progress is None:
            from rich.progress import Progress

            from bare_tui.core.generation.meter import Meter
            from bare_tui.core.measures import embeddings

            self.out.print(f"embed: {total} new or changed texts with "
                           f"{embeddings.model_name(self.model)}", markup=False)
            self.meter = Meter("embed", total)
            self.progress = Progress(console=self.out, transient=True)
            self.progress.start()
            self.bar = self.progress.add_task("embed", total=total)
        self.meter.done = done
        self.progress.update(self.bar, completed=done)

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.out.print(f"embed: {self.meter.done}/{self.meter.total} texts, "
                           f"{self.meter.done / self.meter.elapsed:.1f} texts/s")


def embed_missing(store: Any, task: Any, model: Any, quiet: bool = False) -> None:
    """Embed the task's texts that have no embedding yet, with a progress bar; `quiet`
    says nothing when there is nothing to do."""
    from bare_tui.core.measures import embeddings

    with EmbedProgress(model) as progress:
        if not embeddings.embed(store, task, model, on_batch=progress) and not quiet:
            progress.out.print("embed: every text already has its embedding")


def cmd_embed(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        task = resolve_task(store, args)
        embed_missing(store, task, settings(args).embedder.named(args.model))
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from bare_tui.core.measures import curation
    from bare_tui.core.reviewing import tags

    with open_store(args) as store:
        task = resolve_task(store, args)
        lines = curation.stats_lines(store, task, args.model, bins=args.bins,
                                     histogram=args.histogram)
        lines += tags.report_lines(store, task.name, task.tags)
    console().print("\n".join(lines), highlight=False, markup=False)
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    from rich.table import Table

    from bare_tui.core.measures import curation
    from bare_tui.core.reviewing import bulk
    from bare_tui.text import clean

    reviewer = args.reviewer or settings(args).reviewer
    with open_store(args) as store:
        task = resolve_task(store, args)
        if args.accept is not None or args.reject is not None:
            cluster = args.accept if args.accept is not None else args.reject
            action = "accept" if args.accept is not None else "reject"
            members = bulk.decide_cluster(store, task, cluster, action, reviewer)
            console().print(f"{action}ed cluster {cluster}: {len(members)} candidates "
                            "(bare-tui undo reverts it)")
            return 0
        curation.recluster(store, task, args.k, args.model)
        table = Table("cluster", "size", "accepted", "rejected", "pending", "label",
                      "representative", title=f"clusters of task {task.name}")
        for row in curation.cluster_table(store, task):
            table.add_row(str(row["cluster"]), str(row["size"]), str(row["accepted"]),
                          str(row["rejected"]), str(row["pending"]), clean(row["label"]),
                          f"#{row['representative_id']}")
        console().print(table)
    return 0


def cmd_dedup(args: argparse.Namespace) -> int:
    from bare_tui.core.reviewing import bulk
    from bare_tui.text import clean

    reviewer = args.reviewer or settings(args).reviewer
    with open_store(args) as store:
        task = resolve_task(store, args)
        rejected = bulk.reject_near_duplicates(store, task, reviewer, args.threshold,
                                               model=args.model, dry_run=args.dry_run)
    verb = "would reject" if args.dry_run else "rejected"
    for candidate_id, reason in rejected.items():
        console().print(f"#{candidate_id}: {clean(reason)}")
    console().print(f"{verb} {len(rejected)} near-duplicates (threshold {args.threshold})"
                    + ("" if args.dry_run or not rejected else "; bare-tui undo reverts it"))
    return 0


def register(sub: Any) -> None:
    emb = argparse.ArgumentParser(add_help=False)
    emb.add_argument("--model", help="sentence-transformers model folder (default: the "
                     "packaged all-MiniLM-L6-v2)")
    parents = [workspace_options(), emb]
    add_command(sub, "embed", cmd_embed, "embed seeds, drafts, refinements and edits that are "
                "new or changed", parents,
                "bare-tui embed\n  bare-tui embed --model /models/my-sentence-model")
    st = add_command(sub, "stats", cmd_stats, "BARE's diversity metric per set, with the "
                     "similarity histogram, and the rejects per tag", parents,
                     "bare-tui stats\n  bare-tui stats --histogram --bins 12")
    st.add_argument("--bins", type=at_least(1), default=20, help="histogram bins (default 20)")
    st.add_argument("--histogram", action="store_true", help="draw the histograms")
    cl = add_command(sub, "cluster", cmd_cluster, "cluster the candidates (k-means), or decide "
                     "a whole cluster", parents,
                     "bare-tui cluster\n  bare-tui cluster -k 8\n  bare-tui cluster --reject 3")
    cl.add_argument("-k", type=at_least(1),
                    help="number of clusters (default: about sqrt(n/2), 2..50)")
    cl.add_argument("--accept", type=int, metavar="CLUSTER", help="accept every candidate in it")
    cl.add_argument("--reject", type=int, metavar="CLUSTER", help="reject every candidate in it")
    cl.add_argument("--reviewer", help="name recorded with the decisions (default $USER)")
    dd = add_command(sub, "dedup", cmd_dedup, "reject near-duplicates, keeping one of each "
                     "group", parents, "bare-tui dedup --dry-run\n  bare-tui dedup --threshold 0.9")
    dd.add_argument("--threshold", type=between(-1, 1), default=0.95,
                    help="cosine similarity from which two texts are near-duplicates "
                    "(default 0.95)")
    dd.add_argument("--dry-run", action="store_true", help="only list what would be rejected")
    dd.add_argument("--reviewer", help="name recorded with the decisions (default $USER)")
