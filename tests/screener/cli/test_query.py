"""``screener query``: one read-only SELECT, rendered like every listing command; anything else is one line, exit 1,
and leaves the store byte for byte as it was."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest

from screener.errors import ArgumentError, ScreenerError
from screener.store import Store
from screener.store.query import connect_readonly, query_readonly
from tests.builders import copy_template, market_template


@pytest.fixture
def market_db(db_path: Path, store_template) -> Path:
    return copy_template(market_template(store_template), db_path)


@pytest.fixture
def outside(tmp_path: Path) -> dict[str, Path]:
    """Files a query could read or write if the connection reached outside the store: real ones, so a read would
    succeed (and a write would leave a file) were the guard missing."""
    folder = tmp_path / "outside"
    folder.mkdir()
    secret = folder / "secret.csv"
    secret.write_text("key,value\napi,hunter2\n")
    parquet = folder / "secret.parquet"
    pl.DataFrame({"key": ["api"], "value": ["hunter2"]}).write_parquet(parquet)
    other = folder / "other.duckdb"
    duckdb.connect(str(other)).close()
    return {"dir": folder, "csv": secret, "parquet": parquet, "db": other, "out": folder / "out.csv"}


def _fingerprint(path: Path) -> tuple[str, dict[str, int]]:
    """The file's bytes (hashed) and every table's row count: what 'changes nothing' means, checked twice."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with duckdb.connect(str(path), read_only=True) as con:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        counts = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in sorted(tables)}
    return digest, counts


def hostile(o: dict[str, Path]) -> list[str]:
    return [
        # writes to the store
        "DELETE FROM companies",
        "UPDATE companies SET name = 'x'",
        "INSERT INTO companies (symbol, name, country, currency) VALUES ('X', 'X', 'US', 'USD')",
        "DROP TABLE prices",
        "CREATE TABLE t AS SELECT 1 AS x",
        "CREATE TEMP TABLE t AS SELECT 1 AS x",
        "ALTER TABLE companies ADD COLUMN x INTEGER",
        "TRUNCATE prices",
        "CHECKPOINT",
        "VACUUM",
        "SELECT nextval('seq_run')",
        "WITH d AS (DELETE FROM companies RETURNING *) SELECT * FROM d",
        # several statements, the second a write
        "SELECT 1; DELETE FROM companies",
        "SELECT 1; SELECT 2",
        # files and URLs, read or written
        f"SELECT * FROM read_csv('{o['csv']}')",
        f"SELECT * FROM read_csv_auto('{o['csv']}')",
        f"SELECT * FROM '{o['csv']}'",
        f"SELECT * FROM read_parquet('{o['parquet']}')",
        f"SELECT * FROM read_text('{o['csv']}')",
        f"SELECT * FROM read_blob('{o['csv']}')",
        f"SELECT * FROM glob('{o['dir']}/*')",
        f"SELECT * FROM sniff_csv('{o['csv']}')",
        f"WITH s AS (SELECT * FROM read_csv('{o['csv']}')) SELECT * FROM s",
        f"SELECT symbol FROM companies WHERE symbol IN (SELECT key FROM read_csv('{o['csv']}'))",
        "SELECT * FROM read_csv('https://example.com/x.csv')",
        f"COPY companies TO '{o['out']}'",
        f"COPY (SELECT * FROM companies) TO '{o['out']}' (FORMAT csv)",
        f"COPY companies FROM '{o['csv']}'",
        f"EXPORT DATABASE '{o['dir']}/dump'",
        f"IMPORT DATABASE '{o['dir']}'",
        # other databases
        f"ATTACH '{o['db']}' AS other",
        f"ATTACH '{o['dir']}/new.duckdb' AS fresh",
        "ATTACH ':memory:' AS scratch",
        "DETACH DATABASE IF EXISTS other",
        "USE memory",
        # extensions
        "INSTALL httpfs",
        "LOAD httpfs",
        "FORCE INSTALL json",
        # settings that would undo the guard
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "RESET enable_external_access",
        "SET autoinstall_known_extensions = true",
        "PRAGMA enable_profiling",
        "SET VARIABLE x = 1",
        "CALL pragma_version()",
        "PIVOT companies ON country USING count(*)",
        # not SQL at all
        "SELEC 1",
        "",
        "   ;  ",
        "SELECT * FROM no_such_table",
    ]


def test_hostile_statements_get_one_line_exit_1_and_change_nothing(
    invoke, market_db: Path, outside: dict[str, Path]
) -> None:
    before = _fingerprint(market_db)
    files_before = sorted(p.name for p in outside["dir"].iterdir())
    statements = hostile(outside)
    assert len(statements) > 40
    for sql in statements:
        for fmt in ("table", "csv"):
            result = invoke("query", sql, "--format", fmt)
            assert result.exit_code == 1, (sql, result.stdout, result.stderr)
            assert result.stdout == "", sql
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("Error: "), (sql, result.stderr)
            assert "hunter2" not in result.stderr, sql
    assert _fingerprint(market_db) == before
    assert sorted(p.name for p in outside["dir"].iterdir()) == files_before


def test_the_refusals_say_why(invoke, market_db: Path, outside: dict[str, Path]) -> None:
    def err(sql: str) -> str:
        return invoke("query", sql).stderr.strip()

    assert err("DELETE FROM companies") == (
        "Error: refused: DELETE is not allowed here; only one SELECT (or EXPLAIN) runs, read-only"
    )
    assert err("SELECT 1; DELETE FROM companies") == "Error: the SQL holds 2 statements; give exactly one SELECT"
    assert "Permission Error" in err(f"SELECT * FROM read_csv('{outside['csv']}')")
    assert "read-only mode" in err("SELECT nextval('seq_run')")
    assert err("SELEC 1").startswith("Error: the SQL does not parse: Parser Error: syntax error")
    assert err("SELECT * FROM no_such_table").startswith("Error: the query failed: Catalog Error")
    assert err("SELECT INTERVAL 1 DAY AS d") == (
        "Error: cannot return the result: column 'd' is INTERVAL, which polars cannot hold (INTERVAL); "
        "CAST it to VARCHAR in the query"
    )


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("install httpfs", "INSTALL"),
        ("FORCE INSTALL json", "FORCE INSTALL"),
        ("load httpfs", "LOAD"),
        ("pivot prices on provider using count(*)", "PIVOT"),
        ("/* a comment */ -- and another\n  pivot prices on provider using count(*)", "PIVOT"),
        ("SET VARIABLE x = 1", "SET"),
        ("USE memory", "USE"),
        ("TRUNCATE prices", "TRUNCATE"),
        ("IMPORT DATABASE 'somewhere'", "IMPORT"),
        ("CHECKPOINT", "CHECKPOINT"),
        ("UPDATE EXTENSIONS", "UPDATE"),  # a statement type the Python enum of duckdb does not list
    ],
)
def test_a_refusal_names_the_statement_as_written(invoke, market_db: Path, sql: str, named: str) -> None:
    """DuckDB's statement type groups several keywords (INSTALL is a LOAD, PIVOT a MULTI): the line names the one
    the user wrote."""
    result = invoke("query", sql)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: refused: {named} is not allowed here; only one SELECT"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_pivot_that_lists_its_values_runs(invoke, market_db: Path) -> None:
    refused = invoke("query", "PIVOT companies ON country USING count(*)")
    assert "a PIVOT runs when it lists its values" in refused.stderr
    sql = "PIVOT (SELECT country FROM companies) ON country IN ('DE', 'US') USING count(*)"
    result = invoke("query", sql, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == [{"DE": 1, "US": 2}]


@pytest.mark.parametrize(
    ("select", "column", "dtype"),
    [
        ("union_value(num := 2)::UNION(num INTEGER, str VARCHAR) AS u", "u", "UNION(num INTEGER, str VARCHAR)"),
        ("[INTERVAL 1 DAY] AS l", "l", "INTERVAL[]"),  # nested: polars would crash, not fail, on this one
        ("{'a': INTERVAL 1 DAY} AS s", "s", "STRUCT(a INTERVAL)"),
        ("1 AS fine, INTERVAL 2 HOUR AS gap", "gap", "INTERVAL"),
    ],
)
def test_a_type_polars_cannot_hold_is_named_with_its_column(
    invoke, market_db: Path, select: str, column: str, dtype: str
) -> None:
    result = invoke("query", f"SELECT {select}")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: cannot return the result: column {column!r} is {dtype}, "), result.stderr
    assert result.stderr.strip().endswith("CAST it to VARCHAR in the query")
    assert len(result.stderr.strip().splitlines()) == 1


def test_json_keeps_nan_and_the_infinities_apart_from_null(invoke, market_db: Path) -> None:
    sql = (
        "SELECT 'inf'::DOUBLE AS pos, '-inf'::DOUBLE AS neg, 'nan'::DOUBLE AS nan, NULL::DOUBLE AS missing, "
        "'inf'::FLOAT AS single, ['nan'::DOUBLE, 1.5] AS listed, 2.5::DOUBLE AS plain"
    )
    as_json = invoke("query", sql, "--format", "json")
    assert as_json.exit_code == 0, as_json.stderr
    assert json.loads(as_json.stdout) == [
        {
            "pos": "Infinity",
            "neg": "-Infinity",
            "nan": "NaN",
            "missing": None,
            "single": "Infinity",
            "listed": ["NaN", 1.5],
            "plain": 2.5,
        }
    ]
    as_csv = invoke("query", sql, "--format", "csv")
    row = next(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert (row["pos"], row["neg"], row["nan"], row["missing"]) == ("inf", "-inf", "NaN", "")


def test_the_listing_commands_keep_nan_as_null(market_db: Path) -> None:
    """The lossless spelling is the query's: a listing's NaN is an unknown figure, null as docs/cli.md says."""
    from screener.output.render import render

    frame = pl.DataFrame({"score": [float("nan"), float("inf"), None, 1.0]})
    out = io.StringIO()
    render(frame, "json", dest=out)
    assert [r["score"] for r in json.loads(out.getvalue())] == [None, None, None, 1.0]


def test_wide_integers_keep_every_digit(invoke, market_db: Path) -> None:
    huge_max = 2**127 - 1
    huge_min = -(2**127)
    uhuge_max = 2**128 - 1
    sql = (
        f"SELECT {huge_max}::HUGEINT AS huge_max, ({huge_min + 1})::HUGEINT - 1 AS huge_min, "
        f'{uhuge_max}::UHUGEINT AS uhuge_max, NULL::HUGEINT AS missing, 1 AS "odd ""name", '
        f"{2**53 + 1}::BIGINT AS past_doubles"
    )
    as_json = invoke("query", sql, "--format", "json")
    assert as_json.exit_code == 0, as_json.stderr
    # the numbers as written, digit for digit (json.loads reads integers exactly)
    assert f'"huge_max": {huge_max},' in as_json.stdout
    assert json.loads(as_json.stdout) == [
        {
            "huge_max": huge_max,
            "huge_min": huge_min,
            "uhuge_max": uhuge_max,
            "missing": None,
            'odd "name': 1,
            "past_doubles": 2**53 + 1,
        }
    ]
    as_csv = invoke("query", sql, "--format", "csv")
    row = next(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert (row["huge_max"], row["huge_min"], row["uhuge_max"]) == (str(huge_max), str(huge_min), str(uhuge_max))
    got = query_readonly(market_db, sql).rows
    assert got.schema["huge_max"] == pl.Int128 and got.schema["uhuge_max"] == pl.UInt128
    assert got.row(0) == (huge_max, huge_min, uhuge_max, None, 1, 2**53 + 1)


def _opened(pid: int, path: Path) -> bool:
    """Whether process ``pid`` holds ``path`` open (Linux's /proc): the query's connection is up."""
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.path.realpath(fd) == str(path.resolve()) for fd in fds.iterdir())
    except OSError:  # the process is gone, or an fd closed while listed
        return False


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see the query start")
def test_ctrl_c_stops_a_long_query_with_one_line_and_exit_130(market_db: Path) -> None:
    """For real: a query that would run for minutes (a recursive count, one row per step) and a SIGINT."""
    before = _fingerprint(market_db)
    sql = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 100000000) SELECT count(*) FROM r"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    env.pop("SCREENER_DEBUG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "screener", "--db", str(market_db), "query", sql],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while not _opened(proc.pid, market_db):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the query never opened the store"
            time.sleep(0.05)
        time.sleep(1.0)  # well inside the query, which runs for minutes
        assert proc.poll() is None, "the query ended before it was interrupted"
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert time.monotonic() - started < 10
    assert proc.returncode == 130, err
    assert out == ""
    assert err == "Interrupted; nothing was changed (the query is read-only).\n"
    assert _fingerprint(market_db) == before


def test_an_interrupt_reaches_the_library_caller_as_keyboard_interrupt(
    market_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB answers the SIGINT with RuntimeError('Query interrupted'); the library gives back the interrupt."""
    import threading

    con_ready = threading.Event()
    caught: list[BaseException] = []
    sql = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 100000000) SELECT count(*) FROM r"

    def run() -> None:
        con_ready.set()
        try:
            query_readonly(market_db, sql)
        except BaseException as exc:  # the type is what the test checks
            caught.append(exc)

    # the interrupt of another thread's DuckDB query is DuckDB's own interrupt(), as a signal handler would call it
    import screener.store.query as module

    connections: list[duckdb.DuckDBPyConnection] = []
    original = module.connect_readonly

    def tracked(path: object) -> duckdb.DuckDBPyConnection:
        con = original(path)  # type: ignore[arg-type]
        connections.append(con)
        return con

    monkeypatch.setattr(module, "connect_readonly", tracked)
    worker = threading.Thread(target=run)
    worker.start()
    con_ready.wait(10)
    deadline = time.monotonic() + 30
    while not connections and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    connections[0].interrupt()
    worker.join(30)
    assert not worker.is_alive()
    assert len(caught) == 1 and isinstance(caught[0], KeyboardInterrupt), caught
    assert str(caught[0]) == "nothing was changed (the query is read-only)."


@pytest.mark.parametrize(
    "sql",
    [
        "ATTACH '{db}' AS other",
        "COPY companies TO '{out}'",
        "SELECT * FROM read_csv('{csv}')",
        "SELECT * FROM glob('{dir}/*')",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "RESET enable_external_access",
        "SET lock_configuration = false",
        "INSERT INTO companies (symbol, name, country, currency) VALUES ('X', 'X', 'US', 'USD')",
        "CREATE TABLE t AS SELECT 1 AS x",
        "SELECT nextval('seq_run')",
    ],
)
def test_the_connection_alone_refuses_what_the_statement_check_would(
    market_db: Path, outside: dict[str, Path], sql: str
) -> None:
    """Defence in depth: were the one-SELECT check gone, the connection itself still refuses."""
    before = _fingerprint(market_db)
    con = connect_readonly(market_db)
    try:
        with pytest.raises(duckdb.Error):
            con.execute(sql.format(**{k: str(v) for k, v in outside.items()})).fetchall()
        settings = dict(con.execute("SELECT name, value FROM duckdb_settings()").fetchall())
    finally:
        con.close()
    assert settings["enable_external_access"] == "false"
    assert settings["lock_configuration"] == "true"
    assert settings["autoload_known_extensions"] == "false"
    assert settings["autoinstall_known_extensions"] == "false"
    assert settings["enable_progress_bar"] == "false"  # the library prints nothing, DuckDB's bar included
    assert _fingerprint(market_db) == before
    assert not outside["out"].exists()


def test_a_missing_store_is_not_created(invoke, db_path: Path) -> None:
    result = invoke("query", "SELECT 1")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: no store at {db_path}: run 'screener init' (or 'screener demo') first"
    assert not db_path.exists()


def test_select_renders_in_every_format(invoke, market_db: Path) -> None:
    sql = "SELECT symbol, name, country FROM companies WHERE country IN ('US', 'DE') ORDER BY symbol"
    expected = [("AUTO", "DE"), ("DEFN", "US"), ("PROC", "US")]
    as_json = invoke("query", sql, "--format", "json")
    assert as_json.exit_code == 0, as_json.stderr
    rows = json.loads(as_json.stdout)
    assert [(r["symbol"], r["country"]) for r in rows] == expected
    assert as_json.stderr.strip() == "3 rows"
    as_csv = invoke("query", sql, "--format", "csv")
    got = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [(r["symbol"], r["country"]) for r in got] == expected
    # the csv rules of every command hold here too: a formula-looking name is neutralised
    assert got[0]["name"].startswith("'=HYPERLINK")
    table = invoke("query", sql)
    assert table.exit_code == 0 and "DEFN" in table.stdout and "AUTO" in table.stdout


def test_read_statements_of_every_shape_run(invoke, market_db: Path) -> None:
    for sql in (
        "SHOW TABLES",
        "DESCRIBE companies",
        "SUMMARIZE prices",
        "FROM companies LIMIT 2",
        "VALUES (1, 'a'), (2, 'b')",
        "WITH c AS (SELECT country, count(*) AS n FROM companies GROUP BY country) SELECT * FROM c ORDER BY n DESC",
        "EXPLAIN SELECT * FROM prices WHERE close > 10",
        "SELECT 1 AS one;",
    ):
        result = invoke("query", sql, "--format", "json")
        assert result.exit_code == 0, (sql, result.stderr)
        assert json.loads(result.stdout), sql


def test_the_row_cap_stops_the_query_and_says_so(invoke, market_db: Path) -> None:
    # 10 billion rows (80 GB) if it ran to the end: the cap is part of the plan, so this returns at once
    sql = "SELECT a.range AS a, b.range AS b FROM range(100000) a, range(100000) b"
    result = invoke("query", sql, "--format", "json", "--max-rows", "5")
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)) == 5
    assert "showing the first 5 rows; the query has more" in result.stderr
    exact = invoke("query", "SELECT * FROM range(5)", "--format", "json", "--max-rows", "5")
    assert len(json.loads(exact.stdout)) == 5 and "has more" not in exact.stderr
    assert invoke("query", "SELECT 1", "--max-rows", "0").exit_code == 2


def test_the_library_call(market_db: Path) -> None:
    got = query_readonly(market_db, "SELECT symbol FROM companies ORDER BY symbol DESC", max_rows=2)
    assert got.rows["symbol"].to_list() == ["RECY", "PROC"]
    assert got.truncated and got.max_rows == 2
    with pytest.raises(ArgumentError) as caught:
        query_readonly(market_db, "SELECT 1", max_rows=0)
    assert caught.value.options == ["max_rows"]
    with pytest.raises(ScreenerError, match="open in this process"), Store(market_db):
        query_readonly(market_db, "SELECT 1")


def test_a_store_held_by_a_writer_is_one_line(invoke, market_db: Path) -> None:
    hold = f"import duckdb, sys; con = duckdb.connect({str(market_db)!r}); print('ready', flush=True); sys.stdin.read()"
    holder = subprocess.Popen(
        [sys.executable, "-c", hold],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        result = invoke("query", "SELECT count(*) FROM companies")
    finally:
        holder.communicate(input="", timeout=60)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: the store {market_db} is in use by another process; close it (or wait for it) and retry"
    )


def test_a_blob_column_is_hexadecimal_text_in_every_format(invoke, market_db: Path) -> None:
    """A stored run's payload is a BLOB: csv once failed on it with an internal error."""
    sql = "SELECT '\\xAB\\x01'::BLOB AS b, 1 AS n"
    for fmt in ("csv", "json", "table"):
        result = invoke("query", sql, "--format", fmt)
        assert result.exit_code == 0, result.stderr
        assert "ab01" in result.stdout


def test_a_ctrl_c_before_the_query_starts_still_stops_it(market_db: Path) -> None:
    """A Ctrl-C that lands inside the guarded block before DuckDB executes anything (a cold start may still be
    importing polars there) must stop the query that follows: one interrupt of an idle connection is dropped."""
    import threading

    from screener.store.query import _ctrl_c_stops

    sql = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 100000000) SELECT count(*) FROM r"
    con = connect_readonly(market_db)
    # a guard for the test itself: without the repeat the query would run for minutes
    guard = threading.Timer(30, con.interrupt)
    guard.start()
    try:
        started = time.monotonic()
        with pytest.raises((duckdb.InterruptException, RuntimeError)), _ctrl_c_stops(con) as pressed:
            os.kill(os.getpid(), signal.SIGINT)
            deadline = time.monotonic() + 10
            while not pressed.is_set() and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.2)  # the first interrupt has reached an idle connection
            con.execute(sql).fetchall()
        assert pressed.is_set()
        assert time.monotonic() - started < 10
    finally:
        guard.cancel()
        con.close()
