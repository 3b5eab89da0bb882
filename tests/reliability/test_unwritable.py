"""A store that cannot be written is not a damaged store, and a full disk is not damage either.

A read-only file system (or a file without write permission) is injected where DuckDB opens the file: the tests run
as root, where ``chmod`` stops no write, and a read-only mount needs privileges a test must not assume. The
injection raises exactly what DuckDB raises (``IOException: Cannot open file ...: Read-only file system``) for a
read-write open of the chosen files only; every read-only open is DuckDB's own, on a real store."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result

from screener.cli import cli
from screener.store import Store
from screener.store.connection import damage_of
from screener.store.health import check_store
from tests.reliability.conftest import TIMEOUT, command_env

#: What DuckDB said when a write met a full disk: the database is invalidated, in the words damage also uses.
FULL_DISK = (
    "FATAL Error: Failed: database has been invalidated because of a previous fatal error. The database must be "
    'restarted prior to being used again.\nOriginal error: "Could not write file "store.duckdb.wal": No space left '
    'on device"'
)


@pytest.fixture
def unwritable(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[Path, str]]:
    """Files (resolved) that DuckDB cannot open for writing, each with the system's reason; ``"both"`` in the
    reason makes a read-only open fail too."""
    real = duckdb.connect
    blocked: dict[Path, str] = {}

    def connect(database: str = ":memory:", read_only: bool = False, **kwargs: object) -> duckdb.DuckDBPyConnection:
        why = blocked.get(Path(database).resolve())
        if why is not None and (not read_only or why.endswith("both")):
            reason = why.removesuffix(" both")
            raise duckdb.IOException(f'IO Error: Cannot open file "{database}": {reason}')
        return real(database, read_only=read_only, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(duckdb, "connect", connect)
    yield blocked


def _run(db: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--db", str(db), *args, "--wait", "0"])


def _no_damage(result: Result) -> None:
    assert "is damaged" not in result.stderr and "Internal error" not in result.stderr, result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


def test_check_reads_a_store_it_cannot_write(fresh_store: Callable[[str], Path], unwritable: dict[Path, str]) -> None:
    db = fresh_store("read-only.duckdb")
    unwritable[db.resolve()] = "Read-only file system"
    done = _run(db, "check", "--format", "csv")
    _no_damage(done)
    assert done.exit_code == 0, done.stderr
    assert "opens read-only" in done.stdout and ",damaged," not in done.stdout
    assert "\ncompanies,table,ok," in done.stdout
    assert (
        '\n"fx(currency, date)",key,ok,primary key: every value once (read-only: its index not probed)' in done.stdout
    )
    assert '\n"prices(symbol, date)",key,ok,key kept by the store\'s writes: every value once' in done.stdout


def test_check_of_a_store_it_cannot_read_is_one_line_and_exit_2(
    fresh_store: Callable[[str], Path], unwritable: dict[Path, str]
) -> None:
    db = fresh_store("no-permission.duckdb")
    unwritable[db.resolve()] = "Permission denied both"
    done = _run(db, "check")
    _no_damage(done)
    assert done.exit_code == 2
    assert done.stderr.strip().splitlines() == [f"Error: cannot open the store {db} for reading: permission denied"]


def test_a_writer_says_the_store_cannot_be_written(
    fresh_store: Callable[[str], Path], unwritable: dict[Path, str]
) -> None:
    db = fresh_store("writer.duckdb")
    unwritable[db.resolve()] = "Read-only file system"
    done = _run(db, "weekly", "--format", "csv")
    _no_damage(done)
    assert done.exit_code == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"Error: cannot open the store {db} for writing: a read-only file system"
    )


def test_backup_copies_a_store_it_cannot_write(
    fresh_store: Callable[[str], Path], unwritable: dict[Path, str], tmp_path: Path
) -> None:
    db = fresh_store("on-a-read-only-disk.duckdb")
    with Store(db, read_only=True) as store:
        marker = store.marker()
    before = db.read_bytes()
    unwritable[db.resolve()] = "Read-only file system"
    target = tmp_path / "copy.duckdb"
    done = _run(db, "backup", str(target))
    _no_damage(done)
    assert done.exit_code == 0, done.stderr
    assert db.read_bytes() == before
    with Store(target, read_only=True) as copy:
        assert copy.marker() == marker


def test_backup_of_a_store_it_cannot_write_keeps_its_log(
    fresh_store: Callable[[str], Path], unwritable: dict[Path, str], tmp_path: Path
) -> None:
    """Writes still in the log (a writer killed before its checkpoint) come with the copy."""
    db = fresh_store("with-log.duckdb")
    script = textwrap.dedent(f"""
        import duckdb, os
        con = duckdb.connect({str(db)!r})
        con.execute("PRAGMA disable_checkpoint_on_shutdown")
        con.execute("SET wal_autocheckpoint = '1GB'")
        con.execute("CREATE TABLE in_the_log AS SELECT range AS x FROM range(500)")
        os._exit(0)
        """)
    subprocess.run([sys.executable, "-c", script], check=True, env=command_env(), timeout=TIMEOUT)
    assert db.with_name(db.name + ".wal").stat().st_size > 0
    unwritable[db.resolve()] = "Read-only file system"
    target = tmp_path / "copy.duckdb"
    done = _run(db, "backup", str(target))
    assert done.exit_code == 0, done.stderr
    con = duckdb.connect(str(target), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM in_the_log").fetchall() == [(500,)]
    finally:
        con.close()


def test_restore_reads_the_backup_where_it_cannot_write(
    fresh_store: Callable[[str], Path], unwritable: dict[Path, str], tmp_path: Path
) -> None:
    db = fresh_store("live.duckdb")
    backup = fresh_store("backup-on-a-read-only-disk.duckdb")
    before = backup.read_bytes()
    unwritable[backup.resolve()] = "Read-only file system"
    done = _run(db, "backup", "--restore", str(backup))
    assert done.exit_code == 0, done.stderr
    assert db.read_bytes() == before and backup.read_bytes() == before  # the backup is not written to
    assert all(f.ok for f in check_store(db))


@pytest.mark.parametrize("command", [("screen", "--top", "2"), ("show", "MP")])
def test_screen_and_show_compute_in_memory_when_the_store_cannot_be_written(
    command: tuple[str, ...], fresh_store: Callable[[str], Path], unwritable: dict[Path, str]
) -> None:
    db = fresh_store("stale.duckdb")
    day = date(2026, 3, 2)
    with Store(db, read_only=True) as store:
        assert store.score_set_info(day) is None  # the scores of that day must be computed
    unwritable[db.resolve()] = "Read-only file system"
    done = _run(db, *command, "--as-of", day.isoformat(), "--format", "json")
    _no_damage(done)
    assert done.exit_code == 0, done.stderr
    notes = [line for line in done.stderr.splitlines() if "computed in memory" in line]
    assert len(notes) == 1, done.stderr
    assert "not stored" in notes[0] and "cannot be written (a read-only file system)" in notes[0]
    with Store(db, read_only=True) as store:
        assert store.score_set_info(day) is None


def test_a_full_disk_is_not_damage() -> None:
    assert damage_of(duckdb.FatalException(FULL_DISK)) is None
    assert damage_of(duckdb.FatalException(FULL_DISK.replace("No space left on device", "bad block"))) is not None


def test_a_full_disk_during_backup_is_said_as_such(
    fresh_store: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = fresh_store("full.duckdb")
    before = db.read_bytes()

    def full(*args: object) -> None:
        raise duckdb.FatalException(FULL_DISK)

    monkeypatch.setattr("screener.store.health.copy_store", full)
    target = tmp_path / "copy.duckdb"
    done = _run(db, "backup", str(target))
    _no_damage(done)
    assert done.exit_code == 1
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"Error: cannot back up the store {db}: the disk is full;"), line
    assert not target.exists() and db.read_bytes() == before


def test_a_full_disk_met_by_any_command_is_said_as_such(
    fresh_store: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = fresh_store("full-reader.duckdb")

    def full(*args: object, **kwargs: object) -> None:
        raise duckdb.FatalException(FULL_DISK)

    monkeypatch.setattr("screener.intake.universe.list_universe", full)
    done = _run(db, "universe", "list")
    _no_damage(done)
    assert done.exit_code == 1
    assert done.stderr.strip().startswith("Error: the disk is full; nothing was stored"), done.stderr
