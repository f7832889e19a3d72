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
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)
_LINE_BREAKS = re.compile("[\n\r]+")
TAB = "    "  # tabs shown as spaces: a terminal would expand them unpredictably


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: object) -> str:
    """Plain text with control characters shown as escapes; newlines are kept."""
    return _UNSAFE.sub(_visible, str(text).replace("\r\n", "\n").replace("\t", TAB))


def one_line(text: object) -> str:
    """`clean`, with line breaks folded into spaces: for messages of one line."""
    return clean(_LINE_BREAKS.sub(" ", str(text)))


def has_unsafe(text: str) -> bool:
    """True when `clean` would change the text beyond its tabs and CRLF line ends."""
    return _UNSAFE.search(text.replace("\r\n", "\n").replace("\t", "")) is not None
