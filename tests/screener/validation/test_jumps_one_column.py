"""The jumps of a value from row to row (``derived._jumps``) computed one column at a time give exactly what the
first way gave, every part of a step a column of every row (``_reference_changes`` below, kept as it was): the same
ratio on every row and the same text on every failing one, with splits, one-row spikes and their returns, repeated
and unordered rows, and rows left out (no series, no date, a value not above 0)."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from screener.validation import derived as derived_module
from screener.validation.derived import (
    _ROW,
    _closest_to_one,
    _jumps,
    _only_where,
    change_column,
    shown_column,
)

START = date(2020, 1, 1)


def _reference_changes(distinct: pl.DataFrame, *, value: str, limit: float, exponent: int) -> pl.DataFrame:
    """The measure as it was written first: every part of a step a column of every row."""
    name, shown = change_column(value), shown_column(change_column(value))
    x = pl.col(value).cast(pl.Float64)

    def prev(expr: pl.Expr, k: int) -> pl.Expr:
        return pl.when(pl.col("_series").shift(k) == pl.col("_series")).then(expr.shift(k))

    low, high = 1 / limit, limit
    # Each step is the ratio to the previous value, or to the previous split-adjusted level when that is nearer 1.
    # Where neither the row nor the two before it follow a split (a factor of exactly 1), the level is the value
    # itself and the ratio is the plain one: the comparison (two logarithms a row) is made only on the rows near a
    # split.
    distinct = distinct.with_columns(prev(x, 1).alias("_x1"), prev(x, 2).alias("_x2"))
    distinct = distinct.with_columns((x / pl.col("_x1")).alias("_step1"), (x / pl.col("_x2")).alias("_step2"))
    if bool((distinct["_cum"] != 1.0).any()):
        cum = pl.col("_cum")
        distinct = distinct.with_columns(prev(cum, 1).alias("_c1"), prev(cum, 2).alias("_c2"))
        moved = (cum != 1.0) | (pl.col("_c1") != 1.0).fill_null(False) | (pl.col("_c2") != 1.0).fill_null(False)
        near = distinct.select(pl.arg_where(moved)).to_series()
        level = x * cum.pow(exponent)
        steps = distinct[near].select(
            _closest_to_one(x / pl.col("_x1"), level / (pl.col("_x1") * pl.col("_c1").pow(exponent))).alias("_s1"),
            _closest_to_one(x / pl.col("_x2"), level / (pl.col("_x2") * pl.col("_c2").pow(exponent))).alias("_s2"),
        )
        # the factors are let go first, and each step column leaves the frame before it is written in place: 13
        # million closes are not copied twice more while four other columns of them are held
        distinct = distinct.drop("_c1", "_c2")
        for k, step in enumerate(("_step1", "_step2")):
            column = distinct.drop_in_place(step)
            distinct = distinct.with_columns(column.scatter(near, steps.to_series(k)))
            del column
        del steps, near
    distinct = distinct.drop("_cum")
    step1, step2 = pl.col("_step1"), pl.col("_step2")
    jumped = (step1.is_not_null() & ~step1.is_between(low, high)).alias("_jumped")
    distinct = distinct.with_columns(jumped)
    back = pl.col("_jumped") & prev(pl.col("_jumped"), 1).fill_null(False) & step2.is_between(low, high)
    derived = distinct.with_columns(
        pl.when(back).then(step2).otherwise(step1).alias(name),
        pl.when(back).then(pl.col("_x2")).otherwise(pl.col("_x1")).alias("_before"),
    ).select(value, name, "_before")
    del distinct
    # written only where the check fails: it is what a report shows, and formatting every close costs seconds
    derived = derived.with_columns(
        _only_where(
            derived,
            ~pl.col(name).is_between(low, high),
            pl.format("{} after {}", x, pl.col("_before")),
            pl.repeat(None, derived.height, dtype=pl.String, eager=True).alias(shown),
        )
    )
    return derived.select(name, shown)


@st.composite
def series_frames(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame]:
    n = draw(st.integers(min_value=0, max_value=50))
    symbols = draw(st.lists(st.sampled_from(["AAA", "BBB", "CCC", None]), min_size=n, max_size=n))
    ordered = draw(st.booleans())
    days = list(range(n)) if ordered else draw(st.lists(st.integers(0, 12), min_size=n, max_size=n))
    # levels with jumps of up to 1000x either way, one-row spikes among them, and values that are not above 0
    levels = st.sampled_from([1.0, 1.5, 2.0, 0.001, 1000.0, 25.0, 0.04, 0.0, -3.0, 7.25])
    values = draw(st.lists(st.one_of(levels, st.none()), min_size=n, max_size=n))
    if ordered:
        symbols = sorted(symbols, key=lambda s: (s is None, s or ""))
    frame = pl.DataFrame(
        {
            _ROW: pl.Series(range(n), dtype=pl.UInt32),
            "symbol": pl.Series(symbols, dtype=pl.String),
            "date": [START + timedelta(days=d) for d in days],
            "close": pl.Series(values, dtype=pl.Float64),
        }
    )
    k = draw(st.integers(min_value=0, max_value=3))
    splits = pl.DataFrame(
        {
            "symbol": draw(st.lists(st.sampled_from(["AAA", "BBB"]), min_size=k, max_size=k)),
            "date": [START + timedelta(days=d) for d in draw(st.lists(st.integers(0, 12), min_size=k, max_size=k))],
            "ratio": draw(st.lists(st.sampled_from([2.0, 5.0, 0.1, 1000.0]), min_size=k, max_size=k)),
        },
        schema={"symbol": pl.String, "date": pl.Date, "ratio": pl.Float64},
    )
    return frame, splits


@settings(max_examples=120, deadline=None)
@given(series_frames(), st.sampled_from([1, -1]))
def test_one_column_at_a_time_gives_what_every_column_gave(
    case: tuple[pl.DataFrame, pl.DataFrame], exponent: int
) -> None:
    frame, splits = case
    kwargs = {"series": "symbol", "on": "date", "value": "close", "limit": 20.0, "exponent": exponent}
    for known in (splits, None):
        got = _jumps(frame, splits=known, **kwargs)  # type: ignore[arg-type]
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(derived_module, "_changes", _reference_changes)
            expected = _jumps(frame, splits=known, **kwargs)  # type: ignore[arg-type]
        assert got.equals(expected), (got, expected)


def test_a_spike_and_its_return_and_a_split_read_as_before() -> None:
    """The cases the rule exists for, spelled out: a one-row spike is blamed once (its return compared with the
    row before it), a split that explains a jump passes, and a jump nothing explains fails with its text."""
    closes = [10.0, 10.5, 500.0, 10.4, 10.6, 2.1, 2.2, 300.0, 310.0]
    frame = pl.DataFrame(
        {
            _ROW: pl.Series(range(len(closes)), dtype=pl.UInt32),
            "symbol": ["AAA"] * len(closes),
            "date": [START + timedelta(days=i) for i in range(len(closes))],
            "close": closes,
        }
    )
    splits = pl.DataFrame({"symbol": ["AAA"], "date": [START + timedelta(days=5)], "ratio": [5.0]})
    got = _jumps(frame, series="symbol", on="date", value="close", limit=20.0, splits=splits, exponent=1)
    assert got["close_change"].to_list()[2:4] == [500.0 / 10.5, 10.4 / 10.5]
    assert got["close_change_shown"].to_list() == [
        None,
        None,
        "500.0 after 10.5",
        None,
        None,
        None,
        None,
        "300.0 after 2.2",
        None,
    ]
