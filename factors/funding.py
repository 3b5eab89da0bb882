"""The funding-gap forecast: what the company's build-out still costs, what it has to pay for it, and how many months
pass before it must raise money.

Why a forecast and not only a runway: a developer with two years of cash and a $500m plant to build needs a raise
long before the runway says so. The forecast puts the projects of the event ledger next to the balance sheet. It is
a pure function of polars frames (the point-in-time base frame and the events known on the as-of date), so the
``dilution_risk`` factor exposes its numbers as components and tests can compute them by hand.

What counts (METHODOLOGY.md, "Funding gap", says the same in prose):

* **Remaining capex** ``R``: per project (``project`` id of the ``capacity`` rows), the latest known ``amount_usd``
  (the project's total capex) times the latest known ``equity_share`` (default 1), counted once per project. A
  project counts while it is not in production (no ``production_start`` event for the project id, and its latest
  capacity row is not at stage ``production``) and its latest status is not ``cancelled``. A suspended project still
  counts: restarting it costs the same money. Capacity rows without a project id cannot be counted once and are
  ignored; a project without a capex figure adds nothing, so ``R`` is a lower bound. Drawdowns are unknown, so the
  whole capex of an unfinished project is taken as still to be spent.
* **Binding funding** ``B``: ``funding`` events the company ``receives``, ``binding`` and not cancelled, with an
  ``amount_usd``. Funding for one of the counted projects is assumed undrawn (the project is not built yet). Funding
  without a project counts only when announced after the date of the latest cash balance: earlier money is already
  in (or gone from) that balance. Funding tied to a project that is not counted (built, cancelled, or not in the
  ledger) is ignored. Non-binding letters of interest never count.
* **Funding gap** ``G = R - cash - B``: positive is money the balance sheet and binding funding cannot cover.
  Unknown cash means an unknown gap (null), never a zero one.
* **Months to raise.** Each project's capex is spread evenly from the as-of date to the end of its ``target_year``
  (at least ``min_build_years``; ``default_build_years`` when no target year is known). The company's cash outflow
  is its current burn (``-FCF``, which already contains the capex it spends today) plus the project spend above its
  current capex rate: ``outflow(t) = -FCF + max(0, project spend rate(t) - capex_ttm)``. Cash plus binding funding
  is drawn down by that outflow; the month it reaches zero is ``months_to_raise``. After the last project is built
  the outflow is ``-FCF`` again. When the outflow never exhausts the money (no projects and non-negative FCF, or a
  build-out the cash flow covers), no raise is needed: ``months_to_raise`` is null and ``raise_status`` says
  ``not_needed``. Unknown cash or FCF gives ``unknown`` (null as well, never zero).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import polars as pl

from factors.ledger import clock, keys_of, ordered_sum

#: Defaults of the forecast (``dilution_risk`` passes its own params).
FUNDING_PARAMS: Mapping[str, float] = {"min_build_years": 1.0, "default_build_years": 3.0}


def _of_project(kind: str) -> pl.Expr:
    return (pl.col("kind") == kind) & pl.col("project").is_not_null()


#: Binding money a company receives for a commitment not cancelled, with an amount (``binding_funding``'s rows).
_BINDING_FUNDING = (
    (pl.col("kind") == "funding")
    & (pl.col("direction") == "receives")
    & pl.col("binding").fill_null(False)
    & (pl.col("status").fill_null("active") != "cancelled")
    & pl.col("amount_usd").is_not_null()
)
#: Every event ``funding_forecast`` reads (a project's capacity rows and production start, binding money received):
#: a caller may hand it only these, and the forecast is the same.
FORECAST_EVENTS: pl.Expr = _of_project("capacity") | _of_project("production_start") | _BINDING_FUNDING

RAISE_NEEDED = "needed"
RAISE_NOT_NEEDED = "not_needed"
RAISE_UNKNOWN = "unknown"

FORECAST_COLUMNS: tuple[str, ...] = (
    "symbol",
    "remaining_capex_usd",
    "binding_funding_usd",
    "funding_gap_usd",
    "months_to_raise",
    "raise_status",
)


def _ordered(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """``frame`` sorted on ``keys`` then on the event key's tie-breakers it has (kind, description), so two rows
    on the same day resolve the same way whatever order they arrived in."""
    ties = [c for c in ("kind", "description") if c in frame.columns and c not in keys]
    return frame.sort([*keys, *ties], maintain_order=True)


def _last_known(col: str) -> pl.Expr:
    """The latest non-null value of ``col`` within a project's rows (rows are sorted by date)."""
    return pl.col(col).drop_nulls().last()


def open_projects(events: pl.DataFrame, as_of: date | None, params: Mapping[str, Any] = FUNDING_PARAMS) -> pl.DataFrame:
    """Per (symbol, project) not yet in production and not cancelled: ``capex_share_usd`` (capex times equity
    share; null when no capex is known) and ``build_years`` (years over which it is spread).

    Why per project and not per row: a project is announced, funded and built over several rows, each repeating
    its capex; summing rows would count it several times. In a panel (events with ``as_of``, see
    ``factors.ledger.keys_of``) every key starts with ``as_of``."""
    k = keys_of(events)
    # a project id is the company's own: another company's "phase-1" in production says nothing about this one
    produced = events.filter(_of_project("production_start")).select(*k, "project").unique()
    rows = _ordered(events.filter(_of_project("capacity")), [*k, "project", "date"])
    per = rows.group_by([*k, "project"], maintain_order=True).agg(
        _last_known("amount_usd").alias("amount_usd"),
        _last_known("equity_share").alias("equity_share"),
        _last_known("target_year").alias("target_year"),
        _last_known("status").alias("status"),
        _last_known("stage").alias("stage"),
    )
    min_years, default_years = float(params["min_build_years"]), float(params["default_build_years"])
    to_target = (pl.date(pl.col("target_year").cast(pl.Int32), 12, 31) - clock(events, as_of)).dt.total_days().cast(
        pl.Float64
    ) / 365.25
    return (
        per.join(produced, on=[*k, "project"], how="anti")
        .filter((pl.col("status").fill_null("active") != "cancelled") & (pl.col("stage").fill_null("") != "production"))
        .select(
            *k,
            "project",
            (pl.col("amount_usd") * pl.col("equity_share").fill_null(1.0)).alias("capex_share_usd"),
            pl.when(pl.col("target_year").is_null())
            .then(pl.lit(default_years))
            .otherwise(pl.max_horizontal(to_target, pl.lit(min_years)))
            .alias("build_years"),
        )
        .sort([*k, "project"])
    )


def binding_funding(events: pl.DataFrame, projects: pl.DataFrame, base: pl.DataFrame) -> pl.DataFrame:
    """Per symbol, ``binding_funding_usd``: binding money received for an open project, or without a project after
    the latest cash balance date (``base.cash_usd_date``). See the module docstring for why.

    One commitment restated (announced, then closed) is counted once: the latest row per (project, counterparty).
    Money tied to a project counts up to that project's own capex and no further: a loan cannot fund more of a plant
    than the plant costs."""
    k = keys_of(events)
    funding = events.filter(_BINDING_FUNDING).join(base.select(*k, "cash_usd_date"), on=k, how="left")
    open_ids = projects.select(*k, "project", pl.lit(True).alias("_open"))
    counted = funding.join(open_ids, on=[*k, "project"], how="left").filter(
        pl.col("_open").fill_null(False)
        | (pl.col("project").is_null() & (pl.col("date") > pl.col("cash_usd_date")).fill_null(False))
    )
    if "counterparty" not in counted.columns:
        counted = counted.with_columns(pl.lit(None, dtype=pl.String).alias("counterparty"))
    # a row without a counterparty cannot be matched to another: it stands alone
    latest = (
        _ordered(counted, [*k, "date"])
        .with_row_index("_row")
        .with_columns(pl.coalesce("counterparty", pl.format("#{}", "_row")).alias("_party"))
        .group_by([*k, "project", "_party"], maintain_order=True)
        .agg(pl.col("amount_usd").last())
    )
    tied = (
        latest.filter(pl.col("project").is_not_null())
        .group_by([*k, "project"], maintain_order=True)
        .agg(ordered_sum(pl.col("amount_usd")))
        .join(projects.select(*k, "project", "capex_share_usd"), on=[*k, "project"], how="left")
        .select(
            *k,
            pl.when(pl.col("capex_share_usd").is_not_null())
            .then(pl.min_horizontal("amount_usd", "capex_share_usd"))
            .otherwise(pl.col("amount_usd"))
            .alias("amount_usd"),
        )
    )
    loose = latest.filter(pl.col("project").is_null()).select(*k, "amount_usd")
    return (
        pl.concat([tied, loose])
        .sort([*k, "amount_usd"])
        .group_by(k, maintain_order=True)
        .agg(ordered_sum(pl.col("amount_usd")).alias("binding_funding_usd"))
    )


def funding_forecast(
    base: pl.DataFrame, events: pl.DataFrame, as_of: date | None, params: Mapping[str, Any] = FUNDING_PARAMS
) -> pl.DataFrame:
    """One row per company of ``base`` (``symbol``, ``cash_usd``, ``cash_usd_date``, ``free_cash_flow_ttm_usd``,
    ``capex_ttm_usd``) with the columns of ``FORECAST_COLUMNS``; see the module docstring for the definitions.

    The drawdown is solved exactly on a piecewise-constant outflow: the phases end where a project's build ends,
    so the answer needs no simulation step and does not depend on one. In a panel (``base`` and ``events`` with
    ``as_of``) there is one row per (as_of, symbol)."""
    k = keys_of(base)
    if k != keys_of(events):
        raise ValueError("base and events must both carry as_of (a panel) or neither")
    projects = open_projects(events, as_of, params)
    funds = binding_funding(events, projects, base)
    co = base.select(
        *k,
        pl.col("cash_usd").alias("_cash"),
        (-pl.col("free_cash_flow_ttm_usd")).alias("_burn"),
        pl.col("capex_ttm_usd").fill_null(0.0).clip(lower_bound=0.0).alias("_capex"),
    )
    capex = projects.group_by(k, maintain_order=True).agg(
        ordered_sum(pl.col("capex_share_usd")).alias("remaining_capex_usd")
    )
    co = (
        co.join(capex, on=k, how="left")
        .join(funds, on=k, how="left")
        .with_columns(pl.col("remaining_capex_usd").fill_null(0.0), pl.col("binding_funding_usd").fill_null(0.0))
        .with_columns(
            (pl.col("_cash").clip(lower_bound=0.0) + pl.col("binding_funding_usd")).alias("_funds"),
        )
    )
    # phases: one per distinct project end, spend rate = the rates of the projects still being built
    spend = (
        projects.filter(pl.col("capex_share_usd").is_not_null())
        .with_columns((pl.col("capex_share_usd") / pl.col("build_years")).alias("_rate"))
        .group_by([*k, "build_years"], maintain_order=True)
        .agg(ordered_sum(pl.col("_rate")))
        .sort([*k, "build_years"], descending=[*(False for _ in k), True])
        .with_columns(pl.col("_rate").cum_sum().over(k).alias("_rate"))  # still building at the phase end
        .sort([*k, "build_years"])
        .join(co.select(*k, "_burn", "_capex", "_funds"), on=k, how="inner")
        .with_columns(
            pl.col("build_years").shift(1, fill_value=0.0).over(k).alias("_start"),
            (pl.col("_burn") + (pl.col("_rate") - pl.col("_capex")).clip(lower_bound=0.0)).alias("_out"),
        )
        .with_columns((pl.col("_out") * (pl.col("build_years") - pl.col("_start"))).cum_sum().over(k).alias("_c"))
        .with_columns(pl.col("_c").shift(1, fill_value=0.0).over(k).alias("_c0"))
    )
    crossing = (
        spend.filter((pl.col("_out") > 0) & (pl.col("_c") > pl.col("_funds")))
        .group_by(k, maintain_order=True)
        .agg(((pl.col("_start") + (pl.col("_funds") - pl.col("_c0")) / pl.col("_out")).first()).alias("_t_build"))
    )
    tail = spend.group_by(k, maintain_order=True).agg(
        pl.col("build_years").last().alias("_end"), pl.col("_c").last().alias("_c_end")
    )
    out = co.join(crossing, on=k, how="left").join(tail, on=k, how="left")
    end, used = pl.col("_end").fill_null(0.0), pl.col("_c_end").fill_null(0.0)
    after_build = end + (pl.col("_funds") - used) / pl.col("_burn")
    unknown = pl.col("_cash").is_null() | pl.col("_burn").is_null()
    years = (
        pl.when(unknown)
        .then(None)
        .when(pl.col("_t_build").is_not_null())
        .then(pl.col("_t_build"))
        .when(pl.col("_burn") > 0)
        .then(after_build)
        .otherwise(None)
    )
    status = (
        pl.when(unknown)
        .then(pl.lit(RAISE_UNKNOWN))
        .when(years.is_not_null())
        .then(pl.lit(RAISE_NEEDED))
        .otherwise(pl.lit(RAISE_NOT_NEEDED))
    )
    return out.select(
        *k,
        "remaining_capex_usd",
        "binding_funding_usd",
        (pl.col("remaining_capex_usd") - pl.col("_cash") - pl.col("binding_funding_usd")).alias("funding_gap_usd"),
        (years * 12.0).clip(lower_bound=0.0).alias("months_to_raise"),
        status.alias("raise_status"),
    ).sort(k)
