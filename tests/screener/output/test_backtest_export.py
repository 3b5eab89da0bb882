"""The backtest workbook and report: five sheets with human headers, numbers as numbers, native charts, the notes
and the demo banner, no formula from text, atomic writes; the text report fits 100 columns and says n/a."""

from __future__ import annotations

import re
import zipfile
from dataclasses import replace
from pathlib import Path

import openpyxl
import pytest

from screener.backtest.result import TABLES
from screener.errors import ScreenerError
from screener.output.backtest_export import HEADERS, SHEETS, check_backtest_target, write_backtest
from screener.output.backtest_report import report_text
from tests.builders import backtest_result


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    result = backtest_result(notes=['=HYPERLINK("http://evil.example","x")', "IC is noise on demo data"])
    result.backtest_id = 7
    return write_backtest(result, tmp_path / "bt.xlsx")


def test_every_sheet_is_there_with_human_headers_and_numbers(workbook: Path) -> None:
    wb = openpyxl.load_workbook(workbook)
    assert wb.sheetnames == list(SHEETS)
    ic = wb["IC"]
    assert [c.value for c in ic[1][: len(TABLES["ic"])]] == [HEADERS[c] for c in TABLES["ic"]]
    assert ic.freeze_panes == "A2"
    assert isinstance(ic["E2"].value, float) and ic["E2"].number_format == "0.000"
    assert ic["H2"].number_format == "0.0%"
    quant = wb["Quantiles"]
    assert quant["A1"].value == "Factor" and isinstance(quant["E2"].value, float)
    curve = wb["Curve"]
    assert [c.value for c in curve[1][:4]] == ["Date", "Portfolio", "Universe", "Benchmark"]
    assert curve.max_row == 31 and curve["A2"].is_date
    for name in SHEETS:
        ws = wb[name]
        assert ws.page_setup.orientation == "landscape", name
        assert ws.sheet_properties.pageSetUpPr.fitToPage, name  # one page wide (fitToWidth defaults to 1)
        assert ws.page_setup.fitToHeight == 0, name


def test_summary_carries_the_parameters_banner_notes_and_figures(workbook: Path) -> None:
    ws = openpyxl.load_workbook(workbook)["Summary"]
    cells = {str(ws.cell(r, 1).value): ws.cell(r, 2).value for r in range(1, ws.max_row + 1)}
    texts = [str(ws.cell(r, c).value) for r in range(1, ws.max_row + 1) for c in (1, 2)]
    assert ws["A1"].value == "Backtest 7: rules default"
    assert ws["A2"].value.startswith("DEMO DATA")
    assert cells["Rule set"] == "default" and cells["Rules content hash"] == "54472fda"
    assert cells["Rebalance dates"] == 30 and cells["Benchmark"] == "REMX"
    assert cells["CAGR (net of costs)"] == pytest.approx(0.081)
    assert cells["Active share vs the mvis-like book"] == "n/a"  # not measured: never 0
    assert "IC is noise on demo data" in texts
    assert '\'=HYPERLINK("http://evil.example","x")' in texts  # a note is text, never a formula
    portfolio = openpyxl.load_workbook(workbook)["Portfolio"]
    assert portfolio["A1"].value == "Figure" and portfolio["D1"].value == "Date" and portfolio["F1"].value == "Weight"
    assert portfolio["F2"].value == pytest.approx(0.25) and portfolio["F2"].number_format == "0.0%"


def test_the_ic_quantile_and_curve_sheets_have_native_charts(workbook: Path) -> None:
    with zipfile.ZipFile(workbook) as z:
        names = z.namelist()
        charts = sorted(n for n in names if re.fullmatch(r"xl/charts/chart\d+\.xml", n))
        assert len(charts) == 3
        kinds = [re.search(r"<c:(barChart|lineChart)>", z.read(n).decode()).group(1) for n in charts]
        assert sorted(kinds) == ["barChart", "barChart", "lineChart"]
        bar = z.read(charts[kinds.index("barChart")]).decode()
        assert '<c:barDir val="col"/>' in bar and '<c:grouping val="clustered"/>' in bar
        line = z.read(charts[kinds.index("lineChart")]).decode()
        assert line.count("<c:ser>") == 3  # portfolio, universe, benchmark


def test_a_curve_without_benchmark_draws_two_lines(tmp_path: Path) -> None:
    import polars as pl

    result = backtest_result()
    result.tables["curve"] = result.tables["curve"].with_columns(benchmark=pl.lit(None, pl.Float64))
    path = write_backtest(result, tmp_path / "b.xlsx")
    with zipfile.ZipFile(path) as z:
        line = next(z.read(n).decode() for n in z.namelist() if "chart" in n and b"lineChart" in z.read(n))
    assert line.count("<c:ser>") == 2


def test_only_xlsx_targets_in_a_writable_folder(tmp_path: Path) -> None:
    with pytest.raises(ScreenerError, match=r"^cannot export a backtest to bt\.csv: use a \.xlsx file name$"):
        check_backtest_target(tmp_path / "bt.csv")
    with pytest.raises(ScreenerError, match="does not exist"):
        check_backtest_target(tmp_path / "no" / "bt.xlsx")
    assert check_backtest_target(tmp_path / "BT.XLSX") == tmp_path / "BT.XLSX"


def test_a_failed_write_keeps_the_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "bt.xlsx"
    target.write_bytes(b"previous")

    def boom(path: Path, result: object) -> None:
        path.write_bytes(b"half")
        raise RuntimeError("disk full")

    monkeypatch.setattr("screener.output.backtest_export.write_backtest_workbook", boom)
    with pytest.raises(RuntimeError):
        write_backtest(backtest_result(), target)
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bt.xlsx"]


def test_the_report_fits_100_columns_even_with_many_horizons() -> None:
    result = backtest_result()
    horizons = ("1w", "2w", "4w", "8w", "13w", "26w", "39w", "52w")
    ic = result.tables["ic"]
    import polars as pl

    result.tables["ic"] = pl.concat([ic.with_columns(horizon=pl.lit(h)) for h in horizons])
    result = replace(result, params=replace(result.params, horizons=horizons))
    text = report_text(result)
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "52w" in text and "Backtest (not stored)" in text


def test_the_report_says_na_for_unknown_figures_and_prints_no_notes_as_none() -> None:
    result = backtest_result(notes=[], cagr=None, volatility=float("nan"))
    text = report_text(result)
    cagr = next(line for line in text.splitlines() if line.strip().startswith("CAGR"))
    vol = next(line for line in text.splitlines() if line.strip().startswith("Volatility"))
    assert cagr.endswith("n/a") and vol.endswith("n/a")
    assert text.rstrip().endswith("Notes\n  (none)")
    assert "0.030 (n/a)" in text  # a t-stat that could not be computed


def test_every_requested_horizon_has_a_column_in_every_block_and_no_negative_zero() -> None:
    """A horizon no date could measure has no spread rows: its column still shows, as n/a; a value that rounds to
    zero prints without a minus sign."""
    import polars as pl

    result = backtest_result()
    result = replace(result, params=replace(result.params, horizons=(*result.params.horizons, "200w")))
    result.tables["spreads"] = result.tables["spreads"].with_columns(
        pl.when(pl.col("factor") == pl.col("factor").first())
        .then(pl.lit(-0.00001))
        .otherwise(pl.col("spread"))
        .alias("spread")
    )
    text = report_text(result)
    block = text.split("Quantile spread")[1].split("\n\n")[0].splitlines()
    assert block[1].split()[-1] == "200w"
    assert all(line.split()[-1] == "n/a" for line in block[2:] if line.strip())
    assert "-0.00%" not in text and "0.00%" in text
