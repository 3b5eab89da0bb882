"""Validation gates (great-expectations): failing rows named by file, row, key, column and expectation; import's
all-or-nothing and ``--quarantine``; ``screener validate`` over the store; the checks across rows that catch what
breaks rankings (unit jumps, periods spaced unlike their label, an FY that is not its quarters' sum, an empty
answer). GX is imported once for the module. No test reads the clock: library calls get ``today`` injected, and the
command-line tests use a date no clock reaches."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from screener.store import Store
from screener.validation import SUITE_KINDS, checks_for, validate_frame

TODAY = date(2025, 6, 2)
#: After TODAY for the library calls, and after any clock for the command-line ones.
FUTURE = "2999-01-04"


@pytest.fixture(scope="module", autouse=True)
def _gx_once() -> None:
    """Pay the great-expectations import and context once for every test here."""
    from screener.validation.runner import _context

    _context()


def test_every_check_can_be_matched_back_to_its_result() -> None:
    for kind in SUITE_KINDS:
        keys = [c.match_key for c in checks_for(kind, TODAY)]
        assert len(keys) == len(set(keys)), kind


def test_failures_name_row_key_column_expectation_and_value() -> None:
    frame = pl.DataFrame(
        {
            "symbol": ["MP", "MP", "LYC.AX", "LYC.AX"],
            "date": [date(2025, 1, 2), date.fromisoformat(FUTURE), date(2025, 1, 2), date(2025, 1, 3)],
            "close": [20.0, 21.0, -1.5, 7.0],
            "volume": [100.0, None, 5.0, -3.0],
        }
    )
    fails = validate_frame("prices", frame, "prices.csv", today=TODAY)
    assert fails.columns == ["source", "row", "kind", "key", "expectation", "column_name", "value"]
    got = {(r["row"], r["key"], r["column_name"], r["value"]) for r in fails.iter_rows(named=True)}
    assert got == {
        (3, f"MP/{FUTURE}", "date", FUTURE),
        (4, "LYC.AX/2025-01-02", "close", "-1.5"),
        (5, "LYC.AX/2025-01-03", "volume", "-3"),
    }
    close = fails.filter(pl.col("column_name") == "close").row(0, named=True)
    assert close["expectation"] == "expect_column_values_to_be_between (close > 0)"
    assert set(fails["source"]) == {"prices.csv"} and set(fails["kind"]) == {"prices"}


def test_suites_cover_codes_vocabularies_periods_and_duplicates() -> None:
    fund = pl.DataFrame(
        {
            "symbol": ["MP", "MP"],
            "period_end": [date(2025, 6, 30)] * 2,
            "period": ["H1", "H1"],
            "currency": ["USD", "XYZ"],
            "capital_expenditure": [-1.0, 2.0],
            "shares_outstanding": [0.0, 1.0],
        }
    )
    fails = validate_frame("fundamentals", fund, "f", today=TODAY)
    by_col = {c: set(fails.filter(pl.col("column_name") == c)["row"]) for c in fails["column_name"].unique()}
    assert by_col["period"] == {2, 3} and by_col["currency"] == {3} and by_col["capital_expenditure"] == {2}
    assert by_col["shares_outstanding"] == {2} and by_col["symbol,period_end,period"] == {2, 3}
    companies = pl.DataFrame(
        {
            "symbol": ["MP"],
            "name": ["MP"],
            "country": ["XX"],
            "currency": ["USD"],
            "roles": ["miner;wizard"],
            "stage": ["dreaming"],
        }
    )
    fails = validate_frame("companies", companies, "c", today=TODAY)
    assert sorted(fails["column_name"]) == ["country", "roles", "stage"]
    fx = pl.DataFrame({"currency": ["GBp"], "date": [date(2025, 1, 2)], "usd_per_unit": [0.0]})
    assert sorted(validate_frame("fx", fx, "x", today=TODAY)["column_name"]) == ["currency", "usd_per_unit"]


def test_import_is_all_or_nothing_with_file_row_column_and_expectation(invoke, db_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text(f"symbol,date,close,volume\nMP,2025-01-02,20,100\nMP,{FUTURE},21,100\n", encoding="utf-8")
    result = invoke("import", str(path))
    assert result.exit_code == 1
    assert f"Error: {path}, row 3, column date: failed expect_column_values_to_be_between (not after" in result.stderr
    assert f"(value '{FUTURE}'); nothing was imported" in result.stderr
    with Store(db_path) as store:
        assert store.scalar("SELECT count(*) FROM prices") == 0
        assert store.scalar("SELECT count(*) FROM rejected_rows") == 0

    result = invoke("import", str(path), "--quarantine", "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == [
        {"file": str(path), "kind": "prices", "rows": 2, "inserted": 1, "updated": 0, "stored": 1, "rejected": 1}
    ]
    with Store(db_path) as store:
        assert store.query("SELECT date FROM prices")["date"].to_list() == [date(2025, 1, 2)]
        rej = store.query("SELECT provider, source, kind, key, column_name, value FROM rejected_rows").rows()
        assert rej == [("file", str(path), "prices", f"MP/{FUTURE}", "date", FUTURE)]
    held = invoke("validate", "--rejected", "--format", "json")
    assert held.exit_code == 0
    assert [(r["source"], r["key"], r["value"]) for r in json.loads(held.stdout)] == [
        (str(path), f"MP/{FUTURE}", FUTURE)
    ]
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
        store.con.execute(
            "INSERT INTO prices VALUES ('MP', '2025-01-02', -3, 10, 'file', now()), "
            f"('MP', '{FUTURE}', 20, 10, 'file', now())"
        )
        store.con.execute(
            "INSERT INTO company_profiles (symbol, price_unit, market_cap, provider, loaded_at) "
            "VALUES ('MP', 'USD', 2e12, 'yahoo', now())"
        )
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


# -- checks across rows ------------------------------------------------------------------------------------------
def _days(n: int, start: date = date(2025, 1, 2)) -> list[date]:
    return [start + timedelta(days=i) for i in range(n)]


def _prices(closes: list[float], symbol: str = "MP") -> pl.DataFrame:
    return pl.DataFrame({"symbol": [symbol] * len(closes), "date": _days(len(closes)), "close": closes})


def _failing(kind: str, frame: pl.DataFrame, column: str, splits: pl.DataFrame | None = None) -> pl.DataFrame:
    fails = validate_frame(kind, frame, "f", today=TODAY, splits=splits)
    return fails.filter(pl.col("column_name") == column)


def _splits(*rows: tuple[str, date, float]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"symbol": pl.String, "date": pl.Date, "ratio": pl.Float64}, orient="row")


def test_a_price_jump_of_more_than_20x_is_reported_with_key_column_and_value() -> None:
    fails = _failing("prices", _prices([10.0, 10.5, 1050.0, 1040.0]), "close")
    assert fails.select("row", "key", "value").rows() == [(4, "MP/2025-01-04", "1050.0 after 10.5")]
    assert fails["expectation"][0] == (
        "expect_column_values_to_be_between (within 20x of the previous close unless a split explains it)"
    )
    assert _failing("prices", _prices([10.0, 10.5, 199.0, 198.0]), "close").height == 0  # 19x: a market, not a unit


def test_a_split_on_that_date_explains_the_jump_and_only_that_one() -> None:
    consolidation = _prices([10.0, 10.5, 525.0, 520.0])  # 1:50 on 2025-01-04: the price is 50x
    assert _failing("prices", consolidation, "close", _splits(("MP", date(2025, 1, 4), 0.02))).height == 0
    for other in (
        _splits(("MP", date(2025, 1, 3), 0.02)),
        _splits(("LYC.AX", date(2025, 1, 4), 0.02)),
        _splits(("MP", date(2025, 1, 4), 0.5)),
    ):
        assert _failing("prices", consolidation, "close", other)["key"].to_list() == ["MP/2025-01-04"]
    # a provider's split-adjusted history has no jump, and the known split does not invent one
    adjusted = _prices([0.2, 0.21, 10.5, 10.4])
    assert (
        _failing(
            "prices", adjusted.with_columns(pl.col("close") * 50), "close", _splits(("MP", date(2025, 1, 4), 0.02))
        ).height
        == 0
    )


def test_only_the_bad_row_of_a_one_day_spike_is_blamed() -> None:
    fails = _failing("prices", _prices([10.0, 10.2, 0.101, 10.1, 10.3]), "close")  # one close in pounds, not pence
    assert fails["key"].to_list() == ["MP/2025-01-04"]


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(st.floats(-0.3, 0.3), min_size=3, max_size=30),
    at=st.integers(1, 29),
    factor=st.sampled_from([0.01, 0.001, 30.0, 100.0, 1000.0]),
    ratio=st.sampled_from([0.02, 0.1, 2.0, 50.0]),
)
def test_a_unit_error_anywhere_in_a_smooth_series_blames_exactly_that_row(
    steps: list[float], at: int, factor: float, ratio: float
) -> None:
    """Property of the derived column the GX check bounds: a smooth series (daily moves within 35%) passes, with or
    without a split it records; one close off by a unit factor is the only row outside 1/20..20."""
    import math

    from screener.validation.derived import derive

    def blamed(closes: list[float], splits: pl.DataFrame | None = None) -> list[int]:
        changes = derive("prices", _prices(closes), splits)["close_change"]
        return [i for i, c in enumerate(changes.to_list()) if c is not None and not 1 / 20 <= c <= 20]

    closes = [20 * math.exp(sum(steps[: i + 1])) for i in range(len(steps))]
    assert blamed(closes) == []
    at = at % (len(closes) - 1) + 1
    split = _splits(("MP", _days(len(closes))[at], ratio))
    raw = [c / ratio if i >= at else c for i, c in enumerate(closes)]  # the price as quoted, unadjusted
    assert blamed(raw, split) == []
    assert blamed([*closes[:at], closes[at] * factor, *closes[at + 1 :]]) == [at]


def test_an_fx_jump_of_more_than_20x_is_reported() -> None:
    fx = pl.DataFrame({"currency": ["KRW"] * 3, "date": _days(3), "usd_per_unit": [0.00072, 0.72, 0.00073]})
    assert _failing("fx", fx, "usd_per_unit")["key"].to_list() == ["KRW/2025-01-03"]


def _fundamentals(rows: list[tuple[str, date, str, float | None, float | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "symbol": pl.String,
            "period_end": pl.Date,
            "period": pl.String,
            "revenue": pl.Float64,
            "shares_outstanding": pl.Float64,
        },
        orient="row",
    )


QUARTERS = [date(2024, 3, 31), date(2024, 6, 30), date(2024, 9, 30), date(2024, 12, 31)]


def test_a_share_count_jump_of_more_than_3x_needs_a_split() -> None:
    fund = _fundamentals([("MP", d, "Q", None, s) for d, s in zip(QUARTERS, [1e8, 1.1e8, 5.5e8, 5.6e8], strict=True)])
    fails = _failing("fundamentals", fund, "shares_outstanding")
    assert fails.select("key", "value").rows() == [("MP/2024-09-30/Q", "550000000.0 after 110000000.0")]
    split = _splits(("MP", date(2024, 8, 15), 5.0))  # a 5:1 split between the two statements
    assert _failing("fundamentals", fund, "shares_outstanding", split).height == 0
    gentle = fund.with_columns(pl.Series("shares_outstanding", [1e8, 1.1e8, 3.2e8, 3.3e8]))
    assert _failing("fundamentals", gentle, "shares_outstanding").height == 0  # 2.9x: a big raise, not a unit
    history = pl.DataFrame({"symbol": ["MP"] * 3, "date": _days(3), "shares": [1.6e8, 1.6e11, 1.6e8]})
    assert _failing("shares", history, "shares")["key"].to_list() == ["MP/2025-01-03"]


def test_periods_must_be_spaced_as_labelled() -> None:
    halves = [date(2023, 6, 30), date(2023, 12, 31), date(2024, 6, 30), date(2024, 12, 31)]
    as_h = _fundamentals([("LYC.AX", d, "H", 1.0, None) for d in halves])
    assert _failing("fundamentals", as_h, "period").height == 0
    as_q = as_h.with_columns(pl.lit("Q").alias("period"))
    fails = _failing("fundamentals", as_q, "period")
    assert fails["key"].to_list() == ["LYC.AX/2023-12-31/Q", "LYC.AX/2024-06-30/Q", "LYC.AX/2024-12-31/Q"]
    assert fails["value"][0] == "Q, 184 days after the previous Q (H spacing)"
    quarters_as_fy = _fundamentals([("MP", d, "FY", 1.0, None) for d in QUARTERS])
    assert _failing("fundamentals", quarters_as_fy, "period").height == 3
    # one missing quarter in a quarterly series is a gap, not another label
    gap = _fundamentals([("MP", d, "Q", 1.0, None) for d in [*QUARTERS[:2], QUARTERS[3], date(2025, 3, 31)]])
    assert _failing("fundamentals", gap, "period").height == 0


def test_fy_must_match_the_sum_of_its_quarters_within_10_percent() -> None:
    quarters = [("MP", d, "Q", r, None) for d, r in zip(QUARTERS, [100.0, 110.0, 90.0, 100.0], strict=True)]
    fine = _fundamentals([*quarters, ("MP", QUARTERS[-1], "FY", 420.0, None)])
    assert _failing("fundamentals", fine, "revenue").height == 0
    off = _fundamentals([*quarters, ("MP", QUARTERS[-1], "FY", 480.0, None)])
    fails = _failing("fundamentals", off, "revenue")
    assert fails.select("key", "value").rows() == [("MP/2024-12-31/FY", "FY 480.0 vs 400.0 from its quarters")]
    # only when every quarter inside the year is there: three quarters say nothing about the year
    assert (
        _failing(
            "fundamentals", _fundamentals([*quarters[1:], ("MP", QUARTERS[-1], "FY", 480.0, None)]), "revenue"
        ).height
        == 0
    )
    halves = _fundamentals(
        [
            ("LYC.AX", date(2024, 12, 31), "H", 50.0, None),
            ("LYC.AX", date(2025, 6, 30), "H", 60.0, None),
            ("LYC.AX", date(2025, 6, 30), "FY", 220.0, None),
        ]
    )
    assert _failing("fundamentals", halves, "revenue")["value"].to_list() == ["FY 220.0 vs 110.0 from its halves"]


def test_validate_uses_the_stored_splits_and_reports_empty_answers(invoke, db_path: Path) -> None:
    with Store(db_path) as store:
        store.con.execute(
            "INSERT INTO prices VALUES ('MP', '2025-01-02', 10, 1, 'file', now()), "
            "('MP', '2025-01-03', 500, 1, 'file', now())"
        )
        store.con.execute(
            "INSERT INTO refresh_state (subject, part, attempted_at, status, empty_since) VALUES "
            "('LYC.AX', 'fundamentals', '2025-01-05 10:00:00', 'empty', '2025-01-04 09:00:00'), "
            "('MP', 'fundamentals', '2025-01-05 10:00:00', 'ok', NULL)"
        )
    listed = invoke("validate", "--failures", "--format", "json")
    assert listed.exit_code == 1
    got = {(r["kind"], r["key"], r["column_name"], r["value"]) for r in json.loads(listed.stdout)}
    assert got == {
        ("prices", "MP/2025-01-03", "close", "500.0 after 10.0"),
        ("refresh", "LYC.AX/fundamentals", "status", "empty since 2025-01-04 09:00:00"),
    }
    with Store(db_path) as store:
        store.con.execute("INSERT INTO splits VALUES ('MP', '2025-01-03', 0.02, 'file', now())")
        store.con.execute("UPDATE refresh_state SET status = 'ok', empty_since = NULL")
    clean = invoke("validate", "--format", "json")
    assert clean.exit_code == 0, clean.stderr


def test_validate_counts_only_what_is_still_kept_out(invoke, db_path: Path, tmp_path: Path) -> None:
    bad = tmp_path / "one" / "prices.csv"
    bad.parent.mkdir()
    bad.write_text(f"symbol,date,close\nMP,2025-01-02,20\nMP,{FUTURE},21\nMP,2025-01-03,-1\n", encoding="utf-8")
    assert invoke("import", str(bad), "--quarantine").exit_code == 1
    assert "2 row(s) are still kept out" in invoke("validate").stderr
    fixed = tmp_path / "two" / "prices.csv"
    fixed.parent.mkdir()
    fixed.write_text("symbol,date,close\nMP,2025-01-03,21\n", encoding="utf-8")
    assert invoke("import", str(fixed)).exit_code == 0
    assert "1 row(s) are still kept out" in invoke("validate").stderr
    held = json.loads(invoke("validate", "--rejected", "--format", "json").stdout)
    assert [r["key"] for r in held] == [f"MP/{FUTURE}"]
    every = json.loads(invoke("validate", "--rejected", "--include-resolved", "--format", "json").stdout)
    assert [(r["key"], r["resolved_at"] is not None) for r in every] == [
        (f"MP/{FUTURE}", False),
        ("MP/2025-01-03", True),
    ]
    assert invoke("validate", "--include-resolved").exit_code == 1
