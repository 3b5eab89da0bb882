"""Live-data tables beside the contract kinds: provider profiles, share-count history, refresh freshness.

The store (``screener.store.live``) owns their SQL; these names stay for the callers that read or write them as
functions of a store.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

import polars as pl

from screener.store import Store
from screener.store.live import PROFILE_SCHEMA, SHARES_SCHEMA

__all__ = [
    "PROFILE_SCHEMA",
    "SHARES_SCHEMA",
    "closes_on",
    "last_dates",
    "mark_refreshed",
    "profiles",
    "refresh_state",
    "share_history",
    "upsert_profiles",
    "upsert_share_history",
]


def upsert_profiles(store: Store, frame: pl.DataFrame, provider: str, *, loaded_at: datetime | None = None) -> int:
    """Store provider profiles; an earlier rejection of the same symbol's profile is resolved by it."""
    return store.upsert_profiles(frame, provider, loaded_at=loaded_at)


def upsert_share_history(store: Store, frame: pl.DataFrame, provider: str, *, loaded_at: datetime | None = None) -> int:
    """Store daily share counts; an earlier rejection of the same (symbol, date) is resolved by it."""
    return store.upsert_share_history(frame, provider, loaded_at=loaded_at)


def profiles(store: Store, symbols: Iterable[str] | None = None) -> pl.DataFrame:
    """Stored provider profiles by symbol."""
    return store.profiles(symbols)


def share_history(store: Store, symbols: Iterable[str] | None = None) -> pl.DataFrame:
    """Stored daily share counts by symbol and date."""
    return store.share_history(symbols)


def refresh_state(store: Store) -> pl.DataFrame:
    """One row per subject and part: when it last completed, was last tried, how that went and since when the
    answer has been empty."""
    return store.refresh_state()


def mark_refreshed(
    store: Store,
    subject: str,
    part: str,
    *,
    status: str,
    complete: bool,
    message: str | None = None,
    at: datetime | None = None,
    empty: bool | None = None,
) -> None:
    """Record an attempt; only a complete fetch moves ``fetched_at``, so a failed part is retried on the next run."""
    store.mark_refreshed(subject, part, status=status, complete=complete, message=message, at=at, empty=empty)


def last_dates(store: Store, table: str, key: str) -> dict[str, date]:
    """Newest stored date per symbol (``prices``, ``share_history``) or per currency (``fx``)."""
    return store.last_dates(table, key)


def closes_on(store: Store, wanted: dict[str, date]) -> dict[str, float]:
    """The stored close of each symbol on a given date: the overlap that reveals a split or a unit change."""
    return store.closes_on(wanted)
