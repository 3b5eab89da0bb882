"""Backtest statistics: each function on a frame small enough to check by hand, the look-ahead guards of forward
returns, a planted signal the statistics must find (and an unrelated factor they must not), and properties that
hold for any input."""

from __future__ import annotations

import itertools
import math
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from screener.backtest.stats import (
    equity_curve,
    forward_returns,
    ic_summary,
    portfolio_metrics,
    quantile_returns,
    rank_autocorrelation,
    rank_ic,
    spread,
    turnover,
)
from screener.errors import ArgumentError

D0 = date(2024, 1, 1)  # a Monday


def _day(i: int) -> date:
    return D0 + timedelta(days=i)


def _prices(rows: dict[str, dict[int, float | None]]) -> pl.DataFrame:
    """Prices from ``{symbol: {day offset: close}}``."""
    flat = [(s, _day(i), c) for s, closes in rows.items() for i, c in closes.items()]
    return pl.DataFrame(flat, schema={"symbol": pl.String, "date": pl.Date, "close_usd": pl.Float64}, orient="row")


def _returns_of(frame: pl.DataFrame) -> dict[tuple[date, str, str], float | None]:
    return {(r["date"], r["horizon"], r["symbol"]): r["fwd_return"] for r in frame.iter_rows(named=True)}


def _one_date(symbols: list[str], factor: list[float | None], rets: list[float | None], when: date = D0):
    scores = pl.DataFrame({"date": [when] * len(symbols), "symbol": symbols, "f": factor})
    returns = pl.DataFrame(
        {"date": [when] * len(symbols), "horizon": ["1w"] * len(symbols), "symbol": symbols, "fwd_return": rets}
    )
    return scores, returns


# --------------------------------------------------------------------------------------------------------------------
# forward_returns


def test_forward_returns_use_the_last_close_on_or_before_each_end() -> None:
    # A trades every day 0..20 at 100 + day; B has no close on day 7 (a holiday), so its 1w end falls back to day 6
    prices = _prices({"A": {i: 100.0 + i for i in range(21)}, "B": {0: 50.0, 6: 55.0, 8: 60.0, 14: 40.0, 20: 40.0}})
    out = forward_returns(prices, [_day(0)], {"1w": 7, "2w": 14})
    got = _returns_of(out)
    assert got[(_day(0), "1w", "A")] == pytest.approx(107 / 100 - 1)
    assert got[(_day(0), "2w", "A")] == pytest.approx(114 / 100 - 1)
    assert got[(_day(0), "1w", "B")] == pytest.approx(55 / 50 - 1)
    assert got[(_day(0), "2w", "B")] == pytest.approx(40 / 50 - 1)
    assert out.columns == [
        "date",
        "horizon",
        "horizon_days",
        "end_date",
        "symbol",
        "start_close_date",
        "end_close_date",
        "fwd_return",
    ]
    assert out["horizon"].to_list() == ["1w", "1w", "2w", "2w"]  # sorted by date, horizon length, symbol
    assert out.filter(pl.col("symbol") == "B", pl.col("horizon") == "1w")["end_close_date"].item() == _day(6)


def test_a_rebalance_date_without_a_close_starts_from_the_previous_close() -> None:
    # day 5 is a Saturday: the start is Friday's close (day 4)
    prices = _prices({"A": {4: 10.0, 12: 12.0}})
    out = forward_returns(prices, [_day(5)], {"1w": 7})
    assert out["start_close_date"].item() == _day(4)
    assert out["fwd_return"].item() == pytest.approx(0.2)


def test_forward_returns_never_use_a_close_after_the_panel_end() -> None:
    # the panel ends on day 10; a 1w horizon from day 5 ends on day 12, in the future: null, not day 10's close
    prices = _prices({"A": {i: 100.0 + i for i in range(11)}, "B": {i: 20.0 for i in range(11)}})
    out = forward_returns(prices, [_day(0), _day(3), _day(5)], {"1w": 7})
    got = _returns_of(out)
    assert got[(_day(0), "1w", "A")] == pytest.approx(107 / 100 - 1)
    assert got[(_day(3), "1w", "A")] == pytest.approx(110 / 103 - 1)  # ends exactly on the panel's last day
    assert got[(_day(5), "1w", "A")] is None
    assert got[(_day(5), "1w", "B")] is None


def test_the_panel_end_is_the_whole_panels_not_each_symbols() -> None:
    # B stops on day 3 while the panel runs to day 30: B's 1w from day 0 ends within the staleness limit (day 3 is 4
    # days before day 7), B's 4w is too stale to stand for day 28
    prices = _prices({"A": {i: 1.0 for i in range(31)}, "B": {0: 10.0, 3: 11.0}})
    got = _returns_of(forward_returns(prices, [_day(0)], {"1w": 7, "4w": 28}))
    assert got[(_day(0), "1w", "B")] == pytest.approx(0.1)
    assert got[(_day(0), "4w", "B")] is None


def test_forward_returns_refuse_a_start_close_older_than_the_staleness_limit() -> None:
    # A last traded on day 0 before the rebalance on day 11 (11 days stale); B on day 1 (10 days: allowed)
    prices = _prices({"A": {0: 10.0, 15: 20.0, 18: 20.0}, "B": {1: 10.0, 15: 20.0, 18: 20.0}})
    got = _returns_of(forward_returns(prices, [_day(11)], {"1w": 7}))
    assert got[(_day(11), "1w", "A")] is None
    assert got[(_day(11), "1w", "B")] == pytest.approx(1.0)
    strict = _returns_of(forward_returns(prices, [_day(11)], {"1w": 7}, max_stale_days=3))
    assert strict[(_day(11), "1w", "B")] is None


def test_missing_and_unusable_closes_give_null_returns() -> None:
    # C has no close before the rebalance (listed later); D's only close on the end side is null, so the last
    # usable one is its start close's day (same day): a flat return, not a null close read as zero; E closes at 0
    prices = _prices({"C": {5: 10.0, 7: 11.0}, "D": {0: 10.0, 7: None}, "E": {0: 0.0, 7: 5.0}, "F": {0: 1.0, 9: 1.0}})
    got = _returns_of(forward_returns(prices, [_day(2)], {"1w": 7}))
    assert got[(_day(2), "1w", "C")] is None
    assert got[(_day(2), "1w", "D")] == pytest.approx(0.0)
    assert got[(_day(2), "1w", "E")] is None


def test_forward_returns_refuse_bad_arguments() -> None:
    prices = _prices({"A": {0: 1.0}})
    with pytest.raises(ArgumentError, match="horizons"):
        forward_returns(prices, [D0], {"bad": 0})
    with pytest.raises(ArgumentError, match="max_stale_days"):
        forward_returns(prices, [D0], {"1w": 7}, max_stale_days=-1)
    with pytest.raises(ArgumentError, match="more than one row"):
        forward_returns(pl.concat([prices, prices]), [D0], {"1w": 7})
    with pytest.raises(ArgumentError, match="close_usd"):
        forward_returns(prices.drop("close_usd"), [D0], {"1w": 7})


# --------------------------------------------------------------------------------------------------------------------
# rank_ic


def test_rank_ic_by_hand() -> None:
    # factor ranks 1..6 with a tie at the top (5.5, 5.5); return ranks 2, 1, 3, 4, 6, 5
    scores, returns = _one_date(list("ABCDEF"), [1.0, 2.0, 3.0, 4.0, 9.0, 9.0], [0.2, 0.1, 0.3, 0.4, 0.6, 0.5])
    out = rank_ic(scores, returns, factor_col="f")
    fx = np.array([1, 2, 3, 4, 5.5, 5.5])
    ry = np.array([2, 1, 3, 4, 6, 5])
    expected = ((fx - fx.mean()) * (ry - ry.mean())).sum() / math.sqrt(
        ((fx - fx.mean()) ** 2).sum() * ((ry - ry.mean()) ** 2).sum()
    )
    assert out.columns == ["factor", "date", "horizon", "n", "ic"]
    assert out.row(0) == ("f", D0, "1w", 6, pytest.approx(expected))
    # deviations -2.5 -1.5 -0.5 0.5 2 2 and -1.5 -2.5 -0.5 0.5 2.5 1.5: cross 16, squares 17 and 17.5
    assert expected == pytest.approx(16 / math.sqrt(17 * 17.5))


def test_rank_ic_counts_only_pairs_and_is_null_when_thin() -> None:
    # B has no factor, D no return, E a NaN factor: 3 pairs left (A, C, F), fewer than the default 5
    scores, returns = _one_date(list("ABCDEF"), [1.0, None, 3.0, 4.0, float("nan"), 6.0], [1, 2, 3, None, 5, 6])
    out = rank_ic(scores, returns, factor_col="f")
    assert out.select("n", "ic").row(0) == (3, None)
    assert rank_ic(scores, returns, factor_col="f", min_n=3)["ic"].item() == pytest.approx(1.0)


def test_rank_ic_is_null_for_a_constant_factor() -> None:
    scores, returns = _one_date(list("ABCDEF"), [1.0] * 6, [1, 2, 3, 4, 5, 6])
    assert rank_ic(scores, returns, factor_col="f")["ic"].item() is None


def test_rank_ic_by_group() -> None:
    scores, returns = _one_date(list("ABCDEFGH"), [1, 2, 3, 4, 1, 2, 3, 4], [1, 2, 3, 4, 4, 3, 2, 1])
    scores = scores.with_columns(role=pl.Series(["miner"] * 4 + ["magnet"] * 4))
    out = rank_ic(scores, returns, factor_col="f", by=["role"], min_n=3)
    expected = [("magnet", 4, pytest.approx(-1.0)), ("miner", 4, pytest.approx(1.0))]
    assert out.select("role", "n", "ic").rows() == expected


# --------------------------------------------------------------------------------------------------------------------
# ic_summary


def _ic_series(values: list[float | None], horizon: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "factor": ["f"] * len(values),
            "date": [_day(7 * i) for i in range(len(values))],
            "horizon": [horizon] * len(values),
            "n": [10] * len(values),
            "ic": values,
        },
        schema_overrides={"ic": pl.Float64},
    )


def test_ic_summary_by_hand_with_and_without_overlap() -> None:
    # ICs 0.1, -0.1, 0.2, 0.4 (and a thin date with no IC, left out): mean 0.15, deviations -0.05, -0.25, 0.05, 0.25
    values = [0.1, -0.1, None, 0.2, 0.4]
    ic = pl.concat([_ic_series(values, "1w"), _ic_series(values, "2w")])
    out = ic_summary(ic, horizon_days={"1w": 7, "2w": 14}, step_days=7)
    rows = {r["horizon"]: r for r in out.iter_rows(named=True)}
    ss = 0.05**2 + 0.25**2 + 0.05**2 + 0.25**2  # 0.13
    # 1w with weekly steps: no overlap, the classical t = mean / (s / sqrt(T)) with s^2 = 0.13 / 3
    one = rows["1w"]
    assert (one["nw_lag"], one["n_dates"], one["horizon_days"]) == (0, 4, 7)
    assert one["mean_ic"] == pytest.approx(0.15)
    assert one["std"] == pytest.approx(math.sqrt(ss / 3))
    assert one["t_stat"] == pytest.approx(0.15 / math.sqrt(ss / 3 / 4))
    assert one["t_stat"] == pytest.approx(1.44115, abs=1e-5)
    assert one["ic_ir"] == pytest.approx(0.15 / math.sqrt(ss / 3))
    assert one["hit_rate"] == pytest.approx(0.75)
    # 2w: lag 1, gamma_0 = 0.13 / 4, gamma_1 = (0.0125 - 0.0125 + 0.0125) / 4, Bartlett weight 1/2
    two = rows["2w"]
    gamma0, gamma1 = ss / 4, 0.0125 / 4
    lrv = 4 / 3 * (gamma0 + 2 * 0.5 * gamma1)
    assert two["nw_lag"] == 1
    assert two["t_stat"] == pytest.approx(0.15 / math.sqrt(lrv / 4))
    assert two["t_stat"] == pytest.approx(1.37649, abs=1e-5)
    assert out.columns == [
        "factor",
        "horizon",
        "horizon_days",
        "nw_lag",
        "n_dates",
        "mean_ic",
        "std",
        "t_stat",
        "ic_ir",
        "hit_rate",
    ]


def test_overlap_shrinks_the_t_stat_of_a_persistent_ic_series() -> None:
    # a smooth IC series (what overlapping windows produce) is far less informative than its length suggests
    values = [0.05 + 0.04 * math.sin(i / 4) for i in range(60)]
    ic = pl.concat([_ic_series(values, "1w"), _ic_series(values, "13w")])
    out = ic_summary(ic, horizon_days={"1w": 7, "13w": 91}, step_days=7)
    naive, corrected = out.sort("horizon_days")["t_stat"].to_list()
    assert out.sort("horizon_days")["nw_lag"].to_list() == [0, 12]
    assert 0 < corrected < naive / 2


def test_ic_summary_refuses_unknown_horizons() -> None:
    with pytest.raises(ArgumentError, match="horizon_days"):
        ic_summary(_ic_series([0.1, 0.2], "1w"), horizon_days={"4w": 28}, step_days=7)


# --------------------------------------------------------------------------------------------------------------------
# quantile_returns and spread


def test_quantile_returns_by_hand() -> None:
    # 10 symbols, 5 buckets of 2; C and D tie on the factor and are split by symbol (C first, in the worse bucket)
    symbols = list("ABCDEFGHIJ")
    factor = [1.0, 2.0, 3.0, 3.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    rets = [0.00, 0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 0.14, 0.16, 0.18]
    s1, r1 = _one_date(symbols, factor, rets, _day(0))
    s2, r2 = _one_date(symbols, factor, [x * 2 for x in rets], _day(7))
    qr = quantile_returns(pl.concat([s1, s2]), pl.concat([r1, r2]), factor_col="f")
    assert qr.columns == ["factor", "horizon", "quantile", "mean_return", "n_dates"]
    assert qr["quantile"].to_list() == [1, 2, 3, 4, 5]
    assert qr["n_dates"].to_list() == [2] * 5
    # date 1 bucket means 0.01, 0.05, 0.09, 0.13, 0.17; date 2 twice that: averaged over dates, 1.5x
    assert qr["mean_return"].to_list() == pytest.approx([0.015, 0.075, 0.135, 0.195, 0.255])
    assert spread(qr).rows() == [("f", "1w", pytest.approx(0.24))]
    worse = quantile_returns(s1, r1, factor_col="f", higher_is_better=False)
    assert worse["mean_return"].to_list() == pytest.approx([0.17, 0.13, 0.09, 0.05, 0.01])


def test_quantiles_are_equal_count_and_ties_break_on_symbol() -> None:
    # 7 names in 3 buckets: positions 0-2 -> 1, 3-4 -> 2, 5-6 -> 3 (floor(r * 3 / 7) + 1); all factors tie, so
    # the buckets follow the symbols
    symbols = list("GFEDCBA")
    s, r = _one_date(symbols, [1.0] * 7, [7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0])
    qr = quantile_returns(s, r, factor_col="f", n_quantiles=3)
    # A, B, C -> 1 (1, 2, 3); D, E -> 2 (4, 5); F, G -> 3 (6, 7)
    assert qr["mean_return"].to_list() == pytest.approx([2.0, 4.5, 6.5])


def test_a_date_with_fewer_names_than_buckets_is_left_out() -> None:
    s1, r1 = _one_date(list("ABCD"), [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], _day(0))
    s2, r2 = _one_date(list("ABC"), [1.0, 2.0, 3.0], [9.0, 9.0, 9.0], _day(7))
    qr = quantile_returns(pl.concat([s1, s2]), pl.concat([r1, r2]), factor_col="f", n_quantiles=4)
    assert qr["n_dates"].to_list() == [1, 1, 1, 1]
    assert qr["mean_return"].to_list() == pytest.approx([1.0, 2.0, 3.0, 4.0])


# --------------------------------------------------------------------------------------------------------------------
# rank_autocorrelation and turnover


def test_rank_autocorrelation_by_hand() -> None:
    week1 = pl.DataFrame({"date": [_day(0)] * 6, "symbol": list("ABCDEF"), "f": [1.0, 2, 3, 4, 5, 6]})
    # next week A and B swap, E and F swap; G is new and Z left: only the 6 common symbols count
    week2 = pl.DataFrame({"date": [_day(7)] * 7, "symbol": list("ABCDEFG"), "f": [2.0, 1, 3, 4, 6, 5, 0]})
    out = rank_autocorrelation(pl.concat([week1, week2]), factor_col="f")
    # rank differences 1, 1, 0, 0, 1, 1: rho = 1 - 6 * 4 / (6 * (36 - 1))
    assert out.rows() == [("f", _day(7), _day(0), 6, pytest.approx(1 - 24 / 210))]


def test_turnover_by_hand() -> None:
    weights = pl.DataFrame(
        {
            "date": [_day(0)] * 2 + [_day(7)] * 2 + [_day(14)] * 2,
            "symbol": ["A", "B", "A", "C", "A", "C"],
            "weight": [0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
        }
    )
    # day 0 buys the book from cash: 0.5 * (0.5 + 0.5); day 7 sells B for C: 0.5 * (0.5 + 0.5); day 14 holds
    assert turnover(weights).rows() == [(_day(0), 0.5), (_day(7), 0.5), (_day(14), 0.0)]
    moved = pl.DataFrame({"date": [_day(0), _day(0), _day(7)], "symbol": ["A", "B", "A"], "weight": [0.6, 0.4, 1.0]})
    assert turnover(moved)["turnover"].to_list() == pytest.approx([0.5, 0.4])  # |1.0-0.6| + |0-0.4|, halved


# --------------------------------------------------------------------------------------------------------------------
# equity_curve and portfolio_metrics


def test_equity_curve_charges_costs_on_turnover_by_hand() -> None:
    periods = pl.DataFrame(
        {"date": [_day(0), _day(7)], "end_date": [_day(7), _day(14)], "period_return": [0.10, -0.05]}
    )
    trades = pl.DataFrame({"date": [_day(0), _day(7), _day(14)], "turnover": [0.5, 0.2, 0.3]})
    curve = equity_curve(periods, 20.0, trades)
    # costs 20 bps x 0.5 = 0.001 and 20 bps x 0.2 = 0.0004 of equity, paid before each period's return
    assert curve["date"].to_list() == [_day(0), _day(7), _day(14)]
    assert curve["value"].to_list() == pytest.approx([1.0, 0.999 * 1.1, 0.999 * 1.1 * 0.9996 * 0.95])
    assert curve["cost"].to_list()[1:] == pytest.approx([0.001, 0.0004])
    free = equity_curve(periods, 0.0, trades)
    assert free["value"].to_list() == pytest.approx([1.0, 1.1, 1.1 * 0.95])
    with pytest.raises(ArgumentError, match="turnover"):
        equity_curve(periods, 20.0, trades.filter(pl.col("date") != _day(7)))


def test_portfolio_metrics_by_hand() -> None:
    curve = pl.DataFrame({"date": [_day(7 * i) for i in range(4)], "value": [1.0, 1.1, 0.99, 1.089]})
    m = portfolio_metrics(curve, periods_per_year=52)
    # period returns 0.1, -0.1, 0.1: mean 1/30, sample variance (2 * (1/15)^2 + (2/15)^2) / 2 = 1/75
    std = math.sqrt(1 / 75)
    assert m["total_return"] == pytest.approx(0.089)
    assert m["cagr"] == pytest.approx(1.089 ** (52 / 3) - 1)
    assert m["volatility"] == pytest.approx(std * math.sqrt(52))
    assert m["sharpe"] == pytest.approx((1 / 30) / std * math.sqrt(52))
    assert m["max_drawdown"] == pytest.approx(1 - 0.99 / 1.1)


def test_portfolio_metrics_of_short_curves() -> None:
    one = portfolio_metrics(pl.DataFrame({"date": [D0], "value": [1.0]}), periods_per_year=52)
    assert one == {"total_return": None, "cagr": None, "volatility": None, "sharpe": None, "max_drawdown": 0.0}
    two = portfolio_metrics(pl.DataFrame({"date": [D0, _day(7)], "value": [1.0, 0.5]}), periods_per_year=52)
    assert (two["volatility"], two["sharpe"], two["max_drawdown"]) == (None, None, pytest.approx(0.5))
    wiped = portfolio_metrics(pl.DataFrame({"date": [D0, _day(7)], "value": [1.0, 0.0]}), periods_per_year=52)
    assert (wiped["cagr"], wiped["max_drawdown"]) == (-1.0, 1.0)


# --------------------------------------------------------------------------------------------------------------------
# a planted signal


def test_a_planted_signal_is_found_and_an_unrelated_factor_is_not() -> None:
    rng = np.random.default_rng(20240601)
    n_names, n_dates = 200, 150
    symbols = [f"S{i:03d}" for i in range(n_names)]
    dates = [_day(7 * t) for t in range(n_dates)]
    a = rng.normal(size=(n_dates, n_names))
    b = rng.normal(size=(n_dates, n_names))
    # standardized cross-sectional rank of A: mean 0, std 1 on each date
    ranks = a.argsort(axis=1).argsort(axis=1).astype(float)
    z = (ranks - ranks.mean(axis=1, keepdims=True)) / ranks.std(axis=1, keepdims=True)
    fwd = 0.02 * z + rng.normal(scale=0.05, size=(n_dates, n_names))
    date_col = [d for d in dates for _ in symbols]
    sym_col = symbols * n_dates
    scores = pl.DataFrame({"date": date_col, "symbol": sym_col, "A": a.ravel(), "B": b.ravel()})
    returns = pl.DataFrame({"date": date_col, "horizon": "4w", "symbol": sym_col, "fwd_return": fwd.ravel()})

    summaries = {
        f: ic_summary(rank_ic(scores, returns, factor_col=f), horizon_days={"4w": 28}, step_days=7).row(0, named=True)
        for f in ("A", "B")
    }
    assert summaries["A"]["mean_ic"] > 0.2
    assert summaries["A"]["n_dates"] == n_dates and summaries["A"]["nw_lag"] == 3
    assert summaries["A"]["t_stat"] > 10 and summaries["A"]["hit_rate"] > 0.95
    assert abs(summaries["B"]["mean_ic"]) < 0.05
    qr = quantile_returns(scores, returns, factor_col="A")
    means = qr.sort("quantile")["mean_return"].to_list()
    assert qr["quantile"].to_list() == [1, 2, 3, 4, 5]
    assert all(lo < hi for lo, hi in itertools.pairwise(means))
    assert spread(qr)["spread"].item() > 0.04
    # A is drawn afresh each week: its ranking does not persist
    assert abs(rank_autocorrelation(scores, factor_col="A")["autocorr"].mean()) < 0.05


# --------------------------------------------------------------------------------------------------------------------
# properties

#: Integer-valued factors, so the transform below is strictly increasing in floating point too (ties stay ties).
_values = st.lists(st.integers(-1000, 1000).map(float), min_size=5, max_size=30)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), factor=_values)
def test_ic_is_in_range_and_invariant_under_a_monotone_transform(data: st.DataObject, factor: list[float]) -> None:
    rets = data.draw(st.lists(st.floats(-1, 1, allow_nan=False), min_size=len(factor), max_size=len(factor)))
    symbols = [f"S{i:02d}" for i in range(len(factor))]
    scores, returns = _one_date(symbols, factor, rets)
    ic = rank_ic(scores, returns, factor_col="f")["ic"].item()
    transformed = scores.with_columns(f=pl.col("f") ** 3 + (pl.col("f") / 100).exp())  # strictly increasing
    again = rank_ic(transformed, returns, factor_col="f")["ic"].item()
    if ic is None:
        assert again is None
    else:
        assert -1 - 1e-12 <= ic <= 1 + 1e-12
        assert again == pytest.approx(ic, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.floats(1e-6, 1e6, allow_nan=False), min_size=1, max_size=40))
def test_max_drawdown_is_a_fraction(values: list[float]) -> None:
    curve = pl.DataFrame({"date": [_day(i) for i in range(len(values))], "value": values})
    assert 0.0 <= portfolio_metrics(curve, periods_per_year=52)["max_drawdown"] <= 1.0


@settings(max_examples=40, deadline=None)
@given(
    weights=st.dictionaries(st.sampled_from(list("ABCDEFGH")), st.floats(-1, 1, allow_nan=False), min_size=1),
    repeats=st.integers(2, 5),
)
def test_identical_weights_have_no_turnover_after_the_first_date(weights: dict[str, float], repeats: int) -> None:
    frame = pl.DataFrame(
        [(_day(7 * t), s, w) for t in range(repeats) for s, w in sorted(weights.items())],
        schema={"date": pl.Date, "symbol": pl.String, "weight": pl.Float64},
        orient="row",
    )
    out = turnover(frame)["turnover"].to_list()
    assert out[0] == pytest.approx(0.5 * sum(abs(w) for w in weights.values()))
    assert out[1:] == [0.0] * (repeats - 1)


@settings(max_examples=40, deadline=None)
@given(level=st.floats(1e-3, 1e6, allow_nan=False), n=st.integers(2, 30), ppy=st.sampled_from([12.0, 52.0, 252.0]))
def test_a_constant_curve_neither_grows_nor_draws_down(level: float, n: int, ppy: float) -> None:
    curve = pl.DataFrame({"date": [_day(i) for i in range(n)], "value": [level] * n})
    m = portfolio_metrics(curve, periods_per_year=ppy)
    assert m["cagr"] == 0.0 and m["max_drawdown"] == 0.0 and m["total_return"] == 0.0
    assert m["sharpe"] is None
