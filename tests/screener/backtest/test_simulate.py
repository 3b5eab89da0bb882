"""Holding a book between rebalances, by hand: period returns from the last close on or before each date, a
delisted holding valued at its last close (never dropped, never priced later), cash dates, costs, a buy-and-hold
benchmark and active share."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from screener.backtest.simulate import active_share, benchmark_curve, hold, select_books

D0 = date(2025, 1, 6)  # a Monday
D1 = D0 + timedelta(days=28)
D2 = D1 + timedelta(days=28)


def _closes(rows: list[tuple[str, date, float | None]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"symbol": pl.String, "date": pl.Date, "close_usd": pl.Float64}, orient="row")


def _weights(rows: list[tuple[date, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"date": pl.Date, "symbol": pl.String, "weight": pl.Float64}, orient="row")


CLOSES = _closes(
    [
        ("A", D0 - timedelta(days=3), 10.0),  # Friday before the Monday rebalance: the start close
        ("A", D0 + timedelta(days=10), 8.0),  # A's last close before it stops trading
        ("A", D1 + timedelta(days=3), 100.0),  # a later print (relisted): after the period end, never used for it
        ("B", D0, 20.0),
        ("B", D1, 22.0),
        ("B", D1 + timedelta(days=1), None),  # a null close (no fx that day) is not a price
        ("B", D2, 24.2),
    ]
)


def test_a_delisted_holding_keeps_its_last_close_and_no_later_price() -> None:
    weights = _weights([(D0, "A", 0.5), (D0, "B", 0.5), (D1, "B", 1.0), (D2, "B", 1.0)])
    book = hold(weights, CLOSES, [D0, D1, D2], cost_bps=0)
    assert book.period_returns["period_return"].to_list() == pytest.approx([0.5 * -0.2 + 0.5 * 0.1, 0.1])
    assert book.curve["date"].to_list() == [D0, D1, D2]
    assert book.curve["value"].to_list() == pytest.approx([1.0, 0.95, 1.045])
    assert book.stale_valuations == 1  # A's period ended 18 days after its last close


def test_costs_are_paid_on_turnover_including_the_trade_in() -> None:
    weights = _weights([(D0, "A", 0.5), (D0, "B", 0.5), (D1, "B", 1.0), (D2, "B", 1.0)])
    book = hold(weights, CLOSES, [D0, D1, D2], cost_bps=100)
    assert book.turnover["turnover"].to_list() == pytest.approx([0.5, 0.5, 0.0])
    assert book.curve["value"].to_list() == pytest.approx([1.0, 0.995 * 0.95, 0.995 * 0.95 * 0.995 * 1.1])


def test_a_holding_without_a_start_price_and_a_cash_date_earn_nothing() -> None:
    weights = _weights([(D0, "C", 0.5), (D0, "B", 0.5), (D2, "B", 1.0)])  # nobody on D1: cash
    book = hold(weights, CLOSES, [D0, D1, D2], cost_bps=0)
    assert book.period_returns["period_return"].to_list() == pytest.approx([0.5 * 0.1, 0.0])
    assert book.turnover["turnover"].to_list() == pytest.approx([0.5, 0.5, 0.5])


def test_benchmark_is_buy_and_hold_from_the_first_date() -> None:
    curve = benchmark_curve(CLOSES, "B", [D0, D1, D2])
    assert curve is not None
    assert curve["value"].to_list() == pytest.approx([1.0, 1.1, 1.21])
    assert benchmark_curve(CLOSES, "B", [D0 - timedelta(days=30), D1]) is None  # no close at the start
    assert benchmark_curve(CLOSES, "Z", [D0, D1]) is None


def test_active_share() -> None:
    a = _weights([(D0, "A", 0.5), (D0, "B", 0.5), (D1, "A", 1.0)])
    b = _weights([(D0, "A", 0.5), (D0, "B", 0.5), (D1, "B", 1.0)])
    assert active_share(a, b) == pytest.approx(0.5)  # (0 + 1) / 2
    assert active_share(a, _weights([])) is None


BUFFERED = """
name = "buffered"
description = "test: two names, kept while within the top three"

[weights]
localization_premium = 1

[constraints]
top_n = 2

[buffer]
stay_within = 3

[portfolio]
weighting = "market_cap"
"""


def test_books_keep_last_dates_members_within_the_buffer() -> None:
    from tests.builders import company, rules_from, score_frame

    values = {D0: {"A": 0.9, "B": 0.8, "C": 0.7, "D": 0.6}, D1: {"A": 0.85, "B": 0.1, "C": 0.95, "D": 0.9}}
    caps = {"A": 3e9, "B": 1e9, "C": 1e9, "D": 1e9}
    panel = pl.concat(
        [
            score_frame(
                [
                    company(s, localization_premium=v, market_cap_usd=caps[s], exposure=1.0)
                    for s, v in by_symbol.items()
                ],
                as_of=day,
            )
            for day, by_symbol in values.items()
        ]
    )
    rs = rules_from(BUFFERED)
    book, universe, notes = select_books(panel, rs, [D0, D1], weighting="equal", max_weight=None)
    on = {d: book.filter(pl.col("date") == d)["symbol"].to_list() for d in (D0, D1)}
    assert on[D0] == ["A", "B"]
    assert on[D1] == ["A", "C"]  # A fell to third, inside the buffer: kept; D (second) waits outside
    assert book["weight"].to_list() == [0.5] * 4
    assert universe.filter(pl.col("date") == D1)["symbol"].to_list() == ["A", "B", "C", "D"]
    assert notes == []
    capped, _, _ = select_books(panel, rs, [D0, D1], weighting="market_cap", max_weight=0.6)
    assert capped.filter(pl.col("date") == D0)["weight"].to_list() == pytest.approx([0.6, 0.4])
    own, _, _ = select_books(panel, rs, [D0, D1], weighting=rs.weighting, max_weight=rs.max_weight)
    assert own.filter(pl.col("date") == D0)["weight"].to_list() == pytest.approx([0.75, 0.25])


def test_a_suspended_holding_is_not_bought_at_a_weeks_old_close() -> None:
    """S stopped trading a month before D1 and relists at twice the price: the period from D1 cannot buy it at the
    stale close (it would carry the relisting jump), so that weight sits as cash and earns 0."""
    closes = pl.concat(
        [
            CLOSES,
            _closes([("S", D0, 10.0), ("S", D1 - timedelta(days=30), 10.0), ("S", D1 + timedelta(days=7), 20.0)]),
            _closes([("S", D2, 20.0)]),
        ]
    )
    weights = _weights([(D0, "B", 1.0), (D1, "S", 0.5), (D1, "B", 0.5), (D2, "B", 1.0)])
    book = hold(weights, closes, [D0, D1, D2], cost_bps=0)
    assert book.period_returns["period_return"].to_list() == pytest.approx([0.1, 0.5 * 0.1])
