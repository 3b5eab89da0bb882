"""``screener import`` reports every problem of a file in one pass: parse, contract and validation together.

Why: a user who fixes the cells the parser names must not be sent back a second time for values the validation
suites would have named the first time. Rows with a cell that cannot be typed are left out of validation; the rest
is validated (a row that only breaks a contract rule too), and the rows named are the rows the user sees.
"""

from __future__ import annotations

from pathlib import Path

from tests._foundation_helpers import snapshot, write

#: Row 2 cannot be parsed; rows 3 and 4 parse, and row 4's close jumps 50-fold with no split to explain it.
PRICES = "symbol,date,close\nAAA,2024-02-29,abc\nAAA,2024-03-01,0.2\nAAA,2024-03-04,10.1\n"


def _refused(result) -> list[str]:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: ")
    return [line.strip() for line in lines]


def test_parse_and_validation_problems_of_a_file_come_together(tmp_path: Path, invoke, db_path: Path) -> None:
    before = snapshot(db_path)
    path = write(tmp_path / "prices.csv", PRICES)
    lines = _refused(invoke("import", str(path)))
    assert lines[-1] == f"Error: {path}, row 2, column close: not a number 'abc' (and 1 more problem in this file)"
    # the validated rows keep their spreadsheet numbers although row 2 was left out
    assert len(lines) == 2 and lines[0].startswith(f"{path}, row 4, column close: failed ")
    assert "10.1 after 0.2" in lines[0]
    assert snapshot(db_path) == before


def test_every_file_of_an_import_is_reported_in_the_same_pass(tmp_path: Path, invoke, db_path: Path) -> None:
    before = snapshot(db_path)
    prices = write(tmp_path / "a" / "prices.csv", "symbol,date,close\nAAA,2024-03-01,0.2\nAAA,2024-03-04,10.1\n")
    fundamentals = write(
        tmp_path / "b" / "fundamentals.csv",
        "symbol,period_end,period,currency,revenue\nAAA,2024-03-31,Q,USD,abc\nBBB,2999-06-30,Q,USD,5\n",
    )
    lines = _refused(invoke("import", str(prices), str(fundamentals)))
    assert lines[-1].endswith("(and 2 more problems in these files)")
    text = "\n".join(lines)
    assert f"{prices}, row 3, column close: failed " in text  # a file with no parse problem is validated too
    assert f"{fundamentals}, row 2, column revenue: not a number 'abc'" in text
    assert f"{fundamentals}, row 3, column period_end: failed " in text  # validation, not parsing, knows the date
    assert snapshot(db_path) == before


def test_quarantine_still_refuses_an_unparseable_cell_and_lists_the_rest(tmp_path: Path, invoke, db_path) -> None:
    before = snapshot(db_path)
    path = write(tmp_path / "prices.csv", PRICES)
    lines = _refused(invoke("import", str(path), "--quarantine"))
    assert lines[-1].startswith(f"Error: {path}, row 2, column close: not a number 'abc'")
    assert any(line.startswith(f"{path}, row 4, column close: failed ") for line in lines)
    assert snapshot(db_path) == before


def test_a_clean_parse_keeps_the_validation_report(tmp_path: Path, invoke, db_path: Path) -> None:
    path = write(tmp_path / "prices.csv", "symbol,date,close\nAAA,2024-03-01,0.2\nAAA,2024-03-04,10.1\n")
    lines = _refused(invoke("import", str(path)))
    assert "nothing was imported" in lines[-1] and "row 3, column close" in lines[-1]


def test_a_row_breaking_a_rule_is_validated_too_and_no_cell_is_named_twice(
    tmp_path: Path, invoke, db_path: Path
) -> None:
    """Row 2 has a negative volume (a contract rule) and a date after tomorrow (a validation check): both are named
    the first time, and the volume once, not again by validation."""
    before = snapshot(db_path)
    path = write(tmp_path / "prices.csv", "symbol,date,close,volume\nAAA,2099-01-01,5,-3\nAAA,2024-03-01,4,5\n")
    lines = _refused(invoke("import", str(path)))
    text = "\n".join(lines)
    assert f"{path}, row 2, column volume: must be >= 0, got -3" in text
    assert f"{path}, row 2, column date: failed " in text and "2099-01-01" in text
    assert sum(", row 2, column volume:" in line for line in lines) == 1
    assert lines[-1].endswith("(and 1 more problem in this file)")
    assert snapshot(db_path) == before
