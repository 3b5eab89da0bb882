"""The store's ledgers: the ingest log and the rejected rows (with their resolution when a later load fixes a key).

Why apart from the market tables: these rows describe loads, not the market; they are appended, never merged.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from screener.store.connection import StoreBase, utcnow

#: What makes two rejections of one provider the same (besides the provider): the file or source, the kind, the
#: row (by its key), the column and expectation that failed, and the value. ``record_rejections`` keeps one open
#: ledger entry per identity and occurrence.
REJECTION_IDENTITY: tuple[str, ...] = ("source", "kind", "key", "column_name", "expectation", "value")
#: Draws ``?`` ledger ids from the sequence in one statement: the first, the last and how many (``_append_rejections``).
DRAW_REJECTION_IDS = "SELECT min(v), max(v), count(*) FROM (SELECT nextval('seq_rejected') AS v FROM range(?))"


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
        # the ledger is not a score input: resolving a rejection leaves the data version as it is
        with self.transaction(inputs=False), self.registered("_resolved_keys", keys) as name:
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
        """Store failing rows apart from the main tables, set-based; return how many ledger entries were added.
        ``rows`` has kind, key, expectation and optionally source, column_name and value columns; ledger ids follow
        the frame's order.

        A rejection already open in the ledger is not recorded again: its identity is ``REJECTION_IDENTITY`` (who
        sent it, from which file or source, which row by its key, why, and the value that failed). Offering the
        same bad file twice (``import --quarantine`` run again, a refresh that fetches the same bad day) therefore
        adds nothing, and the open entry keeps the time it was first rejected. The match counts: when a load
        offers three identical failures and two are open, one is added. Done in the one ``INSERT``, against the
        open entries of the kinds offered, never row by row."""
        if rows.height == 0:
            return 0
        text = [c for c in ("source", "key", "column_name", "value") if c not in rows.columns]
        ledger = rows.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in text).select(
            pl.int_range(pl.len(), dtype=pl.Int64).alias("_i"),
            *(pl.col(c).cast(pl.String) for c in ("source", "kind", "key", "expectation", "column_name", "value")),
        )
        identity = ", ".join(REJECTION_IDENTITY)
        same = " AND ".join(f"o.{c} IS NOT DISTINCT FROM r.{c}" for c in REJECTION_IDENTITY)
        # the ledger is not a score input: recording a rejection leaves the data version as it is
        with self.transaction(inputs=False), self.registered("_rejections", ledger) as name:
            kinds = ledger["kind"].unique().to_list()
            open_here = self.scalar(
                "SELECT count(*) FROM rejected_rows WHERE resolved_at IS NULL AND provider = ? "
                "AND list_contains(?, kind)",
                [provider, kinds],
            )
            if not open_here:
                # nothing of this provider and these kinds is open, so every row is new: one plain append (the
                # match below costs a first quarantine of 1.5 million failing values more than the append itself)
                return self._append_rejections(name, ledger.height, provider)
            added = self.con.execute(
                "INSERT INTO rejected_rows (rejected_at, provider, source, kind, key, expectation, column_name, value) "
                "SELECT ?, ?, r.source, r.kind, r.key, r.expectation, r.column_name, r.value FROM "
                f"(SELECT *, row_number() OVER (PARTITION BY {identity} ORDER BY _i) AS _n FROM {name}) r "
                f"LEFT JOIN (SELECT {identity}, count(*) AS _open FROM rejected_rows WHERE resolved_at IS NULL "
                f"AND provider = ? AND kind IN (SELECT DISTINCT kind FROM {name}) GROUP BY ALL) o ON {same} "
                "WHERE r._n > coalesce(o._open, 0) ORDER BY r._i",
                [utcnow(), provider, provider],
            ).fetchall()
        return int(added[0][0]) if added else 0

    def _append_rejections(self, name: str, count: int, provider: str) -> int:
        """Append the registered ledger ``name`` (``count`` rows, ``_i`` their order) whole; return the rows added.

        Why the ids are reserved first: ids follow the frame's order, which an ``ORDER BY`` would give by sorting
        every row with its texts (a third of the append for 1.5 million failing values). The sequence hands out
        ``count`` ids in one statement instead, and each row takes the first plus its place. The write lock is held,
        so nobody else draws from the sequence meanwhile and the ids are consecutive (checked; if they were not, the
        rows are sorted as before and the ids drawn are left unused). The sequence stays ahead of every id stored, as
        for any other append."""
        first, last, drawn = self.con.execute(DRAW_REJECTION_IDS, [count]).fetchone() or (None, None, 0)
        columns = "rejected_at, provider, source, kind, key, expectation, column_name, value"
        if drawn == count and first is not None and last - first + 1 == count:
            sql = (
                f"INSERT INTO rejected_rows (id, {columns}) SELECT ? + _i, ?, ?, source, kind, key, expectation, "
                f"column_name, value FROM {name}"
            )
            added = self.con.execute(sql, [first, utcnow(), provider]).fetchall()
        else:
            sql = (
                f"INSERT INTO rejected_rows ({columns}) SELECT ?, ?, source, kind, key, expectation, column_name, "
                f"value FROM {name} ORDER BY _i"
            )
            added = self.con.execute(sql, [utcnow(), provider]).fetchall()
        return int(added[0][0]) if added else 0

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
