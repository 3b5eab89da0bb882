"""The yfinance provider, driven through the real yfinance library by an offline Yahoo (no network)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from _yahoo_helpers import ANCHOR, FakeYahoo, Listing, recorded_aapl, recorded_statements, reset_yfinance

from screener.providers.yahoo import (
    STATEMENT_FIELDS,
    NotFound,
    ProviderError,
    RateLimited,
    RetryPolicy,
    YahooProvider,
    fundamentals_frame,
    price_scale,
)

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
        provider = YahooProvider(fake, retry=RetryPolicy(retries=retries, base_delay=1.0, max_delay=8.0),
                                 sleep=sleeps.append, seed=1)
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

    cash_flow = pd.DataFrame({pd.Timestamp("2025-12-31"): [100.0, -30.0]},
                             index=["Operating Cash Flow", "Capital Expenditure"])
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
    assert provider.fundamentals("MP").height == 0


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
