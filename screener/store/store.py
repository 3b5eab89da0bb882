"""``Store``: the one object over every concern of the store (``connection``, ``market``, ``live``, ``logs``,
``scores``, ``runs``, ``backtests``, ``suggestions``, ``headlines``), so that callers hold a single object and a
transaction spans every concern."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from screener.store.backtests import Backtests
from screener.store.connection import WriteMode
from screener.store.headlines import Headlines
from screener.store.live import LiveData
from screener.store.logs import Logs
from screener.store.market import MarketData
from screener.store.runs import Runs
from screener.store.scores import Scores
from screener.store.suggestions import Suggestions


class Store(MarketData, LiveData, Logs, Scores, Runs, Backtests, Suggestions, Headlines):
    """An open DuckDB file with the schema at the latest version.

    Use as a context manager; ``transaction()`` wraps a group of writes so that they land together or not at all.
    """


@contextmanager
def open_store(
    path: str | os.PathLike[str] | None = None,
    *,
    read_only: bool = False,
    writes: WriteMode = "hold",
    wait: float = 0.0,
) -> Iterator[Store]:
    """The store for the block, closed after it; ``writes`` and ``wait`` as ``StoreBase`` takes them."""
    store = Store(path, read_only=read_only, writes=writes, wait=wait)
    try:
        yield store
    finally:
        store.close()
