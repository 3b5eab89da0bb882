"""``--as-of`` and the other date options read YYYY-MM-DD without ``datetime.strptime`` (``options.IsoDate``), whose
first call costs a short command about 12 ms: every text must be read as click's ``DateTime`` reads it, to the same
date, or refused with the same message."""

from __future__ import annotations

from datetime import date

import click
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from screener.cli.options import IsoDate

CLICKS = click.DateTime(formats=["%Y-%m-%d"])


def _outcome(kind: click.ParamType, text: str) -> object:
    try:
        return kind.convert(text, None, None)
    except click.BadParameter as exc:
        return ("refused", exc.format_message())


def _same(text: str) -> None:
    assert _outcome(IsoDate(), text) == _outcome(CLICKS, text)


parts = st.one_of(
    st.integers(min_value=0, max_value=10_000).map(str),
    st.integers(min_value=0, max_value=40).map(lambda n: f"{n:02d}"),
    st.sampled_from([" 1", " 9", "1 ", "٠٣", "٢٠٢٦", "", "+1", "-1", "1.0", "0x1"]),
)


@settings(max_examples=500, deadline=None)
@given(parts, parts, parts, st.sampled_from(["-", "/", " ", "--", ""]))
def test_texts_near_a_date_are_read_as_clicks_datetime_reads_them(y: str, m: str, d: str, sep: str) -> None:
    _same(f"{y}{sep}{m}{sep}{d}")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=14))
def test_any_text_is_read_or_refused_alike(text: str) -> None:
    _same(text)


@settings(max_examples=200, deadline=None)
@given(st.dates())
def test_every_iso_date_is_read_to_itself(day: date) -> None:
    if day.year < 1000:
        return  # %Y wants four digits; the text of an earlier year has fewer (isoformat pads it: covered above)
    assert IsoDate().convert(day.isoformat(), None, None).date() == day
    _same(day.isoformat())


@pytest.mark.parametrize("text", ["2026-06-01", "2026-6-1", "2026-06- 1", "2024-02-29", "2026-02-29", "2026-13-01"])
def test_the_edges_strptime_has(text: str) -> None:
    _same(text)


def test_the_help_and_the_message_are_clicks() -> None:
    assert IsoDate().get_metavar(click.Option(["--as-of"]), click.Context(click.Command("x"))) == "[%Y-%m-%d]"
    assert _outcome(IsoDate(), "tomorrow") == (
        "refused",
        "Invalid value: 'tomorrow' does not match the format '%Y-%m-%d'.",
    )
