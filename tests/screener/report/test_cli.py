"""``screener report`` and ``screener weekly --report`` from the command line: exit codes and one-line errors."""

from __future__ import annotations

from html import unescape
from pathlib import Path

import pytest

from tests.screener.report._store import built, scores


@pytest.fixture
def ids(store, tmp_path: Path, store_template) -> dict[str, int]:
    out = built(store, tmp_path, store_template)
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

    monkeypatch.setattr(factors.engine, "scores_for", lambda store, day, **_: scores(2))
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
    from tests._foundation_helpers import record_bars

    bars = record_bars(monkeypatch, terminal)
    monkeypatch.setattr(factors.engine, "scores_for", lambda store, day, **_: scores(2))
    out = tmp_path / "weekly.html"
    args = ("weekly", "--rules", str(tmp_path / "wk.toml"), "--as-of", "2026-06-12", "--format", "csv")
    result = invoke(*args, "--report", str(out))
    assert result.exit_code == 0, result.stderr
    report = [b for b in bars if b[1] == "report"]
    assert len(report) == 1 and report[0][0] is terminal
    steps = report[0][2]
    assert steps[0] == ("reading the run", 0, 1) and steps[-1][0] == "" and steps[-1][1] == steps[-1][2] > 2


# -- the store is never written over -----------------------------------------------------------------------------
def _runs(invoke) -> int:
    listed = invoke("watchlist", "runs", "--format", "csv")
    assert listed.exit_code == 0, listed.stderr
    return listed.stdout.count("\n") - 1


def test_report_refuses_the_store_as_its_out(runner, ids, db_path: Path, tmp_path: Path, monkeypatch) -> None:
    """``SCREENER_DB=v.duckdb screener report --out v.duckdb`` once replaced the store with a web page."""
    from screener.cli import cli

    monkeypatch.chdir(tmp_path)
    before = db_path.read_bytes()
    result = runner.invoke(cli, ["report", "--rules", "wk", "--out", db_path.name], env={"SCREENER_DB": db_path.name})
    assert result.exit_code == 1
    assert one_line(result) == f"Error: cannot write the report to {db_path.name}: use a .html or .htm file name"
    assert db_path.read_bytes() == before


@pytest.mark.parametrize("to", ["store", "wal", "hard"])
def test_report_refuses_a_link_to_the_store(invoke, ids, db_path: Path, tmp_path: Path, to: str) -> None:
    link = tmp_path / "looks-fine.html"
    if to == "hard":
        link.hardlink_to(db_path)
    else:
        link.symlink_to(db_path if to == "store" else db_path.with_name(db_path.name + ".wal"))
    before = db_path.read_bytes()
    result = invoke("report", "--rules", "wk", "--out", str(link))
    assert result.exit_code == 1
    assert one_line(result).startswith(f"Error: cannot write {link}: it is the store ")
    assert db_path.read_bytes() == before
    assert _runs(invoke) == 4


def test_export_refuses_a_link_to_the_store(invoke, ids, db_path: Path, tmp_path: Path) -> None:
    link = tmp_path / "rows.csv"
    link.symlink_to(db_path)
    result = invoke("export", str(link), "--rules", "wk")
    assert result.exit_code == 1
    assert one_line(result).startswith(f"Error: cannot write {link}: it is the store ")
    assert link.is_symlink() and _runs(invoke) == 4


def test_weekly_refuses_the_store_as_its_report_before_storing(invoke, ids, db_path: Path, tmp_path: Path) -> None:
    before = db_path.read_bytes()
    result = invoke("weekly", "--rules", str(tmp_path / "wk.toml"), "--report", str(db_path))
    assert result.exit_code == 1
    assert one_line(result) == f"Error: cannot write the report to {db_path.name}: use a .html or .htm file name"
    assert db_path.read_bytes() == before
    link = tmp_path / "weekly.html"
    link.symlink_to(db_path)
    result = invoke("weekly", "--rules", str(tmp_path / "wk.toml"), "--report", str(link))
    assert result.exit_code == 1
    assert "it is the store" in one_line(result)
    assert _runs(invoke) == 4  # no run was scored or stored


# -- which backtest ----------------------------------------------------------------------------------------------
def test_a_backtest_of_other_rules_comes_with_a_warning(invoke, ids, db_path: Path, tmp_path: Path) -> None:
    from screener.backtest.history import save_backtest
    from screener.store import Store
    from tests.builders import backtest_result
    from tests.screener.report._store import STORED_AT

    with Store(db_path) as store:
        other = save_backtest(store, backtest_result(demo=False), clock=lambda: STORED_AT)  # rules 'default'
    out = tmp_path / "r.html"
    result = invoke("report", "--rules", "wk", "--backtest", str(other), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    warning = f"backtest {other} is of the rules 'default', not of the run's rules 'wk'"
    assert lines[0] == f"warning: {warning}"
    shown = f'<p class="warning" role="alert">Warning: {warning}.</p>'
    assert shown in unescape(out.read_text(encoding="utf-8"))
    # latest is the latest of the run's own rules: the newer 'default' backtest is not it, and no warning
    result = invoke("report", "--rules", "wk", "--backtest", "latest", "--out", str(out))
    assert result.exit_code == 0 and "warning" not in result.stderr
    assert f"Backtest {ids['bt']}: wk" in out.read_text(encoding="utf-8")
    # a rule set with no backtest of its own: latest is refused, in one line
    result = invoke("report", "--rules", "other", "--backtest", "latest", "--out", str(out))
    assert result.exit_code == 1
    assert one_line(result) == (
        "Error: no stored backtest of the rules 'other' ends on or before the run's as-of date 2026-06-12; run "
        "'screener backtest' with these rules and an end date no later, or name a stored backtest by its id"
    )
