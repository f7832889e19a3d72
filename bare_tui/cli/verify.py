"""Commands of substance: the verifiers available to recipes, running a task's verifiers
again on what it holds, and decontamination against an evaluation set."""

from __future__ import annotations

import argparse
from typing import Any

from bare_tui.cli.common import (
    add_command,
    at_least,
    console,
    open_store,
    resolve_task,
    settings,
    workspace_options,
)


def cmd_verifiers(args: argparse.Namespace) -> int:
    from rich.table import Table
    from rich.text import Text

    from bare_tui.core.inputs import verifiers
    from bare_tui.text import clean

    table = Table("name", "version", "what it checks", "options", "from",
                  title="verifiers a recipe can name (verify = [...] or [[verify]])")
    built_in = verifiers.builtins()
    for name, kind in sorted(verifiers.available().items()):
        options = Text("\n".join(f"{key}: {clean(text)}" for key, text in kind.options.items())
                       or "none")
        table.add_row(clean(name), clean(kind.version), Text(clean(kind.description)),
                      options, "built in" if name in built_in else clean(kind.__module__))
    console().print(table)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from bare_tui.core.inputs import verifying
    from bare_tui.core.workspace import yields
    from bare_tui.errors import BareError

    out = console(stderr=True)
    with open_store(args) as store:
        task = resolve_task(store, args)
        if not task.verifiers:
            raise BareError(f"the recipe of task {task.name} names no verifier: add "
                            "verify = [...] to a field, or [[verify]] tables "
                            "(`bare-tui verifiers` lists them)")
        with Progress(console=out, transient=True) as progress:
            bar = progress.add_task(f"verify {task.name}", total=None)
            done = verifying.reverify(store, task, on_progress=lambda finished, total:
                                      progress.update(bar, completed=finished, total=total))
        names = ", ".join(use.label for use in task.verifiers)
        out.print(f"verified {done.versions} versions with {names}: {done.verified} "
                  f"verified, {done.failed} failed, {done.unchecked} with nothing to check",
                  markup=False, highlight=False)
        for line in yields.measure(store, task.name).lines():
            out.print(f"yield: {line}", markup=False, highlight=False)
    return 0


def cmd_decontam(args: argparse.Namespace) -> int:
    from bare_tui.core.measures import decontam, embeddings
    from bare_tui.errors import BareError
    from bare_tui.text import clean

    out = console()
    with open_store(args) as store:
        task = resolve_task(store, args)
        sets = [args.against] if args.against else list(task.decontam_against)
        if not sets:
            raise BareError(f"the recipe of task {task.name} names no evaluation set "
                            "([decontam] against = [...]): pass --against SET")
        paths = [decontam.set_path(name) for name in sets]
        encoder = (None if args.no_embed
                   else embeddings.load_model(settings(args).embedder))
        field = args.field or task.decontam_field
        if args.seeds:  # a report only: the seeds are not candidates
            set_path = paths[0]
            field = field or task.field_names[0]
            set_texts = decontam.read_set(set_path, field)
            seeds = store.seeds(task.name)
            texts = [str(seed["fields"].get(field, "")) for seed in seeds]
            found = decontam.matches(texts, set_texts, n=args.ngram, threshold=args.threshold,
                                     encoder=encoder)
            out.print(f"seeds of {task.name}: {len(found)} of {len(seeds)} overlap "
                      f"{clean(set_path.name)}", markup=False, highlight=False)
            for position, matched in sorted(found.items()):
                why = "; ".join(m.evidence for m in matched)
                out.print(f"  seed {seeds[position]['id']} ({why}): "
                          f"{clean(texts[position])[:100]!r} ~ "
                          f"{clean(set_texts[matched[0].item])[:100]!r}",
                          markup=False, highlight=False)
            return 0
        results = [decontam.check(store, task, path, field=field,
                                  n=args.ngram or task.decontam_ngram,
                                  threshold=args.threshold, encoder=encoder)
                   for path in paths]
    for checked in results:
        for line in checked.lines():
            out.print(line, markup=False, highlight=False)
        for candidate_id, matched in sorted(checked.flagged.items())[:args.show]:
            out.print(f"  #{candidate_id}: {'; '.join(m.evidence for m in matched)}",
                      markup=False, highlight=False)
    return 0


def register(sub: Any) -> None:
    add_command(
        sub, "verify", cmd_verify,
        "run the task's verifiers again on every parsed draft and refinement (after a "
        "recipe change, or on an imported dataset)", [workspace_options()],
        "bare-tui verify --task gsm8k\n"
        "  bare-tui verify --task sql.toml --update-recipe   # after adding a verifier")
    d = add_command(
        sub, "decontam", cmd_decontam,
        "flag candidates that overlap an evaluation set (n-grams of normalised words, and "
        "embedding similarity); the review and export see the flags", [workspace_options()],
        "bare-tui decontam                 # the recipe's sets (gsm8k: its test split)\n"
        "  bare-tui decontam --against gsm8k-test\n"
        "  bare-tui decontam --against eval.jsonl --field question --ngram 8 --threshold 0.95\n"
        "  bare-tui decontam --against gsm8k-test --seeds --no-embed   # report on the seeds")
    d.add_argument("--against", metavar="SET",
                   help="the evaluation set: a JSONL file (one object per item), or a set "
                   "shipped with bare-tui: gsm8k-test (default: the recipe's [decontam] "
                   "sets; the built-in gsm8k recipe names gsm8k-test)")
    d.add_argument("--field", help="the field compared, in the candidates and the set "
                   "(default: the recipe's first field; all text of an item without it)")
    d.add_argument("--ngram", type=at_least(1),
                   help="n of the n-grams (default: the recipe's, else 13, as LM evaluation "
                   "harnesses)")
    d.add_argument("--threshold", type=float, default=0.9,
                   help="cosine at or above which a candidate is flagged (default 0.9)")
    d.add_argument("--no-embed", action="store_true",
                   help="n-grams only (no embedding model is loaded)")
    d.add_argument("--seeds", action="store_true",
                   help="check the task's seeds instead, and only report")
    d.add_argument("--show", type=at_least(0), default=20,
                   help="flagged candidates listed (default 20)")
    add_command(
        sub, "verifiers", cmd_verifiers,
        "list the verifiers recipes can name: the built-ins and those installed packages "
        "add (entry points bare_tui.verifiers)", [],
        "bare-tui verifiers")
