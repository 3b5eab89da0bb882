"""A back-dated score never sees the future: listings, month-level events and tags as they were that day."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl

from factors.engine import compute_scores
from factors.inputs import build_context, load_inputs
from tests.builders import AS_OF, company, daily, events, inputs


def test_only_companies_listed_on_the_date_are_scored() -> None:
    comps = [
        company("OLD"),
        company("IPO", listed_from=AS_OF + timedelta(days=1)),
        company("GONE", delisted_on=AS_OF),
        company("LISTED", listed_from=AS_OF, delisted_on=AS_OF + timedelta(days=1)),
    ]
    prices = [daily(s, close=10.0) for s in ("OLD", "IPO", "GONE", "LISTED")]
    scored = compute_scores(inputs(comps, prices=prices), AS_OF)["symbol"].to_list()
    assert scored == ["LISTED", "OLD"]
    later = compute_scores(inputs(comps, prices=prices), AS_OF + timedelta(days=1))["symbol"].to_list()
    assert later == ["IPO", "OLD"]


def test_a_month_level_event_is_unseen_until_the_month_is_over() -> None:
    first = AS_OF.replace(day=1)
    ev = events(
        {"symbol": "A", "date": first, "kind": "funding", "date_precision": "month", "description": "month"},
        {"symbol": "A", "date": first, "kind": "funding", "description": "day"},
    )
    ctx = build_context(inputs([company("A")], events_=ev), AS_OF)
    assert ctx.events["description"].to_list() == ["day"]
    month_end = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    assert sorted(build_context(inputs([company("A")], events_=ev), month_end).events["description"]) == [
        "day",
        "month",
    ]


def test_scoring_from_a_store_reads_the_tags_in_force_on_the_date(store) -> None:
    row = {"symbol": "TDK", "name": "TDK", "country": "JP", "currency": "JPY", "roles": "magnet_maker"}
    store.upsert("companies", pl.DataFrame([row | {"stage": "producer"}]), "file", loaded_at=datetime(2025, 1, 2))
    store.change_tags("TDK", add=["downstream_user"], source="x", actor="user", effective=date(2026, 1, 1))
    assert load_inputs(store, date(2025, 12, 31)).companies["roles"].to_list() == ["magnet_maker"]
    assert load_inputs(store, date(2026, 1, 1)).companies["roles"].to_list() == ["magnet_maker;downstream_user"]


def test_every_ledger_column_and_dated_history_invalidates_stored_scores(store) -> None:
    from factors.engine import inputs_fingerprint

    company_row = {"symbol": "A", "name": "A", "country": "US", "currency": "USD", "roles": "processor"}
    store.upsert(
        "companies", pl.DataFrame([company_row | {"stage": "developer"}]), "file", loaded_at=datetime(2025, 1, 2)
    )
    loan = {"symbol": "A", "date": date(2025, 6, 1), "kind": "funding", "description": "loan"}
    store.upsert("events", pl.DataFrame([loan | {"binding": False}]), "file")
    seen = {inputs_fingerprint(store, AS_OF)}
    store.upsert("events", pl.DataFrame([loan | {"binding": True}]), "file")  # a letter became a binding loan
    seen.add(inputs_fingerprint(store, AS_OF))
    store.upsert("companies", pl.DataFrame([company_row | {"stage": "developer", "exposure": 0.9}]), "file")
    seen.add(inputs_fingerprint(store, AS_OF))
    store.change_tags("A", add=["recycler"], source="x", actor="user", effective=date(2025, 1, 1))
    seen.add(inputs_fingerprint(store, AS_OF))
    assert len(seen) == 4


def test_the_backing_view_names_what_the_company_received_by_the_date() -> None:
    def gov(day: date, party: str, *, direction: str = "receives", binding: bool | None = True, kind: str = "funding"):
        return {
            "symbol": "A",
            "date": day,
            "kind": kind,
            "counterparty": party,
            "counterparty_type": "government",
            "direction": direction,
            "binding": binding,
            "description": f"{party} {day}",
        }

    ev = events(
        gov(AS_OF - timedelta(days=400), "EXIM", binding=False),
        gov(AS_OF - timedelta(days=100), "US Department of Defense"),
        gov(AS_OF - timedelta(days=50), "JOGMEC", direction="pays"),  # money it pays is not backing
        gov(AS_OF + timedelta(days=10), "KEXIM"),  # not yet known
    )
    comps = [company("A"), company("B")]
    base = build_context(inputs(comps, prices=[daily("A", close=10.0)], events_=ev), AS_OF).base
    view = dict(base.select("symbol", "government_backing").iter_rows())
    assert view == {"A": "EXIM (non-binding); US Department of Defense", "B": None}
    earlier = build_context(inputs(comps, events_=ev), AS_OF - timedelta(days=200)).base
    assert dict(earlier.select("symbol", "government_backing").iter_rows())["A"] == "EXIM (non-binding)"


def test_a_score_back_dated_before_the_dod_deals_does_not_credit_them_on_the_bundled_universe(store) -> None:
    # the issue's own case: scoring as of 2025-06-01 credited MP with DoD deals from July 2025
    from screener.intake.universe import load_bundled

    load_bundled(store)
    before = compute_scores(load_inputs(store, date(2025, 6, 1)), date(2025, 6, 1))
    after = compute_scores(load_inputs(store, date(2025, 8, 1)), date(2025, 8, 1))
    mp_before = before.filter(pl.col("symbol") == "MP").row(0, named=True)
    mp_after = after.filter(pl.col("symbol") == "MP").row(0, named=True)
    assert mp_before["government_backing"] is None and mp_before["localization_premium.gov_backing"] == 0
    assert mp_after["government_backing"] == "US Department of Defense"
    assert mp_after["localization_premium.gov_backing"] > 0


def _full_read(store, as_of: date):
    """What scoring read before prices were windowed: every stored close on or before ``as_of``, in key order."""
    from dataclasses import replace

    return replace(load_inputs(store, as_of), prices=store.rows_as_of("prices", as_of))


def _closes(symbol: str, start: date, end: date, *, volume: float | None = 1000.0) -> pl.DataFrame:
    days = pl.date_range(start, end, "1d", eager=True)
    days = days.filter(days.dt.weekday() <= 5)
    return pl.DataFrame({"symbol": symbol, "date": days, "close": 10.0, "volume": volume})


def test_the_windowed_price_read_scores_as_every_stored_close_would(store) -> None:
    """The store hands scoring the engine's window plus each company's last close, last trade and last demo row
    before it; a name that stopped trading or went quiet years ago keeps its last price, last trade and demo flag,
    and the whole score frame is the same as from every stored close."""
    rows = [
        {"symbol": s, "name": s, "country": "US", "currency": "USD", "roles": "processor", "stage": "producer"}
        for s in ("LIVE", "GONE", "QUIET", "OLDDEMO")
    ]
    store.upsert("companies", pl.DataFrame(rows), "file", loaded_at=datetime(2020, 1, 2))
    far = AS_OF - timedelta(days=3 * 365)
    store.upsert("prices", _closes("LIVE", far, AS_OF), "file")
    store.upsert("prices", _closes("GONE", far, AS_OF - timedelta(days=700)), "file")  # no close in the window
    # closes every day, but the last traded day long before the window: a halt whose last trade must survive
    store.upsert("prices", _closes("QUIET", far, AS_OF - timedelta(days=500)), "file")
    store.upsert("prices", _closes("QUIET", AS_OF - timedelta(days=499), AS_OF, volume=0.0), "file")
    # demo closes only before the window, real ones after: the score still rests on demo data
    store.upsert("prices", _closes("OLDDEMO", far, AS_OF - timedelta(days=450)), "demo")
    store.upsert("prices", _closes("OLDDEMO", AS_OF - timedelta(days=449), AS_OF), "file")
    window = load_inputs(store, AS_OF).prices
    assert window.height < store.rows_as_of("prices", AS_OF).height
    for day in (AS_OF, AS_OF - timedelta(days=200), AS_OF - timedelta(days=460)):
        got, want = compute_scores(load_inputs(store, day), day), compute_scores(_full_read(store, day), day)
        assert got.equals(want), day
    scored = compute_scores(load_inputs(store, AS_OF), AS_OF).select("symbol", "price_usd", "demo", "flags")
    by = {r["symbol"]: r for r in scored.iter_rows(named=True)}
    assert by["GONE"]["price_usd"] == 10.0 and "stale" in by["GONE"]["flags"]
    assert "halted" in by["QUIET"]["flags"] and by["OLDDEMO"]["demo"] and not by["LIVE"]["demo"]


def test_one_provider_is_read_once_and_several_row_by_row(store) -> None:
    row = {"symbol": "A", "name": "A", "country": "US", "currency": "USD", "roles": "processor", "stage": "producer"}
    store.upsert("companies", pl.DataFrame([row]), "file", loaded_at=datetime(2020, 1, 2))
    store.upsert("prices", _closes("A", AS_OF - timedelta(days=30), AS_OF - timedelta(days=10)), "file")
    assert store.prices_for_scoring(AS_OF, 400)["provider"].unique().to_list() == ["file"]
    store.upsert("prices", _closes("A", AS_OF - timedelta(days=9), AS_OF), "yahoo")
    read = store.prices_for_scoring(AS_OF, 400).sort("date")
    assert read["provider"].to_list() == store.rows_as_of("prices", AS_OF)["provider"].to_list()
