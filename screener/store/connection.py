"""The connection to the DuckDB file: opening it, transactions, schema migrations and the raw query helpers.

Why the raw helpers live only here: the store package is the one place that speaks SQL. Every other module asks the
store a question by name, so a table's shape and its point-in-time rules change in one room.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Self

import duckdb
import polars as pl

from screener.contract import known_from
from screener.errors import ArgumentError, Option, ScreenerError, StoreLockedError
from screener.paths import default_db_path
from screener.store.migrations import LATEST_VERSION, MIGRATIONS


def utcnow() -> datetime:
    """Naive UTC timestamp: DuckDB ``TIMESTAMP`` has no zone and the store speaks UTC throughout."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def resolve_db_path(path: str | os.PathLike[str] | None) -> Path:
    if path:
        return Path(path).expanduser()
    env = os.environ.get("SCREENER_DB")
    if env:
        return Path(env).expanduser()
    return default_db_path()


class StoreBase:
    """An open DuckDB file with the schema at the latest version; the concerns add their methods on top.

    Use as a context manager; ``transaction()`` wraps a group of writes so that they land together or not at all.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, read_only: bool = False) -> None:
        self.path = resolve_db_path(path)
        self.read_only = read_only
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.exists():
            raise ScreenerError(f"no store at {self.path}: run 'screener init' (or 'screener demo') first")
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as exc:
            msg = str(exc)
            if "lock" in msg.lower():
                raise StoreLockedError(
                    f"the store {self.path} is in use by another process; close it (or wait for it) and retry"
                ) from None
            raise ScreenerError(f"cannot open the store {self.path}: {msg.splitlines()[0]}") from None
        except duckdb.Error as exc:
            raise ScreenerError(f"cannot open the store {self.path}: {str(exc).splitlines()[0]}") from None
        self._in_tx = False
        self._tx_inputs = False
        if not read_only:
            self.migrate()
        elif self.schema_version() < LATEST_VERSION:
            raise ScreenerError(f"the store {self.path} needs an upgrade: run 'screener init'")

    # -- lifecycle -------------------------------------------------------------------------------------------
    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self, *, inputs: bool = True) -> Iterator[Self]:
        """All writes inside land together or not at all; nested use joins the outer transaction.

        ``inputs`` says whether the writes can change what scores read (market data, tags, the universe). Such a
        transaction bumps the store's data version as it commits, in the same commit, so a score set stored
        under an older version is known to be out of date without hashing a single row (``data_version``).
        Writes of derived results (score sets, runs, backtests) pass ``inputs=False``: storing a score set must
        not make it stale. When in doubt a write bumps: a needless recompute is slow, a stale score is wrong.
        """
        if self._in_tx:
            self._tx_inputs = self._tx_inputs or inputs
            yield self
            return
        self.con.execute("BEGIN TRANSACTION")
        self._in_tx = True
        self._tx_inputs = inputs
        try:
            yield self
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            if self._tx_inputs:
                self.con.execute("UPDATE store_state SET data_version = data_version + 1")
            self.con.execute("COMMIT")
        finally:
            self._in_tx = False
            self._tx_inputs = False

    def mark_inputs_changed(self) -> None:
        """Inside a transaction opened with ``inputs=False`` by a write that counts what it changed: it did change
        score inputs, so the commit bumps the data version. A write that changed nothing leaves stored scores
        current (a re-import of the same files)."""
        if self._in_tx:
            self._tx_inputs = True

    def data_version(self) -> int:
        """The store's data version: it grows with every committed write of score inputs (``transaction``)."""
        return int(self.scalar("SELECT data_version FROM store_state"))

    @contextmanager
    def registered(self, name: str, frame: pl.DataFrame) -> Iterator[str]:
        """Expose ``frame`` to SQL as ``name`` for set-based writes, and always drop it afterwards.

        In an aborted transaction DuckDB refuses ``unregister``; the rollback drops the view anyway, and the
        original error, not that refusal, is what the caller must see.
        """
        self.con.register(name, frame.to_arrow())
        try:
            yield name
        finally:
            with suppress(duckdb.Error):
                self.con.unregister(name)

    # -- schema ----------------------------------------------------------------------------------------------
    def schema_version(self) -> int:
        if not self.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"):
            return 0
        version = self.scalar("SELECT max(version) FROM schema_version")
        return int(version) if version is not None else 0

    def migrate(self, migrations: Sequence[tuple[int, str, str]] = MIGRATIONS) -> int:
        """Apply every migration above the stored version, each in its own transaction; return the new version."""
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, description VARCHAR, "
            "applied_at TIMESTAMP)"
        )
        current = self.schema_version()
        known = max((v for v, _, _ in migrations), default=0)
        if current > known:
            raise ArgumentError(
                f"the store {self.path} is at schema v{current}, newer than this version of screener knows "
                f"(v{known}); upgrade screener or use another ",
                Option("db"),
            )
        for version, description, sql in sorted(migrations, key=lambda m: m[0]):
            if version <= current:
                continue
            try:
                # a migration bumps the data version in its own SQL if it changes what scores read (the counter
                # itself only exists from v9 on)
                with self.transaction(inputs=False):
                    self.con.execute(sql)
                    self.con.execute("INSERT INTO schema_version VALUES (?, ?, ?)", [version, description, utcnow()])
            except duckdb.Error as exc:
                # The failed step rolled back whole: the store is still a consistent v{current}.
                raise ScreenerError(
                    f"cannot upgrade the store {self.path} to schema v{version} ({description}): "
                    f"{str(exc).splitlines()[0]}; it is unchanged at v{current}"
                ) from exc
            current = version
        return current

    # -- reading ---------------------------------------------------------------------------------------------
    def known_events(self, symbol: str | None, as_of: date) -> pl.DataFrame:
        """Events (date, provider, load time) known on ``as_of``, of one symbol or all (``contract.known_from``):
        here because market reads and run metadata both count events, and must count the same ones."""
        where, params = ("symbol = ? AND date <= ?", [symbol, as_of]) if symbol else ("date <= ?", [as_of])
        rows = self.query(f"SELECT date, date_precision, provider, loaded_at FROM events WHERE {where}", params)
        return rows.filter(known_from(pl.col("date"), pl.col("date_precision")) <= as_of).drop("date_precision")

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
        """Run a parameterised query and return a polars frame (values are always bound, never pasted).

        The result crosses over through the Arrow C stream interface, which polars reads directly: DuckDB's own
        ``.pl()`` goes through pyarrow, whose import alone costs a short command (``screener weekly``) a fifth of
        its time."""
        relation = self.con.sql(sql, params=list(params) if params else None)
        if not hasattr(relation, "__arrow_c_stream__"):  # a DuckDB without the interface: its own way
            return relation.pl()
        return pl.DataFrame(relation)

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Fetch every row: DuckDB 2 refuses new work on a connection while a result is left half-read."""
        return self.con.execute(sql, list(params) if params else []).fetchall()

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        rows = self.rows(sql, params)
        return rows[0][0] if rows else None
