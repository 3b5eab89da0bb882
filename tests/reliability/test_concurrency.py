"""Readers never lock each other out, a writer holds the lock only while it writes, a waiting command says who
holds the store. Synchronised on pipes (a holder prints ``ready``, a waiting command prints its progress line),
never on guessed sleeps."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest

from screener.store import Store
from tests.reliability.conftest import TIMEOUT, command_env, run, spawn


@contextmanager
def held(db: Path, *, read_only: bool) -> Iterator[subprocess.Popen[str]]:
    """Another process with the store open (read-write: the write lock) until the block ends."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import duckdb, sys
            con = duckdb.connect({str(db)!r}, read_only={read_only})
            print("ready", flush=True)
            sys.stdin.read()
            """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=command_env(),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        yield holder
    finally:
        holder.communicate(input="", timeout=TIMEOUT)


def test_many_readers_at_once(fresh_store: Callable[[str], Path]) -> None:
    db = fresh_store("readers.duckdb")
    assert run(db, "score", "--format", "csv").returncode == 0  # today's scores stored: the readers only read
    commands = [
        ("screen", "--top", "3", "--format", "csv"),
        ("universe", "list", "--format", "csv"),
        ("watchlist", "runs", "--format", "csv"),
        ("watchlist", "show", "--format", "csv"),
        ("show", "MP", "--format", "json"),
    ]
    procs = [spawn(db, *args, "--wait", "0") for args in commands]
    for args, proc in zip(commands, procs, strict=True):
        out, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, (args, err)
        assert out.strip(), args


def test_readers_run_while_a_notebook_reads(fresh_store: Callable[[str], Path]) -> None:
    db = fresh_store("notebook.duckdb")
    with held(db, read_only=True):
        done = run(db, "watchlist", "runs", "--format", "csv", "--wait", "0")
    assert done.returncode == 0, done.stderr


def test_screen_computes_stale_scores_in_memory_when_it_cannot_write(fresh_store: Callable[[str], Path]) -> None:
    db = fresh_store("stale.duckdb")
    day = date(2026, 3, 2)
    with Store(db, read_only=True) as store:
        assert store.score_set_info(day) is None
    with held(db, read_only=True):
        done = run(db, "screen", "--as-of", day.isoformat(), "--top", "2", "--format", "csv", "--wait", "0")
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stderr.splitlines() if "computed in memory" in line]
    assert len(notes) == 1, done.stderr
    assert "not stored" in notes[0] and "process" in notes[0]
    with Store(db, read_only=True) as store:
        assert store.score_set_info(day) is None  # nothing was stored
    # with nobody else on the store, the same command stores the set
    done = run(db, "screen", "--as-of", day.isoformat(), "--top", "2", "--format", "csv", "--wait", "0")
    assert done.returncode == 0 and "computed in memory" not in done.stderr, done.stderr
    with Store(db, read_only=True) as store:
        assert store.score_set_info(day) is not None


def test_a_locked_store_names_the_process_that_holds_it(fresh_store: Callable[[str], Path]) -> None:
    db = fresh_store("locked.duckdb")
    with held(db, read_only=False) as holder:
        at_once = run(db, "weekly", "--wait", "0")
        waited = run(db, "universe", "list", "--wait", "0.3")
    assert at_once.returncode == 1
    lines = at_once.stderr.strip().splitlines()
    assert len(lines) == 1, at_once.stderr
    assert lines[0].startswith("Error: the store ") and f"locked by process {holder.pid} " in lines[0]
    assert waited.returncode == 1
    lines = waited.stderr.strip().splitlines()
    assert lines[0].startswith(f"waiting for the store {db}: process {holder.pid}"), waited.stderr
    assert (
        f"locked by process {holder.pid} " in lines[-1] and "after waiting 0.3 s" in lines[-1] and "--wait" in lines[-1]
    )


def test_a_writer_waits_for_the_lock_then_writes(fresh_store: Callable[[str], Path]) -> None:
    db = fresh_store("waits.duckdb")
    with Store(db, read_only=True) as store:
        runs_before = store.marker()["run"]
    with held(db, read_only=False):
        writer = spawn(db, "weekly", "--format", "csv", "--wait", "60")
        assert writer.stderr is not None
        first = writer.stderr.readline()  # the progress line: the writer is waiting, so release the holder now
        assert first.startswith("waiting for the store "), first
    _, err = writer.communicate(timeout=TIMEOUT)
    assert writer.returncode == 0, err
    with Store(db, read_only=True) as store:
        assert store.marker()["run"] == runs_before + 1


def test_two_writers_both_land(fresh_store: Callable[[str], Path]) -> None:
    db = fresh_store("two.duckdb")
    with Store(db, read_only=True) as store:
        before = store.marker()
    first = spawn(db, "weekly", "--format", "csv", "--wait", "120")
    second = spawn(db, "score", "--recompute", "--as-of", "2026-05-01", "--format", "csv", "--wait", "120")
    for proc in (first, second):
        _, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, err
        assert "Internal error" not in err
    with Store(db, read_only=True) as store:
        now = store.marker()
        assert now["run"] == before["run"] + 1
        assert store.score_set_info(date(2026, 5, 1)) is not None


def test_two_writers_without_waiting_fail_cleanly_or_land(fresh_store: Callable[[str], Path]) -> None:
    db = fresh_store("two-nowait.duckdb")
    procs = [spawn(db, "weekly", "--format", "csv", "--wait", "0") for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode in (0, 1), err
        if proc.returncode == 1:
            assert err.strip().splitlines()[-1].startswith("Error: the store ") and "locked by process" in err, err
    assert run(db, "check", "--format", "csv").returncode == 0


def test_readers_get_in_between_the_transactions_of_a_brief_writer(fresh_store: Callable[[str], Path]) -> None:
    """A store opened ``brief`` (as ``refresh`` opens it) holds the write lock only inside a transaction: a reader
    started during one waits for its commit, a reader started between two does not wait at all."""
    db = fresh_store("brief.duckdb")
    store = Store(db, writes="brief", wait=30)
    try:
        between = run(db, "universe", "list", "--format", "csv", "--wait", "0")
        assert between.returncode == 0, between.stderr
        with store.transaction():
            store.log_ingest(provider="file", status="ok", source="test", message="one batch")
            reader = spawn(db, "universe", "list", "--format", "csv", "--wait", "60")
            assert reader.stderr is not None
            assert reader.stderr.readline().startswith("waiting for the store ")  # blocked by this transaction
        out, err = reader.communicate(timeout=TIMEOUT)
        assert reader.returncode == 0, err
        assert out.strip()
        again = run(db, "universe", "list", "--format", "csv", "--wait", "0")
        assert again.returncode == 0, again.stderr
    finally:
        store.close()


@pytest.fixture
def yahoo(monkeypatch: pytest.MonkeyPatch):
    from screener.providers.yahoo import RetryPolicy, YahooProvider
    from tests._yahoo_helpers import ANCHOR_NOW, FakeYahoo, Listing, reset_yfinance

    reset_yfinance()
    monkeypatch.setattr("screener.intake.refresh.utcnow", lambda: ANCHOR_NOW)
    fake = FakeYahoo([Listing("MP"), Listing("LYC.AX", quote_currency="AUD", financial_currency="AUD")])
    monkeypatch.setattr(
        "screener.intake.refresh.default_provider",
        lambda: YahooProvider(fake, retry=RetryPolicy(retries=1, base_delay=0.0), sleep=lambda _s: None, seed=3),
    )
    return fake


def test_readers_succeed_during_a_refresh(fresh_store: Callable[[str], Path], yahoo: object) -> None:
    """Each symbol's batch is a short transaction: after every symbol a reader with no patience at all
    (``--wait 0``) gets in."""
    from screener.intake.refresh import refresh

    db = fresh_store("refresh.duckdb")
    seen: list[tuple[str, int, str]] = []

    def reader_now(label: str, done: int, total: int) -> None:
        if len(seen) < 2:  # a reader after each of the first symbols (more only slow the suite)
            result = run(db, "universe", "list", "--format", "csv", "--wait", "0")
            seen.append((label, result.returncode, result.stderr.strip()))

    store = Store(db, writes="brief", wait=30)
    try:
        refresh(store, symbols=["MP", "LYC.AX"], on_progress=reader_now, max_age="0")
    finally:
        store.close()
    assert seen and all(code == 0 for _, code, _ in seen), seen


@pytest.mark.parametrize("seconds", ["nan", "inf", "-inf", "3601", "-1"])
def test_wait_is_a_finite_number_of_seconds(seconds: str, fresh_store: Callable[[str], Path]) -> None:
    """``nan`` passes every range check (each comparison with it is false) and ``inf`` never ends: both once
    waited forever."""
    db = fresh_store("wait.duckdb")
    done = run(db, "universe", "list", "--wait", seconds, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("Error: Invalid value for '--wait': "), done.stderr
