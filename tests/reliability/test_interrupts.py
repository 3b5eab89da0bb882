"""Ctrl-C and ``kill -9`` at seeded random points of import, weekly, score and refresh (against an offline Yahoo).

After each interrupt: a Ctrl-C says exactly what was stored, and the store agrees; the store reads back whole
(``check_store``), holds all of an import or none of it, and the next command succeeds. The points are random but
seeded (``SCREENER_RELIABILITY_SEED``); more trials with ``SCREENER_RELIABILITY_TRIALS``.
"""

from __future__ import annotations

import random
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from screener.store import Store
from screener.store.health import check_store
from tests.reliability.conftest import OFFLINE_YAHOO, SCREENER, TIMEOUT, holds_open, run, seed, spawn, trials

SYMBOLS = 3
MAX_DELAY = 1.5


def _import_file(db: Path) -> tuple[Path, pl.DataFrame]:
    """A prices file that changes every close of a few symbols, written beside ``db``."""
    with Store(db, read_only=True) as store:
        rows = store.query(
            "SELECT symbol, date, round(close * 1.01, 4) AS close, volume FROM prices WHERE symbol IN "
            f"(SELECT symbol FROM companies ORDER BY symbol LIMIT {SYMBOLS}) ORDER BY symbol, date"
        )
    path = db.parent / "prices.csv"
    rows.write_csv(path)
    return path, rows


COMMANDS: dict[str, Callable[[Path], tuple[str, ...]]] = {
    "import": lambda db: ("import", str(_import_file(db)[0]), "--format", "csv"),
    "weekly": lambda db: ("weekly", "--format", "csv"),
    "score": lambda db: ("score", "--recompute", "--format", "csv"),
    "refresh": lambda db: ("refresh", "--symbols", "MP,LYC.AX", "--max-age", "0", "--quiet", "--format", "csv"),
}
#: The commands run with Yahoo answered offline (the real yfinance at its HTTP boundary).
OFFLINE = {"refresh"}


def _interrupt(db: Path, args: tuple[str, ...], sig: int, delay: float, module: str) -> tuple[int, str]:
    proc = spawn(db, *args, module=module)
    deadline = time.monotonic() + TIMEOUT
    while proc.poll() is None and not holds_open(proc.pid, db) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(delay)
    if proc.poll() is None:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, err


def _import_all_or_nothing(db: Path) -> None:
    wanted = pl.read_csv(db.parent / "prices.csv", try_parse_dates=True)
    with Store(db, read_only=True) as store:
        stored = store.query("SELECT symbol, date, close FROM prices")
    both = wanted.join(stored, on=["symbol", "date"], how="left", suffix="_stored")
    new = (both["close_stored"] - both["close"]).abs() < 1e-9
    assert new.all() or not new.any(), f"{int(new.sum())} of {both.height} imported closes stored: a partial import"


CASES = [
    pytest.param(command, sig, id=f"{label}-{command}")
    for sig, label in ((signal.SIGINT, "ctrl-c"), (signal.SIGKILL, "kill-9"))
    for command in sorted(COMMANDS)
]


@pytest.mark.parametrize(("command", "sig"), CASES)
def test_interrupt_at_a_random_point(command: str, sig: int, fresh_store: Callable[[str], Path]) -> None:
    rng = random.Random(f"{seed()}-{command}-{int(sig)}")
    for trial in range(trials()):
        db = fresh_store(f"{command}-{int(sig)}-{trial}.duckdb")
        args = COMMANDS[command](db)
        with Store(db, read_only=True) as store:
            before = store.marker()
        delay = rng.uniform(0, MAX_DELAY)
        code, err = _interrupt(db, args, sig, delay, OFFLINE_YAHOO if command in OFFLINE else SCREENER)
        where = f"seed {seed()}, trial {trial}, delay {delay:.3f} s; stderr: {err[-800:]}"
        assert "Internal error" not in err and "Traceback" not in err, where
        if sig == signal.SIGINT:
            # a refresh that ran to its end exits 1: the offline market's fixed day is before the demo store's last
            # close, so it reports the symbols it found nothing new for (its writes still land, and are checked)
            assert code in ((0, 1, 130) if command in OFFLINE else (0, 130)), where
            if code == 130:
                said = err.strip().splitlines()[-1]
                assert re.fullmatch(r"Interrupted; (nothing stored\.|stored: .+\.)", said), where
                with Store(db, read_only=True) as store:
                    changes = store.changes_since(before)
                if said == "Interrupted; nothing stored.":
                    assert changes == [], where
                else:
                    assert changes and said == f"Interrupted; stored: {'; '.join(changes)}.", where
        else:
            assert code in (0, -signal.SIGKILL), where
        if command == "import":
            _import_all_or_nothing(db)
        findings = check_store(db)
        assert all(f.ok for f in findings), [f for f in findings if not f.ok]
        if sig == signal.SIGKILL:  # the next writer replays what the killed one left in the log
            after = run(db, "weekly", "--format", "csv", "--wait", "30")
            assert after.returncode == 0, after.stderr


# -- the interrupt that lands inside DuckDB, deterministically ----------------------------------------------------
def _interrupt_in(monkeypatch: pytest.MonkeyPatch, target: str, error: BaseException) -> None:
    def boom(*_args: object, **_kwargs: object) -> None:
        raise error

    monkeypatch.setattr(target, boom)


def _raised_from_interrupt(error: BaseException) -> BaseException:
    error.__cause__ = KeyboardInterrupt()
    return error


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("Query interrupted"),
        KeyboardInterrupt(),
        # a compiled extension whose initialisation met the Ctrl-C (pybind11 raises this from the interrupt)
        _raised_from_interrupt(ImportError("initialization failed")),
    ],
    ids=["duckdb-query-interrupted", "keyboard", "extension-initialisation"],
)
def test_an_interrupt_after_the_commit_says_what_was_stored(
    error: BaseException, fresh_store: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The score set is committed, then the interrupt lands (as DuckDB raises it inside a query, or as Python
    does): exit 130 and the line names the set, never an internal error."""
    from click.testing import CliRunner

    from screener.cli import cli

    db = fresh_store("after-commit.duckdb")
    _interrupt_in(monkeypatch, "screener.output.render.render", error)
    result = CliRunner().invoke(cli, ["--db", str(db), "score", "--recompute", "--format", "csv"])
    assert result.exit_code == 130, result.stderr
    said = result.stderr.strip().splitlines()[-1]
    assert re.fullmatch(r"Interrupted; stored: score set\(s\) as of \d{4}-\d\d-\d\d\.", said), result.stderr
    assert "Internal error" not in result.stderr


def test_an_interrupt_before_the_commit_says_nothing_stored(
    fresh_store: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from screener.cli import cli

    db = fresh_store("before-commit.duckdb")
    with Store(db, read_only=True) as store:
        before = store.marker()
    _interrupt_in(monkeypatch, "screener.store.scores.Scores.save_scores", RuntimeError("Query interrupted"))
    result = CliRunner().invoke(cli, ["--db", str(db), "score", "--recompute", "--format", "csv"])
    assert result.exit_code == 130, result.stderr
    assert result.stderr.strip().splitlines()[-1] == "Interrupted; nothing stored."
    with Store(db, read_only=True) as store:
        assert store.changes_since(before) == []


def test_an_interrupt_caught_inside_an_exec_still_exits_130(fresh_store: Callable[[str], Path]) -> None:
    """Under ``python -m``, a ``KeyboardInterrupt`` that left an ``exec`` of a string sets CPython's "unhandled"
    flag, which made the interpreter kill itself by SIGINT (-2) after the command had answered and chosen 130."""
    db = fresh_store("exec.duckdb")
    proc = spawn(db, "score", "--recompute", "--format", "csv", module="tests.reliability.interrupt_in_exec")
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 130, err
    said = err.strip().splitlines()[-1]
    assert re.fullmatch(r"Interrupted; stored: score set\(s\) as of \d{4}-\d\d-\d\d\.", said), err
