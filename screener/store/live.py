"""Live-data tables beside the contract kinds: provider profiles, share-count history, refresh freshness.

Why apart from the market tables: these are fed only by the live provider and read by refresh, validation and
``show``. The same promises hold: every write is one transaction, every row keeps its provider and load time, and a
missing value never overwrites a stored one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

import polars as pl

from screener.store.connection import StoreBase, utcnow

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


class LiveData(StoreBase):
    """Profiles, daily share counts and the refresh bookkeeping."""

    def _upsert_live(self, table: str, frame: pl.DataFrame, provider: str, loaded_at: datetime | None) -> int:
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
        with self.transaction(), self.registered("_incoming_live", incoming):
            self.con.execute(
                f"INSERT INTO {table} ({', '.join(all_cols)}) SELECT {', '.join(all_cols)} FROM _incoming_live "
                f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
            )
        return frame.height

    def upsert_profiles(self, frame: pl.DataFrame, provider: str, *, loaded_at: datetime | None = None) -> int:
        """Store provider profiles; an earlier rejection of the same symbol's profile is resolved by it."""
        stored = self._upsert_live("company_profiles", frame, provider, loaded_at)
        if stored:
            self.resolve_rejections("profiles", frame, at=loaded_at)
        return stored

    def upsert_share_history(self, frame: pl.DataFrame, provider: str, *, loaded_at: datetime | None = None) -> int:
        """Store daily share counts; an earlier rejection of the same (symbol, date) is resolved by it."""
        stored = self._upsert_live("share_history", frame, provider, loaded_at)
        if stored:
            self.resolve_rejections("shares", frame, at=loaded_at)
        return stored

    @staticmethod
    def _filtered(df: pl.DataFrame, symbols: Iterable[str] | None) -> pl.DataFrame:
        return df if symbols is None else df.filter(pl.col("symbol").is_in(list(symbols)))

    def profiles(self, symbols: Iterable[str] | None = None) -> pl.DataFrame:
        """Stored provider profiles by symbol: validation and the market-cap check read them."""
        cols = ", ".join([*PROFILE_SCHEMA, "provider", "loaded_at"])
        return self._filtered(self.query(f"SELECT {cols} FROM company_profiles ORDER BY symbol"), symbols)

    def share_history(self, symbols: Iterable[str] | None = None) -> pl.DataFrame:
        """Stored daily share counts by symbol and date: market cap uses them when newer than the last statement."""
        df = self.query("SELECT symbol, date, shares, provider, loaded_at FROM share_history ORDER BY symbol, date")
        return self._filtered(df, symbols)

    def refresh_state(self) -> pl.DataFrame:
        """One row per subject and part: when it last completed (``fetched_at``), was last tried, how that went
        (``status``: ok, rejected, failed, empty, not_attempted) and, for statements, since when Yahoo's answer has been
        empty (``empty_since``, null once a real answer arrives)."""
        return self.query(
            "SELECT subject, part, fetched_at, attempted_at, status, message, empty_since FROM refresh_state "
            "ORDER BY subject, part"
        )

    def mark_refreshed(
        self,
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
        self.con.execute(
            "INSERT INTO refresh_state (subject, part, fetched_at, attempted_at, status, message, empty_since) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (subject, part) DO UPDATE SET "
            "fetched_at = COALESCE(excluded.fetched_at, refresh_state.fetched_at), "
            "attempted_at = excluded.attempted_at, "
            f"status = excluded.status, message = excluded.message, empty_since = {since}",
            [subject, part, stamp if complete else None, stamp, status, message, stamp if empty else None],
        )

    def last_dates(self, table: str, key: str) -> dict[str, date]:
        """Newest stored date per symbol (``prices``, ``share_history``) or per currency (``fx``)."""
        if table not in ("prices", "share_history", "fx") or key not in ("symbol", "currency"):
            raise ValueError(f"no dated table {table}.{key}")
        rows = self.rows(f"SELECT {key}, max(date) FROM {table} GROUP BY {key}")
        return {k: d for k, d in rows if d is not None}

    def closes_on(self, wanted: dict[str, date]) -> dict[str, float]:
        """The stored close of each symbol on a given date: the overlap that reveals a split or a unit change."""
        if not wanted:
            return {}
        frame = pl.DataFrame(
            {"symbol": list(wanted), "date": list(wanted.values())}, schema={"symbol": pl.String, "date": pl.Date}
        )
        with self.registered("_wanted_closes", frame):
            rows = self.rows("SELECT p.symbol, p.close FROM prices p JOIN _wanted_closes w USING (symbol, date)")
        return {s: c for s, c in rows}
