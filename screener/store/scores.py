"""Score sets in the store: one stored frame per as-of date, so that ``show`` and ``export`` read what was scored.

How a set is kept (schema v12): ``score_sets`` holds one row per as-of date (when it was computed, whether it rests
on demo data, how many companies, the data version it was computed under), and the set's rows live in a table of
their own, ``score_rows."<as-of date>"``, one DuckDB column per score column. Why a table per set: a screen reads a
handful of the set's 64 columns and a company card one row, and DuckDB reads only the columns and rows a query
names; a set kept as one Parquet BLOB is read whole (and DuckDB's scan of the BLOB column also reads the BLOBs of
the other stored dates before it, so every week kept made the read slower). A frame whose dtypes a DuckDB table
cannot give back exactly is kept the old way, as Parquet in ``score_sets.payload`` (``rows_in`` is then NULL).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from screener.store.connection import StoreBase, utcnow

if TYPE_CHECKING:
    import duckdb

#: Rows per Parquet row group of a score set kept as Parquet (``payload``): a set is sorted by symbol, so a
#: one-company read decodes one group of 8,192 rows instead of all of them.
SCORE_ROW_GROUP = 8192
#: The schema that holds one table of rows per stored score set.
ROWS_SCHEMA = "score_rows"
#: A filtered read (``show``: one company) fetches the matching rows by row id up to this many; more matches read
#: the wanted columns whole and keep the matches.
_ROWID_FETCH = 256

_INTEGERS = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)
_PLAIN = (*_INTEGERS, pl.Float32, pl.Float64, pl.String, pl.Boolean, pl.Date)


def rows_table(as_of: date) -> str:
    """The table, schema-qualified and quoted, that holds the rows of the score set of ``as_of``."""
    return f'{ROWS_SCHEMA}."{as_of.isoformat()}"'


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _plain(dtype: pl.DataType) -> bool:
    """Whether a DuckDB column gives ``dtype`` back exactly (checked again on every write, ``write_rows_table``)."""
    if isinstance(dtype, pl.List):
        return _plain(dtype.inner)
    return dtype in _PLAIN


def storable_as_table(frame: pl.DataFrame) -> bool:
    """Whether ``frame`` can be kept as a DuckDB table and read back identical: plain dtypes (numbers, text,
    booleans, dates and lists of them) and column names DuckDB tells apart (it folds case)."""
    names = [c.lower() for c in frame.columns]
    return (
        frame.width > 0
        and all(names)
        and len(set(names)) == len(names)
        and "rowid" not in names  # a column of that name would hide DuckDB's row id, which a filtered read uses
        and all(_plain(t) for t in frame.schema.values())
    )


def _equal_text(predicate: pl.Expr, schema: pl.Schema) -> tuple[str, str] | None:
    """(column, text) when ``predicate`` is exactly ``pl.col(column) == text`` on a text column, else None. Such a
    test means the same in SQL (equal bytes; a missing value equals nothing), so DuckDB can apply it itself."""
    inputs = predicate.meta.pop()
    columns = [e for e in inputs if e.meta.is_column()]
    literals = [e for e in inputs if e.meta.is_literal()]
    if len(inputs) != 2 or len(columns) != 1 or len(literals) != 1:
        return None
    name = columns[0].meta.output_name()
    value = pl.select(literals[0]).to_series()
    if schema.get(name) != pl.String or value.dtype != pl.String or value.len() != 1 or value[0] is None:
        return None
    if not predicate.meta.eq(pl.col(name) == value[0]):
        return None
    return name, value[0]


class _ArrowStream:
    """``frame`` offered to DuckDB through the Arrow C stream interface alone: DuckDB's own polars path goes
    through pyarrow, whose import would cost every command that stores a set a tenth of a second."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        return self.frame.__arrow_c_stream__(requested_schema)


def read_frame(con: duckdb.DuckDBPyConnection, sql: str) -> pl.DataFrame:
    """The result of ``sql`` as a polars frame, over the Arrow C stream (as ``StoreBase.query``)."""
    relation = con.sql(sql)
    if not hasattr(relation, "__arrow_c_stream__"):
        return relation.pl()
    return pl.DataFrame(relation)


def write_rows_table(con: duckdb.DuckDBPyConnection, as_of: date, frame: pl.DataFrame) -> bool:
    """Keep ``frame`` as the rows table of ``as_of`` (replacing one left there) and say whether it is; False when
    it cannot be given back identical (``storable_as_table``), and then no table is left. Run inside the caller's
    transaction: the rows and their ``score_sets`` row land together.

    Row order is kept: DuckDB preserves insertion order (its default), and reads scan in it."""
    table = rows_table(as_of)
    con.execute(f"DROP TABLE IF EXISTS {table}")
    if not storable_as_table(frame):
        return False
    con.register("_score_rows_in", _ArrowStream(frame))
    try:
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM _score_rows_in")
    finally:
        con.unregister("_score_rows_in")
    if read_frame(con, f"SELECT * FROM {table} LIMIT 0").schema != frame.schema:
        con.execute(f"DROP TABLE {table}")
        return False
    return True


def _parquet(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_parquet(buf, row_group_size=SCORE_ROW_GROUP)
    return buf.getvalue()


def split_score_sets(con: duckdb.DuckDBPyConnection) -> None:
    """Migration v12: every stored set kept as Parquet in ``payload`` gets its rows table (``write_rows_table``),
    read back equal to the Parquet before its payload is emptied. A payload that does not decode, or a frame a table
    cannot give back exactly, stays as it was: nothing stored is lost, and it reads as before."""
    from polars.testing import assert_frame_equal

    dates = [r[0] for r in con.execute("SELECT as_of FROM score_sets ORDER BY as_of").fetchall()]
    for as_of in dates:
        payload = con.execute("SELECT payload FROM score_sets WHERE as_of = ?", [as_of]).fetchall()[0][0]
        try:
            frame = pl.read_parquet(io.BytesIO(payload))
        except Exception:  # not a Parquet set (an empty or foreign payload): kept untouched
            continue
        if not write_rows_table(con, as_of, frame):
            continue
        try:
            assert_frame_equal(read_frame(con, f"SELECT * FROM {rows_table(as_of)}"), frame, check_exact=True)
        except AssertionError:
            con.execute(f"DROP TABLE {rows_table(as_of)}")
            continue
        con.execute("UPDATE score_sets SET payload = ''::BLOB, rows_in = ? WHERE as_of = ?", [rows_table(as_of), as_of])


class Scores(StoreBase):
    """The score sets, one per as-of date."""

    def save_scores(
        self,
        as_of: date,
        frame: pl.DataFrame,
        *,
        demo: bool,
        inputs_hash: str | None = None,
        computed_at: datetime | None = None,
    ) -> None:
        """Replace the score set of one as-of date: its rows as a table (``write_rows_table``), or as Parquet when a
        table cannot give its dtypes back exactly. Either keeps every dtype (lists of flags included).
        ``computed_at`` (default now) is when the set was computed, for a set stored some time after."""
        with self.transaction(inputs=False):
            self.con.execute("DELETE FROM score_sets WHERE as_of = ?", [as_of])
            tabled = write_rows_table(self.con, as_of, frame)
            self.con.execute(
                "INSERT INTO score_sets (as_of, computed_at, demo, n_companies, inputs_hash, payload, rows_in) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    as_of,
                    computed_at or utcnow(),
                    demo,
                    frame.height,
                    inputs_hash,
                    b"" if tabled else _parquet(frame),
                    rows_table(as_of) if tabled else None,
                ],
            )

    def _stored_set(self, as_of: date | None) -> tuple[date, str | None, bytes | None] | None:
        """(as-of date, rows table, Parquet payload) of the set of ``as_of`` (or the newest); the payload only when
        the set is kept as Parquet, so a set kept as a table costs no BLOB read."""
        select = "SELECT as_of, rows_in, CASE WHEN rows_in IS NULL THEN payload END FROM score_sets"
        if as_of is None:
            rows = self.rows(f"{select} ORDER BY as_of DESC LIMIT 1")
        else:
            rows = self.rows(f"{select} WHERE as_of = ?", [as_of])
        return rows[0] if rows else None

    def load_scores(self, as_of: date | None = None) -> tuple[date, pl.DataFrame] | None:
        """The score set for ``as_of`` (or the newest one); ``None`` when nothing was scored yet."""
        found = self._stored_set(as_of)
        if found is None:
            return None
        day, table, payload = found
        if table is None:
            return day, pl.read_parquet(io.BytesIO(payload or b""))
        return day, self.query(f"SELECT * FROM {table}")

    def scan_scores(self, as_of: date) -> pl.LazyFrame | None:
        """The score set of ``as_of`` as a lazy scan; ``None`` when none is stored.

        Why lazy: a screen reads a handful of the set's columns and a company card one row of it; a scan reads
        only the columns (and, given a filter, the rows) the caller collects, where ``load_scores`` reads every
        column of every company. A set kept as a table is read when collected, through this store's connection:
        collect while the store is open."""
        found = self._stored_set(as_of)
        if found is None:
            return None
        _, table, payload = found
        if table is None:
            return pl.scan_parquet(io.BytesIO(payload or b""))
        return self._scan_table(table)

    def _scan_table(self, table: str) -> pl.LazyFrame:
        """A lazy frame over the rows table ``table``: each collect asks DuckDB for the columns it projects. A filter
        that is one text column equal to a text is DuckDB's to apply; any other filter first reads the columns it
        tests, then fetches only the matching rows (by row id)."""
        from polars.io.plugins import register_io_source

        schema = self.query(f"SELECT * FROM {table} LIMIT 0").schema

        def source(
            with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, _batch: int | None
        ) -> Iterator[pl.DataFrame]:
            wanted = list(schema) if with_columns is None else with_columns
            yield self._read_rows(table, schema, wanted, predicate, n_rows)

        return register_io_source(source, schema=schema)

    def _read_rows(
        self, table: str, schema: pl.Schema, columns: list[str], predicate: pl.Expr | None, n_rows: int | None
    ) -> pl.DataFrame:
        # DuckDB cannot select no column: the row id stands in and is dropped, so the height stays right
        select = ", ".join(_quoted(c) for c in columns) or "rowid"
        if predicate is None:
            if n_rows is None:  # every row: a wide read runs on two connections at once
                return self._read_columns(table, [_quoted(c) for c in columns]).select(columns)
            return self.query(f"SELECT {select} FROM {table} LIMIT {int(n_rows)}").select(columns)
        equal = _equal_text(predicate, schema)
        if equal is not None:  # one company's row (``show``): DuckDB finds it by itself, in one query
            column, text = equal
            limit = f" LIMIT {int(n_rows)}" if n_rows is not None else ""
            found = self.query(
                f"SELECT {select} FROM {table} WHERE {_quoted(column)} = ? ORDER BY rowid{limit}", [text]
            )
            return found.select(columns)
        names = list(dict.fromkeys(predicate.meta.root_names()))
        row = "_row" + "_" * max((len(c) for c in names), default=0)  # a name none of the tested columns has
        tested = "".join(f", {_quoted(c)}" for c in names)
        probe = self.query(f"SELECT rowid AS {row}{tested} FROM {table}")
        keep = probe.select(predicate.fill_null(False).alias("keep")).to_series()
        if len(keep) == 1 and probe.height != 1:  # a predicate that names no column: the same for every row
            keep = pl.Series("keep", [bool(keep[0])] * probe.height)
        hits = probe.filter(keep)[row]
        if n_rows is not None:
            hits = hits.head(n_rows)
        if hits.len() <= _ROWID_FETCH:
            if hits.is_empty():
                return self.query(f"SELECT {select} FROM {table} LIMIT 0").select(columns)
            ids = ", ".join(str(int(i)) for i in hits)
            return self.query(f"SELECT {select} FROM {table} WHERE rowid IN ({ids}) ORDER BY rowid").select(columns)
        frame = self.query(f"SELECT {select} FROM {table}").filter(keep)
        return (frame.head(n_rows) if n_rows is not None else frame).select(columns)

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
