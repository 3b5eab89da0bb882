"""A factor is one file: its reason phrases, the events that move it and its number formats come from its own
registration, and the reasons, the change attribution and the workbook read them from there."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import polars as pl
import pytest

from factors import registry
from factors.registry import FACTORS, register_factor
from rules.explain import phrase
from screener.output.export import INTEGER, RATIO_PERCENT, USD_M, factor_formats, number_format
from screener.watchlist.attribution import attribute, moved_by


@pytest.fixture
def scratch_factor() -> Iterator[str]:
    """Register a throw-away factor ``size`` that declares everything, and unregister it afterwards."""
    saved, saved_order = dict(registry._REGISTERED), dict(FACTORS)

    @register_factor(
        name="size",
        direction="higher_is_better",
        needs=("market_cap",),
        missing="exclude",
        params={},
        components={"log_market_cap": 1, "listings": 1},
        combine=lambda c, p: c.to_series(0),
        description="Bigger is steadier.",
        phrases=("a heavyweight", "a minnow"),
        moved_by=("permit", "equity_raise"),
        formats={"size": "usd", "log_market_cap": "ratio", "listings": "count"},
        order=70,
    )
    def size(ctx, p):  # type: ignore[no-untyped-def]
        return ctx.base.select("as_of", "symbol", pl.lit(1.0).alias("log_market_cap"), pl.lit(1.0).alias("listings"))

    yield "size"
    registry._REGISTERED.clear()
    registry._REGISTERED.update(saved)
    FACTORS.clear()
    FACTORS.update(saved_order)


def test_reason_phrases_come_from_the_factor_registration(scratch_factor: str) -> None:
    assert phrase("size", 0.9) == "a heavyweight"
    assert phrase("size", 0.1) == "a minnow"
    assert phrase("size", 0.5) == "average size"


def test_events_that_move_a_factor_come_from_its_registration(scratch_factor: str) -> None:
    assert moved_by("size") == ("permit", "equity_raise")
    before = pl.DataFrame(
        {"symbol": ["A", "B"], "name": ["A", "B"], "status": ["member"] * 2, "rank": [2, 1]}
    ).with_columns(pl.Series("contrib.size", [0.1, 0.5]), pl.Series("size_pct_eligible", [0.2, 0.9]))
    after = before.with_columns(
        pl.Series("rank", [1, 2]), pl.Series("contrib.size", [0.6, 0.5]), pl.Series("size_pct_eligible", [0.95, 0.9])
    )
    day = date(2026, 6, 5)
    events = pl.DataFrame(
        {
            "symbol": ["A", "A", "A"],
            "date": [day, day, day],
            "kind": ["equity_raise", "permit", "capacity"],
            "description": ["a", "b", "c"],
        }
    )
    ch = {r["symbol"]: r for r in attribute(before, after, ["size"], events).iter_rows(named=True)}
    # the declared order breaks the same-day tie: the permit, not the equity raise; capacity never moves it
    assert ch["A"]["event"] == "a permit (2026-06-05)"
    assert ch["A"]["text"].startswith("moved: size_pct_eligible 0.20 → 0.95 (score +0.500) after a permit")


def test_number_formats_come_from_the_factor_registration(scratch_factor: str) -> None:
    declared = factor_formats()
    assert declared["size"] == USD_M
    assert declared["size.log_market_cap"] == RATIO_PERCENT
    assert declared["size.listings"] == INTEGER
    assert number_format("size.listings", pl.Float64) == INTEGER
    assert number_format("size_pct", pl.Float64) == "0%"  # the percentile keeps its own format


def test_built_in_factors_declare_what_the_product_says_about_them() -> None:
    assert FACTORS["pullback"].phrases == (
        "pulled back from its 52-week high, not collapsed",
        "near its 52-week high or collapsed",
    )
    assert FACTORS["dilution_risk"].moved_by == ("equity_raise", "funding")
    assert FACTORS["pullback"].moved_by == ()
    assert dict(FACTORS["liquidity"].formats) == {"liquidity": "usd"}
    assert moved_by("market_cap") == ()  # a universe filter's column is no factor: no event moves it


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"phrases": ("only one",)}, "phrases"),
        ({"moved_by": ("earthquake",)}, "moved_by"),
        ({"moved_by": ("permit", "permit")}, "moved_by"),
        ({"formats": {"nope": "ratio"}}, "formats"),
        ({"formats": {"a": "furlongs"}}, "formats"),
    ],
)
def test_malformed_declarations_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        register_factor(
            name="tmp_factor",
            direction="higher_is_better",
            needs=(),
            missing="neutral",
            params={},
            components={"a": 1},
            description="x",
            **kwargs,
        )
