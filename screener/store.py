"""The DuckDB store: the only module that persists anything.

Why one class owns every write: each write must be a single transaction (an import with one bad row changes
nothing), every row must carry its provider and load time, and a failed or empty provider answer must never erase
what is stored. Centralising writes here keeps those three promises in one place.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from screener.contract import KINDS, ROLES
from screener.errors import ScreenerError, StoreLockedError
from screener.migrations import LATEST_VERSION, MIGRATIONS
from screener.paths import default_db_path

#: Columns per table that are bookkeeping rather than contract data.
_VALUE_TABLES = ("fundamentals", "prices", "fx", "events")


def utcnow() -> datetime:
    """Naive UTC timestamp: DuckDB ``TIMESTAMP`` has no zone and the store speaks UTC throughout."""
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def resolve_db_path(path: str | os.PathLike[str] | None) -> Path:
    if path:
        return Path(path).expanduser()
    env = os.environ.get("SCREENER_DB")
    if env:
        return Path(env).expanduser()
    return default_db_path()


class Store:
    """An open DuckDB file with the schema at the latest version.

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
        if not read_only:
            self.migrate()
        elif self.schema_version() < LATEST_VERSION:
            raise ScreenerError(f"the store {self.path} needs an upgrade: run 'screener init'")

    # -- lifecycle -------------------------------------------------------------------------------------------
    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """All writes inside land together or not at all; nested use joins the outer transaction."""
        if self._in_tx:
            yield self
            return
        self.con.execute("BEGIN TRANSACTION")
        self._in_tx = True
        try:
            yield self
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")
        finally:
            self._in_tx = False

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
        for version, description, sql in migrations:
            if version <= current:
                continue
            with self.transaction():
                self.con.execute(sql)
                self.con.execute(
                    "INSERT INTO schema_version VALUES (?, ?, ?)", [version, description, utcnow()]
                )
            current = version
        return current

    # -- reading ---------------------------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
        """Run a parameterised query and return a polars frame (values are always bound, never pasted)."""
        return self.con.sql(sql, params=list(params) if params else None).pl()

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Fetch every row: DuckDB 2 refuses new work on a connection while a result is left half-read."""
        return self.con.execute(sql, list(params) if params else []).fetchall()

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        rows = self.rows(sql, params)
        return rows[0][0] if rows else None

    def companies(self) -> pl.DataFrame:
        """The universe in contract shape, roles as a ``;`` string in canonical order, plus origin and provider."""
        order = {r: i for i, r in enumerate(ROLES)}
        tags = self.query("SELECT symbol, role FROM role_tags")
        base = self.query(
            "SELECT symbol, name, country, currency, segment, stage, gov_backing, description, source, origin, "
            "provider, loaded_at FROM companies ORDER BY symbol"
        )
        if tags.height:
            roles = (
                tags.with_columns(pl.col("role").replace_strict(order, return_dtype=pl.Int32).alias("o"))
                .sort(["symbol", "o"])
                .group_by("symbol", maintain_order=True)
                .agg(pl.col("role").str.join(";").alias("roles"))
            )
        else:
            roles = pl.DataFrame(schema={"symbol": pl.String, "roles": pl.String})
        out = base.join(roles, on="symbol", how="left").with_columns(pl.col("roles").fill_null(""))
        cols = ["symbol", "name", "country", "currency", "roles", "segment", "stage", "gov_backing", "description",
                "source", "origin", "provider", "loaded_at"]
        return out.select(cols)

    def frame(self, kind: str, symbols: Iterable[str] | None = None) -> pl.DataFrame:
        """All stored rows of a kind in contract column order plus ``provider`` and ``loaded_at``."""
        if kind == "companies":
            df = self.companies()
        else:
            cols = ", ".join(KINDS[kind].names + ["provider", "loaded_at"])
            key = ", ".join(KINDS[kind].key)
            df = self.query(f"SELECT {cols} FROM {kind} ORDER BY {key}")  # noqa: S608 - names from the contract
        if symbols is not None and "symbol" in df.columns:
            df = df.filter(pl.col("symbol").is_in(list(symbols)))
        return df

    def counts(self) -> dict[str, int]:
        tables = ["companies", "role_tags", "fundamentals", "prices", "fx", "events"]
        return {t: int(self.scalar(f"SELECT count(*) FROM {t}")) for t in tables}  # noqa: S608

    def providers(self) -> dict[str, list[str]]:
        """Which providers fed each table: the demo banner and the export's provider mix come from here."""
        out: dict[str, list[str]] = {}
        for t in ("companies", *_VALUE_TABLES):
            out[t] = [r[0] for r in self.con.execute(f"SELECT DISTINCT provider FROM {t} ORDER BY 1").fetchall()]  # noqa: S608
        return out

    def uses_demo_data(self) -> bool:
        return any("demo" in v for k, v in self.providers().items() if k != "companies")

    # -- writing ---------------------------------------------------------------------------------------------
    def upsert(
        self,
        kind: str,
        frame: pl.DataFrame,
        provider: str,
        *,
        keep_existing_on_null: bool = False,
        origin: str = "user",
        loaded_at: datetime | None = None,
    ) -> int:
        """Insert or update rows of a contract kind on its key; return the number of rows written.

        ``keep_existing_on_null`` makes a missing value mean "unknown": the stored value survives. Live providers
        use it so that a gap in Yahoo's answer can never erase data.
        """
        if frame.height == 0:
            return 0
        spec = KINDS[kind]
        stamp = loaded_at or utcnow()
        if kind == "companies":
            return self._upsert_companies(frame, provider, origin, stamp)
        cols = [c for c in spec.names if c in frame.columns]
        incoming = frame.select(cols).with_columns(
            pl.lit(provider).alias("provider"), pl.lit(stamp).cast(pl.Datetime("us")).alias("loaded_at")
        )
        extra: list[str] = []
        if kind == "events":
            incoming = incoming.with_columns(pl.lit(origin).alias("origin"))
            extra = ["origin"]
        all_cols = cols + extra + ["provider", "loaded_at"]
        value_cols = [c for c in all_cols if c not in spec.key]
        if keep_existing_on_null:
            sets = ", ".join(f"{c} = COALESCE(excluded.{c}, {kind}.{c})" for c in value_cols)
        else:
            sets = ", ".join(f"{c} = excluded.{c}" for c in value_cols)
        collist = ", ".join(all_cols)
        with self.transaction():
            self.con.register("_incoming", incoming.to_arrow())
            try:
                self.con.execute(
                    f"INSERT INTO {kind} ({collist}) SELECT {collist} FROM _incoming "  # noqa: S608
                    f"ON CONFLICT ({', '.join(spec.key)}) DO UPDATE SET {sets}"
                )
            finally:
                self.con.unregister("_incoming")
        return frame.height

    def _upsert_companies(self, frame: pl.DataFrame, provider: str, origin: str, stamp: datetime) -> int:
        cols = ["symbol", "name", "country", "currency", "segment", "stage", "gov_backing", "description", "source"]
        present = [c for c in cols if c in frame.columns]
        with self.transaction():
            for row in frame.iter_rows(named=True):
                values = [row.get(c) for c in present]
                placeholders = ", ".join("?" for _ in present)
                sets = ", ".join(f"{c} = excluded.{c}" for c in present if c != "symbol")
                self.con.execute(
                    f"INSERT INTO companies ({', '.join(present)}, origin, provider, loaded_at) "  # noqa: S608
                    f"VALUES ({placeholders}, ?, ?, ?) ON CONFLICT (symbol) DO UPDATE SET {sets}, "
                    "origin = excluded.origin, provider = excluded.provider, loaded_at = excluded.loaded_at",
                    [*values, origin, provider, stamp],
                )
                if "roles" in row and row["roles"] is not None:
                    wanted = [r for r in str(row["roles"]).split(";") if r]
                    actor = "bundled" if origin == "bundled" else "import"
                    self.replace_roles(row["symbol"], wanted, source=row.get("source") or provider, actor=actor,
                                       origin=origin, at=stamp)
        return frame.height

    def current_roles(self, symbol: str) -> list[str]:
        rows = self.con.execute("SELECT role FROM role_tags WHERE symbol = ?", [symbol]).fetchall()
        return sorted((r[0] for r in rows), key=ROLES.index)

    def replace_roles(self, symbol: str, roles: Sequence[str], *, source: str | None, actor: str, origin: str,
                      at: datetime | None = None) -> None:
        """Make the symbol's tags exactly ``roles``, recording each add and remove in the history."""
        have = set(self.current_roles(symbol))
        want = set(roles)
        self.change_tags(symbol, add=sorted(want - have), remove=sorted(have - want), source=source, actor=actor,
                         origin=origin, at=at)

    def change_tags(self, symbol: str, *, add: Sequence[str] = (), remove: Sequence[str] = (), source: str | None,
                    actor: str, origin: str = "user", at: datetime | None = None) -> None:
        stamp = at or utcnow()
        with self.transaction():
            for role in add:
                self.con.execute(
                    "INSERT INTO role_tags VALUES (?, ?, ?, ?, ?) ON CONFLICT (symbol, role) DO UPDATE SET "
                    "origin = excluded.origin, source = excluded.source, tagged_at = excluded.tagged_at",
                    [symbol, role, origin, source, stamp],
                )
                self._history(symbol, role, "add", actor, source, stamp)
            for role in remove:
                self.con.execute("DELETE FROM role_tags WHERE symbol = ? AND role = ?", [symbol, role])
                self._history(symbol, role, "remove", actor, source, stamp)

    def _history(self, symbol: str, role: str, action: str, actor: str, source: str | None, at: datetime) -> None:
        self.con.execute(
            "INSERT INTO role_tag_history (symbol, role, action, actor, source, changed_at) VALUES (?, ?, ?, ?, ?, ?)",
            [symbol, role, action, actor, source, at],
        )

    def tag_history(self, symbol: str | None = None) -> pl.DataFrame:
        sql = "SELECT id, symbol, role, action, actor, source, changed_at FROM role_tag_history"
        if symbol:
            return self.query(sql + " WHERE symbol = ? ORDER BY id", [symbol])
        return self.query(sql + " ORDER BY id")

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
            "INSERT INTO ingest_log (logged_at, provider, kind, source, symbol, rows_in, rows_stored, rows_rejected, status,"
            " message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [utcnow(), provider, kind, source, symbol, rows_in, rows_stored, rows_rejected, status, message],
        )

    def record_rejections(self, rows: pl.DataFrame, *, provider: str) -> int:
        """Store failing rows apart from the main tables. ``rows`` has kind, source, key, expectation,
        column_name and value columns (strings)."""
        if rows.height == 0:
            return 0
        stamp = utcnow()
        with self.transaction():
            for r in rows.iter_rows(named=True):
                self.con.execute(
                    "INSERT INTO rejected_rows (rejected_at, provider, source, kind, key, expectation, column_name, value) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [stamp, provider, r.get("source"), r["kind"], r.get("key"), r["expectation"],
                     r.get("column_name"), None if r.get("value") is None else str(r.get("value"))],
                )
        return rows.height

    # -- scores ----------------------------------------------------------------------------------------------
    def save_scores(self, as_of: date, frame: pl.DataFrame, *, demo: bool, inputs_hash: str | None = None) -> None:
        """Replace the score set of one as-of date. Parquet keeps every dtype (lists of flags included)."""
        buf = io.BytesIO()
        frame.write_parquet(buf)
        with self.transaction():
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

    def score_set_info(self, as_of: date) -> dict[str, Any] | None:
        rows = self.rows(
            "SELECT as_of, computed_at, demo, n_companies, inputs_hash FROM score_sets WHERE as_of = ?", [as_of]
        )
        if not rows:
            return None
        return dict(zip(["as_of", "computed_at", "demo", "n_companies", "inputs_hash"], rows[0], strict=True))


@contextmanager
def open_store(path: str | os.PathLike[str] | None = None, *, read_only: bool = False) -> Iterator[Store]:
    store = Store(path, read_only=read_only)
    try:
        yield store
    finally:
        store.close()
