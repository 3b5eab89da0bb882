"""Statement versions read only the periods their fields can reach, and lose nothing by it.

The panel computes each statement version's fields from the periods within the company's reach of the version's
latest period (``factors.inputs._reach_days``): its largest reporting gap, the lag spread and the longest lookback.
These tests compare that with reading every public period, on statement histories with gaps a generator chooses:
a field that stops being reported for years, half years among quarters, fiscal years, missing share counts."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factors import inputs as panel_inputs
from factors.engine import compute_panel
from factors.inputs import FactorInputs
from tests.builders import companies, company, daily

AS_OF = date(2026, 6, 1)
DATES = [AS_OF - timedelta(weeks=13 * k) for k in range(24)][::-1]
FIELDS = ("revenue", "operating_cash_flow", "capital_expenditure", "cash", "total_debt", "total_equity")


def _ends(n: int, months: int, last: date) -> list[date]:
    """``n`` period ends ``months`` apart, oldest first, the last being ``last`` (a month end)."""
    out = []
    y, m = last.year, last.month
    for _ in range(n):
        nxt = date(y + (m == 12), m % 12 + 1, 1)
        out.append(nxt - timedelta(days=1))
        m -= months
        while m <= 0:
            m += 12
            y -= 1
    return out[::-1]


def _statements(symbol: str, period: str, months: int, n: int, present: dict[str, list[bool]]) -> pl.DataFrame:
    ends = _ends(n, months, date(2026, 3, 31))
    data: dict[str, Any] = {"symbol": [symbol] * n, "period_end": ends, "period": [period] * n}
    data["currency"] = ["USD"] * n
    for k, name in enumerate((*FIELDS, "shares_outstanding")):
        mask = present[name]
        base = 1e8 if name == "shares_outstanding" else 10.0 + k
        data[name] = [base * (1.01**i) if mask[i % len(mask)] else None for i in range(n)]
    return pl.DataFrame(data, schema_overrides={f: pl.Float64 for f in (*FIELDS, "shares_outstanding")})


def _every_period(f: pl.DataFrame, settings: Any) -> pl.DataFrame:
    """A reach long enough to hold every period: what the versions read before the reach was bounded."""
    return f.select("symbol").unique().with_columns(pl.lit(100_000, dtype=pl.Int64).alias("_reach"))


def _both(inp: FactorInputs, monkeypatch: pytest.MonkeyPatch) -> tuple[pl.DataFrame, pl.DataFrame]:
    bounded = compute_panel(inp, DATES)
    with monkeypatch.context() as m:
        m.setattr(panel_inputs, "_reach_days", _every_period)
        full = compute_panel(inp, DATES)
    return bounded, full


def _inputs(funds: list[pl.DataFrame]) -> FactorInputs:
    symbols = sorted({f["symbol"][0] for f in funds})
    return FactorInputs(
        companies=companies(*[company(s, roles="processor", exposure=1.0) for s in symbols]),
        fundamentals=pl.concat(funds, how="diagonal_relaxed"),
        prices=pl.concat([daily(s, n=2400, end=AS_OF) for s in symbols]),
    )


masks = st.lists(st.booleans(), min_size=1, max_size=60)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_bounded_versions_equal_reading_every_period(monkeypatch: pytest.MonkeyPatch, data: st.DataObject) -> None:
    def present() -> dict[str, list[bool]]:
        return {name: data.draw(masks, label=name) for name in (*FIELDS, "shares_outstanding")}

    funds = [
        _statements("AQ", "Q", 3, 48, present()),
        _statements("BH", "H", 6, 24, present()),
        _statements("CQ", "Q", 3, 40, present()),
        _statements("CQ", "FY", 12, 10, present()),
    ]
    bounded, full = _both(_inputs(funds), monkeypatch)
    assert bounded.equals(full)


def test_a_field_last_reported_years_ago_is_still_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cash last reported nine years before the latest quarter: the bound reaches back to it, and the score shows
    it (stale) exactly as reading every period does."""
    every = [True] * 48
    cash_stopped = [i < 12 for i in range(48)]
    present = {name: every for name in (*FIELDS, "shares_outstanding")} | {"cash": cash_stopped}
    bounded, full = _both(_inputs([_statements("OLD", "Q", 3, 48, present)]), monkeypatch)
    assert bounded.equals(full)
    last = bounded.filter(pl.col("as_of") == AS_OF)
    assert last["cash_usd"].item() is not None
    assert "stale:cash_usd" in last["flags"].item()


def test_the_bound_reads_fewer_periods_on_a_regular_history() -> None:
    """The point of the bound: a company reporting every quarter for twelve years has each version read a few
    years of periods, not all of them."""
    every = [True] * 48
    f = _statements("REG", "Q", 3, 48, {name: every for name in (*FIELDS, "shares_outstanding")})
    prepared = f.with_columns(
        pl.col("period").cast(panel_inputs._PERIOD_ENUM),
        (pl.col("operating_cash_flow") - pl.col("capital_expenditure")).alias("fcf"),
    )
    # the amounts in USD, as ``_prepare_statements`` leaves them (a rate of 1): the bound reads which rows report
    prepared = prepared.with_columns(
        [pl.col(c).alias(f"{c}_usd") for c in (*panel_inputs._USD_FIELDS, "fcf") if c in prepared.columns]
    )
    reach = panel_inputs._reach_days(prepared, panel_inputs.SETTINGS)
    # quarters 91-92 days apart, a three-year share-growth lookback with its late margin, the 30-day lag spread
    assert 1300 < reach["_reach"].item() < 1500
