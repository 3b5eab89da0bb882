"""Yahoo Finance through yfinance: the live provider.

Why it is this careful:
- Yahoo rate-limits, leaves gaps and mixes currencies. yfinance runs with ``hide_exceptions = False`` so that a
  rate limit raises instead of coming back as an empty table, and every request is retried with exponential backoff
  and jitter. A rate limit seen by one worker pauses all of them (a shared cool-down), because Yahoo limits the
  client, not the symbol.
- An empty or failed answer means "unknown": the methods return nothing (``None`` or an empty frame) for it, never
  zeros, so a caller has nothing to store and nothing stored is overwritten. "Empty" is told from "failed" by
  exception type and by the answer holding no data, never by yfinance's message text: a throttled Yahoo answers
  HTTP 200 with ``"result": []`` and an HTTP 401 "Invalid Crumb" reaches yfinance as the same empty result, so an
  empty answer never means "this company has no statements" on its own.
- Statement requests are serialised across threads: yfinance keeps a process-wide, unlocked switch
  (``YfData.fundamentals_use_chunked``) that one thread's failed statement request turns on, sending every other
  thread's request down a slower path that comes back empty under throttling.
- Statement columns are labelled by their spacing (``column_periods``), not by yfinance's "quarterly": ASX and AIM
  companies report half-yearly, and a half year taken for a quarter doubles trailing revenue.
- Split actions come with the price history (``PriceHistory.splits``): closes are split-adjusted, share counts in
  statements are not, so splits must be known to read share counts right.
- A run can hand the provider a ``RunGuard`` (deadline, request budget, stop switch); every request asks it first.
- Currencies come from Yahoo's own fields: statements from ``financialCurrency``, prices from the chart's
  ``currency``. The exchange suffix says nothing reliable (a ``.L`` listing may quote in GBp, GBP or USD).

The HTTP session is the caller's: it is handed to yfinance unchanged (``session=``), so a caller can wrap it in
their own rate limiter. yfinance keeps one process-wide session, so the last session given is the one used.
yfinance's caches (time zones, cookies) live in ``cache_home()/yfinance``, a folder the product owns.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import re
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from screener.contract import PERIOD_SPACING, normalise_currency, period_of_spacing, polars_schema
from screener.paths import cache_home

PROVIDER_NAME = "yahoo"
#: News stories asked for per symbol: Yahoo's own page shows ten.
NEWS_COUNT = 10
T = TypeVar("T")

#: (statement, yfinance frequency) pairs fetched for each symbol. The frequency is yfinance's table, not the period:
#: each column's period comes from its spacing (``column_periods``).
STATEMENTS: tuple[tuple[str, str], ...] = (
    ("income", "yearly"),
    ("income", "quarterly"),
    ("balance_sheet", "yearly"),
    ("balance_sheet", "quarterly"),
    ("cash_flow", "yearly"),
    ("cash_flow", "quarterly"),
)

#: Contract column -> yfinance row labels, most specific first; the first label with a value for a period wins.
#: Labels are matched ignoring case and spaces, so yfinance's raw keys (``TotalRevenue``) match too.
STATEMENT_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "income": {
        "revenue": ("Total Revenue", "Operating Revenue"),
        "operating_income": ("Operating Income", "Total Operating Income As Reported"),
        "net_income": ("Net Income", "Net Income Common Stockholders", "Net Income Including Noncontrolling Interests"),
    },
    "balance_sheet": {
        "cash": ("Cash Cash Equivalents And Short Term Investments", "Cash And Cash Equivalents"),
        "total_debt": ("Total Debt",),
        "total_equity": ("Stockholders Equity", "Common Stock Equity", "Total Equity Gross Minority Interest"),
        "inventory": ("Inventory",),
        "shares_outstanding": ("Ordinary Shares Number",),
    },
    "cash_flow": {
        "operating_cash_flow": ("Operating Cash Flow", "Cash Flow From Continuing Operating Activities"),
        "capital_expenditure": ("Capital Expenditure", "Capital Expenditure Reported"),
        "free_cash_flow": ("Free Cash Flow",),
    },
}
#: Money columns scaled when statements come in a sub-unit (share counts are not money).
_MONEY_FIELDS = tuple(f for fields in STATEMENT_FIELDS.values() for f in fields if f != "shares_outstanding")
#: A share count this close before a period end stands in for a missing ``Ordinary Shares Number``.
SHARES_FILL_WINDOW = timedelta(days=92)


class ProviderError(Exception):
    """One request failed; the message is one line fit for the ingest log. ``transient`` ones are retried."""

    transient = False


class Unavailable(ProviderError):
    """Yahoo cannot serve us right now: stop asking for this symbol, and after a few symbols in a row, for the run."""


class RateLimited(Unavailable):
    transient = True


class Unreachable(Unavailable):
    """No route to Yahoo (DNS failure, connection refused): retrying in seconds does not help, so fail fast."""


class TransientError(ProviderError):
    """A network hiccup or a 5xx: worth the same backoff as a rate limit."""

    transient = True


class NotFound(ProviderError):
    """Yahoo does not know the symbol (wrong suffix, delisted)."""


class EmptyAnswer(ProviderError):
    """Yahoo answered with no data at all: HTTP 200 with ``"result": []`` (what throttling often looks like) or an
    error page such as HTTP 401 "Invalid Crumb", which yfinance reads as the same empty result. Unknown: it never
    means "there is nothing", and it is not retried here (a company without quarterly tables answers this way too,
    every time)."""


class Stopped(ProviderError):
    """The run stopped asking Yahoo (deadline passed, request budget spent, or Yahoo unavailable for several symbols
    in a row); no request was made. The message is the run's reason."""


class RunGuard:
    """Run-wide limits shared by every worker: a deadline, a request budget and a stop switch.

    Why: under throttling, retries and more symbols only prolong the throttling; a run that stops, says why, and
    leaves the rest for the next run loses nothing (what is not fetched is not marked fresh). ``admit`` is asked
    before every request attempt, so an in-flight symbol stops at its next request, not after all of them.
    ``clock`` is a monotonic clock in seconds, injectable so that tests decide when the deadline passes.
    """

    def __init__(
        self,
        *,
        deadline: float | None = None,
        max_requests: int | None = None,
        deadline_label: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._ends_at = clock() + deadline if deadline else None
        self._deadline_label = deadline_label or (f"{deadline:g}s" if deadline else "")
        self.max_requests = max_requests or None
        self.requests = 0
        self._reason: str | None = None
        self._lock = threading.Lock()

    def stop(self, reason: str) -> None:
        """Stop the run; the first reason given is the one reported."""
        with self._lock:
            if self._reason is None:
                self._reason = reason

    @property
    def reason(self) -> str | None:
        """Why the run stopped, or ``None`` while it may go on (the deadline is checked here too)."""
        with self._lock:
            self._check_deadline()
            return self._reason

    def time_left(self) -> float | None:
        return None if self._ends_at is None else self._ends_at - self._clock()

    def admit(self) -> None:
        """Count one request, or raise ``Stopped`` when the run must not make it."""
        with self._lock:
            self._check_deadline()
            if self._reason is None and self.max_requests is not None and self.requests >= self.max_requests:
                self._reason = f"the run's request budget ({self.max_requests} requests) is spent"
            if self._reason is not None:
                raise Stopped(self._reason)
            self.requests += 1

    def _check_deadline(self) -> None:
        if self._reason is None and self._ends_at is not None and self._clock() >= self._ends_at:
            self._reason = f"the run's deadline ({self._deadline_label}) passed"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt ``n`` waits ``min(max_delay, base_delay * 2**n)`` shortened by up to
    ``jitter`` of itself, so that workers that were limited together do not retry together."""

    retries: int = 4
    base_delay: float = 2.0
    max_delay: float = 60.0
    jitter: float = 0.5

    def delay(self, attempt: int, rng: random.Random) -> float:
        full = min(self.max_delay, self.base_delay * (2**attempt))
        return full * (1.0 - self.jitter * rng.random())


@dataclass
class PriceHistory:
    """Daily closes for one symbol, already scaled to ``unit``; ``quote_currency`` is what Yahoo quoted; ``splits``
    are the split actions in the same window (contract ``splits``: new shares per old share)."""

    frame: pl.DataFrame
    quote_currency: str | None
    unit: str | None
    scale: float = 1.0
    splits: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=polars_schema("splits")))


@dataclass
class CallLedger:
    """Per-thread tally of retries, so that a symbol's summary can say how hard it was to fetch."""

    retries: int = 0
    waited: float = 0.0


# -- yfinance set-up ---------------------------------------------------------------------------------------------
_SETUP_LOCK = threading.Lock()
_configured_cache: Path | None = None


def configure_yfinance(cache_dir: Path) -> None:
    """Make yfinance raise on failures, keep its caches in ``cache_dir`` and keep its chatter away from users.

    Safe to call repeatedly. The cache folder is set before any request; if it cannot be created yfinance simply
    runs without its caches.
    """
    global _configured_cache
    import yfinance as yf

    with _SETUP_LOCK:
        yf.config.debug.hide_exceptions = False
        if _configured_cache != cache_dir:
            with contextlib.suppress(OSError):
                cache_dir.mkdir(parents=True, exist_ok=True)
            yf.set_tz_cache_location(str(cache_dir))
            _configured_cache = cache_dir
        for name in ("yfinance", "peewee", "bs4"):
            logger = logging.getLogger(name)
            if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
                logger.addHandler(logging.NullHandler())
            logger.propagate = False
        # yfinance's own deprecation notes and the pandas 3 warnings its code triggers are attributed to yfinance.
        warnings.filterwarnings("ignore", module=r"yfinance(\.|$)")
        # yfinance opens its SQLite caches lazily and without a lock; open them here, on one thread, so that refresh
        # workers never race to create the same tables (which can fail with "database is locked" under load).
        with contextlib.suppress(Exception):
            import yfinance.cache as yc

            yc.get_tz_cache().lookup("^WARMUP")
            yc.get_cookie_cache().lookup("basic")


def forget_responses() -> None:
    """Drop yfinance's in-process response cache, so that a new refresh run asks Yahoo again."""
    from yfinance.data import YfData

    clear = getattr(YfData.cache_get, "cache_clear", None)
    if clear is not None:
        clear()


def _translate(exc: BaseException, what: str) -> ProviderError:
    """Map a yfinance or HTTP failure to one of ours, by exception type and HTTP status only.

    yfinance's message texts are not a contract (they change between releases and some carry Yahoo's own words),
    so nothing here reads them; the text only travels on, in the message, for people.
    """
    if isinstance(exc, ProviderError):
        return exc
    from yfinance import exceptions as yfe

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(exc, yfe.YFRateLimitError) or status == 429:
        return RateLimited(f"{what}: rate limited by Yahoo (HTTP 429)")
    if isinstance(exc, yfe.YFPricesMissingError):
        return ProviderError(f"{what}: Yahoo has no price data ({exc.rationale})")
    if isinstance(exc, yfe.YFTickerMissingError):
        return NotFound(f"not found on Yahoo Finance ({exc.rationale})")
    if status == 404:
        return NotFound("not found on Yahoo Finance (HTTP 404)")
    if _is_unreachable(exc):
        return Unreachable(f"{what}: cannot reach Yahoo Finance ({type(exc).__name__}: {text})")
    if (isinstance(status, int) and status >= 500) or _is_network_error(exc) or isinstance(exc, yfe.YFDataException):
        return TransientError(f"{what}: {type(exc).__name__}: {text}")
    return ProviderError(f"{what}: {type(exc).__name__}: {text}")


#: curl's "could not resolve host" and "could not connect": no route to Yahoo, retrying in seconds does not help.
_UNREACHABLE_CURL_CODES = (6, 7)


def _is_unreachable(exc: BaseException) -> bool:
    return type(exc).__name__ == "DNSError" or getattr(exc, "code", None) in _UNREACHABLE_CURL_CODES


def _is_network_error(exc: BaseException) -> bool:
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    return type(exc).__name__ in {
        "Timeout",
        "ConnectTimeout",
        "ReadTimeout",
        "ConnectionError",
        "DNSError",
        "ProxyError",
        "SSLError",
        "ChunkedEncodingError",
    }


#: One statement request at a time in the whole process; see ``YahooProvider.statement``.
_STATEMENT_LOCK = threading.Lock()


# -- pure mapping helpers ---------------------------------------------------------------------------------------
def _label_key(label: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(label).lower())


def _number(value: object) -> float | None:
    """A finite float, or ``None``: NaN from pandas is a gap, never zero."""
    if value is None:
        return None
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    to_py = getattr(value, "to_pydatetime", None)
    if to_py is not None:
        return to_py().date()
    return date.fromisoformat(str(value)[:10])


def statement_values(table: Any, fields: Mapping[str, tuple[str, ...]]) -> dict[date, dict[str, float | None]]:
    """One yfinance statement (row labels x period-end columns) to ``{period_end: {column: value}}``.

    A label Yahoo did not send, or a NaN cell, stays ``None`` for that period.
    """
    if table is None or getattr(table, "empty", True):
        return {}
    by_key = {_label_key(label): label for label in table.index}
    out: dict[date, dict[str, float | None]] = {}
    for column, cells in table.to_dict().items():
        row: dict[str, float | None] = {}
        for name, labels in fields.items():
            value = None
            for label in labels:
                found = by_key.get(_label_key(label))
                if found is not None:
                    value = _number(cells.get(found))
                    if value is not None:
                        break
            row[name] = value
        out[_as_date(column)] = row
    return out


def _sub_annual(label: str | None) -> str | None:
    return label if label in ("Q", "H") else None


def column_periods(ends: Iterable[date], freq: str) -> dict[date, str | None]:
    """The period of each statement column (``Q``, ``H`` or ``FY``), told by the spacing of the columns; ``None``
    when it cannot be told.

    - ``yearly``: ``FY``, unless the column ends sooner after the previous one than any fiscal year can (a
      transition period after a change of year end): that column is not a year. A longer gap is a missing year.
    - ``quarterly`` (yfinance's word for the table, not the period): each gap between neighbouring columns says
      ``Q`` (about 91 days) or ``H`` (about 182) through ``period_of_spacing``; a gap that fits neither (a missing
      year, an odd date) says nothing. The table's period is what most gaps say; a column gets it when every gap
      beside it agrees. Anything else (a single column, a tie, a quarter beside a missing quarter, which looks like
      a half year) is left unknown rather than guessed: a half year read as a quarter doubles trailing revenue.
    """
    days = sorted(set(ends))
    if freq == "yearly":
        shortest_year = PERIOD_SPACING["FY"][0]
        return {d: "FY" if i == 0 or (d - days[i - 1]).days >= shortest_year else None for i, d in enumerate(days)}
    gaps = [_sub_annual(period_of_spacing((b - a).days)) for a, b in pairwise(days)]
    ranked = Counter(g for g in gaps if g).most_common(2)
    table = ranked[0][0] if ranked and (len(ranked) == 1 or ranked[0][1] > ranked[1][1]) else None
    out: dict[date, str | None] = {}
    for i, d in enumerate(days):
        beside = {g for g in (gaps[i - 1] if i > 0 else None, gaps[i] if i < len(gaps) else None) if g}
        out[d] = table if table is not None and beside == {table} else None
    return out


def fundamentals_frame(
    symbol: str,
    tables: Mapping[tuple[str, str], Any],
    currency: str,
    shares: pl.DataFrame | None = None,
    notes: list[str] | None = None,
) -> pl.DataFrame:
    """Merge the six statements into contract ``fundamentals`` rows.

    - each column's period (``Q``, ``H``, ``FY``) comes from ``column_periods``; a column whose period cannot be
      told is left out, and ``notes`` (when given) says how many and which;
    - capex comes from Yahoo as a (negative) cash outflow and is stored as its magnitude;
    - free cash flow is Yahoo's own line, else operating cash flow minus capex when both are known;
    - a period without ``Ordinary Shares Number`` takes the last share count from the share history within
      ``SHARES_FILL_WINDOW`` before its end;
    - a period with no value at all is dropped: it carries no information, and a row of nulls would only look
      like data;
    - statements in a sub-unit (``GBp``) are scaled to the main unit, share counts are not.
    """
    iso, factor = normalise_currency(currency)
    merged: dict[tuple[date, str], dict[str, float | None]] = {}
    unlabelled: set[date] = set()
    for (statement, freq), table in tables.items():
        by_end = statement_values(table, STATEMENT_FIELDS[statement])
        periods = column_periods(by_end, freq)
        for period_end, values in by_end.items():
            period = periods[period_end]
            if period is None:
                if any(v is not None for v in values.values()):
                    unlabelled.add(period_end)
                continue
            merged.setdefault((period_end, period), {}).update(values)
    if unlabelled and notes is not None:
        shown = ", ".join(d.isoformat() for d in sorted(unlabelled))
        notes.append(
            f"statement columns ending {shown} left out: their period (quarter, half or year) cannot be "
            "told from their spacing"
        )
    share_points = _share_points(shares)
    rows = []
    for (period_end, period), values in sorted(merged.items()):
        capex = values.get("capital_expenditure")
        if capex is not None:
            values["capital_expenditure"] = abs(capex)
        if values.get("free_cash_flow") is None:
            ocf, cap = values.get("operating_cash_flow"), values.get("capital_expenditure")
            if ocf is not None and cap is not None:
                values["free_cash_flow"] = ocf - cap
        if values.get("shares_outstanding") is None:
            values["shares_outstanding"] = _shares_at(share_points, period_end)
        if all(v is None for v in values.values()):
            continue
        if factor != 1.0:
            values = {k: (v * factor if v is not None and k in _MONEY_FIELDS else v) for k, v in values.items()}
        rows.append({"symbol": symbol, "period_end": period_end, "period": period, "currency": iso, **values})
    schema = polars_schema("fundamentals")
    if not rows:
        return pl.DataFrame(schema=schema)
    return pl.DataFrame(rows, schema=schema, orient="row").select(list(schema))


def _share_points(shares: pl.DataFrame | None) -> list[tuple[date, float]]:
    if shares is None or shares.height == 0:
        return []
    return list(zip(shares["date"].to_list(), shares["shares"].to_list(), strict=True))


def _shares_at(points: list[tuple[date, float]], when: date) -> float | None:
    best = None
    for d, n in points:
        if when - SHARES_FILL_WINDOW <= d <= when:
            best = n
    return best


def price_scale(quote_currency: str | None, unit: str | None) -> tuple[float, str | None]:
    """Factor that turns a quote in ``quote_currency`` into ``unit``, and the unit the result is in.

    ``unit`` is the listing currency the universe records (``GBp`` keeps pence, as the data contract says closes
    are in the listing currency); without one the result is the main unit (``GBp`` -> ``GBP`` x 0.01). Both sides go
    through ``normalise_currency``, so a day Yahoo quotes in GBP for a GBp listing is scaled x 100, not stored 100x
    too small. Different ISO currencies cannot be reconciled without a rate: that is an error, not a guess.
    """
    if not quote_currency:
        return 1.0, unit
    q_iso, q_factor = normalise_currency(quote_currency)
    if unit is None:
        return q_factor, q_iso
    u_iso, u_factor = normalise_currency(unit)
    if u_iso != q_iso:
        raise ProviderError(
            f"Yahoo quotes it in {quote_currency} but the universe lists {unit}; fix the company's currency"
        )
    return q_factor / u_factor, unit


def profile_row(symbol: str, info: Mapping[str, Any]) -> dict[str, Any]:
    """The ``info`` fields the product keeps. ``market_cap`` is shares x price in the main unit: Yahoo's own
    ``marketCap`` field is not reliably in the quote currency (sub-unit and foreign listings), so it is only a
    fallback for quotes without a sub-unit."""
    quote = info.get("currency")
    factor = normalise_currency(quote)[1] if quote else 1.0
    shares = _number(info.get("sharesOutstanding")) or _number(info.get("impliedSharesOutstanding"))
    price = None
    for key in ("regularMarketPrice", "currentPrice", "previousClose", "regularMarketPreviousClose"):
        price = _number(info.get(key))
        if price is not None:
            break
    price = price * factor if price is not None else None
    market_cap = shares * price if shares is not None and price is not None else None
    if market_cap is None and factor == 1.0:
        market_cap = _number(info.get("marketCap"))
    text = {
        k: (str(info[k]).strip() or None) if info.get(k) is not None else None
        for k in ("longName", "shortName", "financialCurrency", "country", "sector", "industry", "longBusinessSummary")
    }
    return {
        "symbol": symbol,
        "name": text["longName"] or text["shortName"],
        "quote_currency": quote,
        "price_unit": None,
        "financial_currency": text["financialCurrency"],
        "country": text["country"],
        "sector": text["sector"],
        "industry": text["industry"],
        "summary": text["longBusinessSummary"],
        "shares_outstanding": shares,
        "price": price,
        "market_cap": market_cap,
    }


def splits_frame(symbol: str, history: Any) -> pl.DataFrame:
    """Contract ``splits`` rows (symbol, date, ratio = new shares per old: 5.0 for 5:1, 0.1 for 1:10) from the
    ``Stock Splits`` column of a yfinance price history (zero on days without a split)."""
    schema = polars_schema("splits")
    column = history["Stock Splits"] if history is not None and "Stock Splits" in history.columns else None
    points = [(d, r) for d, r in _series_points(column) if r > 0]
    if not points:
        return pl.DataFrame(schema=schema)
    return pl.DataFrame(
        {"symbol": [symbol] * len(points), "date": [d for d, _ in points], "ratio": [r for _, r in points]},
        schema=schema,
    )


def _series_points(series: Any) -> list[tuple[date, float]]:
    """A time-indexed pandas Series to (local date, value), keeping the last value of a repeated date."""
    if series is None or len(series) == 0:
        return []
    points: dict[date, float] = {}
    for ts, value in zip(series.index, series.tolist(), strict=True):
        x = _number(value)
        if x is not None:
            points[_as_date(ts)] = x
    return sorted(points.items())


def _exclusive_end(end: date) -> str:
    """yfinance's ``end`` is exclusive (midnight at the exchange): the day after ``end`` includes ``end`` itself."""
    return (end + timedelta(days=1)).isoformat()


# -- the provider ------------------------------------------------------------------------------------------------
class YahooProvider:
    """Fetch one symbol's pieces from Yahoo; usable on its own from Python as well as through ``refresh``.

    ``session`` (a ``curl_cffi.requests.Session`` or ``requests.Session``) is passed to yfinance unchanged; ``None``
    lets yfinance make its own. ``sleep`` and ``seed`` exist so that tests and benchmarks control waiting.
    ``guard`` (a ``RunGuard``, set by ``refresh`` for the length of a run) is asked before every request.
    """

    name = PROVIDER_NAME

    def __init__(
        self,
        session: Any = None,
        *,
        retry: RetryPolicy | None = None,
        cache_dir: Path | None = None,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
    ) -> None:
        self.session = session
        self.retry = retry or RetryPolicy()
        self.cache_dir = Path(cache_dir) if cache_dir is not None else cache_home() / "yfinance"
        self._sleep = sleep
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._pause_until = 0.0
        self._local = threading.local()
        self.calls = 0
        self.retries = 0
        self.guard: RunGuard | None = None
        configure_yfinance(self.cache_dir)

    # -- plumbing --------------------------------------------------------------------------------------------
    def ledger(self) -> CallLedger:
        """This thread's tally; ``reset_ledger`` starts a new one (refresh does so per symbol)."""
        ledger = getattr(self._local, "ledger", None)
        if ledger is None:
            ledger = self._local.ledger = CallLedger()
        return ledger

    def reset_ledger(self) -> CallLedger:
        self._local.ledger = CallLedger()
        return self._local.ledger

    def ticker(self, symbol: str) -> Any:
        """A fresh ``yf.Ticker`` on our session: yfinance memoises failures inside a Ticker (``info`` stays empty
        after one failed fetch), so each attempt gets a new one."""
        import yfinance as yf

        return yf.Ticker(symbol, session=self.session)

    def _await_cooldown(self) -> None:
        with self._lock:
            remaining = self._pause_until - time.monotonic()
        if remaining > 0:
            self._sleep(remaining)
            self.ledger().waited += remaining

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one yfinance request with retries (transient failures only, with backoff); raise a
        ``ProviderError`` when it fails. The run's guard is asked before every attempt (``Stopped``)."""
        for attempt in range(self.retry.retries + 1):
            self._await_cooldown()
            guard = self.guard
            if guard is not None:
                guard.admit()
            with self._lock:
                self.calls += 1
            try:
                return fn()
            except Exception as exc:
                err = _translate(exc, what)
                # yfinance memoises answers by URL for the life of the process: without this, a retry (or a later
                # run in the same process) would be served the failed answer again without asking Yahoo.
                forget_responses()
                if not err.transient or attempt >= self.retry.retries:
                    if err.transient:
                        raise type(err)(f"{err} (gave up after {attempt + 1} attempts)") from None
                    raise err from None
                with self._lock:
                    delay = self.retry.delay(attempt, self._rng)
                    left = guard.time_left() if guard is not None else None
                    if left is not None and delay >= left:  # the wait alone would outlast the run
                        raise type(err)(
                            f"{err} (gave up after {attempt + 1} attempts: the run's deadline is "
                            "sooner than the next retry)"
                        ) from None
                    self.retries += 1
                    self._pause_until = max(self._pause_until, time.monotonic() + delay)
                self.ledger().retries += 1
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    # -- the pieces ------------------------------------------------------------------------------------------
    def info(self, symbol: str) -> dict[str, Any]:
        """Yahoo's ``info`` for the symbol (``quoteType`` says whether it is an equity); raises ``NotFound`` when
        Yahoo has no quote for it."""
        info = self.call("info", lambda: dict(self.ticker(symbol).info or {}))
        if not info or not any(info.get(k) for k in ("quoteType", "currency", "longName", "shortName")):
            raise NotFound("not found on Yahoo Finance (no quote)")
        return info

    def profile(self, symbol: str) -> dict[str, Any]:
        return profile_row(symbol, self.info(symbol))

    def statement(self, symbol: str, statement: str, freq: str) -> Any:
        """One statement table as yfinance gives it (pretty row labels), or ``None`` when Yahoo's answer held no
        data (unknown: see ``EmptyAnswer``). Raises ``ProviderError`` when the request failed.

        Statement requests hold a process-wide lock: yfinance 1.7 turns on ``YfData.fundamentals_use_chunked``
        (shared by every thread, no lock) when one statement request fails, and a request made by another thread
        while it is on goes down the chunked path, which under throttling comes back empty. One at a time, each
        request sees the switch as the previous one left it.
        """
        getters = {"income": "get_income_stmt", "balance_sheet": "get_balance_sheet", "cash_flow": "get_cash_flow"}
        method = getters[statement]
        label = f"{statement.replace('_', ' ')} ({'annual' if freq == 'yearly' else 'quarterly'})"

        def fetch() -> Any:
            from yfinance import exceptions as yfe

            with _STATEMENT_LOCK:
                try:
                    return getattr(self.ticker(symbol), method)(freq=freq, pretty=True)
                except yfe.YFException as exc:
                    # The base class, not a subclass: yfinance raises exactly this when the payload holds no
                    # result (HTTP 200 with "result": [], or an error page such as HTTP 401 Invalid Crumb).
                    if type(exc) is yfe.YFException:
                        raise EmptyAnswer(f"{label}: Yahoo answered with no data") from None
                    raise

        try:
            table = self.call(label, fetch)
        except EmptyAnswer:
            return None
        if table is None or getattr(table, "empty", True):
            return None
        return table

    def statements(self, symbol: str) -> tuple[dict[tuple[str, str], Any], list[str]]:
        """All six statements (``None`` for an empty answer); a failed one is left out and its reason returned, so
        the others still count."""
        tables: dict[tuple[str, str], Any] = {}
        problems: list[str] = []
        for statement, freq in STATEMENTS:
            try:
                tables[(statement, freq)] = self.statement(symbol, statement, freq)
            except NotFound:
                raise
            except ProviderError as exc:
                problems.append(str(exc))
        return tables, problems

    def fundamentals(
        self, symbol: str, currency: str | None = None, shares: pl.DataFrame | None = None
    ) -> pl.DataFrame:
        """Contract ``fundamentals`` rows. The statement currency is ``currency`` or Yahoo's ``financialCurrency``;
        raises when neither is known, because a number without its currency cannot be converted. A statement that
        fails is left out (its columns stay null); only when every one fails does this raise."""
        if currency is None:
            currency = self.info(symbol).get("financialCurrency")
        if not currency:
            raise ProviderError("statement currency unknown: Yahoo gave no financialCurrency")
        tables, problems = self.statements(symbol)
        if problems and not any(t is not None for t in tables.values()):
            raise ProviderError("; ".join(problems))
        if not any(t is not None for t in tables.values()):
            raise EmptyAnswer("statements: Yahoo answered with no data for any of the six (unknown, not none)")
        return fundamentals_frame(symbol, tables, currency, shares)

    def shares(self, symbol: str, start: date | None = None, end: date | None = None) -> pl.DataFrame:
        """Share-count history (symbol, date, shares) from ``get_shares_full``, ``start`` to ``end`` inclusive; a
        repeated date keeps its last count. Empty when Yahoo has none. ``end`` defaults to today (see ``prices``)."""
        end = end or date.today()
        start = start or end - timedelta(days=5 * 365)
        series = self.call(
            "share count", lambda: self.ticker(symbol).get_shares_full(start=start.isoformat(), end=_exclusive_end(end))
        )
        points = _series_points(series)
        schema = {"symbol": pl.String, "date": pl.Date, "shares": pl.Float64}
        if not points:
            return pl.DataFrame(schema=schema)
        return pl.DataFrame(
            {"symbol": [symbol] * len(points), "date": [d for d, _ in points], "shares": [n for _, n in points]},
            schema=schema,
        ).filter(pl.col("shares") > 0)

    def prices(
        self, symbol: str, start: date | None = None, *, unit: str | None = None, end: date | None = None
    ) -> PriceHistory:
        """Daily closes (contract ``prices``) from ``start`` to ``end`` (both inclusive, exchange dates), scaled from
        Yahoo's quote unit to ``unit`` (see ``price_scale``). Closes are split-adjusted, not dividend-adjusted
        (``auto_adjust=False``). The split actions of the same window come with them, from the same request
        (``PriceHistory.splits``).

        ``end`` is always sent: without one yfinance asks up to the wall-clock "now" and drops the last bar when its
        time stamp is at or after that instant, so what a run sees would depend on the hour it runs. With an ``end``
        (the caller's "today"; refresh derives it from its ``now``) the answer covers whole exchange days.
        """
        end = end or date.today()
        start = start or end - timedelta(days=730)
        holder: dict[str, Any] = {}

        def fetch() -> Any:
            t = self.ticker(symbol)
            table = t.history(
                start=start.isoformat(), end=_exclusive_end(end), interval="1d", auto_adjust=False, actions=True
            )
            holder["meta"] = t.get_history_metadata() or {}
            return table

        table = self.call("prices", fetch)
        quote = (holder.get("meta") or {}).get("currency")
        schema = polars_schema("prices")
        if table is None or getattr(table, "empty", True):
            return PriceHistory(pl.DataFrame(schema=schema), quote, unit)
        scale, out_unit = price_scale(quote, unit)
        closes = _series_points(table["Close"])
        volumes = dict(_series_points(table["Volume"])) if "Volume" in table.columns else {}
        frame = pl.DataFrame(
            {
                "symbol": [symbol] * len(closes),
                "date": [d for d, _ in closes],
                "close": [c * scale for _, c in closes],
                "volume": [volumes.get(d) for d, _ in closes],
            },
            schema=schema,
        )
        return PriceHistory(frame, quote, out_unit, scale, splits_frame(symbol, table))

    def fx(self, currency: str, start: date | None = None, end: date | None = None) -> pl.DataFrame:
        """US dollars per unit of ``currency`` (contract ``fx``), from the ``XXXUSD=X`` close, ``start`` to ``end``
        inclusive (see ``prices`` for why ``end`` is always sent)."""
        iso, _ = normalise_currency(currency)
        schema = polars_schema("fx")
        if iso == "USD":
            return pl.DataFrame(schema=schema)
        end = end or date.today()
        start = start or end - timedelta(days=5 * 365)
        pair = f"{iso}USD=X"
        table = self.call(
            f"fx {pair}",
            lambda: self.ticker(pair).history(
                start=start.isoformat(), end=_exclusive_end(end), interval="1d", auto_adjust=False, actions=False
            ),
        )
        if table is None or getattr(table, "empty", True):
            return pl.DataFrame(schema=schema)
        closes = _series_points(table["Close"])
        return pl.DataFrame(
            {"currency": [iso] * len(closes), "date": [d for d, _ in closes], "usd_per_unit": [c for _, c in closes]},
            schema=schema,
        )

    def news(self, symbol: str, count: int = NEWS_COUNT) -> pl.DataFrame:
        """Yahoo's latest stories filed under ``symbol`` (yfinance ``Ticker.get_news``), one row per story with a
        title and a publication time (``news_frame``). Empty when Yahoo sent none: unknown, never "no news"."""
        items = self.call(f"news {symbol}", lambda: list(self.ticker(symbol).get_news(count=count, tab="news") or []))
        return news_frame(symbol, items)


NEWS_SCHEMA: dict[str, Any] = {
    "native_id": pl.String,
    "symbol": pl.String,
    "headline": pl.String,
    "publisher": pl.String,
    "link": pl.String,
    "published_at": pl.Datetime("us"),
}


def _news_time(value: object) -> datetime | None:
    """Yahoo's ``pubDate`` (ISO 8601 in UTC, ``Z``) or an epoch stamp as naive UTC; None when unreadable."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC).replace(tzinfo=None)
    if isinstance(value, str) and value:
        try:
            stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return stamp.astimezone(UTC).replace(tzinfo=None) if stamp.tzinfo else stamp
    return None


def _plausible(stamp: datetime | None) -> datetime | None:
    """A publication time, or None for one outside 1900-2200 (a garbled stamp; validation reports the gap)."""
    return stamp if stamp is not None and 1900 <= stamp.year <= 2200 else None


def news_frame(symbol: str, items: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Yahoo's news items as rows: Yahoo's own id, the symbol asked for, title, publisher, link and publication
    time (UTC). Items are kept as sent, text untouched: validation, not the provider, judges a headline, so a bad
    one is recorded as rejected instead of vanishing. Videos and items without an id are skipped."""
    rows = []
    for item in items:
        content = item.get("content") if isinstance(item.get("content"), Mapping) else item
        if not isinstance(content, Mapping):
            continue
        native = content.get("id") or item.get("id") or item.get("uuid")
        if not native or str(content.get("contentType") or "STORY").upper() not in ("STORY", "PRESS_RELEASE"):
            continue
        provider = content.get("provider")
        url = content.get("canonicalUrl") or content.get("clickThroughUrl")
        rows.append(
            {
                "native_id": str(native),
                "symbol": symbol,
                "headline": content.get("title"),
                "publisher": (provider.get("displayName") if isinstance(provider, Mapping) else None)
                or content.get("publisher"),
                "link": (url.get("url") if isinstance(url, Mapping) else None) or content.get("link"),
                "published_at": _plausible(_news_time(content.get("pubDate") or content.get("providerPublishTime"))),
            }
        )
    return pl.DataFrame(rows, schema=NEWS_SCHEMA)
