"""Point in time and currencies: reporting lag, prices on or before as-of, fx at each value's own date."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from factors.engine import compute_scores
from factors.inputs import FactorInputs, build_context
from tests.builders import AS_OF, company, daily, events, fx_rows, inputs, quarterly, row


def _base(inp: FactorInputs, as_of: date = AS_OF) -> pl.DataFrame:
    return build_context(inp, as_of).base


def test_ttm_sums_the_last_four_quarters_and_balances_come_from_the_latest() -> None:
    fund = quarterly(
        "A",
        6,
        revenue=[1, 2, 3, 4, 5, 6],
        operating_cash_flow=10.0,
        capital_expenditure=4.0,
        cash=[1, 2, 3, 4, 5, 6],
        total_debt=7.0,
        total_equity=70.0,
        shares_outstanding=1000.0,
    )
    b = row(_base(inputs([company("A")], fundamentals=[fund], prices=[daily("A", close=2.0)])), "A")
    assert b["revenue_ttm_usd"] == 3 + 4 + 5 + 6
    assert b["operating_cash_flow_ttm_usd"] == 40.0
    assert b["capex_ttm_usd"] == 16.0
    assert b["free_cash_flow_ttm_usd"] == 24.0  # ocf - capex per quarter, summed
    assert b["cash_usd"] == 6.0
    assert b["net_cash_usd"] == 6.0 - 7.0
    assert b["market_cap_usd"] == 1000.0 * 2.0
    assert b["fundamentals_period_end"] == date(2026, 3, 31)


def test_ttm_never_annualises_missing_quarters_and_prefers_a_newer_fiscal_year() -> None:
    q = quarterly("A", 4, revenue=[10.0, None, 30.0, 20.0], free_cash_flow=[None, None, None, -5.0])
    b = row(_base(inputs([company("A")], fundamentals=[q])), "A")
    assert b["revenue_ttm_usd"] is None  # three quarters are not a year; never (10 + 30 + 20) / 3 * 4
    assert b["free_cash_flow_ttm_usd"] is None  # nor is one quarter's reported fcf
    fy = quarterly("A", 1, period="FY", revenue=500.0)  # FY ending after the latest quarter: FY wins
    fy = fy.with_columns(pl.lit(date(2026, 2, 28)).alias("period_end"))
    q_old = quarterly("A", 4, last=date(2025, 12, 31), revenue=1.0)
    b = row(_base(inputs([company("A")], fundamentals=[q_old, fy])), "A")
    assert b["revenue_ttm_usd"] == 500.0 and b["revenue_ttm_usd_basis"] == "FY"


def test_a_quarter_inside_the_reporting_lag_is_ignored() -> None:
    fund = quarterly("A", 8, revenue=10.0, cash=100.0, shares_outstanding=1e6)
    fresh = quarterly("A", 1, last=date(2026, 4, 30), revenue=9999.0, cash=1.0, shares_outstanding=9e9)
    fresh = fresh.with_columns(pl.lit(AS_OF - timedelta(days=30)).alias("period_end"))
    prices = [daily("A")]
    a = compute_scores(inputs([company("A"), company("B")], fundamentals=[fund], prices=prices), AS_OF)
    b = compute_scores(inputs([company("A"), company("B")], fundamentals=[fund, fresh], prices=prices), AS_OF)
    assert a.equals(b)
    # the same quarter counts once 60 days have passed
    later = AS_OF + timedelta(days=31)
    c = row(compute_scores(inputs([company("A")], fundamentals=[fund, fresh], prices=prices), later), "A")
    assert c["cash_usd"] == 1.0


def test_fiscal_year_lag_is_ninety_days() -> None:
    fy = quarterly("A", 1, period="FY", last=date(2026, 3, 31), cash=5.0)
    assert row(_base(inputs([company("A")], fundamentals=[fy]), date(2026, 6, 20)), "A")["cash_usd"] is None
    assert row(_base(inputs([company("A")], fundamentals=[fy]), date(2026, 6, 29)), "A")["cash_usd"] == 5.0


def test_prices_after_as_of_are_never_read() -> None:
    past = daily("A", close=10.0)
    future = daily("A", 5, end=AS_OF + timedelta(days=5), close=1e6, volume=1e9).tail(5)
    a = compute_scores(inputs([company("A")], prices=[past]), AS_OF)
    b = compute_scores(inputs([company("A")], prices=[past, future]), AS_OF)
    assert a.equals(b)


def test_fx_converts_each_value_at_its_own_date() -> None:
    fx = pl.DataFrame(
        {"currency": ["EUR", "EUR"], "date": [date(2020, 1, 1), date(2025, 11, 15)], "usd_per_unit": [1.0, 2.0]}
    )
    fund = quarterly("A", 4, currency="EUR", revenue=10.0, cash=100.0)  # quarters end 2025-06-30 .. 2026-03-31
    b = row(_base(inputs([company("A", currency="EUR")], fundamentals=[fund], fx=[fx])), "A")
    # Q2 and Q3 2025 at 1.0, Q4 2025 and Q1 2026 at 2.0
    assert b["revenue_ttm_usd"] == 10 + 10 + 20 + 20
    assert b["cash_usd"] == 200.0
    prices = daily("A", 3, close=4.0)
    fx_daily = pl.DataFrame(
        {"currency": ["EUR"] * 2, "date": [AS_OF - timedelta(days=5), AS_OF], "usd_per_unit": [1.5, 0.5]}
    )
    b = row(_base(inputs([company("A", currency="EUR")], prices=[prices], fx=[fx_daily])), "A")
    assert b["price_usd"] == 2.0  # the as-of day's close at the as-of day's rate


def test_missing_rate_is_null_and_flagged_never_usd() -> None:
    fund = quarterly("A", 4, currency="CHF", cash=100.0, shares_outstanding=10.0)
    prices = daily("A", close=3.0)
    out = compute_scores(
        inputs([company("A", currency="CHF"), company("B")], fundamentals=[fund], prices=[prices, daily("B")]), AS_OF
    )
    a = row(out, "A")
    assert a["cash_usd"] is None and a["price_usd"] is None and a["market_cap_usd"] is None
    assert "missing_fx" in a["flags"]
    assert "missing_fx" not in row(out, "B")["flags"]
    # a rate that only starts after the value's date does not help either
    late = fx_rows("CHF", 1.1, since=AS_OF + timedelta(days=1))
    a = row(compute_scores(inputs([company("A", currency="CHF")], prices=[prices], fx=[late]), AS_OF), "A")
    assert a["price_usd"] is None and "missing_fx" in a["flags"]


def test_us_dollars_convert_on_dates_before_the_first_fx_row() -> None:
    # fx imported for recent dates only: a USD company's old statements and prices still count as dollars
    recent_fx = fx_rows("EUR", 1.1, since=date(2026, 5, 1))
    fund = quarterly("A", 12, revenue=10.0, cash=5.0, shares_outstanding=100.0)  # ends 2023-06-30 .. 2026-03-31
    prices = daily("A", close=2.0)  # 300 days, most before 2026-05-01
    with_fx = compute_scores(inputs([company("A")], fundamentals=[fund], prices=[prices], fx=[recent_fx]), AS_OF)
    a = row(with_fx, "A")
    assert a["revenue_ttm_usd"] == 40.0 and a["cash_usd"] == 5.0 and a["market_cap_usd"] == 200.0
    assert "missing_fx" not in a["flags"]
    # the same company scores exactly as it does with no fx table at all
    without_fx = compute_scores(inputs([company("A")], fundamentals=[fund], prices=[prices]), AS_OF)
    assert with_fx.equals(without_fx)


def test_other_currencies_are_flagged_only_when_a_value_used_has_no_rate() -> None:
    fund = quarterly("A", 12, currency="EUR", revenue=10.0, cash=5.0)  # ends 2023-06-30 .. 2026-03-31
    # rates from mid 2025: the four quarters and the cash used convert; older unused quarters do not matter
    covered = row(
        _base(
            inputs(
                [company("A", currency="EUR")], fundamentals=[fund], fx=[fx_rows("EUR", 2.0, since=date(2025, 6, 1))]
            )
        ),
        "A",
    )
    assert covered["revenue_ttm_usd"] == 80.0 and covered["cash_usd"] == 10.0 and not covered["missing_fx"]
    # rates from 2026 only: the earlier quarters of the trailing year have none, so the TTM is unknown and flagged
    late = row(
        _base(
            inputs(
                [company("A", currency="EUR")], fundamentals=[fund], fx=[fx_rows("EUR", 2.0, since=date(2026, 1, 1))]
            )
        ),
        "A",
    )
    assert late["revenue_ttm_usd"] is None and late["cash_usd"] == 10.0 and late["missing_fx"]


def test_pence_quotes_are_scaled_to_pounds() -> None:
    prices = daily("X.L", close=250.0)
    fund = quarterly("X.L", 4, currency="GBP", shares_outstanding=100.0, cash=10.0)
    b = row(
        _base(
            inputs(
                [company("X.L", currency="GBp", country="GB")],
                prices=[prices],
                fundamentals=[fund],
                fx=[fx_rows("GBP", 1.25)],
            )
        ),
        "X.L",
    )
    assert b["price_usd"] == pytest.approx(2.5 * 1.25)
    assert b["market_cap_usd"] == pytest.approx(100 * 2.5 * 1.25)
    assert b["cash_usd"] == pytest.approx(12.5)


def test_share_growth_is_annualised_over_the_actual_span() -> None:
    shares = [100.0 * 1.1 ** (i // 4) for i in range(13)]  # +10% a year, stepped at each year's first quarter
    fund = quarterly("A", 13, shares_outstanding=shares)  # ends 2023-03-31 .. 2026-03-31
    b = row(_base(inputs([company("A")], fundamentals=[fund])), "A")
    assert b["share_growth_1y"] == pytest.approx(1.1 ** (365.25 / 365) - 1)
    days_3y = (date(2026, 3, 31) - date(2023, 3, 31)).days
    assert b["share_growth_3y"] == pytest.approx(1.331 ** (365.25 / days_3y) - 1)
    short = quarterly("B", 3, shares_outstanding=100.0)
    b = row(_base(inputs([company("B")], fundamentals=[short])), "B")
    assert b["share_growth_1y"] is None and b["share_growth_3y"] is None


def test_stale_and_absent_data_flags() -> None:
    old_prices = daily("A", 50, end=AS_OF - timedelta(days=20))
    old_fund = quarterly("B", 4, last=date(2024, 12, 31), cash=1.0)
    out = compute_scores(
        inputs([company("A"), company("B"), company("C")], prices=[old_prices, daily("B")], fundamentals=[old_fund]),
        AS_OF,
    )
    assert {"stale", "no_fundamentals"} <= set(row(out, "A")["flags"])
    assert row(out, "A")["last_price_date"] == AS_OF - timedelta(days=20)
    assert "stale" in row(out, "B")["flags"]
    assert {"no_prices", "no_fundamentals"} <= set(row(out, "C")["flags"])
    assert "stale" not in row(out, "C")["flags"]


def test_an_old_balance_is_stale_even_when_newer_rows_of_other_fields_exist() -> None:
    # revenue is reported every quarter up to 2026-03-31; cash, debt and shares stopped after 2024-12-31
    n = 12  # 2023-06-30 .. 2026-03-31; index 6 is 2024-12-31
    old_until = [1.0 if i <= 6 else None for i in range(n)]
    fund = quarterly(
        "A", n, revenue=10.0, cash=old_until, total_debt=old_until, shares_outstanding=old_until, total_equity=5.0
    )
    twin = quarterly("B", n, revenue=10.0, cash=1.0, total_debt=1.0, shares_outstanding=1.0, total_equity=5.0)
    out = compute_scores(
        inputs([company("A"), company("B")], fundamentals=[fund, twin], prices=[daily("A"), daily("B")]), AS_OF
    )
    a, b = row(out, "A"), row(out, "B")
    assert a["cash_usd"] == 1.0 and a["fundamentals_period_end"] == date(2026, 3, 31)
    assert {"stale", "stale:cash_usd", "stale:total_debt_usd", "stale:shares_outstanding"} <= set(a["flags"])
    assert "stale:total_equity_usd" not in a["flags"] and "stale:revenue_ttm_usd" not in a["flags"]
    assert not any(f.startswith("stale") for f in b["flags"])


def test_an_old_trailing_year_is_stale_per_field() -> None:
    fresh_cash = quarterly("A", 1, cash=1.0)  # 2026-03-31
    old_year = quarterly("A", 1, period="FY", last=date(2024, 12, 31), revenue=100.0)
    a = row(compute_scores(inputs([company("A")], fundamentals=[fresh_cash, old_year]), AS_OF), "A")
    assert a["revenue_ttm_usd"] == 100.0
    assert {"stale", "stale:revenue_ttm_usd"} <= set(a["flags"]) and "stale:cash_usd" not in a["flags"]


def test_market_wide_and_future_events_are_not_attributed() -> None:
    ev = events(
        {"symbol": "*", "date": AS_OF - timedelta(days=10), "kind": "funding"},
        {"symbol": "A", "date": AS_OF + timedelta(days=10), "kind": "funding"},
        {"symbol": "ZZZ", "date": AS_OF - timedelta(days=10), "kind": "funding"},
    )
    ctx = build_context(inputs([company("A")], events_=ev), AS_OF)
    assert ctx.events.height == 0


def test_unsorted_inputs_give_identical_context() -> None:
    fund = quarterly("A", 8, revenue=lambda i: float(i), cash=1.0)
    p = daily("A", close=lambda i: 1.0 + i)
    inp = inputs([company("A"), company("B")], fundamentals=[fund], prices=[p, daily("B")])
    shuffled = FactorInputs(
        companies=inp.companies.reverse(),
        fundamentals=inp.fundamentals.sample(fraction=1.0, shuffle=True, seed=1),
        prices=inp.prices.sample(fraction=1.0, shuffle=True, seed=2),
    )
    assert build_context(inp, AS_OF).base.equals(build_context(shuffled, AS_OF).base)
