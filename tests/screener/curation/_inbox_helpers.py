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
