"""Long work shows a progress bar on stderr in a terminal and stays quiet when piped.

The terminal case runs the real command with its stderr on a pseudo-terminal (``pty``), the piped case with its
stderr on a pipe: the bar's escape codes must appear in the first and never in the second, and stdout must be the
same clean data in both. The library's part is a callback; the tests check what it reports too.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from screener.store import Store
from tests.builders import MARKET_END, build_market_store

ROOT = Path(__file__).resolve().parents[3]
ESC = "\x1b["
BAR = "━"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm", "COLUMNS": "100"}


def in_terminal(*args: str) -> tuple[int, str, str]:
    """Run ``screener ARGS`` with stderr on a pseudo-terminal: (exit code, what the terminal showed, stdout)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "screener", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        env=_env(),
    )
    os.close(slave)
    shown = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        shown.append(chunk)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    proc.wait(timeout=120)
    os.close(master)
    return proc.returncode, b"".join(shown).decode(errors="replace"), out


def piped(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "screener", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )


@pytest.fixture
def market(db_path: Path) -> Path:
    with Store(db_path) as store:
        build_market_store(store, MARKET_END)
    return db_path


@pytest.fixture
def empty(db_path: Path) -> Path:
    """A new store: every suite still runs (over no rows), without the seconds great_expectations takes to load."""
    Store(db_path).close()
    return db_path


def test_validate_draws_a_bar_in_a_terminal_and_nothing_when_piped(empty: Path) -> None:
    code, shown, out = in_terminal("--db", str(empty), "validate", "--format", "csv")
    assert ESC in shown and BAR in shown and "validate" in shown
    quiet = piped("--db", str(empty), "validate", "--format", "csv")
    assert quiet.returncode == code
    assert ESC not in quiet.stderr and BAR not in quiet.stderr
    assert quiet.stdout == out.replace("\r\n", "\n")  # the same clean rows either way


def test_validate_reports_each_kind_through_the_callback(empty: Path) -> None:
    from screener.validation import validate_store

    seen: list[tuple[str, int, int]] = []
    with Store(empty) as store:
        validate_store(store, progress=lambda *step: seen.append(step))
    total = seen[0][2]
    assert total > 1 and [s[1] for s in seen] == list(range(total + 1))
    assert seen[0][0] == "companies" and seen[-1] == ("", total, total)


def test_a_tag_change_recomputes_the_stored_scores_it_reaches_with_a_bar(market: Path) -> None:
    from factors.engine import scores_for

    with Store(market) as store:
        scores_for(store, MARKET_END)
        scores_for(store, date(2026, 5, 1))
        before = store.score_set_info(MARKET_END)
    tag = ("universe", "tag", "PROC", "--add", "recycler", "--source", "test", "--effective", "2026-06-01")
    code, shown, _ = in_terminal("--db", str(market), *tag)
    assert code == 0, shown
    assert ESC in shown and "recompute scores" in shown
    assert f"recomputed 1 stored score set as of {MARKET_END}" in shown  # not the set before the effective day
    with Store(market) as store:
        after = store.score_set_info(MARKET_END)
        assert after is not None and before is not None
        assert after["inputs_hash"] != before["inputs_hash"]
        scored = store.load_scores(MARKET_END)
        assert scored is not None
        roles = dict(scored[1].select("symbol", "roles").iter_rows())
        assert "recycler" in roles["PROC"]
    quiet = piped("--db", str(market), "universe", "tag", "PROC", "--remove", "recycler", "--source", "test")
    assert quiet.returncode == 0, quiet.stderr
    assert ESC not in quiet.stderr and BAR not in quiet.stderr
    assert "PROC: roles now" in quiet.stderr


def test_the_tag_recompute_reports_each_set_through_the_callback(market: Path) -> None:
    from factors.engine import scores_for
    from screener.intake.universe import rescore_after_tags

    with Store(market) as store:
        for day in (date(2026, 5, 1), MARKET_END):
            scores_for(store, day)
        seen: list[tuple[str, int, int]] = []
        days = rescore_after_tags(store, date(2026, 4, 1), progress=lambda *step: seen.append(step))
    assert days == [date(2026, 5, 1), MARKET_END]
    assert seen == [("2026-05-01", 0, 2), (MARKET_END.isoformat(), 1, 2), ("", 2, 2)]


@pytest.mark.parametrize("terminal", [True, False])
def test_demo_steps_report_to_the_bar_only_in_a_terminal(
    invoke, monkeypatch: pytest.MonkeyPatch, terminal: bool
) -> None:
    """The demo takes tens of seconds in a subprocess, so its wiring is checked in process: the bar is enabled
    exactly when stderr is a terminal and hears every step."""
    from tests._foundation_helpers import record_bars

    bars = record_bars(monkeypatch, terminal)
    result = invoke("demo", "--no-export", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    demo = [b for b in bars if b[1] == "demo"]
    assert len(demo) == 1 and demo[0][0] is terminal
    assert [s[1] for s in demo[0][2]] == [0, 1, 2, 3, 4] and demo[0][2][-1] == ("", 4, 4)  # ends full


@pytest.fixture
def reported(store, db_path: Path, tmp_path: Path, store_template) -> dict[str, int]:
    """Runs of the rules ``wk`` and a stored backtest, the store closed for the command to open."""
    from tests.screener.report._store import built

    ids = built(store, tmp_path, store_template)
    store.close()
    return ids


def test_report_draws_a_bar_in_a_terminal_and_only_its_note_when_piped(
    reported: dict[str, int], db_path: Path, tmp_path: Path
) -> None:
    args = ("--db", str(db_path), "report", "--rules", "wk", "--backtest", str(reported["bt"]))
    code, shown, out = in_terminal(*args, "--out", str(tmp_path / "t.html"))
    assert code == 0, shown
    assert ESC in shown and BAR in shown and "report drawing" in shown
    assert f"wrote {tmp_path / 't.html'}" in shown and out == ""
    quiet = piped(*args, "--out", str(tmp_path / "p.html"))
    assert quiet.returncode == 0, quiet.stderr
    assert ESC not in quiet.stderr and BAR not in quiet.stderr
    assert quiet.stderr.strip().splitlines() == [
        f"wrote {tmp_path / 'p.html'} (run {reported['w2']}: wk, 2026-W23, as of 2026-06-05)"
    ]
    assert (tmp_path / "t.html").read_text(encoding="utf-8") == (tmp_path / "p.html").read_text(encoding="utf-8")


def test_the_report_reports_each_chart_through_the_callback(
    reported: dict[str, int], db_path: Path, tmp_path: Path
) -> None:
    from screener.report.page import write_report

    seen: list[tuple[str, int, int]] = []
    with Store(db_path, read_only=True) as store:
        write_report(
            store, tmp_path / "r.html", rules="wk", backtest=str(reported["bt"]), progress=lambda *s: seen.append(s)
        )
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    total = seen[-1][2]
    charts = html.count("<svg")
    assert charts > 3 and total == charts + 2  # reading, every chart, writing
    assert seen[0] == ("reading the run", 0, 1)
    assert [s[1] for s in seen[1:]] == list(range(1, total + 1)) and all(s[2] == total for s in seen[1:])
    assert [s[0] for s in seen[-2:]] == ["writing", ""]
    assert {s[0] for s in seen[1:-2]} >= {"drawing contributions", "drawing equity curve", "drawing IC"}
