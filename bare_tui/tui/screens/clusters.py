"""The clusters view: a table of clusters with their review counts, a 2-D map of the
candidates, and the similarity histogram. Enter filters the review list to a cluster;
A / X accept or reject a whole cluster after a confirmation, as one undoable step.
Clustering, the projection and the histogram run in a thread: the table keeps moving."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from bare_tui.core.measures import curation, diversity, embeddings
from bare_tui.core.reviewing import bulk
from bare_tui.errors import BareError
from bare_tui.text import clean
from bare_tui.tui.messages import Computed, WorkspaceChanged
from bare_tui.tui.screens.modals import ConfirmScreen
from bare_tui.tui.widgets.steady_footer import SteadyFooter
from bare_tui.tui.workspace import Workspace

HISTOGRAM_BARS = 24  # the widest bar, in characters
WIDE_MAP = 60  # columns from which the map has room for its legend


class ClustersScreen(Screen[int | None]):
    """Dismissed with the cluster to review (Enter), or None."""

    DEFAULT_CSS = """
    ClustersScreen #table { height: 1fr; }
    ClustersScreen #plots { height: 1fr; }
    ClustersScreen PlotextPlot { width: 1fr; height: 1fr; }
    ClustersScreen #histogram { width: 1fr; height: 1fr; padding: 0 1; }
    ClustersScreen #note { height: auto; padding: 0 1; }
    """
    BINDINGS = [
        Binding("escape,c", "close", "Back"),
        Binding("enter", "open_cluster", "Review cluster"),
        Binding("A", "decide('accept')", "Accept all"),
        Binding("X", "decide('reject')", "Reject all"),
        Binding("r", "recluster", "Recluster"),
        Binding("j", "move(1)", "Down", show=False),
        Binding("k", "move(-1)", "Up", show=False),
    ]
    _similarity: diversity.Diversity | None = None

    def __init__(self, workspace: Workspace) -> None:
        super().__init__()
        self.workspace = workspace

    def compose(self) -> ComposeResult:
        yield Static(id="note")
        yield DataTable(id="table", cursor_type="row")
        with Horizontal(id="plots"):
            scatter = PlotextPlot(id="scatter")
            scatter.theme = "dark"  # fixed colours: the same picture in every terminal
            yield scatter
            yield Static(id="histogram")
        yield SteadyFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        # The label, longest, goes last: a narrow screen cuts it, not the numbers.
        table.add_columns("cluster", "size", "accepted", "rejected", "pending",
                          "representative", "label")
        self.refresh_view()
        table.focus()

    # --- slow work, in a thread: the table keeps its keys meanwhile -----------------------

    def refresh_view(self, recluster: bool = False) -> None:
        note = self.query_one("#note", Static)
        note.update("working: clustering the candidates… (the table still moves)" if recluster
                    else "working: reading the clusters…")
        self.query_one("#plots").loading = True
        self._load(recluster)

    @work(thread=True, exclusive=True, group="clusters", exit_on_error=False)
    def _load(self, recluster: bool) -> None:
        recipe = self.workspace.recipe
        with self.workspace.open_store() as store:
            try:
                if recluster:  # every candidate, the ones made since included
                    embeddings.embed(store, recipe, self.workspace.settings.embedder)
                    curation.recluster(store, recipe)
            except BareError as exc:
                self.post_message(Computed(self._show, ClustersView(error=str(exc))))
                return
            view = ClustersView(rows=curation.cluster_table(store, recipe),
                                candidates=store.scalar("SELECT count(*) FROM candidates"
                                                        " WHERE task = ?", (recipe.name,)))
            ids, matrix = curation.current_vectors(store, recipe)
            if len(ids) >= 2:
                labels = dict(store.conn.execute(
                    "SELECT candidate_id, cluster FROM clusters WHERE task = ?",
                    (recipe.name,)).fetchall())
                rows, points = curation.projection(matrix)
                for row, point in zip(rows, points, strict=True):
                    view.points.setdefault(labels.get(ids[row], -1), []).append(
                        (float(point[0]), float(point[1])))
                view.similarity = diversity.diversity(matrix, bins=12)
        self.post_message(Computed(self._show, view))

    @on(Computed)
    def _computed(self, message: Computed) -> None:
        message.then(message.result)

    def _show(self, view: ClustersView) -> None:
        self.query_one("#plots").loading = False
        note = self.query_one("#note", Static)
        if view.error:
            note.update(view.error)
            self.notify(view.error, severity="error")
            return
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        for row in view.rows:
            table.add_row(str(row["cluster"]), str(row["size"]), str(row["accepted"]),
                          str(row["rejected"]), str(row["pending"]),
                          f"#{row['representative_id']}", clean(row["label"]),
                          key=str(row["cluster"]))
        if view.rows:
            table.move_cursor(row=min(cursor, len(view.rows) - 1))
            clustered = sum(r["size"] for r in view.rows)
            newer = (f" {view.candidates - clustered} candidates made since are in none: "
                     "r embeds and clusters them all." if view.candidates > clustered else "")
            note.update(f"{len(view.rows)} clusters of {clustered} of the task's "
                        f"{view.candidates} candidates.{newer} Enter reviews a cluster; A / X "
                        "accept / reject all of it (undo: u).")
        else:
            note.update("No clusters yet: press r to cluster the embedded candidates "
                        "(`bare-tui embed` first).")
        scatter = self.query_one("#scatter", PlotextPlot)
        scatter.plt.clear_data()
        scatter.plt.clear_figure()
        # A legend on a narrow map would cover its points: the colours alone tell the
        # clusters apart there, and the table names them. (The map takes half the
        # screen's width; its own size is not known yet while it was loading.)
        legend = self.size.width // 2 >= WIDE_MAP
        for cluster, points in sorted(view.points.items()):
            scatter.plt.scatter([x for x, _ in points], [y for _, y in points], marker="dot",
                                label=str(cluster) if legend and cluster >= 0 else None)
        scatter.plt.title("candidates (2-D projection)")
        scatter.refresh()
        self._similarity = view.similarity
        self.call_after_refresh(self._draw_histogram)  # once its pane has its size

    def on_resize(self) -> None:
        self._draw_histogram()

    def _draw_histogram(self) -> None:
        """The histogram with bars as wide as its pane leaves beside the "0.12..0.34 "
        and count columns, so that no row wraps."""
        pane = self.query_one("#histogram", Static)
        result = self._similarity
        if result is None:
            pane.update("")
            return
        width = pane.content_size.width
        bars = max(6, min(HISTOGRAM_BARS, width - 22)) if width else HISTOGRAM_BARS
        pane.update(Text(f"pairwise similarity of the candidates, mean "
                         f"{result.mean_similarity:.3f}\n"
                         + diversity.histogram_text(result, width=bars)))

    # --- keys -------------------------------------------------------------------------------

    def _selected(self) -> int | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return int(table.get_row_at(table.cursor_row)[0])

    def action_move(self, rows: int) -> None:
        table = self.query_one(DataTable)
        table.move_cursor(row=table.cursor_row + rows)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_cluster()

    def action_open_cluster(self) -> None:
        cluster = self._selected()
        if cluster is not None:
            self.dismiss(cluster)

    def action_decide(self, action: str) -> None:
        cluster = self._selected()
        if cluster is None:
            return

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            try:
                workspace = self.workspace
                members = bulk.decide_cluster(workspace.store, workspace.recipe, cluster,
                                              action, workspace.reviewer, workspace.session)
            except BareError as exc:
                self.notify(str(exc), severity="error", timeout=8)
                return
            self.notify(f"{action}ed {len(members)} candidates of cluster {cluster}; "
                        "u undoes it")
            self.post_message(WorkspaceChanged())
            self.refresh_view()

        size = len(curation.cluster_members(self.workspace.store, self.workspace.recipe, cluster))
        self.app.push_screen(ConfirmScreen(f"{action.capitalize()} all {size} candidates of "
                                           f"cluster {cluster}?"), answered)

    def action_recluster(self) -> None:
        self.refresh_view(recluster=True)

    def action_close(self) -> None:
        self.dismiss(None)


@dataclass
class ClustersView:
    """What the clusters view shows, computed in a thread."""

    rows: list[dict] = field(default_factory=list)
    points: dict[int, list[tuple[float, float]]] = field(default_factory=dict)
    similarity: diversity.Diversity | None = None
    error: str = ""
    candidates: int = 0  # the task's, clustered or not
