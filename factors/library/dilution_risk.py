"""Dilution risk: how likely the company is to issue shares to fund itself (higher is worse).

Thesis: a subsidy-dependent build-out is paid for by someone; companies that have been issuing shares, that burn
cash with little runway, that spend heavily on capex, that raised equity recently or that are still developers or
explorers are the ones whose holders pay for it.

Capex intensity is capex over (market cap + revenue): one definition for every company. The old ratio switched
from capex/revenue to capex/market cap at zero revenue, so one dollar of revenue could move it a thousandfold.
Market cap plus revenue is positive for any listed company, grows smoothly through the first sale, and needs no
debt figure (enterprise value would, and it turns negative when net cash exceeds the market cap).

The funding-gap forecast (``factors.funding``) lands here as three components: ``remaining_capex_usd`` (capex still
to spend on open projects, own share), ``funding_gap_usd`` (that minus cash and binding funding) and
``months_to_raise``. They carry weight 0: they act through the rule sets' absolute gates, not the ranking. Where the
forecast says no raise is needed (its ``raise_status`` is ``not_needed`` and its months null), the component holds
the cap ``12 * max_runway_years`` months, as ``cash_runway_years`` holds its cap when nothing burns: a null component
means "unknown" to the engine (it is filled from peers and flagged), and "no raise needed" is not unknown. The card
and the workbook read the cap as "no raise needed". Unknown cash or cash flow leaves the months null (unknown, never
zero), which the engine flags ``imputed:dilution_risk.months_to_raise``.

Missing values: ``impute_peers``. A missing component takes the median of the company's role-class peers
(``role_class``: integrated, enabler, pure_miner, downstream_user, trader_offtaker, other), or of all companies when
no peer has it, and is flagged ``imputed:dilution_risk.<component>``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from factors.crosssection import weighted_robust_sum
from factors.funding import FORECAST_EVENTS, FUNDING_PARAMS, RAISE_NOT_NEEDED, funding_forecast
from factors.registry import Params, register_factor

if TYPE_CHECKING:
    from factors.inputs import FactorContext

COMPONENTS = {
    "share_growth_1y": 1,
    "share_growth_3y": 1,
    "cash_runway_years": -1,
    "capex_intensity": 1,
    "equity_raises_12m": 1,
    "stage_risk": 1,
    "remaining_capex_usd": 1,
    "funding_gap_usd": 1,
    "months_to_raise": -1,
}

PARAMS: dict[str, object] = {
    "max_runway_years": 10.0,
    "equity_raise_window_days": 365,
    "stage_weights": {"producer": 0.0, "developer": 0.5, "explorer": 1.0},
    "clip": 3.0,
    **FUNDING_PARAMS,
    "weights": {
        "share_growth_1y": 0.25,
        "share_growth_3y": 0.15,
        "cash_runway_years": 0.25,
        "capex_intensity": 0.10,
        "equity_raises_12m": 0.15,
        "stage_risk": 0.10,
        "remaining_capex_usd": 0.0,
        "funding_gap_usd": 0.0,
        "months_to_raise": 0.0,
    },
}


def cash_runway_years(cash: pl.Expr, fcf: pl.Expr, cap: float) -> pl.Expr:
    """Cash over annual cash burn (burn = -FCF when FCF is negative); no burn means the capped, long runway."""
    burn = -fcf
    return (
        pl.when(cash.is_null() | fcf.is_null())
        .then(None)
        .when(burn <= 0)
        .then(pl.lit(cap))
        .otherwise(pl.min_horizontal(cash.clip(lower_bound=0.0) / burn, pl.lit(cap)))
    )


def capex_intensity(capex: pl.Expr, revenue: pl.Expr, mcap: pl.Expr) -> pl.Expr:
    """Capex over (market cap + revenue), one unit for every company (see the module docstring for why).

    A missing or negative revenue counts 0 (a company without sales is valued on its market cap alone); no market
    cap means no size to measure against, so the value is unknown."""
    size = mcap + revenue.fill_null(0.0).clip(lower_bound=0.0)
    return pl.when(capex.is_null() | mcap.is_null() | (size <= 0)).then(None).otherwise(capex / size)


def months_cap(p: Params) -> float:
    """The ``months_to_raise`` that means "no raise needed within the horizon": the runway cap in months."""
    return 12.0 * float(p["max_runway_years"])


def combine(c: pl.DataFrame, p: Params) -> pl.Series:
    """Sum over components of weight * clip(sign * robust z, -clip, clip); a component nobody has counts 0."""
    return weighted_robust_sum(c, COMPONENTS, p["weights"], float(p["clip"]))


@register_factor(
    name="dilution_risk",
    direction="higher_is_worse",
    needs=(
        "shares_outstanding",
        "share_history_1y",
        "share_history_3y",
        "cash",
        "operating_cash_flow",
        "free_cash_flow",
        "capital_expenditure",
        "revenue",
        "market_cap",
        "events",
        "stage",
    ),
    missing="impute_peers",
    params=PARAMS,
    components=COMPONENTS,
    description="Risk of equity dilution: share-count growth, cash runway, capex intensity, recent equity raises "
    "and development stage, robust-scaled and weighted.",
    thesis="Which balance sheets can survive a subsidy-dependent build-out without dilution.",
    combine=combine,
    phrases=("high dilution risk", "low dilution risk"),
    moved_by=("equity_raise", "funding"),
    formats={
        "share_growth_1y": "ratio",
        "share_growth_3y": "ratio",
        "capex_intensity": "ratio",
        "equity_raises_12m": "count",
        "cash_runway_years": "decimal",
        "stage_risk": "decimal",
        "remaining_capex_usd": "usd",
        "funding_gap_usd": "usd",
        "months_to_raise": "decimal",
    },
    order=20,
)
def dilution_risk(ctx: FactorContext, p: Params) -> pl.DataFrame:
    window = int(p["equity_raise_window_days"])
    raises = (
        ctx.events_where(pl.col("kind") == "equity_raise", within_days=window)
        .group_by(["as_of", "symbol"])
        .agg(pl.len().cast(pl.Float64).alias("equity_raises_12m"))
    )
    stage_weights: dict[str, float] = p["stage_weights"]
    forecast = funding_forecast(ctx.base, ctx.events_where(FORECAST_EVENTS), None, p)
    cap = months_cap(p)
    months = (
        pl.when(pl.col("raise_status") == RAISE_NOT_NEEDED)
        .then(pl.lit(cap))
        .otherwise(pl.col("months_to_raise").clip(upper_bound=cap))
    )
    return (
        ctx.base.join(raises, on=["as_of", "symbol"], how="left")
        .join(forecast, on=["as_of", "symbol"], how="left")
        .select(
            "as_of",
            "symbol",
            "share_growth_1y",
            "share_growth_3y",
            cash_runway_years(pl.col("cash_usd"), pl.col("free_cash_flow_ttm_usd"), float(p["max_runway_years"])).alias(
                "cash_runway_years"
            ),
            capex_intensity(pl.col("capex_ttm_usd"), pl.col("revenue_ttm_usd"), pl.col("market_cap_usd")).alias(
                "capex_intensity"
            ),
            pl.col("equity_raises_12m").fill_null(0.0),
            pl.col("stage").replace_strict(stage_weights, default=None, return_dtype=pl.Float64).alias("stage_risk"),
            "remaining_capex_usd",
            "funding_gap_usd",
            months.alias("months_to_raise"),
        )
    )
