"""Portfolio simulation: what a rule set's book would have earned, rebalanced on past dates, after trading costs.

How it runs (METHODOLOGY.md, "Backtest statistics", "Running a backtest"):

1. **Books.** On each rebalance date the rule set ranks that date's scores with ``rules.engine.rank``, the
   previous date's members as incumbents, exactly as a weekly run uses last week's list: the membership buffer
   works in the backtest as it does live. The members are weighted equally, by capped market cap, or by the rule
   set's own ``[portfolio]`` (``rules.engine.portfolio_weights``). The comparison universe is every company that
   passed the rule set's universe filter that day (``rank`` marks the others ``filtered``), equally weighted.
2. **Holding.** A book is held from its rebalance date to the next. Each holding's return runs from its last
   usable USD close on or before the rebalance date to its last usable USD close on or before the period end.
   A holding that stopped trading (delisted, suspended) keeps its last close: it neither vanishes from the book
   (which would drop exactly the losers, a survivorship bias) nor borrows a price from after the period end.
3. **Costs.** ``cost_bps`` per unit of one-way turnover between consecutive target books
   (``stats.turnover``/``stats.equity_curve``); drift of the weights within a period is not traded.

Nothing here reads the store or the clock; the same panel, closes and rules give the same books and curves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import polars as pl

from screener.backtest import stats

if TYPE_CHECKING:
    from rules.ruleset import RuleSet

__all__ = ["Book", "active_share", "benchmark_curve", "hold", "select_books"]

_WEIGHTS_SCHEMA = {"date": pl.Date, "symbol": pl.String, "weight": pl.Float64}


@dataclass(frozen=True)
class Book:
    """A simulated book: target ``holdings`` per rebalance date (``date``, ``symbol``, ``weight``), the gross
    ``period_returns`` (``date``, ``end_date``, ``period_return``), the ``turnover`` charged at each rebalance,
    the ``curve`` (``stats.equity_curve``: ``date``, ``value``, ``cost``, ``net_return``) and how many holding
    periods were valued at a close older than their end (``stale_valuations``)."""

    holdings: pl.DataFrame
    period_returns: pl.DataFrame
    turnover: pl.DataFrame
    curve: pl.DataFrame
    stale_valuations: int = 0


def select_books(
    panel: pl.DataFrame,
    rs: RuleSet,
    dates: Sequence[date],
    *,
    weighting: str,
    max_weight: float | None,
) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    """The rule set's book and the eligible universe's equal-weight book on every date, and notes on weights.

    ``panel`` is ``factors.engine.score_panel``'s output (``as_of`` per row); each date ranks only its own rows,
    with the previous date's members as incumbents (the membership buffer). ``weighting``/``max_weight`` are
    ``portfolio_weights``' arguments. Returns (book, universe), each ``date``, ``symbol``, ``weight`` sorted by
    date and symbol, plus the distinct weight notes ``rank`` raised (an unmeetable cap), with their dates.
    """
    from rules.engine import portfolio_weights, rank

    book: list[pl.DataFrame] = []
    universe: list[pl.DataFrame] = []
    notes: dict[str, list[date]] = {}
    incumbents: list[str] = []
    for day in sorted(set(dates)):
        scores = panel.filter(pl.col("as_of") == day)
        if scores.height == 0:
            incumbents = []
            continue
        table = rank(scores, rs, incumbents=incumbents).table
        members = table.filter(pl.col("status") == "member").sort("rank")
        caps = members["market_cap_usd"].to_list() if "market_cap_usd" in members.columns else [None] * members.height
        weights, note = portfolio_weights(caps, weighting, max_weight)
        if note:
            notes.setdefault(note.split(":")[0], []).append(day)
        symbols = members["symbol"].to_list()
        incumbents = symbols
        book.append(
            pl.DataFrame({"date": [day] * len(symbols), "symbol": symbols, "weight": weights}, schema=_WEIGHTS_SCHEMA)
        )
        eligible = sorted(table.filter(pl.col("status") != "filtered")["symbol"].to_list())
        if eligible:
            universe.append(
                pl.DataFrame(
                    {
                        "date": [day] * len(eligible),
                        "symbol": eligible,
                        "weight": [1.0 / len(eligible)] * len(eligible),
                    },
                    schema=_WEIGHTS_SCHEMA,
                )
            )
    said = [
        f"{text} on {len(days)} date(s) from {days[0].isoformat()}: those dates use equal weights"
        for text, days in sorted(notes.items())
    ]

    def stacked(parts: list[pl.DataFrame]) -> pl.DataFrame:
        return pl.concat(parts).sort("date", "symbol") if parts else pl.DataFrame(schema=_WEIGHTS_SCHEMA)

    return stacked(book), stacked(universe), said


def _usable(closes: pl.DataFrame) -> pl.DataFrame:
    return (
        closes.select("symbol", pl.col("date").cast(pl.Date), pl.col("close_usd").cast(pl.Float64))
        .filter(pl.col("close_usd").is_not_null() & pl.col("close_usd").is_not_nan() & (pl.col("close_usd") > 0))
        .sort("date", "symbol")
    )


def _periods(dates: Sequence[date]) -> pl.DataFrame:
    days = sorted(set(dates))
    return pl.DataFrame({"date": days[:-1], "end_date": days[1:]}, schema={"date": pl.Date, "end_date": pl.Date})


def hold(weights: pl.DataFrame, closes: pl.DataFrame, dates: Sequence[date], *, cost_bps: float) -> Book:
    """Hold each date's target ``weights`` until the next date of ``dates`` and pay ``cost_bps`` on turnover.

    A period's gross return is ``sum_i w_i * (P_i(end) / P_i(start) - 1)`` with ``P(start)`` the last usable close
    on or before the rebalance date and ``P(end)`` the last usable close on or before the period end, however old:
    a listing that stopped trading is valued at its last close (presumed realised there, with no recovery or
    write-off modelled), never dropped and never priced from after the period end. A holding without a close on or
    before the rebalance date, or whose last close is older than ``stats.MAX_STALE_DAYS`` (a suspended listing),
    cannot be bought at a price it trades at and earns 0 (it sits as cash). A date without
    holdings (nobody passed the rules) sits in cash: return 0, and the move to and from cash is turnover.

    ``dates`` are all rebalance dates in order; the book of the last one is the list going forward and is not
    held within the curve. Returns a ``Book`` whose curve has one row per rebalance date, from 1.0.
    """
    periods = _periods(dates)
    calendar = sorted(set(dates))
    # an all-cash date keeps a zero-weight row, so turnover sees the move into and out of cash
    cash = pl.DataFrame(
        {"date": calendar, "symbol": [""] * len(calendar), "weight": [0.0] * len(calendar)}, schema=_WEIGHTS_SCHEMA
    ).join(weights.select("date").unique(), on="date", how="anti")
    targets = pl.concat([weights.select(list(_WEIGHTS_SCHEMA)).cast(_WEIGHTS_SCHEMA), cash]).sort("date", "symbol")
    turnover = stats.turnover(targets)
    usable = _usable(closes)
    # a holding is bought at its last close only while that close is fresh: a suspended listing cannot be bought at
    # a price weeks old (and would carry the jump when it relists); it sits as cash for the period instead
    fresh = pl.duration(days=stats.MAX_STALE_DAYS)
    buyable = pl.col("start_close").is_not_null() & (pl.col("date") - pl.col("start_close_date") <= fresh)
    held = (
        stats.closes_around(weights.join(periods, on="date", how="inner"), usable)
        .with_columns(_ret=pl.when(buyable).then(pl.col("end_close") / pl.col("start_close") - 1.0))
        .with_columns(pl.col("_ret").fill_null(0.0))
    )
    stale = held.filter(
        buyable & (pl.col("end_date") - pl.col("end_close_date") > pl.duration(days=stats.MAX_STALE_DAYS))
    ).height
    gross = (
        held.sort("date", "symbol")
        .group_by("date", maintain_order=True)
        .agg(period_return=(pl.col("weight") * pl.col("_ret")).sum())
    )
    period_returns = (
        periods.join(gross, on="date", how="left")
        .with_columns(pl.col("period_return").fill_null(0.0))
        .sort("date")
        .select("date", "end_date", "period_return")
    )
    if periods.height:
        curve = stats.equity_curve(period_returns, cost_bps, turnover.filter(pl.col("date").is_in(periods["date"])))
    else:
        curve = pl.DataFrame(
            schema={"date": pl.Date, "value": pl.Float64, "cost": pl.Float64, "net_return": pl.Float64}
        )
    return Book(weights.sort("date", "symbol"), period_returns, turnover, curve, stale)


def benchmark_curve(closes: pl.DataFrame, symbol: str, dates: Sequence[date]) -> pl.DataFrame | None:
    """Buy-and-hold value of ``symbol`` from 1.0 at each rebalance date (no costs), or None without a start close.

    Each value is the last usable USD close on or before the date over the last one on or before the first date;
    None when the symbol has no close on or before the first date (a benchmark that starts later cannot be
    compared from the start).
    """
    days = sorted(set(dates))
    own = _usable(closes).filter(pl.col("symbol") == symbol).select("date", "close_usd")
    grid = pl.DataFrame({"date": days}, schema={"date": pl.Date})
    at = grid.join_asof(own.rename({"date": "_d"}), left_on="date", right_on="_d", strategy="backward")
    first = at["close_usd"][0] if at.height else None
    if first is None:
        return None
    return at.select("date", (pl.col("close_usd") / first).alias("value"))


def active_share(a: pl.DataFrame, b: pl.DataFrame) -> float | None:
    """Mean over dates of ``0.5 * sum_i |w_a,i - w_b,i|``: the share of book ``a`` that differs from book ``b``.

    Why averaged over dates: both books change at every rebalance; one figure summarises how far apart they sit.
    Only dates where both books hold something count (an empty comparison book has no active share); None when
    there is no such date.
    """
    common = sorted(set(a["date"].to_list()) & set(b["date"].to_list()))
    if not common:
        return None
    both = (
        a.filter(pl.col("date").is_in(common))
        .select("date", "symbol", pl.col("weight").alias("_a"))
        .join(
            b.filter(pl.col("date").is_in(common)).select("date", "symbol", pl.col("weight").alias("_b")),
            on=["date", "symbol"],
            how="full",
            coalesce=True,
        )
        .with_columns(pl.col("_a").fill_null(0.0), pl.col("_b").fill_null(0.0))
        .sort("date", "symbol")
    )
    per_date = (
        both.group_by("date", maintain_order=True)
        .agg(share=0.5 * (pl.col("_a") - pl.col("_b")).abs().sum())
        .sort("date")
    )
    return float(per_date["share"].mean())  # type: ignore[arg-type]
