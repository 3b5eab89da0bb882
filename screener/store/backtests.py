"""Stored backtests: one row per finished backtest, its parameters as JSON text and the whole result as a blob.

Why here: ``screener backtest --show`` and ``--list`` read back what a run stored, so the table's shape and what
"latest" means are defined once, beside the table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from screener.store.connection import StoreBase

#: The columns of a stored backtest, in the order ``backtest_row`` returns them.
BACKTEST_COLS = "id, created_at, rules_name, rules_hash, params, demo, n_dates, payload"


class Backtests(StoreBase):
    """Reads and writes of stored backtests."""

    def save_backtest(
        self,
        *,
        created_at: datetime,
        rules_name: str,
        rules_hash: str,
        params: str,
        demo: bool,
        n_dates: int,
        payload: bytes,
    ) -> int:
        """Store one backtest in one transaction and return its id (ids only grow: a backtest is never replaced)."""
        with self.transaction(inputs=False):
            backtest_id = int(self.scalar("SELECT nextval('seq_backtest')"))
            self.con.execute(
                f"INSERT INTO backtests ({BACKTEST_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [backtest_id, created_at, rules_name, rules_hash, params, demo, n_dates, payload],
            )
        return backtest_id

    def backtest_row(self, backtest_id: int) -> tuple[Any, ...] | None:
        """One stored backtest's ``BACKTEST_COLS``, or None when no backtest has this id."""
        rows = self.rows(f"SELECT {BACKTEST_COLS} FROM backtests WHERE id = ?", [backtest_id])
        return rows[0] if rows else None

    def backtest_ids(self) -> list[int]:
        """Every stored backtest id, oldest first; the last is the latest."""
        return [int(r[0]) for r in self.rows("SELECT id FROM backtests ORDER BY id")]

    def backtest_list(self) -> pl.DataFrame:
        """Every stored backtest (``BACKTEST_COLS``), newest first."""
        return self.query(f"SELECT {BACKTEST_COLS} FROM backtests ORDER BY id DESC")
