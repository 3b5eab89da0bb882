"""Pullback: how compelling the drawdown of the USD price from its 52-week high is as an entry (higher is better).

Thesis: "More compelling on pullbacks." A name the thesis likes is a better entry after the market has marked it
down. The drawdown is measured on USD closes (each converted at its own day's rate), so two listings of the same
dollar value move identically.

A pullback is not a collapse. The value is not the drawdown ``d`` itself (which would rank a 95% collapse best) but
a tent over it, with the drawdown kept as the component ``drawdown_52w``:

* ``d <= peak``: ``d / peak``, rising from 0 at the high to 1 at the sweet spot (``peak``, 30%);
* ``d > peak``: ``(collapse - d) / (collapse - peak)``, falling from 1 back to 0 at ``collapse`` (70%) and below 0
  beyond it, to ``-(1 - collapse) / (collapse - peak)`` at a total loss.

So a drawdown past ``collapse`` scores below any pullback and below a name at its high: a price that has lost most
of its value is the market saying something about the company, not offering an entry. 90% scores -0.5, 30% 1.0,
10% 0.33. Both sides are linear, so the score is monotone on each side of the peak and continuous everywhere.

Missing values: ``exclude``. Without enough closes in the window there is no drawdown to speak of: the factor is
null and the row is flagged ``excluded:pullback``.

Short history: with at least ``min_obs`` closes but a history that starts more than ``coverage_slack_days`` after the
window opens (a new listing, or an as-of date soon after the data begins), the high is not a 52-week high. The value
is kept, since it is the drawdown from the highest close there is, and the row is flagged ``short_history:pullback``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import polars as pl

from factors.registry import Params, register_factor

if TYPE_CHECKING:
    from factors.inputs import FactorContext

PARAMS: dict[str, object] = {
    "window_days": 365,
    "min_obs": 20,
    "coverage_slack_days": 31,
    "peak": 0.30,  # the sweet spot: a drawdown of 25-40% is the pullback the thesis means
    "collapse": 0.70,  # from here on the score is below a name at its high
}


def pullback_score(drawdown: pl.Expr, peak: float, collapse: float) -> pl.Expr:
    """The tent over the drawdown (see the module docstring): rises to 1 at ``peak``, 0 again at ``collapse``,
    negative beyond. Null stays null."""
    if not 0.0 < peak < collapse <= 1.0:
        raise ValueError(f"pullback needs 0 < peak < collapse <= 1, got peak {peak}, collapse {collapse}")
    d = drawdown.clip(lower_bound=0.0)
    return pl.when(d <= peak).then(d / peak).otherwise((collapse - d) / (collapse - peak))


def combine(c: pl.DataFrame, p: Params) -> pl.Series:
    """The factor value: the tent over ``drawdown_52w``."""
    return c.select(pullback_score(pl.col("drawdown_52w"), float(p["peak"]), float(p["collapse"]))).to_series()


@register_factor(
    name="pullback",
    direction="higher_is_better",
    needs=("price", "price_history"),
    missing="exclude",
    params=PARAMS,
    components={"drawdown_52w": 1},
    description="Drawdown of the latest USD close from the highest USD close of the last 52 weeks, scored as a "
    "tent: best at a 30% pullback, below a name at its high beyond a 70% collapse.",
    combine=combine,
    thesis="More compelling on pullbacks.",
    # the score is a tent (a pullback near the sweet spot scores best), so the low end holds both names near their
    # high and collapses: the phrases say so rather than call a 90% fall "near its high"
    phrases=("pulled back from its 52-week high, not collapsed", "near its 52-week high or collapsed"),
    formats={"pullback": "decimal", "drawdown_52w": "ratio"},
    order=50,
)
def pullback(ctx: FactorContext, p: Params) -> pl.DataFrame:
    if int(p["window_days"]) > int(ctx.settings["price_window_days"]):
        raise ValueError("pullback window_days exceeds the engine's price_window_days")
    days = int(p["window_days"])
    w = ctx.window(days)
    lo, hi = w["lo"], w["hi"]
    # the first close the engine's window holds: how far back the history reaches
    first = ctx.value_at("date", ctx.bounds["lo"])
    agg = w.select("as_of", "symbol").with_columns(
        ctx.range_max("close_usd", lo, hi).alias("high"),
        pl.select(pl.when(lo <= hi).then(ctx.value_at("close_usd", hi))).to_series().alias("last"),
        ctx.range_count("close_usd", lo, hi).alias("n"),
        first.alias("first"),
    )
    start = pl.col("as_of") - timedelta(days=days)
    drawdown = (
        pl.when((pl.col("n") >= int(p["min_obs"])) & (pl.col("high") > 0))
        .then(1.0 - pl.col("last") / pl.col("high"))
        .otherwise(None)
    )
    short = pl.col("first") > start + timedelta(days=int(p["coverage_slack_days"]))
    return agg.select(
        "as_of",
        "symbol",
        drawdown.alias("drawdown_52w"),
        pl.when(drawdown.is_not_null() & short)
        .then(pl.lit(["short_history:pullback"], dtype=pl.List(pl.String)))
        .otherwise(pl.lit([], dtype=pl.List(pl.String)))
        .alias("flags"),
    )
