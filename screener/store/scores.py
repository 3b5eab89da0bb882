"""Score sets in the store: one stored frame per as-of date, so that ``show`` and ``export`` read what was scored."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import polars as pl

from screener.store.connection import StoreBase, utcnow

#: Rows per Parquet row group of a stored score set. A set is sorted by symbol, so each group's min/max statistics
#: let a one-company read (``screener show``) decode one group of 8,192 rows instead of all 50,000 (a fifth of the
#: decode), for 3% more bytes than one group. Sets stored with one group still read the same.
SCORE_ROW_GROUP = 8192


class Scores(StoreBase):
    """The score sets, one per as-of date."""

    def save_scores(self, as_of: date, frame: pl.DataFrame, *, demo: bool, inputs_hash: str | None = None) -> None:
        """Replace the score set of one as-of date. Parquet keeps every dtype (lists of flags included)."""
        buf = io.BytesIO()
        frame.write_parquet(buf, row_group_size=SCORE_ROW_GROUP)
        with self.transaction(inputs=False):
            self.con.execute("DELETE FROM score_sets WHERE as_of = ?", [as_of])
            self.con.execute(
                "INSERT INTO score_sets VALUES (?, ?, ?, ?, ?, ?)",
                [as_of, utcnow(), demo, frame.height, inputs_hash, buf.getvalue()],
            )

    def load_scores(self, as_of: date | None = None) -> tuple[date, pl.DataFrame] | None:
        """The score set for ``as_of`` (or the newest one); ``None`` when nothing was scored yet."""
        if as_of is None:
            rows = self.rows("SELECT as_of, payload FROM score_sets ORDER BY as_of DESC LIMIT 1")
        else:
            rows = self.rows("SELECT as_of, payload FROM score_sets WHERE as_of = ?", [as_of])
        if not rows:
            return None
        return rows[0][0], pl.read_parquet(io.BytesIO(rows[0][1]))

    def scan_scores(self, as_of: date) -> pl.LazyFrame | None:
        """The score set of ``as_of`` as a lazy scan of its stored Parquet; ``None`` when none is stored.

        Why lazy: a screen reads a handful of the set's columns and a company card one row of it; a scan decodes
        only the columns (and, given a filter, the row groups) the caller collects, where ``load_scores`` decodes
        every column of every company. The stored bytes are fetched once and every collect reads them.
        """
        rows = self.rows("SELECT payload FROM score_sets WHERE as_of = ?", [as_of])
        if not rows:
            return None
        return pl.scan_parquet(io.BytesIO(rows[0][0]))

    def score_set_dates(self) -> list[date]:
        """The as-of dates of the stored score sets, oldest first."""
        return [r[0] for r in self.rows("SELECT as_of FROM score_sets ORDER BY as_of")]

    def score_set_info(self, as_of: date) -> dict[str, Any] | None:
        rows = self.rows(
            "SELECT as_of, computed_at, demo, n_companies, inputs_hash FROM score_sets WHERE as_of = ?", [as_of]
        )
        if not rows:
            return None
        return dict(zip(["as_of", "computed_at", "demo", "n_companies", "inputs_hash"], rows[0], strict=True))
