"""One output path for every listing command: ``table``, ``csv`` and ``json`` to a stream.

Why one function: analysts paste our CSV into spreadsheets and feed our JSON to scripts, so every command must
format dates, nulls, lists and hostile text the same way. Files are written by the export module with the same text
helpers (``to_csv_text``, ``to_json_text``) and this module's ``check_writable`` and ``atomic_path``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from screener.errors import ScreenerError

if TYPE_CHECKING:
    import polars as pl
else:

    class _Polars:
        """polars, imported on first use: every command imports this module, and ``--help`` must not load polars."""

        def __getattr__(self, name: str) -> Any:
            import polars

            return getattr(polars, name)

    pl = _Polars()

FORMATS = ("table", "csv", "json")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
TABLE_TEXT_LIMIT = 160
TTY_TEXT_WIDTH = 60
#: Columns whose text is the point of the row (a watchlist reason, a change, a failure message) get more room.
TTY_WIDE_COLUMNS = {"reason": 150, "text": 150, "message": 150, "description": 100}


def _tty_width(column: str) -> int:
    return TTY_WIDE_COLUMNS.get(column, TTY_TEXT_WIDTH)


def neutralise(text: str) -> str:
    """Stop a spreadsheet from reading a text cell as a formula (CSV/formula injection): prefix a quote."""
    if text and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def _flatten(frame: pl.DataFrame) -> pl.DataFrame:
    """Lists become ``;``-joined text and dates ISO text, so every format shows the same cell."""
    exprs = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.List):
            exprs.append(pl.col(name).cast(pl.List(pl.String)).list.join(";").alias(name))
        elif isinstance(dtype, pl.Struct):
            exprs.append(pl.col(name).struct.json_encode().alias(name))
    return frame.with_columns(exprs) if exprs else frame


def neutralise_frame(frame: pl.DataFrame) -> pl.DataFrame:
    exprs = [
        pl.when(pl.col(n).str.contains(r"^[=+\-@\t\r]")).then(pl.lit("'") + pl.col(n)).otherwise(pl.col(n)).alias(n)
        for n, dt in frame.schema.items()
        if dt == pl.String
    ]
    return frame.with_columns(exprs) if exprs else frame


def utc_text(v: datetime) -> str:
    """The store keeps naive UTC timestamps; say so in the text (ISO 8601 with ``Z``) so no reader guesses a zone."""
    if v.tzinfo is not None:
        v = v.astimezone(UTC).replace(tzinfo=None)
    return v.replace(microsecond=0).isoformat() + "Z"


def _json_value(v: Any) -> Any:
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if isinstance(v, datetime):
        return utc_text(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, list):
        return [_json_value(x) for x in v]
    return v


def to_json_text(frame: pl.DataFrame) -> str:
    """A JSON array of objects with keys in column order; NaN becomes null so every parser accepts it."""
    rows = [{k: _json_value(v) for k, v in row.items()} for row in frame.iter_rows(named=True)]
    return json.dumps(rows, ensure_ascii=False, indent=2, default=str) + "\n"


def to_csv_text(frame: pl.DataFrame) -> str:
    return neutralise_frame(_flatten(frame)).write_csv(
        float_precision=None, date_format="%Y-%m-%d", datetime_format="%Y-%m-%dT%H:%M:%SZ"
    )


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if v != 0 and (abs(v) >= 1e6 or abs(v) < 1e-3):
            return f"{v:,.4g}" if abs(v) < 1e6 else f"{v:,.0f}"
        return f"{v:.3f}".rstrip("0").rstrip(".") if abs(v) < 1000 else f"{v:,.1f}"
    if isinstance(v, list):
        return ";".join(str(x) for x in v)
    if isinstance(v, datetime):
        return utc_text(v)
    if isinstance(v, date):
        return v.isoformat()
    text = str(v)
    # The table is for reading; csv and json carry long texts (sources, descriptions) in full.
    return text if len(text) <= TABLE_TEXT_LIMIT else text[: TABLE_TEXT_LIMIT - 1] + "…"


def to_table_text(frame: pl.DataFrame, title: str | None = None, stream: IO[str] | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    out = stream or sys.stdout
    is_tty = hasattr(out, "isatty") and out.isatty()
    table = Table(title=title, show_lines=False, header_style="bold")
    for name, dtype in frame.schema.items():
        # One row stays one line: long text is cut with an ellipsis in a terminal (csv/json carry it whole) and
        # nothing is squeezed or broken mid-word; a table wider than the terminal scrolls (e.g. `| less -S`).
        table.add_column(
            name,
            justify="right" if dtype.is_numeric() else "left",
            no_wrap=True,
            overflow="ellipsis",
            max_width=_tty_width(name) if is_tty and not dtype.is_numeric() else None,
        )
    for row in frame.iter_rows():
        table.add_row(*(_cell(v) for v in row))
    width = 100_000
    if is_tty:
        natural = Console(width=100_000).measure(table).maximum
        width = max(natural, shutil.get_terminal_size().columns)
    console = Console(
        file=out,
        width=width,
        highlight=False,
        soft_wrap=False,
        emoji=False,
        markup=False,
        force_terminal=is_tty or None,
    )
    console.print(table)


def render(frame: pl.DataFrame, fmt: str = "table", dest: IO[str] | None = None, title: str | None = None) -> None:
    """Write ``frame`` to ``dest`` (stdout by default) as ``table``, ``csv`` or ``json``."""
    out = dest or sys.stdout
    if fmt == "json":
        out.write(to_json_text(frame))
    elif fmt == "csv":
        out.write(to_csv_text(frame))
    elif fmt == "table":
        to_table_text(frame, title=title, stream=out)
    else:  # pragma: no cover - click restricts the choice
        raise ScreenerError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only if the block succeeds.

    A failed export therefore leaves no half-written file and never clobbers the previous good one.
    """
    target = check_writable(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise ScreenerError(f"cannot write {target}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; an export is meant to be shared, so give it the usual umask-based mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, target)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        raise ScreenerError(f"cannot write {target}: {exc.strerror or exc}") from None
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def check_writable(path: str | os.PathLike[str]) -> Path:
    """Fail before any work is done when an output file cannot be written where the user asked."""
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
