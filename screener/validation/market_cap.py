"""The market-cap cross-check: our share count x our latest close against the provider's own market cap.

Why: a price stored in the wrong unit (pence read as pounds, a quote switching between GBp and GBP) or a share
count off by a thousand is invisible row by row, but it moves the implied market cap by 100x or more. Both sides
are put in the main currency unit with ``normalise_currency`` before they are compared.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

from screener.contract import normalise_currency
from screener.store import Store

SCHEMA: dict[str, type[pl.DataType]] = {
    "symbol": pl.String,
    "shares_outstanding": pl.Float64,
    "close": pl.Float64,
    "price_unit": pl.String,
    "implied_market_cap": pl.Float64,
    "market_cap": pl.Float64,
    "market_cap_ratio": pl.Float64,
}


def market_cap_frame(rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Rows with symbol, shares_outstanding, close (in ``price_unit``), price_unit and the provider's market_cap
    (main unit); rows missing any of them are left out, since there is nothing to compare."""
    out = []
    for r in rows:
        shares, close, reference = r.get("shares_outstanding"), r.get("close"), r.get("market_cap")
        if shares is None or close is None or not reference:
            continue
        factor = normalise_currency(r["price_unit"])[1] if r.get("price_unit") else 1.0
        implied = float(shares) * float(close) * factor
        out.append(
            {
                "symbol": r["symbol"],
                "shares_outstanding": float(shares),
                "close": float(close),
                "price_unit": r.get("price_unit"),
                "implied_market_cap": implied,
                "market_cap": float(reference),
                "market_cap_ratio": implied / float(reference),
            }
        )
    return pl.DataFrame(out, schema=SCHEMA, orient="row").sort("symbol")


def stored_market_caps(store: Store) -> pl.DataFrame:
    """The check's inputs from what is stored: the latest close, the latest share count (share history first,
    else the newest statement), the unit closes are stored in, and the provider's market cap from its profile."""
    rows = store.market_cap_inputs()
    return market_cap_frame(rows.iter_rows(named=True))
