"""The price panel's row search: the as-of merge used for many probes finds exactly the rows ``search_sorted``
finds, on either side, for probes before, inside, between and after every company's closes."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from factors.inputs import _panel_key, _search


def _panel(days_per_run: list[list[int]]) -> pl.DataFrame:
    g = [run for run, days in enumerate(days_per_run) for _ in days]
    day = [d for days in days_per_run for d in days]
    return pl.DataFrame({"g": pl.Series(g, dtype=pl.UInt32), "date": pl.Series(day, dtype=pl.Int32).cast(pl.Date)})


runs = st.lists(st.lists(st.integers(-30, 400), unique=True).map(sorted), min_size=1, max_size=6)


@settings(max_examples=150, deadline=None)
@given(runs=runs, probes=st.lists(st.tuples(st.integers(0, 6), st.integers(-60, 460)), min_size=1, max_size=60))
def test_the_merge_finds_what_search_sorted_finds(runs: list[list[int]], probes: list[tuple[int, int]]) -> None:
    prices = _panel(runs)
    prices = prices.with_columns(_panel_key(prices))
    g = pl.Series([p[0] for p in probes], dtype=pl.Int64)
    day = pl.Series([p[1] for p in probes], dtype=pl.Int64)
    for side in ("left", "right"):
        searched = prices["_key"].search_sorted(g * (1 << 22) + day, side=side).cast(pl.Int64)  # type: ignore[arg-type]
        merged = _search(prices, g, day, side, merge_from=0)
        assert merged.to_list() == searched.to_list(), side


def test_equal_keys_are_searched_with_search_sorteds_tie_rule() -> None:
    prices = _panel([[1, 2, 2, 3], [5, 5]])  # two closes on one day: the merge would pick its own tie
    prices = prices.with_columns(_panel_key(prices))
    g = pl.Series([0, 0, 1, 1], dtype=pl.Int64)
    day = pl.Series([2, 3, 5, 6], dtype=pl.Int64)
    assert _search(prices, g, day, "left", merge_from=0).to_list() == [1, 3, 4, 6]
    assert _search(prices, g, day, "right", merge_from=0).to_list() == [3, 4, 6, 6]
