"""``screener query``: one read-only SELECT, rendered like every listing command; anything else is one line, exit 1,
and leaves the store byte for byte as it was."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from screener.errors import ArgumentError, ScreenerError
from screener.store import Store
from screener.store.query import connect_readonly, query_readonly
from tests.builders import build_market_store


@pytest.fixture
def market_db(db_path: Path) -> Path:
    with Store(db_path) as store:
        build_market_store(store)
    return db_path


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
    assert "INTERVAL" in err("SELECT INTERVAL 1 DAY AS d")


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
