"""Read-only SQL for power users: one SELECT against the store, on a connection that can change nothing.

Why a connection of its own rather than ``Store.query``: the store's connection may write and migrate, and the SQL
here is typed by a person, not written by this package. So the guard has three layers, each enough for most hostile
statements on its own:

1. the text must parse as exactly one ``SELECT`` (``WITH``, ``VALUES``, ``FROM t``, ``SHOW``, ``DESCRIBE`` and
   ``SUMMARIZE`` parse as one) or ``EXPLAIN``: anything else is refused before it runs;
2. the file is opened ``read_only``, so DuckDB refuses every write to it (and ``nextval`` on its sequences);
3. the connection starts with external access disabled (``enable_external_access=false``, no extension
   auto-install or auto-load, no community extensions, no Python replacement scans) and its configuration is locked
   (``lock_configuration=true``) before any SQL of the caller runs: no file or URL is read or written
   (``read_csv``, ``glob``, ``COPY``, ``ATTACH``, ``EXPORT DATABASE``), no extension is installed or loaded, and no
   ``SET`` re-enables any of it.

This is a guard-rail against mistakes and pasted SQL, not a sandbox for strangers: DuckDB's own security guide says
to treat SQL like a script, so the query runs with the rights of whoever runs it, on their own store.

Rows are capped (``max_rows``): DuckDB stops after the cap plus one row, so a cross join of the price table with
itself ends early instead of filling the memory, and the caller learns the result was cut (``truncated``).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb
import polars as pl
from duckdb.sqltypes import DuckDBPyType

from screener.errors import ArgumentError, Option, ScreenerError, StoreLockedError
from screener.paths import resolve_db_path

#: The rows a query returns unless told otherwise: plenty to read or paste, small enough for any memory.
DEFAULT_MAX_ROWS = 10_000

#: The statement types that only read: a query (SELECT, WITH, VALUES, SHOW, DESCRIBE, SUMMARIZE) or its plan.
READ_STATEMENTS = {duckdb.StatementType.SELECT: "SELECT", duckdb.StatementType.EXPLAIN: "EXPLAIN"}

#: The connection settings that make the connection unable to reach outside the store file. DuckDB applies them at
#: start-up, and ``lock_configuration`` (set once ``SESSION`` is) then refuses any ``SET`` or ``RESET`` that would
#: undo them.
LOCKED_DOWN: dict[str, str | bool | int | float | list[str]] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "python_enable_replacements": False,
    "lock_configuration": True,
}

#: Settings of the connection's own session, made before ``lock_configuration`` takes effect (DuckDB takes them only
#: after start-up): the library never prints, and DuckDB's progress bar would write to stderr under a long query.
SESSION = "SET enable_progress_bar = false"

#: What a Ctrl-C during a query says: the connection is read-only, so there is nothing to undo.
INTERRUPTED = "nothing was changed (the query is read-only)."

#: DuckDB types that polars cannot take (at any depth: a list of intervals too), by DuckDB's type id.
UNHELD_TYPES = {"interval": "INTERVAL", "union": "UNION"}

#: Integer types wider than polars takes exactly from DuckDB (they arrive as DECIMAL(38,0): HUGEINT's largest values
#: lose a digit, UHUGEINT's wrap to negative): they travel as text and become the polars type of the same width.
WIDE_INTEGERS = {"hugeint": "Int128", "uhugeint": "UInt128"}

#: Leading comments and brackets, skipped to find the first word of a statement.
_LEAD = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*", re.DOTALL)


@dataclass(frozen=True)
class QueryResult:
    """The rows of a read-only query; ``truncated`` is True when the query had more than ``max_rows`` rows."""

    rows: pl.DataFrame
    truncated: bool
    max_rows: int


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _keyword(text: str) -> str | None:
    """The statement's first word as the user wrote it (upper case), past comments and brackets: what a refusal
    names, since DuckDB's statement type groups several (``INSTALL`` is a ``LOAD``, ``PIVOT`` a ``MULTI``)."""
    words = re.findall(r"[A-Za-z_]+", text[_LEAD.match(text).end() :])[:2]  # type: ignore[union-attr]
    if not words:
        return None
    if words[0].upper() == "FORCE" and len(words) > 1:  # FORCE INSTALL / FORCE CHECKPOINT
        return f"FORCE {words[1].upper()}"
    return words[0].upper()


def _statement_kind(sql: str) -> str:
    """The one read statement ``sql`` holds, by name; anything else is refused with a line naming the statement
    as it was written."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise ScreenerError(f"the SQL does not parse: {_first_line(exc)}") from None
    if not statements:
        raise ScreenerError("the SQL is empty: give one SELECT statement")
    if len(statements) > 1:
        raise ScreenerError(f"the SQL holds {len(statements)} statements; give exactly one SELECT")
    statement = statements[0]
    try:
        kind = statement.type
    except ValueError:  # a statement type this duckdb's Python enum does not list (``UPDATE EXTENSIONS``)
        kind = None
    if kind not in READ_STATEMENTS:
        name = _keyword(statement.query) or getattr(kind, "name", "this statement")
        hint = "; a PIVOT runs when it lists its values (ON col IN (...))" if name == "PIVOT" else ""
        raise ScreenerError(f"refused: {name} is not allowed here; only one SELECT (or EXPLAIN) runs, read-only{hint}")
    return READ_STATEMENTS[kind]


def _type_ids(dtype: DuckDBPyType) -> Iterator[str]:
    """The type ids of ``dtype`` and of every type nested in it (a list's element, a struct's fields, ...)."""
    yield dtype.id
    if dtype.id in {"list", "array", "struct", "map", "union"}:
        for _, child in dtype.children:
            if isinstance(child, DuckDBPyType):
                yield from _type_ids(child)


def _check_types(relation: duckdb.DuckDBPyRelation) -> None:
    """Refuse, naming the column and its type, a result polars cannot hold: converting it would fail (or, nested,
    crash polars) after the query ran."""
    for name, dtype in zip(relation.columns, relation.types, strict=True):
        unheld = [UNHELD_TYPES[i] for i in _type_ids(dtype) if i in UNHELD_TYPES]
        if unheld:
            raise ScreenerError(
                f"cannot return the result: column {name!r} is {dtype}, which polars cannot hold "
                f"({unheld[0]}); CAST it to VARCHAR in the query"
            )


def _exact_integers(relation: duckdb.DuckDBPyRelation) -> tuple[duckdb.DuckDBPyRelation, dict[int, str]]:
    """``relation`` with its HUGEINT and UHUGEINT columns as text, and which positions to turn back into integers:
    polars takes them from DuckDB as DECIMAL(38,0), which rounds the largest and wraps the unsigned ones."""
    wide = {i: WIDE_INTEGERS[t.id] for i, t in enumerate(relation.types) if t.id in WIDE_INTEGERS}
    if not wide:
        return relation, {}
    names = ['"' + n.replace('"', '""') + '"' for n in relation.columns]
    exprs = [f"CAST(#{i + 1} AS VARCHAR) AS {names[i]}" if i in wide else f"#{i + 1}" for i in range(len(names))]
    return relation.project(", ".join(exprs)), wide


#: Seconds between the repeated interrupts of a query after a Ctrl-C (``_ctrl_c_stops``).
INTERRUPT_REPEAT = 0.05


@contextmanager
def _ctrl_c_stops(con: duckdb.DuckDBPyConnection) -> Iterator[threading.Event]:
    """While the block runs, a Ctrl-C (SIGINT) interrupts ``con``'s query and sets the event yielded.

    Why not DuckDB's own handling alone: it notices a SIGINT only when it polls for one, and one that lands outside
    its polling (binding, a phase between polls) is lost and the query runs on. Here Python's C-level handler writes
    the signal to a socket the moment it arrives (``signal.set_wakeup_fd``), and a thread waiting on that socket
    calls ``interrupt``; while DuckDB has a handler of its own installed, DuckDB's answer (``Query interrupted``) is
    the one that comes. Off the main thread signals cannot be caught, so the block runs as it is.
    """
    pressed = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield pressed
        return
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    ended = threading.Event()

    def watch() -> None:
        # not ``pressed``: the Python-level handler may set it first (it runs whenever the main thread next runs
        # Python), and the interrupt must be asked for all the same
        while data := reader.recv(64):
            if signal.SIGINT in data:
                pressed.set()
                # an interrupt that lands before DuckDB has started executing (the block may still be importing
                # or planning) is dropped, and the query would then run on: ask again until the block ends
                con.interrupt()
                while not ended.wait(INTERRUPT_REPEAT):
                    con.interrupt()
                return

    previous = signal.signal(signal.SIGINT, lambda _signum, _frame: pressed.set())
    before = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    watcher = threading.Thread(target=watch, name="screener-query-ctrl-c", daemon=True)
    watcher.start()
    try:
        yield pressed
    finally:
        ended.set()
        signal.set_wakeup_fd(before)
        signal.signal(signal.SIGINT, previous)
        writer.shutdown(socket.SHUT_WR)  # the watcher reads the end and returns
        watcher.join()
        reader.close()
        writer.close()


def connect_readonly(path: str | os.PathLike[str] | None) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the store file with external access disabled and the configuration locked.

    Raises ``ScreenerError`` for a missing store (nothing is created), ``StoreLockedError`` when another process
    holds the file for writing.
    """
    target = resolve_db_path(path)
    if not target.is_file():
        raise ScreenerError(f"no store at {target}: run 'screener init' (or 'screener demo') first")
    try:
        unlocked = {k: v for k, v in LOCKED_DOWN.items() if k != "lock_configuration"}
        con = duckdb.connect(str(target), read_only=True, config=unlocked)
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
    try:
        # the session's own settings, then the lock: no SQL of the caller has run on this connection yet
        con.execute(SESSION)
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def query_readonly(path: str | os.PathLike[str] | None, sql: str, *, max_rows: int = DEFAULT_MAX_ROWS) -> QueryResult:
    """Run one read-only statement ``sql`` against the store at ``path`` (None: ``SCREENER_DB``, else the default
    location) and return at most ``max_rows`` rows as a polars frame.

    Every refusal is a ``ScreenerError`` of one line (an ``ArgumentError`` naming ``max_rows`` when it is below 1)
    and leaves the store as it was: a write, a file read, ``ATTACH``, ``COPY``, ``INSTALL``/``LOAD``, a
    ``SET``, several statements, a syntax error, a missing store. A Ctrl-C while the query runs, which DuckDB
    reports as a ``RuntimeError``, is raised as the ``KeyboardInterrupt`` it was (its message: ``INTERRUPTED``).
    HUGEINT and UHUGEINT columns come back exact, as ``Int128`` and ``UInt128``.
    """
    if max_rows < 1:
        raise ArgumentError(Option("max_rows"), f" must be at least 1, got {max_rows}")
    _statement_kind(sql)
    try:
        con = connect_readonly(path)
    except RuntimeError as exc:  # a Ctrl-C while the connection is set up
        if "interrupted" in str(exc).lower():
            raise KeyboardInterrupt(INTERRUPTED) from None
        raise
    try:
        try:
            # The limit is part of the plan, so DuckDB stops once it has the cap plus the one row that says "more".
            relation = con.sql(sql).limit(max_rows + 1)
            _check_types(relation)
            relation, wide = _exact_integers(relation)
            with _ctrl_c_stops(con) as pressed:
                frame = relation.pl()
            if pressed.is_set():  # the query ended as the key was pressed: the user still asked to stop
                raise KeyboardInterrupt(INTERRUPTED)
        except duckdb.InterruptException:
            raise KeyboardInterrupt(INTERRUPTED) from None
        except RuntimeError as exc:
            # DuckDB stops the query on a Ctrl-C and says RuntimeError("Query interrupted"): give it back its meaning
            if "interrupted" in str(exc).lower():
                raise KeyboardInterrupt(INTERRUPTED) from None
            raise
        except duckdb.PermissionException as exc:
            raise ScreenerError(f"refused: {_first_line(exc)}; the query reads the store only") from None
        except duckdb.Error as exc:
            message = _first_line(exc)
            if "attached in read-only mode" in message:
                raise ScreenerError(f"refused: {message}; the query reads the store only") from None
            raise ScreenerError(f"the query failed: {message}") from None
        except pl.exceptions.PolarsError as exc:
            # a type _check_types does not know yet: say what polars said, and the way round it
            raise ScreenerError(
                f"cannot return the result: polars cannot hold a column of it ({_first_line(exc)}); "
                "CAST the column to VARCHAR in the query"
            ) from None
    finally:
        con.close()
    if wide:
        frame = frame.with_columns(
            frame.to_series(i).cast(getattr(pl, dtype), strict=True) for i, dtype in wide.items()
        )
    # a BLOB has no csv or spreadsheet form: it is shown as hexadecimal text, in every format alike
    binary = [name for name, dtype in frame.schema.items() if dtype == pl.Binary]
    if binary:
        frame = frame.with_columns(pl.col(binary).bin.encode("hex"))
    truncated = frame.height > max_rows
    return QueryResult(rows=frame.head(max_rows), truncated=truncated, max_rows=max_rows)
