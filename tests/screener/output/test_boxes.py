"""Terminal tables drawn without rich draw what rich drew: the same characters, and in a terminal the same escapes.

The reference is ``_rich_table_text``: the table drawn with ``rich.table`` exactly as ``to_table_text`` drew it
before ``screener.output.boxes`` replaced it. Hypothesis compares the two on random frames, titles, widths and
texts (East Asian wide characters, combining marks, joiners, tabs, newlines, control characters, very long text,
headers that wrap), in and out of a terminal and under the environment variables rich reads; examples pin the
edge cases by their text.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from screener.output import boxes
from screener.output.render import (
    _PER_COLUMN,
    EVERYTHING,
    View,
    _rich_print,
    table_layout,
    to_table_text,
)
from screener.output.terminal import terminal_safe

#: The environment variables rich reads when it decides how to draw (cleared around every comparison).
RICH_ENVIRONMENT = (
    "TERM",
    "COLORTERM",
    "NO_COLOR",
    "FORCE_COLOR",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "COLUMNS",
    "LINES",  # a height rich is given makes it take the width it is given too, even in a dumb terminal
    "JUPYTER_COLUMNS",
    "JUPYTER_LINES",
)


class _Stream(io.StringIO):
    """A text stream that is a terminal or not, in a given encoding."""

    def __init__(self, tty: bool = False, encoding: str = "utf-8") -> None:
        super().__init__()
        self._tty = tty
        self._encoding = encoding

    def isatty(self) -> bool:
        return self._tty

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._encoding


def _rich_table_text(
    frame: pl.DataFrame, title: str | None = None, stream: IO[str] | None = None, view: View = EVERYTHING
) -> None:
    """``to_table_text`` as it was when rich drew every table: the same layout (``table_layout``, unchanged),
    drawn by rich's console and table. The reference ``boxes`` is held to."""
    out = stream or io.StringIO()
    columns, rows, total, width, is_tty = table_layout(frame, view, out)
    _rich_print(columns, rows, None if title is None else terminal_safe(title), out, max(width, total), is_tty)


def _rich_boxes_text(
    columns: list[boxes.Column], rows: list[tuple[str, ...]], title: str | None, mode: boxes.Mode
) -> str:
    """``boxes.Column``s drawn by rich the way ``to_table_text`` drew them (``_rich_print``), in a terminal when
    ``mode.styled``, with none of the environment rich reads."""
    out = _Stream(encoding="latin-1" if mode.ascii else "utf-8")
    width = 1 + _PER_COLUMN * len(columns) + sum(c.width for c in columns)
    with _environment({}):
        _rich_print(columns, rows, title, out, width, mode.styled)
    return out.getvalue()


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Exactly ``values`` of the variables rich reads, for the block."""
    saved = {k: os.environ.get(k) for k in RICH_ENVIRONMENT}
    try:
        for k in RICH_ENVIRONMENT:
            os.environ.pop(k, None)
        os.environ.update(values)
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _outcome(draw: Any, *args: Any, **kwargs: Any) -> tuple[str, str]:
    """What a draw wrote, or the exception it raised (rich meets an ``IndexError`` or a ``ZeroDivisionError`` on a
    few runs of joiners, where ``boxes`` measures one character at a time and draws the table)."""
    stream = kwargs.pop("stream")
    try:
        draw(*args, stream=stream, **kwargs)
    except Exception as exc:
        return "error", type(exc).__name__
    return "text", stream.getvalue()


# -- strategies -----------------------------------------------------------------------------------------------------
#: Characters that exercise measuring: ASCII, East Asian wide (2 cells), combining marks and joiners (0 cells),
#: emoji, variation selectors, ideographic and no-break spaces, tabs, newlines, control characters (escaped by
#: ``terminal_safe``), the ellipsis itself.
ALPHABET = st.one_of(
    st.sampled_from(list("abcxyz ABC019_.-,;:/")),
    st.sampled_from(list("日本語中文한국어カタカナ")),
    st.sampled_from(
        ["\u0301", "\u0308", "\u200d", "\ufe0f", "😀", "👍", "\U0001f3fd", "\u3000", "\xa0", "…", "é", "ß"]
    ),
    st.sampled_from(["\t", "\n", "\x1b", "\x07", "\r", "\u202e", "\x9b"]),
    st.characters(codec="utf-8", exclude_categories=("Cs",)),
)
TEXT = st.one_of(st.text(ALPHABET, max_size=12), st.text(ALPHABET, min_size=20, max_size=90))
NAME = st.one_of(
    st.sampled_from(
        ["rank", "symbol", "name", "score", "reason", "country", "roles", "market_cap_usd", "net_cash_usd"]
    ),
    st.sampled_from(["dilution_risk_pct", "chain.exposure_share", "a_very_long_field_name_that.wraps_at_parts", ""]),
    st.text(st.sampled_from(list("abcd_.日本x")), min_size=1, max_size=40),
)
TITLE = st.one_of(st.none(), st.just(""), st.sampled_from(["Watchlist default 2026-W22", "Backtest 7: ic"]), TEXT)
KIND = st.sampled_from(["text", "float", "int", "money", "percentile"])
ENVIRONMENT = st.sampled_from(
    [
        {},
        {"TERM": "xterm-256color"},
        {"TERM": "dumb"},
        {"TERM": "unknown", "NO_COLOR": "1"},
        {"NO_COLOR": "1"},
        {"FORCE_COLOR": "1"},
        {"FORCE_COLOR": ""},
        {"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"},
        {"TTY_COMPATIBLE": "1"},
        {"COLORTERM": "truecolor"},
    ]
)


@st.composite
def frames(draw: st.DrawFn) -> pl.DataFrame:
    """A listing of up to six columns and five rows, of text, numbers, money and percentiles, nulls included."""
    names = draw(st.lists(NAME, max_size=6, unique=True))
    height = draw(st.integers(0, 5))
    data: dict[str, pl.Series] = {}
    for name in names:
        kind = draw(KIND)
        if kind == "text":
            values = draw(st.lists(st.one_of(st.none(), TEXT), min_size=height, max_size=height))
            data[name] = pl.Series(name, values, dtype=pl.String)
        elif kind == "int":
            values = draw(
                st.lists(st.one_of(st.none(), st.integers(-(10**12), 10**12)), min_size=height, max_size=height)
            )
            data[name] = pl.Series(name, values, dtype=pl.Int64)
        else:
            floats = st.one_of(st.just(float("nan")), st.floats(min_value=-1e15, max_value=1e15))
            values = draw(st.lists(st.one_of(st.none(), floats), min_size=height, max_size=height))
            suffix = {"money": "_usd", "percentile": "_pct"}.get(kind, "")
            column = name if name.endswith(suffix) else name + suffix
            if column in data:
                continue
            data[column] = pl.Series(column, values, dtype=pl.Float64)
    return pl.DataFrame(list(data.values())) if data else pl.DataFrame()


@st.composite
def views(draw: st.DrawFn, frame: pl.DataFrame) -> View:
    columns = tuple(draw(st.lists(st.sampled_from(frame.columns), max_size=3))) if frame.columns else ()
    right = tuple(draw(st.lists(st.sampled_from(frame.columns), max_size=2))) if frame.columns else ()
    return View(
        columns=columns if draw(st.booleans()) else (),
        wide=draw(st.booleans()),
        cut=draw(st.booleans()),
        fit=draw(st.booleans()),
        right=right,
    )


# -- the property -------------------------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    frame=frames(),
    title=TITLE,
    data=st.data(),
    width=st.integers(20, 220),
    tty=st.booleans(),
    environment=ENVIRONMENT,
    encoding=st.sampled_from(["utf-8", "UTF-8", "latin-1"]),
)
def test_to_table_text_writes_what_rich_wrote(
    frame: pl.DataFrame,
    title: str | None,
    data: st.DataObject,
    width: int,
    tty: bool,
    environment: dict[str, str],
    encoding: str,
) -> None:
    view = data.draw(views(frame))
    with _environment({**environment, "COLUMNS": str(width)}):
        ours = _outcome(to_table_text, frame, title, view=view, stream=_Stream(tty, encoding))
        theirs = _outcome(_rich_table_text, frame, title, view=view, stream=_Stream(tty, encoding))
    _same_or_drawn_where_rich_failed(ours, theirs)


def _same_or_drawn_where_rich_failed(ours: tuple[str, str], theirs: tuple[str, str]) -> None:
    """The same text as rich; where rich raised (a few runs of zero-width joiners), a table instead of an error."""
    if theirs[0] == "error" and theirs[1] in ("IndexError", "ZeroDivisionError"):
        assert ours[0] == "text", ours
    else:
        assert ours == theirs


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[boxes.Column], list[tuple[str, ...]]]:
    """Columns of any width (none included) with any header, wrapped or not, and rows of any text."""
    count = draw(st.integers(0, 5))
    columns = [
        boxes.Column(terminal_safe(draw(TEXT)), draw(st.integers(0, 14)), draw(st.booleans())) for _ in range(count)
    ]
    rows = draw(st.lists(st.tuples(*(TEXT.map(terminal_safe) for _ in columns)), max_size=4)) if columns else []
    return columns, rows


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(table=tables(), title=TITLE.map(lambda t: None if t is None else terminal_safe(t)), styled=st.booleans())
def test_boxes_draw_any_columns_as_rich_does(
    table: tuple[list[boxes.Column], list[tuple[str, ...]]], title: str | None, styled: bool
) -> None:
    """Widths and headers beyond what ``_widths`` chooses (a column of no width, a header wider than its column),
    in a terminal and not, with the ASCII box of a stream that is not UTF-8."""
    columns, rows = table
    for mode in (boxes.Mode(styled=styled), boxes.Mode(styled=styled, ascii=True)):
        try:
            theirs: tuple[str, str] = ("text", _rich_boxes_text(columns, rows, title, mode))
        except Exception as exc:
            theirs = ("error", type(exc).__name__)
        try:
            ours: tuple[str, str] = ("text", boxes.table_text(columns, rows, title, mode))
        except Exception as exc:
            ours = ("error", type(exc).__name__)
        _same_or_drawn_where_rich_failed(ours, theirs)


# -- the edge cases, by their text ----------------------------------------------------------------------------------
def _draw(frame: pl.DataFrame, title: str | None = None, *, tty: bool = False, width: int = 120, **view: Any) -> str:
    """The table ``to_table_text`` writes, checked against rich's."""
    with _environment({"COLUMNS": str(width)}):
        out = _Stream(tty)
        to_table_text(frame, title, stream=out, view=View(**view))
        reference = _Stream(tty)
        _rich_table_text(frame, title, stream=reference, view=View(**view))
    assert out.getvalue() == reference.getvalue()
    return out.getvalue()


def test_title_is_centred_over_the_table_with_the_odd_space_on_the_right() -> None:
    text = _draw(pl.DataFrame({"symbol": ["MP"], "score": [0.5]}), "odd")
    assert text == (
        "       odd        \n"
        "┏━━━━━━━━┳━━━━━━━┓\n"
        "┃ symbol ┃ score ┃\n"
        "┡━━━━━━━━╇━━━━━━━┩\n"
        "│ MP     │   0.5 │\n"
        "└────────┴───────┘\n"
    )


def test_a_title_wider_than_the_table_is_wrapped_at_words_folding_long_ones_each_line_centred() -> None:
    text = _draw(pl.DataFrame({"a": ["x"]}), "Watchlist default 2026-W22")
    assert text.splitlines()[:7] == ["Watch", "list ", "defau", " lt  ", "2026-", " W22 ", "┏━━━┓"]


def test_headers_wrap_at_underscores_and_sit_at_the_bottom_of_the_header_row() -> None:
    frame = pl.DataFrame({"symbol": ["MP"], "net_cash_usd": [1.5e9], "x": ["y" * 60]})
    assert _draw(frame, width=40, fit=True, wide=True) == (
        "┏━━━━━━━━┳━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━┓\n"
        "┃        ┃  net_ ┃                     ┃\n"
        "┃        ┃ cash_ ┃                     ┃\n"
        "┃ symbol ┃   usd ┃ x                   ┃\n"
        "┡━━━━━━━━╇━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━┩\n"
        "│ MP     │ 1.5bn │ yyyyyyyyyyyyyyyyyy… │\n"
        "└────────┴───────┴─────────────────────┘\n"
    )


def test_a_cut_cell_ends_in_an_ellipsis_and_a_wide_character_at_the_cut_becomes_a_space() -> None:
    frame = pl.DataFrame({"name": ["日本語の会社名がとても長いです株式会社" * 2], "score": [1.0]})
    # 18 cells of text: 8 wide characters, then half of the ninth as a space, then the ellipsis
    assert _draw(frame, width=30, fit=True).splitlines()[3] == "│ 日本語の会社名が … │     1 │"


def test_terminal_headers_are_bold_and_the_title_italic() -> None:
    assert _draw(pl.DataFrame({"symbol": ["MP"]}), "T", tty=True, width=80) == (
        "\x1b[3m    T     \x1b[0m\n"
        "┏━━━━━━━━┓\n"
        "┃\x1b[1m \x1b[0m\x1b[1msymbol\x1b[0m\x1b[1m \x1b[0m┃\n"
        "┡━━━━━━━━┩\n"
        "│ MP     │\n"
        "└────────┘\n"
    )


def test_a_dumb_terminal_gets_no_escapes() -> None:
    frame = pl.DataFrame({"symbol": ["MP"]})
    with _environment({"TERM": "dumb", "COLUMNS": "80"}):
        out = _Stream(tty=True)
        to_table_text(frame, "T", stream=out)
    assert "\x1b" not in out.getvalue() and "symbol" in out.getvalue()


def test_a_dumb_terminal_narrower_than_the_table_gets_rich_s_80_columns() -> None:
    """rich takes a dumb terminal for 80 columns whatever it is told, and shrinks every column of a wider table;
    that table is left to rich (``_needs_rich``), so it still comes out as before."""
    frame = pl.DataFrame({"symbol": ["MP"], **{f"figure_{i}": [123456.0] for i in range(8)}})
    with _environment({"TERM": "dumb", "COLUMNS": "160"}):
        out, reference = _Stream(tty=True), _Stream(tty=True)
        to_table_text(frame, "T", stream=out)
        _rich_table_text(frame, "T", stream=reference)
    assert out.getvalue() == reference.getvalue()
    widest = max(len(line) for line in out.getvalue().splitlines())
    assert widest == 80, (widest, {k: os.environ.get(k) for k in RICH_ENVIRONMENT}, out.getvalue())


def test_zero_rows_one_column_empty_strings_and_no_columns() -> None:
    assert _draw(pl.DataFrame({"symbol": []}, schema={"symbol": pl.String})) == (
        "┏━━━━━━━━┓\n┃ symbol ┃\n┡━━━━━━━━┩\n└────────┘\n"
    )
    assert _draw(pl.DataFrame({"a": ["", ""], "b": [None, 1.0]})) == (
        "┏━━━┳━━━┓\n┃ a ┃ b ┃\n┡━━━╇━━━┩\n│   │   │\n│   │ 1 │\n└───┴───┘\n"
    )
    assert _draw(pl.DataFrame(), "no columns") == "\n"


def test_right_aligned_text_loses_trailing_blanks_left_aligned_keeps_them() -> None:
    frame = pl.DataFrame({"l": ["ab   "], "r": ["ab   "]})
    assert "│ ab    │    ab │" in _draw(frame, right=("r",))


def test_a_wide_table_is_printed_whole_past_the_width() -> None:
    frame = pl.DataFrame({"symbol": ["MP"], **{f"figure_{i}": [123456.0] for i in range(12)}})
    lines = re.sub(r"\x1b\[[0-9;]*m", "", _draw(frame, tty=True, width=40, wide=True)).splitlines()
    assert {len(line) for line in lines} == {1 + 3 * 13 + 6 + 12 * 9}  # every figure whole: 123,456.0


def test_tabs_in_text_are_expanded_to_stops_of_eight() -> None:
    assert boxes.expand_tabs("a\tb") == "a       b"
    assert boxes.expand_tabs("\t") == " " * 8
    assert boxes.expand_tabs("日本語\tx") == "日本語  x"  # six cells, then two to the stop


def test_under_a_live_progress_bar_the_table_goes_to_the_stream_behind_rich_s_stdout_proxy() -> None:
    from rich.console import Console
    from rich.file_proxy import FileProxy

    frame = pl.DataFrame({"symbol": ["MP"]})
    bar = io.StringIO()
    ours, theirs = _Stream(), _Stream()
    to_table_text(frame, stream=FileProxy(Console(file=bar), ours))  # type: ignore[arg-type]
    _rich_table_text(frame, stream=FileProxy(Console(file=bar), theirs))  # type: ignore[arg-type]
    assert ours.getvalue() == theirs.getvalue() == "┏━━━━━━━━┓\n┃ symbol ┃\n┡━━━━━━━━┩\n│ MP     │\n└────────┘\n"
    assert bar.getvalue() == ""


def test_a_reader_that_left_raises_broken_pipe() -> None:
    class _Closed(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError

    with pytest.raises(BrokenPipeError):
        to_table_text(pl.DataFrame({"a": ["x"]}), stream=_Closed())


def test_drawing_a_table_imports_neither_rich_table_nor_rich_console() -> None:
    import subprocess
    import sys

    script = (
        "import io, sys, polars as pl\n"
        "from screener.output.render import to_table_text\n"
        "class T(io.StringIO):\n"
        "    def isatty(self): return True\n"
        "to_table_text(pl.DataFrame({'a': ['x'], 'b': [1.0]}), 'title', stream=T())\n"
        "print(sorted(m for m in ('rich.table', 'rich.console', 'rich.text') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stderr


@pytest.mark.parametrize("name", ["\u200d\u200d界 Materials", "\u200d\u200d😀 Metals", "\u200d\u200d\u3000x"])
def test_joiner_runs_rich_cannot_measure_still_draw_a_table_cut_to_its_width(name: str) -> None:
    """rich.cells raises on two zero-width joiners before a wide character; a stored name like that must still
    give a table (cut with an ellipsis where it is too long, every line as wide as the others), not a traceback."""
    from rich.cells import set_cell_size as rich_set_cell_size

    def rich_fails(width: int) -> bool:
        try:
            rich_set_cell_size(name, width)
        except (IndexError, ZeroDivisionError):
            return True
        return False

    assert any(rich_fails(w) for w in range(14))  # the failure guarded against, at some width
    for width in range(1, 14):
        text = boxes.table_text([boxes.Column("name", width, False)], [(name,)], "Names", boxes.Mode(styled=False))
        lines = text.splitlines()
        assert len({boxes.cell_len(line) for line in lines[1:]}) == 1, lines
    frame = pl.DataFrame({"symbol": ["A"], "name": [name]})
    narrow = _Stream(False)
    with _environment({"COLUMNS": "16"}):
        to_table_text(frame, None, stream=narrow, view=View(fit=True))
    assert name[:2] in narrow.getvalue() or "…" in narrow.getvalue()
