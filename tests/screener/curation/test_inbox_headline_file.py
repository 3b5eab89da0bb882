"""A user's headlines file is validated like every other input: one failing value is a one-line error, a
non-zero exit, and nothing stored; times and ``--edit`` pairs parse the same whatever their form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from screener.curation.headlines import _parse_time
from screener.curation.inbox import EDITABLE, parse_edits
from screener.store import Store
from tests.screener.curation._inbox_helpers import add_universe, write_headlines

HEADER = "headline,published_at,symbol,publisher,link\n"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ('"",2025-01-02,MP,Wire,https://example.com/x', "column headline: failed expect_column_values_to_not_be_null"),
        ('"   ",2025-01-02,MP,Wire,https://example.com/x', "column headline: failed expect_column_values_to_match"),
        ('"two\nlines",2025-01-02,MP,Wire,https://example.com/x', "column headline: failed expect_column_values_to_"),
        (f'"{"x" * 501}",2025-01-02,MP,Wire,https://example.com/x', "at most 500 characters"),
        ("A headline,2025-01-02,MP,Wire,ftp://example.com/x", "column link: failed expect_column_values_to_match"),
        ("A headline,2025-01-02,not a symbol,Wire,", "column symbol: failed expect_column_values_to_match_regex"),
        ("A headline,2199-01-02,MP,Wire,", "column published_at: failed expect_column_values_to_be_between"),
        ("A headline,2999-01-02,MP,Wire,", "column published_at: '2999-01-02' is not a publication time"),
        ("A headline,,MP,Wire,", "column published_at: failed expect_column_values_to_not_be_null"),
        ("A headline,yesterday,MP,Wire,", "row 3, column published_at: not a date or time 'yesterday'"),
    ],
)
def test_a_bad_headline_is_one_line_and_nothing_is_stored(
    db_path: Path, tmp_path: Path, invoke, row: str, message: str
) -> None:
    with Store(db_path) as store:
        add_universe(store)
    good = "Fine headline,2025-01-01,MP,Wire,https://example.com/ok\n"
    path = write_headlines(tmp_path, HEADER + good + row + "\n")
    result = invoke("events", "import-headlines", str(path))
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    assert message in lines[0] and len(lines[0]) < 400
    assert "Traceback" not in result.output
    with Store(db_path) as store:
        assert store.stored_headlines().height == 0, "the good row is not stored either"


def test_a_missing_column_is_named(tmp_path: Path, invoke) -> None:
    path = write_headlines(tmp_path, "title,published_at\nA headline,2025-01-01\n")
    result = invoke("events", "import-headlines", str(path))
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {path}, row 1, column headline: missing required column (required: headline, published_at)"
    )


def test_importing_the_same_file_twice_stores_each_headline_once(db_path: Path, tmp_path: Path, invoke) -> None:
    path = write_headlines(tmp_path)
    assert invoke("events", "import-headlines", str(path)).exit_code == 0
    again = invoke("events", "import-headlines", str(path), "--format", "csv")
    assert again.exit_code == 0 and again.stdout.splitlines()[1].endswith(",4,0")
    with Store(db_path) as store:
        assert store.stored_headlines().height == 4


@given(
    when=st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2199, 12, 30)),
    offset_minutes=st.integers(min_value=-14 * 60, max_value=14 * 60),
    zulu=st.booleans(),
)
def test_a_publication_time_in_any_zone_is_read_as_the_same_utc_instant(
    when: datetime, offset_minutes: int, zulu: bool
) -> None:
    zone = timezone(timedelta(minutes=offset_minutes))
    local = when.replace(microsecond=0, tzinfo=UTC).astimezone(zone)
    text = local.isoformat()
    if zulu and offset_minutes == 0:
        text = text.replace("+00:00", "Z")
    assert _parse_time(text) == when.replace(microsecond=0)


@given(field=st.sampled_from(EDITABLE), value=st.text(min_size=1).map(str.strip).filter(bool))
def test_any_editable_field_and_value_round_trip_through_parse_edits(field: str, value: str) -> None:
    assert parse_edits([f" {field} = {value} "]) == {field: value}


def test_stored_headlines_are_checked_again_by_validate(db_path: Path, tmp_path: Path, invoke) -> None:
    assert invoke("events", "import-headlines", str(write_headlines(tmp_path))).exit_code == 0
    with Store(db_path) as store:  # a headline edited behind the intake's back, as a stray SQL client could
        store.con.execute("UPDATE headlines SET link = 'not a link' WHERE link = 'https://example.com/mp'")
    result = invoke("validate", "--failures", "--format", "csv")
    assert result.exit_code == 1
    failing = [line for line in result.stdout.splitlines() if line.startswith("headlines,")]
    assert len(failing) == 1 and "link" in failing[0] and "not a link" in failing[0]
