"""Damaged and foreign files: truncated stores, flipped bytes, files that are not DuckDB stores, a write-ahead log
that cannot be replayed; and the way back: ``check``, ``backup``, ``backup --restore``, the migrations' own
backups. Every command meets damage with one line and a non-zero exit, never an internal error."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from screener.store import Store
from screener.store.connection import DUCKDB_MAGIC, DUCKDB_MAGIC_OFFSET, migration_backups
from screener.store.health import check_store
from screener.store.migrations import LATEST_VERSION, MIGRATIONS
from tests.reliability.conftest import TIMEOUT, command_env, run, seed, trials

RECOVERY = "run 'screener check', then restore a backup or 'screener backup --restore'"
#: Commands met with a damaged store: readers, a card, a writer.
COMMANDS = [("universe", "list", "--format", "csv"), ("show", "MP", "--format", "json"), ("weekly", "--format", "csv")]


def _clean(err: str) -> None:
    assert "Internal error" not in err and "Traceback" not in err, err


def test_the_duckdb_header_is_where_the_code_looks(fresh_store: Callable[[str], Path]) -> None:
    head = fresh_store("header.duckdb").read_bytes()[: DUCKDB_MAGIC_OFFSET + len(DUCKDB_MAGIC)]
    assert head[DUCKDB_MAGIC_OFFSET:] == DUCKDB_MAGIC


def _sqlite(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()


FOREIGN: dict[str, tuple[Callable[[Path], object], str]] = {
    "sqlite": (_sqlite, "it is a SQLite database"),
    "text": (lambda p: p.write_text("symbol,close\nMP,1\n"), "its header lacks DuckDB's signature"),
    "empty": (lambda p: p.write_bytes(b""), "the file is empty"),
    "parquet": (lambda p: p.write_bytes(b"PAR1" + bytes(64)), "it is a Parquet file"),
}


@pytest.mark.parametrize("kind", sorted(FOREIGN))
def test_a_foreign_file_is_refused_by_its_header_and_left_alone(kind: str, tmp_path: Path) -> None:
    make, why = FOREIGN[kind]
    db = tmp_path / "store.duckdb"
    make(db)
    before = db.read_bytes()
    # readers, check, and the commands that start opening their store before its header is checked (``opening``)
    readers = [("universe", "list"), ("check",), ("screen",), ("show", "MP")]
    commands = [("init",), *readers, ("backup", str(tmp_path / "copy.duckdb"))]
    # every command for the case that once downloaded an extension, the readers for the rest
    for args in commands if kind == "sqlite" else readers:
        done = run(db, *args, "--wait", "0")
        _clean(done.stderr)
        assert done.returncode == 1, (args, done.stderr)
        assert why in done.stderr, (args, done.stderr)
        assert "extension" not in done.stderr.lower()
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.duckdb"]  # no log, no copy, no download


def test_a_truncated_store_is_named_damaged(fresh_store: Callable[[str], Path]) -> None:
    db = fresh_store("truncated.duckdb")
    with db.open("rb+") as fh:
        fh.truncate(db.stat().st_size // 2)
    for args in COMMANDS:
        done = run(db, *args, "--wait", "0")
        _clean(done.stderr)
        assert done.returncode == 1, (args, done.stderr)
        line = done.stderr.strip().splitlines()[-1]
        assert line.startswith(f"Error: the store {db} is damaged (") and line.endswith(RECOVERY), line
    checked = run(db, "check", "--format", "csv")
    assert checked.returncode == 1 and "damaged" in checked.stdout


def test_flipped_bytes_are_found_or_harmless(fresh_store: Callable[[str], Path]) -> None:
    """Bytes flipped at seeded random places: either ``check`` finds the damage, or nothing reads it (a free
    block); every command then succeeds or says the store is damaged, in one line."""
    rng = random.Random(f"{seed()}-flip")
    found = 0
    for trial in range(2 * trials()):
        db = fresh_store(f"flipped-{trial}.duckdb")
        data = bytearray(db.read_bytes())
        at = rng.randrange(4096, len(data) - 64)
        for i in range(at, at + 32):
            data[i] ^= 0xFF
        db.write_bytes(bytes(data))
        where = f"seed {seed()}, trial {trial}, offset {at}"
        checked = run(db, "check", "--format", "csv")
        _clean(checked.stderr)
        assert checked.returncode in (0, 1), where
        found += checked.returncode
        for args in COMMANDS[1:]:  # a card (point lookups) and a writer (upserts probe every key index)
            done = run(db, *args, "--wait", "0")
            _clean(done.stderr)
            if done.returncode != 0:
                assert checked.returncode == 1, (where, args, done.stderr)
                line = done.stderr.strip().splitlines()[-1]
                assert " is damaged (" in line and line.endswith(RECOVERY), (where, line)


def test_check_finds_a_damaged_table_and_names_it(fresh_store: Callable[[str], Path]) -> None:
    db = fresh_store("one-table.duckdb")
    healthy = check_store(db)
    assert all(f.ok for f in healthy)
    assert {f.name for f in healthy if f.kind == "table"} >= {"companies", "prices", "watchlist_runs"}
    assert {f.name for f in healthy if f.kind == "key"} >= {"prices(symbol, date)"}
    # flip bytes across the file until a table's blocks are hit (the first data blocks start after the headers)
    data = bytearray(db.read_bytes())
    for at in range(3 * 4096, len(data), 64 * 1024):
        for i in range(at, at + 16):
            data[i] ^= 0xFF
    db.write_bytes(bytes(data))
    checked = run(db, "check", "--format", "csv")
    assert checked.returncode == 1, checked.stdout
    damaged = [line for line in checked.stdout.splitlines() if ",damaged," in line]
    assert damaged and all(line.split(",")[1] in ("table", "key", "file", "schema") for line in damaged)


def test_an_unreplayable_log_is_kept_aside_and_named(fresh_store: Callable[[str], Path]) -> None:
    db = fresh_store("wal.duckdb")
    garbage = random.Random(seed()).randbytes(3000)
    log = db.with_name(db.name + ".wal")
    log.write_bytes(garbage)
    done = run(db, "weekly", "--format", "csv", "--wait", "0")
    assert done.returncode == 0, done.stderr
    kept = [p for p in db.parent.iterdir() if p.name.startswith(log.name + ".unreplayed-")]
    assert len(kept) == 1 and kept[0].read_bytes() == garbage
    assert str(kept[0]) in done.stderr and "could not be replayed" in done.stderr
    assert not log.exists() or log.read_bytes() != garbage


def _corrupt_log(db: Path) -> Path:
    """A real write-ahead log with a damaged entry: another process writes with checkpoints off and dies without a
    word (``os._exit``), leaving its log; then 32 bytes in the middle of the log are overwritten."""
    script = textwrap.dedent(f"""
        import duckdb, os
        con = duckdb.connect({str(db)!r})
        con.execute("PRAGMA disable_checkpoint_on_shutdown")
        con.execute("SET wal_autocheckpoint = '1GB'")
        con.execute("CREATE TABLE scratch AS SELECT range AS x, repeat('w', 50) AS s FROM range(2000)")
        con.execute("UPDATE scratch SET s = 'z' WHERE x < 100")
        os._exit(0)
        """)
    subprocess.run([sys.executable, "-c", script], check=True, env=command_env(), timeout=TIMEOUT)
    log = db.with_name(db.name + ".wal")
    data = bytearray(log.read_bytes())
    assert len(data) > 10_000, len(data)
    middle = len(data) // 2
    data[middle : middle + 32] = b"\xab" * 32
    log.write_bytes(bytes(data))
    return log


def _kept_logs(db: Path) -> list[Path]:
    return [p for p in db.parent.iterdir() if p.name.startswith(f"{db.name}.wal.unreplayed-")]


def test_a_real_log_with_a_bad_entry_is_named_then_set_aside(fresh_store: Callable[[str], Path]) -> None:
    db = fresh_store("real-wal.duckdb")
    log = _corrupt_log(db)
    damaged = log.read_bytes()
    # a reader cannot set it aside: one line naming the log, and what sets it aside
    read = run(db, "universe", "list", "--format", "csv", "--wait", "0")
    _clean(read.stderr)
    assert read.returncode == 1
    lines = read.stderr.strip().splitlines()
    assert len(lines) == 1 and "is damaged" not in lines[0], read.stderr
    assert lines[0].startswith(f"Error: the store's write-ahead log {log} cannot be replayed ("), lines[0]
    assert lines[0].endswith("); a command that writes sets it aside, named, without its writes"), lines[0]
    assert log.read_bytes() == damaged and not _kept_logs(db)
    # a writer sets it aside, byte for byte, names it, and works on the store file
    wrote = run(db, "weekly", "--format", "csv", "--wait", "0")
    assert wrote.returncode == 0, wrote.stderr
    kept = _kept_logs(db)
    assert len(kept) == 1 and kept[0].read_bytes() == damaged
    assert str(kept[0]) in wrote.stderr and "could not be replayed" in wrote.stderr
    assert run(db, "check", "--wait", "0").returncode == 0
    # screen (which writes only when it can) and check set such a log aside too
    for args in [("screen", "--top", "2", "--format", "csv"), ("check", "--format", "csv")]:
        db = fresh_store(f"real-wal-{args[0]}.duckdb")
        log = _corrupt_log(db)
        damaged = log.read_bytes()
        done = run(db, *args, "--wait", "0")
        _clean(done.stderr)
        assert done.returncode == 0, (args, done.stderr)
        kept = _kept_logs(db)
        assert len(kept) == 1 and kept[0].read_bytes() == damaged, args
        assert str(kept[0]) in done.stderr + done.stdout, (args, done.stderr)


def test_backup_and_restore(fresh_store: Callable[[str], Path], tmp_path: Path) -> None:
    db = fresh_store("live.duckdb")
    copy = tmp_path / "copy.duckdb"
    made = run(db, "backup", str(copy))
    assert made.returncode == 0, made.stderr
    assert str(copy) in made.stderr and all(f.ok for f in check_store(copy))
    with Store(db) as store:  # a write after the backup
        logged_before = store.marker()["ingest"]
        with store.transaction():
            store.log_ingest(provider="file", status="ok", source="after the backup")
        logged_then = store.marker()["ingest"]
    assert logged_then > logged_before
    again = run(db, "backup", str(copy))
    assert again.returncode == 1 and "exists" in again.stderr  # a backup is never overwritten
    restored = run(db, "backup", "--restore", str(copy))
    assert restored.returncode == 0, restored.stderr
    with Store(db, read_only=True) as store:
        assert store.marker()["ingest"] == logged_before
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("live.duckdb.replaced-")]
    assert len(kept) == 1 and str(kept[0]) in restored.stderr
    with Store(kept[0], read_only=True) as store:
        assert store.marker()["ingest"] == logged_then  # the store it replaced is whole, beside it


def test_restore_through_a_symlink_restores_its_target(fresh_store: Callable[[str], Path], tmp_path: Path) -> None:
    real = fresh_store("real.duckdb")
    link = tmp_path / "link.duckdb"
    link.symlink_to(real)
    copy = tmp_path / "copy.duckdb"
    assert run(link, "backup", str(copy)).returncode == 0
    # a write after the backup, so the restore changes the file
    with Store(real) as store, store.transaction():
        store.log_ingest(provider="file", status="ok", source="after the backup")
    restored = run(link, "backup", "--restore", str(copy))
    assert restored.returncode == 0, restored.stderr
    assert link.is_symlink() and link.resolve() == real.resolve()  # the link stays a link
    assert real.read_bytes() == copy.read_bytes()
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("real.duckdb.replaced-")]
    assert len(kept) == 1 and not kept[0].is_symlink()


def test_restore_refuses_what_is_not_a_whole_store(fresh_store: Callable[[str], Path], tmp_path: Path) -> None:
    db = fresh_store("keep.duckdb")
    before = db.read_bytes()
    foreign = tmp_path / "notes.sqlite"
    _sqlite(foreign)
    damaged = fresh_store("damaged-backup.duckdb")
    with damaged.open("rb+") as fh:
        fh.truncate(damaged.stat().st_size // 2)
    for source, why in [
        (foreign, "not a DuckDB store"),
        (damaged, "cannot restore from"),
        (tmp_path / "no", "no such"),
    ]:
        done = run(db, "backup", "--restore", str(source))
        _clean(done.stderr)
        assert done.returncode == 1 and why in done.stderr, done.stderr
    assert db.read_bytes() == before


def test_a_migration_backs_the_store_up_first_and_keeps_three(fresh_store: Callable[[str], Path]) -> None:
    db = fresh_store("migrate.duckdb")
    steps = list(MIGRATIONS)
    with Store(db) as store:  # already at the latest version: nothing to back up
        assert not any("backed up" in line for line in store.notices)
        for n in range(1, 5):
            version = LATEST_VERSION + n
            steps.append((version, f"test step {n}", f"CREATE TABLE reliability_step_{n} (x INTEGER)"))
            store.notices.clear()
            assert store.migrate(steps) == version
            assert len(store.notices) == 1 and "before its upgrade" in store.notices[0]
            backups = migration_backups(db)
            assert len(backups) == min(n, 3)
            newest = backups[-1]
            assert f".pre-v{version}-" in newest.name and str(newest) in store.notices[0]
            found = check_store(newest)
            assert all(f.ok for f in found if f.kind != "schema")
            # the copy is the store as it was just before this step
            assert next(f for f in found if f.kind == "schema").detail.startswith(f"v{version - 1}")
    assert not any(p.name.endswith(".tmp") for p in db.parent.iterdir())
