"""Liquidity: median daily traded value in USD over the last 63 trading days (higher is better).

Thesis: a watchlist is only useful if the names can be bought; rule sets use this as a gate. Traded value is close
times volume, each day converted at that day's rate. Days without a volume are skipped; days with zero volume count
as zero, because not trading is what illiquidity looks like.

Missing values: ``worst``. A company with too few traded days takes the lowest traded value observed in the
cross-section and is flagged ``worst:liquidity.median_traded_value_usd``.

Halted names: a company flagged ``halted`` (no trade for more than ``halted_trading_days`` trading days before the
as-of date: no price rows, or zero volume; often a voluntary suspension before a capital raise) has no measured
value, whatever it traded before the halt. Its old volume says nothing about whether it can be bought now, so it
takes the worst fill like any unmeasured name, and a gate on the measured value (the default rule set's
``tradeable``) fails, since a missing value never passes a condition.

Short history: with at least ``min_obs`` traded days but fewer than ``window_rows`` trading days of prices in the last
``max_age_days`` (a new listing, or an as-of date soon after the data begins), the median covers less than the
intended quarter. The value is kept and the row is flagged ``short_history:liquidity``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from factors.registry import Params, register_factor

if TYPE_CHECKING:
    from factors.inputs import FactorContext

PARAMS: dict[str, object] = {"window_rows": 63, "max_age_days": 365, "min_obs": 10}


@register_factor(
    name="liquidity",
    direction="higher_is_better",
    needs=("price_history", "volume"),
    missing="worst",
    params=PARAMS,
    components={"median_traded_value_usd": 1},
    description="Median daily traded value (close x volume) in USD over the last 63 trading days.",
    thesis="Only names that can be traded belong on a watchlist.",
    phrases=("liquid", "thinly traded"),
    moved_by=("equity_raise",),
    formats={"liquidity": "usd"},
    order=60,
)
def liquidity(ctx: FactorContext, p: Params) -> pl.DataFrame:
    rows = int(p["window_rows"])
    w = ctx.window(int(p["max_age_days"]))
    lo, hi = w["lo"], w["hi"]
    # the last ``rows`` trading days inside the window: the median and count of their known traded values
    start = pl.select(pl.max_horizontal(lo, hi - (rows - 1))).to_series()
    agg = w.select("as_of", "symbol").with_columns(
        ctx.tail_median("traded_value_usd", rows, lo, hi).alias("median"),
        ctx.range_count("traded_value_usd", start, hi).alias("n"),
        pl.select(pl.when(lo <= hi).then(hi - lo + 1).otherwise(0)).to_series().alias("rows"),
    )
    agg = agg.join(ctx.base.select("as_of", "symbol", "halted"), on=["as_of", "symbol"], how="left")
    value = pl.when((pl.col("n") >= int(p["min_obs"])) & ~pl.col("halted").fill_null(False)).then(pl.col("median"))
    return agg.select(
        "as_of",
        "symbol",
        value.alias("median_traded_value_usd"),
        pl.when(value.is_not_null() & (pl.col("rows") < int(p["window_rows"])))
        .then(pl.lit(["short_history:liquidity"], dtype=pl.List(pl.String)))
        .otherwise(pl.lit([], dtype=pl.List(pl.String)))
        .alias("flags"),
    )
