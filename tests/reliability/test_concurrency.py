"""Readers never lock each other out, a writer holds the lock only while it writes, a waiting command says who
holds the store. Synchronised on pipes (a holder prints ``ready``, a waiting command prints its progress line),
never on guessed sleeps."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest

from screener.store import Store
from tests.reliability.conftest import TIMEOUT, held, holds_open, run, spawn


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


def _week_without_a_run(store: Store) -> str:
    """An as-of date a week before the store's first stored run: inside its data, and in an ISO week no run has, so
    a weekly run of it adds a run whatever the clock says (a weekly run of today replaces this week's run, and on a
    weekend the demo's last run is this week's)."""
    first = store.run_list()["as_of"].min()
    assert isinstance(first, date)
    return (first - timedelta(days=7)).isoformat()


def test_a_writer_waits_for_the_lock_then_writes(fresh_store: Callable[[str], Path]) -> None:
    db = fresh_store("waits.duckdb")
    with Store(db, read_only=True) as store:
        runs_before = store.marker()["run"]
        day = _week_without_a_run(store)
    with held(db, read_only=False):
        writer = spawn(db, "weekly", "--as-of", day, "--format", "csv", "--wait", "60")
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
        day = _week_without_a_run(store)
    first = spawn(db, "weekly", "--as-of", day, "--format", "csv", "--wait", "120")
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


#: Rows of the generated prices file. Reading and validating it takes seconds (most of it loading the validation
#: library, which a real import pays too): the time a reader must be able to get in.
IMPORT_ROWS = 10_000


def test_readers_succeed_while_an_import_reads_and_validates(
    fresh_store: Callable[[str], Path], tmp_path: Path
) -> None:
    """An import parses and validates every file before it writes, and that is most of its time; it takes the write
    lock only for the transaction that stores them. Readers with no patience at all (``--wait 0``), started while
    the import has the store open, get in: at least one that ended while the import still had it open succeeded,
    and any that did not was refused in the one clean line about the lock."""
    db = fresh_store("import.duckdb")
    path = tmp_path / "prices.csv"
    symbols = [f"ZZ{i:02d}" for i in range(20)]
    days = [date(2001, 1, 1).toordinal() + k for k in range(IMPORT_ROWS // len(symbols))]
    lines = ["symbol,date,close,volume"]
    lines += [
        f"{s},{date.fromordinal(d).isoformat()},{10 + (d % 50) / 10:.2f},{1000 + d % 977}"
        for s in symbols
        for d in days
    ]
    path.write_text("\n".join(lines) + "\n")
    with Store(db, read_only=True) as store:
        before = store.marker()
    importer = spawn(db, "import", str(path), "--format", "csv", "--wait", "60")
    deadline = time.monotonic() + TIMEOUT
    while importer.poll() is None and not holds_open(importer.pid, db) and time.monotonic() < deadline:
        time.sleep(0.01)
    # (exit code, the import still had the store open when the reader ended, stderr): a reader that got in after
    # the import closed the store, while its process was still printing, proves nothing
    attempts: list[tuple[int, bool, str]] = []
    # one reader that got in while the import ran is the proof; more would only slow the import down
    while importer.poll() is None and time.monotonic() < deadline and not any(a[0] == 0 and a[1] for a in attempts):
        reader = run(db, "universe", "list", "--format", "csv", "--wait", "0")
        attempts.append((reader.returncode, holds_open(importer.pid, db), reader.stderr.strip()))
    _, err = importer.communicate(timeout=TIMEOUT)
    assert importer.returncode == 0, err
    during = [a for a in attempts if a[1]]
    assert any(code == 0 for code, _, _ in during), attempts
    for code, _, said in attempts:
        assert code == 0 or (said.startswith("Error: the store ") and "locked by process" in said), said
    with Store(db, read_only=True) as store:
        assert store.changes_since(before) == [f"{len(lines) - 1} prices row(s)"]


#: Writers that compute for long before they write, each with the step of that computing where a reader is tried.
COMPUTING_WRITERS = {
    "score": (("score", "--recompute", "--as-of", "2026-05-01", "--format", "csv"), "factors.engine.compute_scores"),
    "weekly": (("weekly", "--as-of", "2026-05-01", "--format", "csv"), "factors.engine.compute_scores"),
    "universe tag": (
        ("universe", "tag", "MP", "--add", "trader_offtaker", "--source", "a test", "--effective", "2020-01-01"),
        "factors.engine.compute_scores",  # the stored score sets the back-dated change reaches are recomputed
    ),
    "backtest": (("backtest", "--format", "csv"), "screener.backtest.run.run_backtest"),
}


@pytest.mark.parametrize("name", list(COMPUTING_WRITERS))
def test_a_reader_gets_in_while_a_writer_computes(
    fresh_store: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """``score``, ``weekly``, ``universe tag`` and ``backtest`` read and compute before they store anything: a reader
    with no patience (``--wait 0``) started while they compute gets in, and what they compute is stored after."""
    from click.testing import CliRunner

    from screener.cli import cli
    from tests.builders import backtest_result

    db = fresh_store(f"{name.replace(' ', '-')}.duckdb")
    args, step = COMPUTING_WRITERS[name]
    module, attr = step.rsplit(".", 1)
    real = getattr(__import__(module, fromlist=[attr]), attr)
    readers: list[subprocess.CompletedProcess[str]] = []

    def computing(*a: object, **k: object) -> object:
        if not readers:
            readers.append(run(db, "universe", "list", "--format", "csv", "--wait", "0"))
        # a backtest over the demo history takes long: a ready-made result is what it stores
        return backtest_result() if attr == "run_backtest" else real(*a, **k)

    monkeypatch.setattr(step, computing)
    with Store(db, read_only=True) as store:
        before = store.marker()
    done = CliRunner().invoke(cli, ["--db", str(db), *args, "--wait", "30"], catch_exceptions=False)
    assert done.exit_code == 0, done.stderr
    assert readers and readers[0].returncode == 0, readers[0].stderr if readers else "the step never ran"
    with Store(db, read_only=True) as store:
        assert store.changes_since(before)  # the writer stored what it computed
