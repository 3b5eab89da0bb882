"""A screen without rules picks its rows by position (``screen._picked``): the conditions and the sort read a few
columns and only the rows shown are gathered. It must show exactly what filtering, sorting and cutting every column
of the frame shows, whatever the data: nulls, NaN, ties, text in any case, a set not in symbol order."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from screener.watchlist.screen import TIE_BREAK, _picked, conditions, sort_keys, sort_rows

_NUMBERS = st.one_of(st.none(), st.just(float("nan")), st.sampled_from([-2.0, -0.5, 0.0, 0.5, 1.0, 3.0]))
_NAMES = st.sampled_from(["alpha", "Alpha", "beta", "BETA", "", "gamma"])


@st.composite
def _frames(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(min_value=0, max_value=30))
    symbols = draw(st.lists(st.text("ABCXYZ", min_size=1, max_size=3), min_size=n, max_size=n, unique=True))
    if draw(st.booleans()):
        symbols = sorted(symbols)  # stored sets are in symbol order; others are sorted when shown
    return pl.DataFrame(
        {
            "symbol": symbols,
            "name": draw(st.lists(_NAMES, min_size=n, max_size=n)),
            "net_cash_usd": draw(st.lists(_NUMBERS, min_size=n, max_size=n)),
            "dilution_risk_pct": draw(st.lists(_NUMBERS, min_size=n, max_size=n)),
            "flags": draw(st.lists(st.lists(_NAMES, max_size=2), min_size=n, max_size=n)),
        },
        schema={  # given, so an empty frame has the same columns' types
            "symbol": pl.String,
            "name": pl.String,
            "net_cash_usd": pl.Float64,
            "dilution_risk_pct": pl.Float64,
            "flags": pl.List(pl.String),
        },
    )


def _shown_the_long_way(scores: pl.DataFrame, conds: list, keys: list, top: int | None) -> pl.DataFrame:
    """What a screen showed before it picked by position: every column filtered, sorted and cut."""
    df = scores
    for _, c in conds:
        df = df.filter(c.expr)
    if keys:
        df = sort_rows(df, keys)
    elif not df[TIE_BREAK].is_sorted():
        df = df.sort(TIE_BREAK)
    return df.head(top) if top is not None else df


@settings(max_examples=150, deadline=None)
@given(
    scores=_frames(),
    where=st.sampled_from([None, "net_cash_usd > 0", "dilution_risk_pct <= 0.5 or net_cash_usd is null", "name == ''"]),
    sort=st.sampled_from([None, "dilution_risk_pct", "-net_cash_usd,name", "+name", "symbol:desc", "name,symbol"]),
    top=st.one_of(st.none(), st.integers(min_value=1, max_value=40)),
)
def test_the_rows_picked_by_position_are_the_rows_filtered_sorted_and_cut(
    scores: pl.DataFrame, where: str | None, sort: str | None, top: int | None
) -> None:
    conds = conditions(scores.schema, [], [], where)
    keys = sort_keys(scores.schema, sort) if sort else []
    picked = _picked(scores, conds, keys, top)
    shown = scores if picked is None else scores[picked]
    assert shown.equals(_shown_the_long_way(scores, conds, keys, top), null_equal=True)
    if picked is None:  # nothing to pick: every row, as stored
        assert not conds and not keys and top is None and scores[TIE_BREAK].is_sorted()
