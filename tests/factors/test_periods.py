"""Periods read right: trailing twelve months from whole quarters, half years or fiscal years, never a scaled part.

The property test builds every period of a company from one series of monthly flows (a quarter is three months, a
half six, a fiscal year twelve), reports a random subset of them under random labels, and checks that whatever the
engine picks is the sum of the twelve months that end on the date it says it used.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factors.inputs import SETTINGS, TTM_BASES, FactorInputs, build_context, is_public, reporting_lags
from tests.builders import AS_OF, company, inputs, quarterly, row


def _base(inp: FactorInputs, as_of: date = AS_OF) -> pl.DataFrame:
    return build_context(inp, as_of).base


def periods(
    symbol: str, rows: list[tuple[date, str, float | None]], *, field: str = "revenue", currency: str = "USD"
) -> pl.DataFrame:
    """Statement rows (period end, label, value of ``field``) for one company."""
    return pl.DataFrame(
        {
            "symbol": [symbol] * len(rows),
            "period_end": [r[0] for r in rows],
            "period": [r[1] for r in rows],
            "currency": [currency] * len(rows),
            field: [r[2] for r in rows],
        },
        schema={
            "symbol": pl.String,
            "period_end": pl.Date,
            "period": pl.String,
            "currency": pl.String,
            field: pl.Float64,
        },
    )


def _ttm(fund: pl.DataFrame, as_of: date = AS_OF) -> dict:
    b = row(_base(inputs([company("A")], fundamentals=[fund]), as_of), "A")
    return {"value": b["revenue_ttm_usd"], "basis": b["revenue_ttm_usd_basis"], "end": b["revenue_ttm_usd_date"]}


# -- half-year reporters ------------------------------------------------------------------------------------------
def test_a_half_year_reporter_gets_one_year_of_revenue_not_two() -> None:
    halves = periods("A", [(date(2025, 6, 30), "H", 50.0), (date(2025, 12, 31), "H", 50.0)])
    assert _ttm(halves) == {"value": 100.0, "basis": "2H", "end": date(2025, 12, 31)}
    # the same year reported in quarters gives the same figure
    quarters = quarterly("A", 4, last=date(2025, 12, 31), revenue=25.0)
    assert _ttm(quarters)["value"] == 100.0
    # a longer history of halves still sums only the latest two
    longer = periods(
        "A",
        [
            (date(2024, 6, 30), "H", 1.0),
            (date(2024, 12, 31), "H", 2.0),
            (date(2025, 6, 30), "H", 50.0),
            (date(2025, 12, 31), "H", 50.0),
        ],
    )
    assert _ttm(longer)["value"] == 100.0


def test_a_fiscal_year_is_rolled_forward_by_the_half_year_that_follows_it() -> None:
    # June fiscal year: FY2025 = H(Dec 2024) 40 + H(Jun 2025) 60; then H(Dec 2025) 70 is the freshest half
    fund = periods(
        "A", [(date(2024, 12, 31), "H", 40.0), (date(2025, 6, 30), "FY", 100.0), (date(2025, 12, 31), "H", 70.0)]
    )
    assert _ttm(fund) == {"value": 100.0 + 70.0 - 40.0, "basis": "FY+H", "end": date(2025, 12, 31)}
    # without the year-earlier half the fiscal year stands alone (an older but whole year)
    alone = fund.filter(pl.col("period_end") != date(2024, 12, 31))
    assert _ttm(alone) == {"value": 100.0, "basis": "FY", "end": date(2025, 6, 30)}


def test_half_year_lag_is_ninety_days() -> None:
    fund = periods("A", [(date(2025, 9, 30), "H", 10.0), (date(2026, 3, 31), "H", 20.0)])
    # on 2026-06-20 only the September half is public, and one half is not a year
    assert _ttm(fund, date(2026, 6, 20))["value"] is None
    assert _ttm(fund, date(2026, 6, 29)) == {"value": 30.0, "basis": "2H", "end": date(2026, 3, 31)}


def test_every_contract_period_has_a_lag_and_a_missing_one_is_an_error() -> None:
    from screener.contract import PERIODS

    assert set(reporting_lags()) == set(PERIODS) and reporting_lags()["H"] == SETTINGS["reporting_lag_days"]["H"]
    with pytest.raises(ValueError, match="no lag for period"):
        reporting_lags({"reporting_lag_days": {"Q": 60, "FY": 90}})
    # a label outside the contract is never public, rather than public at once
    frame = pl.DataFrame({"period_end": [date(2020, 1, 1)] * 2, "period": ["H", "M"]})
    assert frame.select(is_public(AS_OF))["period_end"].to_list() == [True, False]


# -- never a mean times four --------------------------------------------------------------------------------------
def test_a_partial_set_of_quarters_is_never_scaled_up() -> None:
    gap = quarterly("A", 4, revenue=[10.0, None, 30.0, 20.0], free_cash_flow=[None, None, None, -5.0])
    b = row(_base(inputs([company("A")], fundamentals=[gap])), "A")
    assert b["revenue_ttm_usd"] is None and b["free_cash_flow_ttm_usd"] is None
    # with an older whole fiscal year behind the gap, that year is the answer
    fy = periods("A", [(date(2025, 6, 30), "FY", 500.0)])
    assert _ttm(pl.concat([gap.select(fy.columns), fy]).sort("period_end")) == {
        "value": 500.0,
        "basis": "FY",
        "end": date(2025, 6, 30),
    }


def test_mixed_labels_inside_the_window_are_not_summed_together() -> None:
    # two quarters and a half year cover twelve months only if mixed: the engine refuses to mix
    fund = periods(
        "A", [(date(2025, 6, 30), "H", 40.0), (date(2025, 9, 30), "Q", 25.0), (date(2025, 12, 31), "Q", 25.0)]
    )
    assert _ttm(fund)["value"] is None


# -- freshness decides, ties go Q, H, FY --------------------------------------------------------------------------
def test_the_freshest_candidate_wins_and_a_tie_goes_to_quarters() -> None:
    quarters = quarterly("A", 4, last=date(2025, 12, 31), revenue=25.0)
    same_day_fy = periods("A", [(date(2025, 12, 31), "FY", 500.0)])
    assert _ttm(pl.concat([quarters.select(same_day_fy.columns), same_day_fy]))["basis"] == "4Q"
    newer_fy = periods("A", [(date(2026, 3, 1), "FY", 500.0)])
    assert _ttm(pl.concat([quarters.select(newer_fy.columns), newer_fy])) == {
        "value": 500.0,
        "basis": "FY",
        "end": date(2026, 3, 1),
    }
    newer_halves = periods("A", [(date(2025, 8, 31), "H", 40.0), (date(2026, 2, 28), "H", 60.0)])
    assert _ttm(pl.concat([quarters.select(newer_halves.columns), newer_halves]))["basis"] == "2H"
    same_day_halves = periods("A", [(date(2025, 6, 30), "H", 40.0), (date(2025, 12, 31), "H", 60.0)])
    assert _ttm(pl.concat([quarters.select(same_day_halves.columns), same_day_halves]))["basis"] == "4Q"
    assert TTM_BASES == ("4Q", "2H", "FY+H", "FY")


def test_a_missing_rate_on_the_chosen_periods_is_null_and_flagged() -> None:
    from tests.builders import fx_rows

    quarters = quarterly("A", 4, currency="EUR", revenue=25.0)  # 2025-06-30 .. 2026-03-31
    old_fy = periods("A", [(date(2024, 12, 31), "FY", 90.0)], currency="EUR")
    fx = fx_rows("EUR", 2.0, since=date(2025, 8, 1))  # known for the last three quarters only
    inp = inputs([company("A", currency="EUR")], fundamentals=[quarters, old_fy], fx=[fx])
    b = row(_base(inp), "A")
    assert b["revenue_ttm_usd"] is None and b["revenue_ttm_usd_basis"] == "4Q" and b["missing_fx"]


# -- the property: any mix of whole periods gives the twelve months it names --------------------------------------
def _month_ends(last: date, n: int) -> list[date]:
    out, y, m = [], last.year, last.month
    for _ in range(n):
        out.append(date(y + (m == 12), m % 12 + 1, 1) - timedelta(days=1))
        m -= 1
        if m == 0:
            y, m = y - 1, 12
    return out[::-1]


MONTHS = _month_ends(date(2026, 3, 31), 48)


@settings(max_examples=60, deadline=None)
@given(
    monthly=st.lists(st.integers(-50, 200), min_size=48, max_size=48),
    keep=st.lists(st.booleans(), min_size=48 * 3, max_size=48 * 3),
    fy_month=st.sampled_from([3, 6, 9, 12]),
)
def test_whatever_the_mix_the_ttm_is_the_twelve_months_it_names(
    monthly: list[int], keep: list[bool], fy_month: int
) -> None:
    rows: list[tuple[date, str, float | None]] = []
    for k, end in enumerate(MONTHS):

        def total(n: int, k: int = k) -> float | None:
            return float(sum(monthly[k - n + 1 : k + 1])) if k - n + 1 >= 0 else None

        if end.month % 3 == 0 and keep[3 * k] and total(3) is not None:
            rows.append((end, "Q", total(3)))
        if end.month in (6, 12) and keep[3 * k + 1] and total(6) is not None:
            rows.append((end, "H", total(6)))
        if end.month == fy_month and keep[3 * k + 2] and total(12) is not None:
            rows.append((end, "FY", total(12)))
    if not rows:
        return
    got = _ttm(periods("A", rows))
    public = [r for r in rows if r[0] + timedelta(days=reporting_lags()[r[1]]) <= AS_OF]
    fy_ends = [r[0] for r in public if r[1] == "FY"]
    q_ends = sorted(r[0] for r in public if r[1] == "Q")
    whole_year_of_quarters = len(q_ends) >= 4 and (q_ends[-1] - q_ends[-4]).days < 300
    if got["value"] is None:
        # nothing whole to build from: no fiscal year and no four consecutive quarters
        assert got["end"] is None and got["basis"] is None
        assert not fy_ends and not whole_year_of_quarters
        return
    k = MONTHS.index(got["end"])
    assert got["value"] == float(sum(monthly[k - 11 : k + 1])), got
    # and it is at least as fresh as every public fiscal year and every whole year of quarters
    assert got["end"] >= max(fy_ends, default=date.min)
    if whole_year_of_quarters:
        assert got["end"] >= q_ends[-1]
