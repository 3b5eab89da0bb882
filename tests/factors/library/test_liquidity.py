"""liquidity: median daily traded value in USD over the last 63 trading days."""

from __future__ import annotations

import statistics
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from factors.engine import compute_scores
from factors.inputs import FactorInputs
from tests.builders import AS_OF, company, daily, fx_rows, inputs, row


def test_hand_computed_median_over_the_last_63_days() -> None:
    volume: list[float | None] = [float(i) for i in range(70)]
    volume[69] = None  # no volume reported on the last day: skipped
    volume[60] = 0.0  # a day without trades counts as zero
    out = compute_scores(
        inputs(
            [company("A"), company("B.AX", currency="AUD")],
            prices=[daily("A", 70, close=2.0, volume=volume), daily("B.AX", 70, close=4.0, volume=volume)],
            fx=[fx_rows("AUD", 0.5)],
        ),
        AS_OF,
    )
    window = [2.0 * v for v in volume[7:] if v is not None]
    assert len(window) == 62
    assert row(out, "A")["liquidity"] == pytest.approx(statistics.median(window))
    assert row(out, "A")["liquidity.median_traded_value_usd"] == row(out, "A")["liquidity"]
    assert row(out, "B.AX")["liquidity"] == row(out, "A")["liquidity"]  # 4 AUD at 0.5 = 2 USD
    assert row(out, "A")["liquidity_pct"] == row(out, "B.AX")["liquidity_pct"] == 0.5


def test_too_few_traded_days_takes_the_worst_observed_value() -> None:
    out = compute_scores(
        inputs(
            [company("A"), company("B"), company("C")],
            prices=[
                daily("A", close=1.0, volume=100.0),
                daily("B", close=1.0, volume=50.0),
                daily("C", 5, close=1.0, volume=1e9),
            ],
        ),
        AS_OF,
    )
    c = row(out, "C")
    assert c["liquidity.median_traded_value_usd"] is None
    assert "worst:liquidity.median_traded_value_usd" in c["flags"]
    assert c["liquidity"] == 50.0 and c["liquidity_pct"] == row(out, "B")["liquidity_pct"]


def test_a_median_over_fewer_than_63_trading_days_is_flagged_short_history() -> None:
    out = compute_scores(
        inputs(
            [company("NEW"), company("OLD"), company("TINY")],
            prices=[
                daily("NEW", 28, close=1.0, volume=100.0),
                daily("OLD", 63, close=1.0, volume=50.0),
                daily("TINY", 5, close=1.0, volume=1.0),
            ],
        ),
        AS_OF,
    )
    new = row(out, "NEW")
    assert new["liquidity"] == 100.0 and "short_history:liquidity" in new["flags"]
    assert "short_history:liquidity" not in row(out, "OLD")["flags"]
    # too few days for any value: the worst policy speaks, not a short-history note
    tiny = row(out, "TINY")
    assert "worst:liquidity.median_traded_value_usd" in tiny["flags"]
    assert "short_history:liquidity" not in tiny["flags"]


# -- halted names -------------------------------------------------------------------------------------------------
def _weekdays_since(last_trade: date) -> int:
    """Weekdays after ``last_trade`` up to and including the as-of date (an independent count with numpy)."""
    return int(np.busday_count(last_trade + timedelta(days=1), AS_OF + timedelta(days=1)))


def _quiet_since(
    symbol: str, last_trade: date, *, rows: bool = True, close: float = 10.0, volume: float = 1e6
) -> pl.DataFrame:
    """300 days of prices traded every day up to ``last_trade``; after it zero volume (``rows``) or no rows."""
    frame = daily(symbol, close=close, volume=volume)
    if rows:
        return frame.with_columns(
            pl.when(pl.col("date") > last_trade).then(0.0).otherwise(pl.col("volume")).alias("volume")
        )
    return frame.filter(pl.col("date") <= last_trade)


@pytest.mark.parametrize("rows", [True, False], ids=["zero-volume", "no-rows"])
def test_no_trade_for_more_than_20_trading_days_is_halted_and_has_no_liquidity(rows: bool) -> None:
    edge, past = AS_OF - timedelta(days=28), AS_OF - timedelta(days=31)  # Monday 4 May; Friday 1 May
    assert (_weekdays_since(edge), _weekdays_since(past)) == (20, 21)
    out = compute_scores(
        inputs(
            [company("EDGE"), company("PAST"), company("LIVE")],
            prices=[
                _quiet_since("EDGE", edge, rows=rows),
                _quiet_since("PAST", past, rows=rows),
                daily("LIVE", volume=10.0),
            ],
        ),
        AS_OF,
    )
    edge_row, past_row = row(out, "EDGE"), row(out, "PAST")
    assert "halted" not in edge_row["flags"] and edge_row["liquidity.median_traded_value_usd"] is not None
    # the old volume would give a median of millions; a halted name has no measured liquidity at all
    assert "halted" in past_row["flags"] and past_row["liquidity.median_traded_value_usd"] is None
    assert "worst:liquidity.median_traded_value_usd" in past_row["flags"]
    assert past_row["liquidity"] == row(out, "LIVE")["liquidity"]  # the worst observed value


def test_a_missing_volume_is_unknown_not_a_halt() -> None:
    prices = daily("A", volume=lambda i: None if i > 250 else 1e6)
    assert "halted" not in row(compute_scores(inputs([company("A")], prices=[prices]), AS_OF), "A")["flags"]
    never = daily("B", volume=0.0)  # rows, but never a trade
    assert "halted" in row(compute_scores(inputs([company("B")], prices=[never]), AS_OF), "B")["flags"]


def test_a_halted_name_fails_the_default_rule_sets_tradeable_gate() -> None:
    from rules.engine import rank
    from rules.ruleset import load
    from tests.builders import full_company, universe

    peers = universe(6)
    live, live_f, live_p = full_company("LIVE", volume=1e7)
    rows, rows_f, _ = full_company("ZERO", volume=1e7)
    gone, gone_f, _ = full_company("GONE", volume=1e7)
    halt = AS_OF - timedelta(days=31)  # 21 trading days: most of the 63-day median is still pre-halt volume
    inp = FactorInputs(
        companies=pl.concat([peers.companies, pl.DataFrame([live, rows, gone])], how="diagonal_relaxed"),
        fundamentals=pl.concat([peers.fundamentals.drop("provider"), live_f, rows_f, gone_f], how="diagonal_relaxed"),
        prices=pl.concat(
            [
                peers.prices.drop("provider"),
                live_p,
                _quiet_since("ZERO", halt, rows=True, volume=1e7),
                _quiet_since("GONE", halt, rows=False, volume=1e7),
            ],
            how="diagonal_relaxed",
        ),
    )
    scores = compute_scores(inp, AS_OF)
    table = rank(scores, load("default")).table
    why = dict(zip(table["symbol"], table["why_out"], strict=True))
    status = dict(zip(table["symbol"], table["status"], strict=True))
    assert status["LIVE"] in ("member", "candidate") and "tradeable" not in (why["LIVE"] or "")
    for symbol in ("ZERO", "GONE"):
        assert status[symbol] == "gated", (symbol, why[symbol])
        assert why[symbol].startswith("failed gate tradeable"), why[symbol]


def test_a_store_not_refreshed_for_a_month_is_stale_not_halted() -> None:
    """Every name's last close is 31 days old: that is a stale store, not 3 trading halts; the halt count runs to the
    store's last session, so the quiet twin is still told apart from the ones that traded to that session."""
    last_session = AS_OF - timedelta(days=31)
    quiet_since = last_session - timedelta(days=31)
    prices = [
        daily("A", end=last_session),
        daily("B", end=last_session),
        _quiet_since("Q", quiet_since).filter(pl.col("date") <= last_session),
    ]
    out = compute_scores(inputs([company("A"), company("B"), company("Q")], prices=prices), AS_OF)
    for symbol in ("A", "B"):
        flags = row(out, symbol)["flags"]
        assert "halted" not in flags and "stale" in flags, (symbol, flags)
        assert row(out, symbol)["liquidity.median_traded_value_usd"] is not None
    assert "halted" in row(out, "Q")["flags"]
