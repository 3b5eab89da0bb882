"""Localization premium: how much a company gains as rare-earth supply chains move out of China.

Thesis: the enablers that turn oxide into magnets outside China (processors, magnet makers, recyclers, tollers,
equipment suppliers) capture the localization premium; integrated miner-processors share some of it; pure miners
only sell the commodity; downstream users pay it. Allied footprint, government-backed demand and a credible
capacity pipeline add to it.

Missing values: ``neutral``. Only the capacity pipeline can be missing (capacity events but no market cap to size
them against); it then takes the cross-sectional median.
"""

from __future__ import annotations

import polars as pl

from factors.inputs import FactorContext
from factors.registry import Params, register_factor

PARAMS: dict[str, object] = {
    # Role exposure is the mean of the company's role weights: an integrated miner-processor lands in the middle.
    "role_weights": {
        "processor": 1.0,
        "magnet_maker": 1.0,
        "recycler": 1.0,
        "chemicals_tolling": 1.0,
        "equipment_supplier": 1.0,
        "trader_offtaker": 0.25,
        "miner": 0.0,
        "downstream_user": -1.0,
    },
    # Allied footprint by headquarters region; regions not listed count as allied (1.0).
    "region_weights": {"china": 0.0, "other": 0.5},
    "allied_weight": 1.0,
    # Government-backed demand: each gov_backing tag counts fully; funding/offtake events decay with age.
    "gov_tag_weight": 1.0,
    "gov_event_weights": {"funding": 1.0, "offtake": 1.0},
    "gov_half_life_years": 2.0,
    # Capacity pipeline: tonnes/yr risked by stage and discounted by years to the target year, per USD bn of cap.
    "capacity_stage_weights": {
        "announced": 0.1,
        "loi": 0.2,
        "funded": 0.4,
        "construction": 0.6,
        "commissioning": 0.8,
        "production": 1.0,
    },
    "capacity_default_stage": "announced",
    "capacity_discount_rate": 0.15,
    "capacity_default_years": 3,
    # Saturation scales: a component at its scale contributes 1 - 1/e (63%) of its weight.
    "gov_scale": 1.0,
    "capacity_scale": 1000.0,
    "weights": {"role_exposure": 0.4, "allied_footprint": 0.2, "gov_backing": 0.2, "capacity_pipeline": 0.2},
}


def role_exposure(roles: pl.Expr, weights: dict[str, float]) -> pl.Expr:
    """Mean role weight over the company's roles (unknown roles are ignored; no known role gives null)."""
    return (
        roles.str.split(";")
        .list.eval(pl.element().replace_strict(weights, default=None, return_dtype=pl.Float64))
        .list.mean()
    )


def decay(ctx: FactorContext, half_life_years: float) -> pl.Expr:
    """0.5 ** (age / half-life): a backing announced one half-life ago counts half."""
    return pl.lit(0.5) ** (ctx.age_years() / half_life_years)


def _gov_events(ctx: FactorContext, p: Params) -> pl.DataFrame:
    weights: dict[str, float] = p["gov_event_weights"]
    ev = ctx.events.filter(pl.col("kind").is_in(list(weights)))
    return ev.group_by("symbol", maintain_order=True).agg(
        (pl.col("kind").replace_strict(weights, return_dtype=pl.Float64) * decay(ctx, p["gov_half_life_years"]))
        .sum()
        .alias("gov_events")
    )


def risked_capacity(ctx: FactorContext, p: Params) -> pl.DataFrame:
    """Per company: sum of capacity_tpa * stage weight / (1 + r) ** years to target, one entry per project.

    Events that restate the same tonnage and target year are one project moving through its stages, so only its
    most advanced stage counts (latest date on a tie). Events without a tonnage cannot be sized and are skipped.
    """
    stages: dict[str, float] = p["capacity_stage_weights"]
    rank = {s: i for i, s in enumerate(stages)}
    stage = pl.col("stage").fill_null(p["capacity_default_stage"])
    years = (pl.col("target_year") - ctx.as_of.year).clip(lower_bound=0).fill_null(p["capacity_default_years"])
    ev = (
        ctx.events.filter((pl.col("kind") == "capacity") & (pl.col("capacity_tpa") > 0))
        .with_columns(stage.alias("stage"), stage.replace_strict(rank, default=0, return_dtype=pl.Int64).alias("_r"))
        .sort(["symbol", "capacity_tpa", "target_year", "_r", "date", "description"], nulls_last=True)
        .group_by(["symbol", "capacity_tpa", "target_year"], maintain_order=True)
        .agg(pl.all().last())
    )
    risked = (
        pl.col("capacity_tpa")
        * pl.col("stage").replace_strict(stages, default=0.0, return_dtype=pl.Float64)
        * (1.0 + p["capacity_discount_rate"]) ** (-years.cast(pl.Float64))
    )
    return (
        ev.sort(["symbol", "capacity_tpa", "target_year"], nulls_last=True)
        .group_by("symbol", maintain_order=True)
        .agg(risked.sum().alias("risked_tpa"))
    )


def _saturate(x: pl.Expr, scale: float) -> pl.Expr:
    return 1.0 - (-(x / scale)).exp()


def combine(c: pl.DataFrame, p: Params) -> pl.Series:
    """w_role * role + w_allied * allied + w_gov * (1 - e^(-gov/s_gov)) + w_cap * (1 - e^(-cap/s_cap))."""
    w = p["weights"]
    expr = (
        w["role_exposure"] * pl.col("role_exposure")
        + w["allied_footprint"] * pl.col("allied_footprint")
        + w["gov_backing"] * _saturate(pl.col("gov_backing"), p["gov_scale"])
        + w["capacity_pipeline"] * _saturate(pl.col("capacity_pipeline"), p["capacity_scale"])
    )
    return c.select(expr.alias("v")).to_series()


@register_factor(
    name="localization_premium",
    direction="higher_is_better",
    needs=("roles", "country", "gov_backing", "events", "market_cap"),
    missing="neutral",
    params=PARAMS,
    components={"role_exposure": 1, "allied_footprint": 1, "gov_backing": 1, "capacity_pipeline": 1},
    description="Exposure to the localization premium: enabler roles, allied footprint, government-backed demand "
    "and a risked capacity pipeline relative to size.",
    thesis="Favour the enablers over pure miners; downstream users face a 12-24 month margin squeeze.",
    combine=combine,
    phrases=("high localization premium", "low localization premium"),
    moved_by=("capacity", "offtake", "funding", "policy", "production_start", "permit"),
    order=10,
)
def localization_premium(ctx: FactorContext, p: Params) -> pl.DataFrame:
    base = ctx.base
    region_weights: dict[str, float] = p["region_weights"]
    tags = (
        pl.col("gov_backing")
        .fill_null("")
        .str.split(";")
        .list.eval(pl.element().filter(pl.element().str.len_chars() > 0))
        .list.len()
    )
    frame = (
        base.select("symbol", "roles", "region", "gov_backing", "market_cap_usd")
        .join(_gov_events(ctx, p), on="symbol", how="left")
        .join(risked_capacity(ctx, p), on="symbol", how="left")
        .with_columns(pl.col("gov_events").fill_null(0.0), pl.col("risked_tpa").fill_null(0.0))
    )
    mcap_bn = pl.col("market_cap_usd") / 1e9
    return frame.select(
        "symbol",
        role_exposure(pl.col("roles"), p["role_weights"]).alias("role_exposure"),
        pl.col("region")
        .replace_strict(region_weights, default=p["allied_weight"], return_dtype=pl.Float64)
        .alias("allied_footprint"),
        (tags.cast(pl.Float64) * p["gov_tag_weight"] + pl.col("gov_events")).alias("gov_backing"),
        pl.when(pl.col("risked_tpa") <= 0)
        .then(pl.lit(0.0))
        .when(mcap_bn > 0)
        .then(pl.col("risked_tpa") / mcap_bn)
        .otherwise(None)
        .alias("capacity_pipeline"),
    )
