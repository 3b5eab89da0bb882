"""Watchlist runs in the store: one stored ranking per rule set and ISO week, with its members and changes.

Why here: a run is what ``show``, ``diff`` and ``export`` read back, so its rows, its "latest" and its "previous"
are defined once, beside the tables they live in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import polars as pl

from screener.store.connection import StoreBase

#: The columns of a stored run, in the order ``run_row`` returns them.
RUN_COLS = "run_id, as_of, iso_week, rules_name, rules_hash, created_at, data_freshness, demo, payload, changes"
#: Tables whose rows feed a run, in the order the provenance lists them.
_MIX_TABLES = ("companies", "fundamentals", "prices", "fx", "events")


class Runs(StoreBase):
    """Reads and writes of the watchlist runs, and the provenance a run records."""

    def newest_dates(self, as_of: date, public: tuple[str, Sequence[Any]]) -> dict[str, date | None]:
        """The newest date of each kind of data visible on ``as_of``. ``public`` is the reporting-lag rule as a
        condition on fundamentals with its parameters (``factors.inputs.public_statements_sql``): the rule has one
        definition, and the store only runs it."""
        condition, params = public
        queries = (
            ("prices", "SELECT max(date) FROM prices WHERE date <= ?", [as_of]),
            ("fundamentals", f"SELECT max(period_end) FROM fundamentals WHERE {condition}", list(params)),
            ("fx", "SELECT max(date) FROM fx WHERE date <= ?", [as_of]),
        )
        newest: dict[str, date | None] = {table: self.scalar(sql, args) for table, sql, args in queries}
        # events count from the day they became known (a month-level date from the month's end)
        newest["events"] = self.known_events(None, as_of)["date"].max()
        return newest

    def provider_counts(self) -> dict[str, dict[str, int]]:
        """Rows per provider per table: where a run's numbers came from."""
        out: dict[str, dict[str, int]] = {}
        for table in _MIX_TABLES:
            rows = self.rows(f"SELECT provider, count(*) FROM {table} GROUP BY provider ORDER BY provider")
            out[table] = {p: int(n) for p, n in rows}
        return out

    def latest_run_id(self, rules_name: str | None = None) -> int | None:
        """The run with the latest as-of date (newest run id on a tie), of one rule set when ``rules_name`` is given."""
        rid = self.scalar(
            "SELECT run_id FROM watchlist_runs WHERE ? IS NULL OR rules_name = ? "
            "ORDER BY as_of DESC, run_id DESC LIMIT 1",
            [rules_name, rules_name],
        )
        return None if rid is None else int(rid)

    def run_exists(self, run_id: int) -> bool:
        """Whether a run id names a stored run: a mistyped ``--run`` must fail, not pick another run."""
        return bool(self.scalar("SELECT count(*) FROM watchlist_runs WHERE run_id = ?", [run_id]))

    def run_row(self, run_id: int) -> tuple[Any, ...] | None:
        """One run's ``RUN_COLS``."""
        rows = self.rows(f"SELECT {RUN_COLS} FROM watchlist_runs WHERE run_id = ?", [run_id])
        return rows[0] if rows else None

    def previous_run_row(self, rules_name: str, week: str) -> tuple[Any, ...] | None:
        """The latest run of the same rule set in an earlier ISO week."""
        rows = self.rows(
            f"SELECT {RUN_COLS} FROM watchlist_runs WHERE rules_name = ? AND iso_week < ? "
            "ORDER BY iso_week DESC, as_of DESC, run_id DESC LIMIT 1",
            [rules_name, week],
        )
        return rows[0] if rows else None

    def run_list(self) -> pl.DataFrame:
        """Every run with its member count, latest as-of first."""
        return self.query(
            "SELECT r.run_id, r.as_of, r.iso_week, r.rules_name AS rules, r.rules_hash, "
            "(SELECT count(*) FROM watchlist_members m WHERE m.run_id = r.run_id) AS members, r.created_at, r.demo, "
            "r.data_freshness FROM watchlist_runs r ORDER BY r.as_of DESC, r.rules_name, r.run_id DESC"
        )

    def save_run(
        self,
        *,
        as_of: date,
        week: str,
        rules_name: str,
        rules_hash: str,
        created_at: datetime,
        data_freshness: str,
        demo: bool,
        payload: bytes,
        changes: bytes,
        members: pl.DataFrame,
    ) -> tuple[int, bool]:
        """Store a run, replacing the same rule set's run of the same ISO week (a rerun keeps one list per week).

        ``members`` has rank, symbol and score. Returns the run id and whether an earlier run was replaced.
        """
        with self.transaction(inputs=False):
            existing = self.scalar(
                "SELECT run_id FROM watchlist_runs WHERE rules_name = ? AND iso_week = ?", [rules_name, week]
            )
            if existing is not None:
                run_id = int(existing)
                self.con.execute("DELETE FROM watchlist_members WHERE run_id = ?", [run_id])
                self.con.execute("DELETE FROM watchlist_runs WHERE run_id = ?", [run_id])
            else:
                run_id = int(self.scalar("SELECT nextval('seq_run')"))
            self.con.execute(
                "INSERT INTO watchlist_runs (run_id, as_of, iso_week, rules_name, rules_hash, created_at, "
                "data_freshness, demo, payload, changes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [run_id, as_of, week, rules_name, rules_hash, created_at, data_freshness, demo, payload, changes],
            )
            for r in members.iter_rows(named=True):
                self.con.execute(
                    "INSERT INTO watchlist_members VALUES (?, ?, ?, ?)", [run_id, r["rank"], r["symbol"], r["score"]]
                )
        return run_id, existing is not None
