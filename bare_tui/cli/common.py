"""What every command group shares: option groups, settings, the workspace, Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

EXIT_ERROR = 1
# Stopped by Ctrl-C (once: after the current sample; twice: at once), as a shell reports
# a process SIGINT ended: a script can tell that the job did not finish.
EXIT_INTERRUPTED = 130
EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors that say where to read more."""

    def error(self, message: str) -> NoReturn:
        from bare_tui.text import one_line

        print(f"error: {self.prog}: {one_line(message)} (see `{self.prog} --help`)",
              file=sys.stderr)
        sys.exit(EXIT_USAGE)


def console(stderr: bool = False):
    """Rich output that never parses markup: printed text comes from outside too (paths,
    names, model output), and it goes through `bare_tui.text.clean` first."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, markup=False)


INT64_MAX = 2**63 - 1  # what SQLite stores, and what a seed can be


def at_least(minimum: int, maximum: int = INT64_MAX) -> Callable[[str], int]:
    """An argparse type: a whole number from `minimum` to `maximum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        if value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {value}")
        return value

    parse.__name__ = f"number >= {minimum}"
    return parse


def between(low: float, high: float) -> Callable[[str], float]:
    """An argparse type: a number from `low` to `high` (never nan or infinite)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not low <= value <= high:  # also false for nan
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}, got {text}")
        return value

    parse.__name__ = f"number in [{low:g}, {high:g}]"
    return parse


def add_command(sub: Any, name: str, func: Callable, help_text: str, parents: list,
                examples: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        name, help=help_text, description=help_text, parents=parents,
        epilog=f"examples:\n  {examples}", formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=func)
    return parser


# --- shared options -----------------------------------------------------------------

def workspace_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("workspace")
    group.add_argument("--db", help="workspace database (default data/bare.db, or $BARE_TUI_DB)")
    group.add_argument("--config", help="config file (default ./bare-tui.toml or "
                       "~/.config/bare-tui/config.toml)")
    group.add_argument("--task", help="built-in task name, task in the workspace, or path to a "
                       "recipe .toml (default: the workspace's only task)")
    group.add_argument("--update-recipe", action="store_true",
                       help="let --task FILE.toml replace the stored recipe of a task that "
                       "has data (earlier versions are kept)")
    return parent


def model_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("models")
    group.add_argument("--base", help="base model: embedded name, GGUF path, or file in models/ "
                       "(default: embedded Gemma 3 270M)")
    group.add_argument("--instruct", help="instruct model, same forms "
                       "(default: embedded SmolLM2-135M-Instruct)")
    group.add_argument("--gpu-layers", type=at_least(-1),
                       help="layers to offload to the GPU (-1 all; default all when this "
                       "llama.cpp build can offload, else 0)")
    group.add_argument("--ctx", type=at_least(1), help="context length in tokens (default 4096)")
    group.add_argument("--threads", type=at_least(1), help="CPU threads (default: all cores)")
    group.add_argument("--parallel", type=at_least(1),
                       help="sequences decoded at once (default 16 on CPU, 64 with GPU offload;"
                       " 1 = one at a time)")
    group.add_argument("--cpu-path", choices=("auto", "fast", "safe"),
                       help="llama.cpp's extra CPU buffer types (AMX, repacking): auto probes "
                       "once per machine whether they run (default auto; $BARE_TUI_CPU_PATH)")
    served = parent.add_argument_group("serving engine (instead of local GGUF models)")
    served.add_argument("--server", metavar="URL",
                        help="OpenAI-compatible engine (vLLM, llama-server, SGLang) for both"
                        " roles; --base/--instruct then name served models (default: the"
                        " first listed); API key from $BARE_TUI_API_KEY")
    served.add_argument("--base-server", metavar="URL", help="engine for the base model only")
    served.add_argument("--instruct-server", metavar="URL",
                        help="engine for the instruct model only")
    served.add_argument("--embedding-server", metavar="URL",
                        help="engine serving the embedding model at /v1/embeddings (the "
                        "paper used text-embedding-3-small); [diversity] model or "
                        "$BARE_TUI_EMBEDDING_MODEL names it (default: the first listed)")
    served.add_argument("--concurrency", type=at_least(1),
                        help="requests in flight (default 8)")
    served.add_argument("--server-timeout", type=between(0.1, 86_400), metavar="SECONDS",
                        help="how long one request may take before it is retried (default "
                        "600; $BARE_TUI_SERVER_TIMEOUT)")
    return parent


def sampling_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group(
        "sampling (override the recipe; each stage keeps its own values, recorded per run)")
    group.add_argument("--max-tokens", type=at_least(1),
                       help="token budget per sample, for both stages")
    group.add_argument("--draft-max-tokens", type=at_least(1),
                       help="token budget per draft (wins over --max-tokens)")
    group.add_argument("--refine-max-tokens", type=at_least(1),
                       help="token budget per refinement (wins over --max-tokens)")
    group.add_argument("--draft-temperature", "--temperature", type=between(0, 100),
                       dest="draft_temperature",
                       help="temperature of the base model's drafts (recipe default 0.7)")
    group.add_argument("--refine-temperature", type=between(0, 100),
                       help="temperature of the refinements (recipe default 0.7, as in the "
                       "paper)")
    group.add_argument("--no-constrain", dest="constrain_refinements", action="store_false",
                       default=None, help="refinements only asked for the recipe's format in "
                       "the prompt, not held to it by its grammar (default: held)")
    group.add_argument("--constrain-drafts", action="store_true", default=None,
                       help="hold drafts to the recipe's format with its grammar too "
                       "(default: the base model drafts freely)")
    group.add_argument("--rng-seed", type=at_least(0),
                       help="master seed: each sample's shots and seed come from it and the "
                       "sample's place in the task, so reruns continue the stream and a task "
                       "is reproducible from one seed (default random)")
    return parent


# --- settings and the workspace -------------------------------------------------------

def settings(args: argparse.Namespace):
    """The command's settings, read once (defaults, the config file, the environment,
    then the command's flags, each setting's flag as config.FLAGS names it)."""
    from bare_tui import config

    if getattr(args, "_settings", None) is None:
        args._settings = config.load(getattr(args, "config", None),
                                     **{name: getattr(args, name, None)
                                        for name in config.FLAGS})
    return args._settings


def open_store(args: argparse.Namespace, *, create: bool = False):
    """The workspace; only commands that make one (seeds import, draft, run, demo) pass
    `create`: the others, read-only ones above all, never leave an empty file behind."""
    from bare_tui.config import Settings
    from bare_tui.core.workspace.store import Store

    conf = settings(args)
    # Only the default data/bare.db gets its folder made; a path given must have one.
    return Store(conf.db, create=create, make_folder=create and conf.db == Settings().db,
                 busy_timeout=conf.busy_timeout)


def resolve_task(store: Any, args: argparse.Namespace):
    from bare_tui.core.inputs import recipes

    return recipes.resolve(store, args.task, update=getattr(args, "update_recipe", False))


def exit_status(stop: threading.Event) -> int:
    """0, or EXIT_INTERRUPTED when Ctrl-C stopped the job before it finished."""
    return EXIT_INTERRUPTED if stop.is_set() else 0


@contextmanager
def graceful_stop(out: Any) -> Iterator[threading.Event]:
    """First Ctrl-C: finish the current sample, then stop. Second: stop at once. Either
    way the command exits with EXIT_INTERRUPTED (`exit_status`)."""
    stop = threading.Event()

    def handler(_signum: int, _frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        out.print("stopping after the current sample (Ctrl-C again to stop now)",
                  style="yellow")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
