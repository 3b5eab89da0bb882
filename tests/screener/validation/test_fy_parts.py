"""A fiscal year is checked against the sum of its quarters (else its halves): the binary searches that find them
agree with the rule read plainly, year by year.

Why a property test: the parts are found by searching sorted keys, and a year's window (after 330 days before its
end, up to 7 days after) has edges a hand-picked example rarely lands on; repeated parts, parts of another label and
unknown values all change which years are checked. Whole-number values keep every sum exact in any order.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from screener.validation.derived import _ROW, FY_TOLERANCE, _fy_parts

START = date(2020, 1, 1)
#: Period ends around two fiscal years ending 2020-12-31 and 2021-12-31: their quarters and halves, and the days on
#: and beside the edges of a year's window (330 days before its end is out, 7 days after is in).
DAYS = [35, 36, 90, 181, 273, 365, 372, 373, 400, 456, 547, 638, 730, 737]

#: Whole numbers (every sum exact in any order), now and then unknown.
VALUE = st.one_of(st.integers(-1000, 1000).map(float), st.integers(-1000, 1000).map(float), st.none())
#: A symbol's year: its FY row, and the quarters and halves it holds among the period ends around it.
YEAR = st.tuples(
    st.sampled_from(["A", "B"]),
    st.sampled_from([365, 372, 730]),
    VALUE,
    st.lists(st.tuples(st.sampled_from(DAYS), VALUE), min_size=2, max_size=8),
    st.lists(st.tuples(st.sampled_from(DAYS), VALUE), max_size=3),
)
#: Other rows: repeated or unlabelled parts, unknown symbols or dates.
NOISE = st.tuples(
    st.sampled_from(["A", "B", None]),
    st.one_of(st.none(), st.sampled_from(DAYS)),
    st.sampled_from(["Q", "H", "FY", None]),
    VALUE,
)


def _expected(rows: list[tuple[str | None, date | None, str | None, float | None]]) -> list[float | None]:
    """The rule read plainly: per FY row, its series' parts (first of each symbol, label and end) that end after
    330 days before it and no later than 7 days after; all four quarters, else both halves, each with a value."""
    first: dict[tuple[str, str, date], float | None] = {}
    for symbol, end, period, value in rows:
        if symbol is not None and end is not None and period in ("Q", "H"):
            first.setdefault((symbol, period, end), value)
    out: list[float | None] = []
    for symbol, end, period, value in rows:
        if period != "FY" or symbol is None or end is None:
            out.append(None)
            continue
        inside = {
            label: [
                v
                for (s, lab, e), v in first.items()
                if s == symbol and lab == label and end - timedelta(330) < e <= end + timedelta(7)
            ]
            for label in ("Q", "H")
        }
        parts = inside["Q"] if len(inside["Q"]) == 4 else inside["H"] if len(inside["H"]) == 2 else None
        if parts is None or value is None or any(v is None for v in parts):
            out.append(None)
            continue
        total = sum(v for v in parts if v is not None)
        scale = max(abs(value), sum(abs(v) for v in parts if v is not None))
        out.append(abs(value - total) / scale if scale > 0 else 0.0)
    return out


@settings(max_examples=300, deadline=None)
@given(years=st.lists(YEAR, max_size=3), noise=st.lists(NOISE, max_size=4), ordered=st.booleans())
def test_a_year_is_checked_against_every_quarter_else_every_half_inside_it(
    years: list[tuple[str, int, float | None, list[tuple[int, float | None]], list[tuple[int, float | None]]]],
    noise: list[tuple[str | None, int | None, str | None, float | None]],
    ordered: bool,
) -> None:
    rows: list[tuple[str | None, date | None, str | None, float | None]] = []
    for symbol, end, value, quarters, halves in years:
        rows.append((symbol, START + timedelta(end), "FY", value))
        rows += [(symbol, START + timedelta(d), "Q", v) for d, v in quarters]
        rows += [(symbol, START + timedelta(d), "H", v) for d, v in halves]
    rows += [(s, None if d is None else START + timedelta(d), p, v) for s, d, p, v in noise]
    frame = pl.DataFrame(
        rows,
        schema={"symbol": pl.String, "period_end": pl.Date, "period": pl.String, "revenue": pl.Float64},
        orient="row",
    )
    if ordered:  # a file in symbol and date order, the usual one, takes the path without a sort
        frame = frame.sort("symbol", "period_end", "period", nulls_last=True)
        rows = list(frame.iter_rows())
    checked = _fy_parts(frame.with_row_index(_ROW))
    expected = _expected(rows)
    assert checked["revenue_vs_parts"].to_list() == expected
    shown = checked["revenue_vs_parts_shown"].to_list()
    assert [s is not None for s in shown] == [g is not None and g > FY_TOLERANCE for g in expected]


def test_a_year_with_five_quarters_inside_it_is_not_checked() -> None:
    """Four quarters and a fifth (a mislabelled or shifted period) inside one window: the year is not the sum of
    its quarters, and no sum of four of them is taken instead."""
    ends = [36, 90, 181, 273, 365]
    frame = pl.DataFrame(
        {
            "symbol": ["A"] * 6,
            "period_end": [START + timedelta(d) for d in [*ends, 365]],
            "period": ["Q"] * 5 + ["FY"],
            "revenue": [1.0, 2.0, 3.0, 4.0, 5.0, 14.0],
        }
    )
    checked = _fy_parts(frame.with_row_index(_ROW))
    assert checked["revenue_vs_parts"].to_list() == [None] * 6
    assert _fy_parts(frame.slice(1).with_row_index(_ROW))["revenue_vs_parts"].to_list()[-1] == 0.0
