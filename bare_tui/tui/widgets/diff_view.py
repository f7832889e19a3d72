"""Draft vs refinement, per field, word-level: side by side, inline, or one version.

The view draws its own lines (Textual's line API): showing another candidate re-wraps
the text and repaints this widget alone, with no layout pass over the screen. Side by
side, each field starts on the same row in both columns; when the view is narrow the
two versions stack instead. A very long text (model output can run to thousands of
lines) is cut to its first lines, with a note; `m` shows all of it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from rich.segment import Segment
from rich.text import Text
from textual.events import Resize
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from bare_tui.core.current import Current
from bare_tui.core.diffing import Span, new_side, old_side, word_diff
from bare_tui.core.recipes import Task
from bare_tui.text import clean

MODES = ("side-by-side", "inline", "draft only", "refined only")
# Strike-through for removed words, underline for added; with NO_COLOR, where grey on
# grey can hardly be told apart, the text itself marks them too, as git's word diff does.
DELETE = "strike red on #3a1010"
INSERT = "underline green on #0f2f14"
MARKS = {"delete": ("[-", "-]"), "insert": ("{+", "+}")}
TITLE = "bold reverse"
LABEL = "bold"
PROBLEM = "bold yellow"
GUTTER = " │ "
# Beyond these, a field's text is cut until asked for (m): diffing and wrapping
# thousands of lines would take seconds on every redraw.
SHOWN_LINES = 200
SHOWN_CHARS = 20_000

Row = tuple[Text, Text | None]  # one column, or left and right columns


@lru_cache(maxsize=256)
def _diff(old: str, new: str) -> tuple[Span, ...]:
    return tuple(word_diff(old, new))


def _spans_text(spans: tuple[Span, ...] | list[Span], marked: bool = False) -> Text:
    """The spans with their styles; `marked`: with `[-removed-]` and `{+added+}` too."""
    text = Text()
    for span in spans:
        style = {"delete": DELETE, "insert": INSERT}.get(span.op, "")
        opening, closing = MARKS.get(span.op, ("", "")) if marked else ("", "")
        text.append(f"{opening}{clean(span.text)}{closing}", style=style)
    return text


def _cut(text: str) -> tuple[str, int]:
    """The start of a long text, and how many of its lines were left out."""
    if len(text) <= SHOWN_CHARS and text.count("\n") < SHOWN_LINES:
        return text, 0
    lines = text[:SHOWN_CHARS].split("\n")[:SHOWN_LINES]
    shown = "\n".join(lines)
    return shown, max(1, text.count("\n") + 1 - len(lines))


def _problems(problems: list[str]) -> Text:
    return Text("\n".join(f"! {clean(p)}" for p in problems), style=PROBLEM)


class DiffView(ScrollView, can_focus=True):
    DEFAULT_CSS = "DiffView { padding: 0 1; }"

    def __init__(self, recipe: Task, **kwargs) -> None:
        super().__init__(**kwargs)
        self.recipe = recipe
        self.mode = MODES[0]
        self.stacked = False
        self.detail: Current | None = None
        self.note: Text | None = None
        self.whole = False  # show long texts whole (m), for the current candidate
        self._was_cut = False
        self._strips: list[Strip] = []

    # --- what to show --------------------------------------------------------------------

    def cycle_mode(self) -> str:
        self.mode = MODES[(MODES.index(self.mode) + 1) % len(MODES)]
        self._layout_lines()
        self.scroll_to(0, 0, animate=False, immediate=True)
        return self.mode

    def show(self, detail: Current | None, note: Text | None = None) -> None:
        """Show a candidate; `note` is a line under its heading (the near-duplicate
        warning). Showing what is already shown costs nothing (a reload while a job
        commits redraws only what changed)."""
        if detail == self.detail and note == self.note and self._strips:
            return
        if detail is None or self.detail is None or detail.id != self.detail.id:
            self.whole = False
            self.scroll_to(0, 0, animate=False, immediate=True)
        self.detail = detail
        self.note = note
        self._layout_lines()

    def show_whole(self) -> bool:
        """Show the current candidate's long texts whole; False when nothing was cut."""
        if self.whole or not self._was_cut:
            return False
        self.whole = True
        self._layout_lines()
        return True

    def on_resize(self, event: Resize) -> None:
        self._layout_lines()

    @property
    def side_by_side(self) -> bool:
        return self.mode == "side-by-side" and not self.stacked

    def set_stacked(self, stacked: bool) -> None:
        """Stack the two versions (on a narrow screen) instead of showing them side by side."""
        if stacked != self.stacked:
            self.stacked = stacked
            self._layout_lines()

    def plain_lines(self) -> list[str]:
        """The text as shown, one string per screen line (for tests and tools)."""
        return [strip.text.rstrip() for strip in self._strips]

    def _rows(self) -> list[Row]:
        detail = self.detail
        if detail is None:
            return [(Text("No candidate here. Press g to generate some, or f to change the "
                          "filter.", style="italic"), None)]
        draft, final, final_problems = self._versions(detail)
        rows: list[Row] = [(self._heading(detail), None)]
        if self.note is not None:
            rows.append((self.note, None))
        rows.append((Text(""), None))
        right_title = self._refined_title(detail)
        left = "Original" if detail.origin else "Draft"
        if self.mode == "side-by-side":
            columns = [(left, draft, final, old_side, detail.draft_problems),
                       (right_title, draft, final, new_side, final_problems)]
        elif self.mode == "inline":
            columns = [(f"{left} → {right_title}", draft, final, list, final_problems)]
        elif self.mode == "draft only":
            columns = [(left, draft, draft, old_side, detail.draft_problems)]
        else:
            columns = [(right_title, final, final, new_side, final_problems)]
        # Problems go first, under each title, so a short screen shows them; side by
        # side, both columns get the row when either has some, to keep fields level.
        with_problems = any(column[-1] for column in columns)
        blocks = [self._column(*column, with_problems) for column in columns]
        if len(blocks) == 2 and self.side_by_side:
            rows += [(left, right) for left, right in zip(*blocks, strict=True)]
        else:
            for block in blocks:
                rows += [(text, None) for text in block] + [(Text(""), None)]
        return rows

    def _column(self, title: str, old: dict[str, str], new: dict[str, str], side,
                problems: list[str], with_problems: bool) -> list[Text]:
        """One version as rows: title, its problems (`with_problems`), then label and
        text of each field. Both columns of a side-by-side view have the same rows, so
        fields line up."""
        rows = [Text(f" {title} ", style=TITLE)]
        if with_problems:
            rows.append(_problems(problems))
        for spec in self.recipe.fields:
            before, after = old.get(spec.name, ""), new.get(spec.name, "")
            hidden = 0
            if not self.whole:
                (before, cut_before), (after, cut_after) = _cut(before), _cut(after)
                hidden = max(cut_before, cut_after)
            rows += [Text(f"{clean(spec.label)}:", style=LABEL),
                     _spans_text(side(_diff(before, after)), self.app.no_color)]
            if hidden:
                self._was_cut = True
                rows.append(Text(f"… {hidden} more lines not shown (m shows all)",
                                 style=PROBLEM))
            rows.append(Text(""))
        return rows

    def _refined_title(self, detail: Current) -> str:
        if detail.final_version == "edited":
            return "Edited (final)"
        if detail.final_version == "refined":
            return "Refined"
        if not detail.refined:
            return "Not refined yet: the draft"
        if detail.decided_version == "draft":
            return "Refined (not used: the draft was accepted)"
        if detail.refinement_failed:
            return "Refinement failed its checks: draft proposed"
        return "Refinement (did not parse: the draft is final)"

    def _versions(self, detail: Current
                  ) -> tuple[dict[str, str], dict[str, str], list[str]]:
        """Field texts of the draft and of the right column, and the right column's
        problems. The right column is the final text (core/current.py decides it) when
        that is not the draft; else the latest refinement, when there is one, to see."""
        names = self.recipe.field_names

        def whole(text: str) -> dict[str, str]:  # unparsed output goes in the first field
            return {names[0]: text, **{n: "" for n in names[1:]}}

        draft = detail.draft_fields or whole(detail.draft_raw)
        if detail.final_version != "draft":
            return draft, detail.final_or_raw(names), detail.final_problems
        if not detail.refined:
            return draft, draft, detail.draft_problems  # nothing to compare with yet
        if detail.best_fields is not None:
            return draft, detail.best_fields, detail.best_problems
        return (draft, detail.latest_fields or whole(detail.latest_raw or ""),
                detail.latest_problems)

    def _heading(self, detail: Current) -> Text:
        text = Text()
        text.append(f"#{detail.id}", style="bold")
        text.append(f"  {detail.status}")
        if detail.decided_version:
            text.append(f" ({detail.decided_version})")
        if detail.reason:
            text.append(f"  reason: {clean(detail.reason)}", style="italic")
        if detail.origin:
            origin = f"  from {Path(detail.origin['file']).name}:{detail.origin['line']}"
            text.append(clean(origin), style="dim")
        else:
            text.append(f"  seed {detail.seed}  shots {','.join(map(str, detail.shot_ids))}",
                        style="dim")
        text.append(f"  [{self.mode}]", style="dim")
        if detail.draft_fields is None:
            text.append("  draft did not parse", style=PROBLEM)
        if detail.final_version == "draft" and detail.refined and not detail.decided_version:
            if detail.refinement_failed:
                text.append("  refinement failed its checks: a takes the draft", style=PROBLEM)
            elif detail.best_fields is None:
                text.append("  refinement did not parse: a takes the draft", style=PROBLEM)
        return text

    # --- drawing -------------------------------------------------------------------------

    def _wrap(self, text: Text, width: int) -> list[Strip]:
        console = self.app.console
        lines = console.render_lines(text, console.options.update(width=width, height=None),
                                     pad=True)
        return [Strip(line, width) for line in lines]

    def _layout_lines(self) -> None:
        self._was_cut = False
        width = max(10, self.scrollable_content_region.width)
        strips: list[Strip] = []
        column = (width - len(GUTTER)) // 2
        gutter = Strip([Segment(GUTTER, self.rich_style)], len(GUTTER))
        for left, right in self._rows():
            if right is None:
                strips += self._wrap(left, width)
                continue
            lefts, rights = self._wrap(left, column), self._wrap(right, column)
            blank = Strip.blank(column)
            for index in range(max(len(lefts), len(rights))):
                strips.append(Strip.join([
                    lefts[index] if index < len(lefts) else blank, gutter,
                    rights[index] if index < len(rights) else blank,
                ]))
        self._strips = strips
        self.virtual_size = Size(width, len(strips))
        self.refresh()

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        if index >= len(self._strips):
            return Strip.blank(width, self.rich_style)
        return self._strips[index].crop_extend(0, width, self.rich_style).apply_style(
            self.rich_style)
