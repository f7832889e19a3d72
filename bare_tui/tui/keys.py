"""The review keys: one table that makes the bindings, the footer, the help screen and
the command palette entries, so they never disagree. Each binding has an id that the
config file's [keys] table can remap, e.g. `accept = "y"` or `undo = "u,ctrl+z"`."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding

from bare_tui.errors import BareError
from bare_tui.tui.widgets.diff_view import SHOWN_LINES


@dataclass(frozen=True)
class Key:
    id: str
    keys: str
    action: str
    label: str
    help: str
    footer: bool = False


KEYS: tuple[Key, ...] = (
    Key("next", "j,down", "next", "Next", "next candidate"),
    Key("previous", "k,up", "previous", "Prev", "previous candidate"),
    Key("page_down", "pagedown", "page(1)", "PgDn", "a page down the list"),
    Key("page_up", "pageup", "page(-1)", "PgUp", "a page up the list"),
    Key("first", "home", "jump(0)", "First", "first candidate"),
    Key("last", "end", "jump(-1)", "Last", "last candidate"),
    Key("detail_down", "J,shift+down", "scroll_detail(3)", "Scroll",
        "scroll the draft and refinement down (the list keeps its place)"),
    Key("detail_up", "K,shift+up", "scroll_detail(-3)", "Scroll up",
        "scroll the draft and refinement up"),
    Key("accept", "a", "accept", "Accept", "accept the refined (or edited) version and advance",
        footer=True),
    Key("accept_draft", "A", "accept_draft", "Draft", "accept the draft instead and advance",
        footer=True),
    Key("reject", "x", "reject", "Reject", "reject and advance", footer=True),
    Key("reject_reason", "X", "reject_with_reason", "Reject+why",
        "reject with a reason and advance"),
    Key("skip", "space", "skip", "Skip", "skip: advance without deciding"),
    Key("edit", "e", "edit", "Edit", "edit the final text in the app", footer=True),
    Key("edit_external", "E", "edit_external", "$EDITOR", "edit the final text in $EDITOR"),
    Key("undo", "u", "undo", "Undo", "undo your last decision (survives restarts)",
        footer=True),
    Key("redo", "ctrl+r", "redo", "Redo", "redo what you undid"),
    Key("next_hunk", "right_square_bracket", "hunk(1)", "Hunk",
        "next changed hunk of the diff (highlighted, between ▶ and ◀)"),
    Key("previous_hunk", "left_square_bracket", "hunk(-1)", "Hunk back",
        "previous changed hunk of the diff"),
    Key("keep_draft", "less_than_sign", "keep('draft')", "Keep draft",
        "keep the draft's side of the current hunk (the merge is saved as an edit)"),
    Key("keep_refined", "greater_than_sign", "keep('refined')", "Keep refined",
        "keep the refined side of the current hunk"),
    Key("keep_draft_rest", "left_curly_bracket", "keep('draft', True)", "Draft from here",
        "keep the draft's side of the current hunk and every hunk after it"),
    Key("keep_refined_rest", "right_curly_bracket", "keep('refined', True)",
        "Refined from here", "keep the refined side of the current hunk and every one after"),
    Key("unmerge", "U", "unmerge", "Unmerge",
        "revert the whole merge of this candidate (u undoes one hunk's choice)"),
    Key("more_refinements", "t", "alternatives('refined')", "Try again",
        "3 more refinements of this candidate, made in the background"),
    Key("more_drafts", "T", "alternatives('draft')", "Try drafts",
        "3 more drafts from this candidate's shots, made in the background"),
    Key("alternatives", "p", "pick", "Alternatives",
        "page through this candidate's alternatives, each beside the draft, and pick one"),
    Key("show_all", "m", "show_all", "More",
        f"show all of a long text (cut to its first {SHOWN_LINES} lines)"),
    Key("diff_mode", "d", "cycle_diff", "Diff",
        "cycle the view: side-by-side / inline / draft only / refined only", footer=True),
    Key("search", "slash", "search", "Search", "search the candidates' text", footer=True),
    Key("filter", "f", "filter", "Filter",
        "filter by status, edits, failing checks, unparsed drafts, judge verdicts, "
        "reviewers' disagreements",
        footer=True),
    Key("twin", "n", "twin", "Twin", "jump to the current candidate's nearest neighbour"),
    Key("clusters", "c", "clusters", "Clusters",
        "clusters view: map, histogram, review or decide a whole cluster", footer=True),
    Key("stats", "s", "stats", "Stats", "diversity of seeds, drafts, refinements, accepted"),
    Key("compare", "v", "compare", "Compare",
        "the latest `bare-tui compare` report: base, instruct and BARE arms side by side"),
    Key("generate", "g", "generate", "Generate",
        "draft and refine more candidates in the background", footer=True),
    Key("cancel_job", "G", "cancel_job", "Stop job", "stop the background job after its sample"),
    Key("export", "o", "export", "Export", "export with a dataset card (as the CLI export)",
        footer=True),
    Key("refresh", "r", "refresh", "Refresh", "reload from the database now"),
    Key("help", "question_mark", "help", "Help", "show the keys", footer=True),
    Key("quit", "q", "quit", "Quit", "quit (every decision is already saved)", footer=True),
)


def check_keymap(keymap: dict[str, str]) -> None:
    known = {k.id for k in KEYS}
    unknown = sorted(set(keymap) - known)
    if unknown:
        raise BareError(f"config [keys]: unknown action {unknown[0]!r} "
                        f"(known: {', '.join(sorted(known))})")


# First in the footer, so that a narrow terminal, which cuts the footer's end, still
# shows them; the help screen keeps the table's order.
FOOTER_FIRST = ("help", "quit")


def bindings() -> list[Binding]:
    ordered = sorted(KEYS, key=lambda k: k.id not in FOOTER_FIRST)
    return [Binding(k.keys, k.action, k.label, show=k.footer, id=k.id) for k in ordered]


def display(keys: str) -> str:
    names = {"slash": "/", "question_mark": "?", "space": "space", "pagedown": "PgDn",
             "pageup": "PgUp", "left_square_bracket": "[", "right_square_bracket": "]",
             "less_than_sign": "<", "greater_than_sign": ">", "left_curly_bracket": "{",
             "right_curly_bracket": "}"}
    return " ".join(names.get(key, key) for key in keys.split(","))


def help_rows(keymap: dict[str, str]) -> list[tuple[str, str]]:
    return [(display(keymap.get(k.id, k.keys)), k.help) for k in KEYS]
