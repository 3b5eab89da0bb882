"""pullback: drawdown of the USD close from its 52-week high."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from factors.engine import compute_scores
from tests.builders import AS_OF, company, daily, inputs, row


def test_hand_computed_drawdown_ignores_highs_outside_the_window() -> None:
    closes = [30.0] + [10.0] * 99 + [20.0] + [10.0] * 298 + [15.0]  # 400 days: 30 is 399 days before as-of
    out = compute_scores(
        inputs([company("A"), company("B")], prices=[daily("A", 400, close=closes), daily("B", close=10.0)]), AS_OF
    )
    assert row(out, "A")["pullback.drawdown_52w"] == pytest.approx(1 - 15 / 20)
    assert row(out, "A")["pullback"] == pytest.approx(0.25)
    assert row(out, "B")["pullback"] == 0.0
    assert row(out, "A")["pullback_pct"] == 1.0 and row(out, "B")["pullback_pct"] == 0.0


def test_drawdown_is_measured_in_usd() -> None:
    # flat in AUD, but the AUD halved: a USD holder is down 50%
    fx = pl.DataFrame(
        {"currency": ["AUD", "AUD"], "date": [date(2025, 1, 1), date(2026, 3, 1)], "usd_per_unit": [1.0, 0.5]}
    )
    out = compute_scores(
        inputs([company("A.AX", currency="AUD", country="AU")], prices=[daily("A.AX", close=10.0)], fx=[fx]), AS_OF
    )
    assert row(out, "A.AX")["pullback"] == pytest.approx(0.5)


def test_too_few_closes_excludes_the_factor() -> None:
    out = compute_scores(
        inputs(
            [company("A"), company("B"), company("C")],
            prices=[daily("A", 10), daily("B", close=lambda i: 100.0 - i / 10)],
        ),
        AS_OF,
    )
    for sym in ("A", "C"):
        r = row(out, sym)
        assert r["pullback"] is None and r["pullback_pct"] is None and r["pullback.drawdown_52w"] is None
        assert "excluded:pullback" in r["flags"]
    assert row(out, "B")["pullback_pct"] == 0.5  # the only company with a value


def test_a_value_from_less_than_a_year_of_closes_is_flagged_short_history() -> None:
    # 28 closes: enough for a value (min_obs 20), far from a 52-week high
    out = compute_scores(
        inputs(
            [company("NEW"), company("OLD"), company("EDGE")],
            prices=[
                daily("NEW", 28, close=lambda i: 20.0 - i / 10),
                daily("OLD", 400, close=lambda i: 20.0 - i / 100),
                daily("EDGE", 335, close=10.0),
            ],
        ),
        AS_OF,
    )  # first close: start + 31
    new = row(out, "NEW")
    assert new["pullback"] == pytest.approx(1 - 17.3 / 20.0)
    assert "short_history:pullback" in new["flags"] and "excluded:pullback" not in new["flags"]
    assert "short_history:pullback" not in row(out, "OLD")["flags"]
    # history that starts within coverage_slack_days of the window's start counts as a full window
    assert "short_history:pullback" not in row(out, "EDGE")["flags"]
    late = compute_scores(inputs([company("EDGE")], prices=[daily("EDGE", 334, close=10.0)]), AS_OF)
    assert "short_history:pullback" in row(late, "EDGE")["flags"]


def test_an_excluded_value_is_not_also_flagged_short() -> None:
    out = compute_scores(inputs([company("A")], prices=[daily("A", 10)]), AS_OF)
    assert row(out, "A")["flags"].count("short_history:pullback") == 0
