"""Start-up pays only for what it uses: ``--help`` and ``--version`` load neither polars nor duckdb, ``screen``
on stored scores loads neither pyarrow nor rich unless it draws a terminal table, and a terminal table loads only
rich's cell widths.

Each case runs in a fresh interpreter, because a module imported once by any test would hide the import here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders import LOADED_SCRIPT, MARKET_END, copy_template, modules_loaded_by, scored_market_template

WATCHED = ("polars", "duckdb", "pyarrow", "rich")


def _loaded(args: list[str], watched: tuple[str, ...] = WATCHED) -> list[str]:
    """The watched modules a fresh ``screener ARGS`` imported; the run must succeed."""
    return modules_loaded_by(args, watched)


@pytest.mark.parametrize("args", [["--help"], ["--version"]], ids=["help", "version"])
def test_help_and_version_load_neither_polars_nor_duckdb(args: list[str]) -> None:
    assert _loaded(args) == []


def test_no_command_help_loads_polars_or_duckdb() -> None:
    from screener.cli.app import COMMANDS

    script = LOADED_SCRIPT.replace(
        'cli.main(args={args!r}, prog_name="screener", standalone_mode=False)',
        "for name in {args!r}:\n        cli.main(args=[name, '--help'], prog_name='screener', standalone_mode=False)",
    )
    out = subprocess.run(
        [sys.executable, "-c", script.format(args=sorted(COMMANDS), watched=WATCHED)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["loaded"] == []


@pytest.fixture
def scored_db(db_path: Path, store_template) -> Path:
    """A store whose scores for ``MARKET_END`` are stored, so ``screen`` reads them instead of computing (built once
    per run, copied per test)."""
    return copy_template(scored_market_template(store_template), db_path)


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["--where", "net_cash_usd > 0", "--sort", "dilution_risk"],
        ["--rules", "default"],
        ["--role", "processor", "--top", "3"],
    ],
    ids=["plain", "where-sort", "rules", "role-top"],
)
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_screen_to_csv_or_json_loads_neither_pyarrow_nor_rich(scored_db: Path, fmt: str, extra: list[str]) -> None:
    args = ["--db", str(scored_db), "screen", "--as-of", MARKET_END.isoformat(), "--format", fmt, *extra]
    loaded = _loaded(args)
    assert "pyarrow" not in loaded and "rich" not in loaded, loaded
    assert {"polars", "duckdb"} <= set(loaded)  # the run did reach the store: the check above is not vacuous


def test_screen_as_a_table_does_load_rich(scored_db: Path) -> None:
    """The probe can see rich when it is there: a table is what it is for."""
    args = ["--db", str(scored_db), "screen", "--as-of", MARKET_END.isoformat(), "--format", "table"]
    assert "rich" in _loaded(args)


@pytest.mark.parametrize("command", [["show", "MP"], ["screen", "--where", "net_cash_usd > 0"]], ids=["show", "screen"])
def test_a_terminal_table_loads_nothing_of_rich_but_its_cell_widths(scored_db: Path, command: list[str]) -> None:
    """Tables are drawn by ``screener.output.boxes``: of rich only ``rich.cells`` is loaded, to measure characters;
    its console, table and text layout (tens of milliseconds of a ``show``) stay out."""
    args = ["--db", str(scored_db), *command, "--as-of", MARKET_END.isoformat(), "--format", "table"]
    watched = ("rich", "rich.cells", "rich.console", "rich.table", "rich.text", "rich.segment")
    assert _loaded(args, watched) == ["rich", "rich.cells"]


def test_screen_without_rules_does_not_load_the_rule_set_parser(scored_db: Path) -> None:
    """A screen without ``--rules`` filters with the expression grammar only: the rule-set (TOML) parser stays out,
    and so does the close-match search (difflib), which only a name the grammar does not know needs."""
    args = ["--db", str(scored_db), "screen", "--as-of", MARKET_END.isoformat(), "--format", "csv"]
    watched = ("difflib", "rules.expr", "rules.ruleset", "tomllib")
    assert _loaded([*args, "--where", "net_cash_usd > 0"], watched) == ["rules.expr"]


def test_show_by_symbol_does_not_load_the_fuzzy_name_search(scored_db: Path) -> None:
    """An exact symbol is found in one read: the close-match search (difflib) is for names that miss."""
    args = ["--db", str(scored_db), "show", "MP", "--as-of", MARKET_END.isoformat(), "--format", "json"]
    assert _loaded(args, ("difflib", "polars")) == ["polars"]


@pytest.mark.parametrize("symbol", ["PROC", "MAGN"])
def test_show_reads_a_stored_set_without_the_factor_engine(scored_db: Path, symbol: str) -> None:
    """A card of a stored set (its fills included) needs the registry's declarations, not the engine that computes
    scores: its import is about a tenth of a short command. Nor the point-in-time inputs (``factors.inputs``): the
    reporting lag the card dates each period with is ``factors.methodology``'s."""
    args = ["--db", str(scored_db), "show", symbol, "--as-of", MARKET_END.isoformat(), "--format", "json"]
    watched = ("factors.engine", "factors.inputs", "factors.methodology")
    assert _loaded(args, watched) == ["factors.methodology"]
