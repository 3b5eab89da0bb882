"""The contract's v2 columns: defaults for old files, true/false and 0-1 cells, and when a dated fact becomes known."""

from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from screener.contract import DATE_PRECISIONS, EVENT_KINDS, KINDS, known_from, with_defaults
from screener.errors import ScreenerError
from screener.providers.files import parse_frame

OLD_EVENTS = "symbol,date,kind,stage,capacity_tpa,target_year,amount_usd,description,source\n"


def _parse(kind: str, text: str) -> pl.DataFrame:
    return parse_frame(pl.read_csv(io.StringIO(text), infer_schema=False), kind, Path(f"{kind}.csv")).frame


def test_an_events_file_written_before_the_ledger_columns_imports_with_the_documented_defaults() -> None:
    frame = _parse("events", OLD_EVENTS + "MP,2025-07-10,capacity,funded,1000,2027,,a plant,\n")
    got = frame.row(0, named=True)
    assert got["date_precision"] == "day"
    # stake and status stay unstated: the ledgers read the project's latest stated value, else 1 and active
    assert got["equity_share"] is None and got["status"] is None
    assert got["project"] is None and got["binding"] is None and got["direction"] is None
    assert frame.columns == KINDS["events"].names


def test_empty_cells_stay_unstated_or_take_the_default_and_given_values_are_kept() -> None:
    text = (
        "symbol,date,kind,description,equity_share,status,date_precision,binding,direction,counterparty_type\n"
        "A,2025-07-01,funding,loan,,,,TRUE,receives,government\n"
        "B,2025-07-01,capacity,jv,0.5,cancelled,month,no,,\n"
    )
    a, b = _parse("events", text).iter_rows(named=True)
    assert (a["equity_share"], a["status"], a["date_precision"], a["binding"]) == (None, None, "day", True)
    assert (b["equity_share"], b["status"], b["date_precision"], b["binding"]) == (0.5, "cancelled", "month", False)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("binding", "maybe", "not true or false 'maybe'"),
        ("equity_share", "1.5", "must be between 0 and 1, got 1.5"),
        ("status", "paused", "unknown status 'paused'"),
        ("direction", "gives", "unknown direction 'gives'"),
        ("unit", "tonnes", "unknown unit 'tonnes'"),
        ("date_precision", "week", "unknown date_precision 'week'"),
    ],
)
def test_a_bad_ledger_cell_is_named_by_row_and_column(column: str, value: str, message: str) -> None:
    text = f"symbol,date,kind,description,{column}\nA,2025-07-01,capacity,x,{value}\n"
    with pytest.raises(ScreenerError) as caught:
        _parse("events", text)
    assert f"row 2, column {column}" in str(caught.value) and message in str(caught.value)


def test_exposure_is_a_fraction_and_listing_dates_are_dates() -> None:
    head = "symbol,name,country,currency,roles,stage,exposure,listed_from,delisted_on\n"
    ok = _parse("companies", head + "MP,MP,US,USD,processor,producer,0.9,2020-11-18,\n").row(0, named=True)
    assert ok["exposure"] == 0.9 and ok["listed_from"] == date(2020, 11, 18) and ok["delisted_on"] is None
    with pytest.raises(ScreenerError, match=r"column exposure.*must be between 0 and 1"):
        _parse("companies", head + "MP,MP,US,USD,processor,producer,90,,\n")


def test_setback_is_an_event_kind() -> None:
    assert "setback" in EVENT_KINDS
    assert _parse("events", OLD_EVENTS + "LYC.AX,2025-08-27,setback,,,,,Seadrift uncertain,\n")["kind"][0] == "setback"


def test_with_defaults_adds_a_missing_column_and_fills_nulls_only() -> None:
    frame = pl.DataFrame({"date_precision": [None, "month"]}, schema={"date_precision": pl.String})
    out = with_defaults("events", frame)
    assert out["date_precision"].to_list() == ["day", "month"]
    # a stake or a status left empty is not filled: "not stated here" is what the ledgers carry a project through
    assert "equity_share" not in out.columns and "status" not in out.columns


def _known(day: date, precision: str | None) -> date:
    frame = pl.DataFrame({"d": [day], "p": [precision]}, schema={"d": pl.Date, "p": pl.String})
    return frame.select(known_from(pl.col("d"), pl.col("p")))["d"][0]


def test_a_dated_fact_is_known_from_the_end_of_its_period() -> None:
    assert _known(date(2025, 8, 1), "day") == date(2025, 8, 1)
    assert _known(date(2025, 8, 1), None) == date(2025, 8, 1)
    assert _known(date(2025, 8, 1), "month") == date(2025, 8, 31)
    assert _known(date(2024, 2, 1), "month") == date(2024, 2, 29)
    assert _known(date(2025, 7, 1), "quarter") == date(2025, 9, 30)
    assert _known(date(2025, 11, 15), "quarter") == date(2025, 12, 31)
    assert _known(date(2023, 1, 1), "year") == date(2023, 12, 31)


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31)), st.sampled_from(DATE_PRECISIONS))
def test_known_from_is_never_early_and_stays_in_the_period(day: date, precision: str) -> None:
    known = _known(day, precision)
    assert known >= day
    if precision in ("month", "quarter"):
        assert known.year == day.year and (known + timedelta(days=1)).day == 1
        assert (known.month - 1) // 3 == (day.month - 1) // 3 or precision == "month"
        assert known.month == day.month or precision == "quarter"
    if precision == "year":
        assert known == date(day.year, 12, 31)


def test_a_scripts_text_binding_column_reads_like_a_files() -> None:
    from factors.inputs import FactorInputs
    from tests.builders import companies, company

    text = pl.DataFrame({"symbol": ["X", "X", "X"], "binding": ["TRUE", "no", None]})
    assert FactorInputs(companies=companies(company("X")), events=text).events["binding"].to_list() == [
        True,
        False,
        None,
    ]
