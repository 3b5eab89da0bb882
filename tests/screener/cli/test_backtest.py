"""``screener backtest``: runs store and print, ``--show`` prints a stored backtest exactly as it ran, ``--list``,
``--table`` with csv, the export, and one-line errors. The backtest engine is replaced by a stand-in module that
returns a hand-built result, so these tests hold whatever the engine computes."""

from __future__ import annotations

import json
import sys
import types
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from screener.backtest.history import save_backtest
from screener.backtest.result import TABLES
from screener.store import Store
from tests.builders import backtest_result

AT = datetime(2026, 1, 2, 3, 4, 5)


@pytest.fixture
def stored(db_path: Path) -> list[int]:
    """Two stored backtests: a demo one, then a real one whose Sharpe ratio could not be measured."""
    with Store(db_path) as store:
        return [
            save_backtest(store, backtest_result(), clock=lambda: AT),
            save_backtest(store, backtest_result(demo=False, sharpe=None), clock=lambda: AT),
        ]


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """A stand-in ``screener.backtest.run``: records each call and returns ``backtest_result()``."""
    calls: list[dict[str, Any]] = []
    fake = types.ModuleType("screener.backtest.run")

    def run_backtest(store: Store, **kwargs: Any) -> Any:
        calls.append(kwargs)
        if kwargs.get("progress"):
            kwargs["progress"]("scoring", 1, 1)
        return backtest_result()

    fake.run_backtest = run_backtest  # type: ignore[attr-defined]
    fake.parse_horizons = lambda text: tuple(h.strip() for h in text.split(","))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "screener.backtest.run", fake)
    monkeypatch.setattr("screener.backtest.history.utcnow", lambda: AT)
    return calls


def test_show_latest_as_json_has_the_result_keys(invoke, stored: list[int]) -> None:
    result = invoke("backtest", "--show", "latest", "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"ic", "quantiles", "portfolio", "curve", "spreads", "stability", "notes", "params"} <= set(data)
    assert data["backtest_id"] == stored[-1]
    assert data["portfolio"]["sharpe"] is None
    assert len(data["curve"]) == 30 and set(data["ic"][0]) == set(TABLES["ic"])
    assert "IC is noise" in result.stderr  # the notes reach the reader, not the parser


def test_show_as_a_table_fits_100_columns_and_prints_notes_and_na(invoke, stored: list[int]) -> None:
    result = invoke("backtest", "--show", str(stored[0]))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert lines[0] == f"Backtest {stored[0]}: rules default (hash 54472fda)"
    assert lines[1].startswith("DEMO DATA")
    for block in ("Portfolio", "Information coefficient", "Quantile spread", "Stability", "Notes"):
        assert any(line.startswith(block) for line in lines), block
    assert "the demo's prices carry no planted signal" in result.stdout.lower()
    active = next(line for line in lines if "Active share" in line)
    assert active.endswith("n/a")
    assert "8.1%" in next(line for line in lines if line.strip().startswith("CAGR"))
    real = invoke("backtest", "--show", str(stored[1])).stdout
    assert "DEMO DATA" not in real
    assert next(line for line in real.splitlines() if "Sharpe" in line).endswith("n/a")


def test_a_run_stores_and_show_prints_the_same_report(invoke, engine: list[dict[str, Any]]) -> None:
    ran = invoke(
        "backtest",
        "--start",
        "2025-01-03",
        "--every",
        "2w",
        "--horizons",
        "1w,4w",
        "--cost-bps",
        "15",
        "--weights",
        "capped:0.08",
        "--benchmark",
        "REMX",
    )
    assert ran.exit_code == 0, ran.stderr
    assert "stored as backtest 1" in ran.stderr and "stored as" not in ran.stdout
    (call,) = engine
    assert call["rules"] == "default" and call["start"] == date(2025, 1, 3) and call["end"] is None
    assert (call["every"], call["horizons"], call["cost_bps"]) == ("2w", ("1w", "4w"), 15.0)
    assert (call["weights"], call["benchmark"]) == ("capped:0.08", "REMX")
    shown = invoke("backtest", "--show", "1")
    assert shown.exit_code == 0
    assert shown.stdout == ran.stdout
    assert (
        invoke("backtest", "--show", "1", "--format", "json").stdout
        == invoke("backtest", "--show", "latest", "--format", "json").stdout
    )


def test_json_run_keeps_stdout_machine_readable(invoke, engine: list[dict[str, Any]]) -> None:
    ran = invoke("backtest", "--format", "json")
    assert ran.exit_code == 0, ran.stderr
    assert json.loads(ran.stdout)["backtest_id"] == 1
    assert "stored as backtest 1" in ran.stderr


def test_csv_prints_the_ic_table_or_the_chosen_one(invoke, stored: list[int]) -> None:
    ic = invoke("backtest", "--show", "latest", "--format", "csv").stdout.splitlines()
    assert ic[0] == ",".join(TABLES["ic"])
    assert len(ic) == 1 + 3 * 2 * 3  # factors x role classes x horizons
    quant = invoke("backtest", "--show", "latest", "--format", "csv", "--table", "quantiles").stdout.splitlines()
    assert quant[0] == ",".join(TABLES["quantiles"])
    assert len(quant) == 1 + 3 * 2 * 3 * 5
    stability = invoke("backtest", "--show", "latest", "--table", "stability").stdout
    assert "rank_autocorrelation" in stability and "Notes" not in stability  # the table, not the report
    holdings = invoke("backtest", "--show", "latest", "--format", "json", "--table", "holdings")
    assert set(json.loads(holdings.stdout)[0]) == {"date", "symbol", "weight"}


def test_list_shows_stored_backtests(invoke, stored: list[int]) -> None:
    result = invoke("backtest", "--list", "--format", "json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [r["id"] for r in rows] == stored[::-1]
    assert rows[0]["sharpe"] is None and rows[1]["sharpe"] == pytest.approx(0.41)
    assert "2 stored backtests" in result.stderr
    table = invoke("backtest", "--list")
    assert table.exit_code == 0 and "54472fda" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--show", "99"], "Error: no stored backtest 99; stored: 1, 2"),
        (["--show", "next"], "Error: --show must be a backtest id or 'latest', got 'next'"),
        (["--show", "1", "--list"], "Error: --show and --list do different things; give one of them"),
        (
            ["--show", "1", "--every", "2w"],
            "Error: --show reads stored backtests; --every only apply to a new backtest",
        ),
        (
            ["--list", "--export", "x.xlsx"],
            "Error: --export writes one backtest; use it with a run or with --show, not with --list",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_1(invoke, stored: list[int], args: list[str], message: str) -> None:
    result = invoke("backtest", *args)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [message]
    assert result.stdout == ""


def test_export_with_show_writes_the_workbook(invoke, stored: list[int], tmp_path: Path) -> None:
    target = tmp_path / "bt.xlsx"
    result = invoke("backtest", "--show", "1", "--export", str(target), "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert target.is_file() and f"wrote {target}" in result.stderr
    import openpyxl

    assert openpyxl.load_workbook(target).sheetnames == ["Summary", "IC", "Quantiles", "Portfolio", "Curve"]


def test_export_target_is_refused_before_anything_runs(
    invoke, engine: list[dict[str, Any]], tmp_path: Path, db_path: Path
) -> None:
    result = invoke("backtest", "--export", str(tmp_path / "bt.csv"))
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == ["Error: cannot export a backtest to bt.csv: use a .xlsx file name"]
    missing = invoke("backtest", "--export", str(tmp_path / "nowhere" / "bt.xlsx"))
    assert missing.exit_code == 1 and "does not exist" in missing.stderr
    assert engine == []  # nothing computed
    with Store(db_path) as store:
        assert store.backtest_ids() == []  # nothing stored


def test_an_export_to_a_folder_is_one_line_and_exit_1(invoke: Any, stored: list[int], tmp_path: Path) -> None:
    folder = tmp_path / "out.xlsx"
    folder.mkdir()
    result = invoke("backtest", "--show", "latest", "--export", str(folder))
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0 and "is a folder" in result.stderr
