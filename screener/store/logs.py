"""The store's ledgers: the ingest log and the rejected rows (with their resolution when a later load fixes a key).

Why apart from the market tables: these rows describe loads, not the market; they are appended, never merged.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from screener.store.connection import StoreBase, utcnow


class Logs(StoreBase):
    """Appends to the ingest log and the rejection ledger."""

    def resolve_rejections(self, kind: str, stored: pl.DataFrame, *, at: datetime | None = None) -> int:
        """Mark the ledger's rejections of these keys as resolved: a later load stored the same key, so the row is
        no longer kept out. Set-based; returns the number of ledger rows resolved."""
        if stored.height == 0:
            return 0
        from screener.validation.keys import key_strings

        before = int(self.scalar("SELECT count(*) FROM rejected_rows WHERE resolved_at IS NULL AND kind = ?", [kind]))
        if before == 0:
            return 0
        keys = key_strings(kind, stored).unique().to_frame("key")
        with self.transaction(), self.registered("_resolved_keys", keys) as name:
            self.con.execute(
                f"UPDATE rejected_rows SET resolved_at = ? FROM {name} r WHERE rejected_rows.resolved_at IS NULL "
                "AND rejected_rows.kind = ? AND rejected_rows.key = r.key",
                [at or utcnow(), kind],
            )
        after = int(self.scalar("SELECT count(*) FROM rejected_rows WHERE resolved_at IS NULL AND kind = ?", [kind]))
        return before - after

    def log_ingest(
        self,
        *,
        provider: str,
        status: str,
        kind: str | None = None,
        source: str | None = None,
        symbol: str | None = None,
        rows_in: int | None = None,
        rows_stored: int | None = None,
        rows_rejected: int | None = None,
        message: str | None = None,
    ) -> None:
        self.con.execute(
            "INSERT INTO ingest_log (logged_at, provider, kind, source, symbol, rows_in, rows_stored, rows_rejected, "
            "status, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [utcnow(), provider, kind, source, symbol, rows_in, rows_stored, rows_rejected, status, message],
        )

    def record_rejections(self, rows: pl.DataFrame, *, provider: str) -> int:
        """Store failing rows apart from the main tables, set-based. ``rows`` has kind, key, expectation and
        optionally source, column_name and value columns; ledger ids follow the frame's order."""
        if rows.height == 0:
            return 0
        text = [c for c in ("source", "key", "column_name", "value") if c not in rows.columns]
        ledger = rows.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in text).select(
            pl.int_range(pl.len(), dtype=pl.Int64).alias("_i"),
            *(pl.col(c).cast(pl.String) for c in ("source", "kind", "key", "expectation", "column_name", "value")),
        )
        with self.transaction(), self.registered("_rejections", ledger) as name:
            self.con.execute(
                "INSERT INTO rejected_rows (rejected_at, provider, source, kind, key, expectation, column_name, value) "
                f"SELECT ?, ?, source, kind, key, expectation, column_name, value FROM {name} ORDER BY _i",
                [utcnow(), provider],
            )
        return rows.height

    def rejected_rows(self, *, include_resolved: bool = False) -> pl.DataFrame:
        """The rejection ledger in id order; without ``include_resolved`` only the rows still kept out."""
        cols = "rejected_at, provider, source, kind, key, column_name, expectation, value"
        if include_resolved:
            return self.query(f"SELECT {cols}, resolved_at FROM rejected_rows ORDER BY id")
        return self.query(f"SELECT {cols} FROM rejected_rows WHERE resolved_at IS NULL ORDER BY id")

    def held_row_count(self) -> int:
        """Rows still kept out: one rejected row can fail several expectations, so count rows (source and key),
        not failing values; a rejection that a later load resolved no longer keeps anything out."""
        return int(
            self.scalar("SELECT count(DISTINCT (source, kind, key)) FROM rejected_rows WHERE resolved_at IS NULL") or 0
        )

    def open_rejection_count(self, provider: str) -> int:
        """Unresolved ledger entries (failing values) of one provider."""
        return int(
            self.scalar("SELECT count(*) FROM rejected_rows WHERE provider = ? AND resolved_at IS NULL", [provider])
        )
