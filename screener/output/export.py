"""Exports of a stored run: a desk-ready xlsx workbook, or the watchlist rows as csv, parquet or json.

Why a workbook and not a dump: the spreadsheet is what gets forwarded. It has to open ready to read (a title block,
headers in words with the field name under them, frozen header, filters, USD in millions, percentiles as percents,
a colour scale on the score), print ready to read (A4 landscape, one page wide, header rows on every page), carry
everything behind the list (every company's factors, who was left out and why, charts Excel draws from the cells),
and say plainly which rules, which as-of date, which data and whether the numbers are synthetic. And no cell may run
as a formula: text that starts with ``=``, ``+``, ``-``, ``@``, tab or CR is written with a leading quote, in xlsx
and csv alike.

A csv file starts with a UTF-8 byte-order mark: Excel and LibreOffice's import dialog read it as UTF-8 only then,
and otherwise garble ``→`` and accented names. (``--format csv`` to stdout has none: a pipe wants plain UTF-8.)

Every file is written to a temporary file and renamed over the target only when complete.
"""

from __future__ import annotations

import io
import math
import os
import textwrap
from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from factors.inputs import FIELD_COLUMNS
from screener.errors import ScreenerError
from screener.output.fields import UNITLESS, describe, label_of, unit_of
from screener.output.render import (
    atomic_path,
    check_writable,
    cut_warning,
    fit_cell,
    neutralise,
    to_csv_text,
    to_json_text,
)
from screener.store import Store
from screener.watchlist.runs import Run, load_run

SUFFIXES = (".xlsx", ".csv", ".parquet", ".json")
SHEETS = ("Watchlist", "Charts", "Changes", "Factors", "Universe", "Methodology")
#: The most columns a printed landscape page of a table holds and stays readable.
PRINT_COLUMNS = 20
#: The byte-order mark that tells Excel and LibreOffice a csv file is UTF-8.
BOM = "\ufeff"
#: Number formats. USD totals in millions; a share price in dollars and cents; percentiles and completeness as
#: whole percents; ratios and growth rates as percents with one decimal; scores to three decimals; counts whole.
USD_M = '#,##0.0,,"m"'
USD_PRICE = "#,##0.00"
PERCENT = "0%"
RATIO_PERCENT = "0.0%"
DECIMAL = "0.00"
SCORE = "0.000"
INTEGER = "0"
COUNT = "#,##0"
#: Months until a raise is needed (the funding-gap forecast): one decimal and the unit, so it is not read as a count.
MONTHS = '0.0" mo"'
#: The funding-gap forecast's columns (``dilution_risk`` components), on the Factors sheet whatever the rule set.
FUNDING_COLUMNS = (
    "dilution_risk.months_to_raise",
    "dilution_risk.funding_gap_usd",
    "dilution_risk.remaining_capex_usd",
)
#: Columns that count things (factor columns declare their own kind, see ``factor_formats``).
COUNT_COLUMNS = frozenset({"rank", "candidate_rank", "rank_from", "rank_to", "run_id"})
#: The Excel format of each number kind a factor declares for its columns (``formats`` in its registration).
KIND_FORMATS = {"usd": USD_M, "ratio": RATIO_PERCENT, "count": INTEGER, "decimal": DECIMAL}
DEMO_NOTE = "yes: synthetic numbers from the seeded demo generator, not market data"
#: How list cells (roles, flags) are joined in the workbook: with a space, so a narrow column wraps between items.
LIST_SEPARATOR = "; "
#: Row sizing for wrapped text: characters per unit of column width (a unit is one digit wide; text runs a little
#: narrower, so 1.0 errs towards a spare line) and points per line of the default 11-point font.
WRAP_CHARS_PER_WIDTH = 1.0
LINE_HEIGHT = 15.0
#: The same for the header labels, set in 9-point bold so a narrow number column still takes whole words.
LABEL_CHARS_PER_WIDTH = 1.15
LABEL_LINE_HEIGHT = 12.0
#: xlsxwriter's paper code for A4.
PAPER_A4 = 9
#: Companies in the contributions chart, and the rows the charts take above their tables on the Charts sheet.
TOP_N_CHART = 15
CHART_ROWS = 31
CHART_COLUMNS = 10
#: Widths of the first column of the chart tables (company, role class) and of the others.
CHART_TABLE_WIDTHS = (24.0, 14.0)
#: Column widths (characters) of the text a reader scans: names, roles, regions, reasons.
WIDTHS: dict[str, float] = {
    "rank": 9,
    "candidate_rank": 9,
    "symbol": 11,
    "name": 24,
    "country": 8,
    "region": 16,
    "roles": 20,
    "role_class": 14,
    "stage": 10,
    "segment": 12,
    "status": 10,
    "flags": 16,
    "reason": 50,
    "why_out": 48,
    "government_backing": 26,
    "gov_backing": 14,
    "change": 9,
    "factor": 21,
    "event": 30,
    "text": 70,
}
#: Text columns stored as ``;``-joined tags: the workbook shows them ``; ``-joined, so they wrap between tags.
TAG_COLUMNS = frozenset({"roles", "gov_backing", "flags"})
#: Columns whose text wraps inside the cell (its row grows to fit) instead of running under the next column.
WRAPPED = frozenset(
    {"name", "roles", "flags", "reason", "why_out", "government_backing", "event", "text", "gov_backing"}
)


def check_target(path: str | Path, store: str | os.PathLike[str] | None = None) -> Path:
    """Refuse an export path before any work: a known suffix, in a folder that exists and can be written, and not
    the store file (``store``) or its log.

    ``weekly --export`` and ``demo`` call this before scoring, so a typo in the file name never leaves a stored run
    behind an error.
    """
    target = Path(path)
    if target.suffix.lower() not in SUFFIXES:
        raise ScreenerError(f"cannot export to {target.name}: use a .xlsx, .csv, .parquet or .json file name")
    return check_writable(target, store=store)


def export_run(
    store: Store, path: str | Path, run_id: int | str | None = None, note: Callable[[str], None] | None = None
) -> Path:
    """Write run ``run_id`` (default: the latest) to ``path``; the suffix picks the format. ``note`` hears the
    warnings (``write_run``)."""
    target = check_target(path, store.path)
    return write_run(load_run(store, run_id), target, note)


def write_run(run: Run, path: str | Path, note: Callable[[str], None] | None = None) -> Path:
    """Write a loaded run to ``path`` atomically; the suffix picks the format. ``note`` hears a warning when a
    text had to be cut to fit a workbook cell (``cut_warning``)."""
    target = check_target(path)
    suffix = target.suffix.lower()
    rows = run.rows
    cut: list[str] = []
    with atomic_path(target) as tmp:
        if suffix == ".xlsx":
            cut = write_workbook(tmp, run)
        elif suffix == ".csv":
            tmp.write_text(BOM + to_csv_text(rows), encoding="utf-8")
        elif suffix == ".json":
            tmp.write_text(to_json_text(rows), encoding="utf-8")
        else:
            rows.write_parquet(tmp)
    if cut and note is not None:
        note(cut_warning(target, cut))
    return target


# -- the workbook ---------------------------------------------------------------------------------------------------
def factor_formats() -> dict[str, str]:
    """Excel format by factor column, from what each registered factor declares its numbers to be."""
    from factors.registry import FACTORS

    return {col: KIND_FORMATS[kind] for spec in FACTORS.values() for col, kind in spec.column_formats().items()}


def number_format(name: str, dtype: pl.DataType, declared: Mapping[str, str] | None = None) -> str:
    """Excel number format by column name: the same column looks the same on every sheet, and no number is left
    in the General format (which shows 0.123456789 or 1.23457E+11). A factor's column takes the format of the
    kind its factor declares (``declared``: default ``factor_formats()``); other columns follow their name."""
    declared = factor_formats() if declared is None else declared
    if name.endswith("months_to_raise"):
        return MONTHS
    if name in declared:
        return declared[name]
    if name == "price_usd":
        return USD_PRICE
    if name.endswith("_usd"):
        return USD_M
    if name.endswith("_pct") or name.endswith("_pct_eligible") or name in ("data_completeness", "pct_from", "pct_to"):
        return PERCENT
    if name == "exposure":  # a share of the business, read as a percent like the percentiles
        return PERCENT
    if name == "weight":  # a member's portfolio weight: a percent with one decimal (8.0% cap, 3.4% weights)
        return RATIO_PERCENT
    if name == "shares_outstanding":
        return COUNT
    if name in COUNT_COLUMNS:
        return INTEGER
    if name in ("score", "contrib_from", "contrib_to") or name.startswith("contrib."):
        return SCORE
    return INTEGER if dtype.is_integer() else DECIMAL


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def _cell_text(name: str, value: Any) -> str | None:
    """The text a cell shows: lists, and the stored ``;``-joined tag columns, joined by ``LIST_SEPARATOR`` so they
    wrap between items; ``None`` for a value that is not text."""
    if isinstance(value, list):
        return LIST_SEPARATOR.join(str(v) for v in value)
    if isinstance(value, str):
        return LIST_SEPARATOR.join(value.split(";")) if name in TAG_COLUMNS else value
    return None


def wrapped_lines(text: str, width: float, chars_per_width: float = WRAP_CHARS_PER_WIDTH) -> int:
    """How many lines ``text`` takes in a wrapped cell ``width`` characters wide, breaking on spaces as a
    spreadsheet does; errs towards one line too many, so a row is never too short for its text."""
    chars = max(int(width * chars_per_width), 1)
    # whichever is more: the words as wrapped, or the characters at the width (a space a wrap drops still takes room
    # in a cell whose font is wider than the estimate)
    return sum(
        max(len(textwrap.wrap(part, chars, break_long_words=True)), -(-len(part) // chars), 1)
        for part in text.split("\n")
    )


def row_height(lines: int, line_height: float = LINE_HEIGHT) -> float:
    """The height in points of a row of ``lines`` wrapped lines (LibreOffice does not size imported rows)."""
    return max(lines, 1) * line_height + 2


class _Book:
    """The workbook and its formats: one format object per look, shared by every sheet."""

    def __init__(self, path: Path, run: Run) -> None:
        import xlsxwriter

        self.run = run
        self.path = path
        # Built in memory and written in one plain write (``close``): a zip writer on the file itself, met by a full
        # disk, is left half open, and its destructor prints a traceback after the error has been said.
        self.buffer = io.BytesIO()
        self.wb = xlsxwriter.Workbook(
            self.buffer,
            {
                "in_memory": True,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        # the document's dates are the run's, not the clock's: the same run exports to the same bytes
        self.wb.set_properties({"created": run.created_at.replace(tzinfo=None), "title": f"Watchlist run {run.run_id}"})
        add = self.wb.add_format
        self.label = add({"bold": True, "font_size": 9, "bg_color": "#DDE4EE", "text_wrap": True, "valign": "bottom"})
        self.field = add({"italic": True, "font_size": 8, "font_color": "#595959", "bg_color": "#DDE4EE", "bottom": 1})
        self.title = add({"bold": True, "font_size": 14})
        self.banner = add({"bold": True, "font_color": "#FFFFFF", "bg_color": "#C00000"})
        self.note = add({"font_color": "#404040"})
        self.section = add({"bold": True, "font_size": 12})
        self.wrap = add({"text_wrap": True, "valign": "top"})
        self.code = add({"font_name": "Courier New", "font_size": 9, "valign": "top"})
        self.date = add({"num_format": "yyyy-mm-dd", "valign": "top"})
        self.datetime = add({"num_format": "yyyy-mm-dd hh:mm", "valign": "top"})
        self.top = add({"valign": "top"})
        # LibreOffice shows a boolean cell as 1 or 0 unless a format names the two values
        self.boolean = add({"num_format": '"TRUE";"TRUE";"FALSE"', "valign": "top", "align": "center"})
        self._nums: dict[str, Any] = {}
        self.declared = factor_formats()
        #: The cells (``Sheet!B12``) whose text was cut to fit (``fit_cell``).
        self.cut: list[str] = []

    def text(self, ws: Any, r: int, c: int, value: str, fmt: Any = None) -> None:
        """Write a text cell: neutralised against formulas, cut to fit a cell with a mark (and remembered)."""
        from xlsxwriter.utility import xl_rowcol_to_cell

        fitted, lost = fit_cell(neutralise(value))
        if lost:
            self.cut.append(f"{ws.name}!{xl_rowcol_to_cell(r, c)}")
        ws.write_string(r, c, fitted, fmt)

    def num(self, code: str) -> Any:
        if code not in self._nums:
            self._nums[code] = self.wb.add_format({"num_format": code, "valign": "top"})
        return self._nums[code]

    def close(self) -> None:
        """Finish the workbook in memory, then write its bytes to ``path`` (an ``atomic_path`` temporary file)."""
        self.wb.close()
        self.path.write_bytes(self.buffer.getvalue())


def title_lines(run: Run) -> list[tuple[str, str]]:
    """The Watchlist's title block as (style, text): what the list is, for which week, on which data, and a DEMO
    banner when the numbers are synthetic, so a forwarded file says so before any number is read."""
    m = run.meta
    members = run.table.filter(pl.col("status") == "member").height
    description = str(m.get("rules_description") or "").strip()
    previous = m.get("previous_run_id")
    lines = [("title", f"Watchlist: {run.rules_name} rules, as of {run.as_of.isoformat()} (ISO week {run.iso_week})")]
    if run.demo:
        lines.append(("banner", f"DEMO DATA: {DEMO_NOTE}"))
    lines += [
        (
            "note",
            f"Rule set: {run.rules_name} (content hash {run.rules_hash})" + (f": {description}" if description else ""),
        ),
        ("note", f"As of {run.as_of.isoformat()}, ISO week {run.iso_week}; {members} members"),
        ("note", f"Data freshness: {run.data_freshness}"),
        (
            "note",
            f"Run {run.run_id}, created {run.created_at:%Y-%m-%d %H:%M} UTC; "
            + (
                f"changes against run {previous} on the Changes sheet"
                if previous is not None
                else "first run of these rules"
            ),
        ),
    ]
    return lines


def _write_title(book: _Book, ws: Any, lines: list[tuple[str, str]], span: int) -> int:
    """Write title lines from the top of ``ws``; returns the first free row (one blank row after the block).

    The banner is merged across ``span`` columns: white text on red would vanish where it ran past its own cell."""
    for r, (style, text) in enumerate(lines):
        if style == "banner" and span > 1:
            ws.merge_range(r, 0, r, span - 1, neutralise(text), book.banner)
        else:
            book.text(ws, r, 0, text, getattr(book, style))
        if style == "title":
            ws.set_row(r, 20)
    return len(lines) + 1


def column_width(name: str, dtype: pl.DataType) -> float:
    """A column's width in characters: text that is the point of the row (names, roles, regions, reasons) gets room
    and wraps; a number needs only its formatted width, its header wraps over two or three lines."""
    if name in WIDTHS:
        return WIDTHS[name]
    if name.startswith("contrib.") or name.endswith(("_pct", "_pct_eligible")):
        return 11
    if dtype == pl.Boolean:
        return 7
    if dtype.is_numeric():
        return 10
    if dtype in (pl.Date, pl.Datetime):
        return 11
    return min(max(len(name) + 2, 12), 30)


def _write_table(
    book: _Book,
    ws: Any,
    top: int,
    frame: pl.DataFrame,
    *,
    freeze_cols: int = 0,
) -> tuple[int, int]:
    """Write ``frame`` as a table from row ``top``: a row of human labels (with the field's meaning and unit in a
    comment), a row of field names (where the filter buttons sit), then the data, each cell in its column's number
    format and wrapped text in rows tall enough for it. Returns (first data row, row after the last)."""
    label_row, field_row, first = top, top + 1, top + 2
    widths: list[float] = []
    fmts: list[Any] = []
    wraps: list[bool] = []
    label_lines = 1
    for c, (name, dtype) in enumerate(frame.schema.items()):
        width = column_width(name, dtype)
        widths.append(width)
        label = label_of(name)
        label_lines = max(label_lines, wrapped_lines(label, width, LABEL_CHARS_PER_WIDTH))
        ws.write_string(label_row, c, label, book.label)
        book.text(ws, field_row, c, name, book.field)
        unit = unit_of(name)
        about = describe(name)
        note = "\n".join(x for x in (f"{label} ({name})", about, f"Unit: {unit}" if unit not in UNITLESS else "") if x)
        ws.write_comment(label_row, c, note, {"x_scale": 2.5, "y_scale": 1.6})
        wrap = name in WRAPPED
        wraps.append(wrap)
        if dtype.is_numeric():
            fmts.append(book.num(number_format(name, dtype, book.declared)))
        elif wrap:
            fmts.append(book.wrap)
        else:
            fmts.append(book.top)
        ws.set_column(c, c, width)
    ws.set_row(label_row, row_height(label_lines, LABEL_LINE_HEIGHT))
    names = frame.columns
    for r, row in enumerate(frame.iter_rows(), start=first):
        lines = 1
        for c, value in enumerate(row):
            value = _clean(value)
            text = _cell_text(names[c], value)
            _write_cell(book, ws, r, c, value if text is None else text, fmts[c])
            if text and wraps[c]:
                lines = max(lines, wrapped_lines(text, widths[c]))
        ws.set_row(r, row_height(lines))
    ws.freeze_panes(first, freeze_cols)
    if frame.width and frame.height:  # no filter buttons over an empty sheet
        ws.autofilter(field_row, 0, first + frame.height - 1, frame.width - 1)
    ws.repeat_rows(label_row, field_row)
    return first, first + frame.height


def _write_cell(book: _Book, ws: Any, r: int, c: int, value: Any, fmt: Any) -> None:
    if value is None or value == [] or value == "":
        ws.write_blank(r, c, None, fmt)
    elif isinstance(value, bool):
        ws.write_boolean(r, c, value, book.boolean)
    elif isinstance(value, int | float):
        ws.write_number(r, c, value, fmt)
    elif isinstance(value, datetime):
        ws.write_datetime(r, c, value, book.datetime)
    elif isinstance(value, date):
        ws.write_datetime(r, c, datetime(value.year, value.month, value.day), book.date)
    elif isinstance(value, list):
        book.text(ws, r, c, LIST_SEPARATOR.join(str(v) for v in value), fmt)
    else:
        book.text(ws, r, c, str(value), fmt)


def _print_setup(book: _Book, ws: Any, *, tall: bool = False, pages_wide: int = 1) -> None:
    """Every sheet prints the same way: A4 landscape, one page wide (``tall``: one page in all; a sheet of many
    columns ``pages_wide``), narrow margins, and a page header that names the run and carries the DEMO mark, so a
    single printed page still says what it is."""
    run = book.run

    def esc(text: str) -> str:
        return text.replace("&", "&&")

    ws.set_landscape()
    ws.set_paper(PAPER_A4)
    ws.fit_to_pages(pages_wide, 1 if tall else 0)
    ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.5)
    demo = '&C&"-,Bold"&KC00000DEMO DATA (synthetic)' if run.demo else ""
    ws.set_header(
        f"&L&8{esc(run.rules_name)} rules, as of {run.as_of.isoformat()} ({run.iso_week}), run {run.run_id}"
        f"{demo}&R&8&A, page &P of &N",
        {"margin": 0.25},
    )


def _factors_frame(run: Run) -> pl.DataFrame:
    t = run.table
    ident = ("symbol", "name", "country", "region", "roles", "stage", "exposure", "government_backing", "as_of")
    cols = [c for c in ident if c in t.columns]
    for f in run.factors:
        cols += [c for c in (f, f"{f}_pct") if c in t.columns]
        cols += [c for c in t.columns if c.startswith(f"{f}.")]
    # the months to a raise are read on every list, including one that does not weight dilution risk
    cols += [c for c in FUNDING_COLUMNS if c in t.columns and c not in cols]
    cols += [c for c in (*FIELD_COLUMNS, "data_completeness", "flags", "demo") if c in t.columns]
    return t.select(cols).sort("symbol")


def _universe_frame(run: Run) -> pl.DataFrame:
    want = (
        "symbol",
        "name",
        "country",
        "region",
        "roles",
        "role_class",
        "segment",
        "stage",
        "exposure",
        "gov_backing",
        "government_backing",
        "status",
        "rank",
        "candidate_rank",
        "score",
        "why_out",
    )
    return run.table.select([c for c in want if c in run.table.columns])


def top_contributions(run: Run, n: int = TOP_N_CHART) -> pl.DataFrame:
    """The ``n`` best-scored eligible companies (by ``candidate_rank``: score, then the rule set's tie-break) with
    each weighted factor's contribution; ``label`` names members by rank and marks the others as not on the list."""
    t = run.table
    contribs = [f"contrib.{f}" for f in run.weighted if f"contrib.{f}" in t.columns]
    if "candidate_rank" not in t.columns or "score" not in t.columns:
        return pl.DataFrame(schema={"label": pl.String, "symbol": pl.String, "status": pl.String, "score": pl.Float64})
    top = t.filter(pl.col("candidate_rank").is_not_null() & pl.col("score").is_not_null())
    top = top.sort(["candidate_rank", "symbol"]).head(n)
    label = (
        pl.when(pl.col("status") == "member")
        .then(pl.col("symbol") + pl.lit(" #") + pl.col("rank").cast(pl.String))
        .otherwise(pl.col("symbol") + pl.lit(" (not on list)"))
    )
    return top.select(label.alias("label"), "symbol", "status", "score", *contribs)


def score_by_role_class(run: Run) -> pl.DataFrame:
    """Per role class present in the universe: companies, companies the rule set scored, members, and the mean and
    best score of the scored ones (empty, never zero, for a class with nothing scored). Classes in ``ROLE_CLASSES``
    order."""
    from factors.inputs import ROLE_CLASSES

    t = run.table
    if "role_class" not in t.columns:  # a run stored from a score frame without classes: nothing to group by
        return pl.DataFrame(
            schema={"role_class": pl.String, **dict.fromkeys(("companies", "scored", "members"), pl.Int64)}
            | dict.fromkeys(("mean_score", "best_score"), pl.Float64)
        )
    scored = pl.col("score").is_not_null() if "score" in t.columns else pl.lit(False)
    score = pl.col("score") if "score" in t.columns else pl.lit(None, dtype=pl.Float64)
    agg = t.group_by("role_class").agg(
        pl.len().cast(pl.Int64).alias("companies"),
        scored.sum().cast(pl.Int64).alias("scored"),
        (pl.col("status") == "member").sum().cast(pl.Int64).alias("members"),
        score.mean().alias("mean_score"),
        score.max().alias("best_score"),
    )
    order = {c: i for i, c in enumerate(ROLE_CLASSES)}
    return (
        agg.with_columns(
            pl.col("role_class").replace_strict(order, default=len(order), return_dtype=pl.Int64).alias("_o")
        )
        .sort(["_o", "role_class"], nulls_last=True)
        .drop("_o")
    )


CHART_LABELS = {
    "label": "Company",
    "companies": "Companies",
    "scored": "Scored by the rule set",
    "members": "Members",
    "mean_score": "Mean score",
    "best_score": "Best score",
}


def _chart_table(book: _Book, ws: Any, top: int, frame: pl.DataFrame) -> int:
    """A small data table under the charts (the cells the charts draw from); returns the row after it."""
    lines = 1
    for c, name in enumerate(frame.columns):
        label = CHART_LABELS.get(name) or label_of(name)
        lines = max(lines, wrapped_lines(label, CHART_TABLE_WIDTHS[min(c, 1)], LABEL_CHARS_PER_WIDTH))
        ws.write_string(top, c, label, book.label)
        ws.write_string(top + 1, c, name, book.field)
    ws.set_row(top, row_height(lines, LABEL_LINE_HEIGHT))
    for r, row in enumerate(frame.iter_rows(), start=top + 2):
        for c, (name, value) in enumerate(zip(frame.columns, row, strict=True)):
            fmt = (
                book.num(number_format(name, frame.schema[name], book.declared))
                if frame.schema[name].is_numeric()
                else book.top
            )
            if name in ("mean_score", "best_score"):
                fmt = book.num(SCORE)
            _write_cell(book, ws, r, c, _clean(value), fmt)
    return top + 2 + frame.height


def _write_charts(book: _Book) -> None:
    """The Charts sheet: factor contributions of the top 15 (stacked bars) and the score by role class (columns),
    native charts drawn from the tables under them."""
    run = book.run
    ws = book.wb.add_worksheet("Charts")
    lines = [("title", f"Charts: {run.rules_name} rules, as of {run.as_of.isoformat()} (ISO week {run.iso_week})")]
    if run.demo:
        lines.append(("banner", f"DEMO DATA: {DEMO_NOTE}"))
    chart_row = _write_title(book, ws, lines, span=CHART_COLUMNS)
    ws.set_column(0, 0, CHART_TABLE_WIDTHS[0])
    ws.set_column(1, CHART_COLUMNS - 1, CHART_TABLE_WIDTHS[1])
    table_row = chart_row + CHART_ROWS + 1
    top = top_contributions(run)
    ws.write_string(table_row, 0, f"Top {TOP_N_CHART} by score among the eligible: factor contributions", book.section)
    t1 = table_row + 1
    end1 = _chart_table(book, ws, t1, top.drop("symbol"))
    roles = score_by_role_class(run)
    ws.write_string(end1 + 1, 0, "Score by role class", book.section)
    t2 = end1 + 2
    _chart_table(book, ws, t2, roles)
    first1, last1 = t1 + 2, t1 + 1 + top.height
    if top.height:
        bars = book.wb.add_chart({"type": "bar", "subtype": "stacked"})
        contribs = [c for c in top.columns if c.startswith("contrib.")]
        for c in contribs:
            col = top.drop("symbol").columns.index(c)
            bars.add_series(
                {
                    "name": label_of(c).removesuffix(" contribution"),
                    "categories": ["Charts", first1, 0, last1, 0],
                    "values": ["Charts", first1, col, last1, col],
                    "gap": 40,
                }
            )
        bars.set_title({"name": f"Factor contributions to the score, top {top.height}", "name_font": {"size": 12}})
        bars.set_x_axis({"name": "score points", "num_format": "0.00", "major_gridlines": {"visible": True}})
        # every company labelled (a small font, one label per bar), the best at the top
        bars.set_y_axis({"reverse": True, "interval_unit": 1, "num_font": {"size": 8}})
        bars.set_legend({"position": "bottom"})
        bars.set_size({"width": 780, "height": 600})
        ws.insert_chart(chart_row, 0, bars, {"x_offset": 4, "y_offset": 4})
    first2, last2 = t2 + 2, t2 + 1 + roles.height
    if roles.height:
        cols = book.wb.add_chart({"type": "column"})
        for name in ("mean_score", "best_score"):
            col = roles.columns.index(name)
            cols.add_series(
                {
                    "name": CHART_LABELS[name],
                    "categories": ["Charts", first2, 0, last2, 0],
                    "values": ["Charts", first2, col, last2, col],
                }
            )
        cols.set_title({"name": "Score by role class (companies the rule set scored)", "name_font": {"size": 12}})
        cols.set_y_axis({"name": "score", "num_format": "0.00", "min": 0})
        cols.set_legend({"position": "bottom"})
        cols.set_size({"width": 520, "height": 600})
        ws.insert_chart(chart_row, 0, cols, {"x_offset": 800, "y_offset": 4})
    _print_setup(book, ws, tall=True)


def methodology_rows(run: Run) -> list[tuple[str, str]]:
    m = run.meta
    rows: list[tuple[str, str]] = [
        ("rule set", run.rules_name),
        ("description", str(m.get("rules_description", ""))),
        ("rules file", str(m.get("rules_source", ""))),
        ("rules content hash", run.rules_hash),
        ("run id", str(run.run_id)),
        ("as of", run.as_of.isoformat()),
        ("ISO week", run.iso_week),
        ("created (UTC)", f"{run.created_at:%Y-%m-%d %H:%M:%S}"),
        ("data freshness", run.data_freshness),
        ("demo data", DEMO_NOTE if run.demo else "no"),
        ("previous run", str(m["previous_run_id"]) if m.get("previous_run_id") is not None else "none (first run)"),
    ]
    if m.get("weight_note"):
        rows.append(("weights", str(m["weight_note"])))
    for table, providers in (m.get("providers") or {}).items():
        mix = ", ".join(f"{p} {n:,} rows" for p, n in providers.items()) or "no rows"
        rows.append((f"providers: {table}", mix))
    for step, words in m.get("plan") or []:
        rows.append((f"plan: {step}", str(words)))
    rows += [
        (
            "headers",
            "each table has two header rows: a label to read, and the field name (as in csv, json and --where) "
            "under it; a comment on each label says what the field means and its unit",
        ),
        ("column: score", "sum of the contrib.* columns (weights x direction-aware percentile x tilt)"),
        (
            "column: <factor>_pct_eligible, '<Factor> percentile (eligible)' (Watchlist)",
            "percentile among the companies that passed the universe filter and "
            'the gates (among every scored company when the rule set says over = "scored"), within the rule set\'s '
            "groups; same direction as the factor; the percentile that drove the score",
        ),
        (
            "column: <factor>_pct, '<Factor> percentile (all scored)' (Factors)",
            "the factor library's percentile across every scored company, whatever the rule set; the percentile "
            "that score, screen and the rule set's filters and gates read",
        ),
        (
            "column: rank and candidate_rank",
            "'Watchlist rank' is the position on the list (members only); 'Rank among eligible' the position by "
            "score among every company that passed the filters and gates, before the buffer and caps",
        ),
        (
            "column: *_usd",
            "US dollars; amounts (market cap, revenue, cash, debt, traded value) shown in millions, "
            "price_usd in dollars",
        ),
        (
            "column: weight (Watchlist)",
            "the member's portfolio weight from the rule set's [portfolio] section (equal, or market cap capped at "
            "max_weight); the members' weights add up to 100%",
        ),
        (
            "column: pct_from / pct_to (Changes)",
            "the blamed factor's percentile in each run: over the eligible set when a weighted factor moved, across "
            "every scored company when a filter or gate decided",
        ),
        ("column: contrib_from / contrib_to (Changes)", "the blamed factor's contribution to the score in each run"),
        (
            "sheet: Charts",
            f"the factor contributions of the top {TOP_N_CHART} eligible companies by score (members by rank, the "
            "others marked not on list), and the mean and best score of each role class; the tables under the "
            "charts are the cells they draw",
        ),
        ("rules text", str(m.get("rules_text", ""))),
    ]
    return rows


def _write_methodology(book: _Book) -> None:
    """Item and value in two wide wrapped columns, each row as tall as its text, so nothing overlaps in
    LibreOffice (which does not size imported rows); the rule file's text one line per row, in a fixed font."""
    ws = book.wb.add_worksheet("Methodology")
    width_a, width_b = 36, 110
    ws.set_column(0, 0, width_a)
    ws.set_column(1, 1, width_b)
    ws.write_string(0, 0, "item", book.label)
    ws.write_string(0, 1, "value", book.label)
    r = 1
    for k, v in methodology_rows(book.run):
        if k == "rules text":
            for i, line in enumerate(v.rstrip("\n").split("\n") or [""]):
                if i == 0:
                    ws.write_string(r, 0, k, book.wrap)
                book.text(ws, r, 1, line, book.code) if line else ws.write_blank(r, 1, None, book.code)
                ws.set_row(r, row_height(1))
                r += 1
            continue
        book.text(ws, r, 0, k, book.wrap)
        book.text(ws, r, 1, v, book.wrap)
        ws.set_row(r, row_height(max(wrapped_lines(k, width_a), wrapped_lines(v, width_b))))
        r += 1
    ws.freeze_panes(1, 0)
    ws.repeat_rows(0, 0)
    _print_setup(book, ws)


def write_workbook(path: Path, run: Run) -> list[str]:
    """The six-sheet workbook: Watchlist (with its title block), Charts, Changes, Factors, Universe, Methodology.
    Returns the cells whose text was cut to fit (``fit_cell``), for the caller's warning."""
    book = _Book(path, run)
    rows = run.rows
    ws = book.wb.add_worksheet("Watchlist")
    top = _write_title(book, ws, title_lines(run), span=max(rows.width, 1))
    first, end = _write_table(book, ws, top, rows, freeze_cols=2)
    if rows.height and "score" in rows.columns:
        c = rows.columns.index("score")
        ws.conditional_format(
            first,
            c,
            end - 1,
            c,
            {"type": "3_color_scale", "min_color": "#F8696B", "mid_color": "#FFEB84", "max_color": "#63BE7B"},
        )
    if run.demo:
        ws.set_tab_color("#C00000")
    _print_setup(book, ws)
    ws.activate()
    _write_charts(book)
    for title, frame, freeze in (
        ("Changes", run.changes, 2),
        ("Factors", _factors_frame(run), 1),
        ("Universe", _universe_frame(run), 1),
    ):
        sheet = book.wb.add_worksheet(title)
        _write_table(book, sheet, 0, frame, freeze_cols=freeze)
        # a sheet of every factor's components would shrink to an unreadable scale on one page: it prints a page
        # per ``PRINT_COLUMNS`` columns instead, each repeating the identifying columns
        pages = max(1, -(-frame.width // PRINT_COLUMNS))
        if pages > 1:
            sheet.repeat_columns(0, freeze - 1)
        _print_setup(book, sheet, pages_wide=pages)
    _write_methodology(book)
    book.close()
    return book.cut
