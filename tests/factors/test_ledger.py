"""factors.ledger: one row per project at its latest stage and stake; government backing only when received."""

from __future__ import annotations

import functools
import math
import operator
from datetime import date, timedelta
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from factors.inputs import FactorInputs
from factors.ledger import (
    binding_offtakes,
    capacity_ledger,
    government_ledger,
    risked_capacity,
    setback_ledger,
)
from factors.registry import get_factor
from screener.contract import CAPACITY_STAGES
from tests.builders import AS_OF, companies, company

P = get_factor("localization_premium").params


def ev(*rows: dict[str, Any]) -> pl.DataFrame:
    """Contract-shaped events (defaults applied) from partial rows; every row needs symbol, date and kind."""
    full = [{"description": f"event {i}", **r} for i, r in enumerate(rows)]
    frame = pl.DataFrame(full, infer_schema_length=None)
    return FactorInputs(companies=companies(company("X")), events=frame).events


def cap(sym: str = "A", days: int = 30, **kw: Any) -> dict[str, Any]:
    row = {"symbol": sym, "date": AS_OF - timedelta(days=days), "kind": "capacity", "unit": "ndpr_oxide"}
    row.update(kw)
    return row


def risked(frame: pl.DataFrame, as_of: date = AS_OF) -> dict[str, float]:
    return dict(risked_capacity(capacity_ledger(frame, as_of, P)).iter_rows())


def test_narva_like_project_counts_once_at_latest_stage() -> None:
    frame = ev(
        cap(days=1000, project="narva", stage="construction", capacity_tpa=2000.0, unit="magnet"),
        cap(days=200, project="narva", stage="commissioning", capacity_tpa=2000.0, unit="magnet", target_year=2026),
    )
    ledger = capacity_ledger(frame, AS_OF, P)
    assert ledger.height == 1
    r = ledger.row(0, named=True)
    assert (r["stage"], r["target_year"], r["ndpr_tpa"]) == ("commissioning", 2026, 600.0)
    conf = 0.5 ** (200 / 365.25 / 2.0)
    years = (date(2026, 12, 31) - AS_OF).days / 365.25  # due by the end of its target year
    assert math.isclose(r["risked_tpa"], 600.0 * 0.8 * conf * 1.15**-years, rel_tol=1e-12)


def test_old_files_without_project_fold_by_unit_and_tonnage() -> None:
    frame = ev(
        cap(days=400, stage="announced", capacity_tpa=1000.0, target_year=2028),
        cap(days=100, stage="funded", capacity_tpa=1000.0, target_year=2029),
        cap(days=100, stage="announced", capacity_tpa=500.0, target_year=2029),
    )
    ledger = capacity_ledger(frame, AS_OF, P)
    assert ledger.height == 2
    assert ledger.filter(pl.col("capacity_tpa") == 1000.0)["stage"].item() == "funded"


def test_joint_venture_is_credited_by_equity_share() -> None:
    full = risked(ev(cap(project="jv", stage="funded", capacity_tpa=3000.0, target_year=2028)))["A"]
    half = risked(ev(cap(project="jv", stage="funded", capacity_tpa=3000.0, target_year=2028, equity_share=0.5)))["A"]
    assert math.isclose(half, full / 2, rel_tol=1e-12)


def test_production_start_counts_in_full_without_decay() -> None:
    frame = ev(
        cap(days=2000, project="p", stage="construction", capacity_tpa=1000.0, target_year=2021),
        {"symbol": "A", "date": AS_OF - timedelta(days=1500), "kind": "production_start", "project": "p"},
    )
    r = capacity_ledger(frame, AS_OF, P).row(0, named=True)
    assert (r["stage"], r["overdue_years"], r["risked_tpa"]) == ("production", 0.0, 1000.0)


def test_cancelled_and_suspended_count_nothing_until_reactivated() -> None:
    base = cap(days=300, project="p", stage="construction", capacity_tpa=1000.0, target_year=2027)
    assert risked(ev(base, cap(days=100, project="p", status="cancelled")))["A"] == 0.0
    assert risked(ev(base, cap(days=100, project="p", status="suspended")))["A"] == 0.0
    # an event that states no status does not revive a suspended project; one that states active does
    unstated = risked(ev(base, cap(days=100, project="p", status="suspended"), cap(days=50, project="p")))["A"]
    assert unstated == 0.0
    revived = risked(
        ev(base, cap(days=100, project="p", status="suspended"), cap(days=50, project="p", status="active"))
    )["A"]
    delayed = risked(
        ev(base, cap(days=100, project="p", status="suspended"), cap(days=50, project="p", status="delayed"))
    )
    assert revived > 0 and math.isclose(delayed["A"], revived * P["delayed_discount"], rel_tol=1e-12)


def test_missing_target_year_is_judged_from_stage_and_age() -> None:
    frame = ev(
        cap("A", days=0, project="a", stage="announced", capacity_tpa=100.0),
        cap("B", days=0, project="b", stage="construction", capacity_tpa=100.0),
        cap("C", days=730, project="c", stage="announced", capacity_tpa=100.0),
        cap("D", days=round(10 * 365.25), project="d", stage="announced", capacity_tpa=100.0),
    )
    years = dict(capacity_ledger(frame, AS_OF, P).select("symbol", "years_to_production").iter_rows())
    assert years["A"] == 5.0 and years["B"] == 2.0
    assert math.isclose(years["C"], 5.0 - 730 / 365.25, rel_tol=1e-12)
    assert years["D"] == P["min_years_to_production"]


def test_slipped_target_year_is_penalised() -> None:
    # announced in 2022 for 2023, never built, as of 2026: three years overdue and four years unconfirmed
    slipped = cap("OLD", project="o", stage="announced", capacity_tpa=1000.0, target_year=2023)
    slipped["date"] = date(2022, 3, 1)
    fresh = cap("NEW", days=30, project="n", stage="announced", capacity_tpa=1000.0, target_year=2027)
    out = capacity_ledger(ev(slipped, fresh), AS_OF, P)
    o = out.filter(pl.col("symbol") == "OLD").row(0, named=True)
    overdue = (AS_OF - date(2023, 12, 31)).days / 365.25  # due by the end of 2023
    assert math.isclose(o["overdue_years"], overdue, rel_tol=1e-12)
    want = 100.0 * 0.5 ** (overdue / 1.0) * 0.5 ** ((AS_OF - date(2022, 3, 1)).days / 365.25 / 2.0)
    assert math.isclose(o["risked_tpa"], want, rel_tol=1e-12)
    assert o["risked_tpa"] < out.filter(pl.col("symbol") == "NEW")["risked_tpa"].item()


def test_units_convert_to_ndpr_oxide_equivalent() -> None:
    rows = [cap(u, project=u, stage="production", capacity_tpa=1000.0, unit=u) for u in P["unit_to_ndpr"]]
    got = dict(capacity_ledger(ev(*rows), AS_OF, P).select("symbol", "ndpr_tpa").iter_rows())
    assert got == {u: 1000.0 * f for u, f in P["unit_to_ndpr"].items()}


@settings(max_examples=40, deadline=None)
@given(
    shares=st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)),
    stages=st.tuples(st.sampled_from(CAPACITY_STAGES), st.sampled_from(CAPACITY_STAGES)),
    target=st.one_of(st.none(), st.integers(2020, 2032)),
    days=st.integers(0, 3000),
)
def test_capacity_is_monotone_in_equity_share_and_stage(
    shares: tuple[float, float], stages: tuple[str, str], target: int | None, days: int
) -> None:
    lo_share, hi_share = sorted(shares)
    lo_stage, hi_stage = sorted(stages, key=CAPACITY_STAGES.index)

    def one(share: float, stage: str) -> float:
        row = cap(days=days, project="p", stage=stage, capacity_tpa=1000.0, equity_share=share, target_year=target)
        return risked(ev(row))["A"]

    assert one(lo_share, hi_stage) <= one(hi_share, hi_stage) + 1e-12
    assert one(hi_share, lo_stage) <= one(hi_share, hi_stage) + 1e-12


# -- government ledger ---------------------------------------------------------------------------------------------
MCAP = pl.DataFrame({"symbol": ["A", "B"], "market_cap_usd": [1e9, 1e9]})


def gov(sym: str = "A", days: int = 0, **kw: Any) -> dict[str, Any]:
    row = {
        "symbol": sym,
        "date": AS_OF - timedelta(days=days),
        "kind": "funding",
        "counterparty_type": "government",
        "direction": "receives",
        "binding": True,
    }
    row.update(kw)
    return row


def backing(*rows: dict[str, Any]) -> float:
    out = dict(government_ledger(ev(*rows), MCAP, AS_OF, P).iter_rows())
    return out.get("A", 0.0)


def test_government_backing_hand_computed() -> None:
    got = backing(gov(days=round(365.25), amount_usd=1e8), gov(binding=False, amount_usd=5e8))
    loan = 1.0 * (0.5 + 0.5 * (0.1 / 0.25)) * 0.5 ** (round(365.25) / 365.25 / 2.0)
    letter = 0.2 * (0.5 + 0.5 * 1.0)
    assert math.isclose(got, loan + letter, rel_tol=1e-12)


def test_non_binding_letter_counts_less_than_binding_loan() -> None:
    assert backing(gov(binding=False, amount_usd=1e8)) < backing(gov(binding=True, amount_usd=1e8))
    assert backing(gov(binding=None, amount_usd=1e8)) == backing(gov(binding=False, amount_usd=1e8))


def test_paying_or_private_counterparty_is_no_backing() -> None:
    assert backing(gov(direction="pays", amount_usd=1e9)) == 0.0
    assert backing(gov(counterparty_type="private", amount_usd=1e9)) == 0.0
    assert backing(gov(direction=None)) == 0.0


def test_bigger_backing_relative_to_market_cap_counts_more() -> None:
    assert backing(gov(amount_usd=1e7)) < backing(gov(amount_usd=2.5e8)) == backing(gov(amount_usd=5e9))


def test_setbacks_decay_with_age() -> None:
    frame = ev(
        {"symbol": "A", "date": AS_OF, "kind": "setback"},
        {"symbol": "A", "date": AS_OF - timedelta(days=round(2 * 365.25)), "kind": "setback"},
        {"symbol": "B", "date": AS_OF, "kind": "funding"},
    )
    got = dict(setback_ledger(frame, AS_OF, 2.0).iter_rows())
    assert list(got) == ["A"] and math.isclose(got["A"], 1 + 0.5 ** (730 / 365.25 / 2), rel_tol=1e-12)


def test_binding_offtakes_need_receives_and_binding() -> None:
    frame = ev(
        {"symbol": "A", "date": AS_OF, "kind": "offtake", "direction": "receives", "binding": True},
        {"symbol": "B", "date": AS_OF, "kind": "offtake", "direction": "pays", "binding": True},
        {"symbol": "C", "date": AS_OF, "kind": "offtake", "direction": "receives", "binding": False},
        {"symbol": "D", "date": AS_OF, "kind": "offtake"},
    )
    assert dict(binding_offtakes(frame, AS_OF, ["offtake"], 3.0).iter_rows()) == {"A": 1.0}


def test_a_partners_later_row_without_a_stake_keeps_its_stated_share() -> None:
    # review case: a 50/50 plant whose production_start rows state no stake must stay 50% each, not 100% each
    rows = [
        cap(s, days=300, project="jv", stage="construction", capacity_tpa=1000.0, equity_share=0.5) for s in ("A", "B")
    ]
    rows += [
        {"symbol": s, "date": AS_OF - timedelta(days=10), "kind": "production_start", "project": "jv"} for s in "AB"
    ]
    ledger = capacity_ledger(ev(*rows), AS_OF, P)
    assert ledger.select("symbol", "stage", "equity_share", "ndpr_tpa").rows() == [
        ("A", "production", 0.5, 500.0),
        ("B", "production", 0.5, 500.0),
    ]


def test_a_stated_delay_survives_a_later_row_that_states_no_status() -> None:
    base = cap(days=300, project="p", stage="construction", capacity_tpa=1000.0, target_year=2028, status="delayed")
    restated = cap(days=100, project="p", stage="construction", capacity_tpa=1000.0, target_year=2028)
    assert capacity_ledger(ev(base, restated), AS_OF, P)["status"].to_list() == ["delayed"]


def test_one_day_late_costs_a_days_slippage_not_a_years() -> None:
    row = cap(days=30, project="p", stage="construction", capacity_tpa=1000.0, target_year=2026)
    last_day = risked(ev(row), date(2026, 12, 31))["A"]
    next_day = risked(ev(row), date(2027, 1, 1))["A"]
    assert next_day < last_day and next_day > 0.99 * last_day


def test_a_plant_restated_with_its_unit_is_the_same_plant_as_without() -> None:
    first = cap(days=300, stage="announced", capacity_tpa=1000.0, unit=None)
    second = cap(days=100, stage="funded", capacity_tpa=1000.0, unit=P["capacity_default_unit"])
    assert capacity_ledger(ev(first, second), AS_OF, P).height == 1


def test_a_cancelled_government_commitment_is_no_backing() -> None:
    loan = {
        "symbol": "A",
        "date": AS_OF - timedelta(days=30),
        "kind": "funding",
        "counterparty": "US DOE",
        "counterparty_type": "government",
        "direction": "receives",
        "binding": True,
        "amount_usd": 4e8,
    }
    mcap = pl.DataFrame({"symbol": ["A"], "market_cap_usd": [1e9]})
    assert government_ledger(ev(loan), mcap, AS_OF, P).height == 1
    assert government_ledger(ev(loan | {"status": "cancelled"}), mcap, AS_OF, P).height == 0


def test_the_backing_view_names_exactly_what_the_ledger_weighs() -> None:
    from factors.ledger import government_backing_view

    def row(kind: str, party: str) -> dict[str, Any]:
        return {
            "symbol": "A",
            "date": AS_OF - timedelta(days=30),
            "kind": kind,
            "counterparty": party,
            "counterparty_type": "government",
            "direction": "receives",
            "binding": True,
            "amount_usd": 1e8,
        }

    events = ev(row("funding", "US DOE"), row("permit", "State of Wyoming"))  # a permit is no backing
    mcap = pl.DataFrame({"symbol": ["A"], "market_cap_usd": [1e9]})
    assert government_backing_view(events)["government_backing"].to_list() == ["US DOE"]
    weighed = government_ledger(events, mcap, AS_OF, P)["gov_backing"].item()
    assert weighed == government_ledger(ev(row("funding", "US DOE")), mcap, AS_OF, P)["gov_backing"].item()


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.sampled_from(["A", "B", "C"]),
            st.sampled_from(["p1", "p2", "p3"]),
            st.one_of(st.none(), st.floats(-1e9, 1e9, allow_nan=False)),
        ),
        max_size=30,
        unique_by=lambda r: r[:3],
    )
)
def test_risked_capacity_sums_each_companys_projects_in_project_order(rows: list[Any]) -> None:
    ledger = pl.DataFrame(
        [{"as_of": AS_OF + timedelta(days=7 * d), "symbol": s, "project": p, "risked_tpa": v} for d, s, p, v in rows],
        schema={"as_of": pl.Date, "symbol": pl.String, "project": pl.String, "risked_tpa": pl.Float64},
    )
    known: dict[tuple[date, str], list[float]] = {}
    for d, s, _, v in sorted(rows, key=lambda r: (r[0], r[1], r[2])):
        known.setdefault((AS_OF + timedelta(days=7 * d), s), []).extend([] if v is None else [v])
    # added one after the other in project order, nulls skipped; a company with none known holds 0
    expected = {key: functools.reduce(operator.add, values) if values else 0.0 for key, values in known.items()}
    got = risked_capacity(ledger)
    assert got.columns == ["as_of", "symbol", "risked_tpa"]
    assert [(r[0], r[1]) for r in got.iter_rows()] == sorted(expected)
    assert {(r[0], r[1]): r[2] for r in got.iter_rows()} == expected
