"""Yahoo Finance through yfinance: the live provider.

Why it is this careful:
- Yahoo rate-limits, leaves gaps and mixes currencies. yfinance runs with ``hide_exceptions = False`` so that a
  rate limit raises instead of coming back as an empty table, and every request is retried with exponential backoff
  and jitter. A rate limit seen by one worker pauses all of them (a shared cool-down), because Yahoo limits the
  client, not the symbol.
- An empty or failed answer means "unknown": the methods return nothing (``None`` or an empty frame) for it, never
  zeros, so a caller has nothing to store and nothing stored is overwritten.
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from screener.contract import normalise_currency, polars_schema
from screener.paths import cache_home

PROVIDER_NAME = "yahoo"
T = TypeVar("T")

#: (statement, yfinance frequency) pairs fetched for each symbol; the frequency maps to the contract's period.
STATEMENTS: tuple[tuple[str, str], ...] = (
    ("income", "yearly"),
    ("income", "quarterly"),
    ("balance_sheet", "yearly"),
    ("balance_sheet", "quarterly"),
    ("cash_flow", "yearly"),
    ("cash_flow", "quarterly"),
)
PERIOD_OF_FREQ = {"yearly": "FY", "quarterly": "Q"}

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
    """Daily closes for one symbol, already scaled to ``unit``; ``quote_currency`` is what Yahoo quoted."""

    frame: pl.DataFrame
    quote_currency: str | None
    unit: str | None
    scale: float = 1.0


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


def _translate(exc: BaseException, what: str) -> ProviderError | None:
    """Map a yfinance or HTTP failure to one of ours; ``None`` means Yahoo answered but had nothing (unknown)."""
    if isinstance(exc, ProviderError):
        return exc
    from yfinance import exceptions as yfe

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(exc, yfe.YFRateLimitError) or status == 429 or "Too Many Requests" in text:
        return RateLimited(f"{what}: rate limited by Yahoo (HTTP 429)")
    if isinstance(exc, yfe.YFPricesMissingError):
        return ProviderError(f"{what}: Yahoo has no price data ({exc.rationale})")
    if isinstance(exc, yfe.YFTickerMissingError):
        return NotFound(f"not found on Yahoo Finance ({exc.rationale})")
    if status == 404 or "HTTP Error 404" in text:
        return NotFound("not found on Yahoo Finance (HTTP 404)")
    if "Empty fundamentals-timeseries result" in text:
        return None
    if type(exc).__name__ == "DNSError" or "Could not resolve host" in text or "Connection refused" in text:
        return Unreachable(f"{what}: cannot reach Yahoo Finance ({type(exc).__name__}: {text})")
    if (isinstance(status, int) and status >= 500) or _is_network_error(exc):
        return TransientError(f"{what}: {type(exc).__name__}: {text}")
    return ProviderError(f"{what}: {type(exc).__name__}: {text}")


def _is_network_error(exc: BaseException) -> bool:
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    return type(exc).__name__ in {"Timeout", "ConnectTimeout", "ReadTimeout", "ConnectionError", "DNSError",
                                  "ProxyError", "SSLError", "ChunkedEncodingError"}


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


def fundamentals_frame(symbol: str, tables: Mapping[tuple[str, str], Any], currency: str,
                       shares: pl.DataFrame | None = None) -> pl.DataFrame:
    """Merge the six statements into contract ``fundamentals`` rows.

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
    for (statement, freq), table in tables.items():
        period = PERIOD_OF_FREQ[freq]
        for period_end, values in statement_values(table, STATEMENT_FIELDS[statement]).items():
            merged.setdefault((period_end, period), {}).update(values)
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
        raise ProviderError(f"Yahoo quotes it in {quote_currency} but the universe lists {unit}; "
                            "fix the company's currency")
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
    text = {k: (str(info[k]).strip() or None) if info.get(k) is not None else None
            for k in ("longName", "shortName", "financialCurrency", "country", "sector", "industry",
                      "longBusinessSummary")}
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
    """

    name = PROVIDER_NAME

    def __init__(self, session: Any = None, *, retry: RetryPolicy | None = None, cache_dir: Path | None = None,
                 sleep: Callable[[float], None] = time.sleep, seed: int | None = None) -> None:
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

    def call(self, what: str, fn: Callable[[], T]) -> T | None:
        """Run one yfinance request with retries; ``None`` when Yahoo answered with nothing."""
        for attempt in range(self.retry.retries + 1):
            self._await_cooldown()
            with self._lock:
                self.calls += 1
            try:
                return fn()
            except Exception as exc:
                err = _translate(exc, what)
                if err is None:
                    return None
                if not err.transient or attempt >= self.retry.retries:
                    if err.transient:
                        raise type(err)(f"{err} (gave up after {attempt + 1} attempts)") from None
                    raise err from None
                with self._lock:
                    delay = self.retry.delay(attempt, self._rng)
                    self.retries += 1
                    self._pause_until = max(self._pause_until, time.monotonic() + delay)
                self.ledger().retries += 1
        return None  # pragma: no cover - the loop always returns or raises

    # -- the pieces ------------------------------------------------------------------------------------------
    def info(self, symbol: str) -> dict[str, Any]:
        """Yahoo's ``info`` for the symbol; raises ``NotFound`` when Yahoo has no quote for it."""
        info = self.call("info", lambda: dict(self.ticker(symbol).info or {}))
        if not info or not any(info.get(k) for k in ("quoteType", "currency", "longName", "shortName")):
            raise NotFound("not found on Yahoo Finance (no quote)")
        return info

    def profile(self, symbol: str) -> dict[str, Any]:
        return profile_row(symbol, self.info(symbol))

    def statement(self, symbol: str, statement: str, freq: str) -> Any:
        """One statement table as yfinance gives it (pretty row labels), or ``None`` when Yahoo has none."""
        getters = {"income": "get_income_stmt", "balance_sheet": "get_balance_sheet", "cash_flow": "get_cash_flow"}
        method = getters[statement]
        label = f"{statement.replace('_', ' ')} ({'annual' if freq == 'yearly' else 'quarterly'})"
        table = self.call(label, lambda: getattr(self.ticker(symbol), method)(freq=freq, pretty=True))
        if table is None or getattr(table, "empty", True):
            return None
        return table

    def statements(self, symbol: str) -> tuple[dict[tuple[str, str], Any], list[str]]:
        """All six statements; a failed one is left out and its reason returned, so the others still count."""
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

    def fundamentals(self, symbol: str, currency: str | None = None,
                     shares: pl.DataFrame | None = None) -> pl.DataFrame:
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
        return fundamentals_frame(symbol, tables, currency, shares)

    def shares(self, symbol: str, start: date | None = None, end: date | None = None) -> pl.DataFrame:
        """Share-count history (symbol, date, shares) from ``get_shares_full``, ``start`` to ``end`` inclusive; a
        repeated date keeps its last count. Empty when Yahoo has none. ``end`` defaults to today (see ``prices``)."""
        end = end or date.today()
        start = start or end - timedelta(days=5 * 365)
        series = self.call("share count", lambda: self.ticker(symbol).get_shares_full(
            start=start.isoformat(), end=_exclusive_end(end)))
        points = _series_points(series)
        schema = {"symbol": pl.String, "date": pl.Date, "shares": pl.Float64}
        if not points:
            return pl.DataFrame(schema=schema)
        return pl.DataFrame({"symbol": [symbol] * len(points), "date": [d for d, _ in points],
                             "shares": [n for _, n in points]}, schema=schema).filter(pl.col("shares") > 0)

    def prices(self, symbol: str, start: date | None = None, *, unit: str | None = None,
               end: date | None = None) -> PriceHistory:
        """Daily closes (contract ``prices``) from ``start`` to ``end`` (both inclusive, exchange dates), scaled from
        Yahoo's quote unit to ``unit`` (see ``price_scale``). Closes are split-adjusted, not dividend-adjusted
        (``auto_adjust=False``).

        ``end`` is always sent: without one yfinance asks up to the wall-clock "now" and drops the last bar when its
        time stamp is at or after that instant, so what a run sees would depend on the hour it runs. With an ``end``
        (the caller's "today"; refresh derives it from its ``now``) the answer covers whole exchange days.
        """
        end = end or date.today()
        start = start or end - timedelta(days=730)
        holder: dict[str, Any] = {}

        def fetch() -> Any:
            t = self.ticker(symbol)
            table = t.history(start=start.isoformat(), end=_exclusive_end(end), interval="1d", auto_adjust=False,
                              actions=False)
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
            {"symbol": [symbol] * len(closes), "date": [d for d, _ in closes],
             "close": [c * scale for _, c in closes], "volume": [volumes.get(d) for d, _ in closes]},
            schema=schema,
        )
        return PriceHistory(frame, quote, out_unit, scale)

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
        table = self.call(f"fx {pair}", lambda: self.ticker(pair).history(
            start=start.isoformat(), end=_exclusive_end(end), interval="1d", auto_adjust=False, actions=False))
        if table is None or getattr(table, "empty", True):
            return pl.DataFrame(schema=schema)
        closes = _series_points(table["Close"])
        return pl.DataFrame({"currency": [iso] * len(closes), "date": [d for d, _ in closes],
                             "usd_per_unit": [c for _, c in closes]}, schema=schema)
