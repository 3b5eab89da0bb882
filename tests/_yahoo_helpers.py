"""An offline Yahoo Finance for tests and benchmarks: a curl_cffi Session that answers like Yahoo does.

It drives the real yfinance library end to end: the cookie request, the crumb, then the data URLs (quoteSummary,
v7 quote, fundamentals-timeseries, chart). Bodies have the shapes of the real responses recorded in
``tests/fixtures/yahoo`` (MIT, see the LICENSE file there), and some listings replay those recordings verbatim.
Failures (HTTP 429, 401, 404, or HTTP 200 with an empty result) are injected per URL pattern, hooks can hold or
answer any request (to force an interleaving of threads, or to advance a test's clock); every request is counted.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from curl_cffi.requests import Session
from curl_cffi.requests.models import Response

FIXTURES = Path(__file__).parent / "fixtures" / "yahoo"

#: yfinance type keys (without the annual/quarterly prefix) that the synthetic statements fill.
STATEMENT_KEYS = {
    "TotalRevenue": 100.0,
    "OperatingIncome": 12.0,
    "NetIncome": 8.0,
    "OperatingCashFlow": 20.0,
    "CapitalExpenditure": -7.5,
    "FreeCashFlow": 12.5,
    "CashCashEquivalentsAndShortTermInvestments": 50.0,
    "TotalDebt": 30.0,
    "StockholdersEquity": 200.0,
    "Inventory": 15.0,
    "OrdinarySharesNumber": None,
}
#: The fake market's "today": the last trading day every synthetic listing has a bar for. A fixed date, never the
#: clock, so that what the fake serves is the same at any hour and on any day the tests run.
ANCHOR = date(2026, 8, 14)
#: A run's ``now`` (naive UTC) just after that day's close everywhere the fake lists (Tokyo to New York).
ANCHOR_NOW = datetime(2026, 8, 14, 23, 0)
ANNUAL_ENDS = ("2022-12-31", "2023-12-31", "2024-12-31", "2025-12-31")
QUARTER_ENDS = ("2025-06-30", "2025-09-30", "2025-12-31", "2026-03-31", "2026-06-30")


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _entry(as_of: str, value: float, period_type: str, currency: str) -> dict[str, Any]:
    return {
        "dataId": 1,
        "asOfDate": as_of,
        "periodType": period_type,
        "currencyCode": currency,
        "reportedValue": {"raw": value, "fmt": f"{value:.2f}"},
    }


#: Half-year ends of an ASX company with a June year end: Yahoo serves them in its "quarterly" tables.
HALF_YEAR_ENDS = ("2024-06-30", "2024-12-31", "2025-06-30", "2025-12-31", "2026-06-30")


def synthetic_statements(
    currency: str = "USD",
    scale: float = 1e6,
    shares: float = 1e8,
    drop: Iterable[str] = (),
    quarter_ends: tuple[str, ...] = QUARTER_ENDS,
    quarter_type: str = "3M",
) -> dict[str, list[dict[str, Any]]]:
    """Four fiscal years and five sub-annual periods for the keys the provider maps, capex negative as Yahoo sends
    it. The sub-annual ones go under Yahoo's ``quarterly`` keys whatever their length: pass ``HALF_YEAR_ENDS`` and
    ``"6M"`` for a half-yearly reporter."""
    out: dict[str, list[dict[str, Any]]] = {}
    per_year = 4.0 if quarter_type == "3M" else 2.0
    for prefix, ends, ptype, mult in (
        ("annual", ANNUAL_ENDS, "12M", per_year),
        ("quarterly", quarter_ends, quarter_type, 1.0),
    ):
        for key, base in STATEMENT_KEYS.items():
            if key in drop:
                continue
            entries = []
            for i, end in enumerate(ends):
                if key == "OrdinarySharesNumber":
                    value = shares * (1 + 0.02 * i)
                elif key in (
                    "CashCashEquivalentsAndShortTermInvestments",
                    "TotalDebt",
                    "StockholdersEquity",
                    "Inventory",
                ):
                    value = base * scale * (1 + 0.1 * i)
                else:
                    value = base * scale * mult * (1 + 0.1 * i)
                entries.append(_entry(end, value, ptype, currency))
            out[prefix + key] = entries
    return out


def recorded_statements(*names: str) -> dict[str, list[dict[str, Any]]]:
    """Statement entries exactly as Yahoo sent them in the recorded fixtures."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        for item in load_fixture(name)["timeseries"]["result"]:
            key = item["meta"]["type"][0]
            if key in item:
                out[key] = item[key]
    return out


@dataclass
class Listing:
    """One symbol as the fake Yahoo knows it."""

    symbol: str
    quote_currency: str = "USD"
    financial_currency: str | None = "USD"
    name: str | None = None
    country: str = "United States"
    sector: str = "Basic Materials"
    industry: str = "Other Industrial Metals & Mining"
    summary: str = "Mines and separates rare earths."
    timezone: str = "America/New_York"
    price: float = 20.0
    shares: float = 1e8
    days: int = 60
    statements: dict[str, list[dict[str, Any]]] | None = None
    share_counts: list[tuple[str, float]] = field(default_factory=list)
    bars: list[tuple[int, float, float, float, float, int]] | None = None
    modules: dict[str, Any] = field(default_factory=dict)
    anchor: date = ANCHOR
    quote_type: str = "EQUITY"
    #: split actions as (date, numerator, denominator): ("2026-07-01", 5, 1) is a 5:1 split, 1 and 10 a 1:10
    splits: list[tuple[str, float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.name is None:
            self.name = f"{self.symbol} Corp."
        if self.statements is None:
            self.statements = synthetic_statements(self.financial_currency or "USD", shares=self.shares)
        if self.bars is None:
            self.bars = self._synthetic_bars()

    def _synthetic_bars(self) -> list[tuple[int, float, float, float, float, int]]:
        """One bar per weekday up to ``anchor``, stamped at noon exchange time like Yahoo's daily bars (a time of
        day, not midnight).

        Why a fixed anchor and not today: yfinance's ``history()`` without an ``end`` asks Yahoo up to the wall-clock
        now and drops the last bar when its stamp is at or after that instant (its fix for Yahoo appending a live
        quote past ``end``), and this fake, like Yahoo, serves only bars before ``period2``. Bars built from
        today's date therefore vanished whenever the tests ran before noon at the exchange. Bars on fixed dates,
        asked for with an explicit ``end`` after them, arrive at any hour.
        """
        tz = ZoneInfo(self.timezone)
        days = [self.anchor - timedelta(days=k) for k in range(self.days, -1, -1)]
        days = [d for d in days if d.weekday() < 5]
        bars = []
        for i, d in enumerate(days):
            ts = int(datetime(d.year, d.month, d.day, 12, 0, tzinfo=tz).timestamp())
            close = self.price * (1 + 0.001 * ((len(days) - 1 - i) % 7))  # the last close is exactly ``price``
            bars.append((ts, close, close * 1.01, close * 0.99, close, 100_000 + i))
        return bars


def recorded_aapl() -> Listing:
    """AAPL with its recorded chart, quote and profile, and its recorded quarterly income statement."""
    chart = load_fixture("history_chart_AAPL.json")["chart"]["result"][0]
    q = chart["indicators"]["quote"][0]
    bars = [
        (ts, o, h, lo, c, v)
        for ts, o, h, lo, c, v in zip(
            chart["timestamp"], q["open"], q["high"], q["low"], q["close"], q["volume"], strict=True
        )
    ]
    profile = load_fixture("profile_api_assetProfile-quoteType-fundProfile_AAPL.json")["quoteSummary"]["result"][0]
    return Listing(
        "AAPL",
        name="Apple Inc.",
        country="United States",
        sector="Technology",
        industry="Consumer Electronics",
        summary=profile["assetProfile"]["longBusinessSummary"],
        price=269.7,
        shares=14840390000,
        statements=recorded_statements("timeseries_income_statement_quarterly_AAPL.json"),
        bars=bars,
        modules={"assetProfile": profile["assetProfile"], "quoteType": profile["quoteType"]},
    )


@dataclass
class Rule:
    pattern: str
    status: int
    times: int
    body: str | None = None


#: What Yahoo answers a request whose crumb it no longer accepts.
INVALID_CRUMB = json.dumps(
    {"finance": {"result": None, "error": {"code": "Unauthorized", "description": "Invalid Crumb"}}}
)
#: What a throttled Yahoo often answers a statement request: HTTP 200, and nothing in it.
EMPTY_TIMESERIES = json.dumps({"timeseries": {"result": [], "error": None}})
#: A hook sees each request's full URL first; it may block, or answer (a Response) instead of the fake.
Hook = Callable[[str], "Response | None"]


class FakeYahoo(Session):
    """Answers yfinance's requests from ``listings``; ``fail()`` injects HTTP errors; ``calls`` records URLs."""

    def __init__(self, listings: Iterable[Listing] = (), *, latency: float = 0.0) -> None:
        super().__init__()
        self.listings = {item.symbol: item for item in listings}
        self.latency = latency
        self.calls: list[str] = []
        self.rules: list[Rule] = []
        self.hooks: list[Hook] = []
        self._guard = threading.Lock()

    # -- test controls -----------------------------------------------------------------------------------------
    def fail(self, pattern: str, status: int = 429, times: int = 10**9, body: str | None = None) -> None:
        """Answer ``status`` to the next ``times`` requests whose URL matches the regex ``pattern``; HTTP 401 comes
        with Yahoo's "Invalid Crumb" body, others with a short error body unless ``body`` is given."""
        with self._guard:
            self.rules.append(Rule(pattern, status, times, body))

    def empty(self, pattern: str, times: int = 10**9) -> None:
        """Answer HTTP 200 with an empty statement result (``"result": []``), as a throttled Yahoo does."""
        self.fail(pattern, 200, times, EMPTY_TIMESERIES)

    def unreachable(self) -> None:
        """Behave like a machine with no route to Yahoo: every request fails name resolution."""
        with self._guard:
            self.rules.append(Rule(".*", 0, 10**9))

    def clear_failures(self) -> None:
        with self._guard:
            self.rules.clear()

    def data_calls(self, pattern: str = "") -> list[str]:
        """Requests for data (not the cookie and crumb handshake), optionally filtered by a regex."""
        skip = ("fc.yahoo.com", "getcrumb", "guce.yahoo.com", "consent.yahoo.com")
        return [u for u in self.calls if not any(s in u for s in skip) and re.search(pattern, u)]

    # -- the server --------------------------------------------------------------------------------------------
    def request(self, method: str, url: str, params: Any = None, **kwargs: Any) -> Response:  # type: ignore[override]
        query = {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}
        query.update({k: str(v) for k, v in (params or {}).items()})
        full = url + ("&" if "?" in url else "?") + "&".join(f"{k}={v}" for k, v in (params or {}).items())
        with self._guard:
            self.calls.append(full)
            hooks = list(self.hooks)
        for hook in hooks:
            answer = hook(full)
            if answer is not None:
                return answer
        with self._guard:
            rule = next((r for r in self.rules if r.times > 0 and re.search(r.pattern, full)), None)
            if rule is not None:
                rule.times -= 1
        if self.latency:
            time.sleep(self.latency)
        if rule is not None and rule.status == 0:
            from curl_cffi.requests.exceptions import DNSError

            raise DNSError("Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com", code=6)
        if rule is not None:
            body = rule.body
            if body is None:
                body = {429: "Too Many Requests", 401: INVALID_CRUMB}.get(
                    rule.status, json.dumps({"error": {"code": str(rule.status)}})
                )
            return _response(url, rule.status, body)
        return self._answer(urlsplit(url), query)

    def _answer(self, parts: Any, query: dict[str, str]) -> Response:
        url = parts.geturl()
        host, path = parts.netloc, parts.path
        if host == "fc.yahoo.com":
            self._set_cookie()
            return _response(url, 200, "")
        if host.endswith("guce.yahoo.com") or host.endswith("consent.yahoo.com"):
            return _response(url, 200, "<html><body>consent</body></html>")
        if path.endswith("/v1/test/getcrumb"):
            return _response(url, 200, "fakecrumb")
        if "/v10/finance/quoteSummary/" in path:
            return self._quote_summary(url, path.rsplit("/", 1)[-1])
        if path.endswith("/v7/finance/quote"):
            return self._quote(url, query.get("symbols", ""))
        if "/fundamentals-timeseries/" in path:
            return self._timeseries(url, path.rsplit("/", 1)[-1], query)
        if "/v8/finance/chart/" in path:
            return self._chart(url, path.rsplit("/", 1)[-1], query)
        return _response(url, 404, json.dumps({"error": "unknown endpoint"}))

    def _set_cookie(self) -> None:
        """Yahoo's A3 cookie: yfinance stores it in its cookie cache and stops asking fc.yahoo.com."""
        from http.cookiejar import Cookie

        expires = int(time.time()) + 365 * 86400
        cookie = Cookie(
            0, "A3", "fake", None, False, ".yahoo.com", True, True, "/", True, True, expires, False, None, None, {}
        )
        self.cookies.jar.set_cookie(cookie)

    def _quote_summary(self, url: str, symbol: str) -> Response:
        item = self.listings.get(symbol)
        if item is None:
            body = {
                "quoteSummary": {
                    "result": None,
                    "error": {"code": "Not Found", "description": f"Quote not found for symbol: {symbol}"},
                }
            }
            return _response(url, 404, json.dumps(body))
        modules = {
            "assetProfile": {
                "country": item.country,
                "sector": item.sector,
                "industry": item.industry,
                "longBusinessSummary": item.summary,
                "maxAge": 86400,
            },
            "quoteType": {
                "exchange": "NMS",
                "quoteType": item.quote_type,
                "symbol": symbol,
                "shortName": item.name,
                "longName": item.name,
                "timeZoneFullName": item.timezone,
                "maxAge": 1,
            },
            "financialData": {"currentPrice": _raw(item.price), "maxAge": 86400},
            "summaryDetail": {"currency": item.quote_currency, "marketCap": _raw(item.price * item.shares)},
            "defaultKeyStatistics": {"sharesOutstanding": _raw(item.shares)},
        }
        if item.financial_currency:
            modules["financialData"]["financialCurrency"] = item.financial_currency
        modules.update(item.modules)
        return _response(url, 200, json.dumps({"quoteSummary": {"result": [modules], "error": None}}))

    def _quote(self, url: str, symbol: str) -> Response:
        item = self.listings.get(symbol)
        if item is None:
            return _response(url, 200, json.dumps({"quoteResponse": {"result": [], "error": None}}))
        quote = dict(load_fixture("quote_v7_AAPL.json")["quoteResponse"]["result"][0])
        quote.update(
            {
                "symbol": symbol,
                "shortName": item.name,
                "longName": item.name,
                "displayName": item.name,
                "currency": item.quote_currency,
                "regularMarketPrice": item.price,
                "sharesOutstanding": item.shares,
                "marketCap": item.price * item.shares,
                "exchangeTimezoneName": item.timezone,
                "quoteType": item.quote_type,
            }
        )
        if item.financial_currency:
            quote["financialCurrency"] = item.financial_currency
        else:
            quote.pop("financialCurrency", None)
        return _response(url, 200, json.dumps({"quoteResponse": {"result": [quote], "error": None}}))

    def _timeseries(self, url: str, symbol: str, query: dict[str, str]) -> Response:
        item = self.listings.get(symbol)
        types = [t for t in query.get("type", "").split(",") if t]
        if not types:  # get_shares_full asks without a type and reads 'shares_out'
            entry: dict[str, Any] = {"meta": {"symbol": [symbol]}}
            if item is not None and item.share_counts:
                # yfinance reads these UTC stamps as exchange-local wall times: noon keeps the date in any zone
                stamps = [_utc_epoch(d, 12) for d, _ in item.share_counts]
                entry.update({"timestamp": stamps, "shares_out": [int(n) for _, n in item.share_counts]})
            return _response(url, 200, json.dumps({"timeseries": {"result": [entry], "error": None}}))
        result = []
        for t in types:
            entry = {"meta": {"symbol": [symbol], "type": [t]}}
            data = (item.statements or {}).get(t) if item is not None else None
            if data:
                entry["timestamp"] = [_utc_epoch(e["asOfDate"], 0) for e in data]
                entry[t] = data
            result.append(entry)
        return _response(url, 200, json.dumps({"timeseries": {"result": result, "error": None}}))

    def _chart(self, url: str, symbol: str, query: dict[str, str]) -> Response:
        item = self.listings.get(symbol)
        if item is None:
            body = {
                "chart": {
                    "result": None,
                    "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"},
                }
            }
            return _response(url, 404, json.dumps(body))
        bars = item.bars or []
        splits = [(_local_noon(d, item.timezone), n, m) for d, n, m in item.splits]
        if "period1" in query:
            lo, hi = int(query["period1"]), int(query.get("period2", 2**40))
            bars = [b for b in bars if lo <= b[0] < hi]
            splits = [s for s in splits if lo <= s[0] < hi]
        else:
            bars, splits = bars[-1:], []
        meta = dict(load_fixture("history_chart_AAPL.json")["chart"]["result"][0]["meta"])
        meta.update(
            {
                "currency": item.quote_currency,
                "symbol": symbol,
                "exchangeTimezoneName": item.timezone,
                "longName": item.name,
                "shortName": item.name,
                "regularMarketPrice": item.price,
                "range": "",
                "dataGranularity": "1d",
            }
        )
        result: dict[str, Any] = {"meta": meta}
        if bars:
            result["timestamp"] = [b[0] for b in bars]
            result["indicators"] = {
                "quote": [
                    {
                        "open": [b[1] for b in bars],
                        "high": [b[2] for b in bars],
                        "low": [b[3] for b in bars],
                        "close": [b[4] for b in bars],
                        "volume": [b[5] for b in bars],
                    }
                ],
                "adjclose": [{"adjclose": [b[4] for b in bars]}],
            }
        else:
            result["indicators"] = {"quote": [{}], "adjclose": [{}]}
        if splits:  # the shape of Yahoo's chart events, keyed by the event's time stamp as a string
            result["events"] = {
                "splits": {
                    str(ts): {"date": ts, "numerator": n, "denominator": m, "splitRatio": f"{n:g}:{m:g}"}
                    for ts, n, m in splits
                }
            }
        return _response(url, 200, json.dumps({"chart": {"result": [result], "error": None}}))


def _local_noon(day: str, timezone: str) -> int:
    """Epoch seconds of noon on ``day`` at the exchange, as the fake stamps its bars and events."""
    return int(datetime.fromisoformat(day).replace(hour=12, tzinfo=ZoneInfo(timezone)).timestamp())


def _utc_epoch(day: str, hour: int) -> int:
    """Epoch seconds of ``day`` at ``hour`` UTC: independent of the machine's time zone."""
    return int(datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC).timestamp())


def _raw(value: float) -> dict[str, Any]:
    return {"raw": value, "fmt": f"{value:.2f}"}


def _response(url: str, status: int, body: str) -> Response:
    r = Response()
    r.url = url
    r.status_code = status
    r.ok = status < 400
    r.reason = {200: "OK", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests"}.get(status, "Error")
    r.content = body.encode("utf-8")
    return r


def reset_yfinance() -> None:
    """Forget yfinance's process-wide state between tests: cached responses, crumb, and the cache databases, so
    each test's requests and cache folder are its own."""
    import yfinance.cache as yc
    from yfinance.data import YfData

    from screener.providers import yahoo

    YfData.cache_get.cache_clear()
    data = YfData._instances.get(YfData)
    if data is not None:
        data._crumb = None
        data._cookie = None
        data._cookie_strategy = "basic"
        data.fundamentals_use_chunked = False
    for manager in ("_TzCacheManager", "_CookieCacheManager", "_ISINCacheManager"):
        cls = getattr(yc, manager, None)
        for attr in ("_tz_cache", "_Cookie_cache", "_isin_cache"):
            if cls is not None and hasattr(cls, attr):
                setattr(cls, attr, None)
    yahoo._configured_cache = None
