"""Synthetic universe for the scoring benchmark: N companies x 40 quarters x 260 trading days (default N = 50,000),
plus a split for one company in twenty and each company's latest daily share count.

Frames are built directly in polars from numpy arrays (no Python loop over companies), in the data-contract shapes
and in key order, as ``load_inputs`` reads them from the store. Nothing here is market data.

    python benchmarks/gen_universe.py --n 50000 --out /tmp/universe   # writes <kind>.parquet files
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from factors.inputs import FactorInputs  # noqa: E402
from screener.contract import ROLES, STAGES  # noqa: E402

AS_OF = date(2026, 6, 1)
QUARTERS = 40
TRADING_DAYS = 260
#: listing currency -> (fx currency, rough USD per unit); GBp is quoted in pence.
CURRENCIES = {
    "USD": ("USD", 1.0),
    "AUD": ("AUD", 0.66),
    "CAD": ("CAD", 0.73),
    "JPY": ("JPY", 0.0067),
    "KRW": ("KRW", 0.00073),
    "EUR": ("EUR", 1.08),
    "GBp": ("GBP", 1.27),
    "CNY": ("CNY", 0.14),
    "HKD": ("HKD", 0.128),
}
EVENT_KINDS = ("capacity", "offtake", "funding", "equity_raise", "permit")
CAP_STAGES = ("announced", "loi", "funded", "construction", "commissioning", "production")


def _trading_days(end: date, n: int) -> np.ndarray:
    days = pl.date_range(end - timedelta(days=n * 2), end, "1d", eager=True)
    days = days.filter(days.dt.weekday() <= 5)
    return days.tail(n).to_numpy()


def generate(
    n: int = 50_000,
    *,
    seed: int = 11,
    as_of: date = AS_OF,
    quarters: int = QUARTERS,
    trading_days: int = TRADING_DAYS,
) -> FactorInputs:
    """``n`` companies with ``quarters`` quarters of statements and ``trading_days`` business days of closes to
    ``as_of`` (the backtest benchmark asks for 12 years and 3 years)."""
    QUARTERS, TRADING_DAYS = quarters, trading_days  # the module defaults, overridden per call
    rng = np.random.default_rng(seed)
    symbols = np.array([f"S{i:06d}.X" for i in range(n)])
    listing = rng.choice(list(CURRENCIES), n, p=[0.3, 0.15, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05])
    role_sets = np.array(
        [
            "miner",
            "processor",
            "magnet_maker",
            "miner;processor",
            "recycler",
            "downstream_user",
            "chemicals_tolling",
            "equipment_supplier",
            "trader_offtaker",
            "miner;magnet_maker",
        ]
    )
    countries = np.array(["US", "AU", "CA", "JP", "KR", "FR", "GB", "CN", "DE", "BR"])
    companies = pl.DataFrame(
        {
            "symbol": symbols,
            "name": np.char.add("Synthetic ", symbols),
            "country": rng.choice(countries, n),
            "currency": listing,
            "roles": rng.choice(role_sets, n),
            "segment": None,
            "stage": rng.choice(np.array(STAGES), n, p=[0.5, 0.3, 0.2]),
            "gov_backing": rng.choice(
                np.array(["", "doe_loan", "dod_offtake;jogmec", "dod_price_floor"]), n, p=[0.85, 0.05, 0.05, 0.05]
            ),
            "provider": "synthetic",
        }
    ).with_columns(pl.col("gov_backing").replace("", None), pl.col("segment").cast(pl.String))
    assert set(role_sets) and all(r in ROLES for rs in role_sets for r in rs.split(";"))

    # prices: 260 trading days per company, a geometric random walk, in key order
    days = _trading_days(as_of, TRADING_DAYS)
    start_px = np.exp(rng.normal(2.0, 1.0, n))
    steps = rng.normal(0.0, 0.025, (n, TRADING_DAYS))
    close = (start_px[:, None] * np.exp(np.cumsum(steps, axis=1))).ravel()
    volume = rng.lognormal(11.0, 1.5, n * TRADING_DAYS).round()
    prices = pl.DataFrame(
        {
            "symbol": np.repeat(symbols, TRADING_DAYS),
            "date": np.tile(days, n),
            "close": close,
            "volume": volume,
            "provider": "synthetic",
        }
    )

    # fundamentals: 40 quarters (and the fiscal years they make up), shares drifting up, a few gaps
    q_ends = np.array([_quarter_end(as_of, k) for k in range(QUARTERS)][::-1], dtype="datetime64[D]")
    nq = n * QUARTERS
    scale = np.exp(rng.normal(18.0, 2.0, n))
    fin_ccy = np.array([CURRENCIES[c][0] for c in listing])
    shares0 = np.exp(rng.normal(18.0, 1.5, n))
    growth = rng.gamma(1.0, 0.02, n)
    qidx = np.tile(np.arange(QUARTERS), n)
    revenue = np.repeat(scale, QUARTERS) * rng.lognormal(0.0, 0.3, nq)
    revenue[rng.random(nq) < 0.1] = 0.0
    capex = np.repeat(scale, QUARTERS) * rng.lognormal(-2.0, 0.8, nq)
    ocf = revenue * rng.normal(0.05, 0.2, nq)

    def gaps(a: np.ndarray, p: float = 0.03) -> np.ndarray:
        a = a.astype(float).copy()
        a[rng.random(a.shape[0]) < p] = np.nan
        return a

    fund_q = pl.DataFrame(
        {
            "symbol": np.repeat(symbols, QUARTERS),
            "period_end": np.tile(q_ends, n),
            "period": "Q",
            "currency": np.repeat(fin_ccy, QUARTERS),
            "revenue": gaps(revenue),
            "operating_income": gaps(revenue * 0.1),
            "net_income": gaps(revenue * 0.07),
            "operating_cash_flow": gaps(ocf),
            "capital_expenditure": gaps(capex),
            "free_cash_flow": gaps(ocf - capex),
            "cash": gaps(np.repeat(scale, QUARTERS) * rng.lognormal(0.5, 0.8, nq)),
            "total_debt": gaps(np.repeat(scale, QUARTERS) * rng.lognormal(0.0, 1.0, nq)),
            "total_equity": gaps(np.repeat(scale, QUARTERS) * rng.lognormal(1.0, 0.8, nq)),
            "inventory": gaps(revenue * 0.3),
            "shares_outstanding": gaps(np.repeat(shares0, QUARTERS) * (1 + np.repeat(growth, QUARTERS)) ** qidx),
            "provider": "synthetic",
        }
    ).with_columns(pl.selectors.float().fill_nan(None))
    fund_fy = (
        fund_q.with_columns(pl.col("period_end").dt.year().alias("_y"))
        .filter(pl.col("period_end").dt.month() == 12)
        .with_columns(pl.lit("FY").alias("period"))
        .drop("_y")
    )
    fundamentals = pl.concat([fund_q, fund_fy]).sort(["symbol", "period_end", "period"])

    # fx: one row per trading day of the last 10 years per non-USD currency
    fx_days = _trading_days(as_of, 2600)
    fx_parts = []
    for cur, (iso, level) in sorted(CURRENCIES.items()):
        if iso == "USD" or cur == "GBp":
            continue
        walk = level * np.exp(np.cumsum(rng.normal(0, 0.004, fx_days.shape[0])))
        fx_parts.append(pl.DataFrame({"currency": iso, "date": fx_days, "usd_per_unit": walk, "provider": "synthetic"}))
    fx_parts.append(
        pl.DataFrame(
            {
                "currency": "GBP",
                "date": fx_days,
                "usd_per_unit": 1.27 * np.exp(np.cumsum(rng.normal(0, 0.004, fx_days.shape[0]))),
                "provider": "synthetic",
            }
        )
    )
    fx = pl.concat(fx_parts).sort(["currency", "date"])

    # events: about three per company over the last four years
    ne = n * 3
    ev_days = _trading_days(as_of, 1000)
    kinds = rng.choice(np.array(EVENT_KINDS), ne)
    is_cap = kinds == "capacity"
    events = (
        pl.DataFrame(
            {
                "symbol": rng.choice(symbols, ne),
                "date": rng.choice(ev_days, ne),
                "kind": kinds,
                "stage": np.where(is_cap, rng.choice(np.array(CAP_STAGES), ne), ""),
                "capacity_tpa": np.where(is_cap, rng.choice([500.0, 1000.0, 3000.0, 6000.0], ne), np.nan),
                "target_year": np.where(is_cap, rng.integers(2025, 2031, ne), -1),
                "amount_usd": rng.lognormal(17, 1.5, ne),
                "description": np.char.add("synthetic event ", np.arange(ne).astype(str)),
                "source": None,
                "provider": "synthetic",
            }
        )
        .with_columns(
            pl.col("stage").replace("", None),
            pl.col("source").cast(pl.String),
            pl.col("capacity_tpa").fill_nan(None),
            pl.when(pl.col("target_year") < 0).then(None).otherwise(pl.col("target_year")).alias("target_year"),
        )
        .sort(["symbol", "date", "kind", "description"])
    )
    # splits: one in twenty companies split once in the last ten years (2:1 .. 10:1, or a 1:10 consolidation);
    # the share history: each company's latest daily count, as load_inputs reads it, in the last three weeks
    ns = n // 20
    split_days = _trading_days(as_of, 2600)
    splits = pl.DataFrame(
        {
            "symbol": rng.choice(symbols, ns, replace=False),
            "date": rng.choice(split_days, ns),
            "ratio": rng.choice(np.array([2.0, 3.0, 5.0, 10.0, 0.1]), ns),
            "provider": "synthetic",
        }
    ).sort(["symbol", "date"])
    latest_shares = shares0 * (1 + growth) ** (QUARTERS + 1)
    share_history = pl.DataFrame(
        {
            "symbol": symbols,
            "date": rng.choice(_trading_days(as_of, 15), n),
            "shares": latest_shares.round(),
            "provider": "synthetic",
        }
    )
    return FactorInputs(
        companies=companies,
        fundamentals=fundamentals,
        prices=prices,
        fx=fx,
        events=events,
        splits=splits,
        share_history=share_history,
    )


def _quarter_end(as_of: date, k: int) -> date:
    """The k-th quarter end before ``as_of`` (k = 0 is the latest one at least a day before)."""
    y, m = as_of.year, ((as_of.month - 1) // 3) * 3  # month before this quarter starts
    m -= 3 * k
    while m <= 0:
        m += 12
        y -= 1
    nxt = date(y + (m // 12), m % 12 + 1, 1)
    return nxt - timedelta(days=1)


KINDS = ("companies", "fundamentals", "prices", "fx", "events", "splits", "share_history")


def write(inputs: FactorInputs, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for kind in KINDS:
        getattr(inputs, kind).write_parquet(out / f"{kind}.parquet")


def read(folder: Path) -> FactorInputs:
    """The frames written by ``write``; a kind missing from an older folder is read as empty."""
    return FactorInputs(
        **{kind: pl.read_parquet(folder / f"{kind}.parquet") for kind in KINDS if (folder / f"{kind}.parquet").exists()}
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50_000, help="number of companies (default 50,000)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--quarters", type=int, default=QUARTERS, help=f"quarters per company (default {QUARTERS})")
    ap.add_argument("--days", type=int, default=TRADING_DAYS, help=f"trading days of closes (default {TRADING_DAYS})")
    ap.add_argument("--out", type=Path, required=True, help="folder for the <kind>.parquet files")
    args = ap.parse_args()
    t = time.perf_counter()
    inputs = generate(args.n, seed=args.seed, quarters=args.quarters, trading_days=args.days)
    write(inputs, args.out)
    sizes = ", ".join(f"{k} {getattr(inputs, k).height:,}" for k in KINDS)
    print(f"generated {sizes} rows in {time.perf_counter() - t:.1f}s -> {args.out}")


if __name__ == "__main__":
    main()
