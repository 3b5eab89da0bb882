"""Balance sheet: net cash against market cap and debt against equity (higher is better).

Thesis: "Which balance sheets can survive a subsidy-dependent build-out without dilution." Net cash that is large
relative to the market value funds the build-out; leverage against a thin equity base does not.

Missing values: ``worst``. A balance sheet that cannot be read cannot be shown to survive: a missing component
takes the worst value observed in the cross-section and is flagged ``worst:balance_sheet.<component>``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from factors.crosssection import weighted_robust_sum
from factors.registry import Params, register_factor

if TYPE_CHECKING:
    from factors.inputs import FactorContext

COMPONENTS = {"net_cash_to_mcap": 1, "debt_to_equity": -1}

PARAMS: dict[str, object] = {
    "max_debt_to_equity": 10.0,
    "clip": 3.0,
    "weights": {"net_cash_to_mcap": 0.6, "debt_to_equity": 0.4},
}


def debt_to_equity(debt: pl.Expr, equity: pl.Expr, cap: float) -> pl.Expr:
    """Debt / equity capped at ``cap``; no debt is 0 whatever the equity; debt on zero or negative equity is the cap."""
    return (
        pl.when(debt.is_null())
        .then(None)
        .when(debt <= 0)
        .then(pl.lit(0.0))
        .when(equity.is_null())
        .then(None)
        .when(equity <= 0)
        .then(pl.lit(cap))
        .otherwise(pl.min_horizontal(debt / equity, pl.lit(cap)))
    )


def combine(c: pl.DataFrame, p: Params) -> pl.Series:
    """Sum over components of weight * clip(sign * robust z, -clip, clip); a component nobody has counts 0."""
    return weighted_robust_sum(c, COMPONENTS, p["weights"], float(p["clip"]))


@register_factor(
    name="balance_sheet",
    direction="higher_is_better",
    needs=("cash", "total_debt", "total_equity", "market_cap"),
    missing="worst",
    params=PARAMS,
    components=COMPONENTS,
    description="Balance-sheet strength: net cash over market cap and debt over equity, robust-scaled and weighted.",
    thesis="Which balance sheets can survive a subsidy-dependent build-out without dilution.",
    combine=combine,
    phrases=("strong balance sheet", "weak balance sheet"),
    moved_by=("equity_raise", "funding"),
    formats={"net_cash_to_mcap": "ratio"},
    order=30,
)
def balance_sheet(ctx: FactorContext, p: Params) -> pl.DataFrame:
    mcap = pl.col("market_cap_usd")
    return ctx.base.select(
        "as_of",
        "symbol",
        pl.when(mcap > 0).then(pl.col("net_cash_usd") / mcap).otherwise(None).alias("net_cash_to_mcap"),
        debt_to_equity(pl.col("total_debt_usd"), pl.col("total_equity_usd"), float(p["max_debt_to_equity"])).alias(
            "debt_to_equity"
        ),
    )
