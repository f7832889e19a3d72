"""The review screen's tools: the background job, export, stats, clusters, the nearest
neighbour. Part of the review screen (a mixin of ReviewScreen). Slow work runs in a
thread worker on a connection of its own and posts its result back (`in_thread`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work

from bare_tui.core import curation
from bare_tui.core.export import ExportResult, FileExists, export
from bare_tui.core.recipes import Recipe
from bare_tui.core.store import Store
from bare_tui.errors import BareError
from bare_tui.tui.messages import Computed, StartJob, StopJob
from bare_tui.tui.screens.modals import (
    AskScreen,
    ConfirmScreen,
    ExportScreen,
    StatsScreen,
    default_export_path,
)

if TYPE_CHECKING:
    from bare_tui.tui.screens.review import ReviewScreen

    Base = ReviewScreen
else:
    Base = object


class ReviewTools(Base):
    def action_generate(self) -> None:
        if self.job_running:
            self.notify("a job is already running (G stops it)", severity="warning")
            return

        def answered(text: str | None) -> None:
            if text is None:
                return
            try:
                more = int(text)
                if more < 1:
                    raise ValueError
            except ValueError:
                self.notify(f"not a positive whole number: {text!r}", severity="error")
                return
            self.post_message(StartJob(more))

        self.app.push_screen(AskScreen("Draft and refine how many more candidates?", "10"),
                             answered)

    def action_cancel_job(self) -> None:
        self.post_message(StopJob())

    def in_thread(self, what: str, compute: Callable[[Store], Any],
                  then: Callable[[Any], None]) -> None:
        """Run `compute` on a connection of a worker thread's own, the status line saying
        so; `then` gets its result, or the BareError it raised, back on this screen."""
        self.working = what
        self.update_status()
        self._run_in_thread(compute, then)

    @work(thread=True, group="tools", exit_on_error=False)
    def _run_in_thread(self, compute: Callable[[Store], Any],
                       then: Callable[[Any], None]) -> None:
        try:
            with self.workspace.open_store() as store:
                result = compute(store)
        except BareError as exc:
            result = exc
        except BaseException:
            self.post_message(Computed(lambda _result: None, None))  # clears "working"
            raise
        self.post_message(Computed(then, result))

    def action_export(self) -> None:
        recipe = self.workspace.recipe

        def write(path: str, profile: str, status: str, force: bool = False) -> None:
            self.in_thread(f"exporting to {path}", lambda store: export(
                store, recipe, Path(path), profile=profile, status=status, force=force,
                embedding_model=self.workspace.settings.embedding_model, embed=True,
                on_note=lambda text: self.app.call_from_thread(  # said from the worker
                    self.notify, text, severity="warning")),
                lambda result: written(result, (path, profile, status)))

        def written(result: ExportResult | BareError, answer: tuple[str, str, str]) -> None:
            if isinstance(result, FileExists):
                question = str(result).split(";")[0] + ": replace?"
                self.app.push_screen(ConfirmScreen(question),
                                     lambda yes: yes and write(*answer, force=True))
            elif isinstance(result, BareError):
                self.notify(str(result), severity="error", timeout=8)
            else:
                self.notify("\n".join(result.summary()), timeout=6)

        def chosen(answer: tuple[str, str, str] | None) -> None:
            if answer is not None:
                write(*answer)

        self.app.push_screen(ExportScreen(default_export_path(
            self.workspace.store.path, self.workspace.recipe.name)), chosen)

    def show_cluster(self, cluster: int) -> None:
        """Review one cluster: the queue holds its candidates only (f clears it)."""
        self.cluster = cluster
        self.reload(keep=None)

    def action_twin(self) -> None:
        twin = self._twin(self.candidates.current_id)
        if twin is None:
            self.notify("no embeddings yet: run `bare-tui embed`", severity="warning")
        elif twin.kind == "seed":
            self.notify(f"its nearest neighbour is seed {twin.other_id}, not a candidate")
        elif twin.other_id in self.candidates.ids:
            self.candidates.cursor = self.candidates.ids.index(twin.other_id)
        else:
            self.notify(f"#{twin.other_id} is outside the current filter (f shows all)")

    def action_clusters(self) -> None:
        from bare_tui.tui.screens.clusters import ClustersScreen

        def chosen(cluster: int | None) -> None:
            if cluster is not None:
                self.show_cluster(cluster)

        self.app.push_screen(ClustersScreen(self.workspace), chosen)

    def action_stats(self) -> None:
        recipe = self.workspace.recipe

        def shown(text: str | BareError) -> None:
            if isinstance(text, BareError):
                self.notify(str(text), severity="error")
            else:
                self.app.push_screen(StatsScreen(text))

        self.in_thread("diversity stats", lambda store: stats_text(store, recipe), shown)

    def action_compare(self) -> None:
        from bare_tui.core import compare
        from bare_tui.tui.screens.compare import CompareScreen

        name = self.workspace.recipe.name

        def shown(found: tuple[dict, str] | None | BareError) -> None:
            if isinstance(found, BareError):
                self.notify(str(found), severity="error")
            elif found is None:
                self.notify(f"no comparison of {name} yet: `bare-tui compare -n 32` makes "
                            "one", timeout=8)
            else:
                self.app.push_screen(CompareScreen(found[0]))

        self.in_thread("the comparison", lambda store: compare.latest(store, name), shown)




def stats_text(store: Store, recipe: Recipe) -> str:
    """BARE's diversity of seeds, drafts, refinements and the accepted set, as text."""
    from bare_tui.core import diversity

    parts = []
    for name, result in curation.stats(store, recipe, bins=12).items():
        if result is None:
            parts.append(f"{name}: fewer than 2 embedded items")
            continue
        parts.append(f"{name}: {result.size} items, mean similarity "
                     f"{result.mean_similarity:.4f}\n{diversity.histogram_text(result, 30)}")
    return "\n\n".join(parts)

