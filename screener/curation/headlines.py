"""Headlines into the store: from Yahoo's news (``refresh --news``) and from a user's file (``events
import-headlines``), both through one validated intake.

Why one intake: a headline is text from outside, like every other input. ``store_headlines`` runs the
great-expectations ``headlines`` suite first and stores only what passes (refresh records the rest as rejected; a
user's file is refused whole), so no path stores a headline that skipped the checks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from screener.errors import ScreenerError
from screener.intake import Intake, Policy, admit, check
from screener.providers.files import EARLIEST_DATE
from screener.store.headlines import HEADLINE_SCHEMA

if TYPE_CHECKING:
    from screener.providers.yahoo import YahooProvider
    from screener.store import Store

#: The ``refresh_state`` part of a symbol's news.
NEWS_PART = "news"
#: Columns of a headlines file: the first two are required.
FILE_COLUMNS: tuple[str, ...] = ("headline", "published_at", "symbol", "publisher", "link")
FILE_REQUIRED: tuple[str, ...] = ("headline", "published_at")
FILE_PROVIDER = "file"
#: Times past this year are typing mistakes (and beyond what the validation's nanosecond clock can hold).
LATEST_YEAR = 2200
#: The most rows a headlines file may hold. Why a bound: the file is validated and hashed whole before anything is
#: stored, and a feed's archive of hundreds of thousands of rows is better split and imported in parts.
MAX_FILE_ROWS = 50_000
#: A failing value longer than this is cut in the one-line error: the line must stay readable.
_SHOWN_CHARS = 60


def headline_id(provider: str, *parts: object) -> str:
    """A stable, short id: the same provider and the same parts always give the same id, on any machine.

    Yahoo's stories are identified by Yahoo's own id; a file's rows by link, text and publication time (a row
    imported twice is the same headline, not two)."""
    text = "\x1f".join([provider, *("" if p is None else str(p) for p in parts)])
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def with_ids(frame: pl.DataFrame, provider: str, source: str) -> pl.DataFrame:
    """``frame`` (provider rows: ``native_id`` for Yahoo, else link, headline and time) in the stored shape."""
    if "native_id" in frame.columns:
        ids = [headline_id(provider, n) for n in frame["native_id"].to_list()]
    else:
        ids = [
            headline_id(provider, link, text, when.isoformat() if when else None)
            for link, text, when in frame.select("link", "headline", "published_at").iter_rows()
        ]
    out = frame.with_columns(
        pl.Series("id", ids, dtype=pl.String), pl.lit(provider).alias("provider"), pl.lit(source).alias("source")
    )
    return out.select([pl.col(c).cast(t) for c, t in HEADLINE_SCHEMA.items()])


def store_headlines(
    store: Store,
    frame: pl.DataFrame,
    provider: str,
    source: str,
    *,
    now: datetime,
    policy: Policy = "quarantine",
) -> Intake:
    """Validate headlines with the ``headlines`` suite, then store the passing ones (the one door for headlines).

    ``now`` (UTC, naive) bounds publication times: a headline published after it is a clock or time-zone mistake.
    The caller reads the clock; validation never does, so a test passes a fixed time."""
    rows = with_ids(frame, provider, source)
    checked = check("headlines", rows, source, today=now)
    if policy == "refuse" and checked.failures.height:
        # the one-line error names the first failing value; a long headline is cut, so the line stays readable
        first = checked.failures.row(0, named=True)
        value = (
            first["value"]
            if first["value"] is None or len(first["value"]) <= _SHOWN_CHARS
            else (first["value"][: _SHOWN_CHARS - 3] + "...")
        )
        raise ScreenerError(
            f"{first['source']}, row {first['row']}, column {first['column_name']}: failed {first['expectation']} "
            f"(value {value!r}); nothing was stored ({checked.failures.height} failing value(s))"
        )
    return admit(store, checked, provider, write=lambda passing: store.upsert_headlines(passing), policy=policy)


# -- a user's file -------------------------------------------------------------------------------------------------
def _parse_time(text: str) -> datetime | None:
    """``YYYY-MM-DD`` (midnight UTC) or an ISO 8601 time, with ``Z`` or an offset (converted to UTC) or without
    (taken as UTC); None when it is neither."""
    try:
        stamp = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is not None:
        from datetime import UTC

        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    return stamp


def read_headlines_file(path: str | Path) -> pl.DataFrame:
    """A headlines file (CSV, XLSX or Parquet; ``docs/data-formats.md``) as rows to validate.

    Raises a one-line ``ScreenerError`` naming the file, row and column for a missing column or a time that is not
    a date; text is left as written, for validation to judge."""
    from screener.providers.files import _read_raw

    p = Path(path)
    raw = _read_raw(p)
    raw.columns = [c.strip() for c in raw.columns]
    missing = [c for c in FILE_REQUIRED if c not in raw.columns]
    if missing:
        raise ScreenerError(
            f"{p}, row 1, column {missing[0]}: missing required column (required: headline, published_at)"
        )
    if raw.height == 0:
        raise ScreenerError(f"{p}: the file has a header but no rows")
    if raw.height > MAX_FILE_ROWS:
        raise ScreenerError(
            f"{p}: {raw.height:,} rows, more than the {MAX_FILE_ROWS:,} a headlines file may hold; "
            "split it and import the parts"
        )
    text = {c: raw[c] if c in raw.columns else pl.Series(c, [None] * raw.height, dtype=pl.String) for c in FILE_COLUMNS}
    times = []
    for i, value in enumerate(text["published_at"].to_list()):
        if value is None or not value.strip():
            times.append(None)  # the suite reports it as required
            continue
        stamp = _parse_time(value)
        if stamp is None:
            raise ScreenerError(
                f"{p}, row {i + 2}, column published_at: not a date or time {value!r} "
                "(use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)"
            )
        if not EARLIEST_DATE.year <= stamp.year <= LATEST_YEAR:
            raise ScreenerError(
                f"{p}, row {i + 2}, column published_at: {value!r} is not a publication time "
                f"(a year from {EARLIEST_DATE.year} to {LATEST_YEAR})"
            )
        times.append(stamp)
    blank_to_null = lambda s: s.str.strip_chars().replace("", None)  # noqa: E731
    return pl.DataFrame(
        {
            "symbol": blank_to_null(text["symbol"]).str.to_uppercase(),
            "headline": text["headline"].replace("", None),
            "publisher": blank_to_null(text["publisher"]),
            "link": blank_to_null(text["link"]),
            "published_at": pl.Series("published_at", times, dtype=pl.Datetime("us")),
        }
    )


def import_headlines(store: Store, path: str | Path, *, now: datetime) -> Intake:
    """Read a user's headlines file and store it whole, or nothing: the first failing value is the error.
    ``now`` (UTC) bounds publication times."""
    frame = read_headlines_file(path)
    return store_headlines(store, frame, FILE_PROVIDER, str(path), now=now, policy="refuse")


# -- Yahoo's news, during refresh ----------------------------------------------------------------------------------
@dataclass
class NewsReport:
    """What a news fetch did: symbols asked, headlines stored and rejected, and the symbols whose answer was empty
    or failed (those are not marked fresh, so the next refresh asks again)."""

    asked: int = 0
    stored: int = 0
    rejected: int = 0
    skipped: int = 0
    empty: list[str] | None = None
    failed: list[str] | None = None

    def summary(self) -> str:
        empty, failed = self.empty or [], self.failed or []
        text = f"news: {self.stored} new headline(s) stored from {self.asked} symbol(s)"
        if self.skipped:
            text += f", {self.skipped} fresh"
        if self.rejected:
            text += f", {self.rejected} rejected by validation"
        if empty:
            listed = ", ".join(empty[:8]) + (" ..." if len(empty) > 8 else "")
            text += f"; no stories from {listed} (unknown: asked again next run)"
        if failed:
            text += f"; failed for {', '.join(failed[:8])}{' ...' if len(failed) > 8 else ''}"
        return text


def fetch_news(
    store: Store,
    provider: YahooProvider,
    symbols: Sequence[str],
    *,
    now: datetime,
    max_age: timedelta,
    note: Callable[[str], None] | None = None,
) -> NewsReport:
    """Fetch and store Yahoo's latest stories for each of ``symbols`` not fetched within ``max_age``.

    A symbol's news is marked fresh only when Yahoo sent at least one story and it was stored: an empty answer is
    what throttling looks like, so it stores nothing and is asked again next run. A failure stays with its symbol;
    a stopped run (deadline, budget) ends the loop."""
    from screener.providers.yahoo import PROVIDER_NAME, ProviderError, Stopped

    say = note or (lambda _msg: None)
    state = store.refresh_state()
    fetched = {s: f for s, p, f in state.select("subject", "part", "fetched_at").iter_rows() if p == NEWS_PART and f}
    report = NewsReport(empty=[], failed=[])
    for sym in symbols:
        last = fetched.get(sym)
        if last is not None and max_age > timedelta(0) and now - last < max_age:
            report.skipped += 1
            continue
        report.asked += 1
        source = f"{PROVIDER_NAME}:news:{sym}"
        try:
            frame = provider.news(sym)
        except Stopped as exc:
            store.mark_refreshed(sym, NEWS_PART, status="failed", complete=False, message=str(exc), at=now)
            report.failed.append(sym)  # type: ignore[union-attr]
            break
        except ProviderError as exc:
            store.mark_refreshed(sym, NEWS_PART, status="failed", complete=False, message=str(exc), at=now)
            report.failed.append(sym)  # type: ignore[union-attr]
            continue
        if frame.height == 0:
            store.mark_refreshed(
                sym, NEWS_PART, status="no_stories", complete=False, message="Yahoo sent no stories", at=now
            )
            report.empty.append(sym)  # type: ignore[union-attr]
            continue
        with store.transaction():
            result = store_headlines(store, frame, PROVIDER_NAME, source, now=now)
            complete = result.rejected < result.rows
            store.mark_refreshed(
                sym,
                NEWS_PART,
                status="ok" if not result.rejected else "rejected",
                complete=complete,
                message=f"{result.stored} new of {result.rows} stories" if complete else "every story rejected",
                at=now,
            )
        report.stored += result.stored
        report.rejected += result.rejected
    say(report.summary())
    return report
