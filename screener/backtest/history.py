"""Stored backtests: save a finished result, load one back by id or ``latest``, list them.

Why a backtest is stored whole: ``screener backtest --show ID`` must print exactly what the run printed, without
recomputing (the data, the rule file and the code may all have moved since). The store keeps the result's blob
(``BacktestResult.to_blob``) with its parameters beside it as JSON text, so a list reads without unpacking tables.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import polars as pl

from screener.backtest.result import BacktestParams, BacktestResult
from screener.errors import ArgumentError, Option, ScreenerError
from screener.store import Store, utcnow

__all__ = ["LIST_SCHEMA", "list_backtests", "load_backtest", "save_backtest"]

#: The columns of ``list_backtests``, in order. ``rules_hash`` is the rule file's content hash cut to 8 characters.
LIST_SCHEMA: dict[str, Any] = {
    "id": pl.Int64,
    "created_at": pl.Datetime("us"),
    "rules": pl.String,
    "rules_hash": pl.String,
    "start": pl.Date,
    "end": pl.Date,
    "every": pl.String,
    "dates": pl.Int64,
    "cagr": pl.Float64,
    "sharpe": pl.Float64,
    "demo": pl.Boolean,
}
HASH_CHARS = 8


def _created_text(at: datetime) -> str:
    return at.replace(microsecond=0).isoformat() + "Z"


def save_backtest(store: Store, result: BacktestResult, *, clock: Callable[[], datetime] | None = None) -> int:
    """Store ``result`` in one transaction and return its id; ``result.backtest_id`` and ``created_at`` are filled.

    ``clock`` gives the naive UTC time the backtest is stamped with (default: the store's ``utcnow``, looked up
    when called, so a test can pin either)."""
    created = (clock or utcnow)()
    backtest_id = store.save_backtest(
        created_at=created,
        rules_name=result.rules_name,
        rules_hash=result.rules_hash,
        params=json.dumps(result.params.to_dict(), sort_keys=True),
        demo=result.demo,
        n_dates=len(result.dates),
        payload=result.to_blob(),
    )
    result.backtest_id = backtest_id
    result.created_at = _created_text(created)
    return backtest_id


def resolve_backtest_id(store: Store, ref: int | str | None, *, parameter: str = "ref") -> int:
    """``None``/``latest`` -> the newest stored backtest; else an id that exists. ``parameter`` names ``ref`` in
    an error (the CLI words it as its flag)."""
    ids = store.backtest_ids()
    if not ids:
        raise ScreenerError("no stored backtests yet: run 'screener backtest' first")
    if ref is None or str(ref).strip().lower() == "latest":
        return ids[-1]
    try:
        backtest_id = int(str(ref).strip())
    except ValueError:
        raise ArgumentError(Option(parameter), f" must be a backtest id or 'latest', got {ref!r}") from None
    if backtest_id not in ids:
        raise ScreenerError(f"no stored backtest {backtest_id}; stored: {_id_list(ids)}")
    return backtest_id


def _id_list(ids: list[int], most: int = 20) -> str:
    shown = ids[-most:]
    text = ", ".join(str(i) for i in shown)
    return text if len(ids) <= most else f"{text} (the newest {most} of {len(ids)})"


def load_backtest(store: Store, ref: int | str | None = None, *, parameter: str = "ref") -> BacktestResult:
    """The stored backtest ``ref`` names (an id, ``latest`` or None for the latest), exactly as it was stored."""
    backtest_id = resolve_backtest_id(store, ref, parameter=parameter)
    row = store.backtest_row(backtest_id)
    assert row is not None  # resolve_backtest_id checked that it exists
    return BacktestResult.from_blob(bytes(row[7]), backtest_id=int(row[0]), created_at=_created_text(row[1]))


def _head(blob: bytes) -> dict[str, Any]:
    """The JSON head of a stored result (its figures), without reading its tables."""
    n = int.from_bytes(blob[:8], "big")
    return json.loads(blob[8 : 8 + n].decode("utf-8"))


def _figure(portfolio: dict[str, Any], key: str) -> float | None:
    value = portfolio.get(key)
    return float(value) if isinstance(value, int | float) else None


def list_backtests(store: Store) -> pl.DataFrame:
    """Every stored backtest, newest first: id, when, rules and hash, the date range and rebalance step, how many
    dates, the portfolio's CAGR and Sharpe ratio (null when not measurable), and whether it ran on demo data."""
    rows = []
    for r in store.backtest_list().iter_rows(named=True):
        params = BacktestParams.from_dict(json.loads(r["params"]))
        portfolio = _head(bytes(r["payload"])).get("portfolio") or {}
        rows.append(
            {
                "id": r["id"],
                "created_at": r["created_at"],
                "rules": r["rules_name"],
                "rules_hash": (r["rules_hash"] or "")[:HASH_CHARS],
                "start": params.start,
                "end": params.end,
                "every": params.every,
                "dates": r["n_dates"],
                "cagr": _figure(portfolio, "cagr"),
                "sharpe": _figure(portfolio, "sharpe"),
                "demo": bool(r["demo"]),
            }
        )
    return pl.DataFrame(rows, schema=LIST_SCHEMA)
