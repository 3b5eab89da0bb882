"""The company card behind ``screener show``: everything known about one company, with where and when it came from.

Why one card with sections rather than several commands: the analyst's question is "why is this name where it is
on the list?". The answer needs the tags (and who changed them), the numbers the factors read (with currency and
period), the catalysts, how fresh each source is, and the factor breakdown, side by side for one as-of date.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import IO, Any

import polars as pl

from screener.contract import region_of
from screener.errors import ScreenerError
from screener.store import Store

#: How many role-tag changes and events the card shows.
TAG_HISTORY_ROWS = 5
EVENT_ROWS = 10
QUARTERS_SHOWN = 4

SECTION_TITLES: dict[str, str] = {
    "identity": "Identity",
    "tags": "Role tags",
    "tag_history": "Recent tag changes",
    "fundamentals": "Latest fundamentals",
    "events": "Recent events",
    "freshness": "Data freshness",
    "factors": "Factor breakdown",
}

_FUNDAMENTAL_FIELDS = ("revenue", "operating_income", "net_income", "operating_cash_flow", "capital_expenditure",
                       "free_cash_flow", "cash", "total_debt", "total_equity", "inventory", "shares_outstanding")


@dataclass
class CompanyCard:
    symbol: str
    as_of: date
    demo: bool
    identity: dict[str, Any]
    sections: dict[str, pl.DataFrame] = field(default_factory=dict)
    factors: dict[str, Any] = field(default_factory=dict)

    def to_json_obj(self) -> dict[str, Any]:
        """One object with a key per section (lists of row objects; identity and factors as objects)."""
        out: dict[str, Any] = {"symbol": self.symbol, "as_of": self.as_of, "demo": self.demo, "identity": self.identity}
        for key, frame in self.sections.items():
            if key in ("identity", "factors"):
                continue
            out[key] = frame.to_dicts()
        out["factors"] = self.factors
        return _plain(out)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


def resolve_symbol(store: Store, text: str) -> str:
    """The stored symbol for ``text`` (case-insensitive); unknown -> one line with the closest symbol or name."""
    from difflib import get_close_matches

    wanted = text.strip().upper()
    companies = store.query("SELECT symbol, name FROM companies ORDER BY symbol")
    symbols = companies["symbol"].to_list()
    if wanted in symbols:
        return wanted
    if not symbols:
        raise ScreenerError("the store has no companies yet: run 'screener init' (or 'screener demo')")
    by_name = [s for s, n in companies.iter_rows() if n and text.strip().lower() in n.lower()]
    hint = by_name[:1] or get_close_matches(wanted, symbols, n=1, cutoff=0.5)
    suffix = f" (did you mean {hint[0]!r}?)" if hint else ""
    raise ScreenerError(f"unknown symbol {text!r}{suffix}; see 'screener universe list'")


def _identity(store: Store, symbol: str) -> dict[str, Any]:
    comp = store.companies().filter(pl.col("symbol") == symbol)
    row = comp.row(0, named=True)
    return {
        "symbol": row["symbol"],
        "name": row["name"],
        "country": row["country"],
        "region": region_of(row["country"]),
        "currency": row["currency"],
        "roles": row["roles"],
        "stage": row["stage"],
        "segment": row["segment"],
        "gov_backing": row["gov_backing"],
        "description": row["description"],
        "source": row["source"],
        "origin": row["origin"],
        "provider": row["provider"],
        "loaded_at": row["loaded_at"],
    }


def _tags(store: Store, symbol: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    current = store.query(
        "SELECT role, origin, source, tagged_at FROM role_tags WHERE symbol = ? ORDER BY role", [symbol]
    )
    history = store.tag_history(symbol)
    recent = history.sort("id", descending=True).head(TAG_HISTORY_ROWS).select(
        "changed_at", "role", "action", "actor", "source"
    )
    return current, recent


def _fundamental_rows(store: Store, symbol: str, as_of: date) -> pl.DataFrame:
    """The latest quarters and the latest fiscal year with a period end on or before the as-of date."""
    cols = ", ".join(["period_end", "period", "currency", *_FUNDAMENTAL_FIELDS, "provider", "loaded_at"])
    rows = store.query(
        f"SELECT {cols} FROM fundamentals WHERE symbol = ? AND period_end <= ? ORDER BY period_end DESC, period",
        [symbol, as_of],
    )
    return pl.concat([
        rows.filter(pl.col("period") == "Q").head(QUARTERS_SHOWN),
        rows.filter(pl.col("period") == "FY").head(1),
    ]).sort(["period_end", "period"], descending=[True, False])


def _fundamentals(rows: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """Those periods as columns, fields as rows, so a terminal can show them side by side.

    ``reported_by`` is when the period counts for scoring (period end + reporting lag).
    """
    from factors.inputs import SETTINGS

    lag = SETTINGS["reporting_lag_days"]
    if rows.height == 0:
        return pl.DataFrame(schema={"field": pl.String})
    columns: dict[str, list[str | None]] = {}
    for r in rows.iter_rows(named=True):
        reported = r["period_end"] + timedelta(days=int(lag.get(r["period"], 0)))
        values: list[str | None] = [r["currency"], reported.isoformat() + ("" if reported <= as_of else " (not yet)")]
        for f in _FUNDAMENTAL_FIELDS:
            v = r[f]
            values.append(None if v is None else f"{v:,.0f}" if abs(v) >= 1000 else f"{v:,.4g}")
        values += [r["provider"], r["loaded_at"].isoformat(sep=" ") if r["loaded_at"] else None]
        columns[f"{r['period']} {r['period_end'].isoformat()}"] = values
    fields = ["currency", "reported_by", *_FUNDAMENTAL_FIELDS, "provider", "loaded_at"]
    return pl.DataFrame({"field": fields, **columns})


def _events(store: Store, symbol: str, as_of: date) -> pl.DataFrame:
    return store.query(
        "SELECT date, kind, stage, capacity_tpa, target_year, amount_usd, description, source FROM events "
        "WHERE symbol = ? AND date <= ? ORDER BY date DESC, kind, description LIMIT ?",
        [symbol, as_of, EVENT_ROWS],
    )


def _freshness(store: Store, symbol: str, as_of: date) -> pl.DataFrame:
    """Per data kind and provider: the latest dated value on or before as-of, the row count and the load time."""
    parts = [
        store.query(
            "SELECT 'prices' AS data, provider, max(date) AS latest, count(*) AS rows, max(loaded_at) AS loaded_at "
            "FROM prices WHERE symbol = ? AND date <= ? GROUP BY provider",
            [symbol, as_of],
        ),
        store.query(
            "SELECT 'fundamentals' AS data, provider, max(period_end) AS latest, count(*) AS rows, "
            "max(loaded_at) AS loaded_at FROM fundamentals WHERE symbol = ? AND period_end <= ? GROUP BY provider",
            [symbol, as_of],
        ),
        store.query(
            "SELECT 'events' AS data, provider, max(date) AS latest, count(*) AS rows, max(loaded_at) AS loaded_at "
            "FROM events WHERE symbol = ? AND date <= ? GROUP BY provider",
            [symbol, as_of],
        ),
    ]
    schema = {"data": pl.String, "provider": pl.String, "latest": pl.Date, "rows": pl.Int64,
              "loaded_at": pl.Datetime("us")}
    frames = [p.cast(schema) for p in parts if p.height]  # type: ignore[arg-type]
    if not frames:
        return pl.DataFrame(schema=schema)
    return pl.concat(frames).sort(["data", "provider"])


def _factors(row: dict[str, Any]) -> tuple[pl.DataFrame, dict[str, Any]]:
    from factors.registry import FACTORS

    records: list[dict[str, Any]] = []
    obj: dict[str, Any] = {}
    for spec in FACTORS.values():
        value, pct = row.get(spec.name), row.get(spec.pct_column)
        records.append({"factor": spec.name, "component": "(value)", "value": value, "percentile": pct,
                        "note": f"{spec.direction.replace('_', ' ')}; missing: {spec.missing}"})
        comps = {}
        for c in spec.components:
            v = row.get(spec.column(c))
            comps[c] = v
            records.append({"factor": spec.name, "component": c, "value": v, "percentile": None, "note": None})
        obj[spec.name] = {"value": value, "percentile": pct, "direction": spec.direction, "missing": spec.missing,
                          "components": comps}
    schema = {"factor": pl.String, "component": pl.String, "value": pl.Float64, "percentile": pl.Float64,
              "note": pl.String}
    frame = pl.DataFrame(records, schema=schema, orient="row")
    extras = {"market_cap_usd": row.get("market_cap_usd"), "data_completeness": row.get("data_completeness"),
              "flags": list(row.get("flags") or [])}
    obj = {"values": obj, **extras}
    return frame, obj


def company_card(store: Store, symbol: str, as_of: date | None = None, *, for_json: bool = False) -> CompanyCard:
    """Assemble the card of ``symbol`` as of ``as_of`` (default today); scores come from ``scores_for``."""
    from factors.engine import scores_for

    sym = resolve_symbol(store, symbol)
    day = as_of or date.today()
    identity = _identity(store, sym)
    current, history = _tags(store, sym)
    scores = scores_for(store, day)
    row = scores.filter(pl.col("symbol") == sym).row(0, named=True)
    factor_frame, factor_obj = _factors(row)
    fundamentals = _fundamental_rows(store, sym, day)
    identity_frame = pl.DataFrame(
        {"field": list(identity), "value": ["" if v is None else str(v) for v in identity.values()]}
    )
    sections = {
        "identity": identity_frame,
        "tags": current,
        "tag_history": history,
        "fundamentals": fundamentals if for_json else _fundamentals(fundamentals, day),
        "events": _events(store, sym, day),
        "freshness": _freshness(store, sym, day),
        "factors": factor_frame,
    }
    return CompanyCard(symbol=sym, as_of=day, demo=bool(row.get("demo")), identity=identity, sections=sections,
                       factors=factor_obj)


def render_card(card: CompanyCard, fmt: str, dest: IO[str] | None = None) -> None:
    """Table: one titled table per section (empty sections say so); json: one object with a key per section."""
    import sys

    from screener.render import render

    out = dest or sys.stdout
    if fmt == "json":
        out.write(json.dumps(card.to_json_obj(), ensure_ascii=False, indent=2) + "\n")
        return
    out.write(f"{card.symbol} as of {card.as_of.isoformat()}{'  [demo data]' if card.demo else ''}\n")
    for key, frame in card.sections.items():
        title = SECTION_TITLES[key]
        if frame.height == 0:
            out.write(f"\n{title}: none\n")
            continue
        out.write("\n")
        render(frame, "table", out, title=title)
    completeness = card.factors.get("data_completeness")
    flags = card.factors.get("flags") or []
    mcap = card.factors.get("market_cap_usd")
    out.write(
        f"\nmarket_cap_usd: {'' if mcap is None else f'{mcap:,.0f}'}   "
        f"data_completeness: {'' if completeness is None else f'{completeness:.2f}'}   "
        f"flags: {';'.join(flags) if flags else 'none'}\n"
    )
