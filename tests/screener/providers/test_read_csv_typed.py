"""A CSV file's number columns are read as numbers when every cell of them is one that fits
(``files._read_csv`` with ``floats``): the frame, the problems and the rows left out are those of reading every
cell as text, whatever the cells hold (white space, empty cells, NaN, text, numbers too large or of the wrong
sign), and the columns are floats only when nothing had to be said of them."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from screener.providers import files

CELLS = st.sampled_from(
    ["1.5", " 2", "3 ", "", "  ", "1e3", "+4", "-5", "1,5", "abc", "NaN", "inf", "1e400", "0", "-0.0", "0.25", "7."]
)


def _csv(rows: list[tuple[str, str]]) -> bytes:
    lines = ["symbol,date,close,volume"]
    for i, (close, volume) in enumerate(rows):
        quoted = [f'"{c}"' if "," in c else c for c in (close, volume)]
        lines.append(f"MP,2026-01-{i + 1:02d},{quoted[0]},{quoted[1]}")
    return ("\n".join(lines) + "\n").encode()


def _read(path: Path, strict: bool, collect: bool) -> tuple[object, ...]:
    try:
        parsed = files.read_file(path, "prices", strict=strict, collect=collect)
    except files.ContractError as exc:
        return ("refused", str(exc), exc.details)
    return ("read", parsed.frame.to_dicts(), parsed.problems, parsed.rows, parsed.frame.schema)


@settings(max_examples=120, deadline=None)
@given(
    rows=st.lists(st.tuples(CELLS, CELLS), min_size=1, max_size=8),
    strict=st.booleans(),
    collect=st.booleans(),
)
def test_numbers_read_as_numbers_give_what_text_gives(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, str]], strict: bool, collect: bool
) -> None:
    path = tmp_path_factory.mktemp("csv") / "prices.csv"
    path.write_bytes(_csv(rows))
    typed = _read(path, strict, collect)
    with pytest.MonkeyPatch.context() as m:
        real = files._read_csv
        m.setattr(files, "_read_csv", lambda p, floats=(): real(p))  # every cell as text, as before
        text = _read(path, strict, collect)
    assert str(typed) == str(text)  # NaN compares unequal to itself; its text form does not


def test_a_clean_price_file_is_read_with_numbers_and_a_dirty_one_as_text(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_bytes(_csv([("1.5", "100"), (" 2", "")]))
    raw = files._read_csv(path, {"close", "volume"})
    assert raw.schema == pl.Schema({"symbol": pl.String, "date": pl.String, "close": pl.Float64, "volume": pl.Float64})
    path.write_bytes(_csv([("1.5", "100"), ("abc", "")]))
    assert files._read_csv(path, {"close", "volume"}).schema["close"] == pl.String
