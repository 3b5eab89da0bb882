"""A price file out of order is put in series and date order before its jumps are measured (``_in_series_order``):
by packed 64-bit keys when series, day and position fit, else by an arg-sort of (series, day), and by all four
columns when two rows share a series and a date. Every way gives the order a plain four-column sort gives."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from screener.validation.derived import _ROW, _in_series_order

START = date(1990, 1, 1)


@st.composite
def frames(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(min_value=0, max_value=60))
    wide = draw(st.booleans())  # codes up to the largest a text column's codes reach (32 bits), or a few series
    top = 2**32 - 1 if wide else 40
    series = draw(st.lists(st.integers(min_value=0, max_value=top), min_size=n, max_size=n))
    span = draw(st.sampled_from([3, 400, 80_000]))  # a few days (many shared dates) up to two centuries
    days = draw(st.lists(st.integers(min_value=0, max_value=span), min_size=n, max_size=n))
    values = draw(st.lists(st.floats(min_value=0.01, max_value=1e6), min_size=n, max_size=n))
    return pl.DataFrame(
        {
            _ROW: pl.Series(range(n), dtype=pl.UInt32),
            "_series": pl.Series(series, dtype=pl.UInt64),
            "date": [START + timedelta(days=d) for d in days],
            "close": pl.Series(values, dtype=pl.Float64),
        }
    )


@settings(max_examples=120, deadline=None)
@given(frames())
def test_the_order_is_the_plain_sort_of_series_date_value_and_row(rows: pl.DataFrame) -> None:
    assert _in_series_order(rows, "date", "close").equals(rows.sort("_series", "date", "close", _ROW))


def test_codes_dates_and_positions_too_wide_to_pack_take_the_arg_sort() -> None:
    """32-bit series codes, two centuries of days and 20,000 positions need more than 63 bits: the arg-sort path."""
    n = 20_000
    rows = pl.DataFrame(
        {
            _ROW: pl.Series(range(n), dtype=pl.UInt32),
            "_series": pl.Series([2**32 - 1 - (i * 7919) % 11 for i in range(n)], dtype=pl.UInt32),
            "date": [START + timedelta(days=(i * 104_729) % 80_000) for i in range(n)],
            "close": [float(i % 13 + 1) for i in range(n)],
        }
    )
    assert _in_series_order(rows, "date", "close").equals(rows.sort("_series", "date", "close", _ROW))


def test_a_long_file_each_date_once_takes_the_packed_keys() -> None:
    """Thousands of rows, shuffled, no shared date: the packed path (and the same order as the plain sort)."""
    n = 5000
    rows = pl.DataFrame(
        {
            _ROW: pl.Series(range(n), dtype=pl.UInt32),
            "_series": pl.Series([i % 7 for i in range(n)], dtype=pl.UInt32),
            "date": [START + timedelta(days=i // 7) for i in range(n)],
            "close": [float(i % 13 + 1) for i in range(n)],
        }
    ).sample(fraction=1.0, shuffle=True, seed=3)
    assert _in_series_order(rows, "date", "close").equals(rows.sort("_series", "date", "close", _ROW))
