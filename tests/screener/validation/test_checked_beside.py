"""``validation.checked``: the checks on a frame's own columns run while its derived columns are computed on another
thread, then the checks on the derived columns. The results must be the ones one after the other gives, in the
suite's order, and a failure of the derived columns must reach the caller as itself."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest

from screener.validation import checked
from screener.validation.derived import derive
from screener.validation.runner import CheckResult, run_checks

TODAY = date(2026, 6, 1)
DAYS = [date(2025, 1, 2) + timedelta(days=i) for i in range(6)]
QUARTERS = [date(2024, 3, 31), date(2024, 6, 30), date(2024, 9, 30), date(2024, 12, 31)]

FRAMES: dict[str, pl.DataFrame] = {
    # a 100x jump, a bad symbol, a date after tomorrow, a negative close
    "prices": pl.DataFrame(
        {
            "symbol": ["MP"] * 6 + ["bad sym"],
            "date": [*DAYS, date(2027, 1, 1)],
            "close": [10.0, 10.5, 1050.0, 1040.0, 1041.0, -3.0, 5.0],
            "volume": [1.0, 2.0, None, 4.0, 5.0, 6.0, 7.0],
        }
    ),
    # an FY that misses its quarters' sum, quarters spaced as halves, a share count that jumps 5x, an odd currency
    "fundamentals": pl.DataFrame(
        {
            "symbol": ["MP"] * 5 + ["LYC.AX"] * 3,
            "period_end": [*QUARTERS, QUARTERS[-1], date(2023, 12, 31), date(2024, 6, 30), date(2024, 12, 31)],
            "period": ["Q", "Q", "Q", "Q", "FY", "Q", "Q", "Q"],
            "currency": ["USD"] * 5 + ["AUD", "AUD", "XXQ"],
            "revenue": [100.0, 110.0, 90.0, 100.0, 480.0, 1.0, 1.0, 1.0],
            "shares_outstanding": [1e8, 1.1e8, 5.5e8, 5.6e8, 5.6e8, None, 2e9, 2e9],
        }
    ),
    "fx": pl.DataFrame(
        {"currency": ["AUD"] * 4 + ["ZZZ"], "date": DAYS[:5], "usd_per_unit": [0.66, 0.67, 66.0, 0.66, -1.0]}
    ),
    "companies": pl.DataFrame(
        {"symbol": ["MP", "MP", "x y"], "name": ["MP", "MP", None], "country": ["US", "ZZ", "US"]}
    ),
}


def _shown(results: list[CheckResult]) -> list[tuple[Any, ...]]:
    return [(r.check.match_key, r.checked, r.failed_rows, r.error) for r in results]


@pytest.mark.parametrize("kind", sorted(FRAMES))
def test_side_by_side_gives_what_one_after_the_other_gives(kind: str) -> None:
    frame = FRAMES[kind]
    splits = pl.DataFrame(schema={"symbol": pl.String, "date": pl.Date, "ratio": pl.Float64})
    derived, results = checked(kind, frame, splits, today=TODAY)
    alone = derive(kind, frame, splits)
    assert derived.equals(alone)
    expected = run_checks(kind, alone, TODAY)
    assert _shown(results) == _shown(expected)
    own = {r.check.match_key for r in run_checks(kind, frame, TODAY)}
    failing = {r.check.match_key for r in results if r.failed_rows}
    assert failing & own  # the frames above fail checks on their own columns ...
    if kind != "companies":  # ... and on derived ones (companies have none)
        assert failing - own


def test_the_derived_columns_are_computed_on_another_thread_while_the_own_columns_are_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The derived columns wait here until the first checks ran: only a thread of their own lets that end."""
    import screener.validation.derived as derived_module
    import screener.validation.runner as runner

    checks_started = threading.Event()
    seen: list[str] = []
    real_derive, real_run = derived_module.derive, runner.run_checks

    def deriving(*args: Any, **kwargs: Any) -> pl.DataFrame:
        assert checks_started.wait(timeout=30)
        seen.append(threading.current_thread().name)
        return real_derive(*args, **kwargs)

    def running(*args: Any, **kwargs: Any) -> list[CheckResult]:
        checks_started.set()
        return real_run(*args, **kwargs)

    monkeypatch.setattr(derived_module, "derive", deriving)
    monkeypatch.setattr(runner, "run_checks", running)
    checked("prices", FRAMES["prices"], today=TODAY)
    assert seen == ["validate-derive"]


def test_a_failure_of_the_derived_columns_is_raised_as_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    import screener.validation.derived as derived_module

    def broken(*_args: Any, **_kwargs: Any) -> pl.DataFrame:
        raise MemoryError("no room for the derived columns")

    monkeypatch.setattr(derived_module, "derive", broken)
    with pytest.raises(MemoryError, match="no room for the derived columns"):
        checked("prices", FRAMES["prices"], today=TODAY)
    assert not [t for t in threading.enumerate() if t.name == "validate-derive"]


def test_the_results_keep_the_suites_order_wherever_its_derived_checks_stand(monkeypatch: pytest.MonkeyPatch) -> None:
    """A suite that lists its checks on derived columns first (reversed here) gets its results in that order too,
    not the own columns' results first because they ran first."""
    import screener.validation as validation
    import screener.validation.runner as runner

    def reversed_checks(kind: str, today: date | None = None) -> list[Any]:
        return list(reversed(validation.suites.checks_for(kind, today)))

    monkeypatch.setattr(runner, "checks_for", reversed_checks)
    monkeypatch.setattr(validation, "checks_for", reversed_checks)
    frame = FRAMES["prices"]
    _derived, results = checked("prices", frame, today=TODAY)
    expected = run_checks("prices", derive("prices", frame), TODAY)
    assert _shown(results) == _shown(expected)
    assert not set(results[0].check.columns) <= set(frame.columns)  # a derived column's check comes first
