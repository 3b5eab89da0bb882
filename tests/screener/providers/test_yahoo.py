"""The yfinance provider, driven through the real yfinance library by an offline Yahoo (no network)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from screener.providers.yahoo import (
    STATEMENT_FIELDS,
    EmptyAnswer,
    NotFound,
    ProviderError,
    RateLimited,
    RetryPolicy,
    YahooProvider,
    fundamentals_frame,
    price_scale,
)
from tests._yahoo_helpers import ANCHOR, FakeYahoo, Listing, recorded_aapl, recorded_statements, reset_yfinance
from tests.builders import ROOT

#: Where price requests start: two years before the fake market's last trading day (never the clock's today).
START = ANCHOR - timedelta(days=730)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make(sleeps: list[float]):
    """Build (fake Yahoo, provider) with recorded backoff sleeps instead of real waiting."""
    reset_yfinance()

    def _make(*listings: Listing, retries: int = 3) -> tuple[FakeYahoo, YahooProvider]:
        fake = FakeYahoo(listings)
        provider = YahooProvider(
            fake, retry=RetryPolicy(retries=retries, base_delay=1.0, max_delay=8.0), sleep=sleeps.append, seed=1
        )
        return fake, provider

    return _make


def test_recorded_statements_map_to_the_contract(make) -> None:
    msft = Listing("MSFT", statements=recorded_statements("timeseries_balance_sheet_annual_MSFT.json"))
    _, provider = make(msft, recorded_aapl())
    bs = provider.fundamentals("MSFT").filter(pl.col("period") == "FY").sort("period_end")
    assert bs["period_end"].to_list() == [date(2022, 6, 30), date(2023, 6, 30), date(2024, 6, 30), date(2025, 6, 30)]
    assert bs["shares_outstanding"].to_list() == [7.464e9, 7.432e9, 7.434138859e9, 7.434e9]
    assert bs["currency"].unique().to_list() == ["USD"]
    assert bs["revenue"].null_count() == 4  # no income statement recorded: unknown, never zero
    inc = provider.fundamentals("AAPL").filter(pl.col("period") == "Q").sort("period_end")
    assert inc.height == 5
    assert inc["revenue"][0] == 85777000000.0  # the recorded quarterlyTotalRevenue for 2024-06-30


def test_capex_is_a_positive_magnitude_and_fcf_is_yahoos(make) -> None:
    _, provider = make(Listing("MP"))
    f = provider.fundamentals("MP").filter(pl.col("period") == "FY").sort("period_end")
    assert f["capital_expenditure"][0] == pytest.approx(7.5e6 * 4)  # Yahoo sent -30e6
    assert (f["capital_expenditure"] > 0).all()
    assert f["free_cash_flow"][0] == pytest.approx(12.5e6 * 4)
    assert f["operating_cash_flow"][0] == pytest.approx(20e6 * 4)


def test_missing_fcf_is_derived_and_missing_lines_stay_null() -> None:
    import pandas as pd

    cash_flow = pd.DataFrame(
        {pd.Timestamp("2025-12-31"): [100.0, -30.0]}, index=["Operating Cash Flow", "Capital Expenditure"]
    )
    income = pd.DataFrame({pd.Timestamp("2025-12-31"): [float("nan")]}, index=["Total Revenue"])
    f = fundamentals_frame("MP", {("cash_flow", "yearly"): cash_flow, ("income", "yearly"): income}, "USD")
    assert f.row(0, named=True)["free_cash_flow"] == 70.0
    assert f.row(0, named=True)["capital_expenditure"] == 30.0
    assert f.row(0, named=True)["revenue"] is None


def test_sub_unit_statements_scale_money_but_not_shares() -> None:
    import pandas as pd

    bs = pd.DataFrame({pd.Timestamp("2025-12-31"): [500.0, 1e6]}, index=["Total Debt", "Ordinary Shares Number"])
    row = fundamentals_frame("X.L", {("balance_sheet", "yearly"): bs}, "GBp").row(0, named=True)
    assert (row["currency"], row["total_debt"], row["shares_outstanding"]) == ("GBP", 5.0, 1e6)


def test_statement_currency_is_financial_currency_not_the_listing(make) -> None:
    bp = Listing("BP.L", quote_currency="GBp", financial_currency="USD", timezone="Europe/London", price=380.0)
    _, provider = make(bp)
    profile = provider.profile("BP.L")
    assert (profile["quote_currency"], profile["financial_currency"]) == ("GBp", "USD")
    assert profile["price"] == pytest.approx(3.80)  # 380 pence in pounds
    assert profile["market_cap"] == pytest.approx(3.80 * bp.shares)
    assert provider.fundamentals("BP.L")["currency"].unique().to_list() == ["USD"]


def test_gbp_prices_keep_the_universe_unit_or_go_to_the_main_unit(make) -> None:
    bp = Listing("BP.L", quote_currency="GBp", financial_currency="USD", timezone="Europe/London", price=380.0)
    _, provider = make(bp)
    as_listed = provider.prices("BP.L", START, unit="GBp", end=ANCHOR)
    assert (as_listed.quote_currency, as_listed.unit, as_listed.scale) == ("GBp", "GBp", 1.0)
    assert as_listed.frame["close"][-1] == pytest.approx(380.0)
    main = provider.prices("BP.L", START, end=ANCHOR)
    assert (main.unit, main.scale) == ("GBP", 0.01)
    assert main.frame["close"][-1] == pytest.approx(3.80)
    assert main.frame["volume"].to_list() == as_listed.frame["volume"].to_list()


def test_price_scale_reconciles_sub_units_and_refuses_other_currencies() -> None:
    assert price_scale("GBp", "GBp") == (1.0, "GBp")
    assert price_scale("GBP", "GBp") == (100.0, "GBp")  # a day Yahoo quoted pounds for a pence listing
    assert price_scale("ZAc", None) == (0.01, "ZAR")
    assert price_scale("ILA", "ILS") == (0.01, "ILS")
    with pytest.raises(ProviderError, match="universe lists USD"):
        price_scale("CAD", "USD")


def test_share_history_keeps_the_last_count_of_a_repeated_date(make) -> None:
    mp = Listing("MP", share_counts=[("2025-01-02", 1.60e8), ("2025-01-02", 1.61e8), ("2025-06-30", 1.65e8)])
    _, provider = make(mp)
    shares = provider.shares("MP", date(2020, 1, 1), ANCHOR)
    assert shares["date"].to_list() == [date(2025, 1, 2), date(2025, 6, 30)]
    assert shares["shares"].to_list() == [1.61e8, 1.65e8]


def test_no_share_history_is_empty_not_zero(make) -> None:
    _, provider = make(Listing("MP"))
    assert provider.shares("MP", START, ANCHOR).height == 0


def test_missing_ticker_is_not_found(make) -> None:
    _, provider = make(Listing("MP"))
    with pytest.raises(NotFound, match="not found on Yahoo Finance"):
        provider.info("NOPE.AX")
    with pytest.raises(NotFound):
        provider.prices("NOPE.AX", START, end=ANCHOR)


def test_rate_limit_is_retried_with_backoff_then_succeeds(make, sleeps: list[float]) -> None:
    fake, provider = make(Listing("MP"))
    # yfinance itself re-asks once after an HTTP error, so two 429s make one failed attempt of ours.
    fake.fail(r"quoteSummary/MP", 429, times=4)
    info = provider.info("MP")
    assert info["financialCurrency"] == "USD"
    assert provider.retries == 2
    assert len(sleeps) == 2  # exponential: 1 s then 2 s, each shortened by up to half (jitter)
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0


def test_rate_limit_gives_up_after_the_capped_retries(make, sleeps: list[float]) -> None:
    fake, provider = make(Listing("MP"), retries=2)
    fake.fail(r"timeseries/MP\?.*type=annual", 429)
    with pytest.raises(RateLimited, match=r"gave up after 3 attempts"):
        provider.statement("MP", "income", "yearly")
    assert len(sleeps) == 2


def test_an_empty_statement_is_unknown(make) -> None:
    _, provider = make(Listing("MP", statements={}))
    assert provider.statement("MP", "balance_sheet", "quarterly") is None
    with pytest.raises(EmptyAnswer, match="unknown, not none"):  # never an empty frame that reads as "nothing"
        provider.fundamentals("MP")


def test_session_goes_straight_to_yfinance_and_caches_live_in_the_product_folder(make, tmp_path: Path) -> None:
    import yfinance as yf
    from yfinance.data import YfData

    fake, provider = make(Listing("MP"))
    provider.prices("MP", START, end=ANCHOR)
    assert YfData._instances[YfData]._session is fake
    assert yf.config.debug.hide_exceptions is False
    folder = tmp_path / "xdg-cache" / "ree-screener" / "yfinance"
    assert provider.cache_dir == folder
    assert (folder / "tkr-tz.db").exists()
    assert any("fc.yahoo.com" in u for u in fake.calls) and any("getcrumb" in u for u in fake.calls)


def test_mapped_labels_are_labels_yfinance_knows() -> None:
    from yfinance import const

    known = {k.lower() for keys in const.fundamentals_keys.values() for k in keys}
    for fields in STATEMENT_FIELDS.values():
        for labels in fields.values():
            for label in labels:
                assert label.replace(" ", "").lower() in known, label


def test_fx_is_usd_per_unit_and_usd_needs_none(make) -> None:
    _, provider = make(Listing("KRWUSD=X", price=0.00072, timezone="Asia/Seoul"))
    fx = provider.fx("KRW", date(2020, 1, 1), ANCHOR)
    assert fx["currency"].unique().to_list() == ["KRW"]
    assert fx["usd_per_unit"][-1] == pytest.approx(0.00072, rel=0.01)
    assert provider.fx("USD").height == 0


# -- empty answers, the statement lock, the run guard -----------------------------------------------------------
@pytest.mark.parametrize("answer", ["http 200, result []", "http 401 invalid crumb"])
def test_an_empty_answer_is_unknown_whatever_form_it_takes(make, answer: str) -> None:
    fake, provider = make(Listing("MP"))
    if answer.startswith("http 200"):
        fake.empty(r"timeseries/MP\?.*type=annual")
    else:
        fake.fail(r"timeseries/MP\?.*type=annual", 401)
    assert provider.statement("MP", "income", "yearly") is None  # unknown: no table, no exception, no zeros
    tables, problems = provider.statements("MP")
    assert problems == []
    assert [k for k, t in tables.items() if t is None] == [
        (s, "yearly") for s in ("income", "balance_sheet", "cash_flow")
    ]
    fake.clear_failures()  # the failed answer was not memoised: the next request asks Yahoo again
    assert provider.statement("MP", "income", "yearly") is not None


def _type_count(url: str) -> int:
    return len(url.split("type=", 1)[1].split("&", 1)[0].split(","))


def _wait_for(done: Callable[[], bool], seconds: float) -> bool:
    """Poll ``done()`` for up to ``seconds``. Polling with short relative sleeps rather than a timed wait on an
    Event: a timed wait computes an absolute deadline, which a faked clock (``faketime``) turns into days."""
    import time

    for _ in range(int(seconds / 0.01)):
        if done():
            return True
        time.sleep(0.01)
    return done()


def test_statement_requests_are_serialised_across_workers(make) -> None:
    """Force the interleaving yfinance 1.7 is exposed to: worker A's statement request fails, which turns on the
    process-wide ``fundamentals_use_chunked``; worker B asks while it is on. Yahoo here is throttling for as long as
    A's failure lasts (every statement request answered HTTP 200 with nothing). Without the lock B goes down the
    chunked path inside that window and comes back empty every time; with it, B asks after A is done, and gets its
    statement."""
    import threading

    fake, provider = make(Listing("AAA"), Listing("BBB"))
    throttled = threading.Event()
    a_on_chunked_path = threading.Event()
    b_asked_while_throttled = threading.Event()
    from tests._yahoo_helpers import EMPTY_TIMESERIES, _response

    def yahoo_throttling_during_a_failure(url: str):
        if "fundamentals-timeseries" not in url or "type=" not in url:
            return None
        if "/AAA?" in url and _type_count(url) > 60 and not a_on_chunked_path.is_set():
            throttled.set()  # A's one-URL request: it fails, and yfinance turns on the chunked path
            return _response(url, 200, EMPTY_TIMESERIES)
        if "/AAA?" in url and throttled.is_set():  # A's first chunk: the switch is on while this is answered
            a_on_chunked_path.set()
            _wait_for(b_asked_while_throttled.is_set, 3)  # B's request comes now, or (serialised) after A is done
            throttled.clear()
            return _response(url, 200, EMPTY_TIMESERIES)
        if "/BBB?" in url and throttled.is_set():
            b_asked_while_throttled.set()
            return _response(url, 200, EMPTY_TIMESERIES)
        return None

    fake.hooks.append(yahoo_throttling_during_a_failure)
    results: dict[str, object] = {}

    def worker_a() -> None:
        results["AAA"] = provider.statement("AAA", "income", "yearly")

    def worker_b() -> None:
        if _wait_for(a_on_chunked_path.is_set, 10):
            results["BBB"] = provider.statement("BBB", "income", "yearly")

    threads = [threading.Thread(target=worker_a), threading.Thread(target=worker_b)]
    for t in threads:
        t.start()
    assert _wait_for(lambda: not any(t.is_alive() for t in threads), 30)
    assert "BBB" in results and results["AAA"] is None  # A's own answer was empty: unknown
    assert not b_asked_while_throttled.is_set(), "B's statement request was made while A's failure was in flight"
    b = results["BBB"]
    assert b is not None and b.loc["Total Revenue"].notna().all()  # type: ignore[attr-defined]


def test_a_spent_request_budget_stops_requests_before_they_are_made(make) -> None:
    from screener.providers.yahoo import RunGuard, Stopped

    fake, provider = make(Listing("MP"))
    provider.guard = RunGuard(max_requests=2)
    provider.info("MP")
    provider.statement("MP", "income", "yearly")
    before = len(fake.calls)
    with pytest.raises(Stopped, match=r"request budget \(2 requests\) is spent"):
        provider.statement("MP", "income", "quarterly")
    assert len(fake.calls) == before  # not one more request


def test_a_retry_that_would_outlast_the_deadline_is_not_waited_for(make, sleeps: list[float]) -> None:
    from screener.providers.yahoo import RunGuard

    fake, provider = make(Listing("MP"), retries=3)
    now = [0.0]
    provider.guard = RunGuard(deadline=0.4, clock=lambda: now[0])  # less than the first backoff (0.5..1 s)
    fake.fail(r"quoteSummary/MP", 429)
    with pytest.raises(RateLimited, match="deadline is sooner than the next retry"):
        provider.info("MP")
    assert sleeps == []


# -- periods by spacing -----------------------------------------------------------------------------------------
def test_an_asx_quarterly_table_of_half_years_is_read_as_half_years(make) -> None:
    from tests._yahoo_helpers import HALF_YEAR_ENDS, synthetic_statements

    lyc = Listing(
        "LYC.AX",
        quote_currency="AUD",
        financial_currency="AUD",
        timezone="Australia/Sydney",
        statements=synthetic_statements("AUD", quarter_ends=HALF_YEAR_ENDS, quarter_type="6M"),
    )
    _, provider = make(lyc, Listing("MP"))
    f = provider.fundamentals("LYC.AX")
    sub = f.filter(pl.col("period") != "FY").sort("period_end")
    assert set(sub["period"]) == {"H"}  # Yahoo called the table "quarterly"; the columns are six months apart
    assert sub["period_end"].to_list() == [date.fromisoformat(d) for d in HALF_YEAR_ENDS]
    assert set(f.filter(pl.col("period") == "FY")["period_end"].dt.month()) == {12}
    mp = provider.fundamentals("MP")  # a twin that differs only in reporting quarterly
    assert set(mp.filter(pl.col("period") != "FY")["period"]) == {"Q"}


def _month_end(year: int, month: int) -> date:
    y, m = divmod(month - 1, 12)
    first_next = date(year + y + (m + 1) // 12, (m + 1) % 12 + 1, 1)
    return first_next - timedelta(days=1)


period_ends = st.builds(
    lambda label, n, year, month, jitter: (
        label,
        [_month_end(year, month + k * (3 if label == "Q" else 6)) + timedelta(days=jitter[k]) for k in range(n)],
    ),
    st.sampled_from(["Q", "H"]),
    st.integers(2, 8),
    st.integers(2000, 2030),
    st.integers(1, 12),
    st.lists(st.integers(-3, 3), min_size=8, max_size=8),
)


@given(period_ends)
@settings(max_examples=200, deadline=None)
def test_regular_sub_annual_columns_get_their_period(case: tuple[str, list[date]]) -> None:
    from screener.providers.yahoo import column_periods

    label, ends = case
    assert set(column_periods(ends, "quarterly").values()) == {label}


@given(period_ends.filter(lambda c: len(c[1]) >= 5), st.data())
@settings(max_examples=200, deadline=None)
def test_a_missing_column_never_makes_a_wrong_period(case: tuple[str, list[date]], data: st.DataObject) -> None:
    """A quarter missing from a quarterly table leaves a half-year-sized gap: the columns beside it may be left
    unknown, never labelled as something they are not."""
    from screener.providers.yahoo import column_periods

    label, ends = case
    gone = data.draw(st.integers(1, len(ends) - 2))
    periods = column_periods(ends[:gone] + ends[gone + 1 :], "quarterly")
    assert set(periods.values()) <= {label, None}
    assert list(periods.values()).count(label) >= len(ends) - 4  # only the neighbours of the gap can be unknown


def test_yearly_columns_are_years_unless_spaced_like_a_short_transition_period() -> None:
    from screener.providers.yahoo import column_periods

    ends = [date(2021, 12, 31), date(2022, 12, 31), date(2023, 6, 30), date(2024, 6, 30)]
    assert column_periods(ends, "yearly") == {ends[0]: "FY", ends[1]: "FY", ends[2]: None, ends[3]: "FY"}
    gap_year = [date(2020, 12, 31), date(2022, 12, 31), date(2023, 12, 31)]  # a missing year is still years
    assert set(column_periods(gap_year, "yearly").values()) == {"FY"}


def test_a_lone_quarterly_column_is_left_out_and_said_so() -> None:
    import pandas as pd

    income = pd.DataFrame({pd.Timestamp("2026-06-30"): [100.0]}, index=["Total Revenue"])
    notes: list[str] = []
    f = fundamentals_frame("X", {("income", "quarterly"): income}, "USD", notes=notes)
    assert f.height == 0
    assert notes == [
        "statement columns ending 2026-06-30 left out: their period (quarter, half or year) cannot be "
        "told from their spacing"
    ]


# -- splits -----------------------------------------------------------------------------------------------------
def test_splits_come_from_the_charts_split_events(make) -> None:
    mp = Listing("MP", days=400, splits=[("2026-07-01", 5, 1), ("2025-11-03", 1, 10), ("2023-01-03", 2, 1)])
    fake, provider = make(mp)
    history = provider.prices("MP", date(2025, 6, 1), end=ANCHOR)
    assert history.splits.to_dicts() == [  # a 1:10 consolidation and a 5:1 split; the 2023 one is outside
        {"symbol": "MP", "date": date(2025, 11, 3), "ratio": 0.1},
        {"symbol": "MP", "date": date(2026, 7, 1), "ratio": 5.0},
    ]
    assert len(fake.data_calls(r"/v8/finance/chart/MP\?.*period1")) == 1  # the same request as the closes
    twin = provider.prices("MP", date(2026, 7, 2), end=ANCHOR)  # after the last split: none
    assert twin.splits.height == 0 and twin.frame.height > 0


def test_the_installed_yfinance_is_in_the_pinned_range_and_has_what_the_provider_guards() -> None:
    """The provider leans on yfinance internals (an empty statement result raises the base ``YFException``; the
    process-wide ``fundamentals_use_chunked`` switch): an upgrade outside the tested range must be a decision."""
    import tomllib
    from importlib.metadata import version

    from packaging.requirements import Requirement
    from yfinance.data import YfData

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pin = next(Requirement(d) for d in deps if Requirement(d).name == "yfinance")
    assert pin.specifier.contains(version("yfinance")), (str(pin), version("yfinance"))
    assert pin.specifier.contains("1.7.0") and not pin.specifier.contains("1.8.0")
    assert hasattr(YfData(), "fundamentals_use_chunked")
