"""Synthetic score frames in the exact score-frame schema, so the rules engine is tested without a store.

``score_frame`` fills every column of the schema; a test states only what it varies. The factor library's
percentiles (``F_pct``) are computed from the raw values the same way the factor engine does.
"""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import Any

import polars as pl

PUBLIC_FACTORS: dict[str, str] = {
    "localization_premium": "higher_is_better",
    "dilution_risk": "higher_is_worse",
    "balance_sheet": "higher_is_better",
    "commodity_dependence": "higher_is_worse",
    "pullback": "higher_is_better",
    "liquidity": "higher_is_better",
}
COMPONENTS: dict[str, tuple[str, ...]] = {
    "localization_premium": ("role_exposure", "allied_footprint", "gov_backing", "capacity_pipeline"),
    "dilution_risk": (
        "share_growth_1y",
        "share_growth_3y",
        "cash_runway_years",
        "capex_intensity",
        "equity_raises_12m",
        "stage_risk",
    ),
    "balance_sheet": ("net_cash_to_mcap", "debt_to_equity"),
    "commodity_dependence": ("pure_miner", "uncontracted"),
    "pullback": ("drawdown_52w",),
    "liquidity": ("median_traded_value_usd",),
}
FIELDS = (
    "market_cap_usd",
    "price_usd",
    "revenue_ttm_usd",
    "operating_cash_flow_ttm_usd",
    "capex_ttm_usd",
    "free_cash_flow_ttm_usd",
    "cash_usd",
    "total_debt_usd",
    "net_cash_usd",
    "total_equity_usd",
    "shares_outstanding",
)
AS_OF = date(2026, 6, 5)


def ensure_factors() -> None:
    """Make the six public factors known to the registry (the real modules register them when present)."""
    from factors.registry import FACTORS

    for name, direction in PUBLIC_FACTORS.items():
        if name not in FACTORS:
            FACTORS[name] = SimpleNamespace(
                name=name,
                direction=direction,
                components=COMPONENTS[name],
                missing="neutral",
                description=f"test stand-in for {name}",
            )


def company(symbol: str, **values: Any) -> dict[str, Any]:
    """One row with neutral defaults: a US producer, every factor 0.5, USD 1bn market cap, complete data."""
    from screener.contract import region_of

    row: dict[str, Any] = {
        "symbol": symbol,
        "name": f"{symbol} Corp",
        "country": "US",
        "roles": "processor",
        "stage": "producer",
        "segment": None,
        "currency": "USD",
        "gov_backing": None,
        "demo": False,
        "data_completeness": 1.0,
        "flags": [],
        "market_cap_usd": 1e9,
    }
    for f in PUBLIC_FACTORS:
        row[f] = 0.5
    row["liquidity.median_traded_value_usd"] = 5e6
    row.update(values)
    row.setdefault("region", region_of(row["country"]))
    return row


def score_frame(rows: list[dict[str, Any]], as_of: date = AS_OF) -> pl.DataFrame:
    """A score frame with every schema column, sorted by symbol, from partial rows made by ``company``."""
    from factors.crosssection import percentile_rank

    ensure_factors()
    full = []
    for r in rows:
        r = dict(r)
        out: dict[str, Any] = {
            k: r.get(k)
            for k in ("symbol", "name", "country", "region", "roles", "stage", "segment", "currency", "gov_backing")
        }
        out["as_of"] = as_of
        out["demo"] = bool(r.get("demo", False))
        for f in PUBLIC_FACTORS:
            out[f] = None if r.get(f) is None else float(r[f])
            out[f"{f}_pct"] = None
        for f, comps in COMPONENTS.items():
            for c in comps:
                v = r.get(f"{f}.{c}")
                out[f"{f}.{c}"] = None if v is None else float(v)
        for fld in FIELDS:
            v = r.get(fld)
            out[fld] = None if v is None else float(v)
        out["data_completeness"] = float(r.get("data_completeness", 1.0))
        out["flags"] = sorted(r.get("flags") or [])
        full.append(out)
    schema: dict[str, Any] = {
        k: pl.String
        for k in ("symbol", "name", "country", "region", "roles", "stage", "segment", "currency", "gov_backing")
    }
    schema["as_of"] = pl.Date
    schema["demo"] = pl.Boolean
    for f in PUBLIC_FACTORS:
        schema[f] = pl.Float64
        schema[f"{f}_pct"] = pl.Float64
    for f, comps in COMPONENTS.items():
        for c in comps:
            schema[f"{f}.{c}"] = pl.Float64
    for fld in FIELDS:
        schema[fld] = pl.Float64
    schema["data_completeness"] = pl.Float64
    schema["flags"] = pl.List(pl.String)
    df = pl.DataFrame(full, schema=schema, orient="row")
    df = df.with_columns([percentile_rank(f).alias(f"{f}_pct") for f in PUBLIC_FACTORS])
    return df.sort("symbol")


DEFAULT_TOML = """
name = "t"
description = "test set"

[weights]
localization_premium = 0.4
dilution_risk = 0.3
balance_sheet = 0.3
"""


def rules_from(text: str, source: str = "t.toml"):
    from rules.ruleset import parse

    ensure_factors()
    return parse(text, source)


MARKET_END = date(2026, 6, 5)
MARKET_COMPANIES = [
    # symbol, name, country, roles, stage, segment
    ("PROC", "Allied Processing Inc", "US", "processor", "producer", None),
    ("MAGN", "Magnet Works KK", "JP", "magnet_maker", "producer", None),
    ("RECY", "Cycle Metals Ltd", "CA", "recycler", "developer", None),
    ("MINE", "Pure Mining Ltd", "AU", "miner", "producer", None),
    ("MIPR", "Mine and Refine Ltd", "AU", "miner;processor", "producer", None),
    ("EXPL", "Greenfield Explorer Ltd", "CA", "miner", "explorer", None),
    ("AUTO", '=HYPERLINK("http://x.example","Motors")', "DE", "downstream_user", "producer", "ev_auto"),
    ("DEFN", "-Defense Systems Corp", "US", "downstream_user", "producer", "defense"),
]


def market_frames(end: date = MARKET_END, *, bump: float = 0.0) -> dict[str, pl.DataFrame]:
    """Small, deterministic market data in contract shapes (all USD, so no FX is needed)."""
    from datetime import timedelta

    companies = pl.DataFrame(
        [
            {"symbol": s, "name": n, "country": c, "currency": "USD", "roles": r, "stage": st, "segment": seg}
            for s, n, c, r, st, seg in MARKET_COMPANIES
        ]
    )
    days = [end - timedelta(days=d) for d in range(400, -1, -1)]
    days = [d for d in days if d.weekday() < 5]
    prices, funds = [], []
    for k, (sym, *_rest) in enumerate(MARKET_COMPANIES):
        base = 5.0 + 3 * k
        for i, d in enumerate(days):
            wave = ((i * (k + 3)) % 97) / 97
            prices.append(
                {
                    "symbol": sym,
                    "date": d,
                    "close": base * (0.7 + 0.6 * wave) * (1 + bump * (k == 1)),
                    "volume": 200_000.0 * (k + 1),
                }
            )
        for q in range(12):
            pe = date(end.year - 3, 3, 31) + timedelta(days=91 * q)
            shares = 1e8 * (1 + 0.02 * q * (k % 3))
            funds.append(
                {
                    "symbol": sym,
                    "period_end": pe,
                    "period": "Q",
                    "currency": "USD",
                    "revenue": 5e7 * (k + 1) if k != 5 else None,
                    "operating_income": 5e6 * (k - 2),
                    "net_income": 3e6 * (k - 2),
                    "operating_cash_flow": 6e6 * (k - 2),
                    "capital_expenditure": 2e6 * (k + 1),
                    "free_cash_flow": 6e6 * (k - 2) - 2e6 * (k + 1),
                    "cash": 4e7 * (8 - k),
                    "total_debt": 1e7 * k,
                    "total_equity": 2e8 + 1e7 * k,
                    "inventory": 1e7,
                    "shares_outstanding": shares,
                }
            )
    events = pl.DataFrame(
        [
            {
                "symbol": "RECY",
                "date": end - timedelta(days=30),
                "kind": "equity_raise",
                "description": "placement",
                "amount_usd": 2e7,
            }
        ]
    )
    return {
        "companies": companies,
        "prices": pl.DataFrame(prices),
        "fundamentals": pl.DataFrame(funds),
        "events": events,
    }


def build_market_store(store, end: date = MARKET_END) -> None:
    """Store the small market in ``store`` the way an import would (provider 'file')."""
    for kind, frame in market_frames(end).items():
        store.upsert(kind, frame, provider="file")
