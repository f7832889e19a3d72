"""Untrusted text (model output, seeds) made safe to put on a terminal.

Rich markup is never parsed (text goes into `Text` objects as plain strings), and every
control character that could act on the terminal (ESC sequences, OSC 52, bells,
carriage returns) or reorder what is shown (bidi overrides) is replaced by a visible
escape such as `\\x1b`, so a draft containing `[bold]` or `\\x1b[2J` shows literally.
"""

from __future__ import annotations

import re

from rich.text import Text

_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)
TAB = "    "


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: str) -> str:
    """Plain text with control characters shown as escapes; newlines are kept."""
    return _UNSAFE.sub(_visible, text.replace("\r\n", "\n").replace("\t", TAB))


def plain(text: str, style: str = "") -> Text:
    return Text(clean(text), style=style)
