"""Live-data tables that sit beside the contract kinds: provider profiles, share-count history, refresh freshness.

Why apart from ``store.py``: these tables are fed only by the live provider and read by refresh, validation and
``show``; keeping their SQL here leaves the contract store small. The same promises hold: every write is one
transaction, every row keeps its provider and load time, and a missing value never overwrites a stored one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

import polars as pl

from screener.store import Store, utcnow

PROFILE_SCHEMA: dict[str, type[pl.DataType]] = {
    "symbol": pl.String,
    "name": pl.String,
    "quote_currency": pl.String,
    "price_unit": pl.String,
    "financial_currency": pl.String,
    "country": pl.String,
    "sector": pl.String,
    "industry": pl.String,
    "summary": pl.String,
    "shares_outstanding": pl.Float64,
    "price": pl.Float64,
    "market_cap": pl.Float64,
}
SHARES_SCHEMA: dict[str, type[pl.DataType]] = {"symbol": pl.String, "date": pl.Date, "shares": pl.Float64}
_KEYS = {"company_profiles": ("symbol",), "share_history": ("symbol", "date")}


def _upsert(store: Store, table: str, frame: pl.DataFrame, provider: str, loaded_at: datetime | None) -> int:
    """Insert or update on the table's key; a null in ``frame`` keeps the stored value (unknown is not empty)."""
    if frame.height == 0:
        return 0
    schema = PROFILE_SCHEMA if table == "company_profiles" else SHARES_SCHEMA
    cols = [c for c in schema if c in frame.columns]
    incoming = frame.select(cols).with_columns(
        pl.lit(provider).alias("provider"),
        pl.lit(loaded_at or utcnow()).cast(pl.Datetime("us")).alias("loaded_at"),
    )
    all_cols = [*cols, "provider", "loaded_at"]
    keys = _KEYS[table]
    sets = ", ".join(f"{c} = COALESCE(excluded.{c}, {table}.{c})" for c in all_cols if c not in keys)
    with store.transaction():
        store.con.register("_incoming_live", incoming.to_arrow())
        try:
            store.con.execute(
                f"INSERT INTO {table} ({', '.join(all_cols)}) SELECT {', '.join(all_cols)} FROM _incoming_live "
                f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
            )
        finally:
            store.con.unregister("_incoming_live")
    return frame.height


def upsert_profiles(store: Store, frame: pl.DataFrame, provider: str, *, loaded_at: datetime | None = None) -> int:
    """Store provider profiles; an earlier rejection of the same symbol's profile is resolved by it."""
    stored = _upsert(store, "company_profiles", frame, provider, loaded_at)
    if stored:
        store.resolve_rejections("profiles", frame, at=loaded_at)
    return stored


def upsert_share_history(store: Store, frame: pl.DataFrame, provider: str, *, loaded_at: datetime | None = None) -> int:
    """Store daily share counts; an earlier rejection of the same (symbol, date) is resolved by it."""
    stored = _upsert(store, "share_history", frame, provider, loaded_at)
    if stored:
        store.resolve_rejections("shares", frame, at=loaded_at)
    return stored


def _filtered(df: pl.DataFrame, symbols: Iterable[str] | None) -> pl.DataFrame:
    return df if symbols is None else df.filter(pl.col("symbol").is_in(list(symbols)))


def profiles(store: Store, symbols: Iterable[str] | None = None) -> pl.DataFrame:
    cols = ", ".join([*PROFILE_SCHEMA, "provider", "loaded_at"])
    return _filtered(store.query(f"SELECT {cols} FROM company_profiles ORDER BY symbol"), symbols)


def share_history(store: Store, symbols: Iterable[str] | None = None) -> pl.DataFrame:
    df = store.query("SELECT symbol, date, shares, provider, loaded_at FROM share_history ORDER BY symbol, date")
    return _filtered(df, symbols)


def refresh_state(store: Store) -> pl.DataFrame:
    """One row per subject and part: when it last completed (``fetched_at``), was last tried, how that went
    (``status``: ok, rejected, failed, empty, not_attempted) and, for statements, since when Yahoo's answer has been
    empty (``empty_since``, null once a real answer arrives)."""
    return store.query(
        "SELECT subject, part, fetched_at, attempted_at, status, message, empty_since FROM refresh_state "
        "ORDER BY subject, part"
    )


def mark_refreshed(
    store: Store,
    subject: str,
    part: str,
    *,
    status: str,
    complete: bool,
    message: str | None = None,
    at: datetime | None = None,
    empty: bool | None = None,
) -> None:
    """Record an attempt. Only a complete fetch moves ``fetched_at``, so a failed part is retried on the next run.

    ``empty``: ``True`` when Yahoo answered with no data (``empty_since`` keeps the first such answer of a run of
    them, so a later run can tell an answer that stays empty for days from a passing one), ``False`` when it
    answered with data (the run of empty answers is over), ``None`` when it did not answer (nothing learned).
    """
    stamp = at or utcnow()
    since = {
        True: "COALESCE(refresh_state.empty_since, excluded.empty_since)",
        False: "NULL",
        None: "refresh_state.empty_since",
    }[empty]
    store.con.execute(
        "INSERT INTO refresh_state (subject, part, fetched_at, attempted_at, status, message, empty_since) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (subject, part) DO UPDATE SET "
        "fetched_at = COALESCE(excluded.fetched_at, refresh_state.fetched_at), attempted_at = excluded.attempted_at, "
        f"status = excluded.status, message = excluded.message, empty_since = {since}",
        [subject, part, stamp if complete else None, stamp, status, message, stamp if empty else None],
    )


def last_dates(store: Store, table: str, key: str) -> dict[str, date]:
    """Newest stored date per symbol (``prices``, ``share_history``) or per currency (``fx``)."""
    if table not in ("prices", "share_history", "fx") or key not in ("symbol", "currency"):
        raise ValueError(f"no dated table {table}.{key}")
    rows = store.rows(f"SELECT {key}, max(date) FROM {table} GROUP BY {key}")
    return {k: d for k, d in rows if d is not None}


def closes_on(store: Store, wanted: dict[str, date]) -> dict[str, float]:
    """The stored close of each symbol on a given date: the overlap that reveals a split or a unit change."""
    if not wanted:
        return {}
    frame = pl.DataFrame(
        {"symbol": list(wanted), "date": list(wanted.values())}, schema={"symbol": pl.String, "date": pl.Date}
    )
    store.con.register("_wanted_closes", frame.to_arrow())
    try:
        rows = store.rows("SELECT p.symbol, p.close FROM prices p JOIN _wanted_closes w USING (symbol, date)")
    finally:
        store.con.unregister("_wanted_closes")
    return {s: c for s, c in rows}
