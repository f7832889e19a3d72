"""Command-line entry point: every pipeline step as a headless command.

Commands live in one module per group (setup, generation, review, diversity). User
mistakes end in one line on stderr (`error: ...`) and a non-zero exit status, never a
traceback. Heavy libraries load only inside the commands that need them.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys

from bare_tui import __version__
from bare_tui.cli import diversity, generation, quality, review, setup, team, verify
from bare_tui.cli.common import EXIT_ERROR, EXIT_INTERRUPTED, Parser
from bare_tui.errors import BareError
from bare_tui.text import has_surrogates, one_line

# Options whose text is stored or sent as it is (names, reasons, URLs, templates): bytes
# that are not UTF-8 there are refused. Paths are kept byte for byte (the file is opened
# by its real name) and stored and shown with escapes (bare_tui.text.shown_path).
TEXT_OPTIONS = ("reason", "tag", "reviewer", "license", "map", "split", "name", "task",
                "server", "base_server", "instruct_server", "judge_server")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="bare-tui",
        description="Make fine-tuning datasets with BARE: a base model drafts diverse "
        "candidates, an instruct model refines each one, you curate and export JSONL.",
        epilog="examples:\n  bare-tui demo\n  bare-tui seeds import seeds.jsonl --task gsm8k\n"
        "  bare-tui run -n 200\n  bare-tui export train.jsonl --profile chat\n"
        "  bare-tui doctor",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"bare-tui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in (setup, generation, review, team, diversity, quality, verify):
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        args = parser.parse_args(["review"])
    try:
        _refuse_undecodable(args)
        return args.func(args)
    except BareError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted; committed samples are kept, rerun to continue", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_ERROR
    except sqlite3.Error as exc:
        # Reads outside a transaction (writes say it themselves, as a BareError).
        print(f"error: the workspace database: {one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR


def _refuse_undecodable(args: argparse.Namespace) -> None:
    for name in TEXT_OPTIONS:
        value = getattr(args, name, None)
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, str) and has_surrogates(v) for v in values):
            raise BareError(f"--{name.replace('_', '-')} is not UTF-8 text (your terminal or "
                            "locale sent other bytes); type it again in UTF-8")
