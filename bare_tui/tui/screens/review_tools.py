"""The review screen's tools, as functions with explicit parameters: how many more to
generate, export, stats, the comparison. Slow work runs through `in_thread` (the
screen's thread worker on a connection of its own), whose result comes back on the
screen's thread."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App
from textual.dom import DOMNode
from textual.message import Message

from bare_tui.core.datasets.export import ExportResult, FileExists, export
from bare_tui.core.measures import curation
from bare_tui.core.reviewing import tags
from bare_tui.core.workspace.store import Store
from bare_tui.errors import BareError
from bare_tui.tui.messages import Computed, StartJob
from bare_tui.tui.screens.modals import (
    AskScreen,
    ConfirmScreen,
    ExportScreen,
    StatsScreen,
    default_export_path,
)
from bare_tui.tui.workspace import Workspace

# Runs `compute(store)` off the screen's thread, saying `what` meanwhile; `then` gets its
# result (or the BareError it raised) back on the screen's thread.
InThread = Callable[[str, Callable[[Store], Any], Callable[[Any], None]], None]


def run_in_thread(node: DOMNode, workspace: Workspace, compute: Callable[[Store], Any],
                  then: Callable[[Any], None]) -> None:
    """Run `compute` in a thread worker of `node`, on a connection of its own; `then`
    gets its result, or the BareError it raised, back on the node's thread (Computed)."""
    def run() -> None:
        try:
            with workspace.open_store() as store:
                result = compute(store)
        except BareError as exc:
            result = exc
        except BaseException:
            node.post_message(Computed(lambda _result: None, None))  # clears "working"
            raise
        node.post_message(Computed(then, result))

    node.run_worker(run, thread=True, group="tools", exit_on_error=False)


def twin_index(app: App, twin: curation.Twin | None, ids: list[int]) -> int | None:
    """Where the candidate's nearest neighbour is in the list (n jumps there), or None
    with the reason said."""
    if twin is None:
        app.notify("no embeddings yet: run `bare-tui embed`", severity="warning")
    elif twin.kind == "seed":
        app.notify(f"its nearest neighbour is seed {twin.other_id}, not a candidate")
    elif twin.other_id in ids:
        return ids.index(twin.other_id)
    else:
        app.notify(f"#{twin.other_id} is outside the current filter (f shows all)")
    return None


def ask_how_many(app: App, post: Callable[[Message], Any]) -> None:
    """Ask how many more candidates to draft and refine, and start that job."""
    def answered(text: str | None) -> None:
        if text is None:
            return
        try:
            more = int(text)
            if more < 1:
                raise ValueError
        except ValueError:
            app.notify(f"not a positive whole number: {text!r}", severity="error")
            return
        post(StartJob(more))

    app.push_screen(AskScreen("Draft and refine how many more candidates?", "10"), answered)


def ask_export(app: App, workspace: Workspace, in_thread: InThread) -> None:
    """Ask where and what to export, then export in a thread (asking before replacing
    a file); the same core export, with embeddings, as the CLI's."""
    recipe = workspace.recipe

    def write(path: str, profile: str, status: str, force: bool = False) -> None:
        in_thread(f"exporting to {path}", lambda store: export(
            store, recipe, Path(path), profile=profile, status=status, force=force,
            embedding_model=workspace.settings.embedder, embed=True,
            on_note=lambda text: app.call_from_thread(  # said from the worker
                app.notify, text, severity="warning")),
            lambda result: written(result, (path, profile, status)))

    def written(result: ExportResult | BareError, answer: tuple[str, str, str]) -> None:
        if isinstance(result, FileExists):
            question = str(result).split(";")[0] + ": replace?"
            app.push_screen(ConfirmScreen(question),
                            lambda yes: yes and write(*answer, force=True))
        elif isinstance(result, BareError):
            app.notify(str(result), severity="error", timeout=8)
        else:
            app.notify("\n".join(result.summary()), timeout=6)

    def chosen(answer: tuple[str, str, str] | None) -> None:
        if answer is not None:
            write(*answer)

    app.push_screen(ExportScreen(default_export_path(workspace.store.path, recipe.name)),
                    chosen)


def show_stats(app: App, workspace: Workspace, in_thread: InThread) -> None:
    """The stats report (the CLI's `stats --histogram` text) in a modal."""
    recipe, model = workspace.recipe, workspace.settings.embedder

    def shown(lines: list[str] | BareError) -> None:
        if isinstance(lines, BareError):
            app.notify(str(lines), severity="error")
        else:
            app.push_screen(StatsScreen("\n".join(lines)))

    in_thread("diversity stats", lambda store: curation.stats_lines(
        store, recipe, model, bins=12, width=30)
        + tags.report_lines(store, recipe.name, recipe.tags), shown)


def show_comparison(app: App, workspace: Workspace, in_thread: InThread) -> None:
    """The latest comparison of the task, or how to make one."""
    from bare_tui.core.measures import compare
    from bare_tui.tui.screens.compare import CompareScreen  # plotting loads when needed

    name = workspace.recipe.name

    def shown(found: tuple[dict, str] | None | BareError) -> None:
        if isinstance(found, BareError):
            app.notify(str(found), severity="error")
        elif found is None:
            app.notify(f"no comparison of {name} yet: `bare-tui compare -n 32` makes one",
                       timeout=8)
        else:
            app.push_screen(CompareScreen(found[0]))

    in_thread("the comparison", lambda store: compare.latest(store, name), shown)
