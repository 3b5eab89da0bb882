"""Commodity dependence: how much the case needs rare-earth prices to stay high (higher is worse).

Thesis: pure miners and explorers sell the commodity at whatever price the market (largely China) sets; offtakes,
price floors and tolling-style contracts take that price risk away, and enablers and downstream users do not
depend on a high price in the first place.

Why contracts come from the events and not the ``gov_backing`` tags: a tag says nothing about who is bound to whom.
Only a dated offtake (a price floor is coded as one) that the company *receives* and that is *binding* moves its
price risk to a buyer; one it pays for makes it the buyer, and a letter of intent binds nobody
(``factors.ledger.binding_offtakes``).

Missing values: ``neutral``. Every component comes from required identity fields and the event ledger, so none is
missing in practice; should one be, it takes the cross-sectional median.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from factors.ledger import binding_offtake_events, binding_offtakes
from factors.registry import Params, register_factor

if TYPE_CHECKING:
    from factors.inputs import FactorContext

COMPONENTS = {"pure_miner": 1, "stage_exposure": 1, "uncontracted": 1}

PARAMS: dict[str, object] = {
    "role_class_weights": {"pure_miner": 1.0, "integrated": 0.5},
    "stage_weights": {"explorer": 1.0, "developer": 0.5, "producer": 0.0},
    "offtake_half_life_years": 3.0,
    "contract_kinds": ["offtake"],
    "tolling_roles": ["chemicals_tolling"],
    "contract_relief": 0.75,
    "weights": {"pure_miner": 0.7, "stage_exposure": 0.3},
}


def combine(c: pl.DataFrame, p: Params) -> pl.Series:
    """(w_pm * pure_miner + w_stage * stage_exposure) * (1 - relief * (1 - uncontracted))."""
    w = p["weights"]
    exposure = w["pure_miner"] * pl.col("pure_miner") + w["stage_exposure"] * pl.col("stage_exposure")
    relief = 1.0 - p["contract_relief"] * (1.0 - pl.col("uncontracted"))
    return c.select((exposure * relief).alias("v")).to_series()


@register_factor(
    name="commodity_dependence",
    direction="higher_is_worse",
    needs=("roles", "stage", "events"),
    missing="neutral",
    params=PARAMS,
    components=COMPONENTS,
    description="Dependence on high rare-earth prices: pure-miner and early-stage exposure, relieved by binding "
    "offtakes or price floors the company receives, or tolling contracts.",
    thesis="Pure miners and explorers without offtake or contracted, tolling-style revenue need prices to stay high.",
    combine=combine,
    phrases=("dependent on rare-earth prices", "little dependence on rare-earth prices"),
    moved_by=("offtake", "production_start"),
    formats={"uncontracted": "ratio"},
    order=40,
)
def commodity_dependence(ctx: FactorContext, p: Params) -> pl.DataFrame:
    kinds = list(p["contract_kinds"])
    offtakes = binding_offtakes(
        ctx.events_where(binding_offtake_events(kinds)), None, kinds, p["offtake_half_life_years"]
    )
    roles = pl.col("roles").fill_null("").str.split(";")
    tolling = list(p["tolling_roles"])
    contracted = pl.col("offtake_credit").fill_null(0.0) + roles.list.eval(pl.element().is_in(tolling)).list.any().cast(
        pl.Float64
    )
    return ctx.base.join(offtakes, on=["as_of", "symbol"], how="left").select(
        "as_of",
        "symbol",
        pl.col("role_class")
        .replace_strict(p["role_class_weights"], default=0.0, return_dtype=pl.Float64)
        .alias("pure_miner"),
        pl.col("stage")
        .replace_strict(p["stage_weights"], default=None, return_dtype=pl.Float64)
        .alias("stage_exposure"),
        (1.0 - pl.min_horizontal(contracted, pl.lit(1.0))).alias("uncontracted"),
    )
