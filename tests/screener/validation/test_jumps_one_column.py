"""The jumps of a value from row to row (``derived._jumps``) computed one column at a time give exactly what the
first way gave, every part of a step a column of every row (``_reference_jumps`` below, kept as it was): the same
ratio on every row and the same text on every failing one, with splits, one-row spikes and their returns, repeated
and unordered rows, and rows left out (no series, no date, a value not above 0)."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from screener.validation.derived import (
    _ROW,
    _closest_to_one,
    _in_series_order,
    _jumps,
    _only_where,
    _split_factor,
    change_column,
    shown_column,
    value_codes,
)

START = date(2020, 1, 1)


def _reference_jumps(
    frame: pl.DataFrame, *, series: str, on: str, value: str, limit: float, splits: pl.DataFrame | None, exponent: int
) -> pl.DataFrame:
    """The measure as it was written first: every part of a step as a column of every row."""
    name, shown = change_column(value), shown_column(change_column(value))
    rows = frame.select(_ROW, series, value_codes(frame.get_column(series)).alias("_series"), on, value)
    usable = rows.select(pl.col(series).is_not_null() & pl.col(on).is_not_null() & (pl.col(value) > 0)).to_series()
    if not bool(usable.all()):
        rows = rows.filter(usable)  # a copy of the columns only when a row is left out
    del usable
    # Each row's split factor is read off its text series here, before any sort: the rows are then ordered and
    # deduplicated with the series as a small integer only (gathering 13 million symbols in a new order costs
    # several times more than gathering their factors).
    rows = rows.with_columns(_split_factor(rows, series, on, splits).alias("_cum").cast(pl.Float64)).drop(series)
    # A file in series and date order, each date once (the usual file), is in the order the sort below gives
    # already, with no row repeating another: tested as (series, then day) rising from each row to the next, which
    # costs a pass instead of a sort (compared as they are: no column of 64-bit keys is made for it).
    n = rows.height
    code, day = pl.col("_series"), pl.col(on).cast(pl.Date).to_physical()
    after = code.slice(1) > code.slice(0, n - 1)
    later = (code.slice(1) == code.slice(0, n - 1)) & (day.slice(1) > day.slice(0, n - 1))
    in_order = n > 1 and bool(rows.select((after | later).all()).item())
    if not in_order:
        rows = _in_series_order(rows, on, value)
    if rows.height == 0:
        return frame.with_columns(
            pl.lit(None, dtype=pl.Float64).alias(name), pl.lit(None, dtype=pl.String).alias(shown)
        )
    if in_order:
        distinct = rows  # each (series, date) once: no row repeats another
    else:
        repeat = (
            (pl.col("_series") == pl.col("_series").shift(1))
            & (pl.col(on) == pl.col(on).shift(1))
            & (pl.col(value) == pl.col(value).shift(1))
        ).fill_null(False)
        rows = rows.with_columns(((~repeat).cum_sum() - 1).alias("_first"))
        distinct = rows.filter(~repeat)
    rows = rows.select(_ROW) if in_order else rows.select(_ROW, "_first")  # where each result goes
    distinct = distinct.drop(on, _ROW)  # the dates are read no further
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
    if in_order and rows.height == frame.height:
        # every row of the frame, in its order, each its own: the columns are the frame's as they are
        return frame.with_columns(derived[name], derived[shown])
    # each row takes the result of its first repeat, put at its own position (``_ROW`` is the row's position)
    at = rows[_ROW]
    values = derived[name] if in_order else derived[name].gather(rows["_first"])
    added = [pl.repeat(None, frame.height, dtype=pl.Float64, eager=True).alias(name).scatter(at, values)]
    # the readable text is set on the few rows that break the limit: only those are gathered and placed
    written = derived[shown].is_not_null().arg_true()
    if in_order:
        to, text = at.gather(written), derived[shown].gather(written)
    else:
        firsts = rows["_first"]
        taking = firsts.is_in(written.implode())
        to, text = at.filter(taking), derived[shown].gather(firsts.filter(taking))
    added.append(pl.repeat(None, frame.height, dtype=pl.String, eager=True).alias(shown).scatter(to, text))
    return frame.with_columns(added)


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
        expected = _reference_jumps(frame, splits=known, **kwargs)  # type: ignore[arg-type]
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
