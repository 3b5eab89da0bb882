"""Builders for factor-test inputs: small contract-shaped frames, no store needed.

Dates are fixed so hand-computed expectations stay valid: the as-of date is 2026-06-01 and quarters end on calendar
quarter ends counting back from 2026-03-31 (visible: 2026-03-31 + 60 days = 2026-05-30 <= as-of).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

import polars as pl

from factors.inputs import FactorInputs

AS_OF = date(2026, 6, 1)
LAST_Q = date(2026, 3, 31)


def company(symbol: str, **kw: Any) -> dict[str, Any]:
    row = {
        "symbol": symbol,
        "name": f"{symbol} Corp",
        "country": "US",
        "currency": "USD",
        "roles": "processor",
        "segment": None,
        "stage": "producer",
        "gov_backing": None,
    }
    row.update(kw)
    return row


def companies(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema={k: pl.String for k in rows[0]}) if rows else pl.DataFrame()


def quarter_ends(n: int, last: date = LAST_Q) -> list[date]:
    """``n`` calendar quarter ends, oldest first, the last one being ``last`` (a quarter end)."""
    out = []
    y, m = last.year, last.month
    for _ in range(n):
        nxt = date(y + (m == 12), m % 12 + 1, 1)
        out.append(nxt - timedelta(days=1))
        m -= 3
        if m <= 0:
            m += 12
            y -= 1
    return out[::-1]


Value = float | None | Sequence[float | None] | Callable[[int], float | None]


def quarterly(
    symbol: str, n: int = 12, *, last: date = LAST_Q, currency: str = "USD", period: str = "Q", **fields: Value
) -> pl.DataFrame:
    """``n`` periods for one company; a field is a constant, a list (oldest first) or a function of the index."""
    ends = quarter_ends(n, last)
    data: dict[str, list[Any]] = {
        "symbol": [symbol] * n,
        "period_end": ends,
        "period": [period] * n,
        "currency": [currency] * n,
    }
    for name, value in fields.items():
        if callable(value):
            data[name] = [value(i) for i in range(n)]
        elif isinstance(value, (list, tuple)):
            assert len(value) == n, name
            data[name] = list(value)
        else:
            data[name] = [value] * n
    schema = {
        "symbol": pl.String,
        "period_end": pl.Date,
        "period": pl.String,
        "currency": pl.String,
        **{k: pl.Float64 for k in fields},
    }
    return pl.DataFrame(data, schema=schema)


def daily(
    symbol: str,
    n: int = 300,
    *,
    end: date = AS_OF,
    close: Value = 10.0,
    volume: Value = 1000.0,
    provider: str | None = None,
) -> pl.DataFrame:
    """``n`` consecutive calendar days of closes ending at ``end`` (oldest first)."""
    days = [end - timedelta(days=n - 1 - i) for i in range(n)]

    def values(v: Value) -> list[Any]:
        if callable(v):
            return [v(i) for i in range(n)]
        if isinstance(v, (list, tuple)):
            assert len(v) == n
            return list(v)
        return [v] * n

    frame = pl.DataFrame(
        {"symbol": [symbol] * n, "date": days, "close": values(close), "volume": values(volume)},
        schema={"symbol": pl.String, "date": pl.Date, "close": pl.Float64, "volume": pl.Float64},
    )
    if provider is not None:
        frame = frame.with_columns(pl.lit(provider).alias("provider"))
    return frame


def fx_rows(currency: str, rate: float, since: date = date(2015, 1, 1)) -> pl.DataFrame:
    return pl.DataFrame({"currency": [currency], "date": [since], "usd_per_unit": [rate]})


def events(*rows: dict[str, Any]) -> pl.DataFrame:
    base = {
        "symbol": None,
        "date": None,
        "kind": None,
        "stage": None,
        "capacity_tpa": None,
        "target_year": None,
        "amount_usd": None,
        "description": "event",
        "source": None,
    }
    full = [{**base, **r} for r in rows]
    for i, r in enumerate(full):
        if r["description"] == "event":
            r["description"] = f"event {i}"
    schema = {
        "symbol": pl.String,
        "date": pl.Date,
        "kind": pl.String,
        "stage": pl.String,
        "capacity_tpa": pl.Float64,
        "target_year": pl.Int64,
        "amount_usd": pl.Float64,
        "description": pl.String,
        "source": pl.String,
    }
    return pl.DataFrame(full, schema=schema)


def concat(frames: Sequence[pl.DataFrame]) -> pl.DataFrame | None:
    frames = [f for f in frames if f is not None and f.height]
    return pl.concat(frames, how="diagonal_relaxed") if frames else None


def inputs(
    comps: Sequence[dict[str, Any]],
    *,
    fundamentals: Sequence[pl.DataFrame] = (),
    prices: Sequence[pl.DataFrame] = (),
    fx: Sequence[pl.DataFrame] = (),
    events_: pl.DataFrame | None = None,
) -> FactorInputs:
    return FactorInputs(
        companies=companies(*comps),
        fundamentals=concat(fundamentals),
        prices=concat(prices),
        fx=concat(fx),
        events=events_,
    )


def full_company(
    symbol: str,
    *,
    shares: Value = 1e8,
    close: Value = 10.0,
    volume: Value = 1e5,
    revenue: Value = 50.0,
    ocf: Value = 10.0,
    capex: Value = 5.0,
    cash: Value = 100.0,
    debt: Value = 50.0,
    equity: Value = 500.0,
    currency: str = "USD",
    n_q: int = 16,
    **company_kw: Any,
) -> tuple[dict[str, Any], pl.DataFrame, pl.DataFrame]:
    """A company with 16 quarters of statements and 300 days of prices (all in ``currency``)."""
    comp = company(symbol, currency=company_kw.pop("listing_currency", currency), **company_kw)
    fund = quarterly(
        symbol,
        n_q,
        currency=currency,
        revenue=revenue,
        operating_cash_flow=ocf,
        capital_expenditure=capex,
        cash=cash,
        total_debt=debt,
        total_equity=equity,
        shares_outstanding=shares,
    )
    return comp, fund, daily(symbol, close=close, volume=volume)


def universe(n: int = 6, **overrides: Any) -> FactorInputs:
    """A small, varied, complete cross-section (all USD) for tests that need peers."""
    comps, funds, prices = [], [], []
    roles = ["processor", "miner", "miner;processor", "downstream_user", "magnet_maker", "recycler"]
    stages = ["producer", "developer", "explorer"]
    for i in range(n):
        c, f, p = full_company(
            f"C{i:02d}",
            roles=roles[i % len(roles)],
            stage=stages[i % len(stages)],
            shares=lambda q, i=i: 1e8 * (1 + 0.01 * i) ** q,
            close=lambda d, i=i: 10.0 + i + (d % 30) / 10,
            cash=100.0 + 40 * i,
            debt=30.0 * (i % 3),
            revenue=50.0 + 10 * i,
            capex=5.0 + 3 * i,
        )
        comps.append(c)
        funds.append(f)
        prices.append(p)
    return inputs(comps, fundamentals=funds, prices=prices, **overrides)


def row(frame: pl.DataFrame, symbol: str) -> dict[str, Any]:
    return frame.filter(pl.col("symbol") == symbol).row(0, named=True)
