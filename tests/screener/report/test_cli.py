"""``screener report`` and ``screener weekly --report`` from the command line: exit codes and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.screener.report._store import build, scores


@pytest.fixture
def ids(store, tmp_path: Path) -> dict[str, int]:
    out = build(store, tmp_path)
    store.close()  # the command opens the store file itself
    return out


def one_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_report_writes_the_latest_run_of_the_rules(invoke, ids, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    result = invoke("report", "--rules", "wk", "--backtest", str(ids["bt"]), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert one_line(result) == f"wrote {out} (run {ids['w2']}: wk, 2026-W23, as of 2026-06-05)"
    html = out.read_text(encoding="utf-8")
    assert "Watchlist wk, 2026-W23" in html and 'data-chart="ic"' in html


def test_report_of_the_default_rules_when_none_ran(invoke, ids, tmp_path: Path) -> None:
    result = invoke("report", "--out", str(tmp_path / "r.html"))
    assert result.exit_code == 1
    assert (
        one_line(result)
        == "Error: no runs of the rules 'default' yet (stored runs use 'other', 'wk'): pass --rules NAME, "
        "or run 'screener weekly' with the rules 'default'"
    )
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--run", "99"), "Error: no watchlist run 99; see 'screener watchlist runs'"),
        (("--run", "abc"), "Error: --run must be a run id or 'latest', got 'abc'; see 'screener watchlist runs'"),
        (
            ("--run", "1", "--rules", "other"),
            "Error: --run 1 is a run of the rules 'wk', not of --rules 'other'",
        ),
        (("--rules", "wk", "--backtest", "7"), "Error: no stored backtest 7; stored: 1"),
        (("--rules", "wk", "--backtest", "x"), "Error: --backtest must be a backtest id or 'latest', got 'x'"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(invoke, ids, tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    out = tmp_path / "r.html"
    out.write_text("previous")
    result = invoke("report", *args, "--out", str(out))
    assert result.exit_code == 1
    assert one_line(result) == message
    assert out.read_text() == "previous"  # nothing written over the old report


def test_an_unwritable_out_is_refused_before_any_work(invoke, ids, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    for target, why in (
        (tmp_path / "missing" / "r.html", "does not exist"),
        (tmp_path, "it is a folder"),
        (tmp_path / "a-file" / "r.html", "is not a folder"),
    ):
        result = invoke("report", "--rules", "wk", "--out", str(target))
        assert result.exit_code == 1
        assert why in one_line(result)


def test_weekly_writes_the_report_of_the_run_it_stored(invoke, ids, tmp_path: Path, monkeypatch) -> None:
    # rank the fixed week-2 scores instead of scoring the test store (its companies have no market data)
    import factors.engine

    monkeypatch.setattr(factors.engine, "scores_for", lambda store, day: scores(2))
    rules = tmp_path / "wk.toml"
    out = tmp_path / "weekly.html"
    result = invoke("weekly", "--rules", str(rules), "--as-of", "2026-06-12", "--format", "csv", "--report", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"wrote {out}"
    assert "Watchlist wk, 2026-W24" in out.read_text(encoding="utf-8")


def test_weekly_refuses_a_bad_report_path_before_storing_a_run(invoke, ids, tmp_path: Path) -> None:
    result = invoke("weekly", "--rules", str(tmp_path / "wk.toml"), "--report", str(tmp_path / "no" / "r.html"))
    assert result.exit_code == 1
    assert "does not exist" in one_line(result)
    listed = invoke("watchlist", "runs", "--format", "csv")
    assert listed.stdout.count("\n") == 1 + 4  # header and the four runs the fixture stored, no new one


@pytest.mark.parametrize("terminal", [True, False])
def test_weekly_report_reports_to_the_bar_only_in_a_terminal(
    invoke, ids, tmp_path: Path, monkeypatch, terminal: bool
) -> None:
    """``weekly --report`` draws the report's bar as ``report`` does: enabled exactly when stderr is a terminal, and
    told every step (the pseudo-terminal run of ``report`` is in tests/screener/cli/test_progress.py)."""
    import factors.engine
    import screener.cli.progress as progress

    bars: list[tuple[bool, str, list[tuple[str, int, int]]]] = []

    class Recording(progress.ProgressBar):
        def __init__(self, enabled: bool, description: str) -> None:
            super().__init__(False, description)  # draw nothing in the test; record what it was asked
            bars.append((enabled, description, []))

        def __call__(self, label: str, done: int, total: int) -> None:
            bars[-1][2].append((label, done, total))

    monkeypatch.setattr(factors.engine, "scores_for", lambda store, day: scores(2))
    monkeypatch.setattr(progress, "ProgressBar", Recording)
    monkeypatch.setattr(progress, "stderr_is_terminal", lambda: terminal)
    out = tmp_path / "weekly.html"
    args = ("weekly", "--rules", str(tmp_path / "wk.toml"), "--as-of", "2026-06-12", "--format", "csv")
    result = invoke(*args, "--report", str(out))
    assert result.exit_code == 0, result.stderr
    report = [b for b in bars if b[1] == "report"]
    assert len(report) == 1 and report[0][0] is terminal
    steps = report[0][2]
    assert steps[0] == ("reading the run", 0, 1) and steps[-1][0] == "" and steps[-1][1] == steps[-1][2] > 2
