"""Terminal safety: stored text never reaches a terminal as control sequences, and csv, json and xlsx keep it exact.

A company name imported from a CSV once cleared the screen (``ESC[2J``), coloured the rest of the table and planted
an OSC-8 hyperlink through ``universe list``, ``show`` and ``watchlist show``. Every table now shows such characters
as visible escapes (one place: the table renderer), and import says once that a file carries them."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from screener.errors import MAX_LINE
from screener.output.render import View, render
from screener.output.terminal import CONTROL, message_text, terminal_safe
from tests.builders import MARKET_END, initialised, market_frames

#: Each sequence a hostile cell may carry: erase the screen, colours, a cursor move, a window title, an OSC-8
#: hyperlink (BEL- and ST-terminated), a CSI in its one-byte C1 form, a bell, a backspace, a bidi override.
SEQUENCES = (
    "\x1b[2J",
    "\x1b[31;1m",
    "\x1b[10A",
    "\x1b]0;pwned\x07",
    "\x1b]8;;https://evil.example/\x07click\x1b]8;;\x07",
    "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\",
    "\x9b2J",
    "\x07",
    "\x08\x08",
    "\u202eevil",
    "\r",
)
HOSTILE_NAME = "Evil " + "".join(SEQUENCES) + " Corp"
#: How every other company's name opens, and how it is shown escaped.
NAME_OPENING, NAME_OPENING_SHOWN = "\x1b[31;1m", "\\x1b[31;1m"
#: The characters no terminal output may carry raw.
RAW = ("\x1b", "\x9b", "\x07", "\x08", "\u202e", "\r")


def assert_terminal_safe(text: str) -> None:
    for ch in RAW:
        assert ch not in text, f"raw {ch!r} reached the terminal: {text!r}"


# -- the one function -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sequence", SEQUENCES)
def test_each_sequence_is_escaped_visibly(sequence: str) -> None:
    shown = terminal_safe(f"a{sequence}b")
    assert_terminal_safe(shown)
    assert shown.startswith("a") and shown.endswith("b")
    assert "\\x" in shown or "\\u" in shown  # shown as an escape, not silently dropped


def test_tab_newline_and_plain_unicode_are_kept() -> None:
    text = "Société\tMétaux\nréunis → 磁石"
    assert terminal_safe(text) == text


@given(st.text())
def test_no_control_character_survives(text: str) -> None:
    shown = terminal_safe(text)
    assert CONTROL.search(shown) is None
    # only the control characters change: the rest of the text is kept, in order
    assert CONTROL.sub("", text) == re.sub(r"\\x[0-9a-f]{2}|\\u[0-9a-f]{4}", "", shown) or "\\" in text


@given(st.text(min_size=0, max_size=2000))
def test_message_lines_are_bounded_and_safe(text: str) -> None:
    for line in message_text(text).split("\n"):
        assert len(line) <= MAX_LINE
        assert CONTROL.search(line) is None


# -- the table renderer ---------------------------------------------------------------------------------------------
def test_table_escapes_cells_title_and_headers_but_csv_and_json_keep_the_text() -> None:
    frame = pl.DataFrame({"symbol": ["EVIL"], "name": [HOSTILE_NAME], "bad\x1b[2Jcol": ["x"]})
    out = io.StringIO()
    render(frame, "table", out, title="list \x1b]0;t\x07", view=View(wide=True, cut=False))
    assert_terminal_safe(out.getvalue())
    assert "\\x1b[2J" in out.getvalue()  # the reader sees what the cell holds

    out = io.StringIO()
    render(frame, "csv", out)
    assert list(csv.reader(io.StringIO(out.getvalue(), newline="")))[1][1] == HOSTILE_NAME
    out = io.StringIO()
    render(frame, "json", out)
    assert json.loads(out.getvalue())[0]["name"] == HOSTILE_NAME


# -- every listing command, through the real CLI ----------------------------------------------------------------------
@pytest.fixture
def template(store_template) -> Path:
    """The small market with one company named hostile and every other name opening with a colour sequence (so the
    watchlist and its changes, whoever is in them, carry one), and two weekly runs (so diff has two to compare);
    built once per run."""

    def fill(store, _folder: Path) -> None:
        from screener.watchlist.runs import run_weekly

        frames = market_frames()
        frames["companies"] = frames["companies"].with_columns(
            pl.when(pl.col("symbol") == "PROC")
            .then(pl.lit(HOSTILE_NAME))
            .otherwise(pl.lit(NAME_OPENING) + pl.col("name"))
            .alias("name")
        )
        frames["events"] = frames["events"].with_columns(pl.lit("deal \x1b[5m signed").alias("description"))
        for kind, frame in frames.items():
            store.upsert(kind, frame, provider="file")
        run_weekly(store, "default", MARKET_END - timedelta(days=7))
        run_weekly(store, "default", MARKET_END)

    return store_template("hostile-terminal", fill)[0]


@pytest.fixture
def market(template: Path, db_path: Path) -> Path:
    shutil.copy(template, db_path)
    return db_path


AS_OF = ("--as-of", MARKET_END.isoformat())


@pytest.mark.parametrize(
    "args",
    [
        ("universe", "list"),
        ("show", "PROC", *AS_OF),
        ("watchlist", "show"),
        ("watchlist", "show", "--wide"),
        ("watchlist", "diff"),
        ("screen", *AS_OF, "--wide"),
        ("query", "select name from companies"),
    ],
    ids=lambda a: " ".join(a[:3]),
)
def test_listing_commands_never_print_raw_sequences(market: Path, invoke, args: tuple[str, ...]) -> None:
    result = invoke(*args)
    assert result.exit_code == 0, result.stderr
    assert_terminal_safe(result.stdout)
    assert_terminal_safe(result.stderr)
    if args[0] in ("universe", "query"):
        assert "Evil \\x1b[2J" in result.stdout  # escaped where it is shown, not hidden
    if args[0] == "watchlist":
        # the stored run's names reach the list and its changes: the hostile text is really on screen, escaped
        assert NAME_OPENING_SHOWN in result.stdout, result.stdout


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_csv_and_json_carry_the_stored_text_exactly(market: Path, invoke, fmt: str) -> None:
    result = invoke("universe", "list", "--format", fmt)
    assert result.exit_code == 0, result.stderr
    if fmt == "json":
        names = {r["symbol"]: r["name"] for r in json.loads(result.stdout)}
    else:
        names = {r["symbol"]: r["name"] for r in csv.DictReader(io.StringIO(result.stdout, newline=""))}
    assert names["PROC"] == HOSTILE_NAME


def test_xlsx_keeps_the_text_exactly(market: Path, invoke, tmp_path: Path) -> None:
    import openpyxl

    out = tmp_path / "list.xlsx"
    result = invoke("export", str(out))
    assert result.exit_code == 0, result.stderr
    ws = openpyxl.load_workbook(out, read_only=True)["Universe"]
    cells = [c for row in ws.iter_rows(values_only=True) for c in row if isinstance(c, str)]
    # a control character is stored as the OOXML escape ``_xHHHH_``, which Excel and LibreOffice read back as the
    # character (openpyxl leaves it as written): decoded, the cell is the stored text
    names = [re.sub(r"_x([0-9A-F]{4})_", lambda m: chr(int(m.group(1), 16)), c) for c in cells]
    assert HOSTILE_NAME in names


def test_import_warns_once_about_control_characters(invoke, tmp_path: Path, store_template, db_path: Path) -> None:
    path = tmp_path / "companies.csv"
    rows = "".join(f'H{i},"Name {i} \x1b[2J",US,USD,processor,producer\n' for i in range(40))
    path.write_text("symbol,name,country,currency,roles,stage\n" + rows, encoding="utf-8")
    initialised(store_template, db_path)
    result = invoke("import", str(path))
    assert result.exit_code == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if "control characters" in line]
    assert len(warned) == 1
    assert "40 text cell(s)" in warned[0] and "row 2, column name" in warned[0]
    assert_terminal_safe(result.stderr)
    listed = invoke("universe", "list", "--format", "json")
    stored = {r["symbol"]: r["name"] for r in json.loads(listed.stdout)}
    assert stored["H0"] == "Name 0 \x1b[2J"  # stored as given


def test_clean_import_does_not_warn(invoke, tmp_path: Path, store_template, db_path: Path) -> None:
    path = tmp_path / "companies.csv"
    path.write_text(
        'symbol,name,country,currency,roles,stage,description\nH1,"Tab\there",US,USD,processor,producer,"two\nlines"\n',
        encoding="utf-8",
    )
    initialised(store_template, db_path)
    result = invoke("import", str(path))
    assert result.exit_code == 0, result.stderr
    assert "control characters" not in result.stderr


def test_an_error_quoting_hostile_text_is_one_safe_line(invoke, tmp_path: Path) -> None:
    result = invoke("show", "\x1b[2J\x1b]8;;http://x\x07NOPE")
    assert result.exit_code == 1
    assert_terminal_safe(result.stderr)
    assert all(len(line) <= MAX_LINE for line in result.stderr.splitlines())


@pytest.mark.parametrize("command", ["check", "explain"])
def test_a_rule_file_with_escape_sequences_prints_safely(invoke, tmp_path: Path, command: str) -> None:
    path = tmp_path / "hostile.toml"
    path.write_text(
        'name = "hostile"\ndescription = "\\u001b[2J\\u001b]8;;http://evil\\u0007click \\u009b31m"\n'
        "[weights]\nlocalization_premium = 1\n",
        encoding="utf-8",
    )
    result = invoke("rules", command, str(path))
    assert result.exit_code == 0, result.stderr
    assert_terminal_safe(result.stdout + result.stderr)


def test_an_internal_error_line_is_bounded_and_safe(
    invoke, monkeypatch: pytest.MonkeyPatch, store_template, db_path: Path
) -> None:
    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("bad value \x1b[2J\x1b]8;;http://evil\x07" + "\x1b" * 400 + "v" * 5000 + "\nsecond line")

    initialised(store_template, db_path)  # a reader needs a store (it never creates one)
    monkeypatch.setattr("screener.intake.universe.list_universe", boom)
    result = invoke("universe", "list")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and len(lines[0]) <= MAX_LINE
    assert lines[0].startswith("Internal error: RuntimeError: bad value \\x1b[2J")
    assert lines[0].endswith("(rerun with SCREENER_DEBUG=1 for details)")
    assert_terminal_safe(result.stderr)
