"""Factor evaluation: how well each factor's ordering came true, per horizon and per role class.

Why a module of its own: the portfolio simulation answers "would the rule set have made money", this one answers
"did each factor, on its own, rank companies in the order their returns came in". The second is what a researcher
reads before trusting a weight in a rule file. Everything here is a pure function of a score panel and a frame of
forward returns (no store, no clock); the statistics themselves are ``screener.backtest.stats``, reused as they are.

Orientation: each factor's value is turned so that higher is better (``-value`` for a ``higher_is_worse`` factor),
so a positive IC always means "the factor's good end earned more", whatever the factor's own direction.

Grouping: every statistic is computed for the whole universe (``role_class`` ``all``) and again inside each role
class that has at least ``min_n`` names with a value on at least ``MIN_DATES`` rebalance dates; a class that never
qualifies is left out rather than shown with numbers built on a handful of names.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import date

import polars as pl

from screener.backtest import stats
from screener.backtest.result import TABLES

__all__ = ["MIN_DATES", "N_QUANTILES", "evaluate_factors", "factor_directions", "oriented"]

#: Buckets of the quantile table (quintiles): 1 is the worst fifth, 5 the best.
N_QUANTILES = 5
#: The fewest rebalance dates a role class needs (with ``min_n`` names each) before it gets rows of its own: one
#: date gives no t-statistic and no stability.
MIN_DATES = 2
ALL = "all"


def factor_directions() -> dict[str, str]:
    """Every registered factor and its direction, in registration order (the order of the output tables)."""
    from factors.registry import FACTORS

    return {name: spec.direction for name, spec in FACTORS.items()}


def oriented(scores: pl.DataFrame, factor: str, direction: str) -> pl.DataFrame:
    """``date``, ``symbol``, ``role_class`` and the factor turned so that higher is better, under the factor's name.

    Why: the statistics assume "higher = better"; negating a ``higher_is_worse`` factor keeps ranks (ties included)
    and only flips their order, so its IC reads in the same sense as every other factor's.
    """
    sign = -1.0 if direction == "higher_is_worse" else 1.0
    return scores.select(
        pl.col("date").cast(pl.Date),
        "symbol",
        pl.col("role_class").cast(pl.String),
        (pl.col(factor).cast(pl.Float64) * sign).alias(factor),
    )


def _qualifying_groups(values: pl.DataFrame, factor: str, min_n: int) -> list[str]:
    """``all`` first, then each role class (sorted) with ``min_n`` usable values on ``MIN_DATES`` dates or more."""
    usable = values.filter(
        pl.col(factor).is_not_null() & pl.col(factor).is_not_nan() & pl.col("role_class").is_not_null()
    )
    per_date = usable.group_by("role_class", "date").agg(n=pl.len()).filter(pl.col("n") >= min_n)
    dates = per_date.group_by("role_class").agg(d=pl.len()).filter(pl.col("d") >= MIN_DATES)
    return [ALL, *sorted(c for c in dates["role_class"].to_list() if c != ALL)]


def _consecutive(frame: pl.DataFrame, dates: Sequence[date]) -> pl.DataFrame:
    """Rows whose ``prev_date`` is the rebalance date just before ``date``: a pair that skipped a date (the group
    had no rows on it) is not "between consecutive rebalances" and is dropped."""
    prev = {d: p for p, d in itertools.pairwise(dates)}
    before = pl.DataFrame(
        {"date": list(prev), "_expected": list(prev.values())}, schema={"date": pl.Date, "_expected": pl.Date}
    )
    return frame.join(before, on="date", how="inner").filter(pl.col("prev_date") == pl.col("_expected"))


def _top_quintile_turnover(values: pl.DataFrame, factor: str, dates: Sequence[date]) -> tuple[float | None, int]:
    """Mean share of the top quintile replaced between consecutive rebalances, and how many pairs it averages.

    The top quintile on a date is the best fifth by the oriented value, bucketed exactly as ``quantile_returns``
    buckets (position ``r`` of ``n`` from worst to best, ties broken on symbol, quintile ``floor(5r/n) + 1``); each
    member gets weight ``1/size`` and ``stats.turnover`` measures ``0.5 * sum |w_t - w_t-1|``, which is the share
    replaced when the two quintiles are the same size. Dates with fewer names than buckets have no quintile.
    """
    usable = values.filter(pl.col(factor).is_not_null() & pl.col(factor).is_not_nan())
    top = (
        usable.sort("date", factor, "symbol")
        .with_columns(_pos=pl.int_range(pl.len()).over("date"), _n=pl.len().over("date"))
        .filter(pl.col("_n") >= N_QUANTILES)
        .filter(pl.col("_pos") * N_QUANTILES // pl.col("_n") + 1 == N_QUANTILES)
        .with_columns(weight=1.0 / pl.len().over("date"))
        .select("date", "symbol", "weight")
    )
    if top.height == 0:
        return None, 0
    turns = stats.turnover(top)
    quintile_dates = turns["date"].to_list()
    prev = dict(zip(quintile_dates[1:], quintile_dates, strict=False))
    step = {d: p for p, d in itertools.pairwise(dates)}
    kept = turns.filter(
        pl.col("date").is_in([d for d in quintile_dates[1:] if step.get(d) is not None and step[d] == prev[d]])
    )
    if kept.height == 0:
        return None, 0
    return float(kept["turnover"].mean()), kept.height  # type: ignore[arg-type]


def _empty(name: str) -> pl.DataFrame:
    return pl.DataFrame(schema=TABLES[name])


def evaluate_factors(
    scores: pl.DataFrame,
    returns: pl.DataFrame,
    *,
    dates: Sequence[date],
    horizon_days: Mapping[str, int],
    step_days: int,
    directions: Mapping[str, str] | None = None,
    min_n: int = stats.MIN_N,
) -> dict[str, pl.DataFrame]:
    """The ``ic``, ``ic_series``, ``quantiles``, ``spreads`` and ``stability`` tables of a backtest result.

    ``scores`` is the score panel with a ``date`` column (one row per date and symbol, carrying ``role_class`` and
    every factor of ``directions``); ``returns`` comes from ``stats.forward_returns``; ``dates`` are the rebalance
    dates in order; ``step_days`` is the rebalance step (the Newey-West lag depends on it). ``directions`` defaults
    to the factor registry. Every (factor, role class, horizon) of a qualifying group gets an ``ic`` row, with
    ``n_dates`` 0 and null statistics when no date could be measured, so the IC decay across horizons reads
    without gaps. Tables are sorted by factor (registration order), role class (``all`` first) and horizon days.
    """
    directions = dict(directions) if directions is not None else factor_directions()
    horizons = sorted(horizon_days, key=lambda h: (horizon_days[h], h))
    order = {h: i for i, h in enumerate(horizons)}
    days = sorted(set(dates))
    ic_rows: list[pl.DataFrame] = []
    series_rows: list[pl.DataFrame] = []
    quant_rows: list[pl.DataFrame] = []
    spread_rows: list[pl.DataFrame] = []
    stab_rows: list[dict[str, object]] = []
    for f_index, (factor, direction) in enumerate(directions.items()):
        if factor not in scores.columns:
            continue
        values = oriented(scores, factor, direction)
        for g_index, group in enumerate(_qualifying_groups(values, factor, min_n)):
            subset = values if group == ALL else values.filter(pl.col("role_class") == group)
            subset = subset.select("date", "symbol", factor)
            ic = stats.rank_ic(subset, returns, factor_col=factor, min_n=min_n)
            series_rows.append(
                ic.select(
                    "date",
                    "factor",
                    pl.lit(group).alias("role_class"),
                    "horizon",
                    "ic",
                    "n",
                    pl.lit(f_index).alias("_f"),
                    pl.lit(g_index).alias("_g"),
                )
            )
            summary = stats.ic_summary(ic, horizon_days=horizon_days, step_days=step_days)
            grid = pl.DataFrame(
                {
                    "factor": [factor] * len(horizons),
                    "horizon": horizons,
                    "horizon_days": [horizon_days[h] for h in horizons],
                    "nw_lags": [stats.newey_west_lag(horizon_days[h], step_days) for h in horizons],
                },
                schema={"factor": pl.String, "horizon": pl.String, "horizon_days": pl.Int64, "nw_lags": pl.Int64},
            )
            ic_rows.append(
                grid.join(
                    summary.select("factor", "horizon", "mean_ic", "t_stat", "ic_ir", "hit_rate", "n_dates"),
                    on=["factor", "horizon"],
                    how="left",
                ).select(
                    "factor",
                    pl.lit(group).alias("role_class"),
                    "horizon",
                    "horizon_days",
                    "mean_ic",
                    "t_stat",
                    "ic_ir",
                    "hit_rate",
                    pl.col("n_dates").fill_null(0),
                    "nw_lags",
                    pl.lit(f_index).alias("_f"),
                    pl.lit(g_index).alias("_g"),
                )
            )
            qr = stats.quantile_returns(subset, returns, factor_col=factor, n_quantiles=N_QUANTILES)
            quant_rows.append(
                qr.select(
                    "factor",
                    pl.lit(group).alias("role_class"),
                    "horizon",
                    "quantile",
                    "mean_return",
                    "n_dates",
                    pl.lit(f_index).alias("_f"),
                    pl.lit(g_index).alias("_g"),
                )
            )
            if qr.height:
                dates_per = qr.group_by("factor", "horizon").agg(n_dates=pl.col("n_dates").min())
                spread_rows.append(
                    stats.spread(qr)
                    .join(dates_per, on=["factor", "horizon"], how="left")
                    .select(
                        "factor",
                        pl.lit(group).alias("role_class"),
                        "horizon",
                        "spread",
                        "n_dates",
                        pl.lit(f_index).alias("_f"),
                        pl.lit(g_index).alias("_g"),
                    )
                )
            auto = _consecutive(stats.rank_autocorrelation(subset, factor_col=factor, min_n=min_n), days)
            auto = auto.filter(pl.col("autocorr").is_not_null())
            turnover, n_turn = _top_quintile_turnover(subset, factor, days)
            stab_rows.append(
                {
                    "factor": factor,
                    "role_class": group,
                    "rank_autocorrelation": float(auto["autocorr"].mean()) if auto.height else None,  # type: ignore[arg-type]
                    "top_quintile_turnover": turnover,
                    "n_dates": max(auto.height, n_turn),
                    "_f": f_index,
                    "_g": g_index,
                }
            )

    def finish(name: str, parts: list[pl.DataFrame], keys: list[str]) -> pl.DataFrame:
        if not parts:
            return _empty(name)
        frame = pl.concat(parts, how="vertical_relaxed")
        if "horizon" in frame.columns:
            frame = frame.with_columns(_h=pl.col("horizon").replace_strict(order, return_dtype=pl.Int64))
            keys = [k if k != "horizon" else "_h" for k in keys]
        return frame.sort(keys).select([pl.col(c).cast(t) for c, t in TABLES[name].items()])

    stab = (
        pl.DataFrame(
            stab_rows,
            schema={
                "factor": pl.String,
                "role_class": pl.String,
                "rank_autocorrelation": pl.Float64,
                "top_quintile_turnover": pl.Float64,
                "n_dates": pl.Int64,
                "_f": pl.Int64,
                "_g": pl.Int64,
            },
        )
        .sort("_f", "_g")
        .select(list(TABLES["stability"]))
    )
    return {
        "ic": finish("ic", ic_rows, ["_f", "_g", "horizon"]),
        "ic_series": finish("ic_series", series_rows, ["date", "_f", "_g", "horizon"]),
        "quantiles": finish("quantiles", quant_rows, ["_f", "_g", "horizon", "quantile"]),
        "spreads": finish("spreads", spread_rows, ["_f", "_g", "horizon"]),
        "stability": stab,
    }
