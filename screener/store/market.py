"""Market data in the store: companies and their role tags, fundamentals, prices, fx, events and splits.

Why one class owns every write: each write must be a single transaction (an import with one bad row changes
nothing), every row must carry its provider and load time, and a failed or empty provider answer must never erase
what is stored. Centralising writes here keeps those three promises in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from screener.contract import KINDS, ROLES, distinct, known_from, polars_schema
from screener.errors import ScreenerError
from screener.store.connection import StoreBase, utcnow
from screener.store.migrations import KEYS_KEPT_BY_WRITES

#: Columns per table that are bookkeeping rather than contract data.
_VALUE_TABLES = ("fundamentals", "prices", "fx", "events", "splits")

#: Point-in-time filter and key order of each dated kind that scoring reads.
_AS_OF_READS: dict[str, tuple[str, str]] = {
    "fundamentals": ("period_end <= ?", "symbol, period_end, period"),
    "prices": ("date <= ?", "symbol, date"),
    "fx": ("date <= ?", "currency, date"),
    "events": ("date <= ?", "symbol, date, kind, description"),
}

DEMO_PROVIDER = "demo"
#: The companies table's own columns: the contract's, less the roles (kept as tags in ``role_tags``).
COMPANY_FIELDS: list[str] = [c for c in KINDS["companies"].names if c != "roles"]
#: Company attributes a score reads as of a date: each change is kept in ``company_history`` with its effective day.
HISTORY_FIELDS: tuple[str, ...] = ("stage", "exposure")
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


def _new_values(
    table: str, value_cols: Sequence[str], keep_existing_on_null: bool, *, currency: bool, incoming: str = "excluded"
) -> list[str]:
    """Per value column, the SQL of the value a write leaves stored. With ``keep_existing_on_null`` a null keeps the
    stored value only when the stored row has the incoming row's provider (and currency): every value then still
    carries the provider that sent it."""
    if not keep_existing_on_null:
        return [f"{incoming}.{c}" for c in value_cols]
    same = f"{table}.provider = {incoming}.provider"
    if currency:
        same += f" AND {table}.currency IS NOT DISTINCT FROM {incoming}.currency"
    return [
        f"{incoming}.{c}"
        if c in ("provider", "loaded_at", "currency")
        else f"CASE WHEN {same} THEN COALESCE({incoming}.{c}, {table}.{c}) ELSE {incoming}.{c} END"
        for c in value_cols
    ]


def _set_clause(table: str, value_cols: Sequence[str], keep_existing_on_null: bool, *, currency: bool) -> str:
    """The ``DO UPDATE SET`` list (``_new_values``) and, after ``WHERE``, the test that a value would change: a row
    offered again unchanged is not rewritten and keeps its load time."""
    values = _new_values(table, value_cols, keep_existing_on_null, currency=currency)
    sets = ", ".join(f"{c} = {v}" for c, v in zip(value_cols, values, strict=True))
    changed = " OR ".join(
        f"({v}) IS DISTINCT FROM {table}.{c}" for c, v in zip(value_cols, values, strict=True) if c != "loaded_at"
    )
    return f"{sets} WHERE {changed}"


def _changed_sql(
    value_cols: Sequence[str], keep_existing_on_null: bool, *, stored: str = "t", incoming: str = "s"
) -> str:
    """The SQL test that the incoming row ``incoming`` would change the stored row ``stored`` (a value or the
    provider; never the load time alone): ``_new_values`` of each column compared with the stored one."""
    values = _new_values(
        stored, value_cols, keep_existing_on_null, currency="currency" in value_cols, incoming=incoming
    )
    return " OR ".join(
        f"({v}) IS DISTINCT FROM {stored}.{c}" for c, v in zip(value_cols, values, strict=True) if c != "loaded_at"
    )


def _merge_sql(
    table: str,
    key: Sequence[str],
    all_cols: Sequence[str],
    value_cols: Sequence[str],
    keep_existing_on_null: bool,
    *,
    source: str = "_incoming",
) -> str:
    """``MERGE INTO`` of ``_incoming`` into ``table`` on its key: new keys are inserted; a stored row is rewritten only
    when a value or its provider would change (the values follow ``_new_values``), so a load that offers the
    same rows again writes nothing and keeps each row's load time: ``loaded_at`` is when the stored value was
    written. The matched rows are compared in one join, not updated one conflict at a time."""
    values = _new_values("t", value_cols, keep_existing_on_null, currency="currency" in value_cols, incoming="s")
    changed = _changed_sql(value_cols, keep_existing_on_null)
    sets = ", ".join(f"{c} = {v}" for c, v in zip(value_cols, values, strict=True))
    on = " AND ".join(f"t.{k} = s.{k}" for k in key)
    return (
        f"MERGE INTO {table} AS t USING {source} AS s ON ({on}) "
        f"WHEN MATCHED AND ({changed}) THEN UPDATE SET {sets} "
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(all_cols)}) VALUES ({', '.join(f's.{c}' for c in all_cols)})"
    )


class RepeatedKeyError(ScreenerError):
    """A write offered two rows with one key of a table whose key its writes keep (``KEYS_KEPT_BY_WRITES``)."""


def _strictly_after_previous(key: Sequence[str]) -> pl.Expr:
    """Per row, whether its key sorts strictly after the previous row's (true on the first row): all true means
    the rows are in key order with no key twice."""
    after: pl.Expr | None = None
    for col in reversed(key):
        here, prev = pl.col(col), pl.col(col).shift()
        after = here > prev if after is None else (here > prev) | ((here == prev) & after)
    assert after is not None
    return (after | (pl.int_range(pl.len()) == 0)).fill_null(False)


def _in_key_order(kind: str, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` in key order, or ``RepeatedKeyError`` when a key is offered twice.

    Why: prices and fundamentals carry no key index (migration 13), so the store itself keeps their keys unique,
    on the frame, before anything is written: a frame in key order whose every key sorts strictly after the one
    before holds no key twice. One vectorised pass when the frame is in order already (a file written in key
    order, the usual case), a sort first when it is not; never a hash of every key."""
    key = list(KEYS_KEPT_BY_WRITES[kind])
    if frame.height < 2 or frame.select(_strictly_after_previous(key).all()).item():
        return frame
    ordered = frame.sort(key, maintain_order=True)
    after = ordered.select(_strictly_after_previous(key).alias("_after"))["_after"]
    if after.all() or ordered.select(pl.any_horizontal(pl.col(key).is_null()).any()).item():
        return ordered  # a missing key part is the table's NOT NULL constraint's to refuse, in its words
    first = ordered.row(int(after.arg_min() or 0), named=True)
    shown = ", ".join(f"{k}={first[k]}" for k in key)
    repeats = int((~after).sum())
    raise RepeatedKeyError(f"{kind}: {repeats} row(s) repeat a key offered in the same write, first ({shown})")


@dataclass(frozen=True)
class UpsertResult:
    """What a real write did: rows stored (offered and not kept out), synthetic demo rows dropped, rows kept out by
    a higher-precedence provider's stored rows, and of the stored rows those new to the store (``inserted``) and
    those whose stored values changed (``updated``); the rest were stored already, unchanged. Unpacks as
    ``(stored, dropped)`` so that two-name unpacking keeps working."""

    stored: int
    dropped: int = 0
    kept_out: int = 0
    inserted: int = 0
    updated: int = 0

    def __iter__(self) -> Iterator[int]:
        return iter((self.stored, self.dropped))


#: The temporary enum type of the companies' symbols that ``coded_prices_for_scoring`` codes the closes with.
_CODES = "scoring_symbol_codes"


class MarketData(StoreBase):
    """Reads and writes of the contract kinds, under the provider precedence."""

    def companies(self, as_of: date | None = None, *, symbol: str | None = None) -> pl.DataFrame:
        """The universe in contract shape, roles as a ``;`` string in canonical order, plus origin and provider.

        With ``as_of``, the roles are those in force that day (``roles_as_of``); without, today's. With ``symbol``,
        that company's row alone (none when it is not stored), read for it alone: the company card shows one
        company of a universe that may hold 50,000."""
        order = {r: i for i, r in enumerate(ROLES)}
        where, params = (" WHERE symbol = ?", [symbol]) if symbol is not None else ("", [])
        tags = (
            self.query("SELECT symbol, role FROM role_tags" + where, params)
            if as_of is None
            else self.roles_as_of(as_of, symbol=symbol)
        )
        base = self.query(
            f"SELECT {', '.join(COMPANY_FIELDS)}, origin, provider, loaded_at FROM companies{where} ORDER BY symbol",
            params,
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
        if as_of is not None:
            base = self._attributes_as_of(base, as_of, symbol=symbol)
        out = base.join(roles, on="symbol", how="left").with_columns(pl.col("roles").fill_null(""))
        return out.select([*KINDS["companies"].names, "origin", "provider", "loaded_at"])

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
        # ``inputs=False``: the writes below say whether they changed anything (``mark_inputs_changed``), so a load
        # that offers what is stored already leaves the data version, and the stored scores, as they are.
        with self.transaction(inputs=False):
            if (
                kind in ("fundamentals", "prices", "fx")
                and provider != DEMO_PROVIDER
                and self.rows(f"SELECT 1 FROM {kind} WHERE provider = ? LIMIT 1", [DEMO_PROVIDER])
            ):
                col = "currency" if kind == "fx" else "symbol"
                series = distinct(frame.get_column(col)).drop_nulls().to_frame()
                with self.registered("_real_series", series) as name:
                    where = f"provider = ? AND {col} IN (SELECT {col} FROM {name})"
                    dropped = int(self.scalar(f"SELECT count(*) FROM {kind} WHERE {where}", [DEMO_PROVIDER]))
                    if dropped:
                        self.con.execute(f"DELETE FROM {kind} WHERE {where}", [DEMO_PROVIDER])
                        self.mark_inputs_changed()
            kept = frame if override else self._outranked(kind, frame, provider)
            kept_out = frame.height - kept.height
            inserted, updated = self._write(
                kind, kept, provider, keep_existing_on_null=True, origin=origin, loaded_at=stamp
            )
            self.resolve_rejections(kind, kept, at=stamp)
        return UpsertResult(kept.height, dropped, kept_out, inserted, updated)

    def _outranked(self, kind: str, frame: pl.DataFrame, provider: str) -> pl.DataFrame:
        """``frame`` without the rows whose key is stored by a provider of higher precedence (set-based)."""
        key = list(KINDS[kind].key)
        rank = precedence(provider)
        if rank >= max(PROVIDER_PRECEDENCE.values()):
            return frame  # nothing ranks above the top provider: no join of every incoming key
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
        Rows offered again unchanged are not written and not counted; a write that changes nothing leaves the data
        version as it is.
        """
        inserted, updated = self._write(
            kind, frame, provider, keep_existing_on_null=keep_existing_on_null, origin=origin, loaded_at=loaded_at
        )
        return inserted + updated

    def _write(
        self,
        kind: str,
        frame: pl.DataFrame,
        provider: str,
        *,
        keep_existing_on_null: bool,
        origin: str,
        loaded_at: datetime | None,
    ) -> tuple[int, int]:
        """``upsert``'s write, returning the rows inserted and the rows updated (a value or the provider changed).

        Counted in bulk, never row by row: DuckDB reports how many rows a ``MERGE`` inserted or updated (the
        ``WHEN MATCHED AND`` test skips a row whose values are all the same, so it is not counted), and the rows
        inserted are the table's growth, a count DuckDB answers from its metadata. The data version is bumped
        (``mark_inputs_changed``) only when one of them is not zero."""
        if frame.height == 0:
            return 0, 0
        spec = KINDS[kind]
        stamp = loaded_at or utcnow()
        if kind == "companies":
            return self._upsert_companies(frame, provider, origin, stamp, keep_existing_on_null)
        if kind in KEYS_KEPT_BY_WRITES:
            frame = _in_key_order(kind, frame)
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
        collist = ", ".join(all_cols)
        with self.transaction(inputs=False):
            before = self._row_count(kind)
            if before == 0:
                # A first load: one bulk insert, nothing to match against; the provider and the load time are one
                # value for every row, given to the statement instead of columns of millions of copies (13 million
                # load times cost a tenth of the insert's CPU to export and compress). The rows go over in key order
                # (``_in_key_order``: readers scan a table stored so fastest) as one Arrow export of the frame's own
                # buffers, in one statement: slices left a part-filled row group at every seam (a larger file, more
                # work). Prices and fundamentals have no key index to fill (migration 13): the append is the cost.
                bound = {"provider": "?", "loaded_at": "?::TIMESTAMP"}
                values = ", ".join(bound.get(c, c) for c in all_cols)  # provider comes before loaded_at
                with self.registered("_incoming", incoming.drop("provider", "loaded_at")):
                    written = self._affected(
                        f"INSERT INTO {kind} ({collist}) SELECT {values} FROM _incoming", [provider, stamp]
                    )
            else:
                with self.registered("_incoming", incoming):
                    aligned = (
                        self._merge_aligned(kind, spec.key, all_cols, value_cols, keep_existing_on_null)
                        if kind in KEYS_KEPT_BY_WRITES and before == incoming.height
                        else None
                    )
                    written = (
                        aligned
                        if aligned is not None
                        else self._affected(_merge_sql(kind, spec.key, all_cols, value_cols, keep_existing_on_null))
                    )
            inserted = self._row_count(kind) - before
            if written:
                self.mark_inputs_changed()
        return inserted, written - inserted

    def _merge_aligned(
        self,
        kind: str,
        key: Sequence[str],
        all_cols: Sequence[str],
        value_cols: Sequence[str],
        keep_existing_on_null: bool,
    ) -> int | None:
        """A re-load of the rows stored, merged by position instead of a join: the rows written, or None when the
        stored rows are not the offered keys in the offered order (the caller then merges on the key).

        Why: a re-import of the same files offers the keys stored, in the order a first load stored them (key
        order, ``_in_key_order``). One scan that pairs the n-th stored row with the n-th offered row
        (``POSITIONAL JOIN``) then finds the rows that change, where a ``MERGE`` would build a hash table of
        every key; a sixth of the work at 13 million closes. It is exact, not a guess: every pair's key is
        compared, and any pair whose keys differ sends the whole write to the ``MERGE``. Stored keys are unique,
        so two rows with one key are the same row; only the changed rows then go through the ``MERGE``."""
        changed = _changed_sql(value_cols, keep_existing_on_null)
        paired = f"{kind} t POSITIONAL JOIN _incoming s"
        moved = " OR ".join(f"t.{k} IS DISTINCT FROM s.{k}" for k in key)
        misaligned, changing = self.rows(
            f"SELECT count(*) FILTER (WHERE {moved}), count(*) FILTER (WHERE {changed}) FROM {paired}"
        )[0]
        if misaligned:
            return None
        if not changing:
            return 0
        source = f"(SELECT s.* FROM {paired} WHERE {changed})"
        return self._affected(_merge_sql(kind, key, all_cols, value_cols, keep_existing_on_null, source=source))

    def _row_count(self, table: str) -> int:
        return int(self.scalar(f"SELECT count(*) FROM {table}"))

    def _affected(self, sql: str, params: list[object] | None = None) -> int:
        """Run one write statement and return the number of rows it inserted or updated (DuckDB's answer)."""
        rows = self.con.execute(sql, params).fetchall()
        return int(rows[0][0]) if rows else 0

    def _upsert_companies(
        self, frame: pl.DataFrame, provider: str, origin: str, stamp: datetime, keep_existing_on_null: bool = False
    ) -> tuple[int, int]:
        """Set-based: one INSERT ... SELECT for the rows and one pass for the role tags, whatever the frame size.

        Returns the companies inserted and updated: a company is updated when its row or its role tags changed (a
        row offered again unchanged is not rewritten, ``_set_clause``)."""
        present = [c for c in COMPANY_FIELDS if c in frame.columns]
        incoming = frame.select(present).with_columns(
            pl.lit(origin).alias("origin"),
            pl.lit(provider).alias("provider"),
            pl.lit(stamp).cast(pl.Datetime("us")).alias("loaded_at"),
        )
        all_cols = [*present, "origin", "provider", "loaded_at"]
        value_cols = [c for c in all_cols if c != "symbol"]
        sets = _set_clause("companies", value_cols, keep_existing_on_null, currency="currency" in value_cols)
        collist = ", ".join(all_cols)
        changed: set[str] = set()
        with self.transaction(inputs=False):
            before = self._row_count("companies")
            with (
                self.registered("_incoming_companies", incoming),
                self._recording_company_changes(actor=provider, at=stamp),
            ):
                # RETURNING names only the rows written: inserted, or updated because a value changed.
                written = self.con.execute(
                    f"INSERT INTO companies ({collist}) SELECT {collist} FROM _incoming_companies "
                    f"ON CONFLICT (symbol) DO UPDATE SET {sets} RETURNING symbol"
                ).fetchall()
            changed.update(r[0] for r in written)
            inserted = self._row_count("companies") - before
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
                tags = self._role_changes(wanted)
                actor = "bundled" if origin == "bundled" else "import"
                self.apply_tag_changes(tags, actor=actor, origin=origin, at=stamp)
                changed.update(tags["symbol"].to_list())
            if changed:
                self.mark_inputs_changed()
        return inserted, len(changed) - inserted

    @contextmanager
    def _recording_company_changes(self, *, actor: str, at: datetime) -> Iterator[None]:
        """Around a companies write: keep the old value of each dated attribute (``HISTORY_FIELDS``) the write
        actually changed, cleared values included.

        A new value takes effect on the day it is written; ``companies(as_of=...)`` reads the old one before that
        day, so a score back-dated before a company became a producer still sees a developer, and a later import
        that leaves exposure empty does not erase what a back-dated score knew. The comparison is made after the
        write, against a snapshot taken before it, so it records what was stored, whatever the merge rules did."""
        fields = ", ".join(f"CAST({f} AS VARCHAR) AS {f}" for f in HISTORY_FIELDS)
        before = self.query(f"SELECT symbol, {fields} FROM companies ORDER BY symbol")
        yield
        with self.registered("_companies_before", before):
            for field in HISTORY_FIELDS:
                self.con.execute(
                    "INSERT INTO company_history (symbol, field, old_value, new_value, effective_on, changed_at, "
                    f"actor) SELECT c.symbol, ?, b.{field}, CAST(c.{field} AS VARCHAR), CAST(? AS DATE), ?, ? "
                    "FROM companies c JOIN _companies_before b ON c.symbol = b.symbol "
                    f"WHERE CAST(c.{field} AS VARCHAR) IS DISTINCT FROM b.{field} ORDER BY c.symbol",
                    [field, at.date(), at, actor],
                )

    def company_history(self, symbol: str | None = None) -> pl.DataFrame:
        """Every recorded change of a dated company attribute (stage, exposure), oldest first."""
        sql = "SELECT symbol, field, old_value, new_value, effective_on, changed_at, actor FROM company_history"
        if symbol:
            return self.query(sql + " WHERE symbol = ? ORDER BY id", [symbol])
        return self.query(sql + " ORDER BY id")

    def _attributes_as_of(self, base: pl.DataFrame, as_of: date, *, symbol: str | None = None) -> pl.DataFrame:
        """``base`` with each dated attribute put back to its value on ``as_of``: the old value of its first change
        that took effect after ``as_of``. With ``symbol`` (``base`` is that company's row) only its changes are
        read: a company card does not read the history of the whole universe."""
        one = " AND symbol = ?" if symbol is not None else ""
        before = self.query(
            "SELECT symbol, field, arg_min(old_value, (effective_on, id)) AS old_value FROM company_history "
            f"WHERE effective_on > ?{one} GROUP BY symbol, field ORDER BY symbol, field",
            [as_of, *([symbol] if symbol is not None else [])],
        )
        for field in HISTORY_FIELDS:
            old = before.filter(pl.col("field") == field).select(
                "symbol",
                pl.col("old_value").cast(base.schema[field]).alias(f"_old_{field}"),
                pl.lit(True).alias("_hit"),
            )
            if old.height == 0:
                continue
            base = (
                base.join(old, on="symbol", how="left")
                .with_columns(
                    pl.when(pl.col("_hit")).then(pl.col(f"_old_{field}")).otherwise(pl.col(field)).alias(field)
                )
                .drop(f"_old_{field}", "_hit")
            )
        return base

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
        return self.apply_tag_changes(self._role_changes(wanted, protected), actor=actor, origin=origin, at=at)

    def _role_changes(self, wanted: pl.DataFrame, protected: pl.DataFrame | None = None) -> pl.DataFrame:
        """The (symbol, role, action, source) changes that make each symbol in ``wanted`` carry exactly its listed
        roles, without the ``protected`` pairs (``set_roles``); empty when the tags are as wanted already."""
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
        return changes

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
        effective: date | None = None,
    ) -> None:
        rows = [(symbol, r, "add", source) for r in add] + [(symbol, r, "remove", source) for r in remove]
        changes = pl.DataFrame(
            rows,
            schema={"symbol": pl.String, "role": pl.String, "action": pl.String, "source": pl.String},
            orient="row",
        )
        self.apply_tag_changes(changes, actor=actor, origin=origin, at=at, effective=effective)

    def apply_tag_changes(
        self,
        changes: pl.DataFrame,
        *,
        actor: str,
        origin: str,
        at: datetime | None = None,
        effective: date | None = None,
    ) -> int:
        """Apply (symbol, role, action, source) rows set-based and append each to the tag history.

        History rows are written in (symbol, action, role) order, adds before removes, so ids read chronologically.
        Each row records when the change took effect, which is what a back-dated score reads (``roles_as_of``):
        ``effective`` when given; else none (always in force) for a symbol's first tags, since a company enters
        the universe with the roles it has; else the day of the change.
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
                "INSERT INTO role_tag_history (symbol, role, action, actor, source, changed_at, effective_on) "
                "SELECT symbol, role, action, actor, source, changed_at, CASE WHEN ?::DATE IS NOT NULL THEN ?::DATE "
                "WHEN NOT EXISTS (SELECT 1 FROM role_tag_history h WHERE h.symbol = c.symbol) THEN NULL "
                "ELSE CAST(changed_at AS DATE) END FROM _tag_changes c ORDER BY _i",
                [effective, effective],
            )
        return ordered.height

    def roles_as_of(self, as_of: date, *, symbol: str | None = None) -> pl.DataFrame:
        """(symbol, role) pairs in force on ``as_of`` (of ``symbol`` alone when given): today's tags with every
        change that took effect later undone.

        For each (symbol, role) changed after ``as_of``, its first later change says what held before it: a later
        ``add`` means the role was absent, a later ``remove`` that it was present. Pairs never changed after
        ``as_of`` hold as they are today.
        """
        where, params = (" WHERE symbol = ?", [symbol]) if symbol is not None else ("", [])
        current = self.query("SELECT symbol, role FROM role_tags" + where, params)
        later = self.query(
            "SELECT symbol, role, arg_min(action, (effective_on, id)) AS first_action FROM role_tag_history "
            "WHERE effective_on > ?" + (" AND symbol = ?" if symbol is not None else "") + " GROUP BY symbol, role",
            [as_of, *params],
        )
        if later.height == 0:
            return current
        key = ["symbol", "role"]
        untouched = current.join(later, on=key, how="anti")
        held = later.filter(pl.col("first_action") == "remove").select(key)
        return pl.concat([untouched, held]).unique(maintain_order=True)

    def tag_history(self, symbol: str | None = None) -> pl.DataFrame:
        # probability and model_version: set on a role added by accepting a suggestion ('universe suggest')
        sql = (
            "SELECT id, symbol, role, action, actor, source, changed_at, effective_on, probability, model_version "
            "FROM role_tag_history"
        )
        if symbol:
            return self.query(sql + " WHERE symbol = ? ORDER BY id", [symbol])
        return self.query(sql + " ORDER BY id")

    # -- named reads: every question another module asks of the market tables ---------------------------------
    def company_count(self) -> int:
        """How many companies are stored: commands refuse to score an empty universe."""
        return int(self.scalar("SELECT count(*) FROM companies"))

    def company_symbols(self) -> set[str]:
        """Every stored symbol: an import warns about rows for companies the universe does not list."""
        return set(self.query("SELECT symbol FROM companies")["symbol"].to_list())

    def company_names(self) -> pl.DataFrame:
        """(symbol, name) by symbol: what a company search matches against."""
        return self.query("SELECT symbol, name FROM companies ORDER BY symbol")

    def company_currencies(self) -> pl.DataFrame:
        """(symbol, currency) by symbol: a refresh fetches each listing in its own currency."""
        return self.query("SELECT symbol, currency FROM companies ORDER BY symbol")

    def role_tags_of(self, symbol: str) -> pl.DataFrame:
        """The symbol's current tags with their origin, source and time, by role."""
        return self.query(
            "SELECT role, origin, source, tagged_at FROM role_tags WHERE symbol = ? ORDER BY role", [symbol]
        )

    def rows_as_of(
        self, kind: str, as_of: date, *, ordered: bool = True, columns: Sequence[str] | None = None
    ) -> pl.DataFrame:
        """Contract columns plus provider of a dated kind, on or before ``as_of`` (point in time), in key order
        (in the store's order with ``ordered=False``, for a reader that orders the rows itself: scoring does).

        ``columns`` (with ``ordered=False``) reads only those contract columns, plus ``provider``: a reader that
        uses eight of a statement's twelve values does not move the other four for 2.5 million rows. ``provider``
        is then read per batch, not per row, when one provider stored every row read (``_provider_read``)."""
        where, order = _AS_OF_READS[kind]
        if columns is None:
            cols = ", ".join([*polars_schema(kind), "provider"])
            return self.query(
                f"SELECT {cols} FROM {kind} WHERE {where}" + (f" ORDER BY {order}" if ordered else ""), [as_of]
            )
        unknown = [c for c in columns if c not in polars_schema(kind)]
        if unknown:
            raise ValueError(f"{kind} has no column {unknown[0]!r}")
        return self._provider_read(kind, where, [as_of], list(columns), ordered=ordered, order=order)

    def _provider_read(
        self,
        table: str,
        where: str,
        params: list[Any],
        columns: list[str],
        *,
        ordered: bool = False,
        order: str = "",
    ) -> pl.DataFrame:
        """``columns`` and ``provider`` of the rows of ``table`` matching ``where``; ``provider`` moved once when
        one provider stored every row matched (the same values, without one text per row), per row otherwise."""
        providers = [r[0] for r in self.rows(f"SELECT DISTINCT provider FROM {table} WHERE {where}", params)]
        per_row = len(providers) > 1
        picked = ", ".join([*columns, "provider"] if per_row else columns)
        frame = self.query(
            f"SELECT {picked} FROM {table} WHERE {where}" + (f" ORDER BY {order}" if ordered else ""), params
        )
        if per_row:
            return frame
        return frame.with_columns(pl.lit(providers[0] if providers else None, dtype=pl.String).alias("provider"))

    def prices_for_scoring(self, as_of: date, window_days: int) -> pl.DataFrame:
        """The closes a score as of ``as_of`` reads: every row of the last ``window_days`` days up to ``as_of``,
        and of each company's earlier rows only the three that can still decide something (its latest close, its
        latest traded day and its latest demo row: the last price, the last trade and the demo flag of a name that
        stopped trading). Contract columns plus ``provider``: the window's rows in the store's order (a store kept in
        key order gives them in key order, and the engine then skips its sort), the earlier rows after them.

        Why: a store with ten years of closes would hand the engine ten times the rows its one-year window reads,
        and sorting them here costs more than the engine's check. The window is one filtered scan, which keeps the
        stored order; a union with the earlier rows in one query would not (its rows arrive as its threads finish
        them), and the engine would sort 13 million rows on their text key for nothing. ``provider`` is read per
        batch, not per row, when one provider stored every row read: the same values, without moving one text per
        close.
        """
        start = as_of - timedelta(days=window_days - 1)
        cols = ["symbol", "date", "close", "volume"]
        window = self._provider_read("prices", "date >= ? AND date <= ?", [start, as_of], cols)
        return self._with_earlier_closes(window, "p.symbol", "", start)

    def coded_prices_for_scoring(self, as_of: date, window_days: int) -> tuple[pl.Series, pl.DataFrame]:
        """``prices_for_scoring`` with each symbol as a code: (the companies' symbols in ascending order, the closes
        with ``symbol`` as the UInt32 position of their symbol in it). The same rows in the same order (a close of a
        symbol that is no company is left out: nothing scores it), and codes sort as their symbols do.

        Why: a score reads 13 million closes of 50,000 companies; as codes they cross from DuckDB in four bytes
        instead of a text each (0.2 GB less to hold, and the engine numbers its runs on integers). The code is the
        symbol's position in an enum type of the companies' sorted symbols, made for this read (a temporary type of
        this connection, dropped after it): a cast per close is a projection of the window's one filtered scan,
        which keeps the store's order on every core, where a join with the companies keeps it only on one thread
        (on several, its rows arrive as the threads finish them, and the engine would sort them again)."""
        start = as_of - timedelta(days=window_days - 1)
        names = self.query("SELECT symbol FROM companies ORDER BY symbol")["symbol"]
        codes = "(SELECT symbol, (row_number() OVER (ORDER BY symbol) - 1)::UINTEGER AS code FROM companies) c"
        where = "date >= ? AND date <= ?"
        providers = [r[0] for r in self.rows(f"SELECT DISTINCT provider FROM prices WHERE {where}", [start, as_of])]
        extra = ", p.provider" if len(providers) > 1 else ""
        if names.is_empty():  # no company, no close to read (an enum type needs a value)
            window = self.query(
                f"SELECT c.code AS symbol, p.date, p.close, p.volume{extra} FROM prices p JOIN {codes} "
                "ON p.symbol = c.symbol WHERE false"
            )
        else:
            self.con.execute(
                f"CREATE OR REPLACE TEMP TYPE {_CODES} AS ENUM (SELECT symbol FROM companies ORDER BY symbol)"
            )
            try:
                picked = "date, close, volume" + (", provider" if extra else "")
                window = self.query(
                    f"SELECT enum_code(code)::UINTEGER AS symbol, {picked} FROM ("
                    f"  SELECT TRY_CAST(symbol AS {_CODES}) AS code, {picked} FROM prices WHERE {where}"
                    ") WHERE code IS NOT NULL",
                    [start, as_of],
                )
            finally:
                self.con.execute(f"DROP TYPE IF EXISTS {_CODES}")
        if len(providers) <= 1:
            window = window.with_columns(pl.lit(providers[0] if providers else None, dtype=pl.String).alias("provider"))
        return names, self._with_earlier_closes(window, "c.code", f"JOIN {codes} ON p.symbol = c.symbol", start)

    def _with_earlier_closes(self, window: pl.DataFrame, symbol: str, join: str, start: date) -> pl.DataFrame:
        """``window`` followed by each company's closes before ``start`` that still decide its last price, last
        trade and demo flag (``prices_for_scoring``), with ``symbol`` (an expression over ``join``) as the symbol."""
        earlier = self.query(
            f"SELECT {symbol} AS symbol, p.date, p.close, p.volume, p.provider FROM prices p {join} JOIN ("
            "  SELECT symbol, max(date) AS last_close,"
            "    max(date) FILTER (WHERE volume IS NULL OR volume <> 0) AS last_trade,"
            "    max(date) FILTER (WHERE provider = ?) AS last_demo"
            "  FROM prices WHERE date < ? GROUP BY symbol"
            ") m ON p.symbol = m.symbol AND p.date < ? "
            "AND (p.date = m.last_close OR p.date = m.last_trade OR p.date = m.last_demo) "
            "ORDER BY p.symbol, p.date",
            [DEMO_PROVIDER, start, start],
        )
        if not earlier.height:
            return window
        return pl.concat([window, earlier.select(window.columns).cast(window.schema)])  # type: ignore[arg-type]

    def all_splits(self) -> pl.DataFrame:
        """Every split, whatever its date: a split after as-of is already inside the stored closes."""
        return self.query("SELECT symbol, date, ratio, provider FROM splits ORDER BY symbol, date")

    def latest_shares(self, as_of: date) -> pl.DataFrame:
        """Per company, the latest daily share count on or before ``as_of``."""
        return self.query(
            "SELECT symbol, max(date) AS date, arg_max(shares, date) AS shares, arg_max(provider, date) AS provider "
            "FROM share_history WHERE date <= ? GROUP BY symbol ORDER BY symbol",
            [as_of],
        )

    def share_history_until(self, end: date) -> pl.DataFrame:
        """Every daily share count on or before ``end``, in key order: a panel of dates reads each date's latest."""
        return self.query(
            "SELECT symbol, date, shares, provider FROM share_history WHERE date <= ? ORDER BY symbol, date", [end]
        )

    def history_change_dates(self) -> list[date]:
        """Every distinct day a dated company attribute or role tag changed (sorted): between two of them the
        universe as of a date is the same, so a panel of dates reads it once per stretch."""
        rows = self.rows(
            "SELECT DISTINCT effective_on FROM (SELECT effective_on FROM company_history UNION ALL "
            "SELECT effective_on FROM role_tag_history) WHERE effective_on IS NOT NULL ORDER BY 1"
        )
        return [r[0] for r in rows]

    def events_between(self, start: date, end: date) -> pl.DataFrame:
        """Company events that became known after ``start`` and up to ``end`` (point in time: nothing after ``end``;
        a month-, quarter- or year-level date becomes known at its period's end, ``contract.known_from``)."""
        rows = self.query(
            "SELECT symbol, date, kind, description, date_precision FROM events "
            "WHERE date > ? AND date <= ? AND symbol <> '*' ORDER BY symbol, date, kind, description",
            [start - timedelta(days=366), end],
        )
        known = known_from(pl.col("date"), pl.col("date_precision"))
        return rows.filter((known > start) & (known <= end)).drop("date_precision")

    def company_events(self, symbol: str, as_of: date, limit: int) -> pl.DataFrame:
        """The symbol's newest ``limit`` events known on ``as_of`` (``contract.known_from``)."""
        rows = self.query(
            "SELECT date, kind, stage, capacity_tpa, target_year, amount_usd, description, source, date_precision "
            "FROM events WHERE symbol = ? AND date <= ? ORDER BY date DESC, kind, description",
            [symbol, as_of],
        )
        known = known_from(pl.col("date"), pl.col("date_precision"))
        return rows.filter(known <= as_of).drop("date_precision").head(limit)

    def company_fundamentals(self, symbol: str, as_of: date, fields: Sequence[str]) -> pl.DataFrame:
        """The symbol's statements with period end on or before ``as_of``, newest first."""
        cols = ", ".join(["period_end", "period", "currency", *fields, "provider", "loaded_at"])
        return self.query(
            f"SELECT {cols} FROM fundamentals WHERE symbol = ? AND period_end <= ? ORDER BY period_end DESC, period",
            [symbol, as_of],
        )

    def freshness_parts(self, symbol: str, as_of: date) -> list[pl.DataFrame]:
        """Per data kind and provider (prices, fundamentals, events, daily share counts): the latest dated value on
        or before as-of, the row count and the load time. The dated tables are asked in one query (a company card
        opens the store for a few milliseconds of reads: each round trip counts); events follow the known-on rule."""
        # the daily share count: market cap uses it when it is newer than the last statement
        dated = " UNION ALL ".join(
            f"SELECT '{data}' AS data, provider, max({day}) AS latest, count(*) AS rows, max(loaded_at) AS loaded_at "
            f"FROM {table} WHERE symbol = ? AND {day} <= ? GROUP BY provider"
            for data, table, day in (
                ("prices", "prices", "date"),
                ("fundamentals", "fundamentals", "period_end"),
                ("shares", "share_history", "date"),
            )
        )
        return [
            self.query(dated, [symbol, as_of] * 3),
            self.known_events(symbol, as_of)
            .group_by("provider")
            .agg(
                pl.lit("events").alias("data"),
                pl.col("date").max().alias("latest"),
                pl.len().cast(pl.Int64).alias("rows"),
                pl.col("loaded_at").max(),
            )
            .select("data", "provider", "latest", "rows", "loaded_at"),
        ]

    def stored_periods(self, symbols: Sequence[str]) -> dict[str, frozenset[str]]:
        """The statement periods stored per symbol, whoever stored them: an empty answer never outranks them."""
        if not symbols:
            return {}
        rows = self.rows(
            "SELECT symbol, list(DISTINCT period) FROM fundamentals WHERE list_contains(?, symbol) GROUP BY symbol",
            [list(symbols)],
        )
        return {sym: frozenset(periods) for sym, periods in rows}

    def market_cap_inputs(self) -> pl.DataFrame:
        """Per profiled company: the latest close, the latest share count (share history first, else the newest
        statement), the unit closes are stored in, and the provider's market cap."""
        return self.query(
            """
            WITH lc AS (SELECT symbol, arg_max(close, date) AS close FROM prices GROUP BY symbol),
                 sh AS (SELECT symbol, arg_max(shares, date) AS shares FROM share_history GROUP BY symbol),
                 fs AS (SELECT symbol, arg_max(shares_outstanding, period_end) AS shares FROM fundamentals
                        WHERE shares_outstanding IS NOT NULL GROUP BY symbol)
            SELECT p.symbol, coalesce(sh.shares, fs.shares) AS shares_outstanding, lc.close,
                   coalesce(p.price_unit, c.currency) AS price_unit, p.market_cap
            FROM company_profiles p
            JOIN lc USING (symbol)
            LEFT JOIN sh USING (symbol)
            LEFT JOIN fs USING (symbol)
            LEFT JOIN companies c USING (symbol)
            ORDER BY p.symbol
            """
        )

    def keys_from_other_providers(
        self, kind: str, cols: Sequence[str], provider: str, *, distinct: bool = False
    ) -> pl.DataFrame:
        """The ``cols`` of every row of ``kind`` that ``provider`` did not store."""
        head = "SELECT DISTINCT" if distinct else "SELECT"
        return self.query(f"{head} {', '.join(cols)} FROM {kind} WHERE provider <> ?", [provider])

    def delete_provider_rows(self, kind: str, provider: str) -> None:
        """Drop every row of ``kind`` that ``provider`` stored (a demo rerun replaces its own rows only)."""
        self.con.execute(f"DELETE FROM {kind} WHERE provider = ?", [provider])

    # -- the bundled universe: refreshed by init, yielding to whatever the user owns ----------------------------
    def write_bundled_companies(self, frame: pl.DataFrame, provider: str, stamp: datetime) -> tuple[UpsertResult, int]:
        """Store the shipped companies except those a user owns, with their tags except the ones a user touched.

        Returns the write's result and how many companies are new to the store.
        """
        existing = self.query("SELECT symbol, origin FROM companies")
        user_owned = existing.filter(pl.col("origin") == "user").select("symbol")
        bundled = frame.join(user_owned, on="symbol", how="anti")
        added = bundled.join(existing.select("symbol"), on="symbol", how="anti").height
        user_touched = self.query("SELECT DISTINCT symbol, role FROM role_tag_history WHERE actor <> 'bundled'")
        fields = COMPANY_FIELDS
        incoming = bundled.select(fields).with_columns(
            pl.lit(provider).alias("provider"), pl.lit(stamp).cast(pl.Datetime("us")).alias("loaded_at")
        )
        with (
            self.registered("_bundled_companies", incoming),
            self._recording_company_changes(actor="bundled", at=stamp),
        ):
            cols = ", ".join([*fields, "provider", "loaded_at"])
            # The WHERE guards the race where a user import lands between the read above and this write.
            self.con.execute(
                f"INSERT INTO companies ({cols}, origin) SELECT {cols}, 'bundled' FROM _bundled_companies "
                "ON CONFLICT (symbol) DO UPDATE SET "
                + ", ".join(f"{f} = excluded.{f}" for f in [*fields[1:], "provider", "loaded_at"])
                + " WHERE companies.origin = 'bundled'"
            )
        wanted = (
            bundled.select("symbol", pl.col("roles").str.split(";").alias("role"), "source")
            .explode("role")
            .filter(pl.col("role") != "")
        )
        self.set_roles(wanted, actor="bundled", origin="bundled", at=stamp, protected=user_touched)
        self.resolve_rejections("companies", bundled, at=stamp)
        return UpsertResult(bundled.height, kept_out=frame.height - bundled.height), added

    def write_bundled_events(self, frame: pl.DataFrame, provider: str, stamp: datetime) -> tuple[UpsertResult, int]:
        """Store the shipped events except keys a user's own row holds. Returns the result and the events added."""
        key = ["symbol", "date", "kind", "description"]
        users = self.query(f"SELECT {', '.join(key)} FROM events WHERE origin <> 'bundled'")
        ours = frame.join(users, on=key, how="anti", nulls_equal=True)
        before = int(self.scalar("SELECT count(*) FROM events"))
        bundled_events = ours.with_columns(
            pl.lit("bundled").alias("origin"),
            pl.lit(provider).alias("provider"),
            pl.lit(stamp).cast(pl.Datetime("us")).alias("loaded_at"),
        )
        with self.registered("_bundled_events", bundled_events):
            values = [c for c in KINDS["events"].names if c not in key]
            cols = ", ".join([*key, *values, "origin", "provider", "loaded_at"])
            # Bundled events refresh only rows that are still bundled; a user's own row with the same key wins.
            self.con.execute(
                f"INSERT INTO events ({cols}) SELECT {cols} FROM _bundled_events ON CONFLICT "
                "(symbol, date, kind, description) DO UPDATE SET "
                + ", ".join(f"{c} = excluded.{c}" for c in values)
                + " WHERE events.origin = 'bundled'"
            )
        added = int(self.scalar("SELECT count(*) FROM events")) - before
        self.resolve_rejections("events", ours, at=stamp)
        return UpsertResult(ours.height, kept_out=frame.height - ours.height), added

    def has_company(self, symbol: str) -> bool:
        """Whether ``symbol`` is in the universe."""
        return self.scalar("SELECT count(*) FROM companies WHERE symbol = ?", [symbol]) != 0

    def symbol_list(self) -> list[str]:
        """Every stored symbol in order: the candidates a "did you mean" hint picks from."""
        return [r[0] for r in self.rows("SELECT symbol FROM companies ORDER BY symbol")]
