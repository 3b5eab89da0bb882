"""Validation gates (great-expectations): failing rows named by file, row, key, column and expectation; import's
all-or-nothing and ``--quarantine``; ``screener validate`` over the store. GX is imported once for the module."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from screener.store import Store
from screener.validation import SUITE_KINDS, checks_for, validate_frame

FUTURE = (date.today() + timedelta(days=30)).isoformat()


@pytest.fixture(scope="module", autouse=True)
def _gx_once() -> None:
    """Pay the great-expectations import and context once for every test here."""
    from screener.validation.runner import _context

    _context()


def test_every_check_can_be_matched_back_to_its_result() -> None:
    for kind in SUITE_KINDS:
        keys = [c.match_key for c in checks_for(kind)]
        assert len(keys) == len(set(keys)), kind


def test_failures_name_row_key_column_expectation_and_value() -> None:
    frame = pl.DataFrame({
        "symbol": ["MP", "MP", "LYC.AX", "LYC.AX"],
        "date": [date(2025, 1, 2), date.fromisoformat(FUTURE), date(2025, 1, 2), date(2025, 1, 3)],
        "close": [20.0, 21.0, -1.5, 7.0],
        "volume": [100.0, None, 5.0, -3.0],
    })
    fails = validate_frame("prices", frame, "prices.csv")
    assert fails.columns == ["source", "row", "kind", "key", "expectation", "column_name", "value"]
    got = {(r["row"], r["key"], r["column_name"], r["value"]) for r in fails.iter_rows(named=True)}
    assert got == {(3, f"MP/{FUTURE}", "date", FUTURE), (4, "LYC.AX/2025-01-02", "close", "-1.5"),
                   (5, "LYC.AX/2025-01-03", "volume", "-3")}
    close = fails.filter(pl.col("column_name") == "close").row(0, named=True)
    assert close["expectation"] == "expect_column_values_to_be_between (close > 0)"
    assert set(fails["source"]) == {"prices.csv"} and set(fails["kind"]) == {"prices"}


def test_suites_cover_codes_vocabularies_periods_and_duplicates() -> None:
    fund = pl.DataFrame({"symbol": ["MP", "MP"], "period_end": [date(2025, 6, 30)] * 2, "period": ["H1", "H1"],
                         "currency": ["USD", "XYZ"], "capital_expenditure": [-1.0, 2.0],
                         "shares_outstanding": [0.0, 1.0]})
    fails = validate_frame("fundamentals", fund, "f")
    by_col = {c: set(fails.filter(pl.col("column_name") == c)["row"]) for c in fails["column_name"].unique()}
    assert by_col["period"] == {2, 3} and by_col["currency"] == {3} and by_col["capital_expenditure"] == {2}
    assert by_col["shares_outstanding"] == {2} and by_col["symbol,period_end,period"] == {2, 3}
    companies = pl.DataFrame({"symbol": ["MP"], "name": ["MP"], "country": ["XX"], "currency": ["USD"],
                              "roles": ["miner;wizard"], "stage": ["dreaming"]})
    fails = validate_frame("companies", companies, "c")
    assert sorted(fails["column_name"]) == ["country", "roles", "stage"]
    fx = pl.DataFrame({"currency": ["GBp"], "date": [date(2025, 1, 2)], "usd_per_unit": [0.0]})
    assert sorted(validate_frame("fx", fx, "x")["column_name"]) == ["currency", "usd_per_unit"]


def test_import_is_all_or_nothing_with_file_row_column_and_expectation(invoke, db_path: Path,
                                                                      tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text(f"symbol,date,close,volume\nMP,2025-01-02,20,100\nMP,{FUTURE},21,100\n", encoding="utf-8")
    result = invoke("import", str(path))
    assert result.exit_code == 1
    assert (f"Error: {path}, row 3, column date: failed expect_column_values_to_be_between (not after"
            in result.stderr)
    assert f"(value '{FUTURE}'); nothing was imported" in result.stderr
    with Store(db_path) as store:
        assert store.scalar("SELECT count(*) FROM prices") == 0
        assert store.scalar("SELECT count(*) FROM rejected_rows") == 0

    result = invoke("import", str(path), "--quarantine", "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == [{"file": str(path), "kind": "prices", "rows": 2, "stored": 1,
                                          "rejected": 1}]
    with Store(db_path) as store:
        assert store.query("SELECT date FROM prices")["date"].to_list() == [date(2025, 1, 2)]
        rej = store.query("SELECT provider, source, kind, key, column_name, value FROM rejected_rows").rows()
        assert rej == [("file", str(path), "prices", f"MP/{FUTURE}", "date", FUTURE)]
    held = invoke("validate", "--rejected", "--format", "json")
    assert held.exit_code == 0
    assert [(r["source"], r["key"], r["value"]) for r in json.loads(held.stdout)] == [(str(path), f"MP/{FUTURE}",
                                                                                        FUTURE)]
    assert "kept out of the store" in invoke("validate").stderr


def test_validate_reports_per_kind_and_expectation(invoke, db_path: Path) -> None:
    assert invoke("init").exit_code == 0
    clean = invoke("validate", "--format", "json")
    assert clean.exit_code == 0, clean.stderr
    summary = json.loads(clean.stdout)
    kinds = {r["kind"] for r in summary}
    assert {"companies", "fundamentals", "prices", "fx", "events", "market_cap"} <= kinds
    companies = [r for r in summary if r["kind"] == "companies"]
    assert companies and all(r["failed"] == 0 and r["checked"] > 0 for r in companies)
    assert "pass" in clean.stderr and "%|" not in clean.stderr  # no great-expectations progress bars

    with Store(db_path) as store:
        store.con.execute("INSERT INTO prices VALUES ('MP', '2025-01-02', -3, 10, 'file', now()), "
                          f"('MP', '{FUTURE}', 20, 10, 'file', now())")
        store.con.execute("INSERT INTO company_profiles (symbol, price_unit, market_cap, provider, loaded_at) "
                          "VALUES ('MP', 'USD', 2e12, 'yahoo', now())")
        store.con.execute("INSERT INTO share_history VALUES ('MP', '2025-01-01', 1.6e8, 'yahoo', now())")
    dirty = invoke("validate", "--format", "json")
    assert dirty.exit_code == 1
    rows = {(r["kind"], r["column_name"], r["expectation"]): r for r in json.loads(dirty.stdout)}
    close = rows[("prices", "close", "expect_column_values_to_be_between (close > 0)")]
    assert (close["failed"], close["failing_keys"]) == (1, "MP/2025-01-02")
    future = next(r for k, r in rows.items() if k[:2] == ("prices", "date") and "not after" in k[2])
    assert future["failing_keys"] == f"MP/{FUTURE}"
    mcap = next(r for k, r in rows.items() if k[:2] == ("market_cap", "market_cap_ratio"))
    assert (mcap["failed"], mcap["failing_keys"]) == (1, "MP")  # 1.6e8 shares x 20 is far from 2e12
    assert dirty.stderr.startswith("Error: 3 stored value(s) failed validation")

    listed = invoke("validate", "--failures", "--format", "csv")
    assert listed.exit_code == 1
    lines = listed.stdout.splitlines()
    assert lines[0] == "kind,key,column_name,expectation,value"
    assert "prices,MP/2025-01-02,close,expect_column_values_to_be_between (close > 0),'-3" in lines  # csv guard


def test_validate_refuses_two_listings_at_once(invoke) -> None:
    result = invoke("validate", "--failures", "--rejected")
    assert result.exit_code == 1 and "give one of them" in result.stderr
