"""Backtest statistics: forward returns, rank ICs, quantile returns, turnover and equity-curve metrics.

Why a separate, pure module: a backtest is only as honest as its bookkeeping. Each function here is a polars
transformation of explicit inputs (no store, no clock), sorts before it aggregates and breaks ties on ``symbol``, so
the same inputs give the same numbers on every machine, and each can be checked by hand on a tiny frame.
METHODOLOGY.md ("Backtest statistics") gives the formulas.

Frame conventions (long format, one row per key):

- prices: ``symbol``, ``date``, ``close_usd`` (daily closes);
- scores: ``date``, ``symbol`` and one or more factor columns (higher = better unless told otherwise);
- returns (from :func:`forward_returns`): ``date``, ``horizon``, ``horizon_days``, ``symbol``, ``fwd_return``…;
- weights: ``date``, ``symbol``, ``weight``;
- curve: ``date``, ``value`` (equity, starting at 1.0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, timedelta

import polars as pl

from screener.errors import ArgumentError, Option

__all__ = [
    "equity_curve",
    "forward_returns",
    "ic_summary",
    "newey_west_lag",
    "portfolio_metrics",
    "quantile_returns",
    "rank_autocorrelation",
    "rank_ic",
    "spread",
    "turnover",
]

#: The default limit, in calendar days, on how old the close before a date may be and still stand for that date:
#: a long weekend or a holiday week is fine, a suspended or delisted listing is not.
MAX_STALE_DAYS = 10
#: The fewest (factor, return) pairs a date needs before its rank correlation means anything.
MIN_N = 5


def _require(frame: pl.DataFrame, name: str, columns: Sequence[str]) -> None:
    """Fail early, naming the argument, rather than deep inside a join with a polars message about a column."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ArgumentError(Option(name), f" lacks column(s): {', '.join(missing)}")


def _unique(frame: pl.DataFrame, name: str, keys: Sequence[str]) -> None:
    """Two rows for one key would make every later join silently double-count; refuse them instead."""
    if frame.select(keys).is_duplicated().any():
        raise ArgumentError(Option(name), f" has more than one row per ({', '.join(keys)})")


def _finite(column: str) -> pl.Expr:
    """Null and NaN both mean "unknown" here: neither may win a rank or enter a mean."""
    return pl.col(column).is_not_null() & pl.col(column).is_not_nan()


# --------------------------------------------------------------------------------------------------------------------
# forward returns


def forward_returns(
    prices: pl.DataFrame,
    dates: Sequence[date],
    horizons: Mapping[str, int],
    *,
    max_stale_days: int = MAX_STALE_DAYS,
) -> pl.DataFrame:
    """The return of each symbol from each rebalance date ``d`` over each horizon ``h`` (calendar days).

    Start price: the last close on or before ``d``; end price: the last close on or before ``d + h``. Why "on or
    before": on a date we may only act on closes already printed, and a horizon that ends on a weekend is measured
    to the Friday close. The return is null (never guessed) when:

    - either close is missing (no close on or before the date, or a null/non-positive close),
    - either close is older than ``max_stale_days`` before its date (a suspended or delisted listing would
      otherwise carry a price it could not be traded at; for the end this also stops a listing that stopped
      trading from showing a flat return),
    - ``d + h`` is after the last date of the whole price panel: the future is not known yet, so the last close
      available must not stand in for it (that would be a look-ahead of the return's end).

    Returns one row per (date, horizon, symbol) over every symbol in ``prices``: ``date``, ``horizon``,
    ``horizon_days``, ``end_date`` (``d + h``), ``symbol``, ``start_close_date``, ``end_close_date``, ``fwd_return``;
    sorted by date, horizon days, horizon, symbol.
    """
    _require(prices, "prices", ["symbol", "date", "close_usd"])
    if max_stale_days < 0:
        raise ArgumentError(Option("max_stale_days"), f" must be 0 or more, not {max_stale_days}")
    bad = {name: days for name, days in horizons.items() if days < 1}
    if not horizons or bad:
        raise ArgumentError(Option("horizons"), f" must map names to 1 day or more, got {dict(horizons)}")
    _unique(prices, "prices", ["symbol", "date"])

    closes = (
        prices.select("symbol", pl.col("date").cast(pl.Date), pl.col("close_usd").cast(pl.Float64))
        .filter(_finite("close_usd") & (pl.col("close_usd") > 0))
        .sort("date", "symbol")
    )
    panel_end = prices.select(pl.col("date").cast(pl.Date).max()).item()
    symbols = prices.select(pl.col("symbol").unique().sort())
    grid = (
        pl.DataFrame({"date": sorted(set(dates))}, schema={"date": pl.Date})
        .join(
            pl.DataFrame(
                {"horizon": list(horizons), "horizon_days": list(horizons.values())},
                schema={"horizon": pl.String, "horizon_days": pl.Int64},
            ),
            how="cross",
        )
        .with_columns(end_date=pl.col("date") + pl.duration(days=pl.col("horizon_days")))
        .join(symbols, how="cross")
    )
    joined = closes_around(grid, closes)
    stale = timedelta(days=max_stale_days)
    usable = (
        (pl.col("date") - pl.col("start_close_date") <= stale)
        & (pl.col("end_date") - pl.col("end_close_date") <= stale)
        & (pl.col("end_date") <= panel_end if panel_end is not None else pl.lit(False))
    )
    return (
        joined.with_columns(fwd_return=pl.when(usable).then(pl.col("end_close") / pl.col("start_close") - 1.0))
        .select(
            "date",
            "horizon",
            "horizon_days",
            "end_date",
            "symbol",
            "start_close_date",
            "end_close_date",
            "fwd_return",
        )
        .sort("date", "horizon_days", "horizon", "symbol")
    )


def closes_around(frame: pl.DataFrame, closes: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (``symbol``, ``date``, ``end_date``) with the last close on or before each date: ``start_close_date``
    and ``start_close`` for ``date``, ``end_close_date`` and ``end_close`` for ``end_date`` (null where there is
    none). ``closes`` is ``symbol``, ``date``, ``close_usd`` of usable closes only.

    Why one helper: a forward return and a holding period's return both start and end "on the last close on or
    before" a day, never after it; one as-of join each way keeps the two from drifting apart."""
    start = closes.rename({"date": "start_close_date", "close_usd": "start_close"})
    end = closes.rename({"date": "end_close_date", "close_usd": "end_close"})
    return (
        frame.sort("date", "symbol")
        .join_asof(
            start,
            left_on="date",
            right_on="start_close_date",
            by="symbol",
            strategy="backward",
            coalesce=False,
            check_sortedness=False,  # both sides sorted on the key above; polars cannot verify it with ``by``
        )
        .sort("end_date", "symbol")
        .join_asof(
            end,
            left_on="end_date",
            right_on="end_close_date",
            by="symbol",
            strategy="backward",
            coalesce=False,
            check_sortedness=False,
        )
    )


# --------------------------------------------------------------------------------------------------------------------
# information coefficients


def _paired(scores: pl.DataFrame, returns: pl.DataFrame, factor_col: str, by: Sequence[str]) -> pl.DataFrame:
    """Each (date, horizon, symbol) with both a usable factor value and a usable forward return."""
    _require(scores, "scores", ["date", "symbol", factor_col, *by])
    _require(returns, "returns", ["date", "symbol", "horizon", "fwd_return"])
    _unique(scores, "scores", ["date", "symbol"])
    _unique(returns, "returns", ["date", "horizon", "symbol"])
    left = scores.select("date", "symbol", *by, pl.col(factor_col).cast(pl.Float64).alias("_factor"))
    right = returns.select("date", "symbol", "horizon", pl.col("fwd_return").cast(pl.Float64))
    return (
        left.join(right, on=["date", "symbol"], how="inner", maintain_order="left_right")
        .filter(_finite("_factor") & _finite("fwd_return"))
        .sort("date", "horizon", *by, "symbol")
    )


def rank_ic(
    scores: pl.DataFrame,
    returns: pl.DataFrame,
    *,
    factor_col: str,
    by: Sequence[str] = (),
    min_n: int = MIN_N,
) -> pl.DataFrame:
    """Spearman rank correlation between ``factor_col`` and the forward return, per (date, horizon[, by…]).

    Why ranks: a screen orders companies, so what matters is whether the order came true, not whether the factor's
    units are linear in returns; ranks also keep one outlier return from deciding a date. Ties share their average
    rank (polars' Spearman). Only symbols with both values count (``n``); with fewer than ``min_n`` pairs, or when
    either side is constant on the date, ``ic`` is null rather than a number built on nothing.

    Returns ``factor``, ``date``, ``horizon``, ``by…``, ``n``, ``ic``; sorted by date, horizon, ``by…``.
    """
    if min_n < 2:
        raise ArgumentError(Option("min_n"), f" must be 2 or more, not {min_n}")
    keys = ["date", "horizon", *by]
    out = (
        _paired(scores, returns, factor_col, by)
        .group_by(keys, maintain_order=True)
        .agg(n=pl.len().cast(pl.Int64), ic=pl.corr("_factor", "fwd_return", method="spearman"))
        .with_columns(ic=pl.when((pl.col("n") >= min_n) & _finite("ic")).then(pl.col("ic")))
        .sort(keys)
    )
    return out.select(pl.lit(factor_col).alias("factor"), *keys, "n", "ic")


def newey_west_lag(horizon_days: int, step_days: int) -> int:
    """Overlapping windows share ``ceil(h / step) - 1`` neighbours on each side; their ICs are correlated that far."""
    return max(math.ceil(horizon_days / step_days) - 1, 0)


def ic_summary(ic: pl.DataFrame, *, horizon_days: Mapping[str, int], step_days: int) -> pl.DataFrame:
    """Summarise a date series of ICs per factor and horizon (and any extra grouping columns ``rank_ic`` kept).

    Why a correction: with a 13-week horizon and weekly rebalancing, consecutive ICs share 12 of their 13 weeks of
    returns, so they are strongly autocorrelated and the naive ``mean / (std / sqrt(n))`` overstates significance
    by roughly ``sqrt(h / step)``. ``t_stat`` uses a Newey-West (Bartlett-kernel) long-run variance with lag
    ``L = ceil(h / step) - 1``::

        gamma_k = (1/T) * sum_{t>k} (ic_t - mean)(ic_{t-k} - mean)
        LRV     = T/(T-1) * (gamma_0 + 2 * sum_{k=1..L} (1 - k/(L+1)) * gamma_k)
        t_stat  = mean / sqrt(LRV / T)

    The factor ``T/(T-1)`` makes ``L = 0`` (no overlap) the classical t-statistic with the sample std. Lags count
    positions in the date-sorted series of non-null ICs. Null ICs (thin dates) are left out of every statistic.

    Returns the group keys, ``horizon_days``, ``nw_lag``, ``n_dates``, ``mean_ic``, ``std`` (sample), ``t_stat``,
    ``ic_ir`` (``mean / std``, per rebalance, not annualised), ``hit_rate`` (share of dates with IC > 0).
    """
    _require(ic, "ic", ["factor", "date", "horizon", "ic"])
    if step_days < 1:
        raise ArgumentError(Option("step_days"), f" must be 1 or more, not {step_days}")
    unknown = sorted(set(ic["horizon"].unique().to_list()) - set(horizon_days))
    if unknown:
        raise ArgumentError(Option("horizon_days"), f" has no days for horizon(s): {', '.join(map(str, unknown))}")
    keys = [c for c in ic.columns if c not in ("date", "n", "ic")]
    lags = {name: newey_west_lag(days, step_days) for name, days in horizon_days.items()}
    max_lag = max(lags.values(), default=0)
    series = (
        ic.filter(_finite("ic"))
        .select(*keys, "date", pl.col("ic").cast(pl.Float64))
        .sort(*keys, "date")
        .with_columns(
            horizon_days=pl.col("horizon").replace_strict(horizon_days, return_dtype=pl.Int64),
            nw_lag=pl.col("horizon").replace_strict(lags, return_dtype=pl.Int64),
            _dev=pl.col("ic") - pl.col("ic").mean().over(keys),
        )
    )
    # the sum over lags runs over a handful of lag numbers (never over dates); a weight of 0 switches off a lag
    # beyond a horizon's own L
    weighted = pl.lit(0.0)
    for k in range(1, max_lag + 1):
        weight = pl.when(pl.col("nw_lag") >= k).then(1.0 - k / (pl.col("nw_lag") + 1)).otherwise(0.0)
        weighted = weighted + weight * (pl.col("_dev") * pl.col("_dev").shift(k).over(keys)).fill_null(0.0)
    series = series.with_columns(_cross=pl.col("_dev") ** 2 + 2.0 * weighted)
    t = pl.len().cast(pl.Float64)
    out = (
        series.group_by(keys, maintain_order=True)
        .agg(
            pl.col("horizon_days").first(),
            pl.col("nw_lag").first(),
            n_dates=pl.len().cast(pl.Int64),
            mean_ic=pl.col("ic").mean(),
            std=pl.col("ic").std(ddof=1),
            _lrv=pl.col("_cross").sum() / (t - 1.0),
            hit_rate=(pl.col("ic") > 0).mean(),
        )
        .with_columns(
            t_stat=pl.when((pl.col("n_dates") >= 2) & (pl.col("_lrv") > 0)).then(
                pl.col("mean_ic") / (pl.col("_lrv") / pl.col("n_dates")).sqrt()
            ),
            ic_ir=pl.when(pl.col("std") > 0).then(pl.col("mean_ic") / pl.col("std")),
        )
        .sort(*[k for k in keys if k != "horizon"], "horizon_days", "horizon")
    )
    return out.select(*keys, "horizon_days", "nw_lag", "n_dates", "mean_ic", "std", "t_stat", "ic_ir", "hit_rate")


# --------------------------------------------------------------------------------------------------------------------
# quantile returns


def quantile_returns(
    scores: pl.DataFrame,
    returns: pl.DataFrame,
    *,
    factor_col: str,
    n_quantiles: int = 5,
    higher_is_better: bool = True,
) -> pl.DataFrame:
    """Mean forward return of equal-count factor buckets, averaged over dates, per horizon.

    Why buckets as well as the IC: an IC says the order helps on average; the buckets show where (only the top?)
    and whether the best bucket actually earned more, which is what a long-only screen buys. On each date and
    horizon the symbols with both values are ordered from worst to best in the factor's direction, ties broken on
    ``symbol``; position ``r`` (0-based) of ``n`` goes to quantile ``floor(r * q / n) + 1``, so quantile 1 is the
    worst and ``q`` the best, and bucket sizes differ by at most one. A date with fewer than ``q`` symbols has
    empty buckets and is left out for that horizon. Each bucket's mean return per date is averaged over dates with
    equal weight per date (one crowded date does not dominate).

    Returns ``factor``, ``horizon``, ``quantile``, ``mean_return``, ``n_dates``; sorted by horizon and quantile.
    """
    if n_quantiles < 2:
        raise ArgumentError(Option("n_quantiles"), f" must be 2 or more, not {n_quantiles}")
    pairs = _paired(scores, returns, factor_col, ())
    ordered = pairs.sort("date", "horizon", "_factor", "symbol", descending=[False, False, not higher_is_better, False])
    per_date = (
        ordered.with_columns(_pos=pl.int_range(pl.len()).over("date", "horizon"), _n=pl.len().over("date", "horizon"))
        .filter(pl.col("_n") >= n_quantiles)
        .with_columns(quantile=(pl.col("_pos") * n_quantiles // pl.col("_n") + 1).cast(pl.Int64))
        .group_by("date", "horizon", "quantile", maintain_order=True)
        .agg(_ret=pl.col("fwd_return").mean())
        .sort("horizon", "quantile", "date")
    )
    out = (
        per_date.group_by("horizon", "quantile", maintain_order=True)
        .agg(mean_return=pl.col("_ret").mean(), n_dates=pl.len().cast(pl.Int64))
        .sort("horizon", "quantile")
    )
    return out.select(pl.lit(factor_col).alias("factor"), "horizon", "quantile", "mean_return", "n_dates")


def spread(qr: pl.DataFrame) -> pl.DataFrame:
    """Top-minus-bottom quantile mean return per factor and horizon: the long-short payoff of the ordering.

    Why from the averaged buckets: every date that entered them had all buckets filled, so this equals the mean
    over dates of each date's top-minus-bottom spread. Returns ``factor``, ``horizon``, ``spread``.
    """
    _require(qr, "qr", ["factor", "horizon", "quantile", "mean_return"])
    return (
        qr.sort("factor", "horizon", "quantile")
        .group_by("factor", "horizon", maintain_order=True)
        .agg(spread=pl.col("mean_return").last() - pl.col("mean_return").first())
        .sort("factor", "horizon")
    )


# --------------------------------------------------------------------------------------------------------------------
# stability and trading


def rank_autocorrelation(scores: pl.DataFrame, *, factor_col: str, min_n: int = MIN_N) -> pl.DataFrame:
    """Spearman correlation of the factor between each date and the previous date, over symbols present at both.

    Why: a factor whose ranking reshuffles every week forces trading (turnover, costs) for signal that may not
    last; a high autocorrelation means a slow, cheap-to-follow signal. Dates are the distinct dates of ``scores``
    in order; null when fewer than ``min_n`` symbols have a usable value on both dates, or either side is constant.

    Returns ``factor``, ``date``, ``prev_date``, ``n``, ``autocorr`` (from the second date on), sorted by date.
    """
    _require(scores, "scores", ["date", "symbol", factor_col])
    _unique(scores, "scores", ["date", "symbol"])
    if min_n < 2:
        raise ArgumentError(Option("min_n"), f" must be 2 or more, not {min_n}")
    calendar = scores.select(pl.col("date").unique().sort()).with_columns(_idx=pl.int_range(pl.len()))
    values = (
        scores.select("date", "symbol", pl.col(factor_col).cast(pl.Float64).alias("_now"))
        .filter(_finite("_now"))
        .join(calendar, on="date", how="inner")
    )
    previous = values.select(
        "symbol", (pl.col("_idx") + 1).alias("_idx"), pl.col("date").alias("prev_date"), pl.col("_now").alias("_prev")
    )
    pairs = values.join(previous, on=["symbol", "_idx"], how="inner").sort("date", "symbol")
    out = (
        pairs.group_by("date", "prev_date", maintain_order=True)
        .agg(n=pl.len().cast(pl.Int64), autocorr=pl.corr("_now", "_prev", method="spearman"))
        .with_columns(autocorr=pl.when((pl.col("n") >= min_n) & _finite("autocorr")).then(pl.col("autocorr")))
    )
    # dates with no symbol in common with the previous date still get a row, with n = 0 and a null autocorr
    before = calendar.select((pl.col("_idx") + 1).alias("_idx"), pl.col("date").alias("prev_date"))
    shell = calendar.join(before, on="_idx")
    out = (
        shell.select("date", "prev_date")
        .join(out, on=["date", "prev_date"], how="left")
        .with_columns(pl.col("n").fill_null(0))
        .sort("date")
    )
    return out.select(pl.lit(factor_col).alias("factor"), "date", "prev_date", "n", "autocorr")


def turnover(weights: pl.DataFrame) -> pl.DataFrame:
    """One-way turnover at each rebalance: ``0.5 * sum_i |w_i,t - w_i,t-1|`` over the union of both dates' symbols.

    Why one-way: it is the fraction of the book sold (equal to the fraction bought for a fully invested book), the
    quantity trading costs scale with. A symbol absent on one date has weight 0 there; a null weight counts as 0.
    The first date trades in from cash, so its turnover is ``0.5 * sum |w|`` (0.5 for a fully invested long book:
    buying the book is half of a full replacement). Rebalance dates are the distinct dates of ``weights``: to keep
    an all-cash date, give it a row with weight 0.

    Returns ``date``, ``turnover``, sorted by date.
    """
    _require(weights, "weights", ["date", "symbol", "weight"])
    _unique(weights, "weights", ["date", "symbol"])
    calendar = weights.select(pl.col("date").unique().sort()).with_columns(_idx=pl.int_range(pl.len()))
    now = weights.select("date", "symbol", pl.col("weight").cast(pl.Float64).fill_null(0.0)).join(calendar, on="date")
    before = now.select("symbol", (pl.col("_idx") + 1).alias("_idx"), pl.col("weight").alias("_prev"))
    both = (
        now.select("symbol", "_idx", "weight")
        .join(before, on=["symbol", "_idx"], how="full", coalesce=True)
        .filter(pl.col("_idx") < calendar.height)  # the last date's weights have no following rebalance
        .with_columns(pl.col("weight").fill_null(0.0), pl.col("_prev").fill_null(0.0))
        .sort("_idx", "symbol")
    )
    out = (
        both.group_by("_idx", maintain_order=True)
        .agg(turnover=0.5 * (pl.col("weight") - pl.col("_prev")).abs().sum())
        .join(calendar, on="_idx", how="right")
        .with_columns(pl.col("turnover").fill_null(0.0))
        .sort("_idx")
    )
    return out.select("date", "turnover")


def equity_curve(period_returns: pl.DataFrame, costs_bps: float, turnover: pl.DataFrame) -> pl.DataFrame:
    """Equity from 1.0, paying ``costs_bps`` per unit of one-way turnover at each rebalance.

    ``period_returns`` has one row per rebalance: ``date`` (the rebalance), ``end_date`` (when the holding period
    ends, usually the next rebalance) and ``period_return`` (the gross return of the book held over it);
    ``turnover`` has ``date`` and ``turnover`` (see :func:`turnover`). At rebalance ``i`` the trade costs
    ``c_i = costs_bps / 10_000 * turnover_i`` of equity, paid before the period's return is earned::

        V_0 = 1;  V_{i+1} = V_i * (1 - c_i) * (1 + r_i)

    Why per unit of one-way turnover: selling a fraction of the book and buying its replacement is one unit, so
    ``costs_bps`` is the round-trip cost (spread, commission and impact of a sell plus a buy); pass twice a
    per-side figure. A rebalance without a turnover row is an error, not free trading.

    Returns ``date``, ``value``, ``cost`` (fraction of equity paid), ``net_return``: a first row at the first
    rebalance date with value 1.0, then one row per period dated at its ``end_date``.
    """
    _require(period_returns, "period_returns", ["date", "end_date", "period_return"])
    _require(turnover, "turnover", ["date", "turnover"])
    _unique(period_returns, "period_returns", ["date"])
    _unique(turnover, "turnover", ["date"])
    if costs_bps < 0:
        raise ArgumentError(Option("costs_bps"), f" must be 0 or more, not {costs_bps}")
    periods = (
        period_returns.select("date", "end_date", pl.col("period_return").cast(pl.Float64))
        .join(turnover.select("date", pl.col("turnover").cast(pl.Float64)), on="date", how="left")
        .sort("date")
    )
    if periods.height == 0:
        return pl.DataFrame(schema={"date": pl.Date, "value": pl.Float64, "cost": pl.Float64, "net_return": pl.Float64})
    unpaid = periods.filter(pl.col("turnover").is_null())["date"].to_list()
    if unpaid:
        raise ArgumentError(Option("turnover"), f" has no row for rebalance date(s): {', '.join(map(str, unpaid))}")
    if periods.filter(pl.col("period_return").is_null()).height:
        raise ArgumentError(Option("period_returns"), " has a null period_return: a hole in the curve")
    grown = periods.with_columns(cost=pl.col("turnover") * (costs_bps / 10_000.0)).with_columns(
        net_return=(1.0 - pl.col("cost")) * (1.0 + pl.col("period_return")) - 1.0
    )
    body = grown.select(
        pl.col("end_date").alias("date"),
        (1.0 + pl.col("net_return")).cum_prod().alias("value"),
        "cost",
        "net_return",
    )
    first = pl.DataFrame(
        {"date": [periods["date"][0]], "value": [1.0], "cost": [None], "net_return": [None]},
        schema=body.schema,
    )
    return pl.concat([first, body])


def portfolio_metrics(curve: pl.DataFrame, *, periods_per_year: float) -> dict[str, float | None]:
    """CAGR, annualised volatility, Sharpe (risk-free rate 0) and maximum drawdown of an equity curve.

    Why these four: growth (CAGR), how bumpy the path was (volatility), growth per unit of bumpiness (Sharpe) and
    the worst loss an investor would have sat through (drawdown). With ``N`` period returns
    ``r_t = V_t / V_{t-1} - 1`` (rows sorted by date, equally spaced at ``periods_per_year``):

    - ``total_return = V_N / V_0 - 1``; ``cagr = (V_N / V_0) ** (periods_per_year / N) - 1`` (-1 if ``V_N <= 0``);
    - ``volatility = std(r, ddof=1) * sqrt(periods_per_year)``;
    - ``sharpe = mean(r) / std(r, ddof=1) * sqrt(periods_per_year)`` (rf = 0; null when the std is 0);
    - ``max_drawdown = max_t (1 - V_t / max_{s<=t} V_s)``, a positive fraction (0 for a curve that never fell).

    A CAGR beyond the float range (a short curve that multiplied) is ``inf``. ``max_drawdown`` is capped at 1 (a
    total loss). Each is null when there are too few periods (fewer than 1 for CAGR, 2 for volatility and Sharpe).
    """
    _require(curve, "curve", ["date", "value"])
    if periods_per_year <= 0:
        raise ArgumentError(Option("periods_per_year"), f" must be above 0, not {periods_per_year}")
    values = curve.sort("date").select(pl.col("value").cast(pl.Float64))
    if values.filter(~_finite("value")).height:
        raise ArgumentError(Option("curve"), " has a null or NaN value")
    if values.height == 0:
        return {"total_return": None, "cagr": None, "volatility": None, "sharpe": None, "max_drawdown": None}
    start, end = values["value"][0], values["value"][-1]
    if start <= 0:
        raise ArgumentError(Option("curve"), f" must start above 0, not {start}")
    n = values.height - 1
    stats = values.select(
        ret=pl.col("value") / pl.col("value").shift(1) - 1.0,
        drawdown=1.0 - pl.col("value") / pl.col("value").cum_max(),
    ).select(
        mean=pl.col("ret").mean(),
        std=pl.col("ret").std(ddof=1),
        max_drawdown=pl.col("drawdown").max(),
    )
    mean, std, max_dd = stats.row(0)
    if std is not None and not math.isfinite(std):  # returns after a wipe-out (0 / 0) have no spread to measure
        mean, std = None, None
    growth = end / start
    cagr: float | None
    if n == 0:
        cagr = None
    elif growth <= 0:
        cagr = -1.0
    else:
        try:
            cagr = growth ** (periods_per_year / n) - 1.0
        except OverflowError:  # a short curve that multiplied: the annualised rate is beyond a float
            cagr = math.inf
    volatility = std * math.sqrt(periods_per_year) if std is not None else None
    sharpe = mean / std * math.sqrt(periods_per_year) if std and mean is not None else None
    return {
        "total_return": (growth - 1.0) if n else None,
        "cagr": cagr,
        "volatility": volatility,
        "sharpe": sharpe,
        "max_drawdown": min(max(float(max_dd), 0.0), 1.0),
    }
