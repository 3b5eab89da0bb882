"""The panel's range helpers against row-by-row answers: a backtest's 52-week high or median traded value is one
gather per (as-of date, company), so the shortcut must give exactly what reading the rows one by one gives, for
ranges of every length, empty ranges and missing values."""

from __future__ import annotations

import statistics
from datetime import date

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from factors.inputs import FactorContext

_EMPTY = pl.DataFrame()


def _context(values: list[float | None]) -> FactorContext:
    prices = pl.DataFrame(
        {"close_usd": values, "traded_value_usd": values},
        schema_overrides={"close_usd": pl.Float64, "traded_value_usd": pl.Float64},
    )
    return FactorContext(
        dates=(date(2024, 1, 1),),
        settings={},
        base=_EMPTY,
        prices=prices,
        price_runs=_EMPTY,
        bounds=_EMPTY,
        event_source=_EMPTY,
    )


_values = st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)), min_size=1, max_size=700)


@st.composite
def _case(draw: st.DrawFn) -> tuple[list[float | None], list[int], list[int]]:
    values = draw(_values)
    n = len(values)
    ranges = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), min_size=1, max_size=40))
    return values, [a for a, _ in ranges], [b for _, b in ranges]


def _present(values: list[float | None], lo: int, hi: int) -> list[float]:
    return [v for v in values[lo : hi + 1] if v is not None]


@settings(max_examples=150, deadline=None)
@given(_case())
def test_range_max_is_the_maximum_of_the_rows(case: tuple[list[float | None], list[int], list[int]]) -> None:
    values, lo, hi = case
    got = _context(values).range_max("close_usd", pl.Series(lo, dtype=pl.Int64), pl.Series(hi, dtype=pl.Int64))
    want = [max(_present(values, a, b), default=None) if a <= b else None for a, b in zip(lo, hi, strict=True)]
    assert got.to_list() == want


@settings(max_examples=150, deadline=None)
@given(_case())
def test_range_count_counts_the_present_rows(case: tuple[list[float | None], list[int], list[int]]) -> None:
    values, lo, hi = case
    got = _context(values).range_count("close_usd", pl.Series(lo, dtype=pl.Int64), pl.Series(hi, dtype=pl.Int64))
    want = [len(_present(values, a, b)) if a <= b else 0 for a, b in zip(lo, hi, strict=True)]
    assert got.to_list() == want


@settings(max_examples=150, deadline=None)
@given(_case(), st.integers(1, 70))
def test_tail_median_is_the_median_of_the_last_rows(
    case: tuple[list[float | None], list[int], list[int]], rows: int
) -> None:
    values, lo, hi = case
    got = _context(values).tail_median(
        "traded_value_usd", rows, pl.Series(lo, dtype=pl.Int64), pl.Series(hi, dtype=pl.Int64)
    )
    want = []
    for a, b in zip(lo, hi, strict=True):
        present = _present(values, max(a, b - rows + 1), b) if a <= b else []
        want.append(statistics.median(present) if present else None)
    for g, w in zip(got.to_list(), want, strict=True):
        assert (g is None and w is None) or (g is not None and w is not None and abs(g - w) <= 1e-9 * max(1.0, abs(w)))


def test_a_long_panel_with_ranges_of_every_length() -> None:
    """Early dates and new listings: ranges of every length from one row to a year of closes in one call."""
    values: list[float | None] = [float((i * 7919) % 1009) if i % 13 else None for i in range(3000)]
    hi = list(range(300, 3000, 3))
    lo = [h - (i % 300) for i, h in enumerate(hi)]
    got = _context(values).range_max("close_usd", pl.Series(lo, dtype=pl.Int64), pl.Series(hi, dtype=pl.Int64))
    assert got.to_list() == [max(_present(values, a, b), default=None) for a, b in zip(lo, hi, strict=True)]


@settings(max_examples=150, deadline=None)
@given(_case(), st.integers(1, 70))
def test_tail_median_gathered_and_rolled_are_the_same_bits(
    case: tuple[list[float | None], list[int], list[int]], rows: int
) -> None:
    """Few windows are gathered row by row, many read one rolling median over the panel: the same medians, bit for
    bit, so a one-date score and a backtest's date never disagree by the path their size took."""
    values, lo, hi = case
    ctx = _context(values)
    usable = sum(1 for a, b in zip(lo, hi, strict=True) if a <= b)
    copies = len(values) // max(usable * rows, 1) + 2  # enough repeats of the same windows to take the rolling path
    few = ctx.tail_median("traded_value_usd", rows, pl.Series(lo, dtype=pl.Int64), pl.Series(hi, dtype=pl.Int64))
    many = ctx.tail_median(
        "traded_value_usd", rows, pl.Series(lo * copies, dtype=pl.Int64), pl.Series(hi * copies, dtype=pl.Int64)
    )
    if 0 < usable * rows <= len(values):  # the first call gathered; the repeats rolled
        assert usable * copies * rows > len(values)
    assert few.to_list() == many.head(len(lo)).to_list()
