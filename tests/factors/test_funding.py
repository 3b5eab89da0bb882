"""The funding-gap forecast: remaining capex of open projects against cash and binding funding, months to a raise."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factors.funding import (
    RAISE_NEEDED,
    RAISE_NOT_NEEDED,
    RAISE_UNKNOWN,
    funding_forecast,
    open_projects,
)

AS_OF = date(2026, 6, 1)
CASH_DATE = date(2026, 3, 31)
EVENT_SCHEMA: dict[str, Any] = {
    "symbol": pl.String,
    "date": pl.Date,
    "kind": pl.String,
    "project": pl.String,
    "stage": pl.String,
    "status": pl.String,
    "amount_usd": pl.Float64,
    "equity_share": pl.Float64,
    "target_year": pl.Int64,
    "direction": pl.String,
    "binding": pl.Boolean,
    "counterparty": pl.String,
}


def ev(*rows: dict[str, Any]) -> pl.DataFrame:
    """Events with the columns the forecast reads; status defaults to active and equity share to 1, as in the
    contract."""
    full = [{**dict.fromkeys(EVENT_SCHEMA), "status": "active", "equity_share": 1.0, **r} for r in rows]
    return pl.DataFrame(full, schema=EVENT_SCHEMA)


def cap(project: str, amount: float | None, *, day: date = date(2025, 1, 1), **kw: Any) -> dict[str, Any]:
    return {"symbol": "X", "date": day, "kind": "capacity", "project": project, "amount_usd": amount, **kw}


def fund(amount: float, *, project: str | None = None, day: date = date(2025, 6, 1), **kw: Any) -> dict[str, Any]:
    return {
        "symbol": "X",
        "date": day,
        "kind": "funding",
        "project": project,
        "amount_usd": amount,
        "direction": "receives",
        "binding": True,
        **kw,
    }


def base(cash: float | None = 100e6, fcf: float | None = -20e6, capex: float | None = 10e6) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "symbol": ["X"],
            "cash_usd": [cash],
            "cash_usd_date": [CASH_DATE],
            "free_cash_flow_ttm_usd": [fcf],
            "capex_ttm_usd": [capex],
        },
        schema={
            "symbol": pl.String,
            "cash_usd": pl.Float64,
            "cash_usd_date": pl.Date,
            "free_cash_flow_ttm_usd": pl.Float64,
            "capex_ttm_usd": pl.Float64,
        },
    )


def forecast(b: pl.DataFrame, events: pl.DataFrame) -> dict[str, Any]:
    return funding_forecast(b, events, AS_OF).row(0, named=True)


HAND_EVENTS = ev(
    # P1: a 50% JV, USD 300m capex, target 2027; a later row repeats the project without a capex figure
    cap("p1", 300e6, equity_share=0.5, target_year=2027, stage="announced"),
    cap("p1", None, day=date(2026, 1, 1), equity_share=0.5, target_year=2027, stage="construction"),
    # P2 cancelled, P3 in production: neither costs anything more
    cap("p2", 1e9, status="cancelled"),
    cap("p3", 50e6),
    {"symbol": "X", "date": date(2025, 9, 1), "kind": "production_start", "project": "p3", "stage": "production"},
    fund(40e6, project="p1"),  # binding, for an open project: counts (assumed undrawn)
    fund(500e6, project="p1", binding=False),  # a letter of interest: never counts
    fund(30e6, day=date(2026, 5, 1)),  # general money after the cash balance date: counts
    fund(25e6, day=date(2025, 6, 1)),  # general money before it: already in the cash figure
    fund(10e6, project="p3"),  # for a built project: drawn already
    fund(5e6, project="p1", direction="pays"),  # money the company pays is no funding
)


def test_hand_computed_gap_and_months_to_raise() -> None:
    got = forecast(base(), HAND_EVENTS)
    remaining = 0.5 * 300e6
    assert got["remaining_capex_usd"] == pytest.approx(remaining)
    assert got["binding_funding_usd"] == pytest.approx(40e6 + 30e6)
    assert got["funding_gap_usd"] == pytest.approx(remaining - 100e6 - 70e6)
    # spread over 2026-06-01 .. 2027-12-31; outflow = burn 20m + project spend above the current 10m capex
    years = (date(2027, 12, 31) - AS_OF).days / 365.25
    outflow = 20e6 + (remaining / years - 10e6)
    funds = 100e6 + 70e6
    spent_in_build = outflow * years
    assert spent_in_build < funds  # the build is covered; the burn afterwards runs the money out
    want_years = years + (funds - spent_in_build) / 20e6
    assert got["months_to_raise"] == pytest.approx(12 * want_years, rel=1e-12)
    assert got["raise_status"] == RAISE_NEEDED


def test_a_build_that_outruns_the_cash_needs_a_raise_during_the_build() -> None:
    got = forecast(base(cash=50e6), HAND_EVENTS)
    years = (date(2027, 12, 31) - AS_OF).days / 365.25
    outflow = 20e6 + (150e6 / years - 10e6)
    assert got["months_to_raise"] == pytest.approx(12 * (50e6 + 70e6) / outflow, rel=1e-12)
    assert got["funding_gap_usd"] == pytest.approx(150e6 - 50e6 - 70e6)


def test_unknown_cash_is_an_unknown_gap_not_a_zero_one() -> None:
    got = forecast(base(cash=None), HAND_EVENTS)
    assert got["funding_gap_usd"] is None and got["months_to_raise"] is None
    assert got["raise_status"] == RAISE_UNKNOWN
    assert forecast(base(fcf=None), HAND_EVENTS)["raise_status"] == RAISE_UNKNOWN


def test_no_projects_and_positive_cash_flow_need_no_raise() -> None:
    got = forecast(base(fcf=5e6), ev())
    assert got["months_to_raise"] is None and got["raise_status"] == RAISE_NOT_NEEDED
    assert got["remaining_capex_usd"] == 0.0 and got["funding_gap_usd"] == pytest.approx(-100e6)
    # a burning company without projects: months of cash at its burn, the runway in months
    assert forecast(base(fcf=-50e6), ev())["months_to_raise"] == pytest.approx(24.0)


def test_cancelled_project_capex_is_ignored() -> None:
    active = forecast(base(), ev(cap("p", 400e6, target_year=2028)))
    cancelled = forecast(
        base(), ev(cap("p", 400e6, target_year=2028), cap("p", None, day=date(2026, 2, 1), status="cancelled"))
    )
    assert active["remaining_capex_usd"] == 400e6 and active["funding_gap_usd"] == pytest.approx(300e6)
    assert cancelled["remaining_capex_usd"] == 0.0 and cancelled["funding_gap_usd"] == pytest.approx(-100e6)
    assert cancelled["months_to_raise"] > active["months_to_raise"]


def test_joint_venture_equity_share_is_applied_once_per_project() -> None:
    whole = forecast(base(), ev(cap("jv", 200e6), cap("jv", 200e6, day=date(2025, 6, 1))))
    half = forecast(
        base(), ev(cap("jv", 200e6, equity_share=0.5), cap("jv", 200e6, day=date(2025, 6, 1), equity_share=0.5))
    )
    assert whole["remaining_capex_usd"] == 200e6  # two rows of one project: counted once
    assert half["remaining_capex_usd"] == 100e6


def test_open_projects_use_the_latest_known_values() -> None:
    p = open_projects(ev(cap("p", 100e6, target_year=2030), cap("p", 150e6, day=date(2026, 1, 1))), AS_OF)
    assert p["capex_share_usd"].to_list() == [150e6]
    assert p["build_years"][0] == pytest.approx((date(2030, 12, 31) - AS_OF).days / 365.25)


@settings(max_examples=40, deadline=None)
@given(
    capex=st.floats(min_value=0.0, max_value=2e9),
    extra=st.floats(min_value=1.0, max_value=1e9),
    cash=st.floats(min_value=0.0, max_value=1e9),
    fcf=st.floats(min_value=-2e8, max_value=-1.0),
)
def test_more_capex_never_buys_more_time(capex: float, extra: float, cash: float, fcf: float) -> None:
    small = forecast(base(cash=cash, fcf=fcf), ev(cap("p", capex, target_year=2028)))
    big = forecast(base(cash=cash, fcf=fcf), ev(cap("p", capex + extra, target_year=2028)))
    assert big["months_to_raise"] <= small["months_to_raise"] + 1e-9
    assert big["funding_gap_usd"] > small["funding_gap_usd"]


def test_another_companys_project_of_the_same_name_does_not_close_this_one() -> None:
    events = ev(
        cap("phase-1", 300e6, target_year=2028),
        {"symbol": "Y", "date": date(2025, 9, 1), "kind": "production_start", "project": "phase-1"},
    )
    assert open_projects(events, AS_OF)["capex_share_usd"].to_list() == [300e6]


def test_one_commitment_restated_counts_once_and_never_beyond_the_projects_capex() -> None:
    events = ev(
        cap("p", 500e6, target_year=2028),
        fund(400e6, project="p", counterparty="US DOE", day=date(2025, 3, 1)),  # conditional commitment
        fund(400e6, project="p", counterparty="US DOE", day=date(2025, 9, 1)),  # the same loan, closed
    )
    assert forecast(base(cash=50e6), events)["binding_funding_usd"] == 400e6
    bigger = ev(cap("q", 100e6, target_year=2028), fund(400e6, project="q", counterparty="EXIM"))
    assert forecast(base(cash=50e6), bigger)["binding_funding_usd"] == 100e6  # capped at the plant's cost


def test_funding_rows_without_a_counterparty_are_each_their_own() -> None:
    events = ev(
        cap("p", 500e6, target_year=2028), fund(100e6, project="p"), fund(50e6, project="p", day=date(2025, 7, 1))
    )
    assert forecast(base(cash=50e6), events)["binding_funding_usd"] == 150e6


def test_a_partners_unstated_stake_on_a_later_row_keeps_the_stated_one() -> None:
    events = ev(
        cap("jv", 400e6, equity_share=0.5, target_year=2028),
        cap("jv", None, day=date(2026, 1, 1), equity_share=None, status=None, stage="construction"),
    )
    assert open_projects(events, AS_OF)["capex_share_usd"].to_list() == [200e6]
