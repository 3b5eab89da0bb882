"""``screener.contract.distinct``: the same values as ``unique``, whatever the runs."""

from __future__ import annotations

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from screener.contract import distinct

TEXT = st.lists(st.one_of(st.none(), st.sampled_from(["AAA", "BBB", "", " C", "é"])), max_size=60)


@given(TEXT)
def test_distinct_holds_the_values_unique_holds(values: list[str | None]) -> None:
    column = pl.Series("symbol", values, dtype=pl.String)
    got = distinct(column)
    assert got.name == "symbol" and got.dtype == pl.String
    assert got.len() == column.unique().len()
    assert got.sort(nulls_last=True).to_list() == column.unique().sort(nulls_last=True).to_list()


@given(st.lists(st.one_of(st.none(), st.integers(-3, 3)), max_size=60))
def test_distinct_of_numbers_and_of_sorted_runs(values: list[int | None]) -> None:
    for column in (pl.Series("n", values, dtype=pl.Int64), pl.Series("n", values, dtype=pl.Int64).sort()):
        assert sorted(distinct(column).to_list(), key=lambda v: (v is None, v or 0)) == sorted(
            set(values), key=lambda v: (v is None, v or 0)
        )


@given(
    st.lists(st.one_of(st.none(), st.integers(-5, 5)), min_size=1, max_size=40),
    st.integers(1, 300),
    st.booleans(),
)
def test_distinct_of_long_columns_with_and_without_runs(values: list[int | None], run: int, runs_first: bool) -> None:
    """Columns longer than the rows ``distinct`` looks at to choose its way (a run per value, values changing every
    row, or one after the other): the values are ``unique``'s either way."""
    n = 4096 + 1000
    runs = [v for v in values for _ in range(run)]
    tiled = values * (n // len(values) + 1)
    head, tail = (runs, tiled) if runs_first else (tiled, runs)
    column = pl.Series("n", (head * (n // len(head) + 1))[:n] + tail[:n], dtype=pl.Int64)
    assert sorted(distinct(column).to_list(), key=lambda v: (v is None, v or 0)) == sorted(
        set(values), key=lambda v: (v is None, v or 0)
    )
