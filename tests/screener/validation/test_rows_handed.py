"""great-expectations is handed only the rows a check can fail, and the answer is the one it gives on every row.

A value rule skips nulls, so a column's null rows are not handed over; a uniqueness check can fail only rows whose
key another row holds too (``repeated_rows``); a column only checked for nulls goes over as its null pattern. The
failing rows great-expectations names in what it was handed are mapped back to the frame's rows. These tests run
the same frames both ways (everything handed over whole, as before, and the rows that can fail) and compare."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from screener.contract import polars_schema
from screener.validation import runner
from screener.validation.derived import derive, value_codes, with_spacing

TODAY = date(2025, 6, 2)
START = date(2024, 1, 1)

symbols = st.sampled_from(["AAA", "BBB", "CCC", "bad sym", None])
days = st.one_of(st.none(), st.integers(0, 20).map(lambda d: START + timedelta(days=d)))
closes = st.one_of(st.none(), st.sampled_from([-1.0, 0.0, 1.0, 2.0, 50.0, 0.01, 1e6]))


@st.composite
def price_frames(draw: Any) -> pl.DataFrame:
    n = draw(st.integers(1, 40))
    frame = pl.DataFrame(
        {
            "symbol": draw(st.lists(symbols, min_size=n, max_size=n)),
            "date": draw(st.lists(days, min_size=n, max_size=n)),
            "close": draw(st.lists(closes, min_size=n, max_size=n)),
            "volume": draw(st.lists(closes, min_size=n, max_size=n)),
        },
        schema={c: t for c, t in polars_schema("prices").items() if c in ("symbol", "date", "close", "volume")},
    )
    if draw(st.booleans()):  # a file in key order, the usual one
        frame = frame.drop_nulls(["symbol", "date"]).unique(["symbol", "date"], keep="first").sort("symbol", "date")
    return frame


def _answers(kind: str, frame: pl.DataFrame) -> list[tuple]:
    derived = derive(kind, frame, None)
    return [(r.check.match_key, r.failed_rows, r.error) for r in runner.run_checks(kind, derived, TODAY)]


def _whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every row handed over, every column as it is (the behaviour before)."""
    monkeypatch.setattr(runner, "_rows_seen", lambda _check, _frame: None)
    pandas = runner._pandas
    monkeypatch.setattr(
        runner,
        "_pandas",
        lambda frame, columns, categorical=frozenset(), nullness=frozenset(): pandas(frame, columns, categorical),
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=price_frames())
def test_prices_the_rows_that_can_fail_give_the_answer_of_every_row(
    monkeypatch: pytest.MonkeyPatch, frame: pl.DataFrame
) -> None:
    handed = _answers("prices", frame)
    with monkeypatch.context() as m:
        _whole(m)
        assert handed == _answers("prices", frame)


def test_failing_rows_are_mapped_back_to_the_frame() -> None:
    frame = pl.DataFrame(
        {
            "symbol": ["AAA", "AAA", None, "BBB", "AAA", "BBB"],
            "date": [START, START + timedelta(days=1), START, START, START, START + timedelta(days=2)],
            "close": [1.0, None, 2.0, -3.0, 1.0, 4.0],
            "volume": [None, None, -1.0, None, 5.0, None],
        },
        schema={c: t for c, t in polars_schema("prices").items() if c in ("symbol", "date", "close", "volume")},
    )
    failed = {key: rows for key, rows, _ in _answers("prices", frame) if rows}
    assert failed[("expect_compound_columns_to_be_unique", ("symbol", "date"))] == [0, 4]
    assert failed[("expect_column_values_to_be_between", ("volume",))] == [2]  # row 2 of 6, among 2 non-null
    assert failed[("expect_column_values_to_be_between", ("close",))] == [3]
    assert failed[("expect_column_values_to_not_be_null", ("close",))] == [1]
    assert failed[("expect_column_values_to_not_be_null", ("symbol",))] == [2]


def test_a_key_that_never_repeats_is_not_handed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = pl.DataFrame(
        {"symbol": ["AAA", "AAA", "BBB"], "date": [START, START + timedelta(days=1), START], "close": [1.0, 1.1, 2.0]}
    )
    handed: list[tuple[str, tuple[str, ...]]] = []
    validate = runner._validate

    def recording(kind: str, checks: list, today: date, data: Any) -> Any:
        handed.extend(c.match_key for c in checks)
        return validate(kind, checks, today, data)

    monkeypatch.setattr(runner, "_validate", recording)
    results = runner.run_checks("prices", derive("prices", frame, None), TODAY)
    unique = ("expect_compound_columns_to_be_unique", ("symbol", "date"))
    assert unique not in handed
    assert next(r for r in results if r.check.match_key == unique).failed_rows == []


keys = st.lists(
    st.tuples(st.sampled_from(["A", "B", "C", None]), st.one_of(st.none(), st.integers(0, 3))), min_size=0, max_size=30
)


@given(rows=keys, ordered=st.booleans())
def test_repeated_rows_are_the_rows_whose_key_another_row_holds(rows: list[tuple], ordered: bool) -> None:
    if ordered:
        rows = sorted({r for r in rows if None not in r})
    frame = pl.DataFrame(
        {
            "symbol": [r[0] for r in rows],
            "date": [None if r[1] is None else START + timedelta(days=r[1]) for r in rows],
        },
        schema={"symbol": pl.String, "date": pl.Date},
    )
    expected = [i for i, r in enumerate(rows) if rows.count(r) > 1]  # nulls equal to nulls, as pandas compares them
    assert sorted(runner.repeated_rows(frame, ["symbol", "date"]).to_list()) == expected


@given(values=st.lists(st.sampled_from(["A", "B", "C", "D", None]), max_size=30), ordered=st.booleans())
def test_value_codes_are_equal_exactly_where_the_values_are(values: list[str | None], ordered: bool) -> None:
    if ordered:
        values = sorted(v for v in values if v is not None)
    codes = value_codes(pl.Series(values, dtype=pl.String)).to_list()
    for i, a in enumerate(values):
        assert (codes[i] is None) == (a is None)
        for j, b in enumerate(values):
            if a is not None and b is not None:
                assert (codes[i] == codes[j]) == (a == b)


@given(frame=price_frames(), seed=st.integers(0, 1000))
@settings(max_examples=40, deadline=None)
def test_price_jumps_do_not_depend_on_the_row_order(frame: pl.DataFrame, seed: int) -> None:
    """A file in key order takes a shorter path than a shuffled one; each row's result is the same."""
    splits = pl.DataFrame({"symbol": ["AAA", "BBB"], "date": [START + timedelta(days=5)] * 2, "ratio": [5.0, 0.5]})
    shuffled = frame.with_row_index("_at").sample(fraction=1.0, shuffle=True, seed=seed)
    ordered = derive("prices", frame, splits).select("close_change", "close_change_shown")
    again = derive("prices", shuffled.drop("_at"), splits).with_columns(shuffled["_at"]).sort("_at")
    assert ordered.equals(again.select("close_change", "close_change_shown"))


def test_spacing_computed_by_the_parse_is_the_one_validation_computes() -> None:
    rows = [("AAA", date(2023, 3, 31) + timedelta(days=91 * i), "Q") for i in range(6)]
    rows += [("AAA", date(2023, 12, 31), "FY"), ("BBB", date(2023, 6, 30), "Q"), ("BBB", date(2023, 12, 31), "Q")]
    schema = polars_schema("fundamentals")
    frame = pl.DataFrame(
        [{"symbol": s, "period_end": d, "period": p, "currency": "USD"} for s, d, p in rows],
        schema={c: schema[c] for c in ("symbol", "period_end", "period", "currency")},
    )
    computed = derive("fundamentals", frame, None)
    given_spacing = derive("fundamentals", frame, None, spacing=with_spacing(frame))
    assert computed.equals(given_spacing)
    assert computed["period_by_spacing"].to_list()[-1] == "H"  # BBB's two quarters are half a year apart
