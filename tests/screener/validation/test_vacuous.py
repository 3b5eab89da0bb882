"""A check that cannot fail is not handed to great-expectations, and the answer is the same as if it had been:
a value rule on an all-null column, or a pair check that skips a row with a missing value on an all-null column."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from screener.contract import polars_schema
from screener.validation import runner
from screener.validation.derived import derive

TODAY = date(2025, 6, 2)


def _fundamentals() -> pl.DataFrame:
    """Two quarters of one company with every optional column null, one bad currency and one negative capex."""
    rows = [
        {"symbol": "AAA", "period_end": date(2024, 3, 31), "period": "Q", "currency": "USD"},
        {
            "symbol": "AAA",
            "period_end": date(2024, 6, 30),
            "period": "Q",
            "currency": "GBp",
            "capital_expenditure": -1.0,
        },
    ]
    schema = polars_schema("fundamentals")
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema)


def _answers(frame: pl.DataFrame) -> list[tuple]:
    derived = derive("fundamentals", frame, None)
    return [
        (r.check.match_key, r.checked, r.failed_rows, r.error)
        for r in runner.run_checks("fundamentals", derived, TODAY)
    ]


def test_the_answer_is_the_one_great_expectations_gives_for_every_check(monkeypatch: pytest.MonkeyPatch) -> None:
    skipping = _answers(_fundamentals())
    monkeypatch.setattr(runner, "vacuous", lambda _check, _frame: False)
    assert skipping == _answers(_fundamentals())
    failed = {key[1]: rows for key, _, rows, _ in skipping if rows}
    assert failed == {("currency",): [1], ("capital_expenditure",): [1]}  # the bad values are still found


def test_vacuous_checks_are_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = derive("fundamentals", _fundamentals(), None)
    handed: list[tuple[str, tuple[str, ...]]] = []
    validate = runner._validate

    def recording(kind, checks, today, data):
        handed.extend(c.match_key for c in checks)
        return validate(kind, checks, today, data)

    monkeypatch.setattr(runner, "_validate", recording)
    results = runner.run_checks("fundamentals", frame, TODAY)
    skipped = [r.check.match_key for r in results if runner.vacuous(r.check, frame)]
    assert ("expect_column_values_to_be_between", ("shares_outstanding",)) in skipped  # all null here
    assert not set(skipped) & set(handed)
    assert ("expect_column_values_to_be_between", ("capital_expenditure",)) in handed  # it has a value: it runs
    assert ("expect_column_values_to_not_be_null", ("currency",)) in handed  # a null check is never vacuous
