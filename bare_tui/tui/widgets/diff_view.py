"""Draft vs refinement, per field, word-level: side by side, inline, or one version."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static

from bare_tui.core.diffing import Span, new_side, old_side, word_diff
from bare_tui.core.queue import Detail
from bare_tui.core.tasks import Task
from bare_tui.tui.safe import clean

MODES = ("side-by-side", "inline", "draft only", "refined only")
# Styles that survive NO_COLOR: strike-through for removed words, underline for added.
DELETE = "strike red on #3a1010"
INSERT = "underline green on #0f2f14"
LABEL = "bold"
PROBLEM = "bold yellow"


def _spans_text(spans: list[Span]) -> Text:
    text = Text()
    for span in spans:
        style = {"delete": DELETE, "insert": INSERT}.get(span.op, "")
        text.append(clean(span.text), style=style)
    return text


def _problems(problems: list[str]) -> list[Text]:
    return [Text(f"! {clean(p)}", style=PROBLEM) for p in problems]


class DiffView(VerticalScroll):
    DEFAULT_CSS = """
    DiffView { padding: 0 1; }
    DiffView #panes { height: auto; }
    DiffView .pane { width: 1fr; height: auto; padding: 0 1 1 0; }
    DiffView.stacked #panes { layout: vertical; }
    DiffView #heading { height: auto; margin-bottom: 1; }
    """

    def __init__(self, task: Task, **kwargs) -> None:
        super().__init__(**kwargs)
        self.recipe = task
        self.mode = MODES[0]
        self.detail: Detail | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="heading")
        with Horizontal(id="panes"):
            yield Static(classes="pane", id="left")
            yield Static(classes="pane", id="right")

    def cycle_mode(self) -> str:
        self.mode = MODES[(MODES.index(self.mode) + 1) % len(MODES)]
        self.show(self.detail)
        return self.mode

    def show(self, detail: Detail | None) -> None:
        self.detail = detail
        heading = self.query_one("#heading", Static)
        left = self.query_one("#left", Static)
        right = self.query_one("#right", Static)
        if detail is None:
            heading.update(Text("No candidate here. Press g to generate some, or f to "
                                "change the filter.", style="italic"))
            left.update("")
            right.update("")
            right.display = False
            return
        heading.update(self._heading(detail))
        draft, refined = self._versions(detail)
        right.display = self.mode == "side-by-side"
        if self.mode == "side-by-side":
            left.update(self._pane("Draft", draft, refined, old_side, detail.draft_problems))
            right.update(self._pane(self._refined_title(detail), draft, refined, new_side,
                                    detail.refined_problems))
        elif self.mode == "inline":
            left.update(self._pane("Draft → " + self._refined_title(detail), draft, refined,
                                   lambda spans: spans, detail.refined_problems))
        elif self.mode == "draft only":
            left.update(self._pane("Draft", draft, draft, old_side, detail.draft_problems))
        else:
            left.update(self._pane(self._refined_title(detail), refined, refined, new_side,
                                   detail.refined_problems))
        self.scroll_home(animate=False)

    def _refined_title(self, detail: Detail) -> str:
        if detail.state.version == "edited":
            return "Edited (final)"
        return "Refined" if detail.refined_raw is not None else "Refined (not yet)"

    def _versions(self, detail: Detail) -> tuple[dict[str, str], dict[str, str]]:
        """Field texts of the draft and of the right-hand version (edit > refinement)."""
        names = self.recipe.field_names
        draft = detail.draft_fields or {names[0]: detail.draft_raw, **{n: "" for n in names[1:]}}
        if detail.state.version == "edited" and detail.state.final_fields:
            return draft, detail.state.final_fields
        if detail.refined_fields is not None:
            return draft, detail.refined_fields
        if detail.refined_raw is not None:
            return draft, {names[0]: detail.refined_raw, **{n: "" for n in names[1:]}}
        return draft, {n: "" for n in names}

    def _pane(self, title: str, old: dict[str, str], new: dict[str, str], side,
              problems: list[str]) -> Group:
        parts: list[Text] = [Text(title, style="bold reverse")]
        for spec in self.recipe.fields:
            spans = word_diff(old.get(spec.name, ""), new.get(spec.name, ""))
            parts += [Text(f"{spec.label}:", style=LABEL), _spans_text(side(spans)), Text("")]
        return Group(*parts, *_problems(problems))

    def _heading(self, detail: Detail) -> Text:
        state = detail.state
        text = Text()
        text.append(f"#{detail.id}", style="bold")
        text.append(f"  {state.status}")
        if state.version:
            text.append(f" ({state.version})")
        if state.reason:
            text.append(f"  reason: {clean(state.reason)}", style="italic")
        text.append(f"  seed {detail.seed}  shots {','.join(map(str, detail.shot_ids))}",
                    style="dim")
        text.append(f"  [{self.mode}]", style="dim")
        if detail.draft_fields is None:
            text.append("  draft did not parse", style=PROBLEM)
        return text
