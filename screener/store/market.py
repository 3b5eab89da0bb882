"""Market data in the store: companies and their role tags, fundamentals, prices, fx, events and splits.

Why one class owns every write: each write must be a single transaction (an import with one bad row changes
nothing), every row must carry its provider and load time, and a failed or empty provider answer must never erase
what is stored. Centralising writes here keeps those three promises in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from screener.contract import KINDS, ROLES
from screener.store.connection import StoreBase, utcnow

#: Columns per table that are bookkeeping rather than contract data.
_VALUE_TABLES = ("fundamentals", "prices", "fx", "events", "splits")

DEMO_PROVIDER = "demo"
#: Which provider's row wins a key, highest first. A user's own import (``file``) is what they vouch for, so a live
#: provider does not overwrite it unless asked to (``override``); the curated universe shipped with the product
#: (``bundled``) yields to both; synthetic demo rows yield to everything. Equal ranks: the latest load wins.
PROVIDER_PRECEDENCE: dict[str, int] = {"file": 30, "yahoo": 20, "bundled": 10, DEMO_PROVIDER: 0}
#: A provider missing from the table ranks as a live provider.
DEFAULT_PRECEDENCE = PROVIDER_PRECEDENCE["yahoo"]


def precedence(provider: str) -> int:
    """The rank of ``provider`` in ``PROVIDER_PRECEDENCE`` (higher wins)."""
    return PROVIDER_PRECEDENCE.get(provider, DEFAULT_PRECEDENCE)


def _rank_sql(column: str) -> str:
    """``PROVIDER_PRECEDENCE`` as a SQL CASE over ``column``: the table is the one definition, SQL only reads it."""
    whens = " ".join(
        f"WHEN '{name.replace(chr(39), chr(39) * 2)}' THEN {rank}" for name, rank in PROVIDER_PRECEDENCE.items()
    )
    return f"(CASE {column} {whens} ELSE {DEFAULT_PRECEDENCE} END)"


def _set_clause(table: str, value_cols: Sequence[str], keep_existing_on_null: bool, *, currency: bool) -> str:
    """The ``DO UPDATE SET`` list. With ``keep_existing_on_null`` a null keeps the stored value only when the stored
    row has the incoming row's provider (and currency): every value then still carries the provider that sent it."""
    if not keep_existing_on_null:
        return ", ".join(f"{c} = excluded.{c}" for c in value_cols)
    same = f"{table}.provider = excluded.provider"
    if currency:
        same += f" AND {table}.currency IS NOT DISTINCT FROM excluded.currency"
    return ", ".join(
        f"{c} = excluded.{c}"
        if c in ("provider", "loaded_at", "currency")
        else f"{c} = CASE WHEN {same} THEN COALESCE(excluded.{c}, {table}.{c}) ELSE excluded.{c} END"
        for c in value_cols
    )


@dataclass(frozen=True)
class UpsertResult:
    """What a real write did: rows stored, synthetic demo rows dropped, rows kept out by a higher-precedence
    provider's stored rows. Unpacks as ``(stored, dropped)`` so that two-name unpacking keeps working."""

    stored: int
    dropped: int = 0
    kept_out: int = 0

    def __iter__(self) -> Iterator[int]:
        return iter((self.stored, self.dropped))


class MarketData(StoreBase):
    """Reads and writes of the contract kinds, under the provider precedence."""

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
        cols = [
            "symbol",
            "name",
            "country",
            "currency",
            "roles",
            "segment",
            "stage",
            "gov_backing",
            "description",
            "source",
            "origin",
            "provider",
            "loaded_at",
        ]
        return out.select(cols)

    def frame(self, kind: str, symbols: Iterable[str] | None = None) -> pl.DataFrame:
        """All stored rows of a kind in contract column order plus ``provider`` and ``loaded_at``."""
        if kind == "companies":
            df = self.companies()
        else:
            cols = ", ".join([*KINDS[kind].names, "provider", "loaded_at"])
            key = ", ".join(KINDS[kind].key)
            df = self.query(f"SELECT {cols} FROM {kind} ORDER BY {key}")
        if symbols is not None and "symbol" in df.columns:
            df = df.filter(pl.col("symbol").is_in(list(symbols)))
        return df

    def counts(self) -> dict[str, int]:
        tables = ["companies", "role_tags", "fundamentals", "prices", "fx", "events", "splits"]
        return {t: int(self.scalar(f"SELECT count(*) FROM {t}")) for t in tables}

    def providers(self) -> dict[str, list[str]]:
        """Which providers fed each table: the demo banner and the export's provider mix come from here."""
        out: dict[str, list[str]] = {}
        for t in ("companies", *_VALUE_TABLES):
            out[t] = [r[0] for r in self.rows(f"SELECT DISTINCT provider FROM {t} ORDER BY 1")]
        return out

    def uses_demo_data(self) -> bool:
        return any("demo" in v for k, v in self.providers().items() if k != "companies")

    # -- writing ---------------------------------------------------------------------------------------------
    def upsert_real(
        self,
        kind: str,
        frame: pl.DataFrame,
        provider: str,
        *,
        origin: str = "user",
        loaded_at: datetime | None = None,
        override: bool = False,
    ) -> UpsertResult:
        """Store real rows under the provider precedence, and resolve earlier rejections of the keys stored.

        - A stored row whose provider ranks above ``provider`` (``PROVIDER_PRECEDENCE``) keeps its key: the incoming
          row is kept out and counted in ``kept_out``, unless ``override`` lets this provider replace it.
        - An incoming row merges into the stored one ("missing keeps stored") only when both come from the same
          provider in the same currency; otherwise it replaces the stored row whole. A row therefore never mixes
          two providers' values, and a value is never relabelled into another currency.
        - Real rows drop the synthetic demo series they touch first: one series must never interleave real and
          synthetic numbers, and a demo value must never survive under a real provider's name.

        Returns ``UpsertResult(stored, dropped, kept_out)``; it unpacks as ``stored, dropped``.
        """
        if frame.height == 0:
            return UpsertResult(0)
        dropped = 0
        stamp = loaded_at or utcnow()
        with self.transaction():
            if kind in ("fundamentals", "prices", "fx") and provider != DEMO_PROVIDER:
                col = "currency" if kind == "fx" else "symbol"
                values = sorted(frame[col].drop_nulls().unique().to_list())
                if values:
                    dropped = int(
                        self.scalar(
                            f"SELECT count(*) FROM {kind} WHERE provider = ? AND list_contains(?, {col})",
                            [DEMO_PROVIDER, values],
                        )
                    )
                    if dropped:
                        self.con.execute(
                            f"DELETE FROM {kind} WHERE provider = ? AND list_contains(?, {col})",
                            [DEMO_PROVIDER, values],
                        )
            kept = frame if override else self._outranked(kind, frame, provider)
            kept_out = frame.height - kept.height
            stored = self.upsert(kind, kept, provider, keep_existing_on_null=True, origin=origin, loaded_at=stamp)
            self.resolve_rejections(kind, kept, at=stamp)
        return UpsertResult(stored, dropped, kept_out)

    def _outranked(self, kind: str, frame: pl.DataFrame, provider: str) -> pl.DataFrame:
        """``frame`` without the rows whose key is stored by a provider of higher precedence (set-based)."""
        key = list(KINDS[kind].key)
        rank = precedence(provider)
        with self.registered("_incoming_keys", frame.select(key)) as name:
            blocked = self.query(
                f"SELECT DISTINCT {', '.join(f'i.{k}' for k in key)} FROM {name} i JOIN {kind} t "
                f"ON {' AND '.join(f't.{k} = i.{k}' for k in key)} WHERE {_rank_sql('t.provider')} > ?",
                [rank],
            )
        if blocked.height == 0:
            return frame
        return frame.join(blocked.cast(frame.select(key).schema), on=key, how="anti", nulls_equal=True)

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

        ``keep_existing_on_null`` makes a missing value mean "unknown": the stored value survives, but only when the
        stored row comes from the same provider in the same currency. Otherwise the row is replaced whole, because a
        kept value would be relabelled with another provider's name or another currency (AUD cash read as USD).
        Precedence between providers is ``upsert_real``'s business; this is the plain write beneath it.
        """
        if frame.height == 0:
            return 0
        spec = KINDS[kind]
        stamp = loaded_at or utcnow()
        if kind == "companies":
            return self._upsert_companies(frame, provider, origin, stamp, keep_existing_on_null)
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
        sets = _set_clause(kind, value_cols, keep_existing_on_null, currency="currency" in value_cols)
        collist = ", ".join(all_cols)
        with self.transaction(), self.registered("_incoming", incoming):
            self.con.execute(
                f"INSERT INTO {kind} ({collist}) SELECT {collist} FROM _incoming "
                f"ON CONFLICT ({', '.join(spec.key)}) DO UPDATE SET {sets}"
            )
        return frame.height

    def _upsert_companies(
        self, frame: pl.DataFrame, provider: str, origin: str, stamp: datetime, keep_existing_on_null: bool = False
    ) -> int:
        """Set-based: one INSERT ... SELECT for the rows and one pass for the role tags, whatever the frame size."""
        cols = ["symbol", "name", "country", "currency", "segment", "stage", "gov_backing", "description", "source"]
        present = [c for c in cols if c in frame.columns]
        incoming = frame.select(present).with_columns(
            pl.lit(origin).alias("origin"),
            pl.lit(provider).alias("provider"),
            pl.lit(stamp).cast(pl.Datetime("us")).alias("loaded_at"),
        )
        all_cols = [*present, "origin", "provider", "loaded_at"]
        value_cols = [c for c in all_cols if c != "symbol"]
        sets = _set_clause("companies", value_cols, keep_existing_on_null, currency="currency" in value_cols)
        collist = ", ".join(all_cols)
        with self.transaction():
            with self.registered("_incoming_companies", incoming):
                self.con.execute(
                    f"INSERT INTO companies ({collist}) SELECT {collist} FROM _incoming_companies "
                    f"ON CONFLICT (symbol) DO UPDATE SET {sets}"
                )
            if "roles" in frame.columns:
                source = pl.col("source") if "source" in frame.columns else pl.lit(None, dtype=pl.String)
                wanted = (
                    frame.filter(pl.col("roles").is_not_null())
                    .select(
                        "symbol",
                        pl.col("roles").str.split(";").alias("role"),
                        pl.coalesce(source, pl.lit(provider)).alias("source"),
                    )
                    .explode("role")
                    .with_columns(pl.col("role").str.strip_chars())
                    .filter(pl.col("role") != "")
                )
                self.set_roles(wanted, actor="bundled" if origin == "bundled" else "import", origin=origin, at=stamp)
        return frame.height

    def current_roles(self, symbol: str) -> list[str]:
        rows = self.rows("SELECT role FROM role_tags WHERE symbol = ?", [symbol])
        return sorted((r[0] for r in rows), key=ROLES.index)

    def replace_roles(
        self,
        symbol: str,
        roles: Sequence[str],
        *,
        source: str | None,
        actor: str,
        origin: str,
        at: datetime | None = None,
    ) -> None:
        """Make the symbol's tags exactly ``roles``, recording each add and remove in the history."""
        wanted = pl.DataFrame(
            {"symbol": [symbol] * len(roles), "role": list(roles), "source": [source] * len(roles)},
            schema={"symbol": pl.String, "role": pl.String, "source": pl.String},
        )
        if wanted.height == 0:
            have = self.current_roles(symbol)
            self.change_tags(symbol, remove=have, source=source, actor=actor, origin=origin, at=at)
            return
        self.set_roles(wanted, actor=actor, origin=origin, at=at)

    def set_roles(
        self,
        wanted: pl.DataFrame,
        *,
        actor: str,
        origin: str,
        at: datetime | None = None,
        protected: pl.DataFrame | None = None,
    ) -> int:
        """Make each symbol in ``wanted`` (symbol, role, source) carry exactly its listed roles; return the changes.

        Pairs in ``protected`` (symbol, role) are left as they are: ``init`` passes the tags a user has touched, so a
        refresh of the bundled universe neither re-adds a role the user removed nor drops one the user added.
        """
        key = ["symbol", "role"]
        wanted = wanted.select(
            pl.col("symbol").cast(pl.String), pl.col("role").cast(pl.String), pl.col("source").cast(pl.String)
        ).unique(subset=key, keep="first", maintain_order=True)
        symbols = wanted.select("symbol").unique()
        have = self.query("SELECT symbol, role FROM role_tags").join(symbols, on="symbol", how="semi")
        adds = wanted.join(have, on=key, how="anti").with_columns(pl.lit("add").alias("action"))
        per_symbol_source = wanted.group_by("symbol", maintain_order=True).agg(pl.col("source").first())
        removes = (
            have.join(wanted, on=key, how="anti")
            .join(per_symbol_source, on="symbol", how="left")
            .with_columns(pl.lit("remove").alias("action"))
        )
        changes = pl.concat([adds.select(*key, "action", "source"), removes.select(*key, "action", "source")])
        if protected is not None and protected.height:
            changes = changes.join(protected.select(pl.col(key).cast(pl.String)), on=key, how="anti")
        return self.apply_tag_changes(changes, actor=actor, origin=origin, at=at)

    def change_tags(
        self,
        symbol: str,
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        source: str | None,
        actor: str,
        origin: str = "user",
        at: datetime | None = None,
    ) -> None:
        rows = [(symbol, r, "add", source) for r in add] + [(symbol, r, "remove", source) for r in remove]
        changes = pl.DataFrame(
            rows,
            schema={"symbol": pl.String, "role": pl.String, "action": pl.String, "source": pl.String},
            orient="row",
        )
        self.apply_tag_changes(changes, actor=actor, origin=origin, at=at)

    def apply_tag_changes(self, changes: pl.DataFrame, *, actor: str, origin: str, at: datetime | None = None) -> int:
        """Apply (symbol, role, action, source) rows set-based and append each to the tag history.

        History rows are written in (symbol, action, role) order, adds before removes, so ids read chronologically.
        """
        if changes.height == 0:
            return 0
        stamp = at or utcnow()
        ordered = (
            changes.select(pl.col("symbol", "role", "action", "source").cast(pl.String))
            .unique(subset=["symbol", "role", "action"], keep="first", maintain_order=True)
            .sort(["symbol", "action", "role"])
            .with_row_index("_i")
            .with_columns(
                pl.lit(origin).alias("origin"),
                pl.lit(actor).alias("actor"),
                pl.lit(stamp).cast(pl.Datetime("us")).alias("changed_at"),
            )
        )
        with self.transaction(), self.registered("_tag_changes", ordered):
            self.con.execute(
                "INSERT INTO role_tags (symbol, role, origin, source, tagged_at) "
                "SELECT symbol, role, origin, source, changed_at FROM _tag_changes WHERE action = 'add' "
                "ON CONFLICT (symbol, role) DO UPDATE SET origin = excluded.origin, source = excluded.source, "
                "tagged_at = excluded.tagged_at"
            )
            self.con.execute(
                "DELETE FROM role_tags USING _tag_changes c WHERE c.action = 'remove' "
                "AND role_tags.symbol = c.symbol AND role_tags.role = c.role"
            )
            self.con.execute(
                "INSERT INTO role_tag_history (symbol, role, action, actor, source, changed_at) "
                "SELECT symbol, role, action, actor, source, changed_at FROM _tag_changes ORDER BY _i"
            )
        return ordered.height

    def tag_history(self, symbol: str | None = None) -> pl.DataFrame:
        sql = "SELECT id, symbol, role, action, actor, source, changed_at FROM role_tag_history"
        if symbol:
            return self.query(sql + " WHERE symbol = ? ORDER BY id", [symbol])
        return self.query(sql + " ORDER BY id")
