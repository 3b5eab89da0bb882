"""pullback: drawdown of the USD close from its 52-week high."""

from __future__ import annotations

from datetime import date
from itertools import pairwise

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factors.engine import compute_scores
from tests.builders import AS_OF, company, daily, inputs, row


def test_hand_computed_drawdown_ignores_highs_outside_the_window() -> None:
    closes = [30.0] + [10.0] * 99 + [20.0] + [10.0] * 298 + [15.0]  # 400 days: 30 is 399 days before as-of
    out = compute_scores(
        inputs([company("A"), company("B")], prices=[daily("A", 400, close=closes), daily("B", close=10.0)]), AS_OF
    )
    assert row(out, "A")["pullback.drawdown_52w"] == pytest.approx(1 - 15 / 20)
    assert row(out, "A")["pullback"] == pytest.approx(0.25 / 0.30)  # on the rising side of the tent
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
    assert row(out, "A.AX")["pullback.drawdown_52w"] == pytest.approx(0.5)


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
    assert new["pullback.drawdown_52w"] == pytest.approx(1 - 17.3 / 20.0)
    assert "short_history:pullback" in new["flags"] and "excluded:pullback" not in new["flags"]
    assert "short_history:pullback" not in row(out, "OLD")["flags"]
    # history that starts within coverage_slack_days of the window's start counts as a full window
    assert "short_history:pullback" not in row(out, "EDGE")["flags"]
    late = compute_scores(inputs([company("EDGE")], prices=[daily("EDGE", 334, close=10.0)]), AS_OF)
    assert "short_history:pullback" in row(late, "EDGE")["flags"]


def test_an_excluded_value_is_not_also_flagged_short() -> None:
    out = compute_scores(inputs([company("A")], prices=[daily("A", 10)]), AS_OF)
    assert row(out, "A")["flags"].count("short_history:pullback") == 0


def _fall_to(drawdown: float) -> list[float]:
    """300 daily closes: flat at 100, then down to ``100 * (1 - drawdown)`` over the last 30 days."""
    return [100.0] * 270 + [100.0 * (1 - drawdown * (i + 1) / 30) for i in range(30)]


def test_a_collapse_scores_below_a_pullback() -> None:
    # twins differing only in how far they fell: 30% is the pullback the thesis wants, 90% is a collapse
    out = compute_scores(
        inputs(
            [company("PULL"), company("CRASH"), company("SHALLOW"), company("HIGH")],
            prices=[
                daily("PULL", close=_fall_to(0.30)),
                daily("CRASH", close=_fall_to(0.90)),
                daily("SHALLOW", close=_fall_to(0.10)),
                daily("HIGH", close=100.0),
            ],
        ),
        AS_OF,
    )
    pull, crash, shallow, high = (row(out, s) for s in ("PULL", "CRASH", "SHALLOW", "HIGH"))
    assert crash["pullback.drawdown_52w"] == pytest.approx(0.90)  # the measurement is kept as it is
    assert pull["pullback"] == pytest.approx(1.0) and crash["pullback"] == pytest.approx(-0.5)
    assert crash["pullback"] < high["pullback"] < shallow["pullback"] < pull["pullback"]
    assert crash["pullback_pct"] == 0.0 and pull["pullback_pct"] == 1.0


def _score(d: float | list[float], peak: float, collapse: float) -> list[float]:
    from factors.library.pullback import pullback_score

    values = d if isinstance(d, list) else [d]
    return pl.DataFrame({"d": values}).select(pullback_score(pl.col("d"), peak, collapse)).to_series().to_list()


@settings(max_examples=60, deadline=None)
@given(
    peak=st.floats(min_value=0.20, max_value=0.45),
    collapse=st.floats(min_value=0.55, max_value=0.85),
    shallow=st.floats(min_value=0.01, max_value=0.15),
    deep=st.floats(min_value=0.86, max_value=1.0),
)
def test_a_collapse_never_beats_a_pullback_for_any_sweet_spot(
    peak: float, collapse: float, shallow: float, deep: float
) -> None:
    s30, s90, s_shallow, s_deep = _score([0.30, 0.90, shallow, deep], peak, collapse)
    assert s90 < s30
    assert s_deep < s_shallow  # beyond the collapse point, below any shallow pullback
    assert max(_score([peak - 1e-6, peak, peak + 1e-6], peak, collapse)) == pytest.approx(1.0)


@settings(max_examples=40, deadline=None)
@given(
    peak=st.floats(min_value=0.20, max_value=0.45),
    collapse=st.floats(min_value=0.55, max_value=1.0),
    ds=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=2, max_size=20),
)
def test_score_is_monotone_on_each_side_of_the_peak(peak: float, collapse: float, ds: list[float]) -> None:
    rising = sorted(d for d in ds if d <= peak)
    falling = sorted(d for d in ds if d >= peak)
    up = _score(rising, peak, collapse) if rising else []
    down = _score(falling, peak, collapse) if falling else []
    assert all(a <= b for a, b in pairwise(up))
    assert all(a >= b for a, b in pairwise(down))


@pytest.mark.parametrize(("peak", "collapse"), [(0.0, 0.7), (0.5, 0.4), (0.3, 1.2)])
def test_shape_params_are_checked(peak: float, collapse: float) -> None:
    with pytest.raises(ValueError, match="peak"):
        _score(0.3, peak, collapse)
