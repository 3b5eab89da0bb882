"""``refresh`` end to end: real yfinance, an offline Yahoo, a real store; validation gates included."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import polars as pl
import pytest
from _yahoo_helpers import ANCHOR_NOW, FakeYahoo, Listing, reset_yfinance

from screener.profiles import profiles, refresh_state, share_history
from screener.providers.yahoo import RetryPolicy, YahooProvider
from screener.refresh import MaxAge, parse_duration, refresh
from screener.store import Store

UNIVERSE = [
    ("MP", "MP Materials Corp.", "US", "USD", "miner;processor;magnet_maker", "producer"),
    ("BP.L", "BP p.l.c.", "GB", "GBp", "downstream_user", "producer"),
    ("7203.T", "Toyota Motor Corporation", "JP", "JPY", "downstream_user", "producer"),
]


def listings() -> list[Listing]:
    return [
        Listing("MP", share_counts=[("2025-01-02", 1.60e8), ("2025-01-02", 1.61e8), ("2026-06-30", 1.08e8)]),
        Listing("BP.L", quote_currency="GBp", financial_currency="USD", timezone="Europe/London", price=380.0),
        Listing("7203.T", quote_currency="JPY", financial_currency="JPY", timezone="Asia/Tokyo", price=2800.0),
        Listing("GBPUSD=X", price=1.27, timezone="Europe/London"),
        Listing("JPYUSD=X", price=0.0066, timezone="Asia/Tokyo"),
    ]


def add_universe(store: Store, rows: list[tuple[str, ...]] = UNIVERSE) -> None:
    cols = ["symbol", "name", "country", "currency", "roles", "stage"]
    store.upsert("companies", pl.DataFrame(rows, schema=cols, orient="row"), "file")


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def yahoo(monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> FakeYahoo:
    """The offline Yahoo, also used by the CLI (``default_provider`` is pointed at it).

    A run's clock is the fake market's: ``now`` defaults to just after the close of its last trading day, so that
    every run, the CLI's included, sees the same days whatever the hour the tests run at.
    """
    reset_yfinance()
    monkeypatch.setattr("screener.refresh.utcnow", lambda: ANCHOR_NOW)
    fake = FakeYahoo(listings())

    def provider() -> YahooProvider:
        return YahooProvider(fake, retry=RetryPolicy(retries=2, base_delay=0.5), sleep=sleeps.append, seed=3)

    monkeypatch.setattr("screener.refresh.default_provider", provider)
    return fake


@pytest.fixture
def universe(store: Store) -> Store:
    add_universe(store)
    return store


def test_max_age_forms() -> None:
    assert MaxAge.parse(None) == MaxAge(timedelta(days=7), timedelta(days=1))
    assert MaxAge.parse("12h") == MaxAge(timedelta(hours=12), timedelta(hours=12))
    assert MaxAge.parse("prices=30m") == MaxAge(timedelta(days=7), timedelta(minutes=30))
    assert MaxAge.parse("fundamentals=2w, prices=0") == MaxAge(timedelta(weeks=2), timedelta(0))
    assert str(MaxAge()) == "fundamentals=7d,prices=1d"
    assert parse_duration("1.5d") == timedelta(hours=36)
    for bad in ("7 days", "prices", "volume=1d", "-1d"):
        with pytest.raises(ValueError):
            MaxAge.parse(bad)


def test_first_run_stores_everything_and_a_second_run_makes_no_request(universe: Store, yahoo: FakeYahoo) -> None:
    report = refresh(universe)
    table = report.table()
    shown = table.to_dicts()  # printed with any failure below, so an intermittent one explains itself
    assert table["symbol"].to_list() == ["7203.T", "BP.L", "MP", "GBPUSD=X", "JPYUSD=X"], shown
    assert set(table["status"]) == {"ok"}, shown
    assert report.failed == [] and report.rejected == 0
    fund = universe.frame("fundamentals")
    assert fund.group_by("symbol").len().sort("symbol")["len"].to_list() == [9, 9, 9]
    assert (fund["capital_expenditure"] > 0).all()
    assert fund.filter(pl.col("symbol") == "BP.L")["currency"].unique().to_list() == ["USD"]
    # BP.L is listed in pence in the universe: its closes stay in pence, the profile says so
    bp = universe.frame("prices", ["BP.L"])
    assert bp["close"][-1] == pytest.approx(380.0)
    prof = profiles(universe).filter(pl.col("symbol") == "BP.L").row(0, named=True)
    assert (prof["quote_currency"], prof["price_unit"], prof["financial_currency"]) == ("GBp", "GBp", "USD")
    assert share_history(universe, ["MP"])["shares"].to_list() == [1.61e8, 1.08e8]
    assert sorted(universe.frame("fx")["currency"].unique().to_list()) == ["GBP", "JPY"]
    log = universe.query("SELECT symbol, kind, status FROM ingest_log WHERE symbol IS NOT NULL ORDER BY id")
    assert log.filter(pl.col("status") != "ok").height == 0, log.to_dicts()
    assert log.height == 6, log.to_dicts()  # fundamentals and prices for three symbols
    assert refresh_state(universe).height == 8  # 3 symbols x 2 parts + 2 currency pairs

    before = len(yahoo.calls)
    again = refresh(universe)
    assert len(yahoo.calls) == before, yahoo.calls[before:]  # not one request
    assert set(again.table()["status"]) == {"skipped"}
    skipped = universe.scalar("SELECT count(*) FROM ingest_log WHERE status = 'skipped'")
    assert skipped == 3


def test_prices_resume_from_the_last_stored_date_without_refetching_fundamentals(universe: Store,
                                                                                yahoo: FakeYahoo) -> None:
    refresh(universe, symbols=["MP"])
    last = universe.scalar("SELECT max(date) FROM prices WHERE symbol = 'MP'")
    n_before = universe.scalar("SELECT count(*) FROM prices WHERE symbol = 'MP'")
    mark = len(yahoo.calls)
    report = refresh(universe, symbols=["MP"], max_age="prices=0")
    new = yahoo.calls[mark:]
    assert not [u for u in new if "quoteSummary" in u or "type=annual" in u]  # fundamentals were fresh
    charts = [u for u in new if "/v8/finance/chart/MP" in u and "period1" in u]
    assert len(charts) == 1
    period1 = int(charts[0].split("period1=")[1].split("&")[0])
    from datetime import datetime
    from zoneinfo import ZoneInfo

    assert datetime.fromtimestamp(period1, ZoneInfo("America/New_York")).date() == last
    assert report.table().filter(pl.col("symbol") == "MP")["prices"].to_list() == [1]  # the overlapping day
    assert universe.scalar("SELECT count(*) FROM prices WHERE symbol = 'MP'") == n_before


def test_a_run_sees_the_days_up_to_its_own_today_not_the_clocks(universe: Store, yahoo: FakeYahoo) -> None:
    """``now`` is the run's clock: a run dated 2026-08-11 stores nothing after that day, at any wall-clock hour."""
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    report = refresh(universe, symbols=["MP"], now=datetime(2026, 8, 11, 23, 0))
    assert report.failed == [], report.table().to_dicts()
    assert universe.scalar("SELECT max(date) FROM prices WHERE symbol = 'MP'") == date(2026, 8, 11)
    chart = yahoo.data_calls(r"/v8/finance/chart/MP\?.*period1")[0]
    period2 = int(chart.split("period2=")[1].split("&")[0])
    assert datetime.fromtimestamp(period2, ZoneInfo("America/New_York")) == datetime(
        2026, 8, 12, tzinfo=ZoneInfo("America/New_York"))  # the whole of 2026-08-11, exchange time


def test_rate_limited_statements_never_erase_stored_data(universe: Store, yahoo: FakeYahoo) -> None:
    refresh(universe, symbols=["MP"])
    stored = universe.frame("fundamentals", ["MP"]).drop("loaded_at")
    fetched_at = universe.scalar("SELECT fetched_at FROM refresh_state WHERE subject = 'MP' AND part = 'fundamentals'")
    yahoo.fail(r"fundamentals-timeseries/.*/MP\?.*type=(annual|quarterly)", 429)
    report = refresh(universe, symbols=["MP"], max_age="0")
    row = report.table().filter(pl.col("symbol") == "MP").row(0, named=True)
    assert row["status"] == "failed"  # and the symbol's remaining requests were not made: Yahoo is limiting
    assert "rate limited by Yahoo (HTTP 429)" in row["message"] and "gave up after 3 attempts" in row["message"]
    assert universe.frame("fundamentals", ["MP"]).drop("loaded_at").equals(stored)
    assert universe.scalar("SELECT fetched_at FROM refresh_state WHERE subject = 'MP' AND part = 'fundamentals'") \
        == fetched_at  # not marked fresh: the next run tries again
    log = universe.query("SELECT status, message FROM ingest_log WHERE symbol = 'MP' AND kind = 'fundamentals' "
                         "ORDER BY id DESC LIMIT 1").row(0, named=True)
    assert log["status"] == "failed" and "429" in log["message"]
    with pytest.raises(Exception, match=r"1 of 1 symbol\(s\) had failures \(MP\)"):
        report.raise_if_problems()


def test_prices_skipped_after_a_failure_are_retried_next_run(universe: Store, yahoo: FakeYahoo) -> None:
    yahoo.fail(r"quoteSummary/MP", 429)
    first = refresh(universe, symbols=["MP"])
    assert first.failed == ["MP"]
    state = universe.query("SELECT status FROM refresh_state WHERE subject = 'MP' AND part = 'prices'")
    assert state["status"].to_list() == ["failed"]  # never "ok" when no price request was made
    yahoo.clear_failures()
    again = refresh(universe, symbols=["MP"])
    assert again.failed == []
    assert universe.scalar("SELECT count(*) FROM prices WHERE symbol = 'MP'") > 0


def test_retries_then_success_are_reported(universe: Store, yahoo: FakeYahoo, sleeps: list[float]) -> None:
    yahoo.fail(r"/v8/finance/chart/MP\?period1", 429, times=2)
    report = refresh(universe, symbols=["MP"])
    row = report.table().filter(pl.col("symbol") == "MP").row(0, named=True)
    assert (row["status"], row["retries"]) == ("ok", 1)
    assert len(sleeps) == 1 and 0.25 <= sleeps[0] <= 0.5
    assert universe.scalar("SELECT count(*) FROM prices WHERE symbol = 'MP'") > 0


def test_a_missing_ticker_fails_alone(universe: Store, yahoo: FakeYahoo) -> None:
    add_universe(universe, [("NOPE.AX", "Gone Ltd", "AU", "AUD", "miner", "explorer")])
    report = refresh(universe)
    table = report.table()
    nope = table.filter(pl.col("symbol") == "NOPE.AX").row(0, named=True)
    assert nope["status"] == "failed" and "not found on Yahoo Finance" in nope["message"]
    assert table.filter(pl.col("symbol").is_in(["MP", "BP.L", "7203.T"]))["status"].to_list() == ["ok"] * 3
    assert "AUDUSD=X" in table["symbol"].to_list()  # the listing currency still gets fx (here: not on the fake)
    log = universe.query("SELECT kind, status, message FROM ingest_log WHERE symbol = 'NOPE.AX'")
    assert log["status"].to_list() == ["failed", "failed"]
    assert report.failed == ["NOPE.AX", "AUDUSD=X"]


def test_invalid_rows_are_kept_out_and_recorded(universe: Store, yahoo: FakeYahoo) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    mp = yahoo.listings["MP"]
    assert mp.bars is not None
    ts, o, h, lo, c, _ = mp.bars[-3]
    mp.bars[-3] = (ts, o, h, lo, c, -5)  # a negative volume
    bad_day = datetime.fromtimestamp(ts, ZoneInfo(mp.timezone)).date()
    report = refresh(universe, symbols=["MP"])
    row = report.table().filter(pl.col("symbol") == "MP").row(0, named=True)
    assert (row["status"], row["rejected"]) == ("rejected", 1)
    rejected = universe.query("SELECT provider, source, kind, key, expectation, column_name, value FROM rejected_rows")
    assert rejected.rows(named=True) == [{
        "provider": "yahoo", "source": "yahoo:MP", "kind": "prices", "key": f"MP/{bad_day.isoformat()}",
        "expectation": "expect_column_values_to_be_between (volume >= 0)", "column_name": "volume", "value": "-5",
    }]
    stored = universe.frame("prices", ["MP"])
    assert stored.height == row["prices"] > 0
    assert bad_day not in stored["date"].to_list()  # kept out of the main table
    log = universe.query("SELECT status, rows_rejected, message FROM ingest_log WHERE kind = 'prices'").row(0)
    assert log[0] == "rejected" and log[1] == 1 and "1 row(s) rejected by validation" in log[2]


def test_market_cap_cross_check_holds_back_prices_in_the_wrong_unit(universe: Store, yahoo: FakeYahoo) -> None:
    # The universe says BP.L quotes in USD, Yahoo in GBp: refused outright, never stored 100x off.
    universe.con.execute("UPDATE companies SET currency = 'USD' WHERE symbol = 'BP.L'")
    report = refresh(universe, symbols=["BP.L"])
    row = report.table().filter(pl.col("symbol") == "BP.L").row(0, named=True)
    assert row["status"] == "partial" and "universe lists USD" in row["message"]
    assert universe.scalar("SELECT count(*) FROM prices WHERE symbol = 'BP.L'") == 0
    # A share count 1000x off makes shares x close disagree with Yahoo's market cap: prices are held back.
    yahoo.listings["MP"].shares = 1e11
    report = refresh(universe, symbols=["MP"])
    row = report.table().filter(pl.col("symbol") == "MP").row(0, named=True)
    assert row["status"] == "rejected" and row["prices"] == 0
    rej = universe.query("SELECT kind, key, column_name, expectation, value FROM rejected_rows "
                         "WHERE source = 'yahoo:MP'").row(0, named=True)
    assert (rej["kind"], rej["key"], rej["column_name"]) == ("prices", "MP", "close")
    assert "within 0.2..5 x the provider's market cap" in rej["expectation"]
    assert float(rej["value"]) == pytest.approx(1.08e8 * 20.0 / (1e11 * 20.0))
    assert universe.scalar("SELECT count(*) FROM prices WHERE symbol = 'MP'") == 0


def test_persistent_rate_limits_stop_the_run_early(universe: Store, yahoo: FakeYahoo) -> None:
    add_universe(universe, [(f"R{i}", f"R{i}", "US", "USD", "miner", "explorer") for i in range(5)])
    yahoo.fail(r"finance\.yahoo\.com/(v10|v7|v8|ws)/", 429)
    report = refresh(universe, workers=1)
    table = report.table().filter(~pl.col("symbol").str.ends_with("USD=X"))
    assert set(table["status"]) == {"failed"}
    attempted = table.filter(pl.col("message").str.contains("rate limited"))
    not_attempted = table.filter(pl.col("message").str.starts_with("not attempted"))
    assert attempted.height == 3 and not_attempted.height == table.height - 3


def test_no_connection_fails_fast_without_retries(universe: Store, yahoo: FakeYahoo, sleeps: list[float]) -> None:
    add_universe(universe, [(f"R{i}", f"R{i}", "US", "USD", "miner", "explorer") for i in range(5)])
    yahoo.unreachable()
    report = refresh(universe, workers=1)
    table = report.table().filter(~pl.col("symbol").str.ends_with("USD=X"))
    assert set(table["status"]) == {"failed"}
    assert sleeps == []  # a DNS failure is not retried with backoff
    assert table.filter(pl.col("message").str.contains("cannot reach Yahoo Finance")).height == 3
    assert table.filter(pl.col("message").str.starts_with("not attempted")).height == table.height - 3


def test_cli_refresh_prints_the_summary_and_exits_1_on_failures(universe: Store, yahoo: FakeYahoo, invoke) -> None:
    universe.close()
    result = invoke("refresh", "--symbols", "MP,NOPE", "--format", "json", "--quiet")
    assert result.exit_code == 1
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    assert [r["symbol"] for r in rows] == ["MP", "NOPE"]  # NOPE is not in the universe: warned, then tried
    assert rows[0]["status"] == "ok" and rows[1]["status"] == "failed"
    assert result.stderr.startswith("Error: 1 of 2 symbol(s) had failures (NOPE)")
    again = invoke("refresh", "--symbols", "MP")
    assert again.exit_code == 0
    assert "skipped" in again.stdout and "Refreshing" not in again.stderr
    assert "fresh" in again.stderr  # a note, on stderr only
    assert "Warning" not in again.stderr and "\x1b[" not in again.stderr  # no progress bar off a terminal


def test_fx_is_not_asked_for_once_yahoo_is_unavailable(universe: Store, yahoo: FakeYahoo,
                                                       sleeps: list[float]) -> None:
    add_universe(universe, [(f"R{i}", f"R{i}", "US", "USD", "miner", "explorer") for i in range(4)])
    yahoo.unreachable()
    report = refresh(universe, workers=1)
    pairs = report.table().filter(pl.col("symbol").str.ends_with("USD=X"))
    assert pairs.height > 0 and set(pairs["status"]) == {"failed"}
    assert pairs["message"].str.starts_with("not attempted").all()
    assert yahoo.data_calls("USD=X") == []


def test_cli_refuses_an_empty_symbol_list_and_an_absurd_max_age(invoke) -> None:
    result = invoke("refresh", "--symbols", ",,")
    assert result.exit_code == 1 and "names no symbol" in result.stderr
    result = invoke("refresh", "--max-age", "99999999999d")
    assert result.exit_code == 2 and "longer than 3650 days" in result.stderr and "Traceback" not in result.stderr


def test_cli_rejects_a_bad_max_age(invoke) -> None:
    result = invoke("refresh", "--max-age", "soon")
    assert result.exit_code == 2
    assert "not a duration" in result.stderr


def test_real_prices_replace_the_synthetic_demo_series(universe: Store, yahoo: FakeYahoo) -> None:
    universe.con.execute("INSERT INTO prices VALUES ('MP', '2020-01-02', 5, 1, 'demo', now()), "
                         "('BP.L', '2020-01-02', 300, 1, 'demo', now())")
    refresh(universe, symbols=["MP"])
    providers = universe.query("SELECT symbol, provider, count(*) AS n FROM prices GROUP BY ALL ORDER BY ALL")
    assert providers.filter(pl.col("symbol") == "MP")["provider"].to_list() == ["yahoo"]
    assert providers.filter(pl.col("symbol") == "BP.L")["provider"].to_list() == ["demo"]  # not refreshed: kept
