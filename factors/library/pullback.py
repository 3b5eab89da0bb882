"""Pullback: drawdown of the USD price from its 52-week high (higher is a deeper pullback, more compelling).

Thesis: "More compelling on pullbacks." A name the thesis likes is a better entry after the market has marked it
down. The drawdown is measured on USD closes (each converted at its own day's rate), so two listings of the same
dollar value move identically.

Missing values: ``exclude``. Without enough closes in the window there is no drawdown to speak of: the factor is
null and the row is flagged ``excluded:pullback``.

Short history: with at least ``min_obs`` closes but a history that starts more than ``coverage_slack_days`` after the
window opens (a new listing, or an as-of date soon after the data begins), the high is not a 52-week high. The value
is kept, since it is the drawdown from the highest close there is, and the row is flagged ``short_history:pullback``.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from factors.inputs import FactorContext
from factors.registry import Params, register_factor

PARAMS: dict[str, object] = {"window_days": 365, "min_obs": 20, "coverage_slack_days": 31}


@register_factor(
    name="pullback",
    direction="higher_is_better",
    needs=("price", "price_history"),
    missing="exclude",
    params=PARAMS,
    components={"drawdown_52w": 1},
    description="Drawdown of the latest USD close from the highest USD close of the last 52 weeks.",
    thesis="More compelling on pullbacks.",
    phrases=("deep pullback from its 52-week high", "near its 52-week high"),
    formats={"pullback": "ratio", "drawdown_52w": "ratio"},
    order=50,
)
def pullback(ctx: FactorContext, p: Params) -> pl.DataFrame:
    if int(p["window_days"]) > int(ctx.settings["price_window_days"]):
        raise ValueError("pullback window_days exceeds the engine's price_window_days")
    start = ctx.as_of - timedelta(days=int(p["window_days"]))
    inside = pl.col("date") > start
    close = pl.when(inside).then(pl.col("close_usd"))
    agg = ctx.aggregate_prices(
        close.max().alias("high"),
        close.last().alias("last"),
        close.count().alias("n"),
        pl.col("date").min().alias("first"),
    )
    drawdown = (
        pl.when((pl.col("n") >= int(p["min_obs"])) & (pl.col("high") > 0))
        .then(1.0 - pl.col("last") / pl.col("high"))
        .otherwise(None)
    )
    short = pl.col("first") > start + timedelta(days=int(p["coverage_slack_days"]))
    return agg.select(
        "symbol",
        drawdown.alias("drawdown_52w"),
        pl.when(drawdown.is_not_null() & short)
        .then(pl.lit(["short_history:pullback"], dtype=pl.List(pl.String)))
        .otherwise(pl.lit([], dtype=pl.List(pl.String)))
        .alias("flags"),
    )
