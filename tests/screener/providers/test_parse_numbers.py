"""A number column read in one pass when it is clean (``files._numbers_fit``) gives exactly what the rules one by
one give: the same values and the same problems, typed (Parquet floats) or as text, for every kind of number
column the contract has."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from screener.contract import KINDS, Column
from screener.providers import files

NUMBER_COLUMNS = sorted(
    {c for kind in KINDS.values() for c in kind.columns if c.dtype in ("float", "int")},
    key=lambda c: (c.dtype, c.positive, c.non_negative, c.fraction, c.name),
)
KINDS_OF_NUMBERS = list({(c.dtype, c.positive, c.non_negative, c.fraction): c for c in NUMBER_COLUMNS}.values())

VALUES = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 0.5, 1.0, 1.5, -2.0, 1e15, 1e19, 9.9e18, -1e20, 3.0]),
)


def _parse(col: Column, raw: pl.Series, strict: bool) -> tuple[list[object], list[files.Problem]]:
    problems: list[files.Problem] = []
    out = files._parse_column(Path("x.csv"), "fundamentals", col, raw, problems, 3, strict)
    assert out.name == col.name
    values = [None if v is None else ("nan" if isinstance(v, float) and math.isnan(v) else v) for v in out.to_list()]
    return [str(out.dtype), *values], problems


@pytest.mark.parametrize("col", KINDS_OF_NUMBERS, ids=lambda c: f"{c.dtype}-{c.name}")
@settings(max_examples=60, deadline=None)
@given(values=st.lists(VALUES, min_size=1, max_size=12), typed=st.booleans(), strict=st.booleans())
def test_one_pass_and_rule_by_rule_agree(col: Column, values: list[float | None], typed: bool, strict: bool) -> None:
    if typed and col.dtype == "float":
        raw = pl.Series(col.name, values, dtype=pl.Float64)
    else:
        raw = pl.Series(col.name, [None if v is None else repr(v) for v in values], dtype=pl.String)
    fast = _parse(col, raw, strict)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(files, "_numbers_fit", lambda *a, **k: False)  # every column through the rules one by one
        slow = _parse(col, raw, strict)
    assert fast == slow
    text = None if raw.dtype == pl.Float64 else raw
    parsed = raw if text is None else raw.cast(pl.Float64, strict=False)
    if files._numbers_fit(col, parsed, text, strict=strict):
        # a column the one pass calls clean breaks no number rule (an empty required cell is checked before it)
        assert [p for p in slow[1] if p[3] != "required value is empty"] == []


def test_a_clean_column_is_one_pass_and_a_bad_cell_sends_it_through_the_rules() -> None:
    col = next(c for c in NUMBER_COLUMNS if c.dtype == "float" and c.positive)
    problems: list[files.Problem] = []
    clean = pl.Series(col.name, [1.0, 2.5, None], dtype=pl.Float64)
    assert files._numbers_fit(col, clean, None, strict=True)
    assert files._parse_column(Path("x"), "prices", col, clean, problems, 0).to_list() == [1.0, 2.5, None]
    dirty = pl.Series(col.name, ["1", "-2", "x"], dtype=pl.String)
    assert not files._numbers_fit(col, dirty.cast(pl.Float64, strict=False), dirty, strict=True)
    files._parse_column(Path("x"), "prices", col, dirty, problems, 0)
    assert {p[0] for p in problems} == {3, 4}  # "-2" is not > 0, "x" is not a number


TEXT_CELLS = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["1", "2.5", "-3", "1e3", " 1.5", "2 ", "\t4", "5\n", "", "  ", "1,5", "x", "\u00a06", "0.25"]),
)


@pytest.mark.parametrize("col", KINDS_OF_NUMBERS, ids=lambda c: f"{c.dtype}-{c.name}")
@settings(max_examples=60, deadline=None)
@given(cells=st.lists(TEXT_CELLS, min_size=1, max_size=12), strict=st.booleans())
def test_a_text_column_parsed_as_it_is_gives_what_stripping_first_gives(
    col: Column, cells: list[str | None], strict: bool
) -> None:
    """A CSV's number column is parsed without first asking its distinct values whether a cell needs stripping,
    when every cell reads as a number that fits. Cells with white space at either end, empty ones and text that is
    not a number send it the long way; either way the values and the problems are those of stripping first."""
    raw = pl.Series(col.name, cells, dtype=pl.String)
    fast = _parse(col, raw, strict)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(files, "_numbers_fit", lambda *a, **k: False)  # strip, blank, then every rule one by one
        slow = _parse(col, raw, strict)
    assert fast == slow


def test_a_clean_text_column_is_parsed_without_asking_its_distinct_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """13 million closes in a CSV file are nearly all distinct: hashing them was most of reading the file."""
    col = next(c for c in NUMBER_COLUMNS if c.dtype == "float" and c.positive)
    monkeypatch.setattr(files, "distinct_values", lambda _c: pytest.fail("asked the distinct values"))
    problems: list[files.Problem] = []
    clean = pl.Series(col.name, ["1", "2.5", None, "1e3"], dtype=pl.String)
    assert files._parse_column(Path("x"), "prices", col, clean, problems, 0).to_list() == [1.0, 2.5, None, 1000.0]
    assert problems == ([(4, 0, col.name, "required value is empty")] if col.required else [])
