"""The floor ``screener score`` is measured against: one lazy polars pass over the universe's Parquet files that
computes the core factor inputs, with none of the product around it (no store, no validation of time, no flags).

    python benchmarks/bench_floor.py --data /tmp/universe      # the folder gen_universe.py --out wrote

Per company, as of ``gen_universe.AS_OF``: the latest close in US dollars (each close at its own day's rate, pence
quotes scaled), the closes and traded days in the engine's price window, the 52-week high, the 63-day median
traded value, the last traded day; the trailing-twelve-month revenue, operating cash flow, capex and free cash flow
from the four latest public quarters, the latest public cash, debt, equity and share count (each in dollars at its
period end), the latest daily share count, and market cap. It is what a careful notebook would compute in one
query plan: ``bench_score.py`` runs it in a fresh process beside ``screener score`` and reports the ratio.

Why a floor and not a target: the engine does more than this (point-in-time statement versions, half years and
fiscal years, splits, staleness, events, six factors, flags, percentiles) and must, so the ratio says how much the
product costs above the least anyone could do with the same data on the same machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
for entry in (HERE.parent, HERE):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from gen_universe import AS_OF  # noqa: E402

WINDOW_DAYS = 400  # the engine's price_window_days
QUARTER_LAG_DAYS = 60  # the engine's reporting lag of a quarter


def floor_frame(folder: Path, as_of: date = AS_OF) -> pl.DataFrame:
    """The core factor inputs per company, from one lazy plan over the Parquet files."""
    companies = pl.scan_parquet(folder / "companies.parquet").select(
        "symbol",
        pl.when(pl.col("currency") == "GBp").then(pl.lit("GBP")).otherwise(pl.col("currency")).alias("iso"),
        pl.when(pl.col("currency") == "GBp").then(0.01).otherwise(1.0).alias("unit"),
    )
    # fx on every calendar day: the latest rate on or before it (USD is 1), so prices join it on (currency, day)
    start = as_of - timedelta(days=4000)
    days = pl.LazyFrame({"date": pl.date_range(start, as_of, "1d", eager=True)})
    fx = pl.scan_parquet(folder / "fx.parquet").filter(pl.col("date") <= as_of).sort("date")
    isos = pl.scan_parquet(folder / "fx.parquet").select(pl.col("currency").unique())
    grid = (
        days.join(isos, how="cross")
        .sort("date")
        .join_asof(
            fx.select("currency", "date", "usd_per_unit"),
            on="date",
            by="currency",
            strategy="backward",
            check_sortedness=False,
        )
    )
    grid = pl.concat([grid, days.with_columns(pl.lit("USD").alias("currency"), pl.lit(1.0).alias("usd_per_unit"))])
    grid = grid.rename({"currency": "iso"})

    first = as_of - timedelta(days=WINDOW_DAYS - 1)
    prices = (
        pl.scan_parquet(folder / "prices.parquet")
        .filter(pl.col("date").is_between(first, as_of))
        .join(companies, on="symbol", how="inner")
        .join(grid, on=["iso", "date"], how="left")
        .with_columns((pl.col("close") * pl.col("unit") * pl.col("usd_per_unit")).alias("close_usd"))
        .with_columns((pl.col("close_usd") * pl.col("volume")).alias("traded_usd"))
        .sort("symbol", "date")
        .group_by("symbol", maintain_order=True)
        .agg(
            pl.col("close_usd").last().alias("price_usd"),
            pl.col("date").last().alias("last_price_date"),
            pl.len().alias("price_days"),
            pl.col("volume").is_not_null().sum().alias("volume_days"),
            pl.col("close_usd").tail(252).max().alias("high_52w_usd"),
            pl.col("traded_usd").tail(63).median().alias("median_traded_usd_63d"),
            pl.col("date").filter(pl.col("volume") != 0).last().alias("last_trade_date"),
        )
    )

    flows = ["revenue", "operating_cash_flow", "capital_expenditure", "free_cash_flow"]
    balances = ["cash", "total_debt", "total_equity"]
    fund = (
        pl.scan_parquet(folder / "fundamentals.parquet")
        .filter((pl.col("period") == "Q") & (pl.col("period_end") <= as_of - timedelta(days=QUARTER_LAG_DAYS)))
        .join(grid.rename({"iso": "currency", "date": "period_end"}), on=["currency", "period_end"], how="left")
        .with_columns([(pl.col(c) * pl.col("usd_per_unit")).alias(f"{c}_usd") for c in [*flows, *balances]])
        .sort("symbol", "period_end")
        .group_by("symbol", maintain_order=True)
        .agg(
            *[pl.col(f"{c}_usd").tail(4).sum().alias(f"{c}_ttm_usd") for c in flows],
            *[pl.col(f"{c}_usd").drop_nulls().last().alias(f"{c}_usd") for c in balances],
            pl.col("shares_outstanding").drop_nulls().last(),
            pl.col("period_end").last().alias("fundamentals_period_end"),
        )
    )
    shares = (
        pl.scan_parquet(folder / "share_history.parquet")
        .filter(pl.col("date") <= as_of)
        .group_by("symbol")
        .agg(pl.col("shares").sort_by("date").last().alias("daily_shares"))
    )
    plan = (
        companies.select("symbol")
        .join(prices, on="symbol", how="left")
        .join(fund, on="symbol", how="left")
        .join(shares, on="symbol", how="left")
        .with_columns(
            (pl.coalesce("daily_shares", "shares_outstanding") * pl.col("price_usd")).alias("market_cap_usd"),
            (pl.col("cash_usd") - pl.col("total_debt_usd")).alias("net_cash_usd"),
        )
        .sort("symbol")
    )
    return plan.collect()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="folder of parquet files from gen_universe.py --out")
    args = ap.parse_args()
    t = time.perf_counter()
    out = floor_frame(args.data)
    print(f"floor: {out.height:,} companies, {out.width} columns in {time.perf_counter() - t:.2f}s")


if __name__ == "__main__":
    main()
