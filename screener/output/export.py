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
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from factors.inputs import FIELD_COLUMNS
from screener.errors import ScreenerError
from screener.output.render import atomic_path, check_writable, neutralise, to_csv_text, to_json_text
from screener.store import Store
from screener.watchlist.runs import Run, load_run

SUFFIXES = (".xlsx", ".csv", ".parquet", ".json")
SHEETS = ("Watchlist", "Changes", "Factors", "Universe", "Methodology")
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


def check_target(path: str | Path) -> Path:
    """Refuse an export path before any work: a known suffix, in a folder that exists and can be written.

    ``weekly --export`` and ``demo`` call this before scoring, so a typo in the file name never leaves a stored run
    behind an error.
    """
    target = Path(path)
    if target.suffix.lower() not in SUFFIXES:
        raise ScreenerError(f"cannot export to {target.name}: use a .xlsx, .csv, .parquet or .json file name")
    return check_writable(target)


def export_run(store: Store, path: str | Path, run_id: int | str | None = None) -> Path:
    """Write run ``run_id`` (default: the latest) to ``path``; the suffix picks the format."""
    target = check_target(path)
    return write_run(load_run(store, run_id), target)


def write_run(run: Run, path: str | Path) -> Path:
    """Write a loaded run to ``path`` atomically; the suffix picks the format."""
    target = check_target(path)
    suffix = target.suffix.lower()
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


def _write_sheet(
    wb: Any,
    title: str,
    frame: pl.DataFrame,
    fmts: dict[str, Any],
    *,
    freeze_cols: int = 0,
    widths: dict[str, int] | None = None,
) -> Any:
    ws = wb.add_worksheet(title)
    header = fmts["header"]
    declared = factor_formats()
    cell_fmts: list[Any] = []
    for c, (name, dtype) in enumerate(frame.schema.items()):
        ws.write_string(0, c, neutralise(name), header)
        nf = number_format(name, dtype, declared) if dtype.is_numeric() else None
        cell_fmts.append(fmts.setdefault(nf, wb.add_format({"num_format": nf})) if nf else None)
        width = (widths or {}).get(name) or min(max(len(name) + 2, 10), 48)
        ws.set_column(c, c, width)
    for r, row in enumerate(frame.iter_rows(), start=1):
        for c, value in enumerate(row):
            _write_cell(ws, r, c, _clean(value), cell_fmts[c], fmts)
    ws.freeze_panes(1, freeze_cols)
    if frame.width and frame.height:  # no filter buttons over an empty sheet
        ws.autofilter(0, 0, frame.height, frame.width - 1)
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
        ("column: score", "sum of the contrib.* columns (weights x direction-aware percentile x tilt)"),
        (
            "column: <factor>_pct (Watchlist)",
            "percentile among the companies that passed the universe filter and "
            'the gates (among every scored company when the rule set says over = "scored"), within the rule set\'s '
            "groups; same direction as the factor",
        ),
        ("column: <factor>_pct (Factors)", "the factor library's percentile across every scored company"),
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
        ("column: contrib_from / contrib_to (Changes)", "the blamed factor's contribution to the score in each run"),
        ("rules text", str(m.get("rules_text", ""))),
    ]
    return rows


def write_workbook(path: Path, run: Run) -> None:
    """The five-sheet workbook: Watchlist, Changes, Factors, Universe, Methodology."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(
        str(path), {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
    )
    fmts: dict[str, Any] = {
        "header": wb.add_format({"bold": True, "bg_color": "#DDE4EE", "bottom": 1, "text_wrap": False}),
        "date": wb.add_format({"num_format": "yyyy-mm-dd"}),
        "datetime": wb.add_format({"num_format": "yyyy-mm-dd hh:mm"}),
        "wrap": wb.add_format({"text_wrap": True, "valign": "top"}),
    }
    rows = run.rows
    ws = _write_sheet(
        wb,
        "Watchlist",
        rows,
        fmts,
        freeze_cols=2,
        widths={"name": 32, "roles": 24, "reason": 80, "rank": 6, "symbol": 12},
    )
    if rows.height and "score" in rows.columns:
        c = rows.columns.index("score")
        ws.conditional_format(
            1,
            c,
            rows.height,
            c,
            {"type": "3_color_scale", "min_color": "#F8696B", "mid_color": "#FFEB84", "max_color": "#63BE7B"},
        )
    if run.demo:
        ws.set_tab_color("#C00000")
    _write_sheet(wb, "Changes", run.changes, fmts, freeze_cols=2, widths={"text": 100, "name": 32})
    _write_sheet(wb, "Factors", _factors_frame(run), fmts, freeze_cols=1, widths={"name": 32, "roles": 24})
    _write_sheet(
        wb, "Universe", _universe_frame(run), fmts, freeze_cols=1, widths={"name": 32, "roles": 24, "why_out": 60}
    )
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
