"""The one output path: formats, formula neutralisation, timestamps, terminal tables and atomic files."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from screener.errors import ScreenerError
from screener.output.render import atomic_path, check_writable, neutralise, render, to_csv_text

FRAME = pl.DataFrame(
    {
        "symbol": ["MP", '=HYPERLINK("x")'],
        "as_of": [date(2026, 11, 20), date(2026, 11, 20)],
        "loaded_at": [datetime(2026, 11, 20, 21, 5, 0), datetime(2026, 11, 20, 21, 5, 0, 123456)],
        "score": [0.5, float("nan")],
        "flags": [["demo", "stale"], []],
    }
)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_json_is_an_array_of_objects_with_utc_timestamps_and_no_nan() -> None:
    out = io.StringIO()
    render(FRAME, "json", out)
    rows = json.loads(out.getvalue())
    assert rows[0] == {
        "symbol": "MP",
        "as_of": "2026-11-20",
        "loaded_at": "2026-11-20T21:05:00Z",
        "score": 0.5,
        "flags": ["demo", "stale"],
    }
    assert rows[1]["score"] is None


def test_csv_neutralises_formulas_and_writes_utc_timestamps() -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv_text(FRAME))))
    assert rows[1]["symbol"].startswith("'=")
    assert rows[0]["loaded_at"] == "2026-11-20T21:05:00Z"
    assert rows[0]["flags"] == "demo;stale"


@given(st.text(min_size=1))
def test_neutralised_text_never_starts_a_formula(text: str) -> None:
    assert not neutralise(text).startswith(("=", "+", "-", "@", "\t", "\r"))


def test_terminal_table_keeps_one_line_per_row_and_cuts_long_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    long = pl.DataFrame({"symbol": ["000270.KS"], "source": ["https://example.com/" + "a" * 300]})
    out = _Tty()
    render(long, "table", out)
    body = [line for line in out.getvalue().splitlines() if "000270.KS" in line]
    assert len(body) == 1  # not wrapped, symbol not broken
    assert "…" in body[0] and "a" * 100 not in body[0]


def test_check_writable_explains_each_bad_path(tmp_path: Path) -> None:
    a_file = tmp_path / "f.csv"
    a_file.write_text("x")
    with pytest.raises(ScreenerError, match="does not exist"):
        check_writable(tmp_path / "missing" / "x.csv")
    with pytest.raises(ScreenerError, match="is not a folder"):
        check_writable(a_file / "x.csv")
    with pytest.raises(ScreenerError, match="it is a folder"):
        check_writable(tmp_path)


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_written_files_get_normal_permissions(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    with atomic_path(path) as tmp:  # how every export writes its file
        FRAME.write_parquet(tmp)
    assert path.stat().st_mode & 0o044  # readable by group/others under the usual umask, unlike mkstemp's 0600
    assert pl.read_parquet(path).height == 2


def test_csv_written_straight_to_a_utf8_stream_is_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """csv to stdout goes straight into its bytes (no 13 MB string for 50,000 rows); the bytes are to_csv_text's,
    and a stream in another encoding still gets the text."""
    import io
    from datetime import date

    import polars as pl

    from screener.output.render import render, to_csv_text

    frame = pl.DataFrame(
        {
            "symbol": ["MP", "LYC.AX", "=cmd"],
            "name": ['Mötor ünïcode, "quoted"', "multi\nline", None],
            "value": [1.0, float("nan"), None],
            "as_of": [date(2026, 6, 1)] * 3,
        }
    )
    expected = to_csv_text(frame)
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", newline="")
    stream.write("before\n")
    with monkeypatch.context() as m:  # the UTF-8 stream is written without building the text
        m.setattr("screener.output.render.to_csv_text", lambda _frame: pytest.fail("built the whole csv text"))
        render(frame, "csv", dest=stream)
    stream.flush()
    assert raw.getvalue() == ("before\n" + expected).encode("utf-8")
    other = io.BytesIO()
    latin = io.TextIOWrapper(other, encoding="utf-16", newline="")
    render(frame, "csv", dest=latin)
    latin.flush()
    assert other.getvalue().decode("utf-16") == to_csv_text(frame)


_CELL_TEXT = st.one_of(st.none(), st.text(alphabet=st.sampled_from(list("=+-@\t\r\n a,\"';é|")), max_size=6))


@given(
    st.lists(
        st.tuples(_CELL_TEXT, st.one_of(st.none(), st.lists(_CELL_TEXT.filter(lambda t: t is not None), max_size=3))),
        min_size=1,
        max_size=8,
    )
)
def test_every_csv_text_cell_is_neutralised_whatever_its_column_type(cells: list) -> None:
    """A cell of text, of a list (joined with ``;``), of a categorical or of an enum reads back as ``neutralise`` of
    its text, so no spreadsheet runs it; and the bytes written straight to a stream are the same as the text."""
    texts = [t for t, _ in cells]
    lists = [items for _, items in cells]
    kinds = sorted({t for t in texts if t is not None})
    frame = pl.DataFrame(
        {
            "text": pl.Series(texts, dtype=pl.String),
            "items": pl.Series(lists, dtype=pl.List(pl.String)),
            "category": pl.Series(texts, dtype=pl.Categorical),
            "kind": pl.Series(texts, dtype=pl.Enum(kinds)),
            "n": list(range(len(cells))),
        }
    )
    text = to_csv_text(frame)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["text", "items", "category", "kind", "n"]
    for row, (cell, items) in zip(rows[1:], cells, strict=True):
        shown = neutralise(cell or "")
        joined = "" if items is None else neutralise(";".join(items))
        assert row == [shown, joined, shown, shown, row[4]]
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", newline="")
    render(frame, "csv", dest=stream)
    stream.flush()
    assert raw.getvalue() == text.encode("utf-8")
