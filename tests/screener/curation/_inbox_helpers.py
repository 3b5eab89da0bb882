"""A small universe and a headlines file shared by the inbox tests."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from screener.store import Store

UNIVERSE = [
    ("MP", "MP Materials Corp.", "US", "USD", "miner;processor;magnet_maker", "producer"),
    ("LYC.AX", "Lynas Rare Earths Ltd", "AU", "AUD", "miner;processor", "producer"),
    ("NEO.TO", "Neo Performance Materials Inc.", "CA", "CAD", "processor;magnet_maker", "producer"),
    ("F", "Ford Motor Company", "US", "USD", "downstream_user", "producer"),
]

#: Headlines with fixed publication times (never the clock's), one per line of the file below.
HEADLINES = """headline,published_at,symbol,publisher,link
Lynas halts production at its Texas plant as funding talks stall,2025-08-27T03:00:00Z,,Example Wire,https://example.com/lynas
MP Materials signs binding offtake agreement with an automaker for NdFeB magnets,2025-07-10T23:30:00-05:00,,Example News,https://example.com/mp
Construction begins on the new separation plant,2025-06-02,NEO.TO,Example Daily,https://example.com/neo
Mystery firm raises capital in a share placement,2025-05-01,,,
"""


def add_universe(store: Store) -> None:
    cols = ["symbol", "name", "country", "currency", "roles", "stage"]
    store.upsert("companies", pl.DataFrame(UNIVERSE, schema=cols, orient="row"), "file")


def write_headlines(folder: Path, text: str = HEADLINES, name: str = "headlines.csv") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def inbox_rows(invoke, *args: str) -> list[dict]:
    """``screener events inbox --format json ARGS`` as rows (the command must succeed)."""
    result = invoke("events", "inbox", "--format", "json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def by_start(rows: list[dict], start: str) -> dict:
    """The candidate whose headline starts with ``start``."""
    return next(r for r in rows if r["headline"].startswith(start))


def inbox_store(store_template, db_path: Path, tmp_path: Path) -> Path:
    """``db_path`` as a store with the small universe and the four headlines of ``HEADLINES`` imported through the
    CLI: imported once per session (``store_template``) and copied here; the headlines file is written to
    ``tmp_path`` too, as the import left it."""
    from click.testing import CliRunner

    from screener.cli import cli
    from tests.builders import copy_template

    def fill(store: Store, folder: Path) -> None:
        add_universe(store)
        store.close()  # the command opens the store file itself
        args = ["--db", str(store.path), "events", "import-headlines", str(write_headlines(folder)), "--format", "json"]
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)[0]["stored"] == 4

    write_headlines(tmp_path)
    return copy_template(store_template("inbox", fill)[0], db_path)
