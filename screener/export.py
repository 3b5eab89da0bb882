"""Exports of a stored run: a desk-ready xlsx workbook, or the watchlist rows as csv, parquet or json.

Why a workbook and not a dump: the spreadsheet is what gets forwarded. It has to open ready to read (frozen
header, filters, USD in millions, percentiles as percents, a colour scale on the score), carry everything behind
the list (every company's factors, who was left out and why), and say plainly which rules, which as-of date,
which data and whether the numbers are synthetic. And no cell may run as a formula: text that starts with
``=``, ``+``, ``-``, ``@``, tab or CR is written with a leading quote, in xlsx and csv alike.

Every file is written to a temporary file and renamed over the target only when complete.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from screener.errors import ScreenerError
from screener.render import atomic_path, neutralise, to_csv_text, to_json_text
from screener.store import Store
from screener.watchlist import Run, load_run

SUFFIXES = (".xlsx", ".csv", ".parquet", ".json")
SHEETS = ("Watchlist", "Changes", "Factors", "Universe", "Methodology")
USD_M = '#,##0.0,,"m"'
DEMO_NOTE = "yes: synthetic numbers from the seeded demo generator, not market data"
FIELD_COLUMNS = ("market_cap_usd", "price_usd", "revenue_ttm_usd", "operating_cash_flow_ttm_usd", "capex_ttm_usd",
                 "free_cash_flow_ttm_usd", "cash_usd", "total_debt_usd", "net_cash_usd", "total_equity_usd",
                 "shares_outstanding")


def export_run(store: Store, path: str | Path, run_id: int | str | None = None) -> Path:
    """Write run ``run_id`` (default: the latest) to ``path``; the suffix picks the format."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in SUFFIXES:
        raise ScreenerError(f"cannot export to {target.name}: use a .xlsx, .csv, .parquet or .json file name")
    run = load_run(store, run_id)
    rows = run.rows
    with atomic_path(target) as tmp:
        if suffix == ".xlsx":
            write_workbook(tmp, run)
        elif suffix == ".csv":
            tmp.write_text(to_csv_text(rows), encoding="utf-8")
        elif suffix == ".json":
            tmp.write_text(to_json_text(rows), encoding="utf-8")
        else:
            rows.write_parquet(tmp)
    return target


# -- the workbook ---------------------------------------------------------------------------------------------------
def _number_format(name: str) -> str | None:
    """Excel number format by column name: the same column looks the same on every sheet."""
    if name.endswith("_usd") or name in ("market_cap_usd",):
        return USD_M
    if name.endswith("_pct") or name.endswith("_pct_eligible") or name in ("data_completeness", "pct_from", "pct_to"):
        return "0%"
    if name == "shares_outstanding":
        return "#,##0"
    if name in ("score", "tilt") or name.startswith("contrib."):
        return "0.000"
    return None


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def _write_sheet(wb: Any, title: str, frame: pl.DataFrame, fmts: dict[str, Any], *, freeze_cols: int = 0,
                 widths: dict[str, int] | None = None) -> Any:
    ws = wb.add_worksheet(title)
    header = fmts["header"]
    cell_fmts: list[Any] = []
    for c, (name, dtype) in enumerate(frame.schema.items()):
        ws.write_string(0, c, neutralise(name), header)
        nf = _number_format(name) if dtype.is_numeric() else None
        cell_fmts.append(fmts.setdefault(nf, wb.add_format({"num_format": nf})) if nf else None)
        width = (widths or {}).get(name) or min(max(len(name) + 2, 10), 48)
        ws.set_column(c, c, width)
    for r, row in enumerate(frame.iter_rows(), start=1):
        for c, value in enumerate(row):
            _write_cell(ws, r, c, _clean(value), cell_fmts[c], fmts)
    ws.freeze_panes(1, freeze_cols)
    if frame.width:
        ws.autofilter(0, 0, max(frame.height, 1), frame.width - 1)
    return ws


def _write_cell(ws: Any, r: int, c: int, value: Any, fmt: Any, fmts: dict[str, Any]) -> None:
    if value is None or value == [] or value == "":
        ws.write_blank(r, c, None, fmt)
    elif isinstance(value, bool):
        ws.write_boolean(r, c, value)
    elif isinstance(value, int | float):
        ws.write_number(r, c, value, fmt)
    elif isinstance(value, datetime):
        ws.write_datetime(r, c, value, fmts["datetime"])
    elif isinstance(value, date):
        ws.write_datetime(r, c, datetime(value.year, value.month, value.day), fmts["date"])
    elif isinstance(value, list):
        ws.write_string(r, c, neutralise(";".join(str(v) for v in value)))
    else:
        ws.write_string(r, c, neutralise(str(value)))


def _factors_frame(run: Run) -> pl.DataFrame:
    t = run.table
    cols = [c for c in ("symbol", "name", "country", "region", "roles", "stage", "as_of") if c in t.columns]
    for f in run.factors:
        cols += [c for c in (f, f"{f}_pct") if c in t.columns]
        cols += [c for c in t.columns if c.startswith(f"{f}.")]
    cols += [c for c in (*FIELD_COLUMNS, "data_completeness", "flags", "demo") if c in t.columns]
    return t.select(cols).sort("symbol")


def _universe_frame(run: Run) -> pl.DataFrame:
    want = ("symbol", "name", "country", "region", "roles", "segment", "stage", "gov_backing", "status", "rank",
            "candidate_rank", "score", "why_out")
    return run.table.select([c for c in want if c in run.table.columns])


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
    for table, providers in (m.get("providers") or {}).items():
        mix = ", ".join(f"{p} {n:,} rows" for p, n in providers.items()) or "no rows"
        rows.append((f"providers: {table}", mix))
    for step, words in m.get("plan") or []:
        rows.append((f"plan: {step}", str(words)))
    rows += [
        ("column: score", "sum of the contrib.* columns (weights x direction-aware percentile x tilt)"),
        ("column: <factor>_pct (Watchlist)", "percentile among the companies that passed the universe filter and "
         "the gates, within the rule set's groups; same direction as the factor"),
        ("column: <factor>_pct (Factors)", "the factor library's percentile across every scored company"),
        ("column: *_usd", "US dollars, shown in millions"),
        ("rules text", str(m.get("rules_text", ""))),
    ]
    return rows


def write_workbook(path: Path, run: Run) -> None:
    """The five-sheet workbook: Watchlist, Changes, Factors, Universe, Methodology."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False,
                                         "strings_to_numbers": False})
    fmts: dict[str, Any] = {
        "header": wb.add_format({"bold": True, "bg_color": "#DDE4EE", "bottom": 1, "text_wrap": False}),
        "date": wb.add_format({"num_format": "yyyy-mm-dd"}),
        "datetime": wb.add_format({"num_format": "yyyy-mm-dd hh:mm"}),
        "wrap": wb.add_format({"text_wrap": True, "valign": "top"}),
    }
    rows = run.rows
    ws = _write_sheet(wb, "Watchlist", rows, fmts, freeze_cols=2,
                      widths={"name": 32, "roles": 24, "reason": 80, "rank": 6, "symbol": 12})
    if rows.height and "score" in rows.columns:
        c = rows.columns.index("score")
        ws.conditional_format(1, c, rows.height, c, {"type": "3_color_scale", "min_color": "#F8696B",
                                                     "mid_color": "#FFEB84", "max_color": "#63BE7B"})
    if run.demo:
        ws.set_tab_color("#C00000")
    _write_sheet(wb, "Changes", run.changes, fmts, freeze_cols=2, widths={"text": 100, "name": 32})
    _write_sheet(wb, "Factors", _factors_frame(run), fmts, freeze_cols=1, widths={"name": 32, "roles": 24})
    _write_sheet(wb, "Universe", _universe_frame(run), fmts, freeze_cols=1,
                 widths={"name": 32, "roles": 24, "why_out": 60})
    meth = wb.add_worksheet("Methodology")
    meth.set_column(0, 0, 34)
    meth.set_column(1, 1, 110, fmts["wrap"])
    meth.write_string(0, 0, "item", fmts["header"])
    meth.write_string(0, 1, "value", fmts["header"])
    for r, (k, v) in enumerate(methodology_rows(run), start=1):
        meth.write_string(r, 0, neutralise(k))
        meth.write_string(r, 1, neutralise(v))
    meth.freeze_panes(1, 0)
    wb.close()


def sheet_names() -> Sequence[str]:
    return SHEETS
