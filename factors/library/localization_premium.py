"""Localization premium: how much a company gains as rare-earth supply chains move out of China.

Thesis: the enablers that turn oxide into magnets outside China (processors, magnet makers, recyclers, tollers,
equipment suppliers) capture the localization premium; integrated miner-processors share some of it; pure miners
only sell the commodity; downstream users pay it. Allied footprint, government backing the company receives and a
credible capacity pipeline add to it; setbacks take from it.

Why the parts are kept apart: the chain role says *where* a company sits, ``exposure`` how much of the company sits
there (a conglomerate with a 1% magnet line is not a pure-play separator), and being a downstream user is a penalty
of its own rather than something averaged away by another role. Capacity and government backing come from the
event ledgers (``factors.ledger``), never from tags, so a plant counts once, at its stake, and only money the company
receives from a government is backing.

Missing values: ``neutral``. Only ``exposure`` (not stated for the company) and ``role_exposure`` (no known role) can
be missing; they take the cross-sectional median and are flagged, and when no company states an exposure at all the
value uses ``exposure_default``.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import TYPE_CHECKING

import polars as pl

from factors.ledger import (
    GOV_KINDS,
    capacity_ledger_versioned,
    government_ledger,
    received_from_government,
    risked_capacity,
    setback_ledger,
)
from factors.registry import Params, register_factor

if TYPE_CHECKING:
    from factors.inputs import FactorContext

#: NdPr-oxide-equivalent tonnes per tonne of each capacity unit (documented assumptions with their reasons and
#: sources in METHODOLOGY.md, "Capacity units"). A unit not listed counts nothing.
UNIT_TO_NDPR: MappingProxyType[str, float] = MappingProxyType(
    {
        "ndpr_oxide": 1.0,  # the unit itself
        "metal": 1.17,  # NdPr metal -> oxide: 1 t metal holds the rare earth of ~1.17 t oxide (Nd2O3 is 85.7% Nd)
        "magnet": 0.3,  # sintered NdFeB is ~29-32% rare earth by mass, mostly NdPr; metal basis, no oxide uplift
        "treo": 0.2,  # NdPr is ~20% of a bastnaesite/monazite TREO basket (Mountain Pass, Mt Weld ~23%)
        "mrec": 0.1,  # mixed RE carbonate is ~45-50% REO, times ~20% NdPr in that REO
        "feedstock": 0.05,  # concentrate: ~30-60% REO (Mt Weld ~40%) times ~20% NdPr, rounded down for recoveries
    }
)

PARAMS: dict[str, object] = {
    # Role exposure is the best of the company's role weights; downstream_user is no chain role (its penalty is a
    # separate component), so a magnet maker that also uses magnets keeps its magnet-maker exposure.
    "role_weights": {
        "processor": 1.0,
        "magnet_maker": 1.0,
        "recycler": 1.0,
        "chemicals_tolling": 1.0,
        "equipment_supplier": 1.0,
        "trader_offtaker": 0.25,
        "miner": 0.0,
        "downstream_user": 0.0,
    },
    # Used only when no company of the cross-section states an exposure (the median fills otherwise).
    "exposure_default": 0.5,
    # Allied footprint by headquarters region; regions not listed count as allied (1.0).
    "region_weights": {"china": 0.0, "other": 0.5},
    "allied_weight": 1.0,
    # Government ledger: only backing the company receives from a government counterparty.
    "gov_kinds": list(GOV_KINDS),
    "gov_binding_weights": {"binding": 1.0, "non_binding": 0.2},
    "gov_unsized_share": 0.5,
    "gov_size_full": 0.25,
    "gov_half_life_years": 2.0,
    "setback_half_life_years": 2.0,
    # Capacity ledger: one row per project at its most advanced stage, times the company's equity share.
    "capacity_stage_weights": {
        "announced": 0.1,
        "loi": 0.2,
        "funded": 0.4,
        "construction": 0.6,
        "commissioning": 0.8,
        "production": 1.0,
    },
    "capacity_default_stage": "announced",
    "capacity_default_unit": "ndpr_oxide",
    "unit_to_ndpr": dict(UNIT_TO_NDPR),
    "years_to_production": {"announced": 5.0, "loi": 4.0, "funded": 3.0, "construction": 2.0, "commissioning": 1.0},
    "min_years_to_production": 1.0,
    "capacity_discount_rate": 0.15,
    "delayed_discount": 0.5,
    "slippage_half_life_years": 1.0,
    "confidence_half_life_years": 2.0,
    # Saturation: gov and setbacks at their scale give 1 - 1/e (63%) of their weight; capacity is log-scaled from
    # capacity_log_tonnes and reaches full weight at capacity_full_tonnes of risked NdPr-oxide equivalent.
    "gov_scale": 1.0,
    "setback_scale": 1.0,
    "capacity_log_tonnes": 100.0,
    "capacity_full_tonnes": 5000.0,
    "weights": {
        "role_exposure": 0.4,
        "downstream_penalty": 0.2,
        "allied_footprint": 0.2,
        "gov_backing": 0.2,
        "setbacks": 0.1,
        "capacity_pipeline": 0.2,
    },
}


def role_exposure(roles: pl.Expr, weights: dict[str, float]) -> pl.Expr:
    """Best (max) role weight over the company's roles: an integrated miner-processor is a processor, because the
    premium goes to the enabler part of it. Unknown roles are ignored; no known role gives null."""
    return (
        roles.str.split(";")
        .list.eval(pl.element().replace_strict(weights, default=None, return_dtype=pl.Float64))
        .list.drop_nulls()
        .list.max()
    )


def _saturate(x: pl.Expr, scale: float) -> pl.Expr:
    return 1.0 - (-(x / scale)).exp()


def capacity_score(tonnes: pl.Expr, p: Params) -> pl.Expr:
    """``min(1, ln(1 + t / t0) / ln(1 + t_full / t0))``: log-scaled risked tonnes.

    Why absolute tonnes on a log scale and not tonnes per dollar: a per-dollar intensity rewards a small denominator,
    so a microcap's headline saturates the score; the log makes the first few hundred credible tonnes count most
    while a 5 kt plant still beats a 500 t one.
    """
    t0, full = float(p["capacity_log_tonnes"]), float(p["capacity_full_tonnes"])
    return pl.min_horizontal((1.0 + tonnes.clip(lower_bound=0.0) / t0).log() / math.log(1.0 + full / t0), pl.lit(1.0))


def combine(c: pl.DataFrame, p: Params) -> pl.Series:
    """w_role * role * exposure - w_down * downstream + w_allied * allied + w_gov * (1 - e^(-gov/s_gov))
    - w_set * (1 - e^(-setbacks/s_set)) + w_cap * capacity_score(capacity_pipeline)."""
    w = p["weights"]
    exposure = pl.col("exposure").fill_null(float(p["exposure_default"]))
    expr = (
        w["role_exposure"] * pl.col("role_exposure") * exposure
        - w["downstream_penalty"] * pl.col("downstream_penalty")
        + w["allied_footprint"] * pl.col("allied_footprint")
        + w["gov_backing"] * _saturate(pl.col("gov_backing"), p["gov_scale"])
        - w["setbacks"] * _saturate(pl.col("setbacks"), p["setback_scale"])
        + w["capacity_pipeline"] * capacity_score(pl.col("capacity_pipeline"), p)
    )
    return c.select(expr.alias("v")).to_series()


@register_factor(
    name="localization_premium",
    direction="higher_is_better",
    needs=("roles", "exposure", "country", "events", "market_cap"),
    missing="neutral",
    params=PARAMS,
    components={
        "role_exposure": 1,
        "exposure": 1,
        "downstream_penalty": -1,
        "allied_footprint": 1,
        "gov_backing": 1,
        "setbacks": -1,
        "capacity_pipeline": 1,
    },
    description="Exposure to the localization premium: the best enabler role times the share of the business in "
    "the chain, allied footprint, government backing received and a risked capacity ledger, less downstream-user "
    "and setback penalties.",
    thesis="Favour the enablers over pure miners; downstream users face a 12-24 month margin squeeze.",
    combine=combine,
    phrases=("high localization premium", "low localization premium"),
    moved_by=("capacity", "production_start", "offtake", "funding", "policy", "permit", "setback"),
    formats={"exposure": "ratio", "capacity_pipeline": "decimal", "gov_backing": "decimal", "setbacks": "decimal"},
    order=10,
)
def localization_premium(ctx: FactorContext, p: Params) -> pl.DataFrame:
    base = ctx.base
    region_weights: dict[str, float] = p["region_weights"]
    # each ledger reads only its own events: the capacity ledger once per version of a company's events, the
    # decayed sums the per-date copies of the events they count
    ledger = capacity_ledger_versioned(*ctx.event_versions(), p)
    gov = government_ledger(ctx.events_where(received_from_government(p["gov_kinds"])), base, None, p)
    setbacks = setback_ledger(ctx.events_where(pl.col("kind") == "setback"), None, p["setback_half_life_years"])
    key = ["as_of", "symbol"]
    frame = (
        base.select(*key, "roles", "exposure", "region", "market_cap_usd")
        .join(gov, on=key, how="left")
        .join(setbacks, on=key, how="left")
        .join(risked_capacity(ledger), on=key, how="left")
    )
    # role weights are read once per distinct role text (a panel repeats each company's roles on every date)
    texts = frame.select(pl.col("roles").fill_null("").unique().sort())
    per_text = texts.with_columns(
        role_exposure(pl.col("roles"), p["role_weights"]).alias("_role"),
        pl.col("roles").str.split(";").list.contains("downstream_user").cast(pl.Float64).alias("_down"),
    )
    roles = pl.col("roles").fill_null("")
    return frame.select(
        *key,
        roles.replace_strict(dict(per_text.select("roles", "_role").iter_rows()), return_dtype=pl.Float64).alias(
            "role_exposure"
        ),
        pl.col("exposure").cast(pl.Float64).alias("exposure"),
        roles.replace_strict(dict(per_text.select("roles", "_down").iter_rows()), return_dtype=pl.Float64).alias(
            "downstream_penalty"
        ),
        pl.col("region")
        .replace_strict(region_weights, default=p["allied_weight"], return_dtype=pl.Float64)
        .alias("allied_footprint"),
        pl.col("gov_backing").fill_null(0.0),
        pl.col("setbacks").fill_null(0.0),
        pl.col("risked_tpa").fill_null(0.0).alias("capacity_pipeline"),
    )
