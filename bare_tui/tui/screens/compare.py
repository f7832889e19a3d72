"""The compare view: the latest `bare-tui compare` report of the task, its verdicts in
plain sentences (or that the data cannot tell), what weakens them, its arms in a table
with their intervals, and the arms' similarity histograms overlaid."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from bare_tui.core.measures import compare_report
from bare_tui.text import clean
from bare_tui.tui.widgets.steady_footer import SteadyFooter

COLOURS = {"base": "cyan", "instruct": "orange", "bare": "green"}
# Under NO_COLOR the arms' lines (and their legend) differ by glyph instead of colour.
GLYPHS = {"base": "o", "instruct": "x", "bare": "+"}


class CompareScreen(Screen[None]):
    DEFAULT_CSS = """
    CompareScreen #report { height: 1fr; }
    CompareScreen #title { height: auto; padding: 0 1; text-style: bold; }
    CompareScreen #verdicts { height: auto; padding: 0 1 1 1; }
    CompareScreen #table { height: auto; max-height: 6; }
    CompareScreen #findings { height: auto; padding: 1 1 0 1; }
    CompareScreen PlotextPlot { height: 16; }
    """
    BINDINGS = [Binding("escape,v,q", "close", "Back")]

    def __init__(self, data: dict[str, Any]):
        super().__init__()
        self.data = data

    def compose(self) -> ComposeResult:
        data = self.data
        with VerticalScroll(id="report"):
            yield from self._report(data)
        yield SteadyFooter()

    def _report(self, data: dict[str, Any]) -> ComposeResult:
        """The verdicts first, then the table, what weakens them, and the histograms:
        one column that scrolls, so a small terminal still opens on the verdicts."""
        yield Static(clean(f"{compare_report.heading(data)}, rng seed "
                           f"{data['params'].get('rng_seed')}; IR chance is 75%"), id="title",
                     markup=False)
        yield Static(clean("\n".join(compare_report.verdicts(data))), id="verdicts",
                     markup=False)
        yield DataTable(id="table", cursor_type="row")
        models = " · ".join(f"{arm['arm']}: {arm['model']} at {arm['temperature']}"
                            for arm in data["arms"])
        yield Static(clean("\n".join([*compare_report.warnings(data), models,
                                      *compare_report.findings(data), "",
                                      *compare_report.positions_chart(data)])),
                     id="findings", markup=False)  # model names come from servers
        plot = PlotextPlot(id="histogram")
        plot.theme = "dark"  # fixed colours: the same picture in every terminal
        yield plot

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*compare_report.header(models=False))
        for row in compare_report.rows(self.data, models=False):
            table.add_row(*map(clean, row))
        self._draw()
        self.query_one("#report").focus()

    def _draw(self) -> None:
        plot = self.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        for name, histogram in self.data["histograms"].items():
            edges, counts = histogram["edges"], histogram["counts"]
            total = max(sum(counts), 1)
            centres = [(low + high) / 2 for low, high in zip(edges, edges[1:], strict=False)]
            plt.plot(centres, [100 * count / total for count in counts], label=name,
                     color=COLOURS.get(name, "white"),
                     marker=GLYPHS.get(name, "*") if self.app.no_color else "braille")
        plt.title("pairwise cosine similarity within each arm (% of pairs)")
        plot.refresh()

    def action_close(self) -> None:
        self.dismiss(None)
