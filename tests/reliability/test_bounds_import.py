"""Bounded import: a number too large for its column is a row's problem, and no message line runs past 300
characters.

Found in testing: ``target_year = 1e20`` ended an import with ``Internal error: InvalidOperationError``, and one
warning line was 68,948 characters long."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from screener.contract import KINDS
from screener.errors import MAX_LINE, MIN_WORD, and_more, clip
from screener.providers.files import parse_frame
from tests.builders import initialised
from tests.reliability.conftest import one_company

#: A text each column type parses, so a row holds exactly one bad cell: the one under test.
PLAIN = {"str": "X", "date": "2024-01-02", "float": "1", "int": "2027", "bool": "true"}
NUMERIC = [
    (kind, col.name, col.dtype) for kind, spec in KINDS.items() for col in spec.columns if col.dtype in ("float", "int")
]


def raw_row(kind: str, column: str, value: str) -> pl.DataFrame:
    spec = KINDS[kind]
    cells = {c.name: [PLAIN[c.dtype]] for c in spec.columns}
    cells[column] = [value]
    return pl.DataFrame(cells, schema=dict.fromkeys(cells, pl.String))


@pytest.mark.parametrize(("kind", "column", "dtype"), NUMERIC, ids=[f"{k}.{c}" for k, c, _ in NUMERIC])
@pytest.mark.parametrize("value", ["1e400", "-1e400", "1e20", "9223372036854775808", "1" + "0" * 400])
@pytest.mark.parametrize("strict", [True, False], ids=["refuse", "quarantine"])
def test_overflow_in_any_number_column_is_a_row_problem(
    kind: str, column: str, dtype: str, value: str, strict: bool
) -> None:
    parsed = parse_frame(raw_row(kind, column, value), kind, Path(f"{kind}.csv"), strict=strict, collect=True)
    if dtype == "float" and value in ("1e20", "9223372036854775808"):
        # a large float is a number; only the plausibility bound (strict) speaks of it
        assert all("out of range" not in p[3] for p in parsed.problems)
        return
    mine = [p for p in parsed.problems if p[2] == column]
    assert mine and mine[0][0] == 2, parsed.problems
    assert "number out of range" in mine[0][3]
    assert len(mine[0][3]) < 120  # a 400-digit number is named, not printed
    assert parsed.frame.height == 0  # the row is kept out of validation and storage


def companies_csv(tmp_path: Path) -> Path:
    path = tmp_path / "companies.csv"
    path.write_text("symbol,name,country,currency,roles,stage\nAAA,Alpha,US,USD,processor,producer\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding one company, made once: each case copies it."""
    from screener.store import Store

    path = tmp_path_factory.mktemp("overflow") / "store.duckdb"
    with Store(path) as store:
        store.upsert(
            "companies",
            one_company(),
            provider="file",
        )
    return path


@pytest.mark.parametrize("flags", [(), ("--quarantine",)], ids=["refuse", "quarantine"])
@pytest.mark.parametrize("year", ["1e20", "-9.3e18", "1e400"])
def test_target_year_overflow_through_the_cli(
    invoke, template: Path, db_path: Path, tmp_path: Path, flags: tuple[str, ...], year: str
) -> None:
    shutil.copy(template, db_path)
    count = ("query", "select count(*) as n from events", "--format", "json")
    before = invoke(*count).stdout
    events = tmp_path / "events.csv"
    events.write_text(
        "symbol,date,kind,description,target_year\n"
        f"AAA,2024-01-02,offtake,first,{year}\n"
        "AAA,2024-01-03,offtake,second,2027\n",
        encoding="utf-8",
    )
    result = invoke("import", *flags, str(events))
    assert result.exit_code == 1
    assert "Internal error" not in result.stderr
    assert f"events.csv, row 2, column target_year: number out of range '{year}'" in result.stderr
    assert invoke(*count).stdout == before


def test_no_stderr_line_passes_the_bound(invoke, tmp_path: Path, store_template, db_path: Path) -> None:
    initialised(store_template, db_path)
    path = tmp_path / "companies.csv"
    extra = [f"unknown_column_{i}" for i in range(3000)]
    long_symbol = "A B" + "x" * 70_000
    path.write_text(
        ",".join(["symbol", "name", "country", "currency", "roles", "stage", *extra])
        + "\n"
        + ",".join([long_symbol, "N" * 70_000, "US", "USD", "processor", "producer", *["1"] * len(extra)])
        + "\n",
        encoding="utf-8",
    )
    result = invoke("import", str(path))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines and all(len(line) <= MAX_LINE for line in lines), max(map(len, lines))
    assert re.search(r"invalid symbol 'A BX+…X+'$", result.stderr.splitlines()[-1])


def test_a_warning_about_thousands_of_columns_names_a_few_and_counts_the_rest(
    invoke, tmp_path: Path, store_template, db_path: Path
) -> None:
    initialised(store_template, db_path)
    path = tmp_path / "companies.csv"
    extra = [f"unknown_column_{i}" for i in range(3000)]
    path.write_text(
        ",".join(["symbol", "name", "country", "currency", "roles", "stage", *extra])
        + "\n"
        + ",".join(["AAA", "Alpha", "US", "USD", "processor", "producer", *["1"] * len(extra)])
        + "\n",
        encoding="utf-8",
    )
    result = invoke("import", str(path))
    assert result.exit_code == 0, result.stderr
    assert all(len(line) <= MAX_LINE for line in result.stderr.splitlines())
    assert "ignoring 3000 unknown column(s): unknown_column_0, " in result.stderr
    assert "… and 2992 more" in result.stderr


def test_the_files_passed_over_are_named_a_few_and_counted(
    invoke, tmp_path: Path, store_template, db_path: Path
) -> None:
    initialised(store_template, db_path)
    folder = tmp_path / "in"
    folder.mkdir()
    companies_csv(folder)
    for i in range(400):  # files the import passes over: the warning names a few and counts the rest
        (folder / f"notes-{i:03d}-{'x' * 100}.txt").write_text("x", encoding="utf-8")
    result = invoke("import", str(folder))
    assert result.exit_code == 0, result.stderr
    assert all(len(line) <= MAX_LINE for line in result.stderr.splitlines())
    assert "… and 395 more" in result.stderr


@given(st.text(max_size=1000), st.integers(min_value=60, max_value=400))
def test_clip_bounds_every_line_and_keeps_its_start(text: str, limit: int) -> None:
    out = clip(text, limit)
    assert len(out) <= limit
    if len(text) <= limit:
        assert out == text
    else:
        assert "…" in out
        assert out[: MIN_WORD // 2] == text[: MIN_WORD // 2] or out.split("…")[0] == text[: len(out.split("…")[0])]


def test_clip_cuts_the_longest_word_and_keeps_the_rest_whole() -> None:
    path = "/home/analyst/" + "deep/" * 50 + "prices.csv"
    line = f"Error: {path}, row 3, column close: failed (value '10.1 after 0.2'); use --quarantine to store the rest"
    out = clip(line)
    assert len(out) <= MAX_LINE < len(line)
    assert out.startswith("Error: /home/analyst/") and "…" in out and "/prices.csv, row 3, column close" in out
    assert out.endswith("(value '10.1 after 0.2'); use --quarantine to store the rest")


def test_clip_of_many_short_words_cuts_the_middle_and_says_how_much() -> None:
    line = " ".join(f"w{i}" for i in range(1000))
    out = clip(line)
    assert len(out) <= MAX_LINE
    assert out.startswith("w0 w1 w2") and out.endswith("w998 w999")
    assert re.search(r" … \(\d+ characters cut\) … ", out)


@given(st.lists(st.integers(), max_size=50), st.integers(min_value=1, max_value=10))
def test_and_more_names_the_first_and_counts_the_rest(items: list[int], shown: int) -> None:
    text = and_more(items, shown)
    if len(items) > shown:
        assert text.endswith(f"… and {len(items) - shown} more")
        assert text.startswith(", ".join(str(i) for i in items[:shown]))
    else:
        assert text == ", ".join(str(i) for i in items)


def test_json_output_is_never_clipped(invoke, tmp_path: Path, store_template, db_path: Path) -> None:
    """The bound is on message lines (stderr, tables); data output carries every character."""
    initialised(store_template, db_path)
    path = tmp_path / "companies.csv"
    long_name = "N" * 5000
    path.write_text(
        f"symbol,name,country,currency,roles,stage\nAAA,{long_name},US,USD,processor,producer\n", encoding="utf-8"
    )
    assert invoke("import", str(path)).exit_code == 0
    rows = json.loads(invoke("universe", "list", "--format", "json").stdout)
    assert {r["symbol"]: r["name"] for r in rows}["AAA"] == long_name
