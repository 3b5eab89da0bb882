"""The reliability suite's shared pieces: one small demo store built per session (copied for each test), the
command runner, and the trial count.

Trials: ``SCREENER_RELIABILITY_TRIALS`` (default 1 per case, which keeps the suite under a minute) and
``SCREENER_RELIABILITY_SEED`` (default 15) choose how many seeded random interrupt points each case tries; a
failure prints its seed and delay, so any run can be repeated exactly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest

from tests.builders import built_once

ROOT = Path(__file__).resolve().parents[2]
#: A guard on every subprocess: a hung command fails its test instead of the whole run.
TIMEOUT = 120


def trials() -> int:
    return max(1, int(os.environ.get("SCREENER_RELIABILITY_TRIALS", "1")))


def seed() -> int:
    return int(os.environ.get("SCREENER_RELIABILITY_SEED", "15"))


def command_env() -> dict[str, str]:
    """The environment of a ``screener`` subprocess: this checkout's code, no debug tracebacks."""
    env = {k: v for k, v in os.environ.items() if k not in ("SCREENER_DB", "SCREENER_DEBUG")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


#: The module a test runs as ``screener``: the real one, or the same command line with Yahoo answered offline.
SCREENER = "screener"
OFFLINE_YAHOO = "tests.reliability.offline_yahoo"


def screener_args(db: Path, *args: str, module: str = SCREENER) -> list[str]:
    return [sys.executable, "-m", module, "--db", str(db), *args]


def run(db: Path, *args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run ``screener --db DB ARGS`` to completion in a subprocess."""
    return subprocess.run(
        screener_args(db, *args), capture_output=True, text=True, env=command_env(), timeout=timeout, cwd=db.parent
    )


def spawn(db: Path, *args: str, module: str = SCREENER) -> subprocess.Popen[str]:
    """Start ``screener --db DB ARGS`` in a subprocess (``module``: see ``screener_args``), stdout and stderr
    piped."""
    return subprocess.Popen(
        screener_args(db, *args, module=module),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=command_env(),
        cwd=db.parent,
    )


def holds_open(pid: int, path: Path) -> bool:
    """Whether process ``pid`` has ``path`` open (Linux ``/proc``): the point from which an interrupt can reach the
    store, synchronised on the file rather than on a guessed sleep."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    target = str(path.resolve())
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                return True
        except OSError:
            continue
    return False


@pytest.fixture(scope="session")
def demo_store(run_root: Path) -> Path:
    """A demo store built once per test run (``built_once``: one build for all xdist workers) by the real command:
    the universe, a year of synthetic market data, two weekly runs."""

    def build(folder: Path) -> None:
        done = run(folder / "demo.duckdb", "demo", "--no-export")
        assert done.returncode == 0, done.stderr

    return built_once(run_root, "reliability-demo-store", build)[0] / "demo.duckdb"


@pytest.fixture
def fresh_store(demo_store: Path, tmp_path: Path) -> Callable[[str], Path]:
    """A private copy of the demo store, named ``name`` in this test's folder."""

    def copy(name: str = "store.duckdb") -> Path:
        target = tmp_path / name
        shutil.copyfile(demo_store, target)
        return target

    return copy


@contextmanager
def held(db: Path, *, read_only: bool) -> Iterator[subprocess.Popen[str]]:
    """Another process with the store open (read-write: the write lock) until the block ends."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import duckdb, sys
            con = duckdb.connect({str(db)!r}, read_only={read_only})
            print("ready", flush=True)
            sys.stdin.read()
            """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=command_env(),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        yield holder
    finally:
        holder.communicate(input="", timeout=TIMEOUT)


def one_company() -> pl.DataFrame:
    """The companies frame of a store with one company (``AAA``, Alpha, a US processor)."""
    return pl.DataFrame(
        {
            "symbol": ["AAA"],
            "name": ["Alpha"],
            "country": ["US"],
            "currency": ["USD"],
            "roles": ["processor"],
            "stage": ["producer"],
        }
    )
