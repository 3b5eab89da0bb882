"""News headlines and the inbox decisions taken on them: the SQL behind ``screener events``.

Why a table of its own and not rows of ``events``: a headline is a claim someone published, an event is a fact a
user accepted. Scores read events only, so a headline can never move a score until ``screener events accept``
turns it into one (through the events intake, like every other event).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import polars as pl

from screener.store.connection import StoreBase, utcnow
from screener.store.market import UpsertResult

#: The stored columns of a headline, in table order (``loaded_at`` is the store's own).
HEADLINE_COLUMNS: tuple[str, ...] = (
    "id",
    "symbol",
    "headline",
    "publisher",
    "link",
    "published_at",
    "provider",
    "source",
)
HEADLINE_SCHEMA: dict[str, Any] = {
    "id": pl.String,
    "symbol": pl.String,
    "headline": pl.String,
    "publisher": pl.String,
    "link": pl.String,
    "published_at": pl.Datetime("us"),
    "provider": pl.String,
    "source": pl.String,
}


def _inbox_filter(since: date | None, only_new: bool) -> tuple[str, list[Any]]:
    """The WHERE clause (with a trailing space, or empty) and its values for the inbox's headline reads."""
    conditions: list[str] = []
    params: list[Any] = []
    if since:
        conditions.append("CAST(h.published_at AS DATE) >= ?")
        params.append(since)
    if only_new:
        conditions.append("d.headline_id IS NULL")
    return (f"WHERE {' AND '.join(conditions)} " if conditions else ""), params


class Headlines(StoreBase):
    """Stored headlines (``headlines``) and accepted candidates (``headline_decisions``)."""

    def upsert_headlines(self, frame: pl.DataFrame, *, loaded_at: datetime | None = None) -> UpsertResult:
        """Store headlines not stored yet (by ``id``); a headline already stored is left as it was.

        Why never replace: the id is a hash of what the provider said, so the same id is the same headline, and
        its first load time is when the store first knew it."""
        if frame.height == 0:
            return UpsertResult(0)
        stamp = loaded_at or utcnow()
        rows = frame.select([pl.col(c).cast(t) for c, t in HEADLINE_SCHEMA.items()]).unique("id", keep="first")
        with self.transaction(inputs=False), self.registered("_headlines_in", rows) as name:
            before = int(self.scalar("SELECT count(*) FROM headlines"))
            cols = ", ".join(HEADLINE_COLUMNS)
            self.con.execute(
                f"INSERT INTO headlines ({cols}, loaded_at) SELECT {cols}, ? FROM {name} "
                "WHERE id NOT IN (SELECT id FROM headlines)",
                [stamp],
            )
            stored = int(self.scalar("SELECT count(*) FROM headlines")) - before
        return UpsertResult(stored)

    def stored_headlines(
        self, since: date | None = None, *, only_new: bool = False, limit: int | None = None
    ) -> pl.DataFrame:
        """Stored headlines published on or after ``since`` (UTC date), newest first, ties by id; each with
        ``accepted`` (whether a decision holds it). ``only_new`` leaves out the accepted ones; ``limit`` keeps the
        first ``limit`` rows of that order (the newest)."""
        where, params = _inbox_filter(since, only_new)
        bound = ""
        if limit is not None:
            bound = " LIMIT ?"
            params.append(int(limit))
        cols = ", ".join(f"h.{c}" for c in HEADLINE_COLUMNS)
        frame = self.query(
            f"SELECT {cols}, h.loaded_at, d.headline_id IS NOT NULL AS accepted FROM headlines h "
            f"LEFT JOIN headline_decisions d ON d.headline_id = h.id {where}"
            f"ORDER BY h.published_at DESC, h.id{bound}",
            params,
        )
        if frame.height == 0:
            return pl.DataFrame(schema={**HEADLINE_SCHEMA, "loaded_at": pl.Datetime("us"), "accepted": pl.Boolean})
        return frame

    def count_headlines(self, since: date | None = None, *, only_new: bool = False) -> int:
        """How many headlines ``stored_headlines(since, only_new=...)`` would list without a limit."""
        where, params = _inbox_filter(since, only_new)
        return int(
            self.scalar(
                f"SELECT count(*) FROM headlines h LEFT JOIN headline_decisions d ON d.headline_id = h.id {where}",
                params,
            )
        )

    def event_with_key(self, symbol: str, on: date, kind: str, description: str) -> dict[str, Any] | None:
        """The stored event with this key (symbol, date, kind, description), with its provider and source; None
        when there is none."""
        rows = self.query(
            "SELECT symbol, date, kind, description, provider, source FROM events "
            "WHERE symbol = ? AND date = ? AND kind = ? AND description = ?",
            [symbol, on, kind, description],
        )
        return rows.row(0, named=True) if rows.height else None

    def headline(self, headline_id: str) -> dict[str, Any] | None:
        """One stored headline by id, or None."""
        cols = ", ".join(HEADLINE_COLUMNS)
        rows = self.query(f"SELECT {cols} FROM headlines WHERE id = ?", [headline_id])
        return rows.row(0, named=True) if rows.height else None

    def headline_decision(self, headline_id: str) -> dict[str, Any] | None:
        """The accepted event a headline became, or None while it waits in the inbox."""
        rows = self.query("SELECT * FROM headline_decisions WHERE headline_id = ?", [headline_id])
        return rows.row(0, named=True) if rows.height else None

    def record_decision(
        self,
        headline_id: str,
        event: dict[str, Any],
        *,
        probability: float | None,
        model_version: str,
        edited: str | None,
    ) -> None:
        """Record that ``headline_id`` was accepted as ``event`` (its key columns); call inside the transaction
        that stores the event, so the two land together or not at all."""
        self.con.execute(
            "INSERT INTO headline_decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                headline_id,
                event["symbol"],
                event["date"],
                event["kind"],
                event["description"],
                probability,
                model_version,
                edited,
                utcnow(),
            ],
        )

    def universe_names(self) -> pl.DataFrame:
        """Symbol and name of every company in the universe, by symbol: what headlines are matched against."""
        return self.query("SELECT symbol, name FROM companies ORDER BY symbol")
