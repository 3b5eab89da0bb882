"""A text longer than a spreadsheet cell holds (32,767 characters) is cut with a mark in the cell and a warning.

Found in testing: a rule text over 32,767 characters was cut in the workbook without a word (xlsxwriter cuts it)."""

from __future__ import annotations

from pathlib import Path

import openpyxl
from hypothesis import given
from hypothesis import strategies as st

from rules.ruleset import BUNDLED_DIR
from screener.output.render import CELL_LIMIT, fit_cell
from screener.store import Store
from screener.watchlist.runs import run_weekly
from tests.builders import MARKET_END, company, ensure_factors, score_frame
from tests.reliability.conftest import one_company

ensure_factors()


@given(st.integers(min_value=0, max_value=3 * CELL_LIMIT))
def test_fit_cell_keeps_short_text_and_marks_long_text(length: int) -> None:
    text = "x" * length
    fitted, lost = fit_cell(text)
    assert len(fitted) <= CELL_LIMIT
    if length <= CELL_LIMIT:
        assert (fitted, lost) == (text, 0)
    else:
        assert lost > 0 and fitted.startswith("x" * 1000)
        assert fitted.endswith(f"[cut to fit the cell: the whole text has {length:,} characters]")


def long_run(db_path: Path, tmp_path: Path, length: int) -> Path:
    """A weekly run whose rule file has a description of ``length`` characters (the Methodology sheet shows it)."""
    text = (BUNDLED_DIR / "default.toml").read_text(encoding="utf-8")
    text = text.replace('name = "default"', 'name = "long-text"').replace(
        'description = "', 'description = "' + "d" * length + " ", 1
    )
    rules = tmp_path / "long-text.toml"
    rules.write_text(text, encoding="utf-8")
    with Store(db_path) as st:
        st.upsert(
            "companies",
            one_company(),
            provider="file",
        )
        run_weekly(st, rules, MARKET_END, scores=score_frame([company("AAA", name="Alpha")], MARKET_END))
    return rules


def methodology_values(path: Path) -> list[str]:
    ws = openpyxl.load_workbook(path, read_only=True)["Methodology"]
    return [row[1] for row in ws.iter_rows(values_only=True) if isinstance(row[1], str)]


def test_export_warns_and_marks_a_cut_cell(db_path: Path, tmp_path: Path, invoke) -> None:
    long_run(db_path, tmp_path, 40_000)
    out = tmp_path / "list.xlsx"
    result = invoke("export", str(out), "--rules", str(tmp_path / "long-text.toml"))
    assert result.exit_code == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if "cut" in line]
    assert len(warned) == 1 and len(warned[0]) <= 300
    assert f"more than {CELL_LIMIT:,} characters" in warned[0] and "Methodology!B" in warned[0]
    cut = [v for v in methodology_values(out) if v.startswith("d" * 1000)]
    assert cut and all(len(v) <= CELL_LIMIT and "[cut to fit the cell: the whole text has" in v for v in cut)


def test_a_text_that_fits_is_whole_and_unwarned(db_path: Path, tmp_path: Path, invoke) -> None:
    long_run(db_path, tmp_path, 30_000)
    out = tmp_path / "list.xlsx"
    result = invoke("export", str(out), "--rules", str(tmp_path / "long-text.toml"))
    assert result.exit_code == 0, result.stderr
    assert "cut" not in result.stderr
    assert any(v.startswith("d" * 30_000 + " ") and "[cut" not in v for v in methodology_values(out))


def test_a_backtest_workbook_marks_and_warns_too(tmp_path: Path) -> None:
    from screener.output.backtest_export import write_backtest
    from tests.builders import backtest_result

    said: list[str] = []
    out = write_backtest(backtest_result(notes=["n" * 50_000, "short"]), tmp_path / "bt.xlsx", said.append)
    assert len(said) == 1 and "1 cell(s) held more than 32,767 characters" in said[0] and "Summary!B" in said[0]
    ws = openpyxl.load_workbook(out, read_only=True)["Summary"]
    notes = [row[1] for row in ws.iter_rows(values_only=True) if row[0] == "note"]
    assert notes[0].endswith("[cut to fit the cell: the whole text has 50,000 characters]")
    assert len(notes[0]) == CELL_LIMIT and notes[1] == "short"
