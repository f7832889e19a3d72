"""The one sanitiser for text from outside the program, on its way to a terminal.

Model output, server replies, file names, GGUF metadata, seed columns and typed names
all pass through `clean` before they are shown. Every control character that could act
on a terminal (ESC sequences, OSC 52 clipboard writes, bells, carriage returns) or
reorder what is shown (bidi overrides) becomes a visible escape such as `\\x1b`, so a
draft holding `\\x1b[2J` shows those characters and clears nothing. The result is plain
text: callers put it on screen as plain text, never as Rich markup, so `[/]` shows as
typed. Neutral ground: both the CLI and the TUI use it, and it imports neither.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff"
    "\ud800-\udfff]"
)
# Lone surrogates: half an emoji in scraped JSON ("\ud83d"), or a byte that was not
# UTF-8 in a file name, an argument or the environment (Python keeps it as \udcXX).
# No terminal, file or SQLite can encode them.
_SURROGATE = re.compile("[\ud800-\udfff]")
_LINE_BREAKS = re.compile("[\n\r]+")
TAB = "    "  # tabs shown as spaces: a terminal would expand them unpredictably


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, shown as that byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: object) -> str:
    """Plain text with control characters shown as escapes; newlines are kept."""
    return _UNSAFE.sub(_visible, str(text).replace("\r\n", "\n").replace("\t", TAB))


def one_line(text: object) -> str:
    """`clean`, with line breaks folded into spaces: for messages of one line."""
    return clean(_LINE_BREAKS.sub(" ", str(text)))


def has_surrogates(text: str) -> bool:
    """True when the text holds a lone surrogate: not valid Unicode, so not storable."""
    return _SURROGATE.search(text) is not None


def storable(text: str) -> str:
    """The text with every lone surrogate written as a visible escape (`\\xe9` for a
    byte that was not UTF-8), so that SQLite, JSON files and terminals take it."""
    return _SURROGATE.sub(_visible, text)


def shown_path(path: object) -> str:
    """A path as text that can be stored and shown: bytes of a name that are not UTF-8
    become `\\xNN` escapes. The file itself is still opened by its real name."""
    return storable(str(path))
