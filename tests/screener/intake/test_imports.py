"""``screener import``: every bad-input path is one line naming file, row and column, exit 1, and no change."""

from __future__ import annotations

import io
import json
import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from tests._foundation_helpers import (
    COMPANIES_CSV,
    EVENTS_CSV,
    FUNDAMENTALS_CSV,
    FX_CSV,
    PRICES_CSV,
    snapshot,
    write,
)


@pytest.fixture(scope="module")
def seed_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per module through the library (no validation pass), then copied: keeps each test quick."""
    from screener.providers.files import read_file
    from screener.store import Store

    folder = tmp_path_factory.mktemp("seed")
    path = folder / "seeded.duckdb"
    with Store(path) as store:
        for kind, text in (("companies", COMPANIES_CSV), ("prices", PRICES_CSV)):
            store.upsert(kind, read_file(write(folder / f"{kind}.csv", text), kind).frame, "file")
    return path


@pytest.fixture
def seeded(seed_template: Path, db_path: Path) -> dict:
    """A store holding two companies and some prices, and its snapshot before the test acts."""
    shutil.copy(seed_template, db_path)
    return snapshot(db_path)


def _fails(
    invoke,
    db_path: Path,
    before: dict,
    path: Path,
    *,
    row: int | None,
    column: str | None,
    text: str,
    extra: tuple[str, ...] = (),
) -> str:
    """Import ``path``, and check the one-line error, exit 1 and an unchanged store; return the message."""
    result = invoke("import", str(path), *extra)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("Error: "), result.stderr
    message = lines[-1]
    assert "Traceback" not in result.stderr
    assert str(path) in message
    if row is not None:
        assert f"row {row}" in message, message
    if column is not None:
        assert f"column {column}" in message, message
    assert text in message, message
    assert result.stdout == ""
    assert snapshot(db_path) == before
    return message


# -- every error path --------------------------------------------------------------------------------------------
def test_missing_required_column(tmp_path, invoke, db_path, seeded) -> None:
    path = write(tmp_path / "prices.csv", "symbol,date,volume\nAAA,2024-01-04,10\n")
    _fails(invoke, db_path, seeded, path, row=1, column="close", text="missing required column")


def test_non_numeric_value(tmp_path, invoke, db_path, seeded) -> None:
    path = write(tmp_path / "prices.csv", 'symbol,date,close\nAAA,2024-01-04,11\nAAA,2024-01-05,"1,234"\n')
    _fails(invoke, db_path, seeded, path, row=3, column="close", text="not a number '1,234'")


def test_non_numeric_optional_value(tmp_path, invoke, db_path, seeded) -> None:
    path = write(tmp_path / "prices.csv", "symbol,date,close,volume\nAAA,2024-01-04,11,lots\n")
    _fails(invoke, db_path, seeded, path, row=2, column="volume", text="not a number 'lots'")


def test_non_positive_share_count(tmp_path, invoke, db_path, seeded) -> None:
    path = write(
        tmp_path / "fundamentals.csv",
        "symbol,period_end,period,currency,shares_outstanding\nAAA,2023-12-31,Q,USD,1000\nAAA,2024-03-31,Q,USD,0\n",
    )
    _fails(invoke, db_path, seeded, path, row=3, column="shares_outstanding", text="must be > 0")


def test_non_positive_price(tmp_path, invoke, db_path, seeded) -> None:
    path = write(tmp_path / "prices.csv", "symbol,date,close\nAAA,2024-01-04,-1.5\n")
    _fails(invoke, db_path, seeded, path, row=2, column="close", text="must be > 0")


def test_negative_capex(tmp_path, invoke, db_path, seeded) -> None:
    path = write(
        tmp_path / "fundamentals.csv",
        "symbol,period_end,period,currency,capital_expenditure\nAAA,2023-12-31,Q,USD,-5\n",
    )
    _fails(invoke, db_path, seeded, path, row=2, column="capital_expenditure", text="must be >= 0")


def test_unparseable_date(tmp_path, invoke, db_path, seeded) -> None:
    path = write(tmp_path / "prices.csv", "symbol,date,close\nAAA,04/01/2024,1\n")
    _fails(invoke, db_path, seeded, path, row=2, column="date", text="write YYYY-MM-DD")


def test_unknown_role(tmp_path, invoke, db_path, seeded) -> None:
    path = write(tmp_path / "companies.csv", COMPANIES_CSV.replace("magnet_maker;recycler", "magnet;recycler"))
    message = _fails(invoke, db_path, seeded, path, row=2, column="roles", text="unknown role 'magnet'")
    assert "did you mean 'magnet_maker'" in message


def test_unknown_country(tmp_path, invoke, db_path, seeded) -> None:
    path = write(tmp_path / "companies.csv", COMPANIES_CSV.replace(",AU,AUD,", ",XX,AUD,"))
    _fails(invoke, db_path, seeded, path, row=3, column="country", text="unknown country code 'XX'")


def test_unknown_currency(tmp_path, invoke, db_path, seeded) -> None:
    path = write(tmp_path / "companies.csv", COMPANIES_CSV.replace(",AU,AUD,", ",AU,AUX,"))
    _fails(invoke, db_path, seeded, path, row=3, column="currency", text="unknown currency code 'AUX'")


def test_unknown_stage(tmp_path, invoke, db_path, seeded) -> None:
    path = write(tmp_path / "companies.csv", COMPANIES_CSV.replace(",developer,", ",building,"))
    _fails(invoke, db_path, seeded, path, row=3, column="stage", text="unknown stage 'building'")


def test_duplicate_key_within_a_file(tmp_path, invoke, db_path, seeded) -> None:
    path = write(tmp_path / "prices.csv", "symbol,date,close\nAAA,2024-01-04,1\nAAA,2024-01-05,2\naaa,2024-01-04,3\n")
    message = _fails(invoke, db_path, seeded, path, row=4, column="symbol", text="duplicate key")
    assert "also on row 2" in message


def test_empty_file(tmp_path, invoke, db_path, seeded) -> None:
    path = write(tmp_path / "prices.csv", "")
    _fails(invoke, db_path, seeded, path, row=None, column=None, text="the file is empty")


def test_header_only_file(tmp_path, invoke, db_path, seeded) -> None:
    path = write(tmp_path / "prices.csv", "symbol,date,close\n")
    _fails(invoke, db_path, seeded, path, row=None, column=None, text="header but no rows")


def test_non_utf8_file(tmp_path, invoke, db_path, seeded) -> None:
    path = tmp_path / "companies.csv"
    path.write_bytes(COMPANIES_CSV.replace("Beta Rare Earths", "Bêta Terres Rares").encode("latin-1"))
    _fails(invoke, db_path, seeded, path, row=3, column=None, text="not UTF-8")


def test_unreadable_xlsx(tmp_path, invoke, db_path, seeded) -> None:
    path = write(tmp_path / "prices.xlsx", "this is not a workbook")
    _fails(invoke, db_path, seeded, path, row=None, column=None, text="cannot read as an XLSX workbook")


def test_unreadable_parquet(tmp_path, invoke, db_path, seeded) -> None:
    path = write(tmp_path / "prices.parquet", "this is not parquet")
    _fails(invoke, db_path, seeded, path, row=None, column=None, text="cannot read as Parquet")


def test_unknown_kind_option_is_a_usage_error(tmp_path, invoke, db_path, seeded) -> None:
    path = write(tmp_path / "data.csv", PRICES_CSV)
    result = invoke("import", str(path), "--kind", "quotes")
    assert result.exit_code == 2  # click's usage error
    assert "quotes" in result.stderr and "prices" in result.stderr
    assert snapshot(db_path) == seeded


def test_file_name_without_a_kind(tmp_path, invoke, db_path, seeded) -> None:
    path = write(tmp_path / "quotes.csv", PRICES_CSV)
    _fails(invoke, db_path, seeded, path, row=None, column=None, text="cannot tell the kind")


def test_missing_path(tmp_path, invoke, db_path, seeded) -> None:
    _fails(invoke, db_path, seeded, tmp_path / "prices.csv", row=None, column=None, text="no such file")


def test_column_names_must_be_lower_case(tmp_path, invoke, db_path, seeded) -> None:
    path = write(tmp_path / "prices.csv", "symbol,date,Close\nAAA,2024-01-04,1\n")
    _fails(invoke, db_path, seeded, path, row=1, column="Close", text="lower case")


def test_market_symbol_only_in_events(tmp_path, invoke, db_path, seeded) -> None:
    path = write(tmp_path / "prices.csv", "symbol,date,close\n*,2024-01-04,1\n")
    _fails(invoke, db_path, seeded, path, row=2, column="symbol", text="invalid symbol '*'")


def test_second_file_bad_changes_nothing(tmp_path, invoke, db_path, seeded) -> None:
    good = write(tmp_path / "a" / "fundamentals.csv", FUNDAMENTALS_CSV)
    bad = write(tmp_path / "b" / "prices.csv", "symbol,date,close\nAAA,2024-02-01,abc\n")
    result = invoke("import", str(good), str(bad))
    assert result.exit_code == 1
    assert str(bad) in result.stderr and "row 2, column close" in result.stderr
    assert snapshot(db_path) == seeded


def test_directory_with_one_bad_file_changes_nothing(tmp_path, invoke, db_path, seeded) -> None:
    folder = tmp_path / "drop"
    write(folder / "fx.csv", FX_CSV)
    bad = write(folder / "prices.csv", "symbol,date,close\nAAA,2024-02-01,0\n")
    result = invoke("import", str(folder))
    assert result.exit_code == 1 and str(bad) in result.stderr
    assert snapshot(db_path) == seeded


# -- warnings ----------------------------------------------------------------------------------------------------
def test_extra_columns_are_named_in_a_warning_and_skipped(tmp_path, invoke, db_path, store_reader) -> None:
    path = write(tmp_path / "prices.csv", "symbol,date,close,analyst,open\nAAA,2024-01-04,1,me,0.9\n")
    result = invoke("import", str(path))
    assert result.exit_code == 0, result.stderr
    assert "Warning:" in result.stderr and "analyst, open" in result.stderr
    stored = store_reader().frame("prices")
    assert "analyst" not in stored.columns and stored["close"].to_list() == [1.0]


def test_unknown_symbols_are_warned_not_refused(tmp_path, invoke) -> None:
    result = invoke("import", str(write(tmp_path / "prices.csv", PRICES_CSV)))
    assert result.exit_code == 0
    assert "not in the universe" in result.stderr and "AAA" in result.stderr


# -- happy paths -------------------------------------------------------------------------------------------------
@pytest.fixture
def store_reader(db_path: Path):
    """Open the store after the CLI closed it, and close it at the end of the test."""
    from screener.store import Store

    opened: list[Store] = []

    def _open() -> Store:
        for s in opened:
            s.close()
        opened.append(Store(db_path))
        return opened[-1]

    yield _open
    for s in opened:
        s.close()


def test_csv_import_of_every_kind_prints_counts_per_kind(tmp_path, invoke, store_reader) -> None:
    folder = tmp_path / "csv"
    files = [
        write(folder / "companies.csv", COMPANIES_CSV),
        write(folder / "fundamentals.csv", FUNDAMENTALS_CSV),
        write(folder / "prices.csv", PRICES_CSV),
        write(folder / "fx.csv", FX_CSV),
        write(folder / "events.csv", EVENTS_CSV),
    ]
    result = invoke("import", *map(str, files), "--format", "json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert {(r["kind"], r["rows"], r["stored"]) for r in summary} == {
        ("companies", 2, 2),
        ("fundamentals", 2, 2),
        ("prices", 3, 3),
        ("fx", 2, 2),
        ("events", 2, 2),
    }
    assert "stored: 2 companies, 2 events, 2 fundamentals, 2 fx, 3 prices" in result.stderr
    store = store_reader()
    assert store.counts()["companies"] == 2
    assert store.companies().filter(pl.col("symbol") == "AAA")["roles"].item() == "magnet_maker;recycler"
    events = store.frame("events")
    assert "*" in events["symbol"].to_list()
    assert events.filter(pl.col("symbol") == "AAA")["target_year"].to_list() == [2026]
    fundamentals = store.frame("fundamentals").filter(pl.col("symbol") == "BBB.AX").row(0, named=True)
    assert fundamentals["revenue"] == 0.0 and fundamentals["operating_income"] is None  # empty is null, not 0
    assert set(store.frame("prices")["provider"].to_list()) == {"file"}


def test_parquet_import(tmp_path, invoke, store_reader) -> None:
    path = tmp_path / "prices.parquet"
    pl.DataFrame(
        {
            "symbol": ["aaa", "AAA"],
            "date": [date(2024, 1, 2), date(2024, 1, 3)],
            "close": [10.0, 10.5],
            "volume": [100, None],
        }
    ).write_parquet(path)
    result = invoke("import", str(path))
    assert result.exit_code == 0, result.stderr
    stored = store_reader().frame("prices")
    assert stored.select("symbol", "date", "close", "volume").rows() == [
        ("AAA", date(2024, 1, 2), 10.0, 100.0),
        ("AAA", date(2024, 1, 3), 10.5, None),
    ]


def test_xlsx_import_with_dates_and_identifiers(tmp_path, invoke, store_reader) -> None:
    companies = pl.read_csv(io.StringIO(COMPANIES_CSV), infer_schema=False)
    companies.write_excel(tmp_path / "companies.xlsx")
    pl.DataFrame(
        {
            "symbol": ["AAA", "AAA"],
            "period_end": [date(2023, 12, 31), date(2024, 3, 31)],
            "period": ["Q", "Q"],
            "currency": ["USD", "USD"],
            "revenue": [1.5e9, None],
            "shares_outstanding": [5e7, 5.1e7],
        }
    ).write_excel(tmp_path / "fundamentals.xlsx")
    result = invoke("import", str(tmp_path / "companies.xlsx"), str(tmp_path / "fundamentals.xlsx"))
    assert result.exit_code == 0, result.stderr
    store = store_reader()
    assert store.companies()["symbol"].to_list() == ["AAA", "BBB.AX"]
    stored = store.frame("fundamentals")
    assert stored.select("period_end", "revenue", "shares_outstanding").rows() == [
        (date(2023, 12, 31), 1.5e9, 5e7),
        (date(2024, 3, 31), None, 5.1e7),
    ]


def test_xlsx_header_only_and_empty(tmp_path, invoke, db_path, seeded) -> None:
    pl.DataFrame(schema={"symbol": pl.String, "date": pl.String, "close": pl.String}).write_excel(
        tmp_path / "prices.xlsx"
    )
    _fails(invoke, db_path, seeded, tmp_path / "prices.xlsx", row=None, column=None, text="header but no rows")


def test_directory_import_takes_files_named_after_a_kind(tmp_path, invoke, store_reader) -> None:
    folder = tmp_path / "drop"
    write(folder / "companies.csv", COMPANIES_CSV)
    write(folder / "prices.csv", PRICES_CSV)
    write(folder / "notes.csv", "not,a,kind\n1,2,3\n")
    write(folder / "fx.txt", FX_CSV)
    result = invoke("import", str(folder), "--format", "csv")
    assert result.exit_code == 0, result.stderr
    summary = pl.read_csv(io.StringIO(result.stdout))
    assert summary["kind"].to_list() == ["companies", "prices"]
    assert store_reader().counts()["fx"] == 0


def test_empty_directory_is_an_error(tmp_path, invoke) -> None:
    (tmp_path / "empty").mkdir()
    result = invoke("import", str(tmp_path / "empty"))
    assert result.exit_code == 1 and "no importable files" in result.stderr


def test_import_is_an_upsert(tmp_path, invoke, store_reader) -> None:
    assert invoke("import", str(write(tmp_path / "one" / "prices.csv", PRICES_CSV))).exit_code == 0
    changed = "symbol,date,close\nAAA,2024-01-03,11.25\nAAA,2024-01-04,11.5\n"
    assert invoke("import", str(write(tmp_path / "two" / "prices.csv", changed))).exit_code == 0
    stored = store_reader().frame("prices").filter(pl.col("symbol") == "AAA")
    # the second file has no volume column: missing means unknown, so the stored volume survives
    assert stored.select("date", "close", "volume").rows() == [
        (date(2024, 1, 2), 10.5, 1000.0),
        (date(2024, 1, 3), 11.25, 1500.0),
        (date(2024, 1, 4), 11.5, None),
    ]


def test_a_partial_file_never_erases_stored_values(tmp_path, invoke, store_reader) -> None:
    full = (
        "symbol,period_end,period,currency,revenue,cash,total_debt,shares_outstanding\n"
        "AAA,2024-03-31,Q,USD,500,900,100,5000000\n"
    )
    partial = "symbol,period_end,period,currency,revenue,cash\nAAA,2024-03-31,Q,USD,510,\n"
    assert invoke("import", str(write(tmp_path / "a" / "fundamentals.csv", full))).exit_code == 0
    assert invoke("import", str(write(tmp_path / "b" / "fundamentals.csv", partial))).exit_code == 0
    row = store_reader().frame("fundamentals").row(0, named=True)
    assert (row["revenue"], row["cash"], row["total_debt"], row["shares_outstanding"]) == (510.0, 900.0, 100.0, 5e6)


def test_imported_rows_replace_the_demo_series_they_touch(tmp_path, invoke, store_reader, db_path) -> None:
    from screener.intake.demo import load_demo
    from screener.store import Store

    assert invoke("import", str(write(tmp_path / "companies.csv", COMPANIES_CSV))).exit_code == 0
    with Store(db_path) as s:
        load_demo(s, end=date(2024, 6, 28))
        demo_aaa = s.scalar("SELECT count(*) FROM prices WHERE symbol = 'AAA' AND provider = 'demo'")
        demo_other = s.scalar("SELECT count(*) FROM prices WHERE symbol <> 'AAA' AND provider = 'demo'")
    assert demo_aaa > 100 and demo_other > 100
    result = invoke("import", str(write(tmp_path / "p" / "prices.csv", "symbol,date,close\nAAA,2024-06-03,10\n")))
    assert result.exit_code == 0
    assert "replaced" in result.stderr and "demo" in result.stderr
    prices = store_reader().frame("prices")
    aaa = prices.filter(pl.col("symbol") == "AAA")
    assert aaa.select("date", "close", "provider").rows() == [(date(2024, 6, 3), 10.0, "file")]
    assert prices.filter((pl.col("symbol") != "AAA") & (pl.col("provider") == "demo")).height == demo_other


def test_importing_a_company_makes_it_the_users(tmp_path, invoke, store_reader) -> None:
    assert invoke("import", str(write(tmp_path / "companies.csv", COMPANIES_CSV))).exit_code == 0
    store = store_reader()
    assert set(store.companies()["origin"].to_list()) == {"user"}
    assert set(store.tag_history()["actor"].to_list()) == {"import"}


def test_trailing_blank_lines_are_ignored(tmp_path, invoke, store_reader) -> None:
    path = write(tmp_path / "prices.csv", "symbol,date,close\r\nAAA,2024-01-04,1\r\n\r\n\r\n")
    assert invoke("import", str(path)).exit_code == 0
    assert store_reader().counts()["prices"] == 1


def test_blank_row_in_the_middle_is_reported_where_it_is(tmp_path, invoke, db_path, seeded) -> None:
    path = write(tmp_path / "prices.csv", "symbol,date,close\nAAA,2024-01-04,1\n\nAAA,2024-01-05,2\n")
    _fails(invoke, db_path, seeded, path, row=3, column="symbol", text="required value is empty")


def test_repeated_column_is_named(tmp_path, invoke, db_path, seeded) -> None:
    path = write(tmp_path / "prices.csv", "symbol,date,close,close\nAAA,2024-01-04,1,2\n")
    _fails(invoke, db_path, seeded, path, row=1, column="close", text="appears more than once")


def test_repeated_column_in_xlsx_is_named(tmp_path, invoke, db_path, seeded) -> None:
    import xlsxwriter

    path = tmp_path / "prices.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["symbol", "date", "close", "close"])
    sheet.write_row(1, 0, ["AAA", "2024-01-04", 1, 2])
    book.close()
    _fails(invoke, db_path, seeded, path, row=1, column="close", text="appears more than once")


def test_quarantine_stores_good_rows_and_records_domain_failures(tmp_path, invoke, store_reader) -> None:
    # Without --quarantine a non-positive price refuses the file (tested above); with it, only that row is kept out.
    body = "symbol,date,close\nAAA,2024-01-02,10\nAAA,2024-01-03,-1\nAAA,2024-01-04,0\n"
    result = invoke("import", str(write(tmp_path / "prices.csv", body)), "--quarantine")
    assert result.exit_code == 1
    assert "2 row(s) failed validation and were quarantined" in result.stderr
    store = store_reader()
    assert store.frame("prices").select("date", "close").rows() == [(date(2024, 1, 2), 10.0)]
    rejected = store.query("SELECT key, column_name, value FROM rejected_rows ORDER BY key")
    assert rejected.rows() == [("AAA/2024-01-03", "close", "-1"), ("AAA/2024-01-04", "close", "0")]


def test_a_folder_names_the_files_it_passes_over(tmp_path, invoke) -> None:
    folder = tmp_path / "drop"
    write(folder / "prices.csv", PRICES_CSV)
    write(folder / "bad_prices.csv", PRICES_CSV)
    result = invoke("import", str(folder))
    assert result.exit_code == 0
    assert "not imported" in result.stderr and "bad_prices.csv" in result.stderr


def test_every_problem_in_a_file_is_listed_at_once(tmp_path, invoke, db_path) -> None:
    body = (
        "symbol,date,close,volume\nAAA,2024-01-02,0,\nAAA,2024-01-03,-1,5\nAAA,0001-01-01,3,-2\n"
        "AAA,2024-01-02,4,\nBBB.AX,2024-01-04,1e300,\n"
    )
    before = snapshot(db_path)
    result = invoke("import", str(write(tmp_path / "prices.csv", body)))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[-1].endswith("row 2, column close: must be > 0, got 0 (and 5 more problems in this file)")
    listed = "\n".join(lines[:-1])
    for expected in (
        "row 3, column close: must be > 0, got -1",
        "row 4, column date: implausible date 0001-01-01",
        "row 4, column volume: must be >= 0, got -2",
        "row 5, column symbol: duplicate key (symbol=AAA, date=2024-01-02) also on row 2",
        "row 6, column close: implausible value 1e300",
    ):
        assert expected in listed
    assert snapshot(db_path) == before


def test_statements_in_a_quote_sub_unit_are_refused(tmp_path, invoke) -> None:
    body = "symbol,period_end,period,currency,revenue\nAAA,2024-03-31,Q,GBp,1\n"
    result = invoke("import", str(write(tmp_path / "fundamentals.csv", body)))
    assert result.exit_code == 1
    assert "unknown currency code 'GBp'" in result.stderr and "only for listings" in result.stderr


# -- periods, splits, precedence and the one validation path ------------------------------------------------------
HALVES = (
    "symbol,period_end,period,currency,revenue\nBBB.AX,2023-06-30,{p},AUD,10\nBBB.AX,2023-12-31,{p},AUD,11\n"
    "BBB.AX,2024-06-30,{p},AUD,12\nBBB.AX,2024-12-31,{p},AUD,13\n"
)


def test_a_quarterly_series_spaced_as_half_years_is_refused_in_one_line(tmp_path, invoke, db_path, seeded) -> None:
    path = write(tmp_path / "fundamentals.csv", HALVES.format(p="Q"))
    message = _fails(invoke, db_path, seeded, path, row=None, column="period", text="BBB.AX is labelled Q")
    assert f"{path}, rows 2, 3, 4 and 5, column period:" in message
    assert "the spacing of H; label them H" in message
    assert message.count("\n") == 0


def test_a_half_year_series_imports(tmp_path, invoke, store_reader) -> None:
    result = invoke("import", str(write(tmp_path / "fundamentals.csv", HALVES.format(p="H"))))
    assert result.exit_code == 0, result.stderr
    stored = store_reader().frame("fundamentals")
    assert stored.select("period", "revenue").rows() == [("H", 10.0), ("H", 11.0), ("H", 12.0), ("H", 13.0)]


def test_a_spacing_problem_is_listed_with_the_files_other_problems(tmp_path, invoke, db_path, seeded) -> None:
    body = HALVES.format(p="Q") + "AAA,2024-03-31,Q,USD,abc\nCCC,2024-03-31,H,USD,1\nCCC,2024-06-30,H,USD,1\n"
    result = invoke("import", str(write(tmp_path / "fundamentals.csv", body)))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].endswith("(and 2 more problems in this file)")
    listed = "\n".join(lines)
    assert "rows 2, 3, 4 and 5, column period: BBB.AX is labelled Q" in listed
    assert "row 6, column revenue: not a number 'abc'" in listed
    assert (
        "rows 7 and 8, column period: CCC is labelled H but these periods end 91 days after the previous H, "
        "the spacing of Q; label them Q" in listed
    )
    assert snapshot(db_path) == seeded


CONSOLIDATION_PRICES = "symbol,date,close\nAAA,2024-03-01,0.2\nAAA,2024-03-04,10.1\nAAA,2024-03-05,10.2\n"
SPLITS_CSV = "symbol,date,ratio\nAAA,2024-03-04,0.02\n"


def test_a_split_explains_a_price_jump_in_the_same_import_or_stored_before(
    tmp_path, invoke, db_path, store_reader
) -> None:
    prices = write(tmp_path / "prices.csv", CONSOLIDATION_PRICES)
    refused = invoke("import", str(prices))
    assert refused.exit_code == 1 and "row 3, column close" in refused.stderr and "10.1 after 0.2" in refused.stderr
    splits = write(tmp_path / "splits.csv", SPLITS_CSV)
    assert invoke("import", str(prices), str(splits)).exit_code == 0
    later = write(tmp_path / "later" / "prices.csv", "symbol,date,close\nAAA,2024-03-01,0.21\nAAA,2024-03-04,10\n")
    assert invoke("import", str(later)).exit_code == 0  # the stored split explains it now
    store = store_reader()
    assert store.frame("splits").select("symbol", "date", "ratio", "provider").rows() == [
        ("AAA", date(2024, 3, 4), 0.02, "file")
    ]


def test_import_replaces_another_providers_row_whole(tmp_path, invoke, db_path, store_reader) -> None:
    from screener.contract import polars_schema
    from screener.store import Store

    row = dict.fromkeys(polars_schema("fundamentals")) | {
        "symbol": "BBB.AX",
        "period_end": date(2024, 6, 30),
        "period": "FY",
        "currency": "USD",
        "revenue": 5e6,
        "cash": 7e6,
    }
    with Store(db_path) as s:
        s.upsert_real("fundamentals", pl.DataFrame([row], schema=polars_schema("fundamentals")), "yahoo")
    body = "symbol,period_end,period,currency,revenue\nBBB.AX,2024-06-30,FY,AUD,8000000\n"
    assert invoke("import", str(write(tmp_path / "fundamentals.csv", body))).exit_code == 0
    got = store_reader().frame("fundamentals").select("currency", "revenue", "cash", "provider").rows()
    assert got == [("AUD", 8e6, None, "file")]  # Yahoo's USD cash is not relabelled as the user's AUD


def test_validation_cannot_be_skipped(tmp_path, invoke, db_path, seeded, monkeypatch) -> None:
    """If the validation package cannot load, nothing is imported: there is no unvalidated way into the store."""
    import sys

    for name in [m for m in sys.modules if m.startswith("screener.validation")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "screener.validation", None)
    path = write(tmp_path / "prices.csv", "symbol,date,close\nAAA,2024-01-04,1\n")
    result = invoke("import", str(path))
    assert result.exit_code != 0
    assert snapshot(db_path) == seeded
