"""The store's health: reading every object back (``check_store``), consistent copies (``backup_store``) and
bringing one back (``restore_store``).

Why here: a damaged store must be diagnosed without the rest of the store package, which assumes a readable file at
the latest schema. Everything in this module opens the file itself, through ``connection.connect``: the header is
checked first and extensions never load.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from screener.errors import ScreenerError, StoreDamagedError, StoreLockedError, disk_full
from screener.store.connection import (
    LogNotReplayedError,
    StoreUnwritableError,
    connect,
    copy_durably,
    copy_store,
    damage_of,
    foreign_file,
    refuse_foreign,
    set_log_aside,
    wal_path,
)
from screener.store.migrations import KEYS_KEPT_BY_WRITES, LATEST_VERSION

#: At most this many keys of a table are looked up one by one (``_look_up_keys``).
MAX_LOOKUPS = 2_000
#: How long the lock of a store being restored over is waited for between probes.
_PROBE_EVERY = 0.05


@dataclass(frozen=True)
class Finding:
    """One object of the store and what reading it back found."""

    kind: str  # file, schema, table, key, log
    name: str
    ok: bool
    detail: str


def findings_frame(findings: list[Finding]) -> pl.DataFrame:
    """The findings as rows (``object``, ``kind``, ``status`` ok/damaged, ``detail``), in the order checked."""
    return pl.DataFrame(
        {
            "object": [f.name for f in findings],
            "kind": [f.kind for f in findings],
            "status": ["ok" if f.ok else "damaged" for f in findings],
            "detail": [f.detail for f in findings],
        },
        schema={"object": pl.String, "kind": pl.String, "status": pl.String, "detail": pl.String},
    )


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return damage_of(exc) or (text.splitlines()[0][:160] if text else type(exc).__name__)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def check_store(
    path: Path,
    *,
    wait: float = 0.0,
    on_wait: Callable[[str], None] | None = None,
    read_only: bool = False,
) -> list[Finding]:
    """Read every table of the store at ``path`` row by row and verify every primary key: one ``Finding`` per
    object. A file that DuckDB cannot open because it is damaged is one damaged finding; one that is not a DuckDB
    store, or cannot be read at all, is a one-line ``ScreenerError`` (not damage: the file may be whole).

    Why hash every row: DuckDB verifies a block's checksum when it reads it, and only a full read of every column
    reads every block; a count alone is answered from metadata. Every key index is probed with every row
    (``_probe_index``). The store is opened for writing, so no write is in progress while it is read (waiting up to
    ``wait`` seconds for one) and a leftover log is folded in, but nothing is written; a log DuckDB cannot replay is
    set aside and named (as every command that writes does). A file that cannot be opened for writing (a read-only
    file system, no permission), or ``read_only``, is read read-only: every table and one-column key is read the
    same, but multi-column key indexes are not probed (the probe writes, then rolls back).
    """
    if not path.exists():
        raise ScreenerError(f"no store at {path}: run 'screener init' (or 'screener demo') first")
    refuse_foreign(path)  # not a store at all: refused like everywhere else, not reported as damage
    notes: list[Finding] = []
    try:
        try:
            con = connect(path, read_only=read_only, wait=wait, on_wait=on_wait)
        except StoreUnwritableError:
            read_only = True
            con = connect(path, read_only=True, wait=wait, on_wait=on_wait)
        except LogNotReplayedError as exc:
            if read_only:
                raise
            try:
                kept = set_log_aside(path)
            except OSError:
                raise exc from None
            notes.append(
                Finding(
                    "log", str(kept), True, "could not be replayed: kept aside, so its last writes are not in the store"
                )
            )
            con = connect(path, read_only=False, wait=wait, on_wait=on_wait)
    except (StoreLockedError, StoreUnwritableError, LogNotReplayedError):
        raise
    except ScreenerError as exc:
        return [Finding("file", str(path), False, str(exc)), *notes]
    opened = "opens read-only (it cannot be written here)" if read_only else "opens"
    findings = [Finding("file", str(path), True, f"DuckDB header; {opened}"), *notes]
    try:
        findings += _check_open(con, probe=not read_only)
    except duckdb.Error as exc:  # the catalog itself cannot be read
        findings.append(Finding("file", "catalog", False, _reason(exc)))
    finally:
        con.close()
    log = wal_path(path)
    if log.is_file() and log.stat().st_size > 0:
        findings.append(
            Finding(
                "log",
                str(log),
                True,
                f"{log.stat().st_size:,} bytes not yet folded into the store; the next command that writes replays "
                "it (or keeps it aside, named, when it cannot)",
            )
        )
    return findings


def _check_open(con: duckdb.DuckDBPyConnection, *, probe: bool = True) -> list[Finding]:
    found: list[Finding] = []
    try:
        version = con.execute("SELECT max(version) FROM schema_version").fetchall()[0][0]
    except duckdb.Error as exc:
        found.append(Finding("schema", "schema_version", False, _reason(exc)))
    else:
        ok = version is not None and 1 <= int(version) <= LATEST_VERSION
        detail = f"v{version}" + ("" if ok else f"; this screener knows v1 to v{LATEST_VERSION}")
        found.append(Finding("schema", "schema_version", ok, detail))
    tables = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT internal ORDER BY schema_name, table_name"
    ).fetchall()
    for schema, table in tables:
        name = table if schema == "main" else f"{schema}.{table}"
        qualified = f"{_quoted(schema)}.{_quoted(table)}"
        try:
            n = con.execute(f"SELECT count(*), bit_xor(hash(t)) FROM {qualified} AS t").fetchall()[0][0]
        except duckdb.Error as exc:
            found.append(Finding("table", name, False, _reason(exc)))
        else:
            found.append(Finding("table", name, True, f"{n:,} row(s) read"))
    keys = con.execute(
        "SELECT schema_name, table_name, constraint_type, constraint_column_names FROM duckdb_constraints() "
        "WHERE constraint_type IN ('PRIMARY KEY', 'UNIQUE') ORDER BY schema_name, table_name, constraint_index"
    ).fetchall()
    probed: dict[tuple[str, str], str | None] = {}
    for schema, table, kind, columns in keys:
        label = f"{table}({', '.join(columns)})"
        cols = ", ".join(_quoted(c) for c in columns)
        qualified = f"{_quoted(schema)}.{_quoted(table)}"
        what = kind.lower()
        try:
            dupes = con.execute(
                f"SELECT count(*) FROM (SELECT {cols} FROM {qualified} GROUP BY ALL HAVING count(*) > 1)"
            ).fetchall()[0][0]
        except duckdb.Error as exc:
            found.append(Finding("key", label, False, _reason(exc)))
            continue
        if dupes:
            found.append(Finding("key", label, False, f"{dupes:,} repeated {what} value(s)"))
            continue
        if (schema, table) not in probed:
            probed[(schema, table)] = _probe_index(con, qualified) if probe else None
        problem = probed[(schema, table)]
        looked = "" if probe or len(columns) == 1 else " (read-only: its index not probed)"
        if problem is None and len(columns) == 1:
            problem, looked = _look_up_keys(con, qualified, _quoted(columns[0]))
        if problem is None:
            indexed = ", every row found in its index" if probe or len(columns) == 1 else ""
            found.append(Finding("key", label, True, f"{what}: every value once{indexed}{looked}"))
        else:
            found.append(Finding("key", label, False, problem))
    present = {t for s, t in tables if s == "main"}
    for table, columns in KEYS_KEPT_BY_WRITES.items():
        if table not in present:
            continue
        # no index to probe (migration 13): the key is the store's writes' to keep, and is counted here
        label = f"{table}({', '.join(columns)})"
        try:
            dupes = con.execute(
                f"SELECT count(*) FROM (SELECT {', '.join(_quoted(c) for c in columns)} FROM main.{_quoted(table)} "
                "GROUP BY ALL HAVING count(*) > 1)"
            ).fetchall()[0][0]
        except duckdb.Error as exc:
            found.append(Finding("key", label, False, _reason(exc)))
            continue
        found.append(
            Finding("key", label, True, "key kept by the store's writes: every value once")
            if not dupes
            else Finding("key", label, False, f"{dupes:,} repeated key value(s)")
        )
    indexes = con.execute(
        "SELECT index_name, table_name, sql FROM duckdb_indexes() ORDER BY table_name, index_name"
    ).fetchall()
    for index, table, _sql in indexes:
        try:
            con.execute(f"SELECT count(*) FROM {_quoted(table)}").fetchall()
        except duckdb.Error as exc:
            found.append(Finding("index", f"{index} on {table}", False, _reason(exc)))
        else:
            found.append(Finding("index", f"{index} on {table}", True, "present"))
    return found


def _probe_index(con: duckdb.DuckDBPyConnection, qualified: str) -> str | None:
    """Look every row of a table up in its key indexes, and change nothing: each row is inserted again with
    ``INSERT OR IGNORE`` in a transaction that is rolled back. Every key is found (nothing inserted) when the
    index is whole; a key it lacks is inserted (counted); a damaged index block fails the read. Why this way:
    DuckDB reads an index only where a lookup leads, and a point query uses one only for a one-column key, so
    reading the table alone would pass an index whose blocks are damaged (a later write or lookup meets them)."""
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            added = con.execute(f"INSERT OR IGNORE INTO {qualified} SELECT * FROM {qualified}").fetchall()[0][0]
        finally:
            with suppress(duckdb.Error):
                con.execute("ROLLBACK")
    except duckdb.Error as exc:
        return _reason(exc)
    return f"its index lacks {added:,} row(s)" if added else None


def _look_up_keys(con: duckdb.DuckDBPyConnection, qualified: str, column: str) -> tuple[str | None, str]:
    """Look keys of a one-column key up one by one, as ``WHERE key = value`` queries do (DuckDB answers them from
    the index): every key up to ``MAX_LOOKUPS``, else that many spread evenly over the table. Returns the problem
    (None: every key found once) and a note on how many were looked up when not all."""
    try:
        total = con.execute(f"SELECT count(*) FROM {qualified}").fetchall()[0][0]
        step = max(1, -(-total // MAX_LOOKUPS))
        keys = con.execute(
            f"SELECT {column} FROM (SELECT {column}, row_number() OVER (ORDER BY {column}) AS _n FROM {qualified}) "
            f"WHERE (_n - 1) % {step} = 0"
        ).fetchall()
        for (key,) in keys:
            n = con.execute(f"SELECT count(*) FROM {qualified} WHERE {column} = ?", [key]).fetchall()[0][0]
            if n != 1:
                return f"looking up {key!r} finds {n} row(s)", ""
    except duckdb.Error as exc:
        return _reason(exc), ""
    return None, ("" if step == 1 else f" ({len(keys):,} of {total:,} keys looked up)")


def default_backup_path(path: Path) -> Path:
    """``<store stem>-backup-<UTC time>.duckdb`` beside the store."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return path.with_name(f"{path.stem}-backup-{stamp}.duckdb")


def backup_store(
    path: Path, target: Path, *, wait: float = 0.0, on_wait: Callable[[str], None] | None = None
) -> list[Finding]:
    """Write a consistent copy of the store at ``path`` to ``target`` and read the copy back (``check_store``).

    The store is opened read-write, so the copy is made under the write lock: no other process writes while the
    log is checkpointed into the file and the file copied. A store that cannot be written (a read-only file system,
    no write permission) is copied under a read-only connection, whose shared lock keeps writers out just the
    same, with its log beside the copy (the copy's check folds it in). A damaged copy is removed and raised: a
    backup that cannot be restored is worse than none, because it is trusted.
    """
    if not path.is_file():
        raise ScreenerError(f"no store at {path}: run 'screener init' (or 'screener demo') first")
    if target.exists():
        raise ScreenerError(f"cannot back up to {target}: it exists; give a new file name")
    read_only = False
    try:
        con = connect(path, read_only=False, wait=wait, on_wait=on_wait)
    except StoreUnwritableError:
        con = connect(path, read_only=True, wait=wait, on_wait=on_wait)
        read_only = True
    try:
        if read_only:
            _copy_as_is(path, target)
        else:
            copy_store(con, path, target)
    except (duckdb.Error, OSError) as exc:
        if disk_full(exc):  # checked first: DuckDB invalidates a database that met a full disk, in damage's words
            raise ScreenerError(
                f"cannot back up the store {path}: the disk is full; the store is unchanged and no copy was made, free "
                "some space and retry"
            ) from None
        if isinstance(exc, OSError):
            raise
        reason = damage_of(exc)
        if reason is not None:
            raise StoreDamagedError(f"cannot back up the store {path}: it is damaged ({reason})") from None
        raise
    finally:
        con.close()
    findings = check_store(target)
    if not all(f.ok for f in findings):
        for left in (target, wal_path(target)):
            with suppress(OSError):
                left.unlink()
        bad = next(f for f in findings if not f.ok)
        raise StoreDamagedError(
            f"cannot back up the store {path}: its copy does not read back, the store is damaged ({bad.name}: "
            f"{bad.detail})"
        )
    return findings


def _copy_as_is(source: Path, target: Path) -> None:
    """Copy the store file ``source`` and its write-ahead log, if any, beside ``target``: each lands whole (a
    temporary file renamed into place), the log first, so the file never appears without it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    pairs = [(wal_path(source), wal_path(target)), (source, target)]
    for src, dst in pairs:
        if src is not source and not (src.is_file() and src.stat().st_size > 0):
            continue
        copy_durably(src, dst)


@dataclass(frozen=True)
class Restored:
    """A restore: the backup brought back, and where the store it replaced was kept (None: there was none)."""

    source: Path
    kept_as: Path | None
    schema_version: int


def restore_store(
    path: Path, source: Path, *, wait: float = 0.0, on_wait: Callable[[str], None] | None = None
) -> Restored:
    """Replace the store at ``path`` with the backup ``source``, after reading the backup back whole.

    The backup must be a DuckDB store of a schema this screener knows, every table readable. The current store is
    not deleted: it is kept beside as ``<name>.replaced-<time>`` (with its write-ahead log, if any), and the
    backup lands under the store's name in one rename. While this runs the store's file lock is held, so no other
    command reads or writes a half-restored store; a store damaged beyond opening can still be restored over.
    The backup is read read-only (it may sit where nothing can be written), and its log, if any, comes with it. A
    store reached through a symbolic link is restored in the file the link points to: the link stays a link.
    """
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    if not source.is_file():
        raise ScreenerError(f"cannot restore from {source}: no such file")
    if source.resolve() == path.resolve():
        raise ScreenerError(f"cannot restore from {source}: it is the store itself")
    why = foreign_file(source)
    if why is not None:
        raise ScreenerError(f"cannot restore from {source}: it is not a DuckDB store ({why})")
    try:
        findings = check_store(source, read_only=True)
    except ScreenerError as exc:
        raise ScreenerError(f"cannot restore from {source}: {exc}") from None
    bad = [f for f in findings if not f.ok]
    if bad:
        raise ScreenerError(f"cannot restore from {source}: {bad[0].kind} {bad[0].name}: {bad[0].detail}")
    version = next(f for f in findings if f.kind == "schema").detail.lstrip("v").split(";")[0]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    tmp = path.with_name(f".{path.name}.restore-{os.getpid()}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, tmp)
    source_log = wal_path(source)
    tmp_log = tmp.with_name(tmp.name + ".wal")
    if source_log.is_file() and source_log.stat().st_size > 0:
        shutil.copyfile(source_log, tmp_log)
    kept: Path | None = None
    try:
        for done in (tmp, tmp_log):
            if done.exists():
                with done.open("rb+") as fh:
                    os.fsync(fh.fileno())
        with _FileLock(path, wait=wait, on_wait=on_wait) as fd:
            if fd is not None:
                kept = path.with_name(f"{path.name}.replaced-{stamp}")
                _copy_from(fd, kept)
                log = wal_path(path)
                if log.exists():
                    os.replace(log, kept.with_name(kept.name + ".wal"))
            if tmp_log.exists():
                os.replace(tmp_log, wal_path(path))
            os.replace(tmp, path)
    finally:
        for left in (tmp, tmp_log):
            with suppress(FileNotFoundError):
                left.unlink()
    return Restored(source, kept, int(version))


def _copy_from(fd: int, target: Path) -> None:
    """Copy the file open as ``fd`` to ``target`` without opening it again: closing any other descriptor of a file
    drops this process's POSIX locks on it, and the lock must hold until the restore is done."""
    offset = 0
    with target.open("wb") as out:
        while chunk := os.pread(fd, 1 << 20, offset):
            out.write(chunk)
            offset += len(chunk)
        out.flush()
        os.fsync(out.fileno())


class _FileLock:
    """Hold the same POSIX lock DuckDB takes on the store file (``fcntl``, whole file), waiting up to ``wait``
    seconds: a DuckDB in another process that has the store open, even read-only, keeps it."""

    def __init__(self, path: Path, *, wait: float, on_wait: Callable[[str], None] | None) -> None:
        self.path, self.wait, self.on_wait = path, wait, on_wait
        self.fd: int | None = None

    def __enter__(self) -> int | None:
        import time

        if not self.path.exists():
            return None
        self.fd = os.open(self.path, os.O_RDWR)
        deadline = time.monotonic() + self.wait
        said = False
        while True:
            try:
                fcntl.lockf(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self.fd
            except OSError:
                if time.monotonic() >= deadline:
                    os.close(self.fd)
                    self.fd = None
                    raise StoreLockedError(
                        f"the store {self.path} is in use by another process; close it and retry, or wait longer"
                    ) from None
                if self.on_wait is not None and not said:
                    self.on_wait(f"waiting for the store {self.path}: another process has it open")
                    said = True
                time.sleep(_PROBE_EVERY)

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            with suppress(OSError):
                fcntl.lockf(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
