"""The terminal report of a backtest (``screener backtest --format table``): plain text that fits 100 columns.

Why plain text and not one table: a backtest is several views of one result (its parameters, the portfolio, the
information coefficients by factor and horizon, the quantile spreads, the rank stability, and the notes that say
how far to trust it). Each block is laid out here from the result alone, so ``--show ID`` prints byte for byte what
the run printed. A figure that could not be measured reads ``n/a``, never 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from screener.backtest.result import BacktestResult

__all__ = ["DEMO_BANNER", "PORTFOLIO_FIGURES", "WIDTH", "fmt_number", "fmt_percent", "json_text", "report_text"]

WIDTH = 100
NA = "n/a"
HASH_CHARS = 8
DEMO_BANNER = "DEMO DATA: synthetic prices from the seeded generator, not market data."
#: The portfolio figures in the order every output shows them: key, human label, and whether it is a percent.
PORTFOLIO_FIGURES: tuple[tuple[str, str, bool], ...] = (
    ("cagr", "CAGR (net of costs)", True),
    ("volatility", "Volatility (annualised)", True),
    ("sharpe", "Sharpe ratio (risk-free 0)", False),
    ("max_drawdown", "Maximum drawdown", True),
    ("turnover", "Turnover (one-way)", True),
    ("hit_rate", "Hit rate", True),
    ("universe_cagr", "Universe CAGR (equal-weighted eligible)", True),
    ("universe_sharpe", "Universe Sharpe ratio", False),
    ("benchmark_cagr", "Benchmark CAGR", True),
    ("active_share", "Active share vs the mvis-like book", True),
)
#: Portfolio keys that describe the figures rather than measure the book: not printed as figures.
CONTEXT_KEYS: frozenset[str] = frozenset({"active_share_vs", "periods_per_year"})


def _known(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if math.isnan(value) or math.isinf(value):
        return None
    return float(value)


def _unsigned_zero(text: str) -> str:
    """``-0.00`` reads as a loss that is not there: a value that rounds to zero prints without a sign."""
    return text[1:] if text.startswith("-") and not text.strip("-0.%") else text


def fmt_percent(value: Any, decimals: int = 1) -> str:
    """``0.1234`` -> ``12.3%``; None, NaN or not a number -> ``n/a``."""
    v = _known(value)
    return NA if v is None else _unsigned_zero(f"{v * 100:.{decimals}f}%")


def fmt_number(value: Any, decimals: int = 2) -> str:
    """A plain number to ``decimals`` places; None, NaN or not a number -> ``n/a``."""
    v = _known(value)
    return NA if v is None else _unsigned_zero(f"{v:.{decimals}f}")


def _figure(result: BacktestResult, key: str, percent: bool) -> str:
    value = result.portfolio.get(key)
    return fmt_percent(value) if percent else fmt_number(value)


def portfolio_rows(result: BacktestResult) -> list[tuple[str, str]]:
    """(label, formatted figure) for every known portfolio figure, then any other figure the result carries."""
    rows = [(label, _figure(result, key, pct)) for key, label, pct in PORTFOLIO_FIGURES]
    known = {k for k, _, _ in PORTFOLIO_FIGURES} | CONTEXT_KEYS
    rows += [(key, fmt_number(v, 4)) for key, v in result.portfolio.items() if key not in known]
    return rows


def _wrap(text: str, width: int, indent: str = "", hang: str = "  ") -> list[str]:
    import textwrap

    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=hang) or [indent]


def header_lines(result: BacktestResult) -> list[str]:
    p = result.params
    ident = f"Backtest {result.backtest_id}" if result.backtest_id is not None else "Backtest (not stored)"
    lines = [f"{ident}: rules {result.rules_name} (hash {result.rules_hash[:HASH_CHARS]})"]
    if result.demo:
        lines += _wrap(DEMO_BANNER, WIDTH)
    span = f"{p.start.isoformat()} to {p.end.isoformat()}, {len(result.dates)} rebalance dates"
    if result.dates and (min(result.dates), max(result.dates)) != (p.start, p.end):
        span += f" ({min(result.dates).isoformat()} to {max(result.dates).isoformat()})"
    lines += _wrap(f"Dates: {span}", WIDTH)
    lines += _wrap(
        f"Every {p.every}; horizons {', '.join(p.horizons)}; costs {fmt_number(p.cost_bps, 1)} bps round trip; "
        f"weights {p.weights}; benchmark {p.benchmark or 'none'}",
        WIDTH,
    )
    if result.created_at:
        lines.append(f"Created {result.created_at}")
    return lines


def _grid(title: str, head: Sequence[str], rows: Sequence[Sequence[str]], first: int) -> list[str]:
    """A titled grid: the first column left-aligned ``first`` wide, the others right-aligned to their widest cell,
    split into blocks of columns so that no line is wider than ``WIDTH``."""
    if not rows:
        return [title, "  (no rows)"]
    n = len(head)
    widths = [max(len(head[c]), *(len(r[c]) for r in rows)) for c in range(1, n)]
    blocks: list[list[int]] = [[]]
    used = 2 + first
    for c, w in enumerate(widths, start=1):
        if blocks[-1] and used + 2 + w > WIDTH:
            blocks.append([])
            used = 2 + first
        blocks[-1].append(c)
        used += 2 + w
    out = [title]
    for b, cols in enumerate(blocks):
        if b:
            out.append("")
        out.append("  " + head[0].ljust(first) + "".join("  " + head[c].rjust(widths[c - 1]) for c in cols))
        for r in rows:
            out.append("  " + r[0][:first].ljust(first) + "".join("  " + r[c].rjust(widths[c - 1]) for c in cols))
    return out


def _all(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("role_class") == "all")


def _factors(frame: pl.DataFrame) -> list[str]:
    return list(dict.fromkeys(frame["factor"].to_list()))


def _horizons(result: BacktestResult, frame: pl.DataFrame) -> list[str]:
    """Every horizon the backtest asked for, in its order (one no date could measure shows as n/a), then any
    other the table holds."""
    present = set(frame["horizon"].to_list())
    ordered = list(result.params.horizons)
    return ordered + sorted(present - set(ordered))


def _matrix(
    result: BacktestResult, frame: pl.DataFrame, cell: Callable[[dict[str, Any]], str]
) -> tuple[list[str], list[list[str]]]:
    horizons = _horizons(result, frame)
    by_key = {(r["factor"], r["horizon"]): r for r in frame.iter_rows(named=True)}
    rows = [[f, *(cell(by_key[(f, h)]) if (f, h) in by_key else NA for h in horizons)] for f in _factors(frame)]
    return horizons, rows


def _first_width(*frames: pl.DataFrame) -> int:
    names = [f for frame in frames for f in frame["factor"].to_list()]
    return min(max([len("factor"), *(len(n) for n in names)]), 28)


def ic_lines(result: BacktestResult) -> list[str]:
    ic = _all(result.table("ic"))
    horizons, rows = _matrix(result, ic, lambda r: f"{fmt_number(r['mean_ic'], 3)} ({fmt_number(r['t_stat'], 1)})")
    return _grid(
        "Information coefficient, all companies: mean rank IC (Newey-West t-stat) by horizon",
        ["factor", *horizons],
        rows,
        _first_width(ic),
    )


def spread_lines(result: BacktestResult) -> list[str]:
    sp = _all(result.table("spreads"))
    horizons, rows = _matrix(result, sp, lambda r: fmt_percent(r["spread"], 2))
    return _grid(
        "Quantile spread, all companies: mean return of the top quantile minus the bottom, by horizon",
        ["factor", *horizons],
        rows,
        _first_width(sp),
    )


def stability_lines(result: BacktestResult) -> list[str]:
    st = _all(result.table("stability"))
    rows = [
        [
            r["factor"],
            fmt_number(r["rank_autocorrelation"], 2),
            fmt_percent(r["top_quintile_turnover"]),
            NA if r["n_dates"] is None else str(r["n_dates"]),
        ]
        for r in st.iter_rows(named=True)
    ]
    return _grid(
        "Stability, all companies: rank autocorrelation and top-quintile turnover between rebalances",
        ["factor", "rank autocorr", "top-quintile turnover", "dates"],
        rows,
        _first_width(st),
    )


def portfolio_lines(result: BacktestResult) -> list[str]:
    rows = portfolio_rows(result)
    first = max(len(label) for label, _ in rows)
    return ["Portfolio", *(f"  {label.ljust(first)}  {value.rjust(8)}" for label, value in rows)]


def note_lines(result: BacktestResult) -> list[str]:
    if not result.notes:
        return ["Notes", "  (none)"]
    out = ["Notes"]
    for n in result.notes:
        out += _wrap(n, WIDTH, indent="  - ", hang="    ")
    return out


def report_text(result: BacktestResult) -> str:
    """The whole report: header, portfolio, IC matrix, quantile spreads, stability, then the notes (always)."""
    blocks = [
        header_lines(result),
        portfolio_lines(result),
        ic_lines(result),
        spread_lines(result),
        stability_lines(result),
        note_lines(result),
    ]
    return "\n\n".join("\n".join(b) for b in blocks) + "\n"


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def json_text(result: BacktestResult) -> str:
    """``result.to_json()`` as JSON text; NaN and infinities become null, so every parser accepts it."""
    import json

    return json.dumps(_clean(result.to_json()), ensure_ascii=False, indent=2, default=str) + "\n"
