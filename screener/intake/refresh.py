"""``screener refresh``: bring the store up to date from Yahoo Finance without ever making it worse.

The run, step by step:

1. **Plan.** For every symbol, read when each part last completed (``refresh_state``): *fundamentals* (info,
   the six statements, the share history) and *prices* (closes, volumes and split actions). A part fresher than
   ``--max-age`` is skipped, and a symbol with nothing stale costs no request at all. Prices start at the last
   stored date, inclusive: the overlapping day reveals a split or a unit change, which triggers one full re-fetch.
2. **Fetch** in a bounded thread pool (default 2 workers). Workers talk only to the provider, never to the store
   (one DuckDB connection, one writer). Rate limits are retried inside the provider with exponential backoff and
   jitter. The run has a deadline and a request budget (``RunGuard``); when either is spent, or Yahoo stays
   unavailable for several symbols in a row, the run stops asking: the remaining symbols are "not attempted",
   keep what is stored, are not marked fresh, and the run says why in one line. Any other failure stays with its
   symbol: one bad symbol never stops the others. A stored profile is enough to go on when Yahoo's quote (``info``)
   fails: statements and prices are still fetched.
3. **Judge empty answers.** Yahoo answers a throttled request, or one with an expired crumb, with no data, exactly
   as it answers for a company that has no statements. So an equity whose statements all come back empty is
   ``empty``: unknown, not fresh, a problem for the run (exit 1), and nothing stored is touched. "No statements" is
   concluded only with corroboration: Yahoo lists the symbol as something other than an equity (an ETF, an index,
   a currency), or the answer has stayed empty across runs at least ``EMPTY_CONFIRMATION`` apart
   (``refresh_state.empty_since`` records the first empty answer). A symbol with stored statements is never
   concluded to have none.
4. **Validate** each batch of results with the great-expectations suites (one suite run per kind per batch keeps
   this cheap). The market-cap cross-check compares our shares x close with Yahoo's: a failure holds back that
   symbol's new prices, the usual culprit being a price unit.
5. **Store** each symbol in its own transaction: passing rows are upserted with keep-existing-on-null (a gap in
   Yahoo's answer never erases a stored value), empty frames are never written, failing rows go to
   ``rejected_rows`` with their expectation, every part gets an ingest-log row, and ``refresh_state`` moves only
   for parts that completed, so failures are retried next time.
6. **FX** last: ``XXXUSD=X`` for every currency met (listings, statements), from its last stored date.
7. **Report** a per-symbol summary. Any failure, empty answer, stop or rejected row ends the command with exit 1.
"""

from __future__ import annotations

import re
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from screener.contract import MARKET_SYMBOL, normalise_currency
from screener.errors import ArgumentError, CompletedWithProblems, Option, ScreenerError
from screener.intake import Checked, admit, check
from screener.providers.yahoo import (
    PROVIDER_NAME,
    STATEMENTS,
    NotFound,
    ProviderError,
    RateLimited,
    RunGuard,
    Stopped,
    Unavailable,
    YahooProvider,
    forget_responses,
    fundamentals_frame,
    profile_row,
)
from screener.store import Store, UpsertResult, utcnow
from screener.store.profiles import (
    closes_on,
    last_dates,
    mark_refreshed,
    profiles,
    refresh_state,
    share_history,
    upsert_profiles,
    upsert_share_history,
)
from screener.validation.keys import key_strings

DEFAULT_WORKERS = 2
#: After this many symbols in a row gave up on rate limits (or found no route to Yahoo), the run stops asking.
RATE_LIMIT_BREAKER = 3
#: A stored close and Yahoo's close for the same day further apart than this mean a split or a unit change.
OVERLAP_TOLERANCE = 0.02
#: A run stops asking Yahoo after this long: under throttling, waiting and retrying longer only prolongs it.
DEFAULT_DEADLINE = timedelta(minutes=20)
#: A run makes at most this many requests (each attempt of a provider call counts, retries included).
DEFAULT_MAX_REQUESTS = 3000
#: An empty answer repeated this long after the first one, with nothing stored, means "no statements".
EMPTY_CONFIRMATION = timedelta(days=1)
#: Quote types that publish financial statements; anything else (ETF, INDEX, CURRENCY, ...) has none to fetch.
STATEMENT_QUOTE_TYPES = frozenset({"EQUITY"})
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PARTS = ("fundamentals", "prices")
#: Report statuses: what each says about the data (see docs/live-data.md).
STATUSES = ("ok", "skipped", "rejected", "partial", "failed", "empty", "no_statements", "not_attempted")
_PROBLEM_STATUSES = ("failed", "partial")


# -- --max-age ---------------------------------------------------------------------------------------------------
#: Ages beyond this are typing mistakes (and overflow a timedelta); ten years is already "never refresh".
MAX_AGE_LIMIT = timedelta(days=3650)


def parse_duration(text: str) -> timedelta:
    """``7d``, ``12h``, ``30m``, ``90s``, ``2w`` or ``0`` (always refresh)."""
    t = text.strip().lower()
    if t == "0":
        return timedelta(0)
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhdw])", t)
    if not m:
        raise ValueError(f"{text!r} is not a duration; write e.g. 7d, 12h, 30m or 0")
    seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds > MAX_AGE_LIMIT.total_seconds():
        raise ValueError(f"{text!r} is longer than {MAX_AGE_LIMIT.days} days; use a shorter age")
    return timedelta(seconds=seconds)


def _format_duration(td: timedelta) -> str:
    secs = int(td.total_seconds())
    for unit in ("d", "h", "m"):
        if secs and secs % _UNITS[unit] == 0:
            return f"{secs // _UNITS[unit]}{unit}"
    return f"{secs}s" if secs else "0"


@dataclass(frozen=True)
class MaxAge:
    """How old each part may be before it is fetched again. FX follows ``prices``."""

    fundamentals: timedelta = timedelta(days=7)
    prices: timedelta = timedelta(days=1)

    @classmethod
    def parse(cls, text: str | None) -> MaxAge:
        """``7d`` (both parts), ``prices=12h`` (one part; the other keeps its default) or
        ``fundamentals=7d,prices=1d``."""
        if text is None or not text.strip():
            return cls()
        if "=" not in text:
            d = parse_duration(text)
            return cls(fundamentals=d, prices=d)
        values: dict[str, timedelta] = {}
        for item in text.split(","):
            name, sep, value = item.partition("=")
            name = name.strip().lower()
            if not sep or name not in _PARTS:
                raise ValueError(f"{item.strip()!r}: expected fundamentals=DURATION or prices=DURATION")
            values[name] = parse_duration(value)
        return cls(**values)

    def __str__(self) -> str:
        return f"fundamentals={_format_duration(self.fundamentals)},prices={_format_duration(self.prices)}"


def parse_deadline(text: str | timedelta | None) -> timedelta | None:
    """``--deadline``: a duration (``20m``, ``1h``); ``0`` means no deadline."""
    if text is None:
        return None
    d = text if isinstance(text, timedelta) else parse_duration(text)
    return d if d > timedelta(0) else None


@dataclass(frozen=True)
class Lookback:
    """How far back a first fetch reaches (later fetches start at the last stored date).

    ``split_days``: a first price fetch reaches this far back for split actions (one request either way; only the
    last ``price_days`` of closes are kept), so that splits are known over the whole span of stored statements.
    """

    price_days: int = 730
    fx_days: int = 5 * 365
    share_days: int = 5 * 365
    split_days: int = 5 * 365


# -- plan and fetch ----------------------------------------------------------------------------------------------
@dataclass
class SymbolPlan:
    symbol: str
    fundamentals: bool
    prices: bool
    unit: str | None  # the listing currency the universe records; stored closes are in it
    price_start: date | None = None
    stored_close: float | None = None
    financial_currency: str | None = None
    has_profile: bool = False  # a stored profile lets statements and prices go on when Yahoo's quote fails
    stored_periods: frozenset[str] = frozenset()  # periods of the statements already stored (Q, H, FY)
    empty_since: datetime | None = None  # first of the current run of empty statement answers


@dataclass
class SymbolFetch:
    """What one worker brought back for one symbol; ``problems`` per part are failure reasons."""

    symbol: str
    plan: SymbolPlan
    profile: dict[str, Any] | None = None
    quote_type: str | None = None
    fundamentals: pl.DataFrame | None = None
    shares: pl.DataFrame | None = None
    prices: pl.DataFrame | None = None
    splits: pl.DataFrame | None = None
    quote_currency: str | None = None
    price_unit: str | None = None
    problems: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    not_found: str | None = None
    #: "rate limited" or "unreachable" when the symbol was given up on because of Yahoo, not because of itself
    unavailable: str | None = None
    #: the run's reason when it stopped asking Yahoo before this symbol was done
    stopped: str | None = None
    #: every statement answered with no data (``all``), or the statements of a frequency whose periods are stored
    empty: list[str] = field(default_factory=list)
    all_empty: bool = False
    retries: int = 0
    attempted: bool = False

    def problem(self, part: str, reason: str) -> None:
        self.problems.setdefault(part, []).append(reason)

    @property
    def halted(self) -> bool:
        """Stop asking Yahoo for this symbol: it is unavailable, or the run stopped."""
        return self.unavailable is not None or self.stopped is not None


class _Breaker:
    """Counts symbols in a row that gave up because of Yahoo (rate limits, no connection); at the threshold it stops
    the run through the guard, so that the remaining symbols, FX included, are not attempted."""

    def __init__(self, threshold: int, guard: RunGuard) -> None:
        self.threshold = threshold
        self.guard = guard
        self._run: list[str] = []
        self._lock = threading.Lock()

    def record(self, unavailable: str | None) -> None:
        with self._lock:
            self._run = [*self._run, unavailable] if unavailable else []
            if len(self._run) >= self.threshold:
                why = "was rate-limited (HTTP 429)" if "rate limited" in self._run else "could not be reached"
                self.guard.stop(f"Yahoo Finance {why} for {len(self._run)} symbols in a row")


def _fetch_symbol(
    provider: YahooProvider, plan: SymbolPlan, lookback: Lookback, today: date, guard: RunGuard, breaker: _Breaker
) -> SymbolFetch:
    out = SymbolFetch(plan.symbol, plan)
    reason = guard.reason
    if reason is not None:
        out.stopped = reason
        return out
    out.attempted = True
    ledger = provider.reset_ledger()
    prices_attempted = False
    try:
        if plan.fundamentals:
            _fetch_fundamentals(provider, plan, out, lookback, today)
        if plan.prices and out.not_found is None and not out.halted:
            prices_attempted = True
            _fetch_prices(provider, plan, out, lookback, today)
    except NotFound as exc:
        out.not_found = str(exc)
    except Exception as exc:  # one symbol's surprise must not stop the run
        out.problem("prices" if prices_attempted else "fundamentals", f"unexpected {type(exc).__name__}: {exc}")
    if plan.prices and not prices_attempted and out.not_found is None:
        # Never mark prices as fetched when no price request was made: they must be retried next run.
        out.problem(
            "prices",
            "prices not attempted"
            if out.stopped
            else "not attempted: fundamentals failed first; run refresh again later",
        )
    out.retries = ledger.retries
    breaker.record(out.unavailable)
    return out


#: What ``_attempt`` gives for a call that failed (``None`` is a legitimate answer: "empty").
_FAILED: Any = object()


def _attempt(out: SymbolFetch, part: str, call: Callable[[], Any]) -> Any:
    """Run one provider call for ``part``; a failure is recorded on the symbol and gives ``_FAILED``.

    ``NotFound`` propagates (the whole symbol is unknown); ``Unavailable`` and ``Stopped`` also halt the symbol,
    so the caller stops asking Yahoo for it.
    """
    try:
        return call()
    except NotFound:
        raise
    except Stopped as exc:
        out.stopped = str(exc)
        out.problem(part, f"interrupted: {exc}; run refresh again later")
    except Unavailable as exc:
        out.problem(part, str(exc))
        out.unavailable = "rate limited" if isinstance(exc, RateLimited) else "unreachable"
    except ProviderError as exc:
        out.problem(part, str(exc))
    return _FAILED


def _fetch_info(provider: YahooProvider, plan: SymbolPlan, out: SymbolFetch) -> None:
    """Yahoo's quote for the profile and the quote type. Without a stored profile a failure here ends the symbol
    as before (a missing symbol is ``NotFound``); with one, it is a problem of the part and the statements and
    prices are still fetched: the stored profile has what they need (the statement currency)."""
    sym = plan.symbol
    if not plan.has_profile:
        info = _attempt(out, "fundamentals", lambda: provider.info(sym))
    else:
        try:
            info = provider.info(sym)
        except Stopped as exc:
            out.stopped = str(exc)
            out.problem("fundamentals", f"interrupted: {exc}; run refresh again later")
            return
        except ProviderError as exc:  # NotFound and rate limits included: the statements and prices will tell
            out.problem("fundamentals", f"profile not refreshed, the stored one kept ({exc})")
            return
    if info is not _FAILED:
        out.profile = profile_row(sym, info)
        out.quote_type = str(info.get("quoteType") or "").upper() or None


def _fetch_fundamentals(
    provider: YahooProvider, plan: SymbolPlan, out: SymbolFetch, lookback: Lookback, today: date
) -> None:
    sym = plan.symbol
    _fetch_info(provider, plan, out)
    if out.halted:
        return
    tables: dict[tuple[str, str], Any] = {}
    empty: list[tuple[str, str]] = []
    failed = 0
    for statement, freq in STATEMENTS:
        table = _attempt(out, "fundamentals", lambda s=statement, f=freq: provider.statement(sym, s, f))
        if table is _FAILED:
            failed += 1
        elif table is None:
            empty.append((statement, freq))
        else:
            tables[(statement, freq)] = table
        if out.halted:  # keep what came: it is stored, the part stays incomplete (not fresh)
            break
    if not out.halted:
        shares = _attempt(
            out, "fundamentals", lambda: provider.shares(sym, today - timedelta(days=lookback.share_days), today)
        )
        out.shares = None if shares is _FAILED else shares
    if not tables:
        out.all_empty = failed == 0 and not out.halted
        return
    for freq, periods, word in (("yearly", {"FY"}, "annual"), ("quarterly", {"Q", "H"}, "quarterly")):
        wanted = [(s, f) for s, f in STATEMENTS if f == freq]
        if all(k in empty for k in wanted) and plan.stored_periods & periods:
            out.empty.append(f"the {word} statements came back empty, though {word} statements are stored")
    currency = (out.profile or {}).get("financial_currency") or plan.financial_currency
    if not currency:
        out.problem(
            "fundamentals", "statements not stored: their currency is unknown (Yahoo gave no financialCurrency)"
        )
        return
    out.fundamentals = fundamentals_frame(sym, tables, currency, out.shares, notes=out.notes)


def _fetch_prices(provider: YahooProvider, plan: SymbolPlan, out: SymbolFetch, lookback: Lookback, today: date) -> None:
    sym = plan.symbol
    keep_from = today - timedelta(days=lookback.price_days)
    full_start = today - timedelta(days=max(lookback.price_days, lookback.split_days))
    history = _attempt(
        out, "prices", lambda: provider.prices(sym, plan.price_start or full_start, unit=plan.unit, end=today)
    )
    if history is _FAILED:
        return
    frame = history.frame
    if plan.price_start is not None and plan.stored_close and frame.height:
        overlap = frame.filter(pl.col("date") == plan.price_start)["close"].to_list()
        if overlap and abs(overlap[0] / plan.stored_close - 1) > OVERLAP_TOLERANCE:
            out.notes.append(
                f"stored close on {plan.price_start} was {plan.stored_close:g}, Yahoo now says "
                f"{overlap[0]:g} (split or correction): prices re-fetched in full"
            )
            history = _attempt(out, "prices", lambda: provider.prices(sym, full_start, unit=plan.unit, end=today))
            if history is _FAILED:
                return
            frame = history.frame
    if frame.height and frame["date"].min() < keep_from:  # type: ignore[operator]
        frame = frame.filter(pl.col("date") >= keep_from)
    out.quote_currency = history.quote_currency
    out.price_unit = history.unit
    if out.profile is not None:
        out.profile["price_unit"] = history.unit
    out.prices = frame
    out.splits = history.splits
    if history.scale != 1.0:
        out.notes.append(f"prices converted from {history.quote_currency} to {history.unit} (x{history.scale:g})")


# -- the report --------------------------------------------------------------------------------------------------
REPORT_SCHEMA: dict[str, type[pl.DataType]] = {
    "symbol": pl.String,
    "status": pl.String,
    "fundamentals": pl.Int64,
    "shares": pl.Int64,
    "prices": pl.Int64,
    "splits": pl.Int64,
    "fx": pl.Int64,
    "rejected": pl.Int64,
    "retries": pl.Int64,
    "message": pl.String,
}


def _listed(items: list[str], n: int = 8) -> str:
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


@dataclass
class RefreshReport:
    """One row per symbol (and per currency pair): what was stored, what failed and why.

    ``stopped`` is the reason the run stopped asking Yahoo early (deadline, request budget, rate limits), or
    ``None`` when it did not.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    stopped: str | None = None

    def table(self) -> pl.DataFrame:
        symbols = sorted((r for r in self.rows if not r["symbol"].endswith("USD=X")), key=lambda r: r["symbol"])
        pairs = sorted((r for r in self.rows if r["symbol"].endswith("USD=X")), key=lambda r: r["symbol"])
        return pl.DataFrame([*symbols, *pairs], schema=REPORT_SCHEMA, orient="row")

    def _with(self, *statuses: str) -> list[str]:
        return [r["symbol"] for r in self.rows if r["status"] in statuses]

    @property
    def failed(self) -> list[str]:
        """Symbols and pairs with a failed part (``failed`` or ``partial``)."""
        return self._with(*_PROBLEM_STATUSES)

    @property
    def empty(self) -> list[str]:
        """Symbols whose statements came back empty: unknown, not stored as fresh."""
        return self._with("empty")

    @property
    def not_attempted(self) -> list[str]:
        """Symbols and pairs the run did not get to because it stopped early."""
        return self._with("not_attempted")

    @property
    def rejected(self) -> int:
        return sum(r["rejected"] or 0 for r in self.rows)

    def raise_if_problems(self) -> None:
        """Raise ``CompletedWithProblems`` (exit 1) with one line when anything was not fetched, came back empty, or
        was kept out by validation; return quietly when every symbol is ``ok``, ``skipped`` or ``no_statements``."""
        failed, empty, not_attempted = sorted(self.failed), sorted(self.empty), self.not_attempted
        if not (failed or empty or not_attempted or self.rejected or self.stopped):
            return
        parts = []
        if self.stopped or not_attempted:
            parts.append(
                f"stopped early: {self.stopped or 'the run stopped asking Yahoo'}; "
                f"{len(not_attempted)} not attempted (stored data kept, not marked fresh; run refresh "
                "again later to continue)"
            )
        if failed:
            pairs = [r for r in self.rows if r["symbol"].endswith("USD=X")]
            n_sym, n_fx = len(self.rows) - len(pairs), len(pairs)
            bad_fx = sum(1 for f in failed if f.endswith("USD=X"))
            counted = f"{len(failed) - bad_fx} of {n_sym} symbol(s)" + (
                f" and {bad_fx} of {n_fx} fx pair(s)" if bad_fx else ""
            )
            parts.append(f"{counted} had failures ({_listed(failed)})")
        if empty:
            parts.append(
                f"{len(empty)} symbol(s) came back empty from Yahoo, which is unknown, not 'no data' ({_listed(empty)})"
            )
        if self.rejected:
            parts.append(f"{self.rejected} row(s) failed validation and were kept out")
        raise CompletedWithProblems("; ".join(parts) + "; the reasons are in the table above", rejected=self.rejected)


# -- the run -----------------------------------------------------------------------------------------------------
class _Progress:
    """Counts the run's steps and tells ``on_progress`` (label, done, total) at each; the library draws nothing.

    The total grows as the run learns its work (symbols first, then the FX pairs found due)."""

    def __init__(self, on_progress: Callable[[str, int, int], None] | None) -> None:
        self._tell = on_progress
        self.done = 0
        self.total = 0

    def add(self, n: int) -> None:
        if self._tell is not None and n:
            self.total += n
            self._tell("", self.done, self.total)

    def advance(self, label: str) -> None:
        if self._tell is not None:
            self.done += 1
            self._tell(label, self.done, self.total)


def _naive_utc(when: datetime) -> datetime:
    """The store speaks naive UTC; an aware ``now`` is converted, a naive one is taken as UTC."""
    return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo is not None else when


class _RunClock:
    """The run's clock: ``now`` (given or the wall clock at the start) plus the time the run has taken so far.

    Every date a run decides with (its "today", the end of each price request, validation's "future", the age of
    an empty answer) comes from ``now``, never from the wall clock, so a run given the same ``now`` fetches and
    stores the same thing at any hour; the stamps it writes (``loaded_at``, ``fetched_at``) still advance as the
    run goes.
    """

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._t0 = time.monotonic()

    def stamp(self) -> datetime:
        return (self.now + timedelta(seconds=time.monotonic() - self._t0)).replace(microsecond=0)


def _is_fresh(
    state: dict[tuple[str, str], datetime], subject: str, part: str, max_age: timedelta, now: datetime
) -> bool:
    fetched = state.get((subject, part))
    return fetched is not None and max_age > timedelta(0) and now - fetched < max_age


def _universe(store: Store, symbols: Sequence[str] | None) -> tuple[list[str], dict[str, str]]:
    companies = store.company_currencies()
    listing = dict(zip(companies["symbol"].to_list(), companies["currency"].to_list(), strict=True))
    if symbols:
        wanted = sorted({s.strip().upper() for s in symbols if s.strip()})
        bad = [s for s in wanted if s == MARKET_SYMBOL or " " in s]
        if bad:
            raise ScreenerError(f"invalid symbol {bad[0]!r}")
        return wanted, listing
    wanted = [s for s in listing if s != MARKET_SYMBOL]
    if not wanted:
        raise ScreenerError("the universe is empty: run 'screener init' (or import a companies file) first")
    return wanted, listing


def _stored_periods(store: Store, symbols: Sequence[str]) -> dict[str, frozenset[str]]:
    """The statement periods stored per symbol, whoever stored them: an empty answer never outranks them."""
    return store.stored_periods(symbols)


def refresh(
    store: Store,
    provider: YahooProvider | None = None,
    *,
    symbols: Sequence[str] | None = None,
    max_age: MaxAge | str | None = None,
    workers: int = DEFAULT_WORKERS,
    on_progress: Callable[[str, int, int], None] | None = None,
    note: Callable[[str], None] | None = None,
    lookback: Lookback | None = None,
    batch_size: int = 20,
    now: datetime | None = None,
    deadline: timedelta | str | None = DEFAULT_DEADLINE,
    max_requests: int | None = DEFAULT_MAX_REQUESTS,
    monotonic: Callable[[], float] = time.monotonic,
    override_imports: bool = False,
    news: bool = False,
) -> RefreshReport:
    """Refresh ``symbols`` (default: the universe) and return the per-symbol report; see the module docstring.

    ``provider`` defaults to ``YahooProvider()`` on yfinance's own session; pass one built with your own
    ``session=`` to add rate limiting. Call ``report.raise_if_problems()`` to turn failures into an exception.
    ``now`` (default: the wall clock, UTC) is the run's clock: freshness is measured from it and its date is the
    run's "today" (the last day prices and FX are asked for, the limit validation calls "the future").
    ``deadline`` (``None`` or ``0``: none) and ``max_requests`` (``None`` or ``0``: no budget) bound the run; past
    either, the remaining symbols are not attempted (``report.stopped`` says why). ``monotonic`` is the clock the
    deadline is measured on (tests inject one). ``override_imports`` lets Yahoo replace rows of a higher-precedence
    provider (a user's own import, see ``Store.upsert_real``); by default those rows are kept and counted in the
    symbol's message. ``news`` also fetches each symbol's latest Yahoo stories into the catalyst inbox when its
    news is older than the prices' maximum age (``screener.curation.headlines.fetch_news``). ``note`` receives the
    run's notes and warnings, ``on_progress`` ``(label, done, total)`` after each symbol or FX pair (label ``""``
    when the total grows); the library prints nothing itself.
    """
    if workers < 1:
        raise ArgumentError(Option("workers"), " must be at least 1")
    if max_requests is not None and max_requests < 0:
        raise ArgumentError(Option("max_requests"), " must be 0 (no budget) or more")
    limits = max_age if isinstance(max_age, MaxAge) else MaxAge.parse(max_age)
    until = parse_deadline(deadline)
    lookback = lookback or Lookback()
    say = note or (lambda _msg: None)
    now = _naive_utc(now or utcnow())
    today = now.date()
    clock = _RunClock(now)
    guard = RunGuard(
        deadline=until.total_seconds() if until else None,
        max_requests=max_requests or None,
        deadline_label=_format_duration(until) if until else None,
        clock=monotonic,
    )
    wanted, listing = _universe(store, symbols)
    outside = [s for s in wanted if s not in listing]
    if outside:
        say(
            f"Warning: {len(outside)} symbol(s) not in the universe ({', '.join(outside[:5])}); their data is "
            "stored but not scored until a companies file adds them"
        )

    state_frame = refresh_state(store)
    state = {
        (s, p): f
        for s, p, f in zip(
            state_frame["subject"].to_list(),
            state_frame["part"].to_list(),
            state_frame["fetched_at"].to_list(),
            strict=True,
        )
        if f is not None
    }
    empty_since = {
        s: e
        for s, p, e in zip(
            state_frame["subject"].to_list(),
            state_frame["part"].to_list(),
            state_frame["empty_since"].to_list(),
            strict=True,
        )
        if p == "fundamentals" and e is not None
    }
    last_price = last_dates(store, "prices", "symbol")
    stored_profiles = profiles(store, wanted)
    fin_ccy = dict(
        zip(stored_profiles["symbol"].to_list(), stored_profiles["financial_currency"].to_list(), strict=True)
    )
    periods = _stored_periods(store, wanted)
    plans: list[SymbolPlan] = []
    report = RefreshReport()
    with store.transaction():
        for sym in wanted:
            need_f = not _is_fresh(state, sym, "fundamentals", limits.fundamentals, now)
            need_p = not _is_fresh(state, sym, "prices", limits.prices, now)
            if not (need_f or need_p):
                report.skipped += 1
                store.log_ingest(
                    provider=PROVIDER_NAME,
                    status="skipped",
                    source=f"{PROVIDER_NAME}:{sym}",
                    symbol=sym,
                    message=f"fresher than the maximum age {limits}",
                )
                report.rows.append(_row(sym, "skipped", message=f"fresh (max age {limits})"))
                continue
            plans.append(
                SymbolPlan(
                    sym,
                    need_f,
                    need_p,
                    listing.get(sym),
                    last_price.get(sym) if need_p else None,
                    financial_currency=fin_ccy.get(sym),
                    has_profile=sym in fin_ccy,
                    stored_periods=periods.get(sym, frozenset()),
                    empty_since=empty_since.get(sym),
                )
            )
    stored_close = closes_on(store, {p.symbol: p.price_start for p in plans if p.price_start is not None})
    for p in plans:
        p.stored_close = stored_close.get(p.symbol)
    if plans:
        say(
            f"Refreshing {len(plans)} of {len(wanted)} symbol(s) from Yahoo Finance with {workers} worker(s); "
            f"{report.skipped} fresh (max age {limits})"
        )
    elif wanted:
        say(f"All {len(wanted)} symbol(s) are fresh (max age {limits}); nothing to fetch")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if (plans or news) and provider is None:
            provider = default_provider()
        if provider is not None:
            forget_responses()
        breaker = _Breaker(RATE_LIMIT_BREAKER, guard)
        run = _Run(store, report, guard, breaker, lookback, clock, limits, state, override=override_imports)
        bar = _Progress(on_progress)
        with _Guarded(provider, guard), ThreadPoolExecutor(max_workers=workers) as pool:
            bar.add(len(plans))
            futures = [
                pool.submit(_fetch_symbol, provider, p, lookback, today, guard, breaker)  # type: ignore[arg-type]
                for p in plans
            ]
            try:
                met = _collect(run, futures, bar, batch_size)
                met |= {normalise_currency(listing[s])[0] for s in wanted if listing.get(s)}
                met |= {normalise_currency(c)[0] for c in stored_profiles["financial_currency"].drop_nulls()}
                _refresh_fx(run, provider, pool, sorted(met - {"USD"}), bar)
                if news and guard.reason is None:
                    from screener.curation.headlines import fetch_news

                    fetch_news(store, provider, wanted, now=now, max_age=limits.prices, note=say)  # type: ignore[arg-type]
                elif news:
                    say("news: not asked for, the run stopped early; the next refresh asks for it")
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    report.stopped = guard.reason if run.stopped_seen else None
    return report


@dataclass
class _Run:
    """What every storing step of one run shares."""

    store: Store
    report: RefreshReport
    guard: RunGuard
    breaker: _Breaker
    lookback: Lookback
    clock: _RunClock
    limits: MaxAge
    state: dict[tuple[str, str], datetime]
    stopped_seen: bool = False  # a symbol or pair went without its requests because the run stopped
    override: bool = False  # Yahoo may replace rows a higher-precedence provider (a user's import) stored
    kept_out: dict[str, int] = field(default_factory=dict)  # per subject: rows kept because a user's import wins

    @property
    def today(self) -> date:
        return self.clock.now.date()


class _Guarded:
    """Hand the run's guard to the provider for the length of the run, and take it back after."""

    def __init__(self, provider: YahooProvider | None, guard: RunGuard) -> None:
        self.provider, self.guard, self._before = provider, guard, None

    def __enter__(self) -> _Guarded:
        if self.provider is not None:
            self._before, self.provider.guard = self.provider.guard, self.guard
        return self

    def __exit__(self, *exc: object) -> None:
        if self.provider is not None:
            self.provider.guard = self._before


def default_provider() -> YahooProvider:
    """The provider a run uses when none is given: yfinance's own session, the product's cache folder."""
    return YahooProvider()


def _row(subject: str, status: str, **values: Any) -> dict[str, Any]:
    row = dict.fromkeys(REPORT_SCHEMA)
    row.update(symbol=subject, status=status, **values)
    return row


def _collect(run: _Run, futures: list[Future[SymbolFetch]], bar: _Progress, batch_size: int) -> set[str]:
    """Store results in batches as they arrive; return the currencies they met."""
    met: set[str] = set()
    batch: list[SymbolFetch] = []
    for future in as_completed(futures):
        fetch = future.result()
        bar.advance(fetch.symbol)
        batch.append(fetch)
        if len(batch) >= batch_size:
            met |= _store_batch(run, batch)
            batch = []
    if batch:
        met |= _store_batch(run, batch)
    return met


def _concat(frames: Iterable[pl.DataFrame | None]) -> pl.DataFrame | None:
    present = [f for f in frames if f is not None and f.height]
    return pl.concat(present, how="vertical") if present else None


def _validate(kind: str, frame: pl.DataFrame, today: date, splits: pl.DataFrame | None) -> pl.DataFrame:
    """``validate_frame`` with the known splits (stored and just fetched): a price or share count that jumps at a
    split is not a unit error."""
    from screener.validation import validate_frame

    return validate_frame(kind, frame, PROVIDER_NAME, today=today, splits=splits)


def _check(kind: str, frame: pl.DataFrame | None, today: date, splits: pl.DataFrame | None = None) -> Checked | None:
    """Validate a batch frame once (``intake.check``); each symbol's part is admitted on its own later."""
    if frame is None:
        return None
    return check(kind, frame, PROVIDER_NAME, today=today, splits=splits)


def _admit(
    run: _Run, subject: str, part: Checked, stamp: datetime, write: Callable[[pl.DataFrame], int] | None = None
) -> int:
    """Store one subject's part through ``intake.admit`` under the ``quarantine`` policy: the passing rows go
    through the store's precedence (a null keeps the stored value of the same provider and currency; a user's
    import is kept unless the run overrides it; the synthetic demo rows of the same series are dropped), the
    failing ones go to the ledger. Rows kept because a higher-precedence provider stored them are counted for the
    subject's message. ``write`` stores a live table beside the contract kinds (profiles, share counts)."""
    writer = None
    if write is not None:
        live = write

        def writer(frame: pl.DataFrame) -> UpsertResult:
            return UpsertResult(live(frame) if frame.height else 0)

    done = admit(
        run.store,
        part,
        PROVIDER_NAME,
        loaded_at=stamp,
        override=run.override,
        write=writer,
        log=False,
        policy="quarantine",
    )
    if done.kept_out:
        run.kept_out[subject] = run.kept_out.get(subject, 0) + done.kept_out
    return done.stored


def _market_caps(store: Store, batch: list[SymbolFetch], today: date) -> pl.DataFrame:
    """Failures of the market-cap cross-check for symbols whose prices were fetched in this batch."""
    from screener.validation.market_cap import market_cap_frame

    syms = [f.symbol for f in batch if f.prices is not None and f.prices.height]
    if not syms:
        return pl.DataFrame()
    stored_prof = profiles(store, syms)
    stored_mcap = dict(zip(stored_prof["symbol"].to_list(), stored_prof["market_cap"].to_list(), strict=True))
    stored_shares = share_history(store, syms).group_by("symbol").agg(pl.col("shares").sort_by("date").last())
    shares_of = dict(zip(stored_shares["symbol"].to_list(), stored_shares["shares"].to_list(), strict=True))
    rows = []
    for f in batch:
        if f.symbol not in syms:
            continue
        shares = None
        if f.shares is not None and f.shares.height:
            shares = f.shares.sort("date")["shares"][-1]
        elif f.fundamentals is not None and f.fundamentals["shares_outstanding"].drop_nulls().len():
            shares = f.fundamentals.drop_nulls("shares_outstanding").sort("period_end")["shares_outstanding"][-1]
        else:
            shares = shares_of.get(f.symbol)
        reference = (f.profile or {}).get("market_cap") or stored_mcap.get(f.symbol)
        close = f.prices.sort("date")["close"][-1]  # type: ignore[union-attr]
        rows.append(
            {
                "symbol": f.symbol,
                "shares_outstanding": shares,
                "close": close,
                "price_unit": f.price_unit or f.plan.unit,
                "market_cap": reference,
            }
        )
    frame = market_cap_frame(rows)
    return _validate("market_cap", frame, today, None) if frame.height else pl.DataFrame()


def _known_splits(store: Store, batch: list[SymbolFetch]) -> pl.DataFrame | None:
    """Splits stored or fetched for the batch's symbols (fetched ones win on a shared date)."""
    syms = [f.symbol for f in batch]
    stored = store.frame("splits", syms).select("symbol", "date", "ratio") if syms else None
    fetched = _concat(f.splits for f in batch)
    both = _concat([fetched, stored])
    return both.unique(["symbol", "date"], keep="first") if both is not None else None


def _store_batch(run: _Run, batch: list[SymbolFetch]) -> set[str]:
    """Validate the batch per kind, then store each symbol in its own transaction."""
    from screener.store.profiles import PROFILE_SCHEMA

    store, today = run.store, run.today
    met: set[str] = set()
    profile_rows = [f.profile for f in batch if f.profile is not None]
    frames = {
        "profiles": pl.DataFrame(profile_rows, schema=PROFILE_SCHEMA, orient="row") if profile_rows else None,
        "fundamentals": _concat(f.fundamentals for f in batch),
        "shares": _concat(f.shares for f in batch),
        "prices": _concat(f.prices for f in batch),
        "splits": _concat(f.splits for f in batch),
    }
    splits = _known_splits(store, batch)
    checked = {kind: _check(kind, frame, today, splits) for kind, frame in frames.items()}
    mcap_fail = _market_caps(store, batch, today)
    held_back = set(mcap_fail["key"].to_list()) if mcap_fail.height else set()
    stamp = run.clock.stamp()
    for f in batch:
        for c in ((f.profile or {}).get("quote_currency"), (f.profile or {}).get("financial_currency")):
            if c:
                met.add(normalise_currency(c)[0])
        if f.fundamentals is not None and f.fundamentals.height:
            met |= set(f.fundamentals["currency"].to_list())
        with store.transaction():
            run.report.rows.append(_store_symbol(run, f, checked, mcap_fail, f.symbol in held_back, stamp))
    return met


def _no_statements(f: SymbolFetch, now: datetime) -> str | None:
    """Why an all-empty answer may be taken to mean "this symbol has no statements", or ``None`` when it must stay
    unknown. Stored statements always keep it unknown: an empty answer never outranks data."""
    if f.plan.stored_periods:
        return None
    if f.quote_type and f.quote_type not in STATEMENT_QUOTE_TYPES:
        return f"Yahoo lists it as {f.quote_type}, which publishes no statements"
    first = f.plan.empty_since
    if first is not None and now - first >= EMPTY_CONFIRMATION:
        return f"no statements: Yahoo's answer has been empty in every run since {first:%Y-%m-%d %H:%M} UTC"
    return None


def _empty_message(f: SymbolFetch, now: datetime) -> str:
    since = f.plan.empty_since or now
    stored = "; the stored statements are kept" if f.plan.stored_periods else ""
    return (
        "statements came back empty: unknown (a throttled Yahoo answers the same way); not fresh, asked again "
        f"next run{stored}; first empty {since:%Y-%m-%d %H:%M} UTC"
    )


def _store_symbol(
    run: _Run,
    f: SymbolFetch,
    checked: dict[str, Checked | None],
    mcap_fail: pl.DataFrame,
    hold_prices: bool,
    stamp: datetime,
) -> dict[str, Any]:
    store = run.store
    sym, source = f.symbol, f"{PROVIDER_NAME}:{f.symbol}"
    counts: dict[str, int | None] = {"fundamentals": None, "shares": None, "prices": None, "splits": None}
    rejected = 0
    run.stopped_seen = run.stopped_seen or f.stopped is not None
    if not f.attempted:
        message = f"not attempted: {f.stopped}; run refresh again later"
        for part in _PARTS:
            if getattr(f.plan, part):
                store.log_ingest(
                    provider=PROVIDER_NAME,
                    status="not_attempted",
                    kind=part,
                    source=source,
                    symbol=sym,
                    message=message,
                )
                mark_refreshed(store, sym, part, status="not_attempted", complete=False, message=message, at=stamp)
        return _row(sym, "not_attempted", message=message)
    if f.not_found is not None:
        for part in _PARTS:
            if getattr(f.plan, part):
                store.log_ingest(
                    provider=PROVIDER_NAME, status="failed", kind=part, source=source, symbol=sym, message=f.not_found
                )
                mark_refreshed(store, sym, part, status="failed", complete=False, message=f.not_found, at=stamp)
        return _row(sym, "failed", retries=f.retries, message=f.not_found)

    def store_kind(
        kind: str,
        fetched: pl.DataFrame | None,
        write: Callable[[pl.DataFrame], int] | None = None,
        hold: bool = False,
    ) -> tuple[int | None, int]:
        batch = checked[kind]
        part = batch.part(pl.col("symbol") == sym, source) if batch is not None else None
        if part is None or part.frame.height == 0:
            return (0 if fetched is not None else None), 0
        if hold and part.passing.height:
            part = _held_back(part, mcap_fail.filter(pl.col("key") == sym).row(0, named=True))
        stored = _admit(run, sym, part, stamp, write)
        return (stored if fetched is not None else None), part.rejected

    empty_note: str | None = None
    none_reason: str | None = None
    if f.plan.fundamentals:
        stored_profile, bad_p = store_kind(
            "profiles",
            None if f.profile is None else pl.DataFrame([f.profile]),
            lambda fr: upsert_profiles(store, fr, PROVIDER_NAME, loaded_at=stamp),
        )
        counts["fundamentals"], bad_f = store_kind("fundamentals", f.fundamentals)
        counts["shares"], bad_s = store_kind(
            "shares", f.shares, lambda fr: upsert_share_history(store, fr, PROVIDER_NAME, loaded_at=stamp)
        )
        rejected += bad_p + bad_f + bad_s
        problems = f.problems.get("fundamentals", [])
        extra = f"profile {'stored' if stored_profile else 'not available'}; {counts['shares'] or 0} share count(s)"
        empty: bool | None = None
        if f.all_empty:
            none_reason = _no_statements(f, run.clock.now)
            empty_note = none_reason or _empty_message(f, run.clock.now)
            empty = True
        elif f.empty:
            empty_note = "; ".join(f.empty) + "; not fresh, asked again next run"
            empty = True
        elif not problems and f.fundamentals is not None:
            empty = False
        _log_part(
            store,
            f,
            "fundamentals",
            counts["fundamentals"],
            bad_f + bad_p + bad_s,
            problems,
            stamp,
            extra="; ".join(x for x in (empty_note, extra) if x),
            empty=empty,
            complete=not problems and (empty is not True or none_reason is not None),
        )
    if f.plan.prices:
        counts["prices"], bad_pr = store_kind("prices", f.prices, hold=hold_prices)
        counts["splits"], bad_sp = store_kind("splits", f.splits)
        rejected += bad_pr + bad_sp
        _log_part(
            store,
            f,
            "prices",
            counts["prices"],
            bad_pr + bad_sp,
            f.problems.get("prices", []),
            stamp,
            complete=not f.problems.get("prices"),
        )
    problems = list(dict.fromkeys(p for part in _PARTS for p in f.problems.get(part, [])))
    anything = any(v for v in counts.values())
    if problems:
        status = "partial" if anything else "failed"
    elif empty_note is not None and none_reason is None:
        status = "empty"
    elif rejected:
        status = "rejected"
    else:
        status = "no_statements" if none_reason is not None else "ok"
    kept = run.kept_out.get(sym)
    kept_note = [f"{kept} row(s) not replaced: your own import takes precedence over Yahoo"] if kept else []
    message = "; ".join([*problems, *([empty_note] if empty_note else []), *f.notes, *kept_note]) or None
    return _row(
        sym,
        status,
        fundamentals=counts["fundamentals"],
        shares=counts["shares"],
        prices=counts["prices"],
        splits=counts["splits"],
        rejected=rejected,
        retries=f.retries,
        message=message,
    )


def _held_back(part: Checked, failed: dict[str, Any]) -> Checked:
    """``part`` with every passing price failed too: the market-cap cross-check held the symbol's prices back. One
    ledger row per price, keyed like the price itself, so that a later load that stores the same day resolves it;
    the expectation says which cross-check held it."""
    rows = part.frame.with_row_index("_r").filter(~pl.col("_r").is_in(part.failing_rows))
    extra = rows.select(
        pl.lit(part.source).alias("source"),
        (pl.col("_r").cast(pl.Int64) + 2).alias("row"),
        pl.lit("prices").alias("kind"),
        key_strings("prices", rows).alias("key"),
        pl.lit(failed["expectation"]).alias("expectation"),
        pl.lit("close").alias("column_name"),
        pl.lit(failed["value"], dtype=pl.String).alias("value"),
    )
    failures = part.failures
    if failures.height:
        extra = extra.cast(dict(failures.select(extra.columns).schema))  # type: ignore[arg-type]
        failures = pl.concat([failures.select(extra.columns), extra])
    else:
        failures = extra
    return Checked(part.kind, part.source, part.frame, failures)


def _log_part(
    store: Store,
    f: SymbolFetch,
    part: str,
    stored: int | None,
    n_bad: int,
    problems: list[str],
    stamp: datetime,
    *,
    complete: bool,
    extra: str | None = None,
    empty: bool | None = None,
) -> None:
    """Ingest-log row and refresh state for one part. ``complete`` moves ``fetched_at`` (the part counts as fresh);
    ``empty`` records an empty answer (``True``), a real one (``False``) or neither (``None``, e.g. a failure)."""
    fetched = f.fundamentals if part == "fundamentals" else f.prices
    rows_in = 0 if fetched is None else fetched.height
    if problems:
        status = "failed"
    elif empty:
        status = "empty"
    elif n_bad:
        status = "rejected"
    else:
        status = "ok"
    message = "; ".join([*problems, *([extra] if extra else [])]) or None
    if n_bad:
        message = f"{n_bad} row(s) rejected by validation" + (f"; {message}" if message else "")
    store.log_ingest(
        provider=PROVIDER_NAME,
        status=status,
        kind=part,
        source=f"{PROVIDER_NAME}:{f.symbol}",
        symbol=f.symbol,
        rows_in=rows_in,
        rows_stored=stored or 0,
        rows_rejected=n_bad,
        message=message,
    )
    mark_refreshed(store, f.symbol, part, status=status, complete=complete, message=message, at=stamp, empty=empty)


# -- fx ----------------------------------------------------------------------------------------------------------
def _refresh_fx(
    run: _Run, provider: YahooProvider | None, pool: ThreadPoolExecutor, currencies: list[str], bar: _Progress
) -> None:
    store, today, guard, lookback = run.store, run.today, run.guard, run.lookback
    last_fx = last_dates(store, "fx", "currency")
    due = [c for c in currencies if not _is_fresh(run.state, f"{c}USD=X", "fx", run.limits.prices, run.clock.now)]
    if not due:
        return
    if provider is None:
        provider = default_provider()
        forget_responses()
    bar.add(len(due))

    def fetch(ccy: str) -> tuple[str, pl.DataFrame | None, str | None, bool]:
        """(currency, rows, error, attempted)"""
        start = last_fx.get(ccy) or today - timedelta(days=lookback.fx_days)
        try:
            return ccy, provider.fx(ccy, start, today), None, True
        except Stopped as exc:
            return ccy, None, f"not attempted: {exc}; run refresh again later", False
        except ProviderError as exc:
            return ccy, None, str(exc), True

    with _Guarded(provider, guard):
        results = [fut.result() for fut in [pool.submit(fetch, c) for c in due]]
    frames = _concat(frame for _, frame, _, _ in results)
    batch = _check("fx", frames, today)
    stamp = run.clock.stamp()
    for ccy, frame, error, attempted in results:
        pair = f"{ccy}USD=X"
        bar.advance(pair)
        with store.transaction():
            part = batch.part(pl.col("currency") == ccy, f"{PROVIDER_NAME}:{pair}") if batch is not None else None
            stored = _admit(run, pair, part, stamp) if part is not None and part.frame.height else 0
            n_bad = part.failures.height if part is not None else 0
            status = ("failed" if attempted else "not_attempted") if error else ("rejected" if n_bad else "ok")
            run.stopped_seen = run.stopped_seen or not attempted
            kept = run.kept_out.get(pair)
            message = (
                "; ".join(
                    ([error] if error else [f"{n_bad} row(s) rejected by validation"] if n_bad else [])
                    + ([f"{kept} row(s) not replaced: your own import takes precedence over Yahoo"] if kept else [])
                )
                or None
            )
            store.log_ingest(
                provider=PROVIDER_NAME,
                status=status,
                kind="fx",
                source=f"{PROVIDER_NAME}:{pair}",
                rows_in=0 if frame is None else frame.height,
                rows_stored=stored,
                rows_rejected=n_bad,
                message=message,
            )
            mark_refreshed(store, pair, "fx", status=status, complete=error is None, message=message, at=stamp)
            run.report.rows.append(_row(pair, status, fx=None if error else stored, rejected=n_bad, message=message))
