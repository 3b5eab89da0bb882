"""Library errors name arguments by their Python parameter, never by a command-line flag; the CLI adds the flag.

Why: ``refresh(store, workers=0)`` called from a script must not talk about ``--workers``, an option the caller never
saw; the command line must still read exactly as before (the CLI tests assert those texts).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from screener.cli.app import flag_of
from screener.errors import ArgumentError, Option
from screener.importer import read_paths
from screener.refresh import refresh
from screener.screen import conditions
from screener.store import Store
from screener.universe import tag


def test_an_argument_error_names_the_parameter_and_the_cli_words_its_flag() -> None:
    exc = ArgumentError(Option("max_requests"), " must be 0 or more, e.g. ", Option("max_requests"), " 100")
    assert str(exc) == "max_requests must be 0 or more, e.g. max_requests 100"
    assert exc.options == ["max_requests", "max_requests"]
    assert exc.worded(flag_of) == "--max-requests must be 0 or more, e.g. --max-requests 100"


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
    assert str(caught.value).startswith("role: unknown role 'procesor'")
    assert caught.value.worded(flag_of).startswith("--role: unknown role 'procesor'")


def test_an_unnamed_kind_asks_for_the_kind_parameter(tmp_path: Path) -> None:
    path = tmp_path / "mystery.csv"
    path.write_text("symbol\nMP\n", encoding="utf-8")
    with pytest.raises(ArgumentError) as caught:
        read_paths([path])
    assert "--" not in str(caught.value) and "pass kind (" in str(caught.value)
    assert "cannot tell the kind from the file name; pass --kind (" in caught.value.worded(flag_of)
