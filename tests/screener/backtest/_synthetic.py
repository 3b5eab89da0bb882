"""A small synthetic market for backtest tests, stored the way an import stores it (``Store.upsert``, provider file).

Why its own builder: a backtest needs months of daily closes and years of quarters for dozens of companies, with
prices that can carry a planted signal (a daily drift that follows each company's stated ``exposure``) or none.
Everything is deterministic (a seeded ``random.Random``, fixed dates), so expectations hold on every machine.
"""

from __future__ import annotations

import math
import random
from datetime import date, timedelta
from typing import Any

import polars as pl

#: The last stored close (a Friday).
END = date(2026, 5, 29)
COUNTRIES = ("US", "AU", "JP", "CA", "FR")
ROLES = ("processor", "miner", "miner;processor", "downstream_user", "magnet_maker", "recycler")


def build_store(
    store: Any,
    *,
    n: int = 40,
    days: int = 548,
    end: date = END,
    drift: float = 0.0,
    noise: float = 0.01,
    roles: tuple[str, ...] = ROLES,
    seed: int = 11,
    stop: dict[str, date] | None = None,
    extra: list[dict[str, Any]] | None = None,
) -> dict[str, float]:
    """Store ``n`` companies with ``days`` calendar days of weekday closes ending ``end`` and 12 quarters each.

    Each company's daily log return is ``drift * (exposure - 0.6) + noise * N(0, 1)``: with ``drift`` above 0 the
    stated exposure (an input of ``localization_premium``) predicts returns; with 0 nothing does. Volumes spread
    over three orders of magnitude at random, so liquidity carries no signal. ``stop`` ends a symbol's closes on a
    date (it is delisted the next day). ``extra`` adds company rows without prices. Returns each symbol's exposure.
    """
    rng = random.Random(seed)
    stop = stop or {}
    calendar = [end - timedelta(days=d) for d in range(days - 1, -1, -1)]
    calendar = [d for d in calendar if d.weekday() < 5]
    exposures = [0.2 + 0.8 * i / max(n - 1, 1) for i in range(n)]
    rng.shuffle(exposures)
    companies, prices, funds = [], [], []
    out: dict[str, float] = {}
    for k in range(n):
        sym = f"S{k:03d}"
        exposure = round(exposures[k], 4)
        out[sym] = exposure
        last = stop.get(sym)
        companies.append(
            {
                "symbol": sym,
                "name": f"Synthetic {k} Ltd",
                "country": COUNTRIES[k % len(COUNTRIES)],
                "currency": "USD",
                "roles": roles[k % len(roles)],
                "stage": "producer",
                "exposure": exposure,
                "delisted_on": last + timedelta(days=1) if last else None,
            }
        )
        volume = 10 ** (4.5 + 3 * rng.random())
        level = math.log(10.0 + k % 7)
        for d in calendar:
            level += drift * (exposure - 0.6) + noise * rng.gauss(0.0, 1.0)
            if last is None or d <= last:
                prices.append({"symbol": sym, "date": d, "close": math.exp(level), "volume": volume})
        cash = 10 ** (7 + 2 * rng.random())
        for q in range(12):
            funds.append(
                {
                    "symbol": sym,
                    "period_end": date(end.year - 3, 3, 31) + timedelta(days=91 * q),
                    "period": "Q",
                    "currency": "USD",
                    "revenue": 5e7,
                    "operating_cash_flow": 1e7,
                    "capital_expenditure": 4e6,
                    "cash": cash,
                    "total_debt": 1e7 * (k % 4),
                    "total_equity": 3e8,
                    "shares_outstanding": 1e8 * (1 + 0.002 * (k % 5)) ** q,
                }
            )
    for row in extra or []:
        companies.append({"currency": "USD", "stage": "producer", "delisted_on": None, **row})
    store.upsert("companies", pl.DataFrame(companies), provider="file")
    store.upsert("prices", pl.DataFrame(prices), provider="file")
    store.upsert("fundamentals", pl.DataFrame(funds), provider="file")
    return out
