"""A failing value reads the same in a report whether it was formatted one by one (``_text``) or as a column
(``value_texts``, which a quarantine of a million values uses): property-tested over every type a contract column
holds, floats of every magnitude included."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from screener.validation.runner import _text, value_texts


def _same(series: pl.Series) -> None:
    assert value_texts(series).to_list() == [_text(v) for v in series.to_list()]
    assert value_texts(series).dtype == pl.String


@settings(max_examples=300, deadline=None)
@given(st.lists(st.none() | st.floats(allow_nan=True, allow_infinity=True), max_size=40))
def test_floats_of_any_magnitude_read_as_python_writes_them(values: list[float | None]) -> None:
    _same(pl.Series("v", values, dtype=pl.Float64))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.none() | st.floats(width=32, allow_nan=True, allow_infinity=True), max_size=20))
def test_single_precision_floats_too(values: list[float | None]) -> None:
    _same(pl.Series("v", values, dtype=pl.Float32))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=20),
    st.lists(st.none() | st.dates(), max_size=20),
    st.lists(st.none() | st.text(max_size=8), max_size=20),
    st.lists(st.none() | st.datetimes(min_value=datetime(1900, 1, 1)), max_size=10),
    st.lists(st.none() | st.booleans(), max_size=10),
)
def test_integers_dates_text_timestamps_and_flags(
    ints: list[int | None],
    days: list[date | None],
    texts: list[str | None],
    stamps: list[datetime | None],
    flags: list[bool | None],
) -> None:
    _same(pl.Series("v", ints, dtype=pl.Int64))
    _same(pl.Series("v", days, dtype=pl.Date))
    _same(pl.Series("v", texts, dtype=pl.String))
    _same(pl.Series("v", stamps, dtype=pl.Datetime("us")))
    _same(pl.Series("v", flags, dtype=pl.Boolean))


def test_the_edges_of_the_plain_range() -> None:
    edges = [1e-4, 9.999999999999999e-05, 1e16, 9999999999999998.0, 1e16 + 2, -1e-4, 0.1, -0.0, 0.0, 5e-324]
    _same(pl.Series("v", edges, dtype=pl.Float64))
    assert value_texts(pl.Series("v", [1e16, 2.5, 3.0, float("nan")])).to_list() == ["1e+16", "2.5", "3", "nan"]
