"""The connection to the DuckDB file: opening it, transactions, schema migrations and the raw query helpers.

Why the raw helpers live only here: the store package is the one place that speaks SQL. Every other module asks the
store a question by name, so a table's shape and its point-in-time rules change in one room.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime
from itertools import zip_longest
from pathlib import Path
from typing import Any, Literal, Self

import duckdb
import polars as pl

from screener.contract import known_from
from screener.errors import ArgumentError, Option, ScreenerError, StoreDamagedError, StoreLockedError, disk_full
from screener.paths import resolve_db_path
from screener.store import opening
from screener.store.migrations import LATEST_VERSION, MIGRATIONS, Step


class _Scanned:
    """A frame DuckDB reads through the Arrow stream interface, each statement afresh, until ``frame`` is set to
    None (``Store.registered``): a view that outlives its use then holds nothing."""

    __slots__ = ("frame",)

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame: pl.DataFrame | None = frame

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        if self.frame is None:
            raise ScreenerError("a frame was read after its registration ended")
        if any(dtype == pl.Null for dtype in self.frame.dtypes):
            # a column that is all missing (pl.Null): polars exports Arrow's null type without a validity buffer,
            # which DuckDB refuses; pyarrow's export of the same column DuckDB reads as SQL NULL, as writes always did
            return self.frame.to_arrow().__arrow_c_stream__(requested_schema)
        return self.frame.__arrow_c_stream__(requested_schema)


def utcnow() -> datetime:
    """Naive UTC timestamp: DuckDB ``TIMESTAMP`` has no zone and the store speaks UTC throughout."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


#: DuckDB's file header: an 8-byte checksum, then the magic bytes ``DUCK``. A file without them is refused before
#: DuckDB sees it: given a SQLite file, DuckDB would otherwise try to download an extension to read it.
DUCKDB_MAGIC = b"DUCK"
DUCKDB_MAGIC_OFFSET = 8
_FOREIGN_HEADERS: tuple[tuple[bytes, str], ...] = (
    (b"SQLite format 3\x00", "a SQLite database"),
    (b"PAR1", "a Parquet file"),
    (b"PK\x03\x04", "a zip archive (an xlsx workbook?)"),
)
#: How long a command waits for another process's lock by default (``--wait``).
DEFAULT_WAIT = 10.0
#: How often the wait says it is still waiting.
WAIT_NOTE_EVERY = 2.0
#: Backups a migration keeps of the store it is about to change.
MIGRATION_BACKUPS = 3

#: How a store writes: ``hold`` keeps the write lock from open to close (a command that writes throughout),
#: ``brief`` reads on a shared connection and takes the lock only for each transaction (``refresh``: readers get in
#: between batches), ``if_free`` is ``brief`` whose writes are optional (``screen``, ``show``: a stale score set is
#: stored when nobody else holds the store, else computed in memory), ``never`` is read-only.
WriteMode = Literal["hold", "brief", "if_free", "never"]

_DAMAGE_SIGNS = (
    "corrupt database file",
    "checksum",
    "could not read enough bytes",
    "not a valid duckdb database file",
    "database has been invalidated",
    "internal error",
    "fatal error",
    "failed to deserialize",
    "serialization error",
)


class StoreUnwritableError(ScreenerError):
    """The store file cannot be opened for writing (a read-only file system, no write permission): not damage,
    and not a lock that will pass. A reader goes on read-only; a writer fails with this one line."""


class LogNotReplayedError(ScreenerError):
    """DuckDB cannot replay the store's write-ahead log (``log``): the data file may be whole, but DuckDB opens
    neither mode while the log is in place. A writer moves the log aside (``set_log_aside``); a reader says so."""

    def __init__(self, message: str, log: Path) -> None:
        self.log = log
        super().__init__(message)


def foreign_file(path: Path) -> str | None:
    """Why the existing file at ``path`` is not a DuckDB store, judged by its header alone; None when it has
    DuckDB's signature (or does not exist: a writer creates it)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        return "it is a folder"
    except OSError as exc:
        return f"it cannot be read ({exc.strerror or exc})"
    if not head:
        return "the file is empty"
    for magic, what in _FOREIGN_HEADERS:
        if head.startswith(magic):
            return f"it is {what}"
    if head[DUCKDB_MAGIC_OFFSET : DUCKDB_MAGIC_OFFSET + len(DUCKDB_MAGIC)] != DUCKDB_MAGIC:
        return "its header lacks DuckDB's signature"
    return None


def refuse_foreign(path: Path) -> None:
    """Raise a one-line ``ScreenerError`` when ``path`` exists and is not a DuckDB store (``foreign_file``)."""
    why = foreign_file(path)
    if why is not None:
        raise ScreenerError(f"{path} is not a screener store: {why}; use a store made by 'screener init'")


def damage_of(exc: BaseException) -> str | None:
    """The reason, in one short line, when ``exc`` is DuckDB saying the file is damaged; None for any other error.

    Why by message: DuckDB raises damage as several exception types (``IOException``, ``InternalException``, its
    bare ``Error``) that also carry ordinary failures, so the words are the only reliable sign."""
    if disk_full(exc):  # DuckDB invalidates a database that met a full disk ("fatal error"): the file is whole
        return None
    text = str(exc)
    first = text.strip().splitlines()[0] if text.strip() else ""
    lowered = text.lower()
    if not any(sign in lowered for sign in _DAMAGE_SIGNS):
        return None
    first = re.sub(r"^(IO|INTERNAL|FATAL|Serialization)? ?Error: ", "", first)
    return first if len(first) <= 160 else first[:157] + "..."


def damaged_message(path: Path, reason: str) -> str:
    """What the library says of a damaged store; the CLI adds what to do (``RECOVERY``)."""
    return f"the store {path} is damaged ({reason})"


def _is_log_replay_error(message: str) -> bool:
    return "replaying wal" in message.lower()


#: What DuckDB (the system, in fact) says when a file cannot be opened for writing, and how the screener says it.
_UNWRITABLE_SIGNS = {"read-only file system": "a read-only file system", "permission denied": "permission denied"}


def unwritable_reason(exc: BaseException) -> str | None:
    """Why the file could not be opened (``read-only file system``, ``permission denied``); None for any other
    error. Why apart from damage: such a store is whole, and can still be read."""
    lowered = str(exc).lower()
    return next((why for sign, why in _UNWRITABLE_SIGNS.items() if sign in lowered), None)


def _is_lock_error(message: str) -> bool:
    return "could not set lock" in message.lower() or "conflicting lock" in message.lower()


def lock_holder(message: str) -> str:
    """The process named in DuckDB's lock error (``Conflicting lock is held in /usr/bin/python3 (PID 4242)``) as
    ``process 4242 (python3)``; ``an unknown process`` when the message does not name one."""
    pid = re.search(r"\(PID (\d+)\)", message)
    if pid is None:
        return "an unknown process"
    program = re.search(r"held in (.+?) \(PID", message)
    name = Path(program.group(1).strip()).name if program else ""
    return f"process {pid.group(1)}" + (f" ({name})" if name else "")


def _frame(relation: duckdb.DuckDBPyRelation) -> pl.DataFrame:
    """A query's result as a polars frame, through the Arrow C stream interface, which polars reads directly:
    DuckDB's own ``.pl()`` goes through pyarrow, whose import alone costs a short command (``screener weekly``) a
    fifth of its time."""
    if not hasattr(relation, "__arrow_c_stream__"):  # a DuckDB without the interface: its own way
        return relation.pl()
    return pl.DataFrame(relation)


#: A whole-table read of at least this many columns is read in two halves at once (``StoreBase._read_columns``).
SPLIT_READ_COLUMNS = 8


def connect(
    path: Path,
    *,
    read_only: bool,
    wait: float = 0.0,
    on_wait: Callable[[str], None] | None = None,
) -> duckdb.DuckDBPyConnection:
    """A connection to the store file at ``path``, waiting up to ``wait`` seconds for another process's lock.

    The header is checked first (``refuse_foreign``); extensions never autoload. While it waits it calls
    ``on_wait`` with a line of progress about every ``WAIT_NOTE_EVERY`` seconds; when the time is up it raises
    ``StoreLockedError`` naming the process that holds the lock. A damaged file is a ``StoreDamagedError``.
    """
    refuse_foreign(path)
    if read_only:
        early = opening.take(path)  # opened ahead while the command loaded (``screener.store.opening``): the same open
        if early is not None:
            return early
    deadline = time.monotonic() + max(wait, 0.0)
    last_note: float | None = None
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=opening.SAFE_CONFIG)
        except duckdb.Error as exc:
            message = str(exc)
            if not _is_lock_error(message):
                raise open_error(path, exc, read_only=read_only) from None
            holder = lock_holder(message)
            now = time.monotonic()
            if now >= deadline:
                waited = f" after waiting {wait:g} s" if wait > 0 else ""
                raise StoreLockedError(
                    f"the store {path} is locked by {holder}{waited}; let it finish (or close it) and retry, or wait "
                    "longer"
                ) from None
            if on_wait is not None and (last_note is None or now - last_note >= WAIT_NOTE_EVERY):
                on_wait(f"waiting for the store {path}: {holder} holds it ({deadline - now:.0f} s left)")
                last_note = now
            time.sleep(min(0.05, deadline - now))


def open_error(path: Path, exc: BaseException, *, read_only: bool = False) -> ScreenerError:
    """The one-line error for a store that DuckDB cannot open: a log it cannot replay, a file it may not write (or
    read), damage, each says so; anything else is named."""
    if _is_log_replay_error(str(exc)):
        log = wal_path(path)
        why = str(exc).strip().splitlines()[0]
        # DuckDB's reason up to its first colon ("Corrupt WAL file"): the byte position and checksums that follow
        # would push the log's path, which the user needs whole, past the bounded line
        why = re.sub(r'^.*?Failure while replaying WAL file "[^"]*": ', "", why).split(":")[0]
        why = why if len(why) <= 48 else why[:47] + "…"
        return LogNotReplayedError(
            f"the store's write-ahead log {log} cannot be replayed ({why}); a command that writes sets it aside, "
            "named, without its writes",
            log,
        )
    unwritable = unwritable_reason(exc)
    if unwritable is not None:
        return StoreUnwritableError(
            f"cannot open the store {path} for {'reading' if read_only else 'writing'}: {unwritable}"
        )
    reason = damage_of(exc)
    if reason is not None:
        return StoreDamagedError(damaged_message(path, reason))
    text = str(exc).strip()
    if "different configuration" in text:
        return ScreenerError(f"the store {path} is already open in this process in another mode; close it first")
    return ScreenerError(f"cannot open the store {path}: {text.splitlines()[0] if text else type(exc).__name__}")


def wal_path(path: Path) -> Path:
    """DuckDB's write-ahead log beside the store file."""
    return path.with_name(path.name + ".wal")


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def set_log_aside(path: Path) -> Path:
    """Move the write-ahead log of the store at ``path`` aside as ``<store>.wal.unreplayed-<time>`` and return that
    path: DuckDB cannot replay it, and the file is the user's last writes, so it is kept, never deleted."""
    wal = wal_path(path)
    kept = wal.with_name(f"{wal.name}.unreplayed-{_stamp()}")
    os.replace(wal, kept)
    return kept


def log_kept_notice(kept: Path) -> str:
    """What a command says of a log it set aside."""
    return (
        "the store's write-ahead log could not be replayed, so its last writes are not in the store; the log is kept "
        f"aside as {kept}"
    )


def copy_store(con: duckdb.DuckDBPyConnection, source: Path, target: Path) -> None:
    """Write a consistent copy of the store ``source`` to ``target`` through ``con``, a read-write connection that
    holds its lock: a checkpoint folds the log into the file, so the file alone is the store, and nobody can write
    while the lock is held. The copy lands whole or not at all (a temporary file renamed into place)."""
    con.execute("CHECKPOINT")
    target.parent.mkdir(parents=True, exist_ok=True)
    copy_durably(source, target)


def copy_durably(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` whole or not at all: into a temporary file beside it, synced to the disk, then
    renamed into place (a crash leaves the old target, never half a store)."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(source, tmp)
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        with suppress(FileNotFoundError):
            tmp.unlink()


def migration_backups(path: Path) -> list[Path]:
    """The automatic backups of the store at ``path`` taken before migrations, oldest first."""
    return sorted(path.parent.glob(f"{path.name}.pre-v*.bak"), key=lambda p: p.stat().st_mtime_ns)


#: Open store objects of this process per file: they share DuckDB's database, and so its write-ahead log.
_LIVE: dict[str, int] = {}


class StoreBase:
    """An open DuckDB file with the schema at the latest version; the concerns add their methods on top.

    Use as a context manager; ``transaction()`` wraps a group of writes so that they land together or not at all.
    ``writes`` (``WriteMode``) says how long the write lock is held; ``wait`` is how long to wait for another
    process's lock, with ``on_wait`` told the progress. ``notices`` collects what the caller should tell the user
    (a write-ahead log kept aside, scores not stored because another process holds the store).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        read_only: bool = False,
        writes: WriteMode = "hold",
        wait: float = 0.0,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        self.path = resolve_db_path(path)
        self._con: duckdb.DuckDBPyConnection | None = None
        self.writes: WriteMode = "never" if read_only else writes
        self.read_only = self.writes == "never"
        self.wait = wait
        self.on_wait = on_wait
        self.notices: list[str] = []
        #: Called once, just before the first transaction begins (``store_from`` keeps the store's ``marker`` there
        #: for a store whose writes are optional: a command that never writes never pays for the marker).
        self.before_first_write: Callable[[], None] | None = None
        self._key = str(self.path.resolve())
        self._registered = False
        self._in_tx = False
        self._tx_inputs = False
        self._writable = False
        refuse_foreign(self.path)
        if self.writes in ("never", "if_free") and not self.path.exists():
            raise ScreenerError(f"no store at {self.path}: run 'screener init' (or 'screener demo') first")
        if self.writes == "hold" or (self.writes == "brief" and not self._opens_read_only_first()):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.con = self._open_writable()
            try:
                self._migrate_holding()
            except BaseException:
                self.con.close()
                raise
            if self.writes == "brief":
                self._reconnect(writable=False)
            self._register()
            return
        try:
            self.con = connect(self.path, read_only=True, wait=wait, on_wait=on_wait)
        except LogNotReplayedError as exc:
            if self.writes == "never":
                raise
            # a store that may write sets the log aside (``_open_writable``), then reads as before
            try:
                self.con = self._open_writable(wait)
            except StoreUnwritableError:
                raise exc from None
            self._reconnect(writable=False)
        version = self.schema_version()
        if version > LATEST_VERSION and self.writes == "brief":
            try:
                self.migrate()  # refuses a store newer than this version knows, in the words the writable open uses
            except BaseException:
                self.con.close()
                raise
        if version < LATEST_VERSION:
            if self.writes == "never":
                self.con.close()
                raise ScreenerError(f"the store {self.path} needs an upgrade: run 'screener init'")
            self._reconnect(writable=True, wait=wait)
            self._migrate_holding()
            self._reconnect(writable=False)
        self._register()

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection. After a ``brief`` or ``if_free`` transaction the writable one is closed (the lock
        given back) and the read-only one opened again only when something reads: a command whose last act is its
        transaction (``weekly``, ``score``, ``import``) does not pay for an open it never uses (about 25 ms)."""
        if self._con is None:
            self._con = connect(self.path, read_only=True, wait=self.wait, on_wait=self.on_wait)
        return self._con

    @con.setter
    def con(self, value: duckdb.DuckDBPyConnection) -> None:
        self._con = value

    def _opens_read_only_first(self) -> bool:
        """Whether a ``brief`` store opens for reading first, as an ``if_free`` one does, and takes the write lock
        only for its transactions: when its file is a store already, its log (if any) is empty, and the file and
        its folder can be written.

        Why: opening DuckDB costs about 25 ms, and a ``brief`` store opened for writing (to upgrade the schema)
        and then again for reading pays it twice in every command that stores something (``weekly``, ``score``,
        ``import``). A new file, a log left to replay or a file that cannot be written still take the writable
        open first, so they are created, folded or refused at once, before any work, as before."""
        wal = wal_path(self.path)
        return (
            self.path.is_file()
            and self.path.stat().st_size > 0
            and not (wal.is_file() and wal.stat().st_size > 0)
            and os.access(self.path, os.W_OK)
            and os.access(self.path.parent, os.W_OK)
        )

    def _migrate_holding(self) -> None:
        """``migrate`` with the write lock held throughout, whatever the write mode."""
        mode, self.writes = self.writes, "hold"
        try:
            self.migrate()
        finally:
            self.writes = mode

    def _open_writable(self, wait: float | None = None) -> duckdb.DuckDBPyConnection:
        """The read-write connection; a write-ahead log DuckDB could not replay is moved aside and named in
        ``notices`` (DuckDB would leave it in place and write after its garbage), never deleted."""
        wal = wal_path(self.path)
        # another store object of this process shares DuckDB's open database: its log is live, not left over
        shared = _LIVE.get(self._key, 0) > (1 if self._registered else 0)
        had_log = not shared and wal.is_file() and wal.stat().st_size > 0
        wait = self.wait if wait is None else wait
        try:
            con = connect(self.path, read_only=False, wait=wait, on_wait=self.on_wait)
        except LogNotReplayedError:
            if shared:
                raise
            kept = set_log_aside(self.path)
            self.notices.append(log_kept_notice(kept))
            con = connect(self.path, read_only=False, wait=wait, on_wait=self.on_wait)
            had_log = False
        self._writable = True
        if not had_log:
            return con
        try:
            con.execute("CHECKPOINT")  # a replayed log is folded into the file and removed
        except duckdb.Error as exc:  # (damage_of: a full disk is not damage)
            reason = damage_of(exc)
            if reason is not None:
                con.close()
                raise StoreDamagedError(damaged_message(self.path, reason)) from None
            return con  # not folded now (DuckDB says why): the log stays where it is, untouched
        if wal.is_file() and wal.stat().st_size > 0:
            con.close()
            self.notices.append(log_kept_notice(set_log_aside(self.path)))
            con = connect(self.path, read_only=False, wait=self.wait, on_wait=self.on_wait)
        return con

    def _reconnect(self, *, writable: bool, wait: float | None = None) -> None:
        """Swap the connection for one of the other kind (DuckDB allows one kind per file in a process): the
        read-only one is opened by the next read (``con``). When the writable one cannot be had (another process
        holds the lock, or the file cannot be written), the read-only one is opened again at once and the error
        raised."""
        if self._con is not None:
            self._con.close()
            self._con = None
        self._writable = False
        if not writable:
            return  # opened again, read-only, by the first read (``con``)
        try:
            self.con = self._open_writable(wait)
        except (StoreLockedError, StoreUnwritableError):
            self.con = connect(self.path, read_only=True, wait=self.wait, on_wait=self.on_wait)
            raise

    def can_write(self, what: str) -> bool:
        """Whether this store can store ``what`` now. A store opened ``if_free`` tries to take the write lock
        without waiting; when another process holds the store it says once in ``notices`` that ``what`` was
        computed in memory and not stored, and the caller goes on without storing it. A file that cannot be written
        (a read-only file system, no permission) is met the same way, and the note says why."""
        if self.writes == "never":
            return False
        if self.writes != "if_free" or self._writable:
            return True
        try:
            self._reconnect(writable=True, wait=0.0)
        except StoreLockedError as exc:
            holder = re.search(r"locked by (.+?)(?: after waiting|;)", str(exc))
            self.notices.append(
                f"{what} were computed in memory and not stored: the store is in use by "
                f"{holder.group(1) if holder else 'another process'}"
            )
            self.writes = "never"  # once: the rest of the command reads
            return False
        except StoreUnwritableError as exc:
            why = str(exc).rsplit(": ", 1)[-1]
            self.notices.append(f"{what} were computed in memory and not stored: the store cannot be written ({why})")
            self.writes = "never"
            return False
        return True

    # -- lifecycle -------------------------------------------------------------------------------------------
    def _register(self) -> None:
        _LIVE[self._key] = _LIVE.get(self._key, 0) + 1
        self._registered = True

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
        if self._registered:
            self._registered = False
            _LIVE[self._key] -= 1
            if not _LIVE[self._key]:
                del _LIVE[self._key]

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

        A store opened ``brief`` or ``if_free`` takes the write lock for the transaction only (waiting up to
        ``wait``), and gives it back after the commit or rollback, so readers get in between transactions.
        """
        if self._in_tx:
            self._tx_inputs = self._tx_inputs or inputs
            yield self
            return
        if self.writes == "never":
            raise ScreenerError(f"the store {self.path} is open read-only here; nothing can be written")
        if self.before_first_write is not None:
            hook, self.before_first_write = self.before_first_write, None
            hook()
        brief = self.writes in ("brief", "if_free")
        if brief and not self._writable:
            self._reconnect(writable=True)
        try:
            self.con.execute("BEGIN TRANSACTION")
            self._in_tx = True
            self._tx_inputs = inputs
            try:
                yield self
            except BaseException:
                # an interrupted COMMIT may already have ended the transaction: the rollback's own complaint must
                # not replace the error the caller has to see
                with suppress(duckdb.Error):
                    self.con.execute("ROLLBACK")
                raise
            else:
                if self._tx_inputs:
                    self.con.execute("UPDATE store_state SET data_version = data_version + 1")
                self.con.execute("COMMIT")
            finally:
                self._in_tx = False
                self._tx_inputs = False
        finally:
            if brief and self._writable:
                self._reconnect(writable=False)

    @contextmanager
    def reader(self) -> Iterator[Self]:
        """This store as a second, read-only handle for another thread: the same methods over a cursor of the
        open database (DuckDB's way to query from two threads), closed after the block.

        Why: a command that asks a dozen small independent questions (the company card) waits on each in turn,
        while DuckDB answers one query without holding Python's interpreter lock; a second thread asking the other
        half meanwhile takes about a third off the wait on two cores. The handle never writes (``writes`` is
        ``never``), and it is refused inside a transaction, whose uncommitted writes a cursor would not see."""
        if self._in_tx:
            raise RuntimeError("a reader is not taken inside a transaction: it would not see its writes")
        view = copy.copy(self)
        view._con = self.con.cursor()
        view.writes, view.read_only, view._writable, view._registered = "never", True, False, False
        view.before_first_write = None
        try:
            yield view
        finally:
            view.close()

    def mark_inputs_changed(self) -> None:
        """Inside a transaction opened with ``inputs=False`` by a write that counts what it changed: it did change
        score inputs, so the commit bumps the data version. A write that changed nothing leaves stored scores
        current (a re-import of the same files)."""
        if self._in_tx:
            self._tx_inputs = True

    def data_version(self) -> int:
        """The store's data version: it grows with every committed write of score inputs (``transaction``)."""
        return int(self.scalar("SELECT data_version FROM store_state"))

    def marker(self) -> dict[str, Any]:
        """What a later ``changes_since`` compares with: the data version, the newest ingest-log row, run and
        backtest, and the stored score sets. Read before a command writes, it lets an interrupted command say
        exactly what it stored, by looking, rather than guess from where the interrupt landed."""
        tables = {r[0] for r in self.rows("SELECT table_name FROM information_schema.tables")}

        def top(table: str, column: str) -> int:
            return int(self.scalar(f"SELECT coalesce(max({column}), 0) FROM {table}") or 0) if table in tables else 0

        sets = (
            [(str(a), str(c)) for a, c in self.rows("SELECT as_of, computed_at FROM score_sets")]
            if "score_sets" in tables
            else []
        )
        return {
            "schema": self.schema_version(),
            "data_version": self.data_version() if "store_state" in tables else 0,
            "ingest": top("ingest_log", "id"),
            "run": top("watchlist_runs", "run_id"),
            "backtest": top("backtests", "id"),
            "score_sets": sorted(sets),
        }

    def changes_since(self, before: dict[str, Any]) -> list[str]:
        """What was stored after ``before`` (a ``marker``), one short phrase each; empty when nothing was."""
        now = self.marker()
        said: list[str] = []
        if now["schema"] != before["schema"]:
            said.append(f"the store upgraded to schema v{now['schema']}")
        if now["ingest"] > before["ingest"]:
            kinds = self.rows(
                "SELECT coalesce(kind, provider), sum(coalesce(rows_stored, 0)) FROM ingest_log WHERE id > ? "
                "GROUP BY ALL HAVING sum(coalesce(rows_stored, 0)) > 0 ORDER BY 1",
                [before["ingest"]],
            )
            if kinds:
                said.append(", ".join(f"{int(n)} {k} row(s)" for k, n in kinds))
        if now["data_version"] != before["data_version"] and not any("row(s)" in s for s in said):
            said.append(f"data changes (data version {before['data_version']} to {now['data_version']})")
        if now["run"] > before["run"]:
            said.append(f"watchlist run {now['run']}" if now["run"] == before["run"] + 1 else "watchlist runs")
        if now["backtest"] > before["backtest"]:
            said.append(f"backtest {now['backtest']}")
        new_sets = sorted({a for a, _ in set(map(tuple, now["score_sets"])) - set(map(tuple, before["score_sets"]))})
        if new_sets:
            said.append("score set(s) as of " + ", ".join(new_sets[:5]) + (" ..." if len(new_sets) > 5 else ""))
        return said

    @contextmanager
    def registered(self, name: str, frame: pl.DataFrame) -> Iterator[str]:
        """Expose ``frame`` to SQL as ``name`` for set-based writes, and always drop it afterwards.

        In an aborted transaction DuckDB refuses ``unregister``; the rollback drops the view anyway, and the
        original error, not that refusal, is what the caller must see.

        Why through ``_Scanned``: inside a transaction, DuckDB keeps a dropped view, and the object it reads, until
        the commit. An import stores file after file in one transaction; the frames of the files stored first
        would all stay in memory until the last one is stored. The view holds the wrapper, which lets the frame
        go once its statements ran.
        """
        scanned = _Scanned(frame)
        self.con.register(name, scanned)
        try:
            yield name
        finally:
            scanned.frame = None
            with suppress(duckdb.Error):
                self.con.unregister(name)

    # -- schema ----------------------------------------------------------------------------------------------
    def schema_version(self) -> int:
        """The store's schema version; 0 for a new file (no ``schema_version`` table yet).

        Why the table is read straight away, outside a transaction: every open asks, and the catalog
        (``information_schema``) costs several times the read itself on a fresh connection. Inside a transaction a
        failed read would abort it, so there the catalog is asked first."""
        if not self._in_tx:
            try:
                version = self.scalar("SELECT max(version) FROM schema_version")
            except duckdb.CatalogException:
                return 0
            return int(version) if version is not None else 0
        if not self.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"):
            return 0
        version = self.scalar("SELECT max(version) FROM schema_version")
        return int(version) if version is not None else 0

    def migrate(self, migrations: Sequence[tuple[int, str, Step]] = MIGRATIONS) -> int:
        """Apply every migration above the stored version, each in its own transaction; return the new version."""
        current = self.schema_version()
        if current == 0:  # a new file (or one whose table is empty): a store at any version already has the table
            self.con.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, description VARCHAR, "
                "applied_at TIMESTAMP)"
            )
        known = max((v for v, _, _ in migrations), default=0)
        if current > known:
            raise ArgumentError(
                f"the store {self.path} is at schema v{current}, newer than this version of screener knows "
                f"(v{known}); upgrade screener or use another ",
                Option("db"),
            )
        pending = [m for m in sorted(migrations, key=lambda m: m[0]) if m[0] > current]
        if pending and current > 0:
            self.backup_before_migration(current, pending[-1][0])
        for version, description, step in pending:
            try:
                # a migration bumps the data version in its own SQL if it changes what scores read (the counter
                # itself only exists from v9 on)
                with self.transaction(inputs=False):
                    if callable(step):
                        step(self.con)
                    else:
                        self.con.execute(step)
                    self.con.execute("INSERT INTO schema_version VALUES (?, ?, ?)", [version, description, utcnow()])
            except duckdb.Error as exc:
                # The failed step rolled back whole: the store is still a consistent v{current}.
                raise ScreenerError(
                    f"cannot upgrade the store {self.path} to schema v{version} ({description}): "
                    f"{str(exc).splitlines()[0]}; it is unchanged at v{current}"
                ) from exc
            current = version
        return current

    def backup_before_migration(self, current: int, target: int) -> Path:
        """Copy the store aside before a migration changes it (``<store>.pre-v<target>-<time>.bak``) and keep the
        newest ``MIGRATION_BACKUPS`` such copies: an upgrade that goes wrong, or a newer screener given up, leaves
        the user the store as it was."""
        target_path = self.path.with_name(f"{self.path.name}.pre-v{target}-{_stamp()}.bak")
        copy_store(self.con, self.path, target_path)
        for old in migration_backups(self.path)[:-MIGRATION_BACKUPS]:
            with suppress(OSError):
                old.unlink()
        self.notices.append(f"the store at schema v{current} was backed up to {target_path} before its upgrade")
        return target_path

    # -- reading ---------------------------------------------------------------------------------------------
    def known_events(self, symbol: str | None, as_of: date) -> pl.DataFrame:
        """Events (date, provider, load time) known on ``as_of``, of one symbol or all (``contract.known_from``):
        here because market reads and run metadata both count events, and must count the same ones."""
        where, params = ("symbol = ? AND date <= ?", [symbol, as_of]) if symbol else ("date <= ?", [as_of])
        rows = self.query(f"SELECT date, date_precision, provider, loaded_at FROM events WHERE {where}", params)
        return rows.filter(known_from(pl.col("date"), pl.col("date_precision")) <= as_of).drop("date_precision")

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
        """Run a parameterised query and return a polars frame (values are always bound, never pasted; the result
        crosses over as ``_frame`` says)."""
        return _frame(self.con.sql(sql, params=list(params) if params else None))

    def _read_columns(self, table: str, columns: Sequence[str]) -> pl.DataFrame:
        """Every row of ``columns`` (quoted names) of ``table``, in the table's order: both are names this store
        gave (a score set's rows table and its columns), never a user's text.

        Why: one query reads a table of a few hundred thousand rows on one core (DuckDB scans a row group with one
        thread, and the result crosses to polars on it too). A read of many columns outside a transaction is split
        in two, read at once on this connection and on a second one of the same database (``cursor``), and put side
        by side: 50,000 rows of 15 score columns in about 23 ms instead of 31 ms on two cores. Both halves read
        the table as stored, in its order (DuckDB keeps insertion order), and nothing can write it meanwhile: no
        transaction of this store is open, and another process cannot write while this one has the file open.
        Inside a transaction a second connection would not see its writes, so it is read in one query."""
        if len(columns) < SPLIT_READ_COLUMNS or self._in_tx:
            return self.query(f"SELECT {', '.join(columns) or 'rowid'} FROM {table}")
        mine, theirs = list(columns[::2]), list(columns[1::2])  # alternate, so text and numbers spread over both
        other = self.con.cursor()
        beside: list[pl.DataFrame | BaseException] = []

        def read_beside() -> None:
            try:
                beside.append(_frame(other.sql(f"SELECT {', '.join(theirs)} FROM {table}")))
            except BaseException as exc:  # raised on the calling thread, below
                beside.append(exc)

        worker = threading.Thread(target=read_beside, name="store-read-beside", daemon=True)
        worker.start()
        try:
            first = self.query(f"SELECT {', '.join(mine)} FROM {table}")
        finally:
            try:
                worker.join()
            finally:  # a Ctrl-C while waiting still closes the second connection
                other.close()
        second = beside[0]
        if isinstance(second, BaseException):
            raise second
        if second.height != first.height:  # not reached: the table cannot change between the two reads
            raise ScreenerError(f"{table} changed while it was read; read it again")
        order = [name for pair in zip_longest(first.columns, second.columns) for name in pair if name is not None]
        return pl.concat([first, second], how="horizontal").select(order)  # the columns as asked: alternating

    def release_cache(self) -> None:
        """Hand back the memory DuckDB keeps of the table blocks it read or wrote, by lowering its memory limit for a
        moment.

        Why: after a score's reads (13 million closes at 50,000 companies) DuckDB's buffer pool still holds about
        0.4 GB of cached blocks that nothing will read again, beside the frames the engine works on; released, the
        command's peak is lower by as much. An import's writes leave the same behind (0.2 GB after 2.5 million
        statements), while the next, larger file is read and checked. The limit is back at its default at once
        (later reads cache again).

        Inside a transaction the limit is lowered from a second connection of the same database (``_release``):
        DuckDB aborts a transaction whose statement fails, and a limit it cannot meet fails the statement. Only
        the blocks already in the file (``BASE_TABLE``: dropped, never written out) are asked for there; the
        transaction's other buffers stay, so nothing is moved to a temporary file."""
        if self._in_tx:
            self._release(self.con.cursor(), written=True)
            return
        self._release(self.con, written=False)

    @staticmethod
    def _release(con: duckdb.DuckDBPyConnection, *, written: bool) -> None:
        """``release_cache`` on ``con`` (a second connection, closed after, when ``written``)."""
        try:
            limit = "1MB"
            if written:
                other = con.execute(
                    "SELECT coalesce(sum(memory_usage_bytes) FILTER (WHERE tag <> 'BASE_TABLE'), 0) "
                    "FROM duckdb_memory()"
                ).fetchall()[0][0]
                limit = f"{int(other) // 1024 + 1024}KiB"
            con.execute(f"SET memory_limit = '{limit}'").fetchall()
        except duckdb.Error:  # blocks still pinned by an open result or a write: nothing more to release now
            pass
        finally:
            try:
                con.execute("RESET memory_limit").fetchall()
            finally:
                if written:
                    con.close()

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Fetch every row: DuckDB 2 refuses new work on a connection while a result is left half-read."""
        return self.con.execute(sql, list(params) if params else []).fetchall()

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        rows = self.rows(sql, params)
        return rows[0][0] if rows else None
