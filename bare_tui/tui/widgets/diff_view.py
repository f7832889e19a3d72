"""Draft vs refinement, per field, word-level: side by side, inline, or one version.

The view draws its own lines (Textual's line API): showing another candidate re-wraps
the text and repaints this widget alone, with no layout pass over the screen. Side by
side, each field starts on the same row in both columns; when the view is narrow the
two versions stack instead, the one `a` takes first (the refinement, with its changes
marked, unless the draft is proposed), and the heading says "stacked". A very long
text (model output can run to thousands of lines) is cut to its first lines, with a
note; `m` shows all of it.
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

from bare_tui.core.inputs.diffing import Span, word_diff
from bare_tui.core.inputs.recipes import Recipe
from bare_tui.core.reviewing import merging
from bare_tui.core.reviewing.merging import Merge, Piece
from bare_tui.core.workspace.current import Current
from bare_tui.text import clean

MODES = ("side-by-side", "inline", "draft only", "refined only")
# Strike-through for removed words, underline for added; with NO_COLOR, where grey on
# grey can hardly be told apart, the text itself marks them too, as git's word diff does.
DELETE = "strike red on #3a1010"
INSERT = "underline green on #0f2f14"
KEPT = "italic cyan on #0f2436"  # a draft's side a merge keeps
DROPPED = "dim strike"  # a refined side a merge leaves out
STYLES = {"delete": DELETE, "insert": INSERT, "kept": KEPT, "dropped": DROPPED}
MARKS = {"delete": ("[-", "-]"), "insert": ("{+", "+}"), "kept": ("[=", "=]"),
         "dropped": ("{~", "~}")}
# The current hunk: highlighted, and between these marks, so it is found without colour.
HUNK = "reverse"
HUNK_MARKS = ("▶", "◀")
TITLE = "bold reverse"
LABEL = "bold"
PROBLEM = "bold yellow"
GUTTER = " │ "
# Beyond these, a field's text is cut until asked for (m): diffing and wrapping
# thousands of lines would take seconds on every redraw.
SHOWN_LINES = 200
SHOWN_CHARS = 20_000
# Even asked for (m), a field shows at most this much: a 20 MB line would freeze the
# screen for a minute. $EDITOR (E) has the whole text.
WHOLE_LINES = 20_000
WHOLE_CHARS = 400_000

Row = tuple[Text, Text | None]  # one column, or left and right columns


@lru_cache(maxsize=256)
def _diff(old: str, new: str) -> tuple[Span, ...]:
    return tuple(word_diff(old, new))


def _shown(piece: Piece, role: str, choice: str) -> str | None:
    """How a piece of the diff shows in a column of `role` (None: not at all):
    old/new are the draft's and the refined side of a diff, merged the right side of a
    merge, inline both sides in one, draft/refined one version plainly."""
    op = piece.span.op
    if op == "equal":
        return "equal"
    from_draft = choice == merging.DRAFT
    if role == "old":
        return "delete" if op == "delete" else None
    if role == "new":
        return "insert" if op == "insert" else None
    if role == "merged":
        if op == "delete":
            return "kept" if from_draft else None
        return None if from_draft else "insert"
    if role == "inline":
        if op == "delete":
            return "kept" if from_draft else "delete"
        return "dropped" if from_draft else "insert"
    keep = "delete" if role == "draft" else "insert"
    return "equal" if op == keep else None


def _cut(text: str, chars: int = SHOWN_CHARS, most_lines: int = SHOWN_LINES
         ) -> tuple[str, int]:
    """The start of a long text, and how many of its characters were left out."""
    if len(text) <= chars and text.count("\n") < most_lines:
        return text, 0
    shown = "\n".join(text[:chars].split("\n")[:most_lines])
    return shown, len(text) - len(shown)


def _problems(problems: list[str]) -> Text:
    return Text("\n".join(f"! {clean(p)}" for p in problems), style=PROBLEM)


def drift_measure(detail: Current) -> str | None:
    """How close the refinement shown stayed to its draft (core/inputs/drift.py); None
    when it was made before drift was measured."""
    if detail.draft_similarity is not None:  # the embedding cosine to the draft
        return f"cos {detail.draft_similarity:.2f}"
    if detail.draft_overlap is not None:  # the share of the draft's words it kept
        return f"kept {detail.draft_overlap:.0%}"
    return None


class DiffView(ScrollView, can_focus=True):
    DEFAULT_CSS = "DiffView { padding: 0 1; }"

    def __init__(self, recipe: Recipe, **kwargs) -> None:
        super().__init__(**kwargs)
        self.recipe = recipe
        self.mode = MODES[0]
        self.stacked = False
        self.detail: Current | None = None
        self.note: Text | None = None
        self.whole = False  # show long texts whole (m), for the current candidate
        self._was_cut = False
        self._hidden: dict[str, int] = {}  # lines of each field left out
        self._strips: list[Strip] = []
        self.hunk: int | None = None  # the current hunk, once the curator moves to one
        self.hunk_count = 0

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
            self.hunk = None
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

    @property
    def merge(self) -> Merge | None:
        """The candidate's merge by hunks, when its text is one."""
        return Merge.from_state(self.detail.merge) if self.detail is not None else None

    def pair(self) -> tuple[dict[str, str], dict[str, str]] | None:
        """The two texts whose hunks are shown (draft, right column's), or None."""
        if self.detail is None:
            return None
        draft, right, _problems = self._versions(self.detail)
        return draft, right

    def move_hunk(self, delta: int) -> int | None:
        """Make the next (delta 1) or previous (-1) hunk current, shown whole and
        scrolled to; None when there are no hunks. The view switches to side by side
        when a hunk cannot be shown in the current mode."""
        if self.detail is None:
            return None
        if self.mode not in ("side-by-side", "inline") or not self.whole:
            self.mode = self.mode if self.mode in ("side-by-side", "inline") else MODES[0]
            self.whole = True
            self._layout_lines()  # counts the hunks of the whole texts
        if not self.hunk_count:
            self.hunk = None
            return None
        if self.hunk is None:
            self.hunk = 0 if delta > 0 else self.hunk_count - 1
        else:
            self.hunk = max(0, min(self.hunk + delta, self.hunk_count - 1))
        self._layout_lines()
        for row, strip in enumerate(self._strips):
            if HUNK_MARKS[0] in strip.text and row > 1:
                top = self.scroll_offset.y
                height = self.scrollable_content_region.height
                if not top <= row < top + height:
                    self.scroll_to(0, max(0, row - 2), animate=False, immediate=True)
                break
        return self.hunk

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
        self.hunk_count = 0
        if detail is None:
            return [(Text("No candidate here. Press g to generate some, or f to change the "
                          "filter.", style="italic"), None)]
        draft, final, final_problems = self._versions(detail)
        merge = self.merge
        rows: list[Row] = [(self._heading(detail), None)]
        if self.note is not None:
            rows.append((self.note, None))
        rows.append((Text(""), None))
        names = self.recipe.field_names
        draft, final = self._cut_fields(draft), self._cut_fields(final)
        parts = merging.pieces(draft, final, names, diff=_diff)
        self.hunk_count = merging.count(parts)
        right_title = self._refined_title(detail)
        left = "Original" if detail.origin else "Draft"
        right = "merged" if merge else "new"
        if self.mode == "side-by-side":
            columns = [(left, "old", detail.draft_problems),
                       (right_title, right, final_problems)]
        elif self.mode == "inline":
            columns = [(f"{left} → {right_title}", "inline", final_problems)]
        elif self.mode == "draft only":
            columns = [(left, "draft", detail.draft_problems)]
        else:
            columns = [(right_title, "merged" if merge else "refined", final_problems)]
        choices = merge.choices if merge else ()
        # Problems go first, under each title, so a short screen shows them; side by
        # side, both columns get the row when either has some, to keep fields level.
        with_problems = any(column[-1] for column in columns)
        blocks = [self._column(title, parts, role, choices, problems, with_problems)
                  for title, role, problems in columns]
        if len(blocks) == 2 and self.side_by_side:
            rows += [(left, right) for left, right in zip(*blocks, strict=True)]
        else:
            # Stacked on a narrow screen: the version `a` takes comes first (the
            # refinement, unless it failed or drifted and the draft is proposed).
            if len(blocks) == 2 and detail.final_version != "draft":
                blocks.reverse()
            for block in blocks:
                rows += [(text, None) for text in block] + [(Text(""), None)]
        return rows

    def _cut_fields(self, fields: dict[str, str]) -> dict[str, str]:
        out = {}
        for name, text in fields.items():
            out[name], hidden = (_cut(text, WHOLE_CHARS, WHOLE_LINES) if self.whole
                                 else _cut(text))
            if hidden:
                self._was_cut = True
                self._hidden[name] = max(self._hidden.get(name, 0), hidden)
        return out

    def _column(self, title: str, parts: dict[str, list[Piece]], role: str,
                choices: tuple[str, ...], problems: list[str], with_problems: bool
                ) -> list[Text]:
        """One version as rows: title, its problems (`with_problems`), then label and
        text of each field. Both columns of a side-by-side view have the same rows, so
        fields line up."""
        rows = [Text(f" {title} ", style=TITLE)]
        if with_problems:
            rows.append(_problems(problems))
        for spec in self.recipe.fields:
            rows += [Text(f"{clean(spec.label)}:", style=LABEL),
                     self._render(parts.get(spec.name, []), role, choices)]
            hidden = self._hidden.get(spec.name)
            if hidden:
                more = "E: all, in $EDITOR" if self.whole else "m: more, E: all"
                rows.append(Text(f"… {hidden:,} more characters not shown ({more})",
                                 style=PROBLEM))
            rows.append(Text(""))
        return rows

    def _render(self, pieces: list[Piece], role: str, choices: tuple[str, ...]) -> Text:
        """A field's pieces as one column shows them; the current hunk (side by side and
        inline) between ▶ and ◀, highlighted."""
        marked = self.app.no_color
        addressable = self.hunk is not None and self.mode in ("side-by-side", "inline")
        text = Text()
        for index, piece in enumerate(pieces):
            hunk = piece.hunk
            current = addressable and hunk is not None and hunk == self.hunk
            if current and (index == 0 or pieces[index - 1].hunk != hunk):
                text.append(HUNK_MARKS[0], style=f"bold {HUNK}")
            choice = (choices[hunk] if hunk is not None and hunk < len(choices)
                      else merging.REFINED)
            kind = _shown(piece, role, choice)
            if kind is not None:
                opening, closing = MARKS.get(kind, ("", "")) if marked else ("", "")
                style = STYLES.get(kind, "")
                if current:
                    style = f"{style} {HUNK}".strip()
                text.append(f"{opening}{clean(piece.span.text)}{closing}", style=style)
            if current and (index == len(pieces) - 1 or pieces[index + 1].hunk != hunk):
                text.append(HUNK_MARKS[1], style=f"bold {HUNK}")
        return text

    def _refined_title(self, detail: Current) -> str:
        merge = self.merge
        if merge is not None:
            kept = sum(choice == merging.DRAFT for choice in merge.choices)
            return f"Merged: {kept}/{self.hunk_count} hunks from the draft"
        if detail.picked_id is not None and detail.final_version == "refined":
            return f"Alternative #{detail.picked_id} (picked)"  # as the pager names it
        if detail.final_version == "edited":
            return "Edited (final)"
        if detail.final_version == "refined":
            return "Refined"
        if not detail.refined:
            return "Not refined yet: the draft"
        if detail.decided_version == "draft":
            return "Refined (not used: the draft was accepted)"
        if detail.refinement_drifted:
            return f"Refinement drifted ({detail.drift}): draft proposed"
        if detail.refinement_broke_verified:
            return "Refinement broke a verified draft: draft proposed"
        if detail.refinement_failed:
            return "Refinement failed its checks: draft proposed"
        return "Refinement (did not parse: the draft is final)"

    def _versions(self, detail: Current
                  ) -> tuple[dict[str, str], dict[str, str], list[str]]:
        """Field texts of the draft and of the right column, and the right column's
        problems. The right column is the final text (core/workspace/current.py decides it) when
        that is not the draft; else the latest refinement, when there is one, to see."""
        names = self.recipe.field_names

        def whole(text: str) -> dict[str, str]:  # unparsed output goes in the first field
            return {names[0]: text, **{n: "" for n in names[1:]}}

        draft = detail.draft_fields or whole(detail.draft_raw)
        merge = self.merge
        if merge is not None:  # the two texts the merge was made on
            return merge.draft, merge.refined, detail.final_problems
        if detail.final_version != "draft":
            return (draft, detail.final_or_raw(names),
                    detail.verification_problems + detail.final_problems)
        if not detail.refined:  # nothing to compare with yet
            return draft, draft, detail.verification_problems + detail.draft_problems
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
        if detail.tags:
            text.append(f"  tags: {clean(', '.join(detail.tags))}", style="italic")
        if detail.reason:
            text.append(f"  reason: {clean(detail.reason)}", style="italic")
        if detail.origin:
            origin = f"  from {Path(detail.origin['file']).name}:{detail.origin['line']}"
            text.append(clean(origin), style="dim")
        else:
            text.append(f"  seed {detail.seed}  shots {','.join(map(str, detail.shot_ids))}",
                        style="dim")
        shown = "stacked" if self.mode == "side-by-side" and self.stacked else self.mode
        text.append(f"  [{shown}]", style="dim")
        if detail.draft_fields is None:
            text.append("  draft did not parse", style=PROBLEM)
        if detail.final_verified is not None:
            text.append("  verified" if detail.final_verified else "  fails a verifier",
                        style="bold green" if detail.final_verified else PROBLEM)
        if detail.best_fields is not None and detail.final_version != "edited" \
                and (measure := drift_measure(detail)):
            text.append(f"  {measure}", style="dim")
        if detail.final_version == "draft" and detail.refined and not detail.decided_version:
            if detail.refinement_drifted:
                text.append("  the refinement replaced the draft; the draft is proposed",
                            style=PROBLEM)
            elif detail.refinement_broke_verified:
                text.append("  refinement broke a verified draft: a takes the draft",
                            style=PROBLEM)
            elif detail.refinement_failed:
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
        self._hidden = {}
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
