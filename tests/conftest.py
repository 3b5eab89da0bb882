"""Shared fixtures: every test gets its own store file and never touches the user's store or the network.

Shared builders (companies, frames, score frames, the small market and their dates) live in ``tests/builders.py``,
re-exported here; every test module imports them the same way: ``from tests.builders import ...``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
def store(db_path: Path, store_template: Callable[..., tuple[Path, Any]]):
    """An empty store at the latest schema, of this test alone: a copy of one migrated once per run (a fresh file
    applies every migration, several times the cost of opening a copy). Tests of a fresh file's migrations open
    ``db_path`` themselves."""
    from screener.store import Store

    shutil.copyfile(store_template("empty", lambda _store, _folder: None)[0], db_path)
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


@pytest.fixture(scope="session")
def run_root(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder this test run's workers share: the parent of a worker's base folder under xdist (one per run),
    the session's own base folder without it."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if hasattr(request.config, "workerinput") else base


@pytest.fixture(scope="session")
def store_template(run_root: Path) -> Callable[..., tuple[Path, Any]]:
    """``store_template(name, fill)``: a store file filled once per test run by ``fill(store, folder)`` and closed,
    with what ``fill`` returned (``built_once``: one build for all xdist workers). Tests never write to it: each
    copies it (``builders.load_template`` into the ``store`` fixture, ``builders.copy_template`` for a command), so
    building the same store per test costs a copy."""
    from screener.store import Store

    made: dict[str, tuple[Path, Any]] = {}

    def template(name: str, fill: Callable[[Any, Path], Any]) -> tuple[Path, Any]:
        if name not in made:

            def build(folder: Path) -> Any:
                with Store(folder / "store.duckdb") as st:
                    return fill(st, folder)

            folder, out = builders.built_once(run_root, f"template-{name}", build)
            made[name] = (folder / "store.duckdb", out)
        return made[name]

    return template
