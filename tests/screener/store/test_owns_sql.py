"""The store owns every SQL statement: no module outside ``screener/store/`` runs SQL or touches the connection.

Why a scan: a query written in another module escapes the store's promises (one transaction per write, point-in-time
reads defined once) without any test noticing, so the rule is checked on the source itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.builders import ROOT

SCANNED = ("screener", "factors", "rules")
STORE = ROOT / "screener" / "store"
#: Connection methods that run SQL or expose a frame to it.
_SQL_CALLS = {"execute", "executemany", "sql", "register", "unregister"}
#: The store's raw query helpers: meant for the store package itself.
_RAW_HELPERS = {"query", "scalar", "rows"}


def sql_uses(source: str) -> list[str]:
    """Each place in ``source`` that runs SQL or reaches the DuckDB connection, as ``line: what``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"{node.lineno}: import {n}" for n in names if n.split(".")[0] == "duckdb"]
        elif isinstance(node, ast.Attribute) and node.attr == "con":
            found.append(f"{node.lineno}: .con")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _SQL_CALLS | _RAW_HELPERS
        ):
            found.append(f"{node.lineno}: .{node.func.attr}(...)")
    return sorted(found, key=lambda f: int(f.split(":")[0]))


def _modules() -> list[Path]:
    files = [p for d in SCANNED for p in sorted((ROOT / d).rglob("*.py"))]
    return [p for p in files if STORE not in p.parents]


def test_the_scan_sees_every_kind_of_sql_use() -> None:
    source = (
        "import duckdb\n"
        "store.con.execute('DELETE FROM prices')\n"
        "store.query('SELECT 1')\n"
        "store.scalar('SELECT 1')\n"
        "store.rows('SELECT 1')\n"
        "con.sql('SELECT 1')\n"
        "store.company_count()\n"
    )
    assert sql_uses(source) == [
        "1: import duckdb",
        "2: .execute(...)",
        "2: .con",
        "3: .query(...)",
        "4: .scalar(...)",
        "5: .rows(...)",
        "6: .sql(...)",
    ]


def test_the_scan_covers_the_source_tree() -> None:
    modules = {p.relative_to(ROOT).as_posix() for p in _modules()}
    assert {
        "screener/watchlist/runs.py",
        "factors/inputs.py",
        "rules/engine.py",
        "screener/cli/cmd_validate.py",
    } <= modules
    assert not any(m.startswith("screener/store/") for m in modules)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_module_outside_the_store_runs_sql(path: Path) -> None:
    assert sql_uses(path.read_text(encoding="utf-8")) == []
