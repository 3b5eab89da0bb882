"""localization_premium: best enabler role times exposure, allied footprint, government backing received, a capacity
ledger counted once per project, less downstream-user and setback penalties.

Most tests are twins: two companies that differ in one thing, so the assertion is about that thing alone.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from factors.engine import compute_scores
from factors.library.localization_premium import UNIT_TO_NDPR
from factors.registry import get_factor
from tests.builders import AS_OF, company, daily, inputs, quarterly, row

P = get_factor("localization_premium").params
W = P["weights"]
F = "localization_premium"


def ev(*rows: dict[str, Any]) -> pl.DataFrame | None:
    """Events from partial rows (the contract fills defaults); a description per row keeps them distinct."""
    return pl.DataFrame([{"description": f"event {i}", **r} for i, r in enumerate(rows)], infer_schema_length=None)


def cap(sym: str, days: int = 30, **kw: Any) -> dict[str, Any]:
    out = {"symbol": sym, "date": AS_OF - timedelta(days=days), "kind": "capacity", "unit": "ndpr_oxide"}
    return {**out, **kw}


def gov(sym: str, days: int = 30, **kw: Any) -> dict[str, Any]:
    out = {
        "symbol": sym,
        "date": AS_OF - timedelta(days=days),
        "kind": "funding",
        "counterparty_type": "government",
        "direction": "receives",
        "binding": True,
    }
    return {**out, **kw}


def score(comps: list[dict[str, Any]], rows: list[dict[str, Any]] = (), *, priced: bool = False) -> pl.DataFrame:  # type: ignore[assignment]
    syms = [c["symbol"] for c in comps]
    kw: dict[str, Any] = {"events_": ev(*rows) if rows else None}
    if priced:  # USD 1bn market cap each: 1e8 shares at 10
        kw |= {
            "fundamentals": [quarterly(s, 4, shares_outstanding=1e8) for s in syms],
            "prices": [daily(s) for s in syms],
        }
    return compute_scores(inputs(comps, **kw), AS_OF)


def twins(rows_a: list[dict[str, Any]], rows_b: list[dict[str, Any]], **kw: Any) -> tuple[dict, dict]:  # type: ignore[type-arg]
    """Two otherwise identical processors (exposure 1), A with ``rows_a`` and B with ``rows_b`` (symbols A/B)."""
    comps = [company(s, exposure=kw.pop(f"exposure_{s}", 1.0), **kw) for s in ("A", "B")]
    out = score(comps, [*rows_a, *rows_b], priced=True)
    return row(out, "A"), row(out, "B")


def test_hand_computed_components_and_value() -> None:
    comps = [
        company("ENAB", roles="processor;magnet_maker", exposure=0.8),
        company("MINE", roles="miner", country="CN", exposure=1.0),
        company("DOWN", roles="downstream_user", segment="ev_auto", exposure=0.01),
        company("TDKL", roles="magnet_maker;downstream_user", country="JP", exposure=0.05),
        company("NOEX", roles="miner;processor", country="BR"),
    ]
    rows = [
        gov("ENAB", days=730, amount_usd=1e8),  # binding, 10% of cap: size 0.4
        gov("ENAB", days=0, binding=False, amount_usd=5e8),  # a letter, however large, counts 0.2
        gov("ENAB", days=0, direction="pays", amount_usd=5e8),  # money it spends: nothing
        cap("ENAB", days=400, project="p", stage="announced", capacity_tpa=2000.0, unit="treo", target_year=2028),
        cap("ENAB", days=100, project="p", stage="funded", capacity_tpa=2000.0, unit="treo", target_year=2028),
        {"symbol": "ENAB", "date": AS_OF - timedelta(days=50), "kind": "permit", "project": "p"},
        {"symbol": "*", "date": AS_OF - timedelta(days=5), "kind": "funding"},
        {"symbol": "TDKL", "date": AS_OF - timedelta(days=730), "kind": "setback"},
    ]
    out = score(comps, rows, priced=True)
    e = row(out, "ENAB")
    gov_v = (0.5 + 0.5 * 0.4) * 0.5 ** (730 / 365.25 / 2.0) + 0.2 * 1.0
    # one project at its funded stage, TREO -> NdPr 0.2, due by the end of 2028, confirmed by the permit 50 days ago
    years = (date(2028, 12, 31) - AS_OF).days / 365.25
    cap_t = 2000 * UNIT_TO_NDPR["treo"] * 0.4 / 1.15**years * 0.5 ** (50 / 365.25 / 2.0)
    cap_s = math.log(1 + cap_t / 100.0) / math.log(1 + 5000.0 / 100.0)
    assert (e[f"{F}.role_exposure"], e[f"{F}.exposure"], e[f"{F}.downstream_penalty"]) == (1.0, 0.8, 0.0)
    assert e[f"{F}.allied_footprint"] == 1.0 and e[f"{F}.setbacks"] == 0.0
    assert math.isclose(e[f"{F}.gov_backing"], gov_v, rel_tol=1e-12)
    assert math.isclose(e[f"{F}.capacity_pipeline"], cap_t, rel_tol=1e-12)
    want = 0.4 * 0.8 + 0.2 + 0.2 * (1 - math.exp(-gov_v)) + 0.2 * cap_s
    assert math.isclose(e[F], want, rel_tol=1e-12)
    m = row(out, "MINE")
    assert m[F] == 0.0 and m[f"{F}.capacity_pipeline"] == 0.0
    d = row(out, "DOWN")
    assert (d[f"{F}.role_exposure"], d[f"{F}.downstream_penalty"]) == (0.0, 1.0)
    assert math.isclose(d[F], -0.2 + 0.2, abs_tol=1e-15)
    t = row(out, "TDKL")
    setback = 0.5 ** (730 / 365.25 / 2.0)
    assert t[f"{F}.role_exposure"] == 1.0 and math.isclose(t[f"{F}.setbacks"], setback, rel_tol=1e-12)
    assert math.isclose(t[F], 0.4 * 0.05 - 0.2 + 0.2 - 0.1 * (1 - math.exp(-setback)), rel_tol=1e-12)
    n = row(out, "NOEX")  # no exposure stated: the cross-sectional median (0.05 of 0.8, 1.0, 0.01, 0.05), flagged
    assert n[f"{F}.exposure"] is None and f"neutral:{F}.exposure" in n["flags"]
    assert math.isclose(n[F], 0.4 * 1.0 * 0.425 + 0.2 * 0.5, rel_tol=1e-12)


def test_no_stated_exposure_anywhere_uses_the_default() -> None:
    out = score([company("A"), company("B", roles="miner")])
    assert math.isclose(row(out, "A")[F], 0.4 * P["exposure_default"] + 0.2, rel_tol=1e-12)
    assert f"neutral:{F}.exposure" in row(out, "A")["flags"]


# -- 1. one plant counted once -------------------------------------------------------------------------------------
def test_narva_like_project_counts_once_across_construction_and_commissioning() -> None:
    later = {
        "project": "narva",
        "stage": "commissioning",
        "capacity_tpa": 2000.0,
        "unit": "magnet",
        "target_year": 2026,
    }
    a, b = twins(
        [
            cap("A", days=1000, project="narva", stage="construction", capacity_tpa=2000.0, unit="magnet"),
            cap("A", **later),
        ],
        [cap("B", **later)],
    )
    assert math.isclose(a[f"{F}.capacity_pipeline"], b[f"{F}.capacity_pipeline"], rel_tol=1e-12)
    assert math.isclose(a[F], b[F], rel_tol=1e-12)


def test_joint_venture_is_credited_by_equity_share() -> None:
    plant = {"project": "jv", "stage": "funded", "capacity_tpa": 3000.0, "unit": "treo", "target_year": 2028}
    a, b = twins([cap("A", **plant, equity_share=0.5)], [cap("B", **plant)])
    assert math.isclose(a[f"{F}.capacity_pipeline"], b[f"{F}.capacity_pipeline"] / 2, rel_tol=1e-12)
    assert a[F] < b[F]


# -- 2. producing capacity counts ----------------------------------------------------------------------------------
def test_production_counts_more_than_an_announcement() -> None:
    a, b = twins(
        [
            {
                "symbol": "A",
                "date": AS_OF - timedelta(days=30),
                "kind": "production_start",
                "project": "p",
                "capacity_tpa": 1000.0,
                "unit": "ndpr_oxide",
            }
        ],
        [cap("B", project="p", stage="announced", capacity_tpa=1000.0, target_year=AS_OF.year + 1)],
    )
    assert a[f"{F}.capacity_pipeline"] == 1000.0
    assert a[F] > b[F]


# -- 3. slipped, missing-target, cancelled and suspended projects --------------------------------------------------
def test_slipped_project_scores_below_a_fresh_one() -> None:
    slipped = cap("A", project="p", stage="announced", capacity_tpa=1000.0, target_year=2023)
    slipped["date"] = date(2022, 3, 1)
    a, b = twins([slipped], [cap("B", days=30, project="p", stage="announced", capacity_tpa=1000.0, target_year=2027)])
    assert a[f"{F}.capacity_pipeline"] < b[f"{F}.capacity_pipeline"] and a[F] < b[F]


def test_missing_target_year_is_judged_from_the_stage() -> None:
    """Freshly announced: five years out; fresh construction: two years out (not a constant three for both)."""
    for stage, years in (("announced", 5), ("construction", 2)):
        a, _ = twins([cap("A", days=0, project="p", stage=stage, capacity_tpa=1000.0)], [])
        stage_w = P["capacity_stage_weights"][stage]
        want = 1000.0 * stage_w * 1.15**-years  # fresh: no decay; the stage's typical lead time, not a constant
        assert math.isclose(a[f"{F}.capacity_pipeline"], want, rel_tol=1e-12), stage


def test_cancelled_project_counts_zero() -> None:
    plant = cap("A", days=300, project="p", stage="construction", capacity_tpa=1000.0, target_year=2027)
    a, b = twins([plant, cap("A", days=100, project="p", status="cancelled")], [])
    assert a[f"{F}.capacity_pipeline"] == 0.0 and a[F] == b[F]


def test_suspended_counts_zero_until_reactivated() -> None:
    plant = {"days": 300, "project": "p", "stage": "construction", "capacity_tpa": 1000.0, "target_year": 2027}
    suspended = {"days": 100, "project": "p", "status": "suspended"}
    a, b = twins(
        [cap("A", **plant), cap("A", **suspended)],
        [cap("B", **plant), cap("B", **suspended), cap("B", days=20, project="p", status="active")],
    )
    assert a[f"{F}.capacity_pipeline"] == 0.0 < b[f"{F}.capacity_pipeline"]
    assert a[F] < b[F]


# -- 4. government ledger ------------------------------------------------------------------------------------------
def test_non_binding_letter_counts_less_than_a_binding_loan() -> None:
    a, b = twins([gov("A", binding=False, amount_usd=1e8)], [gov("B", binding=True, amount_usd=1e8)])
    assert a[f"{F}.gov_backing"] < b[f"{F}.gov_backing"] and a[F] < b[F]


def test_money_the_company_pays_is_no_backing() -> None:
    a, b = twins([gov("A", direction="pays", amount_usd=5e8)], [])
    assert a[f"{F}.gov_backing"] == 0.0 and a[F] == b[F]


def test_private_counterparty_is_no_government_backing() -> None:
    a, b = twins([gov("A", counterparty_type="private", amount_usd=5e8)], [])
    assert a[f"{F}.gov_backing"] == 0.0 and a[F] == b[F]


def test_setback_lowers_the_score() -> None:
    a, b = twins([{"symbol": "A", "date": AS_OF - timedelta(days=30), "kind": "setback"}], [])
    assert a[f"{F}.setbacks"] > 0 and a[F] < b[F]


def test_gov_backing_tags_are_not_an_input() -> None:
    a, b = twins([], [], gov_backing=None)
    c, d = twins([], [], gov_backing="doe_loan;dod_offtake")
    assert a[F] == c[F] and b[F] == d[F]
    assert "gov_backing" not in get_factor(F).needs


@settings(max_examples=25, deadline=None)
@given(
    amount=st.one_of(st.none(), st.floats(0.0, 5e9)),
    binding=st.sampled_from([True, False, None]),
    cp=st.sampled_from(["government", "private", None]),
    days=st.integers(0, 2000),
    kind=st.sampled_from(["funding", "offtake", "policy"]),
)
def test_adding_a_pays_event_never_raises_the_score(
    amount: float | None, binding: bool | None, cp: str | None, days: int, kind: str
) -> None:
    base = [gov("A", days=400, amount_usd=2e8), gov("B", days=400, amount_usd=2e8)]
    paid = gov("A", days=days, kind=kind, direction="pays", binding=binding, counterparty_type=cp, amount_usd=amount)
    a, b = twins([base[0], paid], [base[1]])
    assert a[F] <= b[F]


# -- 5. role exposure and business exposure ------------------------------------------------------------------------
def test_tdk_like_magnet_maker_and_user_beats_a_pure_miner() -> None:
    comps = [
        company("TDK", roles="magnet_maker;downstream_user", exposure=1.0),
        company("MIN", roles="miner", exposure=1.0),
    ]
    out = score(comps)
    assert row(out, "TDK")[F] > row(out, "MIN")[F]
    assert row(out, "TDK")[f"{F}.role_exposure"] == 1.0 and row(out, "TDK")[f"{F}.downstream_penalty"] == 1.0


def test_pure_play_enabler_beats_an_enabler_conglomerate() -> None:
    a, b = twins([], [], exposure_A=0.9, exposure_B=0.05)
    assert a[F] > b[F]


def test_integrated_miner_processor_counts_as_its_best_role() -> None:
    out = score([company("INT", roles="miner;processor", exposure=1.0), company("PRO", exposure=1.0)])
    assert row(out, "INT")[F] == row(out, "PRO")[F]


@settings(max_examples=25, deadline=None)
@given(
    enabler=st.sampled_from(["processor", "magnet_maker", "recycler", "chemicals_tolling", "equipment_supplier"]),
    country=st.sampled_from(["US", "JP", "KR", "AU", "FR", "CN", "BR"]),
    exposure=st.floats(0.01, 1.0),
    stage=st.sampled_from(["producer", "developer", "explorer"]),
)
def test_enabler_twin_beats_pure_miner_twin(enabler: str, country: str, exposure: float, stage: str) -> None:
    twins_ = [
        company(s, roles=r, country=country, exposure=exposure, stage=stage)
        for s, r in (("ENB", enabler), ("MIN", "miner"))
    ]
    out = score(twins_)
    assert row(out, "ENB")[F] > row(out, "MIN")[F]
