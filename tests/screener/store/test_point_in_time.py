"""What the store answers for a date: tags, stage and exposure as they were, events from the day they were known."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl

from screener.store import Store

T0 = datetime(2026, 1, 5, 9, 0)
T1 = datetime(2026, 3, 2, 9, 0)


def _company(symbol: str, **kw: object) -> pl.DataFrame:
    row = {"symbol": symbol, "name": symbol, "country": "US", "currency": "USD", "roles": "processor"}
    row |= {"stage": "developer", **kw}
    return pl.DataFrame([row])


def _roles(store: Store, as_of: date | None) -> dict[str, str]:
    return dict(store.companies(as_of=as_of).select("symbol", "roles").iter_rows())


def test_a_retag_takes_effect_on_its_day_and_a_back_dated_read_keeps_the_old_tags(store: Store) -> None:
    store.upsert("companies", _company("HOC"), "file", loaded_at=T0)
    store.upsert("companies", _company("TWIN"), "file", loaded_at=T0)
    store.change_tags(
        "HOC", add=["trader_offtaker"], remove=["processor"], source="x", actor="user", effective=date(2026, 2, 1)
    )
    assert _roles(store, None)["HOC"] == "trader_offtaker"
    assert _roles(store, date(2026, 2, 1))["HOC"] == "trader_offtaker"
    assert _roles(store, date(2026, 1, 31))["HOC"] == "processor"  # the day before it took effect
    assert _roles(store, date(2020, 1, 1)) == {"HOC": "processor", "TWIN": "processor"}  # first tags hold always


def test_a_retag_without_a_date_takes_effect_on_the_day_it_is_made(store: Store) -> None:
    store.upsert("companies", _company("A"), "file", loaded_at=T0)
    store.change_tags("A", add=["recycler"], source="x", actor="user", at=T1)
    assert _roles(store, date(2026, 3, 1))["A"] == "processor"
    assert _roles(store, date(2026, 3, 2))["A"] == "processor;recycler"
    assert store.tag_history("A")["effective_on"].to_list() == [None, date(2026, 3, 2)]


def test_stage_and_exposure_are_read_as_of_a_date(store: Store) -> None:
    store.upsert("companies", _company("MP", exposure=0.5), "file", loaded_at=T0)
    store.upsert("companies", _company("MP", stage="producer", exposure=0.9), "file", loaded_at=T1)
    now = store.companies().row(0, named=True)
    before = store.companies(as_of=date(2026, 3, 1)).row(0, named=True)
    on = store.companies(as_of=date(2026, 3, 2)).row(0, named=True)
    assert (now["stage"], now["exposure"]) == ("producer", 0.9)
    assert (before["stage"], before["exposure"]) == ("developer", 0.5)
    assert (on["stage"], on["exposure"]) == ("producer", 0.9)
    assert store.company_history("MP").select("field", "old_value", "new_value").rows() == [
        ("stage", "developer", "producer"),
        ("exposure", "0.5", "0.9"),
    ]


def test_an_unchanged_or_empty_value_records_no_change(store: Store) -> None:
    store.upsert("companies", _company("A", exposure=0.5), "file", loaded_at=T0)
    store.upsert("companies", _company("A", exposure=0.5), "file", loaded_at=T1)
    store.upsert("companies", _company("A", exposure=None), "file", loaded_at=T1, keep_existing_on_null=True)
    assert store.company_history("A").height == 0


def _event(symbol: str, day: date, precision: str, description: str) -> dict[str, object]:
    return {"symbol": symbol, "date": day, "kind": "funding", "description": description, "date_precision": precision}


def test_events_of_a_month_are_known_from_its_last_day(store: Store) -> None:
    frame = pl.DataFrame(
        [
            _event("LYC", date(2025, 8, 1), "month", "month-level"),
            _event("LYC", date(2025, 8, 1), "day", "day-level twin"),
        ]
    )
    store.upsert("events", frame, "file")
    mid = store.company_events("LYC", date(2025, 8, 10), 10)["description"].to_list()
    end = store.company_events("LYC", date(2025, 8, 31), 10)["description"].to_list()
    assert mid == ["day-level twin"]
    assert sorted(end) == ["day-level twin", "month-level"]
    between = store.events_between(date(2025, 8, 10), date(2025, 9, 7))["description"].to_list()
    assert between == ["month-level"]  # it became known inside this window, not in the one before
    assert store.events_between(date(2025, 7, 31), date(2025, 8, 10))["description"].to_list() == ["day-level twin"]


def test_a_v6_store_upgraded_keeps_its_later_tag_changes_out_of_earlier_dates(db_path) -> None:
    import duckdb

    from screener.store.migrations import MIGRATIONS

    # a store written by the previous version: tag history without effective dates
    con = duckdb.connect(str(db_path))
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description VARCHAR, applied_at TIMESTAMP)")
    for version, description, sql in MIGRATIONS:
        if version <= 6:
            con.execute(sql)
            con.execute("INSERT INTO schema_version VALUES (?, ?, NULL)", [version, description])
    con.execute(
        "INSERT INTO companies (symbol, name, country, currency, stage, origin, provider, loaded_at) "
        "VALUES ('TDK', 'TDK', 'JP', 'JPY', 'producer', 'user', 'file', TIMESTAMP '2025-01-02 09:00:00')"
    )
    for role, at in (("magnet_maker", "2025-01-02 09:00:00"), ("downstream_user", "2025-09-01 10:00:00")):
        con.execute(
            "INSERT INTO role_tags (symbol, role, origin, source, tagged_at) VALUES ('TDK', ?, 'user', 'x', ?)",
            [role, at],
        )
        con.execute(
            "INSERT INTO role_tag_history (symbol, role, action, actor, source, changed_at) "
            "VALUES ('TDK', ?, 'add', 'user', 'x', ?)",
            [role, at],
        )
    con.close()
    with Store(db_path) as store:  # opening upgrades it to the current schema
        assert store.tag_history("TDK")["effective_on"].to_list() == [None, date(2025, 9, 1)]
        assert _roles(store, date(2025, 6, 1))["TDK"] == "magnet_maker"
        assert _roles(store, date(2025, 9, 1))["TDK"] == "magnet_maker;downstream_user"


def test_a_value_another_provider_clears_stays_known_before_the_day_it_was_cleared(store: Store) -> None:
    store.upsert("companies", _company("A", exposure=0.3), "yahoo", loaded_at=T0)
    store.upsert("companies", _company("A", exposure=None), "file", loaded_at=T1)  # replaced whole: now unknown
    assert store.companies().row(0, named=True)["exposure"] is None
    assert store.companies(as_of=date(2026, 2, 1)).row(0, named=True)["exposure"] == 0.3
    assert store.company_history("A").select("field", "old_value", "new_value").rows() == [("exposure", "0.3", None)]


def test_freshness_counts_an_event_from_the_day_it_became_known(store: Store) -> None:
    store.upsert("events", pl.DataFrame([_event("LYC", date(2025, 8, 1), "month", "month-level")]), "file")
    assert store.newest_dates(date(2025, 8, 10), ("1 = 1", []))["events"] is None
    assert store.newest_dates(date(2025, 8, 31), ("1 = 1", []))["events"] == date(2025, 8, 1)
    mid = [p for p in store.freshness_parts("LYC", date(2025, 8, 10)) if p.height and p["data"][0] == "events"]
    end = [p for p in store.freshness_parts("LYC", date(2025, 8, 31)) if p.height and p["data"][0] == "events"]
    assert mid == [] and end[0].select("latest", "rows").row(0) == (date(2025, 8, 1), 1)
