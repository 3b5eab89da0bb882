"""liquidity: median daily traded value in USD over the last 63 trading days."""

from __future__ import annotations

import statistics

import pytest

from factors.engine import compute_scores
from tests._factors_helpers import AS_OF, company, daily, fx_rows, inputs, row


def test_hand_computed_median_over_the_last_63_days() -> None:
    volume: list[float | None] = [float(i) for i in range(70)]
    volume[69] = None  # no volume reported on the last day: skipped
    volume[60] = 0.0  # a day without trades counts as zero
    out = compute_scores(inputs([company("A"), company("B.AX", currency="AUD")],
                                prices=[daily("A", 70, close=2.0, volume=volume),
                                        daily("B.AX", 70, close=4.0, volume=volume)],
                                fx=[fx_rows("AUD", 0.5)]), AS_OF)
    window = [2.0 * v for v in volume[7:] if v is not None]
    assert len(window) == 62
    assert row(out, "A")["liquidity"] == pytest.approx(statistics.median(window))
    assert row(out, "A")["liquidity.median_traded_value_usd"] == row(out, "A")["liquidity"]
    assert row(out, "B.AX")["liquidity"] == row(out, "A")["liquidity"]  # 4 AUD at 0.5 = 2 USD
    assert row(out, "A")["liquidity_pct"] == row(out, "B.AX")["liquidity_pct"] == 0.5


def test_too_few_traded_days_takes_the_worst_observed_value() -> None:
    out = compute_scores(inputs([company("A"), company("B"), company("C")],
                                prices=[daily("A", close=1.0, volume=100.0), daily("B", close=1.0, volume=50.0),
                                        daily("C", 5, close=1.0, volume=1e9)]), AS_OF)
    c = row(out, "C")
    assert c["liquidity.median_traded_value_usd"] is None
    assert "worst:liquidity.median_traded_value_usd" in c["flags"]
    assert c["liquidity"] == 50.0 and c["liquidity_pct"] == row(out, "B")["liquidity_pct"]


def test_a_median_over_fewer_than_63_trading_days_is_flagged_short_history() -> None:
    out = compute_scores(inputs([company("NEW"), company("OLD"), company("TINY")],
                                prices=[daily("NEW", 28, close=1.0, volume=100.0),
                                        daily("OLD", 63, close=1.0, volume=50.0),
                                        daily("TINY", 5, close=1.0, volume=1.0)]), AS_OF)
    new = row(out, "NEW")
    assert new["liquidity"] == 100.0 and "short_history:liquidity" in new["flags"]
    assert "short_history:liquidity" not in row(out, "OLD")["flags"]
    # too few days for any value: the worst policy speaks, not a short-history note
    tiny = row(out, "TINY")
    assert "worst:liquidity.median_traded_value_usd" in tiny["flags"]
    assert "short_history:liquidity" not in tiny["flags"]
