"""Read-only SQL for power users: one SELECT against the store, on a connection that can change nothing.

Why a connection of its own rather than ``Store.query``: the store's connection may write and migrate, and the SQL
here is typed by a person, not written by this package. So the guard has three layers, each enough for most hostile
statements on its own:

1. the text must parse as exactly one ``SELECT`` (``WITH``, ``VALUES``, ``FROM t``, ``SHOW``, ``DESCRIBE`` and
   ``SUMMARIZE`` parse as one) or ``EXPLAIN``: anything else is refused before it runs;
2. the file is opened ``read_only``, so DuckDB refuses every write to it (and ``nextval`` on its sequences);
3. the connection starts with external access disabled and the configuration locked
   (``enable_external_access=false``, ``lock_configuration=true``, no extension auto-install or auto-load, no
   community extensions, no Python replacement scans): no file or URL is read or written (``read_csv``, ``glob``,
   ``COPY``, ``ATTACH``, ``EXPORT DATABASE``), no extension is installed or loaded, and no ``SET`` re-enables any of
   it.

This is a guard-rail against mistakes and pasted SQL, not a sandbox for strangers: DuckDB's own security guide says
to treat SQL like a script, so the query runs with the rights of whoever runs it, on their own store.

Rows are capped (``max_rows``): DuckDB stops after the cap plus one row, so a cross join of the price table with
itself ends early instead of filling the memory, and the caller learns the result was cut (``truncated``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import duckdb
import polars as pl

from screener.errors import ArgumentError, Option, ScreenerError, StoreLockedError
from screener.store.connection import resolve_db_path

#: The rows a query returns unless told otherwise: plenty to read or paste, small enough for any memory.
DEFAULT_MAX_ROWS = 10_000

#: The statement types that only read: a query (SELECT, WITH, VALUES, SHOW, DESCRIBE, SUMMARIZE) or its plan.
READ_STATEMENTS = {duckdb.StatementType.SELECT: "SELECT", duckdb.StatementType.EXPLAIN: "EXPLAIN"}

#: The connection settings that make the connection unable to reach outside the store file. DuckDB applies them at
#: start-up; ``lock_configuration`` then refuses any ``SET`` or ``RESET`` that would undo them.
LOCKED_DOWN: dict[str, str | bool | int | float | list[str]] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "python_enable_replacements": False,
    "lock_configuration": True,
}


@dataclass(frozen=True)
class QueryResult:
    """The rows of a read-only query; ``truncated`` is True when the query had more than ``max_rows`` rows."""

    rows: pl.DataFrame
    truncated: bool
    max_rows: int


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _statement_kind(sql: str) -> str:
    """The one read statement ``sql`` holds, by name; anything else is refused with a line saying what it was."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise ScreenerError(f"the SQL does not parse: {_first_line(exc)}") from None
    if not statements:
        raise ScreenerError("the SQL is empty: give one SELECT statement")
    if len(statements) > 1:
        raise ScreenerError(f"the SQL holds {len(statements)} statements; give exactly one SELECT")
    kind = statements[0].type
    if kind not in READ_STATEMENTS:
        name = getattr(kind, "name", str(kind))
        raise ScreenerError(f"refused: {name} is not allowed here; only one SELECT (or EXPLAIN) runs, read-only")
    return READ_STATEMENTS[kind]


def connect_readonly(path: str | os.PathLike[str] | None) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the store file with external access disabled and the configuration locked.

    Raises ``ScreenerError`` for a missing store (nothing is created), ``StoreLockedError`` when another process
    holds the file for writing.
    """
    target = resolve_db_path(path)
    if not target.is_file():
        raise ScreenerError(f"no store at {target}: run 'screener init' (or 'screener demo') first")
    try:
        return duckdb.connect(str(target), read_only=True, config=dict(LOCKED_DOWN))
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise StoreLockedError(
                f"the store {target} is in use by another process; close it (or wait for it) and retry"
            ) from None
        raise ScreenerError(f"cannot open the store {target}: {_first_line(exc)}") from None
    except duckdb.Error as exc:
        if "different configuration" in str(exc):
            raise ScreenerError(
                f"the store {target} is open in this process with a writable connection; close it first"
            ) from None
        raise ScreenerError(f"cannot open the store {target}: {_first_line(exc)}") from None


def query_readonly(path: str | os.PathLike[str] | None, sql: str, *, max_rows: int = DEFAULT_MAX_ROWS) -> QueryResult:
    """Run one read-only statement ``sql`` against the store at ``path`` (None: ``SCREENER_DB``, else the default
    location) and return at most ``max_rows`` rows as a polars frame.

    Every refusal is a ``ScreenerError`` of one line (an ``ArgumentError`` naming ``max_rows`` when it is below 1)
    and leaves the store as it was: a write, a file read, ``ATTACH``, ``COPY``, ``INSTALL``/``LOAD``, a
    ``SET``, several statements, a syntax error, a missing store.
    """
    if max_rows < 1:
        raise ArgumentError(Option("max_rows"), f" must be at least 1, got {max_rows}")
    _statement_kind(sql)
    con = connect_readonly(path)
    try:
        try:
            # The limit is part of the plan, so DuckDB stops once it has the cap plus the one row that says "more".
            frame = con.sql(sql).limit(max_rows + 1).pl()
        except duckdb.PermissionException as exc:
            raise ScreenerError(f"refused: {_first_line(exc)}; the query reads the store only") from None
        except duckdb.Error as exc:
            message = _first_line(exc)
            if "attached in read-only mode" in message:
                raise ScreenerError(f"refused: {message}; the query reads the store only") from None
            raise ScreenerError(f"the query failed: {message}") from None
        except pl.exceptions.PolarsError:
            # e.g. an INTERVAL column, which polars cannot take from Arrow: the SQL can cast it
            raise ScreenerError(
                "cannot return the result: a column has a type polars cannot hold (INTERVAL, for one); "
                "CAST it to VARCHAR in the query"
            ) from None
    finally:
        con.close()
    truncated = frame.height > max_rows
    return QueryResult(rows=frame.head(max_rows), truncated=truncated, max_rows=max_rows)
