"""Library errors name arguments by their Python parameter, never by a command-line flag; the CLI adds the flag.

Why: ``refresh(store, workers=0)`` called from a script must not talk about ``--workers``, an option the caller never
saw; the command line must still read exactly as before (the CLI tests assert those texts).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import polars as pl
import pytest

from screener.cli.app import flag_of
from screener.errors import ArgumentError, Option
from screener.intake.refresh import refresh
from screener.intake.universe import tag
from screener.providers.files import read_paths
from screener.store import Store
from screener.watchlist.screen import conditions

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("screener", "factors", "rules")
CLI_AND_OUTPUT = ("screener/cli/", "screener/output/")
_FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]*")
#: Flags library strings still name; the list only shrinks, and it is empty: every message names its argument by
#: parameter (``ArgumentError``/``Option``), labels filters through the caller's namer, or leaves the command hint
#: to the CLI (``CompletedWithProblems.rejected``).
KNOWN: set[tuple[str, str]] = set()


def flags_named(source: str) -> set[str]:
    """The ``--flag`` words in the string literals of ``source``, docstrings left out (they may cite the CLI)."""
    tree = ast.parse(source)
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        flag
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
        for flag in _FLAG.findall(node.value)
    }


def _library_flags() -> set[tuple[str, str]]:
    found = set()
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if not rel.startswith(CLI_AND_OUTPUT):
                found |= {(rel, f) for f in flags_named(path.read_text(encoding="utf-8"))}
    return found


def test_the_flag_scan_reads_strings_not_docstrings_nor_code() -> None:
    source = '''"""Module doc: --doc."""
def f(x):
    """Doc: --also-doc."""
    y = x--1
    raise ValueError(f"--workers must be at least {x}; see 'screener validate --rejected'")
'''
    assert flags_named(source) == {"--workers", "--rejected"}


def test_library_strings_name_no_new_flag() -> None:
    assert _library_flags() <= KNOWN


def test_an_argument_error_names_the_parameter_and_the_cli_words_its_flag() -> None:
    exc = ArgumentError(Option("max_requests"), " must be 0 or more, e.g. ", Option("max_requests"), " 100")
    assert str(exc) == "max_requests must be 0 or more, e.g. max_requests 100"
    assert exc.options == ["max_requests", "max_requests"]
    assert exc.worded(flag_of) == "--max-requests must be 0 or more, e.g. --max-requests 100"
    assert flag_of("roles") == "--role" and flag_of("countries") == "--country"


@pytest.mark.parametrize(
    ("arguments", "library", "cli"),
    [
        ({"workers": 0}, "workers must be at least 1", "--workers must be at least 1"),
        (
            {"max_requests": -1},
            "max_requests must be 0 (no budget) or more",
            "--max-requests must be 0 (no budget) or more",
        ),
    ],
)
def test_refresh_refuses_bad_limits_without_naming_a_flag(
    store: Store, arguments: dict[str, int], library: str, cli: str
) -> None:
    with pytest.raises(ArgumentError) as caught:
        refresh(store, **arguments)  # type: ignore[arg-type]
    assert str(caught.value) == library
    assert caught.value.worded(flag_of) == cli


def test_tag_without_a_source_names_the_parameter(store: Store) -> None:
    cols = ["symbol", "name", "country", "currency", "roles", "stage"]
    store.upsert(
        "companies", pl.DataFrame([("MP", "MP", "US", "USD", "miner", "producer")], schema=cols, orient="row"), "file"
    )
    with pytest.raises(ArgumentError) as caught:
        tag(store, "MP", ["miner"], [], "  ")
    assert str(caught.value).startswith("source is empty: say why the tags change")
    assert caught.value.worded(flag_of).startswith("--source is empty: say why the tags change")


def test_screen_arguments_are_named_by_parameter(store: Store) -> None:
    scores = pl.DataFrame({"symbol": ["MP"], "roles": ["miner"], "net_cash_usd": [1.0]})
    with pytest.raises(ArgumentError) as caught:
        conditions(scores, ["procesor"], [], None)
    assert str(caught.value).startswith("roles: unknown role 'procesor'")
    assert caught.value.worded(flag_of).startswith("--role: unknown role 'procesor'")


def test_an_unnamed_kind_asks_for_the_kind_parameter(tmp_path: Path) -> None:
    path = tmp_path / "mystery.csv"
    path.write_text("symbol\nMP\n", encoding="utf-8")
    with pytest.raises(ArgumentError) as caught:
        read_paths([path])
    assert "--" not in str(caught.value) and "pass kind (" in str(caught.value)
    assert "cannot tell the kind from the file name; pass --kind (" in caught.value.worded(flag_of)


def test_a_bad_where_is_an_expression_error_named_by_parameter(store: Store) -> None:
    from rules.expr import ExprError

    scores = pl.DataFrame({"symbol": ["MP"], "roles": ["miner"], "net_cash_usd": [1.0]})
    with pytest.raises(ExprError) as caught:
        conditions(scores, [], [], "net_cash_usd >")
    assert isinstance(caught.value, ArgumentError) and caught.value.options == ["where"]
    assert str(caught.value).startswith("where: ") and "--" not in str(caught.value)
    assert caught.value.worded(flag_of) == "--" + str(caught.value)


def test_quarantined_rows_are_counted_on_the_error_and_the_cli_says_where_to_list_them(tmp_path: Path, invoke) -> None:
    from screener.errors import CompletedWithProblems
    from screener.intake.imports import import_paths

    body = "symbol,date,close\nAAA,2024-01-02,10\nAAA,2024-01-03,-1\n"
    path = tmp_path / "prices.csv"
    path.write_text(body, encoding="utf-8")
    with Store(tmp_path / "lib.duckdb") as store, pytest.raises(CompletedWithProblems) as caught:
        import_paths(store, [path], quarantine=True).raise_if_problems()
    assert caught.value.rejected == 1 and "--" not in str(caught.value)
    res = invoke("import", str(path), "--quarantine")
    assert res.stderr.rstrip().endswith(
        "1 row(s) failed validation and were quarantined; see 'screener validate --rejected'"
    )


def test_a_newer_store_names_the_db_argument(tmp_path: Path) -> None:
    path = tmp_path / "future.duckdb"
    with Store(path) as s:
        s.con.execute("INSERT INTO schema_version VALUES (999, 'future', NULL)")
    with pytest.raises(ArgumentError) as caught:
        Store(path)
    assert str(caught.value).endswith("use another db") and caught.value.worded(flag_of).endswith("use another --db")


def test_screen_filters_are_labelled_by_the_callers_namer(store: Store) -> None:
    scores = pl.DataFrame({"symbol": ["MP"], "roles": ["miner"], "country": ["US"], "net_cash_usd": [1.0]})
    labels = [label for label, _ in conditions(scores, ["miner"], ["US"], "net_cash_usd > 0")]
    assert labels == ["roles", "countries", "where"]
    named = [label for label, _ in conditions(scores, ["miner"], ["US"], "net_cash_usd > 0", label_of=flag_of)]
    assert named == ["--role", "--country", "--where"]
