"""The clusters view: a table of clusters with their review counts, a 2-D map of the
candidates, and the similarity histogram. Enter filters the review queue to a cluster;
A / X accept or reject a whole cluster after a confirmation, as one undoable step."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual_plotext import PlotextPlot

from bare_tui.core import curation, diversity
from bare_tui.errors import BareError
from bare_tui.text import clean
from bare_tui.tui.screens.modals import ConfirmScreen

if TYPE_CHECKING:
    from bare_tui.tui.app import BareApp


class ClustersScreen(Screen):
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
    ]
    app: BareApp

    def compose(self) -> ComposeResult:
        yield Static(id="note")
        yield DataTable(id="table", cursor_type="row")
        with Horizontal(id="plots"):
            scatter = PlotextPlot(id="scatter")
            scatter.theme = "dark"  # fixed colours: the same picture in every terminal
            yield scatter
            yield Static(id="histogram")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("cluster", "size", "accepted", "rejected", "pending", "label",
                          "representative")
        self.refresh_view()
        table.focus()

    def refresh_view(self) -> None:
        store, task = self.app.store, self.app.recipe
        rows = curation.cluster_table(store, task)
        table = self.query_one(DataTable)
        table.clear()
        for row in rows:
            table.add_row(str(row["cluster"]), str(row["size"]), str(row["accepted"]),
                          str(row["rejected"]), str(row["pending"]), clean(row["label"]),
                          f"#{row['representative_id']}", key=str(row["cluster"]))
        note = self.query_one("#note", Static)
        if not rows:
            note.update("No clusters yet: press r to cluster the embedded candidates "
                        "(`bare-tui embed` first).")
        else:
            note.update(f"{len(rows)} clusters of {sum(r['size'] for r in rows)} candidates. "
                        "Enter reviews a cluster; A / X accept / reject all of it (undo: u).")
        self._plot()

    def _plot(self) -> None:
        scatter = self.query_one("#scatter", PlotextPlot)
        histogram = self.query_one("#histogram", Static)
        scatter.plt.clear_data()
        scatter.plt.clear_figure()
        ids, matrix = curation.current_vectors(self.app.store, self.app.recipe)
        if len(ids) >= 2:
            labels = dict(self.app.store.conn.execute(
                "SELECT candidate_id, cluster FROM clusters WHERE task = ?",
                (self.app.recipe.name,)).fetchall())
            rows, points = curation.projection(matrix)
            groups: dict[int, list[int]] = {}
            for row in rows:
                groups.setdefault(labels.get(ids[row], -1), []).append(row)
            position = {row: n for n, row in enumerate(rows)}
            for cluster, members in sorted(groups.items()):
                where = [position[m] for m in members]
                scatter.plt.scatter(points[where, 0].tolist(), points[where, 1].tolist(),
                                    marker="dot", label=None if cluster < 0 else str(cluster))
            result = diversity.diversity(matrix, bins=12)
            histogram.update(Text(
                f"pairwise similarity of the candidates, mean {result.mean_similarity:.3f}\n"
                + diversity.histogram_text(result, width=24)))
        scatter.plt.title("candidates (2-D projection)")
        scatter.refresh()

    def _selected(self) -> int | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return int(table.get_row_at(table.cursor_row)[0])

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_cluster()

    def action_open_cluster(self) -> None:
        cluster = self._selected()
        if cluster is not None:
            self.app.pop_screen()
            self.app.review.show_cluster(cluster)

    def action_decide(self, action: str) -> None:
        cluster = self._selected()
        if cluster is None:
            return

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            try:
                members = curation.decide_cluster(self.app.store, self.app.recipe, cluster,
                                                  action, self.app.reviewer, self.app.session)
            except BareError as exc:
                self.notify(str(exc), severity="error", timeout=8)
                return
            self.notify(f"{action}ed {len(members)} candidates of cluster {cluster}; "
                        "u undoes it")
            self.app.review.reload()
            self.refresh_view()

        size = len(curation.cluster_members(self.app.store, self.app.recipe, cluster))
        self.app.push_screen(ConfirmScreen(f"{action.capitalize()} all {size} candidates of "
                                           f"cluster {cluster}?"), answered)

    def action_recluster(self) -> None:
        try:
            curation.recluster(self.app.store, self.app.recipe)
        except BareError as exc:
            self.notify(str(exc), severity="error")
            return
        self.refresh_view()

    def action_close(self) -> None:
        self.app.pop_screen()
