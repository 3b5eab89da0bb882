"""A CSV file is checked to be UTF-8 text in steps (``files._utf8_blank``), never decoded whole: the same answers as
decoding it whole (text or not, blank or not, and where the first bad byte is), wherever a step ends, even inside
a character of several bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from screener.errors import ScreenerError
from screener.providers import files

TEXTS = st.text(alphabet=st.sampled_from(list(" \t\n\r\u00a0\u2003ab,1é€😀")), max_size=40)


@settings(max_examples=200, deadline=None)
@given(
    text=TEXTS,
    junk=st.one_of(st.none(), st.binary(min_size=1, max_size=3)),
    at=st.integers(0, 40),
    step=st.integers(1, 7),
)
def test_checked_in_steps_as_decoded_whole(text: str, junk: bytes | None, at: int, step: int) -> None:
    data = text.encode("utf-8")
    if junk is not None:
        cut = min(at, len(data))
        data = data[:cut] + junk + data[cut:]
    try:
        whole: bool | int = not data.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        whole = -exc.start - 1  # where the first bad byte is (negative: not text)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(files, "_DECODE_STEP", step)
        try:
            stepped: bool | int = files._utf8_blank(data)
        except UnicodeDecodeError as exc:
            stepped = -exc.start - 1
    assert stepped == whole


def test_a_file_that_is_not_utf8_names_the_row_and_the_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "_DECODE_STEP", 5)  # the bad byte lies steps into the file
    path = tmp_path / "prices.csv"
    path.write_bytes(b"\xef\xbb\xbfsymbol,date,close\nMP,2026-01-02,1.5\nMP,2026-01-05,\xff\n")
    with pytest.raises(ScreenerError, match=r", row 3: not UTF-8 text \(byte 0xff\); save it as CSV UTF-8$"):
        files._read_csv(path)
    blank = tmp_path / "blank.csv"
    blank.write_bytes(b"\xef\xbb\xbf \n\t\r\n\xc2\xa0\n")  # a BOM, then white space only (a no-break space too)
    with pytest.raises(ScreenerError, match="the file is empty"):
        files._read_csv(blank)
    good = tmp_path / "good.csv"
    good.write_bytes(b"\xef\xbb\xbfsymbol,close\nMP,1.5\n")
    assert files._read_csv(good).to_dicts() == [{"symbol": "MP", "close": "1.5"}]
