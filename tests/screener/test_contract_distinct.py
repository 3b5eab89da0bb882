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
