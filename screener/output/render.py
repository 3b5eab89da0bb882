"""One output path for every listing command: ``table``, ``csv`` and ``json`` to a stream.

Why one function: analysts paste our CSV into spreadsheets and feed our JSON to scripts, so every command must
format dates, nulls, lists and hostile text the same way. Files are written by the export module with the same text
helpers (``to_csv_text``, ``to_json_text``) and this module's ``check_writable`` and ``atomic_path``.
"""

from __future__ import annotations

import errno
import functools
import json
import math
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from screener.errors import ScreenerError, and_more, disk_full
from screener.output.terminal import terminal_safe

if TYPE_CHECKING:
    import polars as pl

    from screener.output import boxes
else:

    class _Polars:
        """polars, imported on first use: every command imports this module, and ``--help`` must not load polars."""

        def __getattr__(self, name: str) -> Any:
            import polars

            return getattr(polars, name)

    pl = _Polars()

FORMATS = ("table", "csv", "json")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: ``_FORMULA_START`` as a pattern of a text's first character (polars' regular expressions).
_FORMULA_PATTERN = r"^[=+\-@\t\r]"
#: The width of a table written to a file or a pipe (``COLUMNS`` overrides it): wide enough for the compact view.
PIPE_WIDTH = 120
#: A text column cut to fit the terminal keeps at least this many characters (or its whole text when shorter).
MIN_TEXT_WIDTH = 12
#: Text this short is never cut: symbols, country codes, roles of one word.
SHORT_TEXT = 12
#: While the compact view adds optional columns, each text column keeps at least this much room (a reason is read,
#: a name recognised); past that, an optional column is left out rather than cutting them further.
PREFERRED_TEXT_WIDTH = {"reason": 36, "name": 20, "meaning": 40}
#: When the text does not all fit, these columns give up room beyond this width first (the reason is what is read).
TEXT_CAP = {"name": 28}
#: Columns that identify a row and so are never cut.
NEVER_CUT = frozenset({"rank", "row", "symbol", "country", "field", "factor", "rules"})


@dataclass(frozen=True)
class View:
    """Which columns a terminal table shows. csv and json ignore it: they always carry every column.

    ``columns`` is the reader's choice (in that order); without it the table shows a compact set that fits the
    width (``wide`` shows every column). ``keep`` are columns the question used (a ``where`` field, a sort key):
    shown in the compact set too, so a reader sees the numbers that selected the rows. ``compact`` and
    ``optional`` override the default compact set: ``compact`` always shown, ``optional`` added in order while
    the table still fits.
    """

    columns: tuple[str, ...] = ()
    wide: bool = False
    keep: tuple[str, ...] = ()
    compact: tuple[str, ...] | None = None
    optional: tuple[str, ...] = ()
    #: Cut long text to fit the width; off, every cell is printed whole (the table may then be wider than the width).
    cut: bool = True
    #: Text columns that hold numbers already formatted (aligned right like numbers).
    right: tuple[str, ...] = ()
    #: Fit the width when writing to a file or a pipe too (``table_width``); off, only a terminal is fitted and a
    #: table written elsewhere keeps every cell whole.
    fit: bool = False


#: The default view of ``render``: every column, text fitted to the width (what commands without a compact set get).
EVERYTHING = View(wide=True)


def neutralise(text: str) -> str:
    """Stop a spreadsheet from reading a text cell as a formula (CSV/formula injection): prefix a quote."""
    if text and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def _flat(name: str, dtype: pl.DataType) -> pl.Expr | None:
    """The column ``name`` as the text every format shows when it is a list (``;``-joined) or a struct (JSON); None
    for any other column. The one place where lists and structs become cells (``_flatten``, ``_csv_cells``)."""
    if isinstance(dtype, pl.List):
        return pl.col(name).cast(pl.List(pl.String)).list.join(";")
    if isinstance(dtype, pl.Struct):
        return pl.col(name).struct.json_encode()
    return None


def _flatten(frame: pl.DataFrame) -> pl.DataFrame:
    """Lists become ``;``-joined text and dates ISO text, so every format shows the same cell."""
    exprs = [e.alias(n) for n, t in frame.schema.items() if (e := _flat(n, t)) is not None]
    return frame.with_columns(exprs) if exprs else frame


def _neutralised(text: pl.Expr) -> pl.Expr:
    """``neutralise`` as an expression over a text column."""
    return pl.when(text.str.contains(_FORMULA_PATTERN)).then(pl.lit("'") + text).otherwise(text)


def _csv_cells(frame: pl.DataFrame) -> pl.LazyFrame:
    """``frame`` as its csv cells, lazily: lists and structs flattened (``_flat``), then every text cell
    neutralised (``neutralise``), categorical ones too.

    Why one lazy pass: written straight to a sink, the flattened and neutralised columns are made batch by batch
    as the rows are written instead of as two whole frames first (50,000 scored rows: about 32 ms instead of 40 ms
    of a 0.35 s ``screen``)."""
    exprs = []
    for name, dtype in frame.schema.items():
        text = _flat(name, dtype)
        if text is None and (dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum))):
            text = pl.col(name).cast(pl.String)
        if text is not None:
            exprs.append(_neutralised(text).alias(name))
    lazy = frame.lazy()
    return lazy.with_columns(exprs) if exprs else lazy


#: The most characters a spreadsheet cell holds (Excel's limit; xlsxwriter would cut a longer text without a word).
CELL_LIMIT = 32_767


def fit_cell(text: str) -> tuple[str, int]:
    """``text`` as it fits one spreadsheet cell, and how many characters were left out (0: it fits whole). A cut
    text ends in a mark that says so and how long the whole was, so a reader of the cell alone knows."""
    if len(text) <= CELL_LIMIT:
        return text, 0
    mark = f" … [cut to fit the cell: the whole text has {len(text):,} characters]"
    kept = CELL_LIMIT - len(mark)
    return text[:kept] + mark, len(text) - kept


def cut_warning(target: Path, cells: list[str]) -> str:
    """The one warning for the cells of a workbook whose text was cut (``fit_cell``), naming the first few."""
    return (
        f"Warning: {target}: {len(cells)} cell(s) held more than {CELL_LIMIT:,} characters, a spreadsheet cell's "
        f"limit, and were cut (marked in the cell): {and_more(cells)}; the csv and json exports carry the whole text"
    )


def utc_text(v: datetime) -> str:
    """The store keeps naive UTC timestamps; say so in the text (ISO 8601 with ``Z``) so no reader guesses a zone."""
    if v.tzinfo is not None:
        v = v.astimezone(UTC).replace(tzinfo=None)
    return v.replace(microsecond=0).isoformat() + "Z"


#: How ``non_finite="text"`` writes a float JSON has no number for (the spelling of JavaScript and of most JSON
#: tools): lossless, and never confused with null.
NON_FINITE_TEXT = {math.inf: "Infinity", -math.inf: "-Infinity"}


def _json_value(v: Any, non_finite: str = "null") -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        if non_finite == "text":
            return "NaN" if math.isnan(v) else NON_FINITE_TEXT[v]
        return None
    if isinstance(v, datetime):
        return utc_text(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, list):
        return [_json_value(x, non_finite) for x in v]
    return v


def to_json_text(frame: pl.DataFrame, non_finite: str = "null") -> str:
    """A JSON array of objects with keys in column order.

    A float that is not finite has no JSON number: in the listings of this package NaN is an unknown figure, so by
    default it is null, as every parser accepts; ``non_finite="text"`` (the query command, whose rows are the
    user's own) writes the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` instead, so NaN, the infinities
    and SQL NULL stay apart. Integers keep every digit (json writes Python integers exactly, 128-bit ones too)."""
    rows = [{k: _json_value(v, non_finite) for k, v in row.items()} for row in frame.iter_rows(named=True)]
    return json.dumps(rows, ensure_ascii=False, indent=2, default=str) + "\n"


_CSV_OPTIONS: dict[str, Any] = {
    "float_precision": None,
    "date_format": "%Y-%m-%d",
    "datetime_format": "%Y-%m-%dT%H:%M:%SZ",
}


def to_csv_text(frame: pl.DataFrame) -> str:
    return _csv_cells(frame).collect().write_csv(**_CSV_OPTIONS)


def _write_csv(frame: pl.DataFrame, out: IO[str]) -> None:
    """``to_csv_text`` written to ``out``: straight into its bytes when it is a UTF-8 text stream over a binary one
    (stdout), which skips building the whole text (50,000 scored rows are 13 MB) and encoding it again; the bytes
    are the same."""
    buffer = getattr(out, "buffer", None)
    encoding = (getattr(out, "encoding", None) or "").lower().replace("-", "").replace("_", "")
    if buffer is None or encoding != "utf8":
        out.write(to_csv_text(frame))
        return
    out.flush()
    try:
        _csv_cells(frame).sink_csv(buffer, **_CSV_OPTIONS)
        buffer.flush()
    except OSError as exc:
        # polars reports a reader that left (``| head``) as a plain OSError: the same broken pipe as Python's own
        if exc.errno == errno.EPIPE or "broken pipe" in str(exc).lower():
            raise BrokenPipeError(errno.EPIPE, "Broken pipe") from exc
        raise


_SCALES = ((1e12, "tn"), (1e9, "bn"), (1e6, "m"), (1e3, "k"))


def human_money(value: float | None, currency: str | None = None) -> str:
    """A money amount as a reader compares it: ``79.9bn``, ``-512.3m``, ``41.2k``, ``950.25`` (one decimal at the
    largest scale the amount reaches; cents below a thousand), with the currency in front when given.

    Unknown (None, NaN, infinite) is an empty cell, never ``nan`` and never zero. A rounding that reaches 1000 of a
    scale moves to the next (``999.96m`` is ``1.0bn``), so larger amounts never print smaller.
    """
    if value is None or not math.isfinite(value):
        return ""
    size = abs(value)
    sign = "-" if value < 0 and round(size, 2) > 0 else ""
    ascending = _SCALES[::-1]  # k, m, bn, tn
    step = max((i for i, (scale, _) in enumerate(ascending) if size >= scale), default=None)
    if step is None and round(size, 2) >= 1000:
        step = 0
    if step is not None and step + 1 < len(ascending) and round(size / ascending[step][0], 1) >= 1000:
        step += 1
    if step is None:
        text = f"{size:,.2f}"
    else:
        scale, unit = ascending[step]
        text = f"{size / scale:,.1f}{unit}"
    return f"{currency} {sign}{text}" if currency else f"{sign}{text}"


def parse_money(text: str) -> float | None:
    """The number ``human_money`` printed (currency dropped); None for an empty cell. The inverse, to the precision
    printed: tests and scripts that read a table back use it."""
    body = text.strip().split(" ")[-1].replace(",", "")
    if not body:
        return None
    for scale, unit in _SCALES:
        if body.endswith(unit):
            return float(body[: -len(unit)]) * scale
    return float(body)


def _percent(value: float | None, decimals: int) -> str:
    if value is None or not math.isfinite(value):
        return ""
    return f"{value * 100:.{decimals}f}%"


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        if v != 0 and (abs(v) >= 1e6 or abs(v) < 1e-3):
            return f"{v:,.4g}" if abs(v) < 1e6 else f"{v:,.0f}"
        return f"{v:.3f}".rstrip("0").rstrip(".") if abs(v) < 1000 else f"{v:,.1f}"
    if isinstance(v, list):
        return ";".join(str(x) for x in v)
    if isinstance(v, datetime):
        return utc_text(v)
    if isinstance(v, date):
        return v.isoformat()
    return str(v)


def _column_texts(frame: pl.DataFrame) -> dict[str, list[str]]:
    """Every cell as the table prints it: money human-scaled, percentiles and shares as percent, other numbers as
    ``_cell`` does; text with its control characters escaped, as every table shows stored text."""
    from screener.output.fields import MONEY_UNITS, PERCENT_UNITS, PERCENTILE, unit_of

    out: dict[str, list[str]] = {}
    for name, dtype in frame.schema.items():
        values = frame[name].to_list()
        unit = unit_of(name) if dtype.is_numeric() else None
        if unit in MONEY_UNITS:  # every money column of a listing names its currency (``_usd``)
            out[name] = [human_money(v) for v in values]
        elif unit in PERCENT_UNITS:
            out[name] = [_percent(v, 0 if unit == PERCENTILE else 1) for v in values]
        elif dtype.is_numeric():
            out[name] = [_cell(v) for v in values]
        else:  # stored text: control characters are shown as escapes (``terminal_safe``)
            out[name] = [terminal_safe(_cell(v)) for v in values]
    return out


def table_width(stream: IO[str] | None = None) -> int:
    """The width a table may take: the terminal's in a terminal, else ``COLUMNS`` or ``PIPE_WIDTH``."""
    out = stream or sys.stdout
    if hasattr(out, "isatty") and out.isatty():
        return shutil.get_terminal_size((PIPE_WIDTH, 24)).columns
    try:
        return max(20, int(os.environ.get("COLUMNS", "")))
    except ValueError:
        return PIPE_WIDTH


def _wrap_header(name: str, width: int) -> str:
    """A header no wider than its column: broken after ``_`` or ``.`` (the field name stays readable as one word)."""
    if len(name) <= width:
        return name
    parts = re.findall(r"[^_.]+[_.]?|[_.]", name)
    lines, line = [], ""
    for part in parts:
        if line and len(line) + len(part) > width:
            lines.append(line)
            line = ""
        line += part
    lines.append(line)
    return "\n".join(lines)


def _header_floor(name: str) -> int:
    """The narrowest a header can be wrapped to: its longest part."""
    return max(len(p) for p in re.findall(r"[^_.]+[_.]?|[_.]", name) or [name])


#: Characters a column adds besides its text: a space either side and a border.
_PER_COLUMN = 3


def _widths(
    names: list[str],
    texts: dict[str, list[str]],
    numeric: set[str],
    width: int,
    preferred: bool = False,
    squeeze: bool = False,
) -> tuple[dict[str, int], bool]:
    """Each column's width, and whether the table fits ``width``: fixed columns (numbers, short and identifying
    text) get their natural width, the other text columns share what is left (never below ``MIN_TEXT_WIDTH``).

    Headers keep one line when the table fits that way; otherwise they are wrapped at ``_`` (``_wrap_header``).
    ``squeeze`` is for the table about to be printed: when the columns still do not fit, text is cut below
    ``MIN_TEXT_WIDTH`` (``_squeeze``) rather than printing lines wider than asked. The choice of columns never
    squeezes, or a compact view would add columns no one can read."""
    from rich.cells import cell_len

    cells = {n: max([cell_len(t) for t in texts[n]] or [0]) for n in names}
    whole = {n: max(cells[n], len(n)) for n in names}
    if 1 + _PER_COLUMN * len(names) + sum(whole.values()) <= width:
        return whole, True
    natural = cells
    fixed: dict[str, int] = {}
    flexible: dict[str, int] = {}
    for n in names:
        if n in numeric or n in NEVER_CUT or natural[n] <= SHORT_TEXT:
            fixed[n] = max(natural[n], _header_floor(n), 1)
        else:
            flexible[n] = max(min(natural[n], TEXT_CAP.get(n, natural[n])), _header_floor(n))
    room = width - 1 - _PER_COLUMN * len(names) - sum(fixed.values())
    out = dict(fixed)
    left = sorted(flexible, key=lambda n: (flexible[n], n))
    for i, n in enumerate(left):
        share = room // (len(left) - i) if room > 0 else 0
        floor = PREFERRED_TEXT_WIDTH.get(n, MIN_TEXT_WIDTH) if preferred else MIN_TEXT_WIDTH
        out[n] = max(min(flexible[n], share), min(flexible[n], max(floor, _header_floor(n))))
        room -= out[n]
    if squeeze:
        out = _squeeze(out, numeric, width)
    total = 1 + _PER_COLUMN * len(names) + sum(out.values())
    return out, total <= width


#: The narrowest a squeezed text cell gets: two characters and the ellipsis.
SQUEEZED_TEXT = 3


def _squeeze(widths: dict[str, int], numeric: set[str], width: int) -> dict[str, int]:
    """``widths`` narrowed until the table fits ``width``, one character at a time from the widest text column
    (name breaks ties), none below its header's longest part or ``SQUEEZED_TEXT``.

    Why the last resort cuts so far: a line wider than ``COLUMNS`` wraps in a pager or a mail and breaks every row
    of the table, while a cut cell is still whole in csv and json. Numbers and the columns that identify a row
    (``NEVER_CUT``) are never cut: a table whose numbers and identifiers alone are wider than ``width`` stays wider.
    """
    out = dict(widths)
    excess = 1 + _PER_COLUMN * len(out) + sum(out.values()) - width
    floors = {n: max(_header_floor(n), SQUEEZED_TEXT) for n in out if n not in numeric and n not in NEVER_CUT}
    while excess > 0:
        cuttable = [n for n, floor in floors.items() if out[n] > floor]
        if not cuttable:
            break
        widest = max(cuttable, key=lambda n: (out[n], n))
        out[widest] -= 1
        excess -= 1
    return out


def _key_percentiles(frame: pl.DataFrame) -> list[str]:
    """The percentiles that matter most for these rows: a ranking's weighted factors, heaviest contribution first
    (name breaks ties); otherwise every factor percentile in column order.

    A ranking's rows carry the percentile that drove the score, ``F_pct_eligible``; a listing of the score frame
    carries the factor library's ``F_pct``. Whichever the frame has is shown, under its own name."""
    weighted = [c.removeprefix("contrib.") for c in frame.columns if c.startswith("contrib.")]
    if weighted and frame.height:
        mean = {f: frame[f"contrib.{f}"].abs().mean() or 0.0 for f in weighted}
        ordered = sorted(weighted, key=lambda f: (-float(mean[f]), f))  # type: ignore[arg-type]
        return [c for f in ordered for c in (f"{f}_pct_eligible", f"{f}_pct") if c in frame.columns]
    return [c for c in frame.columns if c.endswith(("_pct", "_pct_eligible"))]


def compact_columns(frame: pl.DataFrame, keep: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """The compact set of a listing: what is always shown (position, symbol, name, score, the columns the question
    used, reason) and what is added in order while it fits (key percentiles, then place, role and size)."""
    have = set(frame.columns)
    required = [c for c in dict.fromkeys(("rank", "row", "symbol", "name", "score", *keep, "reason")) if c in have]
    optional = [
        *_key_percentiles(frame),
        *[c for c in ("country", "roles", "stage", "market_cap_usd", "region") if c in have],
    ]
    return required, [c for c in optional if c not in required]


def check_columns(frame: pl.DataFrame, columns: tuple[str, ...]) -> None:
    """Refuse a ``--columns`` name the listing ``frame`` does not have, in one line: a command that stores (the
    weekly run) asks before it writes, so a bad option never leaves a side effect."""
    from rules.expr import suggest
    from screener.errors import ArgumentError, Option

    for c in columns:
        if c not in frame.columns:
            from screener.output.fields import known_fields

            if c in known_fields():
                raise ArgumentError(
                    Option("columns"), f": {c!r} is not a column of this listing; ", Option("wide"), " shows them all"
                )
            raise ArgumentError(
                Option("columns"),
                f": unknown column {c!r}{suggest(c, frame.columns)}; 'screener fields' lists every field",
            )


def chosen_columns(frame: pl.DataFrame, view: View, width: int) -> list[str]:
    """The columns a table shows under ``view`` at ``width`` characters, in the order they are shown."""
    if view.columns:
        check_columns(frame, view.columns)
        return list(dict.fromkeys(view.columns))
    if view.wide:
        return frame.columns
    if view.compact is not None:
        required, optional = [c for c in view.compact if c in frame.columns], list(view.optional)
    else:
        required, optional = compact_columns(frame, tuple(c for c in view.keep if c in frame.columns))
    if not required:
        return frame.columns
    texts = _column_texts(frame.select(list(dict.fromkeys([*required, *optional]))))
    numeric = {n for n, t in frame.schema.items() if t.is_numeric()}
    shown = list(required)
    for c in optional:
        if c in shown or c not in frame.columns:
            continue
        if _widths([*shown, c], texts, numeric, width, preferred=True)[1]:
            shown.append(c)
    # who and how good first, then the rest in frame order, the reason last: it is the widest and is read last
    lead = ("rank", "row", "symbol", "name", "score")
    order = {n: (1, i) for i, n in enumerate(frame.columns)} | {n: (0, i) for i, n in enumerate(lead)}
    order["reason"] = (2, 0)
    return sorted(shown, key=lambda n: order[n])


def table_layout(
    frame: pl.DataFrame, view: View, out: IO[str]
) -> tuple[list[boxes.Column], list[tuple[str, ...]], int, int, bool]:
    """What a terminal table of ``frame`` shows on ``out``: its columns (headers escaped and wrapped, widths fitted
    to the width), the rows' texts, the table's whole width, the width it was fitted to, and whether ``out`` is a
    terminal. Whoever draws it (``boxes``, or rich where ``_needs_rich``) draws exactly this."""
    from screener.output import boxes

    is_tty = hasattr(out, "isatty") and out.isatty()
    width = table_width(out) if is_tty or view.fit else 1_000_000
    frame = _flatten(frame) if any(isinstance(t, pl.Struct) for t in frame.dtypes) else frame
    names = chosen_columns(frame, view, width)
    frame = frame.select(names)
    texts = _column_texts(frame)
    numeric = {n for n, t in frame.schema.items() if t.is_numeric()}
    widths, _ = _widths(names, texts, numeric, width if view.cut else 1_000_000, squeeze=view.cut)
    columns = [
        boxes.Column(
            _wrap_header(terminal_safe(name), widths[name]), widths[name], name in numeric or name in view.right
        )
        for name in names
    ]
    rows = list(zip(*(texts[n] for n in names), strict=True))
    total = 1 + _PER_COLUMN * len(names) + sum(widths.values())
    return columns, rows, total, width, is_tty


def to_table_text(
    frame: pl.DataFrame, title: str | None = None, stream: IO[str] | None = None, view: View = EVERYTHING
) -> None:
    """A table that fits the width (``table_width``): one line per row, long text cut with an ellipsis (csv and
    json carry it whole); a table wider than the width even so (``wide``) is printed whole, for ``less -S``.

    Every text, the title and the column names included, has its control characters shown as escapes
    (``terminal_safe``): stored text never reaches the terminal as escape sequences. csv and json keep it exact.
    The table is drawn by ``boxes`` (rich's characters and escapes, without loading rich's layout); rich itself
    draws only where ``_needs_rich`` says."""
    from screener.output import boxes

    out = stream or sys.stdout
    columns, rows, total, width, is_tty = table_layout(frame, view, out)
    safe_title = None if title is None else terminal_safe(title)
    mode = boxes.stream_mode(out, is_tty)
    if _needs_rich(mode, total):
        _rich_print(columns, rows, safe_title, out, max(width, total), is_tty)
        return
    # a live progress bar puts rich's proxy in place of stdout; like rich, write to the stream behind it
    target = getattr(out, "rich_proxied_file", out)
    target.write(boxes.table_text(columns, rows, safe_title, mode))
    target.flush()


def _needs_rich(mode: boxes.Mode, total: int) -> bool:
    """Whether only rich itself draws this table as it would: in a notebook (rich shows it as HTML there), on
    Windows (whose old consoles rich draws through their own API), and in a dumb terminal too narrow for it (rich
    assumes 80 columns there and shrinks every column). Everywhere else ``boxes`` draws the same text, without
    the cost of importing and running rich's layout."""
    import builtins

    too_wide = mode.max_width is not None and total > mode.max_width
    return too_wide or os.name == "nt" or hasattr(builtins, "get_ipython")


def _rich_print(
    columns: list[boxes.Column],
    rows: list[tuple[str, ...]],
    title: str | None,
    out: IO[str],
    width: int,
    is_tty: bool,
) -> None:
    """Print the table with rich, for the environments ``_needs_rich`` names."""
    from rich.table import Table

    table = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        table.add_column(
            column.header,
            justify="right" if column.right else "left",
            no_wrap=True,
            overflow="ellipsis",
            width=column.width,
        )
    for row in rows:
        table.add_row(*row)
    console = _console(
        file=out,
        width=width,
        highlight=False,
        soft_wrap=False,
        emoji=False,
        markup=False,
        force_terminal=is_tty or None,
    )
    console.print(table)


@functools.cache
def _console_class() -> type:
    from rich.console import Console

    class PipeConsole(Console):
        """rich answers a closed pipe with ``SystemExit(1)``; raise the ``BrokenPipeError`` instead, so the CLI's
        one handler decides (a reader who left early is not an error)."""

        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError

    return PipeConsole


def _console(**kwargs: Any) -> Any:
    return _console_class()(**kwargs)


def render(
    frame: pl.DataFrame,
    fmt: str = "table",
    dest: IO[str] | None = None,
    title: str | None = None,
    view: View = EVERYTHING,
    non_finite: str = "null",
) -> None:
    """Write ``frame`` to ``dest`` (stdout by default) as ``table``, ``csv`` or ``json``.

    ``view`` picks the table's columns; csv and json always carry every column (chosen names are still checked,
    so a typo is an error in every format). ``non_finite`` is how json writes NaN and the infinities
    (``to_json_text``)."""
    out = dest or sys.stdout
    if view.columns and fmt != "table":
        check_columns(frame, view.columns)
    if fmt == "json":
        out.write(to_json_text(frame, non_finite))
    elif fmt == "csv":
        _write_csv(frame, out)
    elif fmt == "table":
        to_table_text(frame, title=title, stream=out, view=view)
    else:  # pragma: no cover - click restricts the choice
        raise ScreenerError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


#: The end of an export's temporary file name: ``.<file name>.<process id>-<random>.screener-partial``, beside the
#: target. The pattern lets a later export recognise a temporary file a killed one left behind (``clean_stale``).
TEMP_SUFFIX = ".screener-partial"
_TEMP_NAME = re.compile(r"^\..+\.(\d+)-[A-Za-z0-9_]+" + re.escape(TEMP_SUFFIX) + "$")
#: A temporary file older than this whose process is gone is left over from a killed export; a live export of a
#: large workbook takes seconds, so a file this old is never one being written.
STALE_SECONDS = 15 * 60


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a process of another user counts as alive: it cannot be asked)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0
    return True


def clean_stale(folder: Path, now: float | None = None) -> list[Path]:
    """Remove the temporary files that exports to ``folder`` left behind when they were killed: named in our
    pattern, older than ``STALE_SECONDS`` and written by a process that no longer runs. Returns the removed files.

    Why at the next export and not at exit: a ``kill -9`` runs no exit handler, so only a later run can clean up; a
    file another export is still writing (its process alive, or written recently) is never touched."""
    import time

    removed: list[Path] = []
    moment = time.time() if now is None else now
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match is None:
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            old = moment - entry.stat(follow_symlinks=False).st_mtime > STALE_SECONDS
            if old and not _process_alive(int(match.group(1))):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:  # gone already, or not ours to remove: the export itself goes on
            continue
    return removed


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only if the block succeeds.

    A failed export therefore leaves no half-written file and never clobbers the previous good one. A ``path`` that
    is a symbolic link writes the file the link points to (the link stays a link). A full disk is one line saying
    that the previous file is unchanged. Temporary files a killed export left in the folder are removed first
    (``clean_stale``).
    """
    link = check_writable(path)
    target = Path(os.path.realpath(link)) if link.is_symlink() else link
    if target != link:
        check_writable(target)
    clean_stale(target.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}-", suffix=TEMP_SUFFIX, dir=target.parent)
    except OSError as exc:
        raise ScreenerError(_write_failure(link, exc)) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; an export is meant to be shared, so give it the usual umask-based mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, target)
    except BaseException as exc:
        tmp_path.unlink(missing_ok=True)
        if isinstance(exc, OSError) or (isinstance(exc, Exception) and disk_full(exc)):
            raise ScreenerError(_write_failure(link, exc)) from None
        raise


def _write_failure(target: Path, exc: BaseException) -> str:
    if disk_full(exc):
        return (
            f"cannot write {target}: the disk is full; nothing was written, any previous {target.name} is unchanged "
            "and the store is untouched (an export never writes it)"
        )
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return f"cannot write {target}: {reason}"


def check_not_store(path: str | os.PathLike[str], store: str | os.PathLike[str] | None) -> None:
    """Refuse an output path that is the store file or its write-ahead log (``<store>.wal``), by name or through
    a link.

    Why: an export or report renamed over the DuckDB file destroys every stored run with no error; the check is the
    last moment the user's data can still be saved, so it runs before any work.
    """
    if store is None:
        return
    target = Path(path).expanduser()
    db = Path(store).expanduser()
    for guarded in (db, db.with_name(db.name + ".wal")):
        if _same_file(target, guarded):
            raise ScreenerError(f"cannot write {target}: it is the store {db}; give another file name")


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file: the same path once links are resolved, or the same inode."""
    try:
        if a.exists() and b.exists() and os.path.samefile(a, b):
            return True
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):  # a link loop or an unreadable folder: compare the names as given
        return os.path.abspath(a) == os.path.abspath(b)


def check_writable(path: str | os.PathLike[str], *, store: str | os.PathLike[str] | None = None) -> Path:
    """Fail before any work is done when an output file cannot be written where the user asked, or when it is the
    store (``store``: the store's file, when known)."""
    check_not_store(path, store)
    target = Path(path)
    parent = target.parent
    if target.is_dir():
        raise ScreenerError(f"cannot write {target}: it is a folder; give a file name")
    if not parent.exists():
        raise ScreenerError(f"cannot write {target}: folder {parent} does not exist")
    if not parent.is_dir():
        raise ScreenerError(f"cannot write {target}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ScreenerError(f"cannot write {target}: folder {parent} is not writable")
    return target
