"""localization_premium: enablers over pure miners, allied footprint, government backing, capacity pipeline."""

from __future__ import annotations

import math
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from factors.engine import compute_scores
from factors.registry import get_factor
from tests.builders import AS_OF, company, daily, events, inputs, quarterly, row

P = get_factor("localization_premium").params


def _value(role: float, allied: float, gov: float, cap: float) -> float:
    w = P["weights"]
    return (
        w["role_exposure"] * role
        + w["allied_footprint"] * allied
        + w["gov_backing"] * (1 - math.exp(-gov / P["gov_scale"]))
        + w["capacity_pipeline"] * (1 - math.exp(-cap / P["capacity_scale"]))
    )


def test_hand_computed_components_and_value() -> None:
    comps = [
        company("ENAB", roles="processor;magnet_maker", gov_backing="doe_loan"),
        company("MINE", roles="miner", country="CN"),
        company("DOWN", roles="downstream_user", segment="ev_auto"),
        company("INTG", roles="miner;processor", country="BR"),
    ]
    fund = quarterly("ENAB", 4, shares_outstanding=1e8)
    ev = events(
        {"symbol": "ENAB", "date": AS_OF - timedelta(days=730), "kind": "funding", "amount_usd": 1e8},
        {
            "symbol": "ENAB",
            "date": AS_OF - timedelta(days=400),
            "kind": "capacity",
            "stage": "announced",
            "capacity_tpa": 2000.0,
            "target_year": AS_OF.year + 2,
        },
        {
            "symbol": "ENAB",
            "date": AS_OF - timedelta(days=100),
            "kind": "capacity",
            "stage": "funded",
            "capacity_tpa": 2000.0,
            "target_year": AS_OF.year + 2,
        },
        {"symbol": "ENAB", "date": AS_OF - timedelta(days=50), "kind": "permit"},
        {"symbol": "*", "date": AS_OF - timedelta(days=5), "kind": "funding"},
        {"symbol": "MINE", "date": AS_OF - timedelta(days=10), "kind": "capacity", "stage": "production"},
    )
    out = compute_scores(inputs(comps, fundamentals=[fund], prices=[daily("ENAB", close=10.0)], events_=ev), AS_OF)
    e = row(out, "ENAB")
    gov = 1.0 + 0.5 ** ((730 / 365.25) / 2.0)
    cap = 2000 * 0.4 / 1.15**2 / (1e8 * 10.0 / 1e9)  # funded stage counts once, announced is the same project
    assert e["localization_premium.role_exposure"] == 1.0
    assert e["localization_premium.allied_footprint"] == 1.0
    assert math.isclose(e["localization_premium.gov_backing"], gov, rel_tol=1e-12)
    assert math.isclose(e["localization_premium.capacity_pipeline"], cap, rel_tol=1e-12)
    assert math.isclose(e["localization_premium"], _value(1.0, 1.0, gov, cap), rel_tol=1e-12)
    m = row(out, "MINE")  # capacity event without a tonnage cannot be sized: pipeline 0, not missing
    assert (m["localization_premium.role_exposure"], m["localization_premium.allied_footprint"]) == (0.0, 0.0)
    assert m["localization_premium.capacity_pipeline"] == 0.0 and m["localization_premium"] == 0.0
    d = row(out, "DOWN")
    assert d["localization_premium"] == -0.4 + 0.2
    i = row(out, "INTG")
    assert i["localization_premium.role_exposure"] == 0.5
    assert i["localization_premium.allied_footprint"] == 0.5  # Brazil: region 'other'
    assert [r["symbol"] for r in out.sort("localization_premium", descending=True).iter_rows(named=True)] == [
        "ENAB",
        "INTG",
        "MINE",
        "DOWN",
    ]
    assert row(out, "ENAB")["localization_premium_pct"] == 1.0 and d["localization_premium_pct"] == 0.0


def test_capacity_without_market_cap_is_neutral_and_flagged() -> None:
    ev = events(
        {
            "symbol": "A",
            "date": AS_OF - timedelta(days=10),
            "kind": "capacity",
            "stage": "production",
            "capacity_tpa": 1000.0,
            "target_year": AS_OF.year,
        }
    )
    comps = [company("A"), company("B"), company("C"), company("D")]
    prices = [daily(s) for s in "BCD"]
    funds = [quarterly(s, 4, shares_outstanding=1e9) for s in "BCD"]
    out = compute_scores(inputs(comps, fundamentals=funds, prices=prices, events_=ev), AS_OF)
    a = row(out, "A")
    assert a["localization_premium.capacity_pipeline"] is None
    assert "neutral:localization_premium.capacity_pipeline" in a["flags"]
    assert a["localization_premium"] == row(out, "B")["localization_premium"]  # median pipeline of peers is 0


@settings(max_examples=25, deadline=None)
@given(
    enabler=st.sampled_from(["processor", "magnet_maker", "recycler", "chemicals_tolling", "equipment_supplier"]),
    country=st.sampled_from(["US", "JP", "KR", "AU", "FR", "CN", "BR"]),
    gov=st.sampled_from([None, "doe_loan", "dod_offtake;jogmec"]),
    stage=st.sampled_from(["producer", "developer", "explorer"]),
    n_events=st.integers(min_value=0, max_value=3),
)
def test_enabler_twin_beats_pure_miner_twin(
    enabler: str, country: str, gov: str | None, stage: str, n_events: int
) -> None:
    twins = [
        company(s, roles=r, country=country, gov_backing=gov, stage=stage)
        for s, r in (("ENB", enabler), ("MIN", "miner"))
    ]
    ev = (
        events(
            *[
                {"symbol": s, "date": AS_OF - timedelta(days=100 * (k + 1)), "kind": "offtake"}
                for s in ("ENB", "MIN")
                for k in range(n_events)
            ]
        )
        if n_events
        else None
    )
    prices = [daily(s) for s in ("ENB", "MIN")]
    funds = [quarterly(s, 4, shares_outstanding=1e7) for s in ("ENB", "MIN")]
    out = compute_scores(inputs(twins, fundamentals=funds, prices=prices, events_=ev), AS_OF)
    assert row(out, "ENB")["localization_premium"] > row(out, "MIN")["localization_premium"]
    integrated = compute_scores(
        inputs([*twins, company("INT", roles=f"miner;{enabler}", country=country, gov_backing=gov, stage=stage)]), AS_OF
    )
    values = {r["symbol"]: r["localization_premium"] for r in integrated.iter_rows(named=True)}
    assert values["ENB"] > values["INT"] > values["MIN"]
