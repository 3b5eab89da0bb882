"""Every table a watchlist or fields command prints to a pipe or a file fits ``COLUMNS`` (or the pipe width when it
is unset), as ``screen`` does: a line wider than that wraps in a pager or a mail and breaks every row. Run through
the real CLI on a small real store with three stored runs; click's test stream is not a terminal."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from screener.output.render import PIPE_WIDTH
from tests.builders import weekly_market_template

COMMANDS = (
    ("watchlist", "diff"),
    ("watchlist", "show"),
    ("watchlist", "show", "--columns", "rank,symbol,name,score,reason,country,roles,stage,market_cap_usd"),
    ("watchlist", "runs"),
    ("fields",),
    ("fields", "--where-only"),
)


@pytest.fixture
def template(store_template) -> Path:
    return weekly_market_template(store_template)


@pytest.fixture
def market(template: Path, db_path: Path) -> Path:
    shutil.copy(template, db_path)
    return db_path


def _lines(result) -> list[str]:
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("┏") for line in lines), result.stdout  # a table was printed
    return lines


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]) + (" --columns" if "--columns" in a else ""))
def test_a_piped_table_fits_columns(invoke, market: Path, monkeypatch: pytest.MonkeyPatch, args) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    too_wide = [line for line in _lines(invoke(*args)) if len(line) > 80]
    assert not too_wide, "\n".join(too_wide)


@pytest.mark.parametrize("args", COMMANDS[:2] + COMMANDS[3:5], ids=lambda a: " ".join(a[:2]))
def test_a_piped_table_without_columns_fits_the_pipe_width(
    invoke, market: Path, monkeypatch: pytest.MonkeyPatch, args
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert max(len(line) for line in _lines(invoke(*args))) <= PIPE_WIDTH


def test_the_fields_table_keeps_field_and_meaning_and_adds_the_rest_while_they_fit(
    invoke, market: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    narrow = _lines(invoke("fields"))
    head = narrow[1]
    assert "field" in head and "meaning" in head and "label" not in head
    monkeypatch.setenv("COLUMNS", "200")
    head = _lines(invoke("fields"))[1]
    assert all(name in head for name in ("field", "label", "unit", "where", "meaning"))
    # csv and json still carry every column, whatever the width
    monkeypatch.setenv("COLUMNS", "80")
    rows = json.loads(invoke("fields", "--format", "json").stdout)
    assert list(rows[0]) == ["field", "label", "unit", "where", "meaning"]


def test_a_diff_cut_to_fit_still_names_every_change(invoke, market: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    table = "\n".join(_lines(invoke("watchlist", "diff")))
    changes = json.loads(invoke("watchlist", "diff", "--format", "json").stdout)
    assert changes
    for change in changes:
        assert change["symbol"] in table  # an identifying column is never cut
