"""The store opened ahead (``screener.store.opening``): ``screen`` and ``show`` start DuckDB's open of their store while
their code loads, and their own open takes that connection. It must be only a head start: the same answers, the
same errors, and no connection left behind when the command never reached its store."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from screener.errors import ScreenerError
from screener.store import Store, opening
from screener.store.connection import connect
from tests.builders import MARKET_END, copy_template, scored_market_template


def test_the_open_ahead_module_loads_nothing_heavy() -> None:
    """It is imported before the command's code: the store's classes load beside the open, not before it."""
    script = (
        "import sys; from screener.store import opening; "
        "print(sorted(m for m in ('duckdb', 'polars', 'screener.store.store') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["[]"]  # DuckDB itself only when an open starts (``start``)


def test_the_open_runs_while_polars_loads(tmp_path: Path) -> None:
    """The open starts once DuckDB is loaded and before polars is (about 0.15 s of a command's start that the open
    runs beside), and polars is loaded when ``start`` returns, on the calling thread."""
    path = tmp_path / "store.duckdb"
    duckdb.connect(str(path)).close()
    script = (
        "import sys, threading\n"
        "from pathlib import Path\n"
        "from screener.store import opening\n"
        "seen = []\n"
        "real = threading.Thread.start\n"
        "def start(self):\n"
        "    seen.append((self.name, 'duckdb' in sys.modules, 'polars' in sys.modules))\n"
        "    real(self)\n"
        "threading.Thread.start = start\n"
        "assert opening.start(Path(sys.argv[1]))\n"
        "print(seen, 'polars' in sys.modules)\n"
        "opening.discard()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[('store-open-ahead', True, False)] True"


@pytest.fixture(autouse=True)
def _nothing_pending() -> Iterator[None]:
    opening.discard()
    yield
    assert not opening.pending(), "an open ahead outlived the test"


@pytest.fixture
def opened_on(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every ``duckdb.connect`` as (file name, name of the thread that made it)."""
    calls: list[tuple[str, str]] = []
    real = duckdb.connect

    def tracked(database: str = ":memory:", *args: object, **kwargs: object) -> duckdb.DuckDBPyConnection:
        calls.append((Path(str(database)).name, threading.current_thread().name))
        return real(database, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(duckdb, "connect", tracked)
    return calls


@pytest.fixture
def scored_db(db_path: Path, store_template) -> Path:
    return copy_template(scored_market_template(store_template), db_path)


def test_the_stores_own_open_takes_the_connection_opened_ahead(scored_db: Path, opened_on: list) -> None:
    assert opening.start(scored_db)
    con = connect(scored_db, read_only=True)
    try:
        assert opened_on == [(scored_db.name, "store-open-ahead")]  # one open, made on the worker thread
        assert con.execute("SELECT count(*) FROM companies").fetchone()[0] > 0
        assert not opening.pending()
    finally:
        con.close()
    again = connect(scored_db, read_only=True)  # taken once: the next open is the store's own
    again.close()
    assert opened_on[-1] == (scored_db.name, threading.current_thread().name)


def test_an_open_ahead_of_another_file_is_closed_and_the_store_opens_its_own(
    scored_db: Path, tmp_path: Path, opened_on: list
) -> None:
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).close()
    assert opening.start(other)
    con = connect(scored_db, read_only=True)
    con.close()
    assert opened_on[-1] == (scored_db.name, threading.current_thread().name)
    with duckdb.connect(str(other)) as writer:  # the other file is not held: a writer of this process gets it
        writer.execute("CREATE TABLE t (x INTEGER)")


def test_a_writable_open_never_takes_the_read_only_connection(scored_db: Path) -> None:
    assert opening.start(scored_db)
    ahead = opening._pending
    assert ahead is not None
    ahead.thread.join()  # the read-only connection is open now
    with pytest.raises(ScreenerError, match="already open in this process in another mode"):
        # while it is held this process cannot open the file for writing: the writable open does not take it
        connect(scored_db, read_only=False)
    assert opening.pending()
    opening.discard()
    con = connect(scored_db, read_only=False)  # nothing held after the discard
    con.close()


@pytest.mark.parametrize("case", ["missing", "empty", "folder"])
def test_nothing_is_opened_ahead_for_a_path_that_is_no_store_file(tmp_path: Path, case: str) -> None:
    path = tmp_path / "store.duckdb"
    if case == "empty":
        path.touch()
    elif case == "folder":
        path.mkdir()
    assert not opening.start(path)
    assert not opening.pending()


def test_an_open_ahead_that_failed_leaves_the_error_to_the_stores_own_open(tmp_path: Path) -> None:
    """A file DuckDB cannot read fails on the worker thread without a word; the store's open then says what it
    always said."""
    path = tmp_path / "store.duckdb"
    path.write_bytes(b"\0" * 8 + b"DUCK" + b"\xff" * 4096)  # DuckDB's magic, then garbage
    assert opening.start(path)
    with pytest.raises(Exception) as ahead:
        Store(path, read_only=True)
    opening.discard()
    with pytest.raises(Exception) as alone:
        Store(path, read_only=True)
    assert type(ahead.value) is type(alone.value) and str(ahead.value) == str(alone.value)


class _Recording:
    """A connection that records each statement with the thread that ran it, or refuses them all."""

    def __init__(self, con: duckdb.DuckDBPyConnection, ran: list[tuple[str, str]], refuse: bool) -> None:
        self.con, self.ran, self.refuse = con, ran, refuse
        self.closed = False

    def execute(self, sql: str) -> duckdb.DuckDBPyConnection:
        self.ran.append((sql, threading.current_thread().name))
        if self.refuse:
            raise duckdb.IOException("IO Error: the disk went away")
        return self.con.execute(sql)

    def close(self) -> None:
        self.closed = True
        self.con.close()


@pytest.mark.parametrize("refuse", [False, True])
def test_the_first_statement_is_run_ahead_and_a_connection_that_refuses_it_is_closed(
    scored_db: Path, monkeypatch: pytest.MonkeyPatch, refuse: bool
) -> None:
    """DuckDB's first statement sets up its query machinery: it is run on the worker thread too. A connection whose
    first statement fails is closed there and not handed over: the store's own open meets whatever is wrong."""
    ran: list[tuple[str, str]] = []
    made: list[_Recording] = []
    real = duckdb.connect

    def recording(database: str = ":memory:", *args: object, **kwargs: object) -> _Recording:
        made.append(_Recording(real(database, *args, **kwargs), ran, refuse))  # type: ignore[arg-type]
        return made[-1]

    monkeypatch.setattr(duckdb, "connect", recording)
    assert opening.start(scored_db)
    taken = opening.take(scored_db)
    assert ran == [("SELECT 1", "store-open-ahead")]
    if refuse:
        assert taken is None and made[0].closed
    else:
        assert taken is made[0] and not made[0].closed
        taken.close()


def test_screen_and_show_open_their_store_ahead(invoke, scored_db: Path, opened_on: list) -> None:
    day = MARKET_END.isoformat()
    for args in (["screen", "--as-of", day, "--format", "csv"], ["show", "MP", "--as-of", day, "--format", "json"]):
        opened_on.clear()
        result = invoke(*args)
        assert result.exit_code == 0, result.stderr
        assert opened_on[0] == (scored_db.name, "store-open-ahead")
        assert len(opened_on) == 1, opened_on  # the command's open took it: the file was opened once


def test_a_command_that_never_reached_its_store_leaves_no_connection(invoke, scored_db: Path) -> None:
    result = invoke("screen", "--format", "xml")  # a usage error: the command never opens its store
    assert result.exit_code == 2
    assert not opening.pending()
    with Store(scored_db) as store, store.transaction():  # the file is free for writing in this process again
        store.con.execute("CREATE TABLE scratch (x INTEGER)")


def test_help_opens_nothing_ahead(invoke, scored_db: Path, opened_on: list) -> None:
    for args in (["screen", "--help"], ["show", "-h"]):
        assert invoke(*args).exit_code == 0
    assert opened_on == []


def test_a_screen_gives_the_same_answer_with_or_without_the_open_ahead(
    invoke, scored_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["screen", "--as-of", MARKET_END.isoformat(), "--format", "csv", "--where", "net_cash_usd > 0"]
    ahead = invoke(*args)
    monkeypatch.setattr(opening, "start", lambda path: False)
    alone = invoke(*args)
    assert (ahead.exit_code, ahead.stdout, ahead.stderr) == (alone.exit_code, alone.stdout, alone.stderr)
    assert ahead.stdout.count("\n") > 1


def test_the_store_named_by_the_environment_is_the_one_opened_ahead(
    runner, scored_db: Path, opened_on: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    from screener.cli import cli

    monkeypatch.setenv("SCREENER_DB", str(scored_db))
    result = runner.invoke(cli, ["show", "MP", "--as-of", MARKET_END.isoformat(), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    assert opened_on == [(scored_db.name, "store-open-ahead")]


def test_an_interrupt_while_waiting_for_the_open_leaves_it_to_discard(
    scored_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert opening.start(scored_db)
    ahead = opening._pending
    assert ahead is not None
    ahead.thread.join()
    real_join = ahead.thread.join

    def interrupted(timeout: float | None = None) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ahead.thread, "join", interrupted)
    with pytest.raises(KeyboardInterrupt):
        opening.take(scored_db)
    monkeypatch.setattr(ahead.thread, "join", real_join)
    assert opening.pending() and ahead.con is not None
    opening.discard()
    assert ahead.con is None  # closed, not left to the end of the process


def test_every_name_the_store_package_gives_is_found_on_first_use() -> None:
    """The package loads its names on first use (so that this module comes without them): each name it lists
    resolves, from the module that defines it, and a name it does not give is an ``AttributeError``."""
    import screener.store as package

    assert sorted(package.__all__) == sorted(package._HOMES)
    for name in package.__all__:
        assert getattr(package, name) is getattr(sys.modules[package._HOMES[name]], name)
    with pytest.raises(AttributeError, match="no attribute 'Stor'"):
        package.Stor  # noqa: B018
