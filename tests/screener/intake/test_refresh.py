"""``refresh`` end to end: real yfinance, an offline Yahoo, a real store; validation gates included."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest

from screener.intake.refresh import MaxAge, parse_duration, refresh
from screener.providers.yahoo import RetryPolicy, YahooProvider
from screener.store import Store
from screener.store.profiles import profiles, refresh_state, share_history
from tests._yahoo_helpers import ANCHOR_NOW, FakeYahoo, Listing, reset_yfinance

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
    monkeypatch.setattr("screener.intake.refresh.utcnow", lambda: ANCHOR_NOW)
    fake = FakeYahoo(listings())

    def provider() -> YahooProvider:
        return YahooProvider(fake, retry=RetryPolicy(retries=2, base_delay=0.5), sleep=sleeps.append, seed=3)

    monkeypatch.setattr("screener.intake.refresh.default_provider", provider)
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


def test_prices_resume_from_the_last_stored_date_without_refetching_fundamentals(
    universe: Store, yahoo: FakeYahoo
) -> None:
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
        2026, 8, 12, tzinfo=ZoneInfo("America/New_York")
    )  # the whole of 2026-08-11, exchange time


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
    assert (
        universe.scalar("SELECT fetched_at FROM refresh_state WHERE subject = 'MP' AND part = 'fundamentals'")
        == fetched_at
    )  # not marked fresh: the next run tries again
    log = universe.query(
        "SELECT status, message FROM ingest_log WHERE symbol = 'MP' AND kind = 'fundamentals' ORDER BY id DESC LIMIT 1"
    ).row(0, named=True)
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
    assert rejected.rows(named=True) == [
        {
            "provider": "yahoo",
            "source": "yahoo:MP",
            "kind": "prices",
            "key": f"MP/{bad_day.isoformat()}",
            "expectation": "expect_column_values_to_be_between (volume >= 0)",
            "column_name": "volume",
            "value": "-5",
        }
    ]
    stored = universe.frame("prices", ["MP"])
    assert stored.height == row["prices"] > 0
    assert bad_day not in stored["date"].to_list()  # kept out of the main table
    log = universe.query("SELECT status, rows_rejected, message FROM ingest_log WHERE kind = 'prices'").row(0)
    assert log[0] == "rejected" and log[1] == 1 and "1 row(s) rejected by validation" in log[2]


def test_a_rejected_profile_is_resolved_when_a_later_refresh_stores_it(universe: Store, yahoo: FakeYahoo) -> None:
    yahoo.listings["MP"].shares = -1.0  # Yahoo's quote says a negative share count: the profile is kept out
    refresh(universe, symbols=["MP"])
    open_rows = "SELECT count(*) FROM rejected_rows WHERE kind = 'profiles' AND key = 'MP' AND resolved_at IS NULL"
    assert universe.scalar(open_rows) >= 1
    assert universe.scalar("SELECT count(*) FROM company_profiles WHERE symbol = 'MP'") == 0
    yahoo.listings["MP"].shares = 1.08e8
    refresh(universe, symbols=["MP"], max_age="0")
    assert universe.scalar("SELECT count(*) FROM company_profiles WHERE symbol = 'MP'") == 1
    assert universe.scalar(open_rows) == 0


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
    held = universe.query(
        "SELECT kind, key, column_name, expectation, value FROM rejected_rows WHERE source = 'yahoo:MP' ORDER BY key"
    )
    assert held.height == row["rejected"] > 1  # one ledger row per price held back, keyed like the price
    rej = held.row(-1, named=True)
    assert (rej["kind"], rej["column_name"]) == ("prices", "close") and rej["key"].startswith("MP/")
    assert "within 0.2..5 x the provider's market cap" in rej["expectation"]
    assert float(rej["value"]) == pytest.approx(1.08e8 * 20.0 / (1e11 * 20.0))
    assert universe.scalar("SELECT count(*) FROM prices WHERE symbol = 'MP'") == 0
    # Once the share count is right again, storing the same days resolves the hold-backs in the ledger.
    yahoo.listings["MP"].shares = 1.08e8
    assert refresh(universe, symbols=["MP"], max_age="0").table().filter(pl.col("symbol") == "MP")["status"][0] == "ok"
    assert universe.scalar("SELECT count(*) FROM rejected_rows WHERE source = 'yahoo:MP' AND resolved_at IS NULL") == 0


def test_a_storm_of_rate_limits_stops_the_run_early_in_one_line_and_loses_nothing(
    universe: Store, yahoo: FakeYahoo
) -> None:
    add_universe(universe, [(f"R{i}", f"R{i}", "US", "USD", "miner", "explorer") for i in range(5)])
    refresh(universe, symbols=["R3"])  # something stored before the storm
    kept = {k: universe.frame(k, ["R3"]).drop("loaded_at") for k in ("fundamentals", "prices")}
    fetched_at = universe.query("SELECT part, fetched_at FROM refresh_state WHERE subject = 'R3' ORDER BY part")
    yahoo.fail(r"finance\.yahoo\.com/(v10|v7|v8|ws)/", 429)
    mark = len(yahoo.calls)
    report = refresh(universe, workers=1, max_age="0")
    table = report.table().filter(~pl.col("symbol").str.ends_with("USD=X"))
    given_up = table.filter(pl.col("status") == "failed")
    assert given_up.height == 3 and given_up["message"].str.contains("rate limited").all()
    not_attempted = table.filter(pl.col("status") == "not_attempted")
    assert not_attempted.height == table.height - 3
    assert yahoo.data_calls()[mark:] == [
        u for u in yahoo.data_calls()[mark:] if any(f"/{s}" in u for s in given_up["symbol"])
    ]  # no request for the rest
    pairs = report.table().filter(pl.col("symbol").str.ends_with("USD=X"))
    assert set(pairs["status"]) == {"not_attempted"}
    assert report.stopped == "Yahoo Finance was rate-limited (HTTP 429) for 3 symbols in a row"
    with pytest.raises(Exception) as err:
        report.raise_if_problems()
    line = str(err.value)
    assert "\n" not in line and line.startswith(f"stopped early: {report.stopped}; 7 not attempted")
    for kind, frame in kept.items():  # nothing stored is lost, nothing is marked fresh
        assert universe.frame(kind, ["R3"]).drop("loaded_at").equals(frame)
    assert universe.query("SELECT part, fetched_at FROM refresh_state WHERE subject = 'R3' ORDER BY part").equals(
        fetched_at
    )


def test_no_connection_fails_fast_without_retries(universe: Store, yahoo: FakeYahoo, sleeps: list[float]) -> None:
    add_universe(universe, [(f"R{i}", f"R{i}", "US", "USD", "miner", "explorer") for i in range(5)])
    yahoo.unreachable()
    report = refresh(universe, workers=1)
    table = report.table().filter(~pl.col("symbol").str.ends_with("USD=X"))
    assert sleeps == []  # a DNS failure is not retried with backoff
    failed = table.filter(pl.col("status") == "failed")
    assert failed.height == 3 and failed["message"].str.contains("cannot reach Yahoo Finance").all()
    assert table.filter(pl.col("status") == "not_attempted").height == table.height - 3
    assert report.stopped == "Yahoo Finance could not be reached for 3 symbols in a row"


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


def test_fx_is_not_asked_for_once_yahoo_is_unavailable(universe: Store, yahoo: FakeYahoo, sleeps: list[float]) -> None:
    add_universe(universe, [(f"R{i}", f"R{i}", "US", "USD", "miner", "explorer") for i in range(4)])
    yahoo.unreachable()
    report = refresh(universe, workers=1)
    pairs = report.table().filter(pl.col("symbol").str.ends_with("USD=X"))
    assert pairs.height > 0 and set(pairs["status"]) == {"not_attempted"}
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
    universe.con.execute(
        "INSERT INTO prices VALUES ('MP', '2020-01-02', 5, 1, 'demo', now()), "
        "('BP.L', '2020-01-02', 300, 1, 'demo', now())"
    )
    refresh(universe, symbols=["MP"])
    providers = universe.query("SELECT symbol, provider, count(*) AS n FROM prices GROUP BY ALL ORDER BY ALL")
    assert providers.filter(pl.col("symbol") == "MP")["provider"].to_list() == ["yahoo"]
    assert providers.filter(pl.col("symbol") == "BP.L")["provider"].to_list() == ["demo"]  # not refreshed: kept


# -- empty answers ----------------------------------------------------------------------------------------------
STATEMENT_REQUESTS = r"timeseries/{}\?.*type=(annual|quarterly)"


def _state(store: Store, subject: str, part: str = "fundamentals") -> dict[str, Any]:
    return store.query(
        "SELECT status, fetched_at, empty_since, message FROM refresh_state "
        f"WHERE subject = '{subject}' AND part = '{part}'"
    ).row(0, named=True)


@pytest.mark.parametrize("answer", ["http 200, result []", "http 401 invalid crumb"])
def test_statements_that_all_come_back_empty_are_unknown_not_ok(universe: Store, yahoo: FakeYahoo, answer: str) -> None:
    if answer.startswith("http 200"):
        yahoo.empty(STATEMENT_REQUESTS.format("MP"))
    else:
        yahoo.fail(STATEMENT_REQUESTS.format("MP"), 401)
    report = refresh(universe, symbols=["MP"])
    row = report.table().filter(pl.col("symbol") == "MP").row(0, named=True)
    assert row["status"] == "empty", row
    assert "statements came back empty: unknown" in row["message"] and row["prices"] > 0
    assert universe.scalar("SELECT count(*) FROM fundamentals") == 0
    assert report.empty == ["MP"] and report.failed == []
    with pytest.raises(
        Exception,
        match=r"^1 symbol\(s\) came back empty from Yahoo, which is unknown, not 'no "
        r"data' \(MP\)",
    ):
        report.raise_if_problems()
    state = _state(universe, "MP")
    assert (state["status"], state["fetched_at"]) == ("empty", None)  # not fresh
    assert state["empty_since"] is not None
    assert _state(universe, "MP", "prices")["fetched_at"] is not None  # the prices that did come are fresh
    mark = len(yahoo.calls)
    again = refresh(universe, symbols=["MP"])  # asked again at once: nothing counted it as fresh
    assert any(re.search(STATEMENT_REQUESTS.format("MP"), u) for u in yahoo.calls[mark:])
    assert again.table()["status"].to_list() == ["empty"]


def test_an_empty_answer_never_refreshes_stored_statements(universe: Store, yahoo: FakeYahoo) -> None:
    refresh(universe, symbols=["MP"])
    stored = universe.frame("fundamentals", ["MP"]).drop("loaded_at")
    fetched_at = _state(universe, "MP")["fetched_at"]
    yahoo.empty(STATEMENT_REQUESTS.format("MP"))
    for days in (8, 10, 30):  # stale, and empty in runs days apart: stored statements keep it unknown
        report = refresh(universe, symbols=["MP"], now=ANCHOR_NOW + timedelta(days=days))
        row = report.table().row(0, named=True)
        assert row["status"] == "empty" and "the stored statements are kept" in row["message"], row
        assert universe.frame("fundamentals", ["MP"]).drop("loaded_at").equals(stored)
        state = _state(universe, "MP")
        assert (state["status"], state["fetched_at"]) == ("empty", fetched_at)
    # Only the quarterly tables empty, quarterly statements stored: the annual ones are stored, the part stays
    # unknown (a throttled answer can empty some tables and not others).
    yahoo.clear_failures()
    yahoo.empty(r"timeseries/MP\?.*type=quarterly")
    report = refresh(universe, symbols=["MP"], now=ANCHOR_NOW + timedelta(days=40))
    row = report.table().row(0, named=True)
    assert row["status"] == "empty" and row["fundamentals"] == 4, row
    assert "quarterly statements came back empty, though quarterly statements are stored" in row["message"]
    assert _state(universe, "MP")["fetched_at"] == fetched_at


def test_no_statements_is_concluded_only_with_corroboration(universe: Store, yahoo: FakeYahoo) -> None:
    yahoo.listings["REMX"] = Listing("REMX", quote_type="ETF", statements={})
    yahoo.listings["NEWCO"] = Listing("NEWCO", statements={})
    add_universe(
        universe,
        [
            ("REMX", "Rare earth ETF", "US", "USD", "miner", "producer"),
            ("NEWCO", "New Co", "US", "USD", "miner", "explorer"),
        ],
    )
    first = refresh(universe, symbols=["REMX", "NEWCO"])
    status = dict(first.table().select("symbol", "status").iter_rows())
    assert status == {"NEWCO": "empty", "REMX": "no_statements"}  # an ETF has none; an equity's empty is unknown
    assert "Yahoo lists it as ETF" in first.table().filter(pl.col("symbol") == "REMX")["message"][0]
    assert _state(universe, "REMX")["fetched_at"] is not None  # corroborated: fresh, asked again next week
    since = _state(universe, "NEWCO")["empty_since"]
    assert since is not None and _state(universe, "NEWCO")["fetched_at"] is None

    later = refresh(universe, symbols=["NEWCO"], now=ANCHOR_NOW + timedelta(hours=6))
    assert later.table()["status"].to_list() == ["empty"]  # the same day proves nothing
    assert _state(universe, "NEWCO")["empty_since"] == since  # the first empty answer is kept

    next_day = refresh(universe, symbols=["NEWCO"], now=ANCHOR_NOW + timedelta(days=1, hours=1))
    row = next_day.table().row(0, named=True)
    assert row["status"] == "no_statements" and "empty in every run since" in row["message"], row
    next_day.raise_if_problems()  # concluded: not a problem
    state = _state(universe, "NEWCO")
    assert state["status"] == "empty" and state["fetched_at"] is not None and state["empty_since"] == since

    yahoo.listings["NEWCO"].statements = Listing("X").statements  # statements appear: the run of empties ends
    refresh(universe, symbols=["NEWCO"], now=ANCHOR_NOW + timedelta(days=9))
    state = _state(universe, "NEWCO")
    assert (state["status"], state["empty_since"]) == ("ok", None)


# -- the quote does not block the rest --------------------------------------------------------------------------
def test_a_failed_quote_does_not_block_statements_and_prices_once_a_profile_is_stored(
    universe: Store, yahoo: FakeYahoo
) -> None:
    refresh(universe, symbols=["MP"])
    yahoo.listings["MP"].price = 21.0
    yahoo.listings["MP"].bars = None
    yahoo.listings["MP"].__post_init__()  # a new last close
    yahoo.fail(r"quoteSummary/MP", 429)
    mark = len(yahoo.calls)
    report = refresh(universe, symbols=["MP"], max_age="0")
    row = report.table().row(0, named=True)
    assert any("timeseries/MP" in u for u in yahoo.calls[mark:])
    assert (row["status"], row["fundamentals"]) == ("partial", 9), row
    assert "profile not refreshed, the stored one kept" in row["message"]
    assert universe.scalar("SELECT close FROM prices WHERE symbol = 'MP' ORDER BY date DESC LIMIT 1") == 21.0
    assert profiles(universe, ["MP"])["financial_currency"].to_list() == ["USD"]  # the stored profile stays
    assert _state(universe, "MP")["status"] == "failed"  # the profile part is asked again next run


# -- deadline and request budget --------------------------------------------------------------------------------
def _more_symbols(store: Store, yahoo: FakeYahoo, n: int) -> list[str]:
    syms = [f"R{i}" for i in range(n)]
    add_universe(store, [(s, s, "US", "USD", "miner", "explorer") for s in syms])
    for s in syms:
        yahoo.listings[s] = Listing(s)
    return syms


def test_the_run_stops_at_its_deadline_and_says_so_in_one_line(universe: Store, yahoo: FakeYahoo) -> None:
    syms = _more_symbols(universe, yahoo, 6)
    elapsed = [0.0]

    def ten_seconds_per_request(url: str) -> None:
        elapsed[0] += 10.0

    yahoo.hooks.append(ten_seconds_per_request)
    report = refresh(universe, symbols=syms, workers=1, deadline="5m", monotonic=lambda: elapsed[0])
    table = report.table()
    status = ",".join(table["status"])
    assert re.fullmatch(r"(ok,)+((failed|partial),)?(not_attempted,)*not_attempted", status), table.to_dicts()
    assert report.stopped == "the run's deadline (5m) passed"
    not_attempted = table.filter(pl.col("status") == "not_attempted")["symbol"].to_list()
    assert not [u for u in yahoo.data_calls() if any(f"/{s}?" in u for s in not_attempted)]
    for s in not_attempted:
        assert (
            universe.scalar(f"SELECT count(*) FROM refresh_state WHERE subject = '{s}' AND fetched_at IS NOT NULL") == 0
        )
    with pytest.raises(Exception) as err:
        report.raise_if_problems()
    assert str(err.value).startswith(
        f"stopped early: the run's deadline (5m) passed; {len(not_attempted)} not attempted"
    ) and "\n" not in str(err.value)


def test_the_request_budget_stops_the_run(universe: Store, yahoo: FakeYahoo) -> None:
    syms = _more_symbols(universe, yahoo, 4)
    report = refresh(universe, symbols=syms, workers=1, max_requests=20)  # 9 calls per symbol
    table = report.table()
    # 9 calls per symbol: two symbols done, the third interrupted after its quote and first statement (kept)
    assert table["status"].to_list() == ["ok", "ok", "partial", "not_attempted"], table.to_dicts()
    assert table["fundamentals"].to_list()[:3] == [9, 9, 4]
    assert table["message"][2] == (
        "interrupted: the run's request budget (20 requests) is spent; run refresh again later; prices not attempted"
    )
    assert _state(universe, "R2")["fetched_at"] is None
    assert report.stopped == "the run's request budget (20 requests) is spent"
    assert universe.scalar("SELECT count(DISTINCT symbol) FROM prices") == 2
    unlimited = refresh(universe, symbols=syms, workers=1, max_requests=0)  # 0: no budget; the rest is fetched
    assert set(unlimited.table()["status"]) <= {"ok", "skipped"} and unlimited.stopped is None


def test_cli_shows_the_deadline_and_budget_defaults_and_refuses_bad_ones(invoke) -> None:
    from screener.intake.refresh import DEFAULT_DEADLINE, DEFAULT_MAX_REQUESTS, parse_duration

    shown = invoke("refresh", "--help").stdout
    assert "--deadline" in shown and "--max-requests" in shown
    flat = " ".join(shown.split())
    assert "[default: 20m]" in flat and f"[default: {DEFAULT_MAX_REQUESTS};" in flat
    assert parse_duration("20m") == DEFAULT_DEADLINE
    bad = invoke("refresh", "--deadline", "soon")
    assert bad.exit_code == 2 and "not a duration" in bad.stderr
    bad = invoke("refresh", "--max-requests", "-1")
    assert bad.exit_code == 2 and "Traceback" not in bad.stderr


# -- splits -----------------------------------------------------------------------------------------------------
def test_splits_are_stored_and_counted_from_the_first_price_fetch(universe: Store, yahoo: FakeYahoo) -> None:
    mp = yahoo.listings["MP"]
    mp.days, mp.bars = 1500, None
    mp.splits = [("2023-05-01", 2, 1), ("2025-11-03", 1, 10), ("2026-07-01", 5, 1)]
    mp.__post_init__()
    report = refresh(universe, symbols=["MP"])
    row = report.table().row(0, named=True)
    assert (row["status"], row["splits"]) == ("ok", 3), row
    splits = universe.frame("splits", ["MP"])
    assert splits.select("date", "ratio").rows() == [
        (date(2023, 5, 1), 2.0),
        (date(2025, 11, 3), 0.1),
        (date(2026, 7, 1), 5.0),
    ]
    assert set(splits["provider"]) == {"yahoo"}
    # The 2023 split is known though closes are kept for two years only.
    assert universe.scalar("SELECT min(date) FROM prices WHERE symbol = 'MP'") >= date(2024, 8, 14)
    again = refresh(universe, symbols=["MP"], max_age="prices=0")  # from the last stored day: no split in it
    assert again.table()["splits"].to_list() == [0]
    assert universe.scalar("SELECT count(*) FROM splits") == 3


def test_a_users_import_wins_over_yahoo_unless_the_refresh_overrides_it(
    universe: Store, yahoo: FakeYahoo, invoke
) -> None:
    """Precedence through the command: the user's own FY row (another currency, another number) survives a refresh
    whole and the report says so; ``--overwrite-imports`` lets Yahoo replace it, again whole, never mixed."""
    mine = pl.DataFrame(
        {
            "symbol": ["MP"],
            "period_end": [date(2025, 12, 31)],
            "period": ["FY"],
            "currency": ["AUD"],
            "revenue": [999.0],
            "cash": [1.2e9],
        }
    )
    universe.upsert_real("fundamentals", mine, "file")
    universe.close()
    key = (
        "SELECT provider, currency, revenue, cash FROM fundamentals WHERE symbol = 'MP' AND period = 'FY' "
        "AND period_end = DATE '2025-12-31'"
    )
    result = invoke("refresh", "--symbols", "MP", "--format", "json", "--quiet")
    assert result.exit_code == 0, result.stderr
    row = json.loads(result.stdout)[0]
    assert row["status"] == "ok" and "not replaced: your own import takes precedence" in row["message"]
    with Store(universe.path) as store:
        assert store.rows(key) == [("file", "AUD", 999.0, 1.2e9)]
        assert store.scalar("SELECT count(*) FROM fundamentals WHERE symbol = 'MP' AND provider = 'yahoo'") > 0
    result = invoke(
        "refresh", "--symbols", "MP", "--max-age", "0", "--overwrite-imports", "--format", "json", "--quiet"
    )
    assert result.exit_code == 0, result.stderr
    assert "not replaced" not in (json.loads(result.stdout)[0]["message"] or "")
    with Store(universe.path) as store:
        provider, currency, revenue, cash = store.rows(key)[0]
        assert (provider, currency) == ("yahoo", "USD") and revenue != 999.0 and cash != 1.2e9
