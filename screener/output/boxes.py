"""The text of a terminal table: borders, a centred title, bold headers, cells cut with an ellipsis.

Why not draw with ``rich.table``: importing ``rich.table`` and ``rich.console`` and laying out a few small tables
costs tens of milliseconds, a large part of a ``screener show`` that otherwise takes little more than loading
polars and duckdb. Every column width is already decided by the output layer (``render._widths``), so what is left
is drawing: this module draws the same characters, and the same ANSI escapes in a terminal, that ``rich`` drew for
those tables (a Hypothesis test compares the two), with ``rich.cells`` alone measuring the width of a character
(East Asian wide characters take two cells, combining marks none).

The rules reproduced here are rich's, as the tables of this package use them: a cell is one line per line of its
text, tabs expanded to stops of 8, cut to its width with ``…`` (a wide character at the cut becomes a space); a
right-aligned cell first loses its trailing blanks; headers sit at the bottom of the header row, other cells at the
top of theirs; the title is word-wrapped to the table's width and centred, an odd space going to the right.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from rich import cells as _rich_cells

#: The heavy-headed box: top, header lines, the rule under the header, body lines, bottom.
#: Each is (left, fill, divider, right).
UNICODE_BOX = {
    "top": ("┏", "━", "┳", "┓"),
    "head": ("┃", " ", "┃", "┃"),
    "rule": ("┡", "━", "╇", "┩"),
    "row": ("│", " ", "│", "│"),
    "bottom": ("└", "─", "┴", "┘"),
}
#: The same box in ASCII, for a stream whose encoding is not UTF (rich's substitute there).
ASCII_BOX = {
    "top": ("+", "-", "-", "+"),
    "head": ("|", " ", "|", "|"),
    "rule": ("|", "-", "+", "|"),
    "row": ("|", " ", "|", "|"),
    "bottom": ("+", "-", "-", "+"),
}
#: A tab stop, in cells.
TAB_SIZE = 8
ELLIPSIS = "…"
#: The escapes of a terminal: bold for headers, italic for the title, reset after each.
BOLD, ITALIC, RESET = "\x1b[1m", "\x1b[3m", "\x1b[0m"
#: Terminals that understand no escapes (``TERM``): text is drawn plain there.
DUMB_TERMS = ("dumb", "unknown")
#: The width a dumb terminal is assumed to have, whatever the table asked for.
DUMB_WIDTH = 80

#: What ``rich.cells`` raises on a few runs of zero-width joiners (two at the start of a text, before a wide
#: character): such a text is measured and cut one character at a time instead, so a stored name never turns a
#: table into a traceback.
_MEASURE_ERRORS = (IndexError, ZeroDivisionError)


def cell_len(text: str) -> int:
    """The cells ``text`` takes in a terminal (``rich.cells.cell_len``; per character where that fails)."""
    try:
        return _rich_cells.cell_len(text)
    except _MEASURE_ERRORS:
        return sum(_rich_cells.cell_len(ch) for ch in text)


def set_cell_size(text: str, total: int) -> str:
    """``text`` cut or padded to ``total`` cells (``rich.cells.set_cell_size``; per character where that fails)."""
    try:
        return _rich_cells.set_cell_size(text, total)
    except _MEASURE_ERRORS:
        kept, size = [], 0
        for ch in text:
            width = _rich_cells.cell_len(ch)
            if size + width > total:
                break
            kept.append(ch)
            size += width
        return "".join(kept) + " " * (total - size)


def chop_cells(text: str, width: int) -> list[str]:
    """``text`` in pieces of at most ``width`` cells (``rich.cells.chop_cells``; per character where that fails)."""
    try:
        return _rich_cells.chop_cells(text, width)
    except _MEASURE_ERRORS:
        pieces, size = [""], 0
        for ch in text:
            cells = _rich_cells.cell_len(ch)
            if size + cells > width and pieces[-1]:
                pieces.append("")
                size = 0
            pieces[-1] += ch
            size += cells
        return pieces


_WORD = re.compile(r"\s*\S+\s*")
_TRAILING_SPACE = re.compile(r"\s+$")


@dataclass(frozen=True)
class Column:
    """One column: its header (lines separated by newlines), its width in cells (padding and borders apart) and
    whether its cells are aligned to the right."""

    header: str
    width: int
    right: bool = False


@dataclass(frozen=True)
class Mode:
    """How a stream shows a table: with escapes (``styled``), with an ASCII box (``ascii``), and the most cells a
    line may take (``max_width``, ``None``: any)."""

    styled: bool = False
    ascii: bool = False
    max_width: int | None = None


def is_terminal(is_tty: bool, environ: Mapping[str, str] | None = None) -> bool:
    """Whether a stream takes escapes: a terminal always; otherwise when the environment says so
    (``TTY_COMPATIBLE=1``, or a non-empty ``FORCE_COLOR`` unless ``TTY_COMPATIBLE=0``), as rich decides, so a
    table looks the same whichever draws it."""
    if is_tty:
        return True
    import sys

    if getattr(sys.stdin, "__module__", "").startswith("idlelib"):
        return False
    env = os.environ if environ is None else environ
    compatible = env.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "1"
    force = env.get("FORCE_COLOR")
    return force is not None and force != ""


def stream_mode(stream: object, is_tty: bool, environ: Mapping[str, str] | None = None) -> Mode:
    """The ``Mode`` of ``stream``: escapes in a terminal that is not dumb, an ASCII box for an encoding that is not
    UTF, and at most ``DUMB_WIDTH`` cells in a dumb terminal."""
    env = os.environ if environ is None else environ
    terminal = is_terminal(is_tty, env)
    dumb = terminal and env.get("TERM", "").lower() in DUMB_TERMS
    encoding = (getattr(stream, "encoding", "utf-8") or "utf-8").lower()
    return Mode(
        styled=terminal and not dumb, ascii=not encoding.startswith("utf"), max_width=DUMB_WIDTH if dumb else None
    )


def table_text(columns: Sequence[Column], rows: Iterable[Sequence[str]], title: str | None, mode: Mode) -> str:
    """The table, every line ending in a newline. A table wider than ``mode.max_width`` is the caller's to draw
    otherwise: rich shrinks every column of such a table, which this module does not reproduce."""
    if not columns:
        return "\n"
    box = ASCII_BOX if mode.ascii else UNICODE_BOX
    widths = [c.width for c in columns]
    total = sum(widths) + 3 * len(widths) + 1
    out: list[str] = []
    if title:
        for runs in title_lines(title, total):
            out.append("".join(_styled(run, mode.styled, ITALIC) for run in runs) + "\n")
    out.append(_rule(box["top"], widths))
    heads = [_cell_lines(c.header, c) for c in columns]
    height = max(len(h) for h in heads)
    left, _, divider, right = box["head"]
    for n in range(max(height, 1)):
        cells = []
        for c, lines in zip(columns, heads, strict=True):
            blank = height - len(lines)  # headers sit at the bottom of the header row
            if n >= height:  # no header has a line: the row is one plain blank line
                cells.append(" " * (c.width + 2))
            elif n < blank:
                cells.append(_styled(" " * (c.width + 2), mode.styled, BOLD))
            else:
                cells.append("".join(_styled(run, mode.styled, BOLD) for run in lines[n - blank]))
        out.append(left + divider.join(cells) + right + "\n")
    out.append(_rule(box["rule"], widths))
    left, _, divider, right = box["row"]
    for row in rows:
        texts = [_cell_lines(t, c) for c, t in zip(columns, row, strict=True)]
        height = max(len(t) for t in texts)
        for n in range(max(height, 1)):
            cells = ["".join(t[n]) if n < len(t) else " " * (c.width + 2) for c, t in zip(columns, texts, strict=True)]
            out.append(left + divider.join(cells) + right + "\n")
    out.append(_rule(box["bottom"], widths))
    return "".join(out)


def _styled(text: str, styled: bool, escape: str) -> str:
    return f"{escape}{text}{RESET}" if styled and text else text


def _rule(parts: tuple[str, str, str, str], widths: list[int]) -> str:
    left, fill, divider, right = parts
    return left + divider.join(fill * (w + 2) for w in widths) + right + "\n"


def _cell_lines(text: str, column: Column) -> list[list[str]]:
    """The lines of one cell, its padding included, each as its runs; a column of no width has none (it shows only
    its padding)."""
    width = column.width
    if width < 1:
        return []
    lines = []
    for line in _lines(text):
        fitted = _fit(line, width, column.right)
        padded = _adjust([" ", *_adjust([fitted] if fitted else [], width), " "], width + 2)
        lines.append(_adjust(padded, width + 2))
    return lines


def _lines(text: str) -> list[str]:
    """The lines of a cell, tabs expanded."""
    return [expand_tabs(line) if "\t" in line else line for line in text.split("\n")]


def expand_tabs(line: str) -> str:
    """Tabs as blanks to the next stop of ``TAB_SIZE`` cells (a tab on a stop takes a whole stop)."""
    return _expand_tab_runs(line)[0]


def _fit(line: str, width: int, right: bool) -> str:
    """One line of a cell fitted to ``width`` cells: cut with an ellipsis when longer, padded when shorter."""
    if right:
        line = line.rstrip()
    size = cell_len(line)
    if size > width:
        line = set_cell_size(line, width - 1) + ELLIPSIS
    if right:
        line = " " * (width - cell_len(line)) + line
    elif size < width:
        line += " " * (width - size)
    if cell_len(line) > width:
        line = set_cell_size(line, width - 1) + ELLIPSIS
    return line


def _adjust(runs: list[str], width: int) -> list[str]:
    """``runs`` made exactly ``width`` cells: blanks added as a run of their own, or the run that crosses the width
    cut there. A fitted line measures its width already; this settles the texts whose measure is not the sum of
    their characters' (a zero-width joiner hides the character after it)."""
    size = sum(cell_len(r) for r in runs)
    if size < width:
        return [*runs, " " * (width - size)]
    if size == width:
        return runs
    out: list[str] = []
    size = 0
    for run in runs:
        length = cell_len(run)
        if size + length < width:
            out.append(run)
            size += length
        else:
            out.append(set_cell_size(run, width - size))
            break
    return out


def title_lines(title: str, width: int) -> list[list[str]]:
    """The title word-wrapped to ``width`` cells and centred (an odd space to the right); a word longer than the
    width is folded across lines. Each line is given as its runs: a line whose text held a tab is drawn in
    several (one per stretch between tabs, the centring blanks apart), which a terminal shows as separate styled
    runs."""
    out: list[list[str]] = []
    for line in title.split("\n"):
        text, spans = _expand_tab_runs(line) if "\t" in line else (line, [])
        for piece, runs in _wrap(text, spans, width):
            out.append(_centre(piece, runs, width))
    return out


def _expand_tab_runs(line: str) -> tuple[str, list[tuple[int, int]]]:
    """``expand_tabs`` of ``line``, with the stretch each tab ends (and the rest after the last) as a run."""
    bounds = [0, *(m.end() for m in re.finditer("\t", line)), len(line)]
    position, text, spans, offset = 0, [], [], 0
    for part in (line[a:b] for a, b in pairwise(bounds)):
        expanded, position = _expand_part(part, position)
        text.append(expanded)
        spans.append((offset, offset + len(expanded)))
        offset += len(expanded)
    return "".join(text), spans


def _expand_part(part: str, position: int) -> tuple[str, int]:
    """One stretch ending in a tab (or the last, without): the tab as blanks to the next stop, from ``position``."""
    if part.endswith("\t"):
        part = part[:-1] + " "
        position += cell_len(part)
        remainder = position % TAB_SIZE
        if remainder:
            part += " " * (TAB_SIZE - remainder)
            position += TAB_SIZE - remainder
        return part, position
    return part, position + cell_len(part)


def _clip(spans: list[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
    """Runs of a text cut to ``limit`` characters."""
    return [(a, min(b, limit)) for a, b in spans if a < limit]


def _centre(text: str, spans: list[tuple[int, int]], width: int) -> list[str]:
    """One piece of the title centred in ``width`` cells, as its runs."""
    stripped = text.rstrip()
    if len(stripped) < len(text):
        spans = _clip(spans, len(stripped))
    text = stripped
    if cell_len(text) > width:
        text, spans = _set_size(text, spans, width)
    left = (width - cell_len(text)) // 2
    if left:
        text = " " * left + text
        spans = [(a + left, b + left) for a, b in spans]
    right = width - cell_len(text)
    if right > 0:
        text += " " * right
    if cell_len(text) > width:
        text, spans = _set_size(text, spans, width)
    bounds = sorted({0, len(text), *(a for a, _ in spans), *(b for _, b in spans)})
    return [text[a:b] for a, b in pairwise(bounds) if b > a]


def _set_size(text: str, spans: list[tuple[int, int]], width: int) -> tuple[str, list[tuple[int, int]]]:
    """``text`` cropped or padded to ``width`` cells, its runs cut with it."""
    cut = set_cell_size(text, width)
    return cut, _clip(spans, len(cut)) if len(cut) < len(text) else spans


def _wrap(line: str, spans: list[tuple[int, int]], width: int) -> list[tuple[str, list[tuple[int, int]]]]:
    """``line`` broken at word boundaries into pieces of at most ``width`` cells (trailing blanks past the width
    dropped), folding a longer word; each piece with its share of the runs ``spans``."""
    breaks: list[int] = []
    offset = 0
    for match in _WORD.finditer(line):
        start, word = match.start(), match.group()
        size = cell_len(word.rstrip())
        if width - offset >= size:
            offset += cell_len(word)
        elif size > width:
            folded = chop_cells(word, width)
            for i, part in enumerate(folded):
                if start:
                    breaks.append(start)
                if i == len(folded) - 1:
                    offset = cell_len(part)
                else:
                    start += len(part)
        elif offset and start:
            breaks.append(start)
            offset = cell_len(word)
    if not breaks:
        pieces = [(line, list(spans))]
    else:
        bounds = [0, *breaks, len(line)]
        pieces = []
        for a, b in pairwise(bounds):
            shared = [(max(0, s - a), min(e - a, b - a)) for s, e in spans]
            pieces.append((line[a:b], [(s, e) for s, e in shared if e > s]))
    out = []
    for piece, runs in pieces:
        excess = len(piece) - width
        if excess > 0:
            blank = _TRAILING_SPACE.search(piece)
            if blank is not None:
                piece = piece[: len(piece) - min(len(blank.group()), excess)]
                runs = _clip(runs, len(piece))
        out.append((piece, runs))
    return out
