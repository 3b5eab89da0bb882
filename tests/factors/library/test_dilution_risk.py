"""dilution_risk: share growth, cash runway, capex intensity, equity raises and stage, robust-scaled."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factors.engine import compute_scores
from factors.registry import get_factor
from tests.builders import AS_OF, company, daily, events, inputs, quarterly, row, universe

SPEC = get_factor("dilution_risk")
P = SPEC.params
N_Q = 13  # quarter ends 2023-03-31 .. 2026-03-31


def _yearly(rate: float, base: float = 1000.0) -> list[float]:
    """Share counts that step up by ``rate`` at the start of each year of quarters."""
    return [base * (1 + rate) ** (i // 4) for i in range(N_Q)]


def _case() -> tuple[list, list, list, object]:
    comps = [
        company("A", stage="developer"),
        company("B"),
        company("C", stage="explorer"),
        company("D", stage="explorer"),
    ]
    funds = [
        quarterly(
            "A",
            N_Q,
            shares_outstanding=_yearly(0.10),
            cash=100.0,
            operating_cash_flow=-10.0,
            capital_expenditure=15.0,
            revenue=50.0,
        ),
        quarterly(
            "B",
            N_Q,
            shares_outstanding=1000.0,
            cash=1000.0,
            operating_cash_flow=20.0,
            capital_expenditure=5.0,
            revenue=100.0,
        ),
        quarterly(
            "C",
            N_Q,
            shares_outstanding=1000.0,
            cash=50.0,
            operating_cash_flow=-5.0,
            capital_expenditure=5.0,
            revenue=0.0,
        ),
        quarterly(
            "D",
            N_Q,
            shares_outstanding=_yearly(0.20),
            cash=10.0,
            operating_cash_flow=-20.0,
            capital_expenditure=0.0,
            revenue=10.0,
        ),
    ]
    prices = [daily(s, close=1.0) for s in "ABCD"]
    ev = events(
        {"symbol": "A", "date": AS_OF - timedelta(days=30), "kind": "equity_raise"},
        {"symbol": "A", "date": AS_OF - timedelta(days=300), "kind": "equity_raise"},
        {"symbol": "A", "date": AS_OF - timedelta(days=400), "kind": "equity_raise"},
        {"symbol": "C", "date": AS_OF - timedelta(days=10), "kind": "equity_raise"},
    )
    return comps, funds, prices, ev


def _expected_value(components: dict[str, list[float]]) -> list[float]:
    """Robust scaling by hand: (x - median) / IQR (IQR 0 -> 1), oriented, clipped, weighted."""
    total = np.zeros(4)
    for name, values in components.items():
        x = np.array(values, dtype=float)
        med = np.median(x)
        iqr = np.percentile(x, 75) - np.percentile(x, 25)
        z = SPEC.signs[name] * (x - med) / (iqr if iqr > 1e-12 else 1.0)
        total += P["weights"][name] * np.clip(z, -P["clip"], P["clip"])
    return total.tolist()


def test_hand_computed_components_and_value() -> None:
    comps, funds, prices, ev = _case()
    out = compute_scores(inputs(comps, fundamentals=funds, prices=prices, events_=ev), AS_OF)
    span_1y = 365  # 2026-03-31 vs 2025-03-31
    span_3y = 1096  # 2026-03-31 vs 2023-03-31
    want = {
        "share_growth_1y": [1.1 ** (365.25 / span_1y) - 1, 0.0, 0.0, 1.2 ** (365.25 / span_1y) - 1],
        "share_growth_3y": [1.331 ** (365.25 / span_3y) - 1, 0.0, 0.0, 1.728 ** (365.25 / span_3y) - 1],
        "cash_runway_years": [100 / 100, 10.0, 50 / 40, 10 / 80],
        # capex / (market cap + revenue); market caps 1331, 1000, 1000, 1728 (shares x a close of 1)
        "capex_intensity": [60 / (1331 + 200), 20 / (1000 + 400), 20 / (1000 + 0), 0 / (1728 + 40)],
        "equity_raises_12m": [2.0, 0.0, 1.0, 0.0],
        "stage_risk": [0.5, 0.0, 1.0, 1.0],
        # no projects: the gap is minus the cash, the months are cash over burn (B burns nothing: no raise needed)
        "remaining_capex_usd": [0.0, 0.0, 0.0, 0.0],
        "funding_gap_usd": [-100.0, -1000.0, -50.0, -10.0],
    }
    months = [row(out, s)["dilution_risk.months_to_raise"] for s in "ABCD"]
    assert months[0] == pytest.approx(12 * 100 / 100) and months[1] == 12 * P["max_runway_years"]
    assert months[2] == pytest.approx(12 * 50 / 40) and months[3] == pytest.approx(12 * 10 / 80)
    for name, values in want.items():
        got = [row(out, s)[f"dilution_risk.{name}"] for s in "ABCD"]
        assert got == pytest.approx(values, rel=1e-12), name
    expected = _expected_value(want)
    got = [row(out, s)["dilution_risk"] for s in "ABCD"]
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)
    # the cash-generative producer with a flat share count is the least at risk
    assert row(out, "B")["dilution_risk_pct"] == 0.0 and min(got) == row(out, "B")["dilution_risk"]
    # B needs no raise: the months hold the cap (not null: nothing is unknown, so nothing is filled or flagged)
    assert not any("dilution_risk" in f for r in out.iter_rows(named=True) for f in r["flags"])


def test_positive_free_cash_flow_means_the_capped_runway() -> None:
    comps, funds, prices, ev = _case()
    out = compute_scores(inputs(comps, fundamentals=funds, prices=prices, events_=ev), AS_OF)
    assert row(out, "B")["dilution_risk.cash_runway_years"] == P["max_runway_years"]


def test_missing_components_are_imputed_from_role_class_peers() -> None:
    peers = [company(f"E{i}", roles="processor") for i in range(3)]
    miners = [company(f"M{i}", roles="miner") for i in range(3)]
    funds = [
        quarterly(
            c["symbol"],
            N_Q,
            shares_outstanding=_yearly(0.05),
            cash=500.0,
            operating_cash_flow=-5.0,
            capital_expenditure=5.0,
            revenue=40.0,
        )
        for c in peers
    ]
    funds += [
        quarterly(
            c["symbol"],
            N_Q,
            shares_outstanding=_yearly(0.40),
            cash=5.0,
            operating_cash_flow=-50.0,
            capital_expenditure=50.0,
            revenue=1.0,
        )
        for c in miners
    ]
    prices = [daily(c["symbol"]) for c in [*peers, *miners]]
    out = compute_scores(
        inputs([*peers, *miners, company("X", roles="magnet_maker")], fundamentals=funds, prices=prices), AS_OF
    )
    x = row(out, "X")
    for comp in ("share_growth_1y", "share_growth_3y", "cash_runway_years", "capex_intensity"):
        assert x[f"dilution_risk.{comp}"] is None
        assert f"imputed:dilution_risk.{comp}" in x["flags"]
    assert "imputed:dilution_risk.stage_risk" not in x["flags"]
    # an enabler without data is scored like its enabler peers, not like the universe median
    assert x["dilution_risk"] == pytest.approx(row(out, "E0")["dilution_risk"], rel=1e-12)
    assert x["dilution_risk"] < row(out, "M0")["dilution_risk"]


def test_dilution_risk_rises_with_share_growth_example() -> None:
    base = universe(6)
    low = quarterly(
        "LOW",
        N_Q,
        shares_outstanding=_yearly(0.01),
        cash=100.0,
        revenue=50.0,
        capital_expenditure=5.0,
        operating_cash_flow=10.0,
    )
    high = low.with_columns(symbol=pl.lit("HIGH"), shares_outstanding=pl.Series(_yearly(0.30)))
    inp = inputs(
        [*base.companies.to_dicts(), company("LOW"), company("HIGH")],
        fundamentals=[base.fundamentals, low, high],
        prices=[base.prices, daily("LOW"), daily("HIGH")],
    )
    out = compute_scores(inp, AS_OF)
    assert row(out, "HIGH")["dilution_risk"] > row(out, "LOW")["dilution_risk"]


@settings(max_examples=25, deadline=None)
@given(
    g1=st.floats(min_value=-0.2, max_value=1.0),
    bump=st.floats(min_value=0.001, max_value=1.0),
    cash=st.floats(min_value=1.0, max_value=1e4),
    ocf=st.floats(min_value=-100.0, max_value=100.0),
)
def test_dilution_risk_rises_with_share_growth_all_else_equal(g1: float, bump: float, cash: float, ocf: float) -> None:
    base = universe(5)
    twins = []
    for sym, rate in (("LOW", g1), ("HIGH", g1 + bump)):
        twins.append(
            quarterly(
                sym,
                N_Q,
                shares_outstanding=_yearly(rate),
                cash=cash,
                operating_cash_flow=ocf,
                capital_expenditure=5.0,
                revenue=50.0,
            )
        )
    inp = inputs(
        [*base.companies.to_dicts(), company("LOW"), company("HIGH")],
        fundamentals=[base.fundamentals, *twins],
        prices=[base.prices, daily("LOW"), daily("HIGH")],
    )
    out = compute_scores(inp, AS_OF)
    lo, hi = row(out, "LOW"), row(out, "HIGH")
    assert hi["dilution_risk.share_growth_1y"] > lo["dilution_risk.share_growth_1y"]
    assert hi["dilution_risk"] >= lo["dilution_risk"]
    assert hi["dilution_risk_pct"] >= lo["dilution_risk_pct"]
    assert out.filter(pl.col("symbol").is_in(["LOW", "HIGH"]))["dilution_risk"].is_finite().all()
    assert not math.isnan(hi["dilution_risk"])


def _twin_capex(revenue_q: float) -> float:
    """capex_intensity of a company with USD 10m market cap and 400k TTM capex, at a given quarterly revenue."""
    base = universe(4)
    fund = quarterly(
        "T", N_Q, shares_outstanding=1e6, cash=1e6, operating_cash_flow=-1e5, capital_expenditure=1e5, revenue=revenue_q
    )
    inp = inputs(
        [*base.companies.to_dicts(), company("T")],
        fundamentals=[base.fundamentals, fund],
        prices=[base.prices, daily("T", close=10.0)],
    )
    return row(compute_scores(inp, AS_OF), "T")["dilution_risk.capex_intensity"]


def test_capex_intensity_has_no_unit_switch_at_zero_revenue() -> None:
    # twins: no revenue, and one dollar of TTM revenue (0.25 a quarter); the old ratio jumped from 0.04 to 400,000
    none, one_dollar = _twin_capex(0.0), _twin_capex(0.25)
    assert none == pytest.approx(4e5 / 1e7, rel=1e-12)
    assert one_dollar == pytest.approx(4e5 / (1e7 + 1.0), rel=1e-12)
    assert abs(one_dollar - none) < 1e-8


@settings(max_examples=25, deadline=None)
@given(capex=st.floats(min_value=0.0, max_value=1e9), mcap=st.floats(min_value=1.0, max_value=1e12))
def test_capex_intensity_is_continuous_in_revenue(capex: float, mcap: float) -> None:
    from factors.library.dilution_risk import capex_intensity

    f = pl.DataFrame({"c": [capex] * 3, "r": [None, 0.0, 1.0], "m": [mcap] * 3})
    got = f.select(capex_intensity(pl.col("c"), pl.col("r"), pl.col("m"))).to_series().to_list()
    assert got[0] == got[1]
    assert abs(got[2] - got[1]) <= capex / (mcap * (mcap + 1.0)) * (1 + 1e-9) + 1e-12  # one dollar's worth


def test_funding_gap_components_land_in_score_rows() -> None:
    base = universe(4)
    ev = pl.DataFrame(
        {
            "symbol": ["DEV", "DEV", "DEV", "DEV"],
            "date": [AS_OF - timedelta(days=200)] * 2 + [AS_OF - timedelta(days=100)] * 2,
            "kind": ["capacity", "capacity", "funding", "funding"],
            "project": ["jv-plant", "dead-plant", "jv-plant", None],
            "amount_usd": [800.0, 5000.0, 100.0, 50.0],
            "equity_share": [0.5, 1.0, None, None],
            "status": ["active", "cancelled", None, None],
            "target_year": [2028, 2028, None, None],
            "direction": [None, None, "receives", "receives"],
            "binding": [None, None, True, False],
            "description": ["a", "b", "c", "d"],
        }
    )
    fund = quarterly(
        "DEV", N_Q, shares_outstanding=1000.0, cash=100.0, operating_cash_flow=-10.0, capital_expenditure=0.0
    )
    inp = inputs(
        [*base.companies.to_dicts(), company("DEV", stage="developer")],
        fundamentals=[base.fundamentals, fund],
        prices=[base.prices, daily("DEV", close=1.0)],
        events_=ev,
    )
    dev = row(compute_scores(inp, AS_OF), "DEV")
    assert dev["dilution_risk.remaining_capex_usd"] == pytest.approx(400.0)  # half of the JV; cancelled ignored
    assert dev["dilution_risk.funding_gap_usd"] == pytest.approx(400.0 - 100.0 - 100.0)  # non-binding: no
    assert 0 < dev["dilution_risk.months_to_raise"] < 12 * 100 / 40
    assert not any("dilution_risk" in f for f in dev["flags"])


def test_unknown_cash_leaves_the_forecast_unknown_and_no_raise_needed_is_the_cap() -> None:
    base = universe(4)
    nocash = quarterly("NOCASH", N_Q, shares_outstanding=1000.0, operating_cash_flow=-10.0, capital_expenditure=0.0)
    rich = quarterly(
        "RICH", N_Q, shares_outstanding=1000.0, cash=10.0, operating_cash_flow=10.0, capital_expenditure=0.0
    )
    inp = inputs(
        [*base.companies.to_dicts(), company("NOCASH"), company("RICH")],
        fundamentals=[base.fundamentals, nocash, rich],
        prices=[base.prices, daily("NOCASH", close=1.0), daily("RICH", close=1.0)],
    )
    out = compute_scores(inp, AS_OF)
    unknown, rich_row = row(out, "NOCASH"), row(out, "RICH")
    assert unknown["dilution_risk.funding_gap_usd"] is None and unknown["dilution_risk.months_to_raise"] is None
    assert "imputed:dilution_risk.months_to_raise" in unknown["flags"]  # unknown, said so; never a zero
    assert rich_row["dilution_risk.months_to_raise"] == 12 * P["max_runway_years"]
    assert rich_row["dilution_risk.funding_gap_usd"] == pytest.approx(-10.0)
