"""The panel's views of its events (``FactorContext.events_where``, ``event_versions``) are the per-date copies.

A panel ledger reads only the events it counts (``events_where``), or folds each version of a company's events once
(``event_versions``), instead of every per-date copy of every event. Both must be exactly what filtering or grouping
the copies gives, on any events, listings and dates, or a back-dated score would change with the number of dates
scored beside it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factors.engine import InputNotDeclared, context_for
from factors.funding import FORECAST_EVENTS, funding_forecast
from factors.inputs import FactorContext, FactorInputs, build_panel
from factors.ledger import (
    binding_offtake_events,
    capacity_ledger,
    capacity_ledger_versioned,
    received_from_government,
)
from factors.registry import get_factor
from tests.builders import companies, company, events

P = get_factor("localization_premium").params
START = date(2023, 1, 6)
SYMBOLS = ("A", "B", "C", "D")
KINDS = ("capacity", "production_start", "funding", "offtake", "permit", "equity_raise", "setback", "policy")


@st.composite
def _event(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "symbol": draw(st.sampled_from(SYMBOLS)),
        # few distinct days and mostly capacity rows, so that same-day restatements (ties) are common
        "date": START + timedelta(days=draw(st.sampled_from([-400, -90, 0, 3, 45, 200, 500]))),
        "date_precision": draw(st.sampled_from([None, "day", "month", "quarter", "year"])),
        "kind": draw(st.one_of(st.just("capacity"), st.sampled_from(KINDS))),
        "project": draw(st.sampled_from([None, "p1", "p2"])),
        "stage": draw(st.sampled_from([None, "announced", "funded", "construction", "production"])),
        "capacity_tpa": draw(st.sampled_from([None, 500.0, 2000.0])),
        "unit": draw(st.sampled_from([None, "ndpr_oxide", "magnet"])),
        "target_year": draw(st.sampled_from([None, 2023, 2025])),
        "amount_usd": draw(st.sampled_from([None, 1e6, 5e7])),
        "status": draw(st.sampled_from([None, "active", "delayed", "cancelled"])),
        "direction": draw(st.sampled_from([None, "receives", "pays"])),
        "binding": draw(st.sampled_from([None, True, False])),
        "counterparty": draw(st.sampled_from([None, "DOE", "Ford"])),
        "counterparty_type": draw(st.sampled_from([None, "government", "company"])),
        # ties on (symbol, date, kind) keep their input order: a shared description makes them real ties
        "description": draw(st.sampled_from(["same", "other"])),
    }


@st.composite
def _panel(draw: st.DrawFn) -> FactorContext:
    # listings come and go, so a company's copies skip the dates it is not listed on
    comps = []
    for s in SYMBOLS:
        start = draw(st.one_of(st.none(), st.integers(0, 200)))
        length = draw(st.one_of(st.none(), st.integers(0, 300)))
        listed = None if start is None else START + timedelta(days=start)
        gone = None if listed is None or length is None else listed + timedelta(days=length)
        comps.append(company(s, listed_from=listed, delisted_on=gone))
    rows = draw(st.lists(_event(), max_size=25))
    n = draw(st.integers(1, 40))
    step = draw(st.sampled_from([1, 7, 30]))
    dates = [START + timedelta(days=step * i) for i in range(n)]
    inputs = FactorInputs(companies=companies(*comps), events=events(*rows) if rows else None)
    return build_panel(inputs, dates)


_PREDICATES = {
    "capacity kinds": pl.col("kind").is_in(["capacity", "production_start"]),
    "forecast": FORECAST_EVENTS,
    "government": received_from_government(),
    "setback": pl.col("kind") == "setback",
    "offtakes": binding_offtake_events(["offtake", "policy"]),
}


@settings(max_examples=50, deadline=None)
@given(_panel())
def test_events_where_is_the_copies_filtered(ctx: FactorContext) -> None:
    every = ctx.events
    for name, predicate in _PREDICATES.items():
        assert ctx.events_where(predicate).equals(every.filter(predicate)), name
        for days in (1, 30, 365):
            recent = every.filter(predicate & (pl.col("date") > pl.col("as_of") - timedelta(days=days)))
            assert ctx.events_where(predicate, within_days=days).equals(recent), (name, days)


@settings(max_examples=80, deadline=None)
@given(_panel())
def test_the_versioned_capacity_ledger_is_the_ledger_of_the_copies(ctx: FactorContext) -> None:
    copies = capacity_ledger(ctx.events, None, P)
    assert capacity_ledger_versioned(*ctx.event_versions(), P).equals(copies)
    # a context holding the copies themselves (each (as_of, symbol) its own version) answers the same
    plain = FactorContext(
        dates=ctx.dates,
        settings=ctx.settings,
        base=ctx.base,
        prices=ctx.prices,
        price_runs=ctx.price_runs,
        bounds=ctx.bounds,
        event_source=ctx.events,
    )
    assert capacity_ledger_versioned(*plain.event_versions(), P).equals(copies)
    assert plain.events_where(FORECAST_EVENTS).equals(ctx.events_where(FORECAST_EVENTS))


@settings(max_examples=30, deadline=None)
@given(_panel())
def test_the_funding_forecast_reads_only_its_events(ctx: FactorContext) -> None:
    base = ctx.base.with_columns(
        pl.lit(1e7).alias("cash_usd"),
        pl.lit(START, dtype=pl.Date).alias("cash_usd_date"),
        pl.lit(-2e6).alias("free_cash_flow_ttm_usd"),
        pl.lit(1e6).alias("capex_ttm_usd"),
    )
    every = funding_forecast(base, ctx.events, None)
    assert funding_forecast(base, ctx.events_where(FORECAST_EVENTS), None).equals(every)


def test_a_panel_without_events_has_no_versions_and_an_empty_ledger() -> None:
    ctx = build_panel(FactorInputs(companies=companies(company("A"))), [START, START + timedelta(days=7)])
    rows, of = ctx.event_versions()
    assert rows.height == 0 and of.height == 0
    assert capacity_ledger_versioned(rows, of, P).equals(capacity_ledger(ctx.events, None, P))


def test_a_version_is_shared_by_the_dates_between_two_new_events() -> None:
    rows = [
        {"symbol": "A", "date": START, "kind": "capacity", "project": "p1", "stage": "announced"},
        {"symbol": "A", "date": START + timedelta(days=20), "kind": "capacity", "project": "p1", "stage": "funded"},
    ]
    inputs = FactorInputs(companies=companies(company("A")), events=events(*rows))
    ctx = build_panel(inputs, [START + timedelta(days=7 * i) for i in range(6)])
    versions, of = ctx.event_versions()
    # two versions (one event known, then both): three rows of events in all, six dates pointing at them
    assert versions.height == 3 and of["_vid"].to_list() == [0, 0, 0, 1, 1, 1]
    ledger = capacity_ledger_versioned(versions, of, P)
    assert ledger["stage"].to_list() == ["announced"] * 3 + ["funded"] * 3


@pytest.mark.parametrize("view", ["events_where", "event_versions", "event_source"])
def test_a_factor_without_the_events_input_cannot_reach_them_through_any_view(view: str) -> None:
    ctx = build_panel(FactorInputs(companies=companies(company("A"))), [START])
    declared = context_for(get_factor("balance_sheet"), ctx)
    with pytest.raises(InputNotDeclared, match=rf"ctx\.{view}"):
        getattr(declared, view)


def test_same_day_restatements_keep_their_order_in_every_version() -> None:
    # two rows of one project on one day, alike but for the tonnage: the later row in the file is the restatement
    same = {"symbol": "A", "date": START, "kind": "capacity", "project": "p1", "description": "same"}
    rows = [
        {**same, "capacity_tpa": 500.0},
        {**same, "capacity_tpa": 2000.0},
        {**same, "date": START, "kind": "permit"},
    ]
    inputs = FactorInputs(companies=companies(company("A")), events=events(*rows))
    ctx = build_panel(inputs, [START + timedelta(days=7 * i) for i in range(3)])
    copies = capacity_ledger(ctx.events, None, P)
    assert copies["capacity_tpa"].to_list() == [2000.0] * 3
    assert capacity_ledger_versioned(*ctx.event_versions(), P).equals(copies)
