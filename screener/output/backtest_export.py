"""The backtest workbook: Summary, IC, Quantiles, Portfolio and Curve sheets, with native Excel charts.

Why a workbook: a backtest is forwarded and read away from the terminal, so the file carries everything the report
says (the rule set and its hash, the dates and parameters, the demo banner and the notes) next to the tables, with
numbers as numbers (percent formats, never text) and charts Excel draws from the cells, not pictures. As with the
run export (``screener.output.export``), the file is written to a temporary file and renamed over the target only
when complete, and no text cell can run as a formula.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from screener.backtest.result import BacktestResult
from screener.errors import ScreenerError
from screener.output.backtest_report import CONTEXT_KEYS, DEMO_BANNER, HASH_CHARS, PORTFOLIO_FIGURES
from screener.output.render import atomic_path, check_writable, cut_warning, fit_cell, neutralise

__all__ = ["HEADERS", "SHEETS", "check_backtest_target", "write_backtest", "write_backtest_workbook"]

SHEETS = ("Summary", "IC", "Quantiles", "Portfolio", "Curve")
#: Human column headers for every table column; the sheet order of columns is ``TABLES``'.
HEADERS: dict[str, str] = {
    "factor": "Factor",
    "role_class": "Role class",
    "horizon": "Horizon",
    "horizon_days": "Horizon (days)",
    "mean_ic": "Mean IC",
    "t_stat": "t-stat (Newey-West)",
    "ic_ir": "IC IR",
    "hit_rate": "Hit rate",
    "n_dates": "Dates",
    "nw_lags": "Newey-West lags",
    "quantile": "Quantile",
    "mean_return": "Mean return",
    "spread": "Top minus bottom",
    "rank_autocorrelation": "Rank autocorrelation",
    "top_quintile_turnover": "Top-quintile turnover",
    "date": "Date",
    "portfolio": "Portfolio",
    "universe": "Universe",
    "benchmark": "Benchmark",
    "symbol": "Symbol",
    "weight": "Weight",
    "ic": "IC",
    "n": "Companies",
}
#: Number format by column: returns and shares as percents, correlations to three decimals, equity to three.
FORMATS: dict[str, str] = {
    "mean_ic": "0.000",
    "t_stat": "0.00",
    "ic_ir": "0.00",
    "hit_rate": "0.0%",
    "n_dates": "0",
    "nw_lags": "0",
    "horizon_days": "0",
    "quantile": "0",
    "mean_return": "0.00%",
    "spread": "0.00%",
    "rank_autocorrelation": "0.00",
    "top_quintile_turnover": "0.0%",
    "portfolio": "0.000",
    "universe": "0.000",
    "benchmark": "0.000",
    "weight": "0.0%",
    "ic": "0.000",
    "n": "0",
}
WIDTHS = {"factor": 24, "date": 12, "symbol": 12}
NA = "n/a"


def check_backtest_target(path: str | Path, store: str | os.PathLike[str] | None = None) -> Path:
    """Refuse a backtest export path before any work: a .xlsx name in a folder that exists and can be written, and
    not the store file (``store``) or its log."""
    target = Path(path)
    if target.is_dir():
        raise ScreenerError(f"cannot write {target}: it is a folder; give a .xlsx file name")
    if target.suffix.lower() != ".xlsx":
        raise ScreenerError(f"cannot export a backtest to {target.name}: use a .xlsx file name")
    return check_writable(target, store=store)


def write_backtest(result: BacktestResult, path: str | Path, note: Callable[[str], None] | None = None) -> Path:
    """Write ``result`` to the workbook ``path`` atomically; returns the path. ``note`` hears a warning when a text
    had to be cut to fit a cell (``cut_warning``)."""
    target = check_backtest_target(path)
    with atomic_path(target) as tmp:
        cut = write_backtest_workbook(tmp, result)
    if cut and note is not None:
        note(cut_warning(target, cut))
    return target


# -- cells ----------------------------------------------------------------------------------------------------------
def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


class _Book:
    """The workbook and its formats, so each sheet writer asks for a format by its Excel code."""

    def __init__(self, path: Path) -> None:
        import xlsxwriter

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
        self.header = self.wb.add_format({"bold": True, "bg_color": "#DDE4EE", "bottom": 1})
        self.title = self.wb.add_format({"bold": True, "font_size": 14})
        self.bold = self.wb.add_format({"bold": True})
        self.banner = self.wb.add_format({"bold": True, "font_color": "#C00000"})
        self.wrap = self.wb.add_format({"text_wrap": True, "valign": "top"})
        self.date = self.wb.add_format({"num_format": "yyyy-mm-dd"})
        self.na = self.wb.add_format({"font_color": "#808080", "align": "left"})
        self._nums: dict[str, Any] = {}
        #: The cells (``Sheet!B12``) whose text was cut to fit (``fit_cell``).
        self.cut: list[str] = []

    def num(self, code: str | None) -> Any:
        if code is None:
            return None
        if code not in self._nums:
            self._nums[code] = self.wb.add_format({"num_format": code})
        return self._nums[code]

    def left(self, code: str) -> Any:
        """A number format aligned left, for a value beside its label."""
        key = "left:" + code
        if key not in self._nums:
            self._nums[key] = self.wb.add_format({"num_format": code, "align": "left"})
        return self._nums[key]

    def sheet(self, name: str, *, demo: bool) -> Any:
        ws = self.wb.add_worksheet(name)
        ws.set_landscape()
        ws.set_paper(9)  # A4
        ws.fit_to_pages(1, 0)  # one page wide, as many tall as it takes
        ws.set_margins(left=0.5, right=0.5, top=0.6, bottom=0.6)
        ws.hide_gridlines(1)  # no gridlines on paper; the screen keeps them
        if demo:
            ws.set_tab_color("#C00000")
        return ws

    def cell(self, ws: Any, r: int, c: int, value: Any, fmt: Any = None) -> None:
        value = _clean(value)
        if value is None:
            ws.write_blank(r, c, None, fmt)
        elif isinstance(value, bool):
            ws.write_boolean(r, c, value)
        elif isinstance(value, int | float):
            ws.write_number(r, c, value, fmt)
        elif isinstance(value, datetime):
            ws.write_datetime(r, c, value, self.date)
        elif isinstance(value, date):
            ws.write_datetime(r, c, datetime(value.year, value.month, value.day), self.date)
        else:
            self.text(ws, r, c, str(value), fmt)

    def text(self, ws: Any, r: int, c: int, value: str, fmt: Any = None) -> None:
        """A text cell: neutralised against formulas, cut to fit a cell with a mark (and remembered)."""
        fitted, lost = fit_cell(neutralise(value))
        if lost:
            from xlsxwriter.utility import xl_rowcol_to_cell

            self.cut.append(f"{ws.name}!{xl_rowcol_to_cell(r, c)}")
        ws.write_string(r, c, fitted, fmt)

    def table(self, ws: Any, frame: pl.DataFrame, *, row: int = 0, col: int = 0, freeze: bool = True) -> None:
        """``frame`` with human headers from (row, col): frozen header, filter buttons, formats by column."""
        for c, name in enumerate(frame.columns):
            ws.write_string(row, col + c, HEADERS.get(name, name), self.header)
            width = WIDTHS.get(name) or max(len(HEADERS.get(name, name)) + 2, 10)
            ws.set_column(col + c, col + c, width)
        fmts = [self.num(FORMATS.get(name)) for name in frame.columns]
        for r, values in enumerate(frame.iter_rows(), start=row + 1):
            for c, value in enumerate(values):
                self.cell(ws, r, col + c, value, fmts[c])
        if freeze:
            ws.freeze_panes(row + 1, 0)
            ws.repeat_rows(row)
        if frame.height and frame.width:
            ws.autofilter(row, col, row + frame.height, col + frame.width - 1)

    def close(self) -> None:
        """Finish the workbook in memory, then write its bytes to ``path`` (an ``atomic_path`` temporary file)."""
        self.wb.close()
        self.path.write_bytes(self.buffer.getvalue())


# -- sheets ---------------------------------------------------------------------------------------------------------
def _all(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("role_class") == "all")


def _horizons(result: BacktestResult, frame: pl.DataFrame) -> list[str]:
    present = set(frame["horizon"].to_list())
    ordered = [h for h in result.params.horizons if h in present]
    return ordered + sorted(present - set(ordered))


def _figure_value(value: Any) -> Any:
    value = _clean(value)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def summary_rows(result: BacktestResult) -> list[tuple[str, Any, str | None]]:
    """(label, value, number format) of the Summary sheet's parameter and portfolio blocks."""
    p = result.params
    rows: list[tuple[str, Any, str | None]] = [
        ("Backtest id", result.backtest_id if result.backtest_id is not None else "not stored", "0"),
        ("Created (UTC)", result.created_at or NA, None),
        ("Rule set", result.rules_name, None),
        ("Rules content hash", result.rules_hash[:HASH_CHARS], None),
        ("First rebalance", p.start, None),
        ("Last rebalance", result.dates[-1] if result.dates else None, None),
        ("Rebalances up to", p.end, None),
        ("Rebalance dates", len(result.dates), "0"),
        ("Rebalance every", p.every, None),
        ("Horizons", ", ".join(p.horizons), None),
        ("Trading cost (bps, round trip)", p.cost_bps, "0.0"),
        ("Weights", p.weights, None),
        ("Benchmark", p.benchmark or "none", None),
        ("Demo data", "yes: synthetic prices, not market data" if result.demo else "no", None),
    ]
    return rows


def _summary(book: _Book, result: BacktestResult) -> None:
    ws = book.sheet("Summary", demo=result.demo)
    ws.set_column(0, 0, 38)
    ws.set_column(1, 1, 90)
    title = f"Backtest {result.backtest_id}" if result.backtest_id is not None else "Backtest"
    book.text(ws, 0, 0, f"{title}: rules {result.rules_name}", book.title)
    r = 1
    if result.demo:
        ws.write_string(r, 0, DEMO_BANNER, book.banner)
        r += 1
    r += 1
    ws.write_string(r, 0, "Parameter", book.header)
    ws.write_string(r, 1, "Value", book.header)
    for label, value, code in summary_rows(result):
        r += 1
        ws.write_string(r, 0, label)
        if isinstance(value, int | float) and not isinstance(value, bool):
            ws.write_number(r, 1, value, book.left(code or "0"))
        elif isinstance(value, date):
            ws.write_datetime(r, 1, datetime(value.year, value.month, value.day), book.left("yyyy-mm-dd"))
        else:
            book.text(ws, r, 1, str(value))
    r += 2
    ws.write_string(r, 0, "Portfolio", book.header)
    ws.write_string(r, 1, "Value", book.header)
    r = _portfolio_block(book, ws, result, r + 1)
    r += 1
    ws.write_string(r, 0, "Notes", book.header)
    ws.write_string(r, 1, "", book.header)
    for n in result.notes or ["(none)"]:
        r += 1
        ws.write_string(r, 0, "note", book.bold)
        book.text(ws, r, 1, n, book.wrap)
    ws.repeat_rows(0)


def _portfolio_block(book: _Book, ws: Any, result: BacktestResult, row: int) -> int:
    """The portfolio figures from ``row``, labels in column A; a figure not measured reads n/a. Returns the next
    free row."""
    left, ratio = book.left("0.0%"), book.left("0.00")
    known = {k for k, _, _ in PORTFOLIO_FIGURES}
    figures = [(label, result.portfolio.get(key), pct) for key, label, pct in PORTFOLIO_FIGURES]
    figures += [(key, v, False) for key, v in result.portfolio.items() if key not in known | CONTEXT_KEYS]
    for label, value, pct in figures:
        book.text(ws, row, 0, label)
        v = _figure_value(value)
        if v is None:
            ws.write_string(row, 1, NA, book.na)
        else:
            ws.write_number(row, 1, v, left if pct else ratio)
        row += 1
    return row


def _ic(book: _Book, result: BacktestResult) -> None:
    ws = book.sheet("IC", demo=result.demo)
    ic = result.table("ic")
    book.table(ws, ic)
    allc = _all(ic)
    if allc.height == 0:
        return
    horizons = _horizons(result, allc)
    factors = list(dict.fromkeys(allc["factor"].to_list()))
    by = {(r["factor"], r["horizon"]): r["mean_ic"] for r in allc.iter_rows(named=True)}
    # the chart's data: mean IC by factor (rows) and horizon (columns), all companies, right of the table
    _matrix_chart(
        book,
        ws,
        "IC",
        col=ic.width + 1,
        corner=("Mean IC, all companies", 24),
        rows=[(f, neutralise(f)) for f in factors],
        columns=[(h, h, 9) for h in horizons],
        value=lambda f, h: by.get((f, h)),
        fmt="0.000",
        gap=80,
        title="Mean rank IC by factor and horizon (all companies)",
        x_axis={"label_position": "low"},
        y_axis={"name": "mean IC", "num_format": "0.00", "major_gridlines": {"visible": True}},
    )


def _matrix_chart(
    book: _Book,
    ws: Any,
    sheet: str,
    *,
    col: int,
    corner: tuple[str, int],
    rows: Sequence[tuple[Any, str | float]],
    columns: Sequence[tuple[Any, str, int]],
    value: Callable[[Any, Any], float | None],
    fmt: str,
    gap: int,
    title: str,
    x_axis: dict[str, Any],
    y_axis: dict[str, Any],
) -> None:
    """A small matrix right of a sheet's table (row labels down, one column per series) and a native clustered
    column chart of it below: the IC and Quantiles sheets draw their charts from cells the reader can see.

    ``rows`` and ``columns`` pair each key with what the sheet shows (a column also carries its width); ``value``
    gives the cell of a (row, column) pair, None for one that was not measured."""
    ws.write_string(0, col, corner[0], book.header)
    ws.set_column(col, col, corner[1])
    for j, (_, label, width) in enumerate(columns):
        ws.write_string(0, col + 1 + j, label, book.header)
        ws.set_column(col + 1 + j, col + 1 + j, width)
    for i, (key, label) in enumerate(rows, start=1):
        if isinstance(label, str):
            ws.write_string(i, col, label)
        else:
            ws.write_number(i, col, label, book.num("0"))
        for j, (column, _, _) in enumerate(columns):
            book.cell(ws, i, col + 1 + j, value(key, column), book.num(fmt))
    chart = book.wb.add_chart({"type": "column"})
    for j in range(len(columns)):
        chart.add_series(
            {
                "name": [sheet, 0, col + 1 + j],
                "categories": [sheet, 1, col, len(rows), col],
                "values": [sheet, 1, col + 1 + j, len(rows), col + 1 + j],
                "gap": gap,
            }
        )
    chart.set_title({"name": title})
    chart.set_x_axis(x_axis)
    chart.set_y_axis(y_axis)
    chart.set_legend({"position": "bottom"})
    chart.set_size({"width": 760, "height": 360})
    ws.insert_chart(len(rows) + 2, col, chart)


def quantile_horizon(result: BacktestResult, frame: pl.DataFrame) -> str | None:
    """The horizon the Quantiles chart shows: 4w when present, else the first."""
    horizons = _horizons(result, frame) if frame.height else []
    if not horizons:
        return None
    return "4w" if "4w" in horizons else horizons[0]


def _quantiles(book: _Book, result: BacktestResult) -> None:
    ws = book.sheet("Quantiles", demo=result.demo)
    q = result.table("quantiles")
    book.table(ws, q)
    allc = _all(q)
    horizon = quantile_horizon(result, allc)
    if horizon is None:
        return
    at = allc.filter(pl.col("horizon") == horizon)
    factors = list(dict.fromkeys(at["factor"].to_list()))
    buckets = sorted(set(at["quantile"].to_list()))
    by = {(r["factor"], r["quantile"]): r["mean_return"] for r in at.iter_rows(named=True)}
    _matrix_chart(
        book,
        ws,
        "Quantiles",
        col=q.width + 1,
        corner=(f"Quantile ({horizon}, all)", 18),
        rows=[(b, b) for b in buckets],
        columns=[(f, neutralise(f), max(len(f) + 2, 10)) for f in factors],
        value=lambda b, f: by.get((f, b)),
        fmt="0.00%",
        gap=60,
        title=f"Mean {horizon} return by quantile (1 = worst, all companies)",
        x_axis={"name": "quantile", "label_position": "low"},
        y_axis={"name": f"mean {horizon} return", "num_format": "0.0%", "major_gridlines": {"visible": True}},
    )


def _portfolio(book: _Book, result: BacktestResult) -> None:
    ws = book.sheet("Portfolio", demo=result.demo)
    ws.write_string(0, 0, "Figure", book.header)
    ws.write_string(0, 1, "Value", book.header)
    _portfolio_block(book, ws, result, 1)
    ws.set_column(0, 0, 38)
    ws.set_column(1, 1, 12)
    ws.freeze_panes(1, 0)
    holdings = result.table("holdings")
    # the holdings sit beside the figures, from column D, with their own frozen header
    book.table(ws, holdings, row=0, col=3, freeze=False)
    ws.repeat_rows(0)


def _curve(book: _Book, result: BacktestResult) -> None:
    ws = book.sheet("Curve", demo=result.demo)
    curve = result.table("curve")
    book.table(ws, curve)
    if curve.height == 0:
        return
    chart = book.wb.add_chart({"type": "line"})
    colours = {"portfolio": "#1F4E79", "universe": "#A5A5A5", "benchmark": "#C55A11"}
    for c, name in enumerate(curve.columns):
        if name == "date" or curve[name].null_count() == curve.height:
            continue  # a benchmark without stored prices draws no line
        chart.add_series(
            {
                "name": ["Curve", 0, c],
                "categories": ["Curve", 1, 0, curve.height, 0],
                "values": ["Curve", 1, c, curve.height, c],
                "line": {"color": colours.get(name, "#000000"), "width": 2.0 if name == "portfolio" else 1.25},
            }
        )
    chart.set_title({"name": "Equity from 1.0 (portfolio net of costs)"})
    chart.set_x_axis(
        {
            "date_axis": True,
            "num_format": "yyyy-mm",
            "major_unit": 1,
            "major_unit_type": "months",
            "name": "rebalance date",
        }
    )
    chart.set_y_axis({"name": "equity", "num_format": "0.00", "major_gridlines": {"visible": True}})
    chart.set_legend({"position": "bottom"})
    chart.set_size({"width": 760, "height": 380})
    ws.insert_chart(1, curve.width + 1, chart)


def write_backtest_workbook(path: Path, result: BacktestResult) -> list[str]:
    """The five sheets, in ``SHEETS`` order, written to ``path`` (not atomic: ``write_backtest`` is). Returns the
    cells whose text was cut to fit (``fit_cell``)."""
    book = _Book(path)
    try:
        _summary(book, result)
        _ic(book, result)
        _quantiles(book, result)
        _portfolio(book, result)
        _curve(book, result)
    finally:
        book.close()
    return book.cut
