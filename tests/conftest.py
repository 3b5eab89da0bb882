"""Shared fixtures: every test gets its own store file and never touches the user's store or the network.

Shared builders (companies, frames, score frames, the small market and their dates) live in ``tests/builders.py``,
re-exported here; every test module imports them the same way: ``from tests.builders import ...``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import settings

from tests import builders as builders

# CI runs one fixed sequence of examples, so a red build is reproducible and never a roll of the dice; a local run
# explores new examples each time (and a failure prints the example to keep as a regression test).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("SCREENER_DB", raising=False)
    monkeypatch.delenv("SCREENER_DEBUG", raising=False)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store.duckdb"


@pytest.fixture
def store(db_path: Path):
    from screener.store import Store

    s = Store(db_path)
    yield s
    s.close()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def invoke(runner: CliRunner, db_path: Path):
    """Run ``screener --db <tmp> ARGS`` in-process and return click's Result (stdout and stderr apart)."""
    from screener.cli import cli

    def _invoke(*args: str, input: str | None = None):
        return runner.invoke(cli, ["--db", str(db_path), *args], input=input, catch_exceptions=False)

    return _invoke
