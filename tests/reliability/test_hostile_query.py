"""The hostile-input corpus for ``query``: statements that write, reach outside the store, load extensions or
flood the terminal. Each is refused in one line (or, when it only reads, answered safely), the store is unchanged
and no file appears."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from screener.errors import MAX_LINE
from screener.output.terminal import CONTROL
from screener.store import Store
from tests.builders import market_template

SENTINEL = "pwned-by-query"

REFUSED = {
    "COPY TO": f"COPY companies TO '{SENTINEL}.csv'",
    "COPY a query TO": f"COPY (SELECT * FROM companies) TO '{SENTINEL}.parquet' (FORMAT parquet)",
    "EXPORT DATABASE": f"EXPORT DATABASE '{SENTINEL}'",
    "ATTACH": f"ATTACH '{SENTINEL}.duckdb' AS x",
    "INSTALL": "INSTALL httpfs",
    "LOAD": "LOAD httpfs",
    "SET": "SET enable_external_access = true",
    "RESET": "RESET lock_configuration",
    "PRAGMA": "PRAGMA enable_profiling",
    "CREATE": "CREATE TABLE t AS SELECT 1",
    "DELETE": "DELETE FROM companies",
    "DROP": "DROP TABLE companies",
    "UPDATE": "UPDATE companies SET name = 'x'",
    "INSERT": "INSERT INTO companies (symbol) VALUES ('X')",
    "two statements": "SELECT 1; DROP TABLE companies",
    "a statement after a comment": "/* SELECT */ DELETE FROM companies",
    "CALL": "CALL pragma_version()",
    "CHECKPOINT": "CHECKPOINT",
    "VACUUM": "VACUUM",
    "read a file": "SELECT * FROM read_csv('/etc/passwd')",
    "read text": "SELECT * FROM read_text('/etc/hostname')",
    "glob": "SELECT * FROM glob('/*')",
    "a URL": "SELECT * FROM 'https://example.com/x.csv'",
    "a sequence": "SELECT nextval('no_such_sequence')",
    "syntax error": "SELEC 1",
    "empty": "",
    "only a comment": "-- nothing",
    "parentheses 5,000 deep": "SELECT " + "(" * 5000 + "1" + ")" * 5000,
    "an unknown table": "SELECT * FROM no_such_table",
}

ANSWERED = {
    "escape sequences in a result": "SELECT chr(27) || '[2J' || chr(27) || ']8;;http://evil' || chr(7) AS x",
    "a C1 control and a bidi override": "SELECT chr(155) || '2J' || chr(8238) AS x",
    "escape sequences in a column name": 'SELECT 1 AS "\x1b[2Jx"',
    "a very long cell": "SELECT repeat('x', 100000) AS x",
    "many rows, capped": "SELECT * FROM range(100000000)",
}


@pytest.fixture
def template(store_template) -> Path:
    return market_template(store_template)


def companies(db: Path):
    with Store(db) as store:
        return store.frame("companies").drop("loaded_at", strict=False)


def run(invoke, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sql: str):
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    result = invoke("query", "--", sql)
    assert result.exit_code in (0, 1), result.stderr
    assert "Internal error" not in result.stderr and "Traceback" not in result.stderr
    for line in result.stderr.splitlines():
        assert len(line) <= MAX_LINE and CONTROL.search(line) is None, line[:120]
    assert list(work.iterdir()) == []
    assert not any(SENTINEL in p.name for p in tmp_path.rglob("*"))
    return result


@pytest.mark.parametrize("sql", REFUSED.values(), ids=list(REFUSED))
def test_a_hostile_statement_is_refused_in_one_line(
    template: Path, db_path: Path, tmp_path: Path, invoke, monkeypatch: pytest.MonkeyPatch, sql: str
) -> None:
    shutil.copy(template, db_path)
    before = companies(db_path)
    result = run(invoke, monkeypatch, tmp_path, sql)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith("Error: ")
    assert companies(db_path).equals(before)


@pytest.mark.parametrize("sql", ANSWERED.values(), ids=list(ANSWERED))
def test_a_read_only_answer_reaches_the_terminal_safely(
    template: Path, db_path: Path, tmp_path: Path, invoke, monkeypatch: pytest.MonkeyPatch, sql: str
) -> None:
    shutil.copy(template, db_path)
    result = run(invoke, monkeypatch, tmp_path, sql)
    assert result.exit_code == 0, result.stderr
    assert CONTROL.search(result.stdout) is None
