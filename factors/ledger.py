"""Event ledgers: the capacity a company can credibly claim, and the government backing it actually receives.

Why a ledger instead of summing events: an event file is a diary, not a balance sheet. The same plant appears once
per milestone (announced, funded, construction, commissioning), a joint venture appears under each partner, a
project can be delayed, suspended or cancelled, and a "funding" row may be money the company *spends*. Summing rows
counts one plant several times and credits headlines, outflows and letters of intent like loans. These helpers fold
the diary into one row per project (capacity) and keep only backing the company receives from a government (plus the
setbacks that undo it), so every factor that reads them agrees on what the ledger says.

They are pure polars functions of the point-in-time events (``FactorContext.events``, already cut to what was known
on the as-of date) and a parameter mapping (the keys are listed on each function); they read no clock and sort
before every group_by so the answer does not depend on row order. They live beside ``factors/library`` rather than
in it because that package may hold only factor modules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import polars as pl

from screener.contract import CAPACITY_STAGES

#: Event kinds that describe a project's capacity: their stage, tonnage, unit, stake, target year and status count.
CAPACITY_KINDS: tuple[str, ...] = ("capacity", "production_start")
#: Event kinds that confirm a project is alive (a permit, money or an offtake for it) without changing its tonnage.
CONFIRMING_KINDS: tuple[str, ...] = ("capacity", "production_start", "permit", "funding", "offtake")
PRODUCTION = "production"
_SORT = ["symbol", "_key", "date", "kind", "description"]


def keys_of(frame: pl.DataFrame) -> list[str]:
    """The keys a ledger is per: ``symbol``, or ``as_of`` and ``symbol`` when the events carry the date they are
    known on (the panel engine scores many dates at once: one copy of each event per date that knows it)."""
    return ["as_of", "symbol"] if "as_of" in frame.columns else ["symbol"]


def clock(frame: pl.DataFrame, as_of: date | None) -> pl.Expr:
    """The date ages are measured to: each row's ``as_of`` in a panel, else the single ``as_of``."""
    if "as_of" in frame.columns:
        return pl.col("as_of")
    if as_of is None:
        raise ValueError("an as-of date is needed for events without an as_of column")
    return pl.lit(as_of, dtype=pl.Date)


def ordered_sum(e: pl.Expr) -> pl.Expr:
    """The sum of ``e`` within a group, added in row order (nulls skipped, 0 for none).

    Why not ``sum()``: polars adds the groups of a one-key group-by in row order but may add those of a many-key
    group-by pairwise, which can differ in the last bit. A panel groups by (as_of, symbol) where a one-date view
    groups by symbol; summing in row order makes the two the same number, byte for byte."""
    return e.drop_nulls().cum_sum().last().fill_null(0.0)


def _years_since(as_of: date | pl.Expr, col: str = "date") -> pl.Expr:
    """Years (365.25 days) from a date column to ``as_of`` (a date or a date expression): the clock of every decay
    below."""
    now = as_of if isinstance(as_of, pl.Expr) else pl.lit(as_of, dtype=pl.Date)
    return (now - pl.col(col)).dt.total_days().cast(pl.Float64) / 365.25


def decay(as_of: date | pl.Expr, half_life_years: float, col: str = "date") -> pl.Expr:
    """``0.5 ** (age / half-life)``: news one half-life old counts half, because unconfirmed news goes stale."""
    return pl.lit(0.5) ** (_years_since(as_of, col) / half_life_years)


def project_key(default_unit: str | None = None) -> pl.Expr:
    """The project an event belongs to: its ``project`` column, else ``~<unit>|<tonnage>``.

    Why the fallback: event files written before ``project`` existed still restate one plant with the same unit and
    tonnage at each milestone, so those rows still fold into one project (keyed within the company).
    """
    fallback = pl.concat_str(
        [
            pl.lit("~"),
            pl.col("unit").fill_null(default_unit or ""),
            pl.lit("|"),
            pl.col("capacity_tpa").cast(pl.String).fill_null(""),
        ]
    )
    return pl.coalesce(pl.col("project"), fallback)


def capacity_ledger(events: pl.DataFrame, as_of: date | None, p: Mapping[str, Any]) -> pl.DataFrame:
    """One row per (symbol, project): its latest state on ``as_of`` and its risked NdPr-oxide-equivalent tonnes.

    Keys of ``p``: ``capacity_stage_weights`` (stage -> weight, in stage order), ``capacity_default_stage``,
    ``unit_to_ndpr`` (unit -> NdPr-oxide-equivalent tonnes per tonne), ``capacity_default_unit``,
    ``years_to_production`` (stage -> typical years from reaching it to production), ``min_years_to_production``,
    ``capacity_discount_rate``, ``delayed_discount``, ``slippage_half_life_years``,
    ``confidence_half_life_years``.

    Why each step:

    * A project counts **once**: its stage is the most advanced one reached, its tonnage, unit, stake and target
      year the latest stated (a plant restated at commissioning is the same plant as at construction).
    * It counts the company's **equity share** only, so a 50/50 joint venture is not credited in full twice.
    * ``production`` (the stage or a ``production_start`` event) counts at full weight, undiscounted and without
      decay: a running plant needs no confirmation to keep producing.
    * The **status of the latest** capacity event decides: ``cancelled`` and ``suspended`` count nothing (a later
      ``active``/``delayed`` event reactivates a suspended project), ``delayed`` is discounted.
    * Years to production come from the target year; a target year that passed without production is **slippage**,
      penalised by half per ``slippage_half_life_years`` overdue; with no target year they are the stage's typical
      years minus the years since the stage was reached, floored (a stage reached long ago is not "3 years away").
    * **Confidence** halves per ``confidence_half_life_years`` since the project's latest confirming event
      (capacity, production start, permit, funding or offtake news of the same project).

    Output columns (``as_of`` first when the events carry it, see ``keys_of``): symbol, project, stage, status,
    unit, capacity_tpa, equity_share, target_year, confirmed, years_to_production, overdue_years, ndpr_tpa
    (stake-weighted NdPr-oxide-equivalent tonnes) and risked_tpa.
    """
    k = keys_of(events)
    return _capacity_value(_capacity_state(events, k, p), k, clock(events, as_of), p)


def capacity_ledger_versioned(rows: pl.DataFrame, of: pl.DataFrame, p: Mapping[str, Any]) -> pl.DataFrame:
    """``capacity_ledger`` of a panel's events given as versions (``FactorContext.event_versions``): the same rows.

    Why: a project's latest stage, tonnage and dates depend only on which events are known, which changes on a
    handful of days per company; the panel's per-date copies repeat the same group-by 156 times. Each version's
    projects are folded once and every (as_of, company) row takes its version's, then is valued at its own date
    (years to production, slippage and confidence decay all read the as-of date)."""
    state = _capacity_state(rows, ["_vid"], p)
    frame = of.join(state, on="_vid", how="inner").drop("_vid")
    return _capacity_value(frame, ["as_of", "symbol"], pl.col("as_of"), p)


def _capacity_state(events: pl.DataFrame, k: list[str], p: Mapping[str, Any]) -> pl.DataFrame:
    """Per ``k`` and project (``_key``), what its known events say, whatever the date: stage rank, latest tonnage,
    unit, stake, target year and status, the latest confirming date and the date the stage was reached."""
    rank = {s: i for i, s in enumerate(CAPACITY_STAGES)}
    prod_rank = rank[PRODUCTION]
    is_cap = pl.col("kind").is_in(list(CAPACITY_KINDS))
    stage_rank = (
        pl.when(pl.col("kind") == "production_start")
        .then(pl.lit(prod_rank))
        .otherwise(pl.col("stage").replace_strict(rank, default=None, return_dtype=pl.Int64))
    )
    ev = (
        events.filter(pl.col("kind").is_in(list(CONFIRMING_KINDS)))
        # a confirming event without a project cannot be tied to a plant; capacity rows fall back to unit+tonnage
        .filter(is_cap | pl.col("project").is_not_null())
        .with_columns(project_key(p["capacity_default_unit"]).alias("_key"), stage_rank.alias("_rank"))
        .sort([*k, *_SORT[1:]], nulls_last=True, maintain_order=True)
    )

    def last_cap(col: str) -> pl.Expr:
        return pl.col(col).filter(is_cap & pl.col(col).is_not_null()).last()

    grouped = (
        ev.group_by([*k, "_key"], maintain_order=True)
        .agg(
            is_cap.any().alias("_has_cap"),
            pl.col("_rank").filter(is_cap).max().alias("_rank"),
            last_cap("capacity_tpa").alias("capacity_tpa"),
            last_cap("unit").alias("unit"),
            last_cap("equity_share").alias("equity_share"),
            last_cap("target_year").alias("target_year"),
            last_cap("status").alias("status"),
            pl.col("date").max().alias("confirmed"),
            pl.col("date").filter(is_cap).min().alias("_first"),
            # the date the most advanced stage was first reached (the first capacity event when no stage is given,
            # see the coalesce below): within the group, no join back
            pl.col("date")
            .filter(is_cap & (pl.col("_rank") == pl.col("_rank").filter(is_cap).max()))
            .min()
            .alias("_reached"),
        )
        .filter(pl.col("_has_cap"))
    )
    return grouped.drop("_has_cap")


def _capacity_value(grouped: pl.DataFrame, k: list[str], now: pl.Expr, p: Mapping[str, Any]) -> pl.DataFrame:
    """``_capacity_state``'s projects valued at ``now``: the ledger's columns, sorted by ``k`` and project."""
    stages: dict[str, float] = dict(p["capacity_stage_weights"])
    default_rank = {s: i for i, s in enumerate(CAPACITY_STAGES)}[p["capacity_default_stage"]]
    frame = grouped.with_columns(
        pl.col("_rank").fill_null(default_rank),
        pl.coalesce(pl.col("_reached"), pl.col("_first")).alias("_reached"),
        pl.col("status").fill_null("active"),
        pl.col("equity_share").fill_null(1.0),
        pl.col("unit").fill_null(p["capacity_default_unit"]),
    ).with_columns(
        pl.col("_rank").replace_strict(dict(enumerate(CAPACITY_STAGES)), return_dtype=pl.String).alias("stage")
    )
    producing = pl.col("stage") == PRODUCTION
    typical = pl.col("stage").replace_strict(
        dict(p["years_to_production"]), default=float(p["min_years_to_production"]), return_dtype=pl.Float64
    )
    from_stage = pl.max_horizontal(typical - _years_since(now, "_reached"), pl.lit(float(p["min_years_to_production"])))
    # a target year means "by the end of that year": years are measured in days to (or since) its 31 December, so
    # one day late costs a day's slippage, not a year's
    target_end = pl.date(pl.col("target_year").clip(1, 9999).cast(pl.Int32), 12, 31)
    to_target = (target_end - now).dt.total_days().cast(pl.Float64) / 365.25
    years = (
        pl.when(producing)
        .then(pl.lit(0.0))
        .when(pl.col("target_year").is_not_null())
        .then(to_target.clip(lower_bound=0.0))
        .otherwise(from_stage)
    )
    overdue = (
        pl.when(producing | pl.col("target_year").is_null())
        .then(pl.lit(0.0))
        .otherwise((-to_target).clip(lower_bound=0.0))
    )
    status = (
        pl.when(pl.col("status").is_in(["cancelled", "suspended"]))
        .then(pl.lit(0.0))
        .when(pl.col("status") == "delayed")
        .then(pl.lit(float(p["delayed_discount"])))
        .otherwise(pl.lit(1.0))
    )
    confidence = (
        pl.when(producing).then(pl.lit(1.0)).otherwise(decay(now, p["confidence_half_life_years"], "confirmed"))
    )
    ndpr = (
        pl.col("capacity_tpa").fill_null(0.0)
        * pl.col("unit").replace_strict(dict(p["unit_to_ndpr"]), default=0.0, return_dtype=pl.Float64)
        * pl.col("equity_share")
    )
    risked = (
        pl.col("ndpr_tpa")
        * pl.col("stage").replace_strict(stages, default=0.0, return_dtype=pl.Float64)
        * (1.0 + float(p["capacity_discount_rate"])) ** (-pl.col("years_to_production"))
        * pl.lit(0.5) ** (pl.col("overdue_years") / float(p["slippage_half_life_years"]))
        * confidence
        * status
    )
    return (
        frame.with_columns(years.alias("years_to_production"), overdue.alias("overdue_years"), ndpr.alias("ndpr_tpa"))
        .with_columns(risked.alias("risked_tpa"))
        .select(
            *k,
            pl.col("_key").alias("project"),
            "stage",
            "status",
            "unit",
            "capacity_tpa",
            "equity_share",
            "target_year",
            "confirmed",
            "years_to_production",
            "overdue_years",
            "ndpr_tpa",
            "risked_tpa",
        )
        .sort([*k, "project"])
    )


def risked_capacity(ledger: pl.DataFrame) -> pl.DataFrame:
    """Per company (and date, in a panel): ``risked_tpa``, the sum of its projects' risked NdPr-oxide-equivalent
    tonnes."""
    k = keys_of(ledger)
    rows = ledger.sort([*k, "project"])
    # most companies hold one project on a date: its sum is its own value (or 0), with no group to evaluate; the
    # others are summed in row order. Both keep the sorted order, so the parts merge by a stable sort on the keys
    alone = pl.len().over(k) == 1
    single = rows.filter(alone).select(*k, pl.col("risked_tpa").fill_null(0.0))
    many = (
        rows.filter(~alone).group_by(k, maintain_order=True).agg(ordered_sum(pl.col("risked_tpa")).alias("risked_tpa"))
    )
    return pl.concat([single, many]).sort(k, maintain_order=True)


#: Event kinds that can carry government backing (``localization_premium``'s default ``gov_kinds``).
GOV_KINDS: tuple[str, ...] = ("funding", "offtake", "policy")


def received_from_government(kinds: Sequence[str] = GOV_KINDS) -> pl.Expr:
    """The one rule of what counts as government backing: an event of a backing kind where a government is the
    counterparty, the company receives, and the commitment was not cancelled. The ledger weighs these events; the
    ``government_backing`` view names their counterparties."""
    return (
        pl.col("kind").is_in(list(kinds))
        & (pl.col("counterparty_type") == "government").fill_null(False)
        & (pl.col("direction") == "receives").fill_null(False)
        & (pl.col("status").fill_null("active") != "cancelled")
    )


def government_backing_view(events: pl.DataFrame, kinds: Sequence[str] = GOV_KINDS) -> pl.DataFrame:
    """Per company, the government backing it had received by the date, as text: each government counterparty
    once, in the order first met, marked ``(non-binding)`` when none of its commitments was binding.

    Why a view and not an input: the ``gov_backing`` tags on a company carry no date, direction or size, so no score
    reads them (the government ledger reads the events). This column says in words what the ledger counted, as of
    the scored date, for the list, the card and the workbook, by the same rule (``received_from_government``).
    ``events`` are those known on the date.
    """
    k = keys_of(events)
    gov = events.filter(received_from_government(kinds) & pl.col("counterparty").is_not_null())
    per_party = (
        gov.sort([*k, "date", "kind", "description"])
        .group_by([*k, "counterparty"], maintain_order=True)
        .agg(pl.col("binding").fill_null(False).any().alias("_binding"), pl.col("date").min().alias("_first"))
        .sort([*k, "_first", "counterparty"])
        .with_columns(
            pl.when(pl.col("_binding"))
            .then(pl.col("counterparty"))
            .otherwise(pl.col("counterparty") + " (non-binding)")
            .alias("_text")
        )
    )
    return per_party.group_by(k, maintain_order=True).agg(pl.col("_text").str.join("; ").alias("government_backing"))


def government_ledger(
    events: pl.DataFrame, market_cap: pl.DataFrame, as_of: date | None, p: Mapping[str, Any]
) -> pl.DataFrame:
    """Per company: ``gov_backing``, the sum of weighted, decayed government backing it **receives**.

    Keys of ``p``: ``gov_kinds`` (event kinds that can carry backing), ``gov_binding_weights`` (``binding`` and
    ``non_binding``), ``gov_unsized_share``, ``gov_size_full``, ``gov_half_life_years``.

    Why: only a government counterparty with ``direction = receives`` is state backing of *this* company; money it
    pays (an automaker's offtake from a miner) or a private contract is not. A binding loan or contract weighs
    ``binding``, a letter of interest or an unconfirmed term sheet (``binding`` false or unknown) only
    ``non_binding``. Size matters relative to the company: an amount of ``gov_size_full`` times market cap or more
    gets full weight, an unsized or tiny one ``gov_unsized_share`` of it (also when market cap is unknown). Each
    event halves every ``gov_half_life_years``: backing is re-confirmed by new events or fades.

    ``market_cap`` has columns symbol (and as_of, in a panel) and market_cap_usd.
    """
    k = keys_of(events)
    w = dict(p["gov_binding_weights"])
    unsized = float(p["gov_unsized_share"])
    rel = pl.col("amount_usd") / pl.col("market_cap_usd")
    size = pl.when(pl.col("market_cap_usd") > 0).then((rel / float(p["gov_size_full"])).clip(0.0, 1.0)).otherwise(None)
    weight = (
        pl.when(pl.col("binding").fill_null(False)).then(pl.lit(float(w["binding"]))).otherwise(float(w["non_binding"]))
        * (unsized + (1.0 - unsized) * size.fill_null(0.0))
        * decay(clock(events, as_of), p["gov_half_life_years"])
    )
    return (
        events.filter(received_from_government(p["gov_kinds"]))
        .join(market_cap.select(*k, "market_cap_usd"), on=k, how="left", maintain_order="left")
        .sort([*k, "date", "kind", "description"])
        .group_by(k, maintain_order=True)
        .agg(ordered_sum(weight).alias("gov_backing"))
    )


def setback_ledger(events: pl.DataFrame, as_of: date | None, half_life_years: float) -> pl.DataFrame:
    """Per company: ``setbacks``, the sum of its ``setback`` events, each halving every ``half_life_years``.

    Why a separate sum: negative news (a plant in doubt, a list it was left off, a halt) must lower a score; coded as
    "funding" it used to raise it. Any counterparty counts: a setback hurts whoever reported it.
    """
    k = keys_of(events)
    return (
        events.filter(pl.col("kind") == "setback")
        .sort([*k, "date", "description"])
        .group_by(k, maintain_order=True)
        .agg(ordered_sum(decay(clock(events, as_of), half_life_years)).alias("setbacks"))
    )


def binding_offtake_events(kinds: Sequence[str]) -> pl.Expr:
    """The events ``binding_offtakes`` counts: a binding contract of one of ``kinds`` the company receives, not
    cancelled (a predicate over the event's own columns, for ``FactorContext.events_where``)."""
    return (
        pl.col("kind").is_in(list(kinds))
        & (pl.col("direction") == "receives").fill_null(False)
        & pl.col("binding").fill_null(False)
        & (pl.col("status").fill_null("active") != "cancelled")
    )


def binding_offtakes(
    events: pl.DataFrame, as_of: date | None, kinds: list[str], half_life_years: float
) -> pl.DataFrame:
    """Per company: ``offtake_credit``, the decayed count of binding offtakes (or price floors) it **receives**.

    Why only these: a contract relieves price risk only when someone is bound to buy the company's product (or
    guarantee its price). A company that pays for an offtake is the buyer; a non-binding letter binds nobody.
    """
    k = keys_of(events)
    return (
        events.filter(binding_offtake_events(kinds))
        .sort([*k, "date", "description"])
        .group_by(k, maintain_order=True)
        .agg(ordered_sum(decay(clock(events, as_of), half_life_years)).alias("offtake_credit"))
    )
