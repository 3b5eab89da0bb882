"""Text bound for a terminal: control characters shown as escapes, message lines bounded in length.

Why: names, descriptions and rule texts come from files users import or receive. A company name holding
``ESC[2J`` would clear the analyst's screen, an OSC-8 sequence would plant a hidden hyperlink, and a bidi override
would show a different text than is stored. Tables and messages therefore show every such character as a visible
escape (``\\x1b``); csv, json and xlsx carry the text exactly, as stored.
"""

from __future__ import annotations

import re

from screener.errors import MAX_LINE, clip

#: C0 controls (tab and newline apart: a table cell and a message keep them), DEL, C1 controls, the Unicode line
#: and paragraph separators, and the bidirectional marks, embeddings, overrides and isolates. Import warns about
#: the same set (``CONTROL_PATTERN`` is its text, for polars).
CONTROL_PATTERN = "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
CONTROL = re.compile(CONTROL_PATTERN)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """``text`` with every control character shown as an escape (``\\x1b``, ``\\x9b``, ``\\u202e``), so no stored
    text can move the cursor, clear the screen, set a title or a hyperlink, or reorder what is shown. Tab and
    newline stay. Escaping the ESC alone is enough to disarm a sequence: the rest of it is printed as plain text."""
    return CONTROL.sub(_escape, text) if CONTROL.search(text) else text


def message_text(message: str, limit: int = MAX_LINE) -> str:
    """A message as a terminal shows it: each line made safe (``terminal_safe``) and at most ``limit`` characters
    long (``clip``)."""
    return "\n".join(clip(terminal_safe(line).replace("\t", " "), limit) for line in message.split("\n"))
