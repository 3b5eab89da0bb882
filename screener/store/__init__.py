"""The DuckDB store: the only package that persists anything, and the only one that speaks SQL.

One module per concern (``connection``, ``market``, ``live``, ``logs``, ``scores``, ``runs``, ``backtests``,
``suggestions``, ``headlines``), each a part of the one ``Store`` class (``store``), so that callers hold a single
object and a transaction spans every concern.

Why the names below are loaded on first use: importing any module of this package runs this file first.
``opening``, which starts DuckDB's open of a store while a command's code and the store's classes are still
loading, must come without them; ``from screener.store import Store`` works as it always did.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from screener.paths import resolve_db_path
    from screener.store.connection import StoreBase, WriteMode, utcnow
    from screener.store.market import (
        DEFAULT_PRECEDENCE,
        DEMO_PROVIDER,
        PROVIDER_PRECEDENCE,
        UpsertResult,
        precedence,
    )
    from screener.store.store import Store, open_store

#: Each name this package gives, and the module that defines it.
_HOMES: dict[str, str] = {
    "DEFAULT_PRECEDENCE": "screener.store.market",
    "DEMO_PROVIDER": "screener.store.market",
    "PROVIDER_PRECEDENCE": "screener.store.market",
    "Store": "screener.store.store",
    "StoreBase": "screener.store.connection",
    "UpsertResult": "screener.store.market",
    "WriteMode": "screener.store.connection",
    "open_store": "screener.store.store",
    "precedence": "screener.store.market",
    "resolve_db_path": "screener.paths",
    "utcnow": "screener.store.connection",
}

__all__ = [
    "DEFAULT_PRECEDENCE",
    "DEMO_PROVIDER",
    "PROVIDER_PRECEDENCE",
    "Store",
    "StoreBase",
    "UpsertResult",
    "WriteMode",
    "open_store",
    "precedence",
    "resolve_db_path",
    "utcnow",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # once: later reads are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
