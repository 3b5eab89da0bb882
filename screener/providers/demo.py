"""Synthetic demo data, so that the product runs offline on first use and every test has realistic fixtures.

Why synthetic rather than a bundled snapshot of real numbers: real prices and statements go stale, carry licences,
and would be mistaken for current market data. These numbers are generated, labelled with provider ``demo`` wherever
they are stored, and every command built on them prints a banner.

Why the generator is shaped by role and stage: the factors test the thesis (explorers and developers burn cash and
dilute, producers have revenue and mixed cash flow, downstream users are large and cash-generative), so a demo that
gave every company the same random walk would rank noise. Amounts are planned in US dollars at the end date's
exchange rate and reported in the listing currency (``GBp`` listings report in GBP and quote in pence).

Determinism: one ``numpy`` generator per symbol, seeded with ``(seed, crc32(symbol))``, and one per currency for fx.
Adding a company never changes another company's numbers, and the same inputs give byte-identical frames on any
machine (Python's salted ``hash()`` is never used).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from screener.contract import ENABLER_ROLES, listed_on, normalise_currency, polars_schema, with_defaults

DEMO_PROVIDER = "demo"
DEMO_SOURCE = "synthetic demo data (screener demo generator), not a real filing"
#: Seventeen quarter ends: four years of quarterly changes, so 3-year share growth can be measured on back-dated runs.
#: Three years of closes: a backtest needs half a year of history before its first date and years after it.
QUARTERS = 17
PRICE_YEARS = 3
#: A quarter is generated only once it would be public: this keeps every quarter usable at the end date.
REPORTING_LAG_DAYS = 60

#: US dollars per unit around which each currency's synthetic series moves.
FX_LEVELS: dict[str, float] = {
    "AUD": 0.65,
    "KRW": 0.00072,
    "JPY": 0.0067,
    "EUR": 1.08,
    "CAD": 0.73,
    "GBP": 1.27,
    "DKK": 0.145,
    "CHF": 1.12,
    "NOK": 0.094,
    "SEK": 0.095,
    "NZD": 0.60,
    "HKD": 0.128,
    "CNY": 0.138,
    "CNH": 0.138,
    "SGD": 0.74,
    "TWD": 0.031,
    "INR": 0.012,
    "IDR": 0.000063,
    "MYR": 0.22,
    "THB": 0.028,
    "PHP": 0.018,
    "VND": 0.00004,
    "ZAR": 0.054,
    "ILS": 0.27,
    "PLN": 0.25,
    "CZK": 0.043,
    "HUF": 0.0028,
    "BRL": 0.19,
    "MXN": 0.055,
    "CLP": 0.0011,
    "PEN": 0.27,
    "ARS": 0.0011,
    "TRY": 0.03,
    "SAR": 0.267,
    "AED": 0.272,
}
#: Fiscal years end in March in Japan and June in Australia; elsewhere in December.
FY_END_MONTH: dict[str, int] = {"JP": 3, "AU": 6, "NZ": 3, "IN": 3}
#: Headquarters whose companies report half years (``H``) instead of quarters, as ASX-listed companies do: the demo
#: then exercises half-year statements from import to trailing twelve months.
HALF_YEAR_COUNTRIES: frozenset[str] = frozenset({"AU"})


@dataclass(frozen=True)
class Profile:
    """How one archetype is drawn. Ranges are (low, high) and drawn log-uniformly for sizes."""

    mcap_usd: tuple[float, float]
    price_usd: tuple[float, float]
    annual_vol: tuple[float, float]
    turnover: tuple[float, float]  # share of market cap traded per day


PROFILES: dict[str, Profile] = {
    "explorer": Profile((50e6, 500e6), (0.04, 1.2), (0.55, 0.80), (0.004, 0.015)),
    "developer": Profile((200e6, 3e9), (0.3, 15.0), (0.40, 0.60), (0.003, 0.012)),
    "producer": Profile((1e9, 20e9), (4.0, 80.0), (0.28, 0.42), (0.002, 0.008)),
    "enabler": Profile((1e9, 10e9), (5.0, 90.0), (0.25, 0.40), (0.002, 0.007)),
    "downstream": Profile((20e9, 300e9), (20.0, 400.0), (0.18, 0.28), (0.002, 0.006)),
}
#: Yearly cash spend of explorers and developers as a share of market cap (low, high): it follows what they raised,
#: within these bounds, so a placement made at a past peak does not imply an implausible burn today.
SPEND_OF_MCAP: dict[str, tuple[float, float]] = {"explorer": (0.05, 0.2), "developer": (0.08, 0.3)}


def archetype(roles: str | None, stage: str | None) -> str:
    """The shape a company's numbers take: downstream users first (size dominates), then stage, then role."""
    tags = {r for r in (roles or "").split(";") if r}
    if "downstream_user" in tags:
        return "downstream"
    if stage in ("explorer", "developer"):
        return stage
    if tags & ENABLER_ROLES:
        return "enabler"
    return "producer"


def default_end(today: date | None = None) -> date:
    """The most recent Friday on or before ``today``: the demo is the same all week, so runs compare cleanly."""
    day = today or date.today()
    return day - timedelta(days=(day.weekday() - 4) % 7)


# -- calendars ---------------------------------------------------------------------------------------------------
def _business_days(start: date, end: date) -> np.ndarray:
    days = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D") + 1, dtype="datetime64[D]")
    return days[np.is_busday(days)]


def _quarter_end(year: int, quarter: int) -> date:
    month = quarter * 3
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return nxt - timedelta(days=1)


def quarter_ends(end: date, n: int = QUARTERS) -> list[date]:
    """The ``n`` calendar quarter ends up to the last one that is public by ``end`` (after the reporting lag)."""
    cutoff = end - timedelta(days=REPORTING_LAG_DAYS)
    year, quarter = cutoff.year, (cutoff.month - 1) // 3 + 1
    if _quarter_end(year, quarter) > cutoff:
        year, quarter = (year, quarter - 1) if quarter > 1 else (year - 1, 4)
    out = []
    for _ in range(n):
        out.append(_quarter_end(year, quarter))
        year, quarter = (year, quarter - 1) if quarter > 1 else (year - 1, 4)
    return out[::-1]


def _timeline(end: date) -> tuple[np.ndarray, list[date]]:
    qends = quarter_ends(end)
    start = qends[0] - timedelta(days=100)
    return _business_days(start, end), qends


# -- random helpers ----------------------------------------------------------------------------------------------
def _rng(seed: int, label: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(label.encode("utf-8"))])


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _sig(x: np.ndarray, digits: int = 4) -> np.ndarray:
    """Round to ``digits`` significant figures, as quotes are: 0.0345 AUD, 12.34 USD, 69310 KRW."""
    x = np.asarray(x, dtype=float)
    mag = np.floor(np.log10(np.abs(x)))
    factor = 10.0 ** (digits - 1 - mag)
    return np.round(x * factor) / factor


# -- fx ----------------------------------------------------------------------------------------------------------
def _fx_series(currency: str, days: np.ndarray, seed: int) -> np.ndarray:
    """Slowly mean-reverting log random walk around the currency's level (about 8% a year of noise)."""
    rng = _rng(seed, f"fx:{currency}")
    level = FX_LEVELS.get(currency, 1.0)
    sigma = 0.08 / math.sqrt(252)
    theta = 1 / 250
    shocks = rng.standard_normal(len(days)) * sigma
    x = np.empty(len(days))
    state = rng.normal(0, 0.03)
    for i, shock in enumerate(shocks):
        state = state - theta * state + shock
        x[i] = state
    return _sig(level * np.exp(x), 6)


# -- one company -------------------------------------------------------------------------------------------------
@dataclass
class _Company:
    symbol: str
    kind: str
    listing: str  # listing currency code as stored (may be a sub-unit such as GBp)
    iso: str  # statement currency
    sub: float  # listing unit in statement-currency units (0.01 for pence)
    fx_end: float  # USD per statement-currency unit at the end date
    fy_month: int
    half_years: bool
    enabler: bool
    trader_only: bool


def _price_path(rng: np.random.Generator, n: int, start_price: float, vol: float) -> np.ndarray:
    """Fat-tailed daily log returns without drift, walking forward from ``start_price``.

    Why forward and driftless: the demo promises prices with no planted signal, so a backtest on it measures noise.
    A path anchored at its *end* (as it once was, to pin each name's size on the end date) plants one: given the
    end price, a name that is high today must fall by then, so every price-level factor (liquidity, market cap)
    would forecast returns. A per-company drift plants momentum. A free walk from a drawn level has neither; sizes
    on the end date then scatter around the profile's range instead of sitting in it."""
    t = rng.standard_t(4, n) / math.sqrt(2.0)  # unit variance for 4 degrees of freedom
    steps = vol / math.sqrt(252) * t
    steps[0] = 0.0
    return start_price * np.exp(np.cumsum(steps))


def _company(c: _Company, days: np.ndarray, qends: list[date], seed: int) -> tuple[dict, dict, list[dict]]:
    """Statements, prices and placements of one company, all drawn from the company's own random stream.

    The price level and market cap are drawn first; the price path walks from that level (``_price_path`` says why
    it is not anchored to the end date), and the share count is set from the drawn market cap.
    """
    rng = _rng(seed, c.symbol)
    prof = PROFILES[c.kind]
    mcap_usd = _loguniform(rng, *prof.mcap_usd)
    price_usd = _loguniform(rng, *prof.price_usd)
    vol = rng.uniform(*prof.annual_vol)
    usd_per_listing_unit = c.fx_end * c.sub
    level = price_usd / usd_per_listing_unit  # in the listing unit (pence for GBp)
    path = _sig(_price_path(rng, len(days), level, vol))
    shares_end = float(round(mcap_usd / price_usd))
    mcap = mcap_usd / c.fx_end  # statement currency

    # quarter index of every business day: 0..QUARTERS-1 inside the statements, QUARTERS after the last one
    day_q = np.searchsorted(np.array([np.datetime64(q, "D") for q in qends]), days, side="left")

    shares, raises = _share_history(rng, c.kind, shares_end)
    proceeds = np.zeros(QUARTERS)
    events = []
    for qi, new_shares in raises:
        in_q = np.flatnonzero(day_q == qi)
        di = int(in_q[rng.integers(0, len(in_q))])
        offer = float(_sig(np.array([path[di] * (1 - rng.uniform(0.05, 0.15))]))[0])
        proceeds[qi] += new_shares * offer * c.sub
        events.append(
            {
                "symbol": c.symbol,
                "date": days[di].astype(date),
                "kind": "equity_raise",
                "amount_usd": float(round(new_shares * offer * usd_per_listing_unit, -3)),
                "description": (
                    f"Placement of {new_shares:,.0f} new shares at {offer:g} {c.listing} (synthetic demo event)"
                ),
                "source": DEMO_SOURCE,
            }
        )
    if c.kind in ("explorer", "developer"):
        q = _junior_statements(rng, c, mcap, shares, proceeds)
    else:
        q = _senior_statements(rng, c, mcap, shares)

    turnover = rng.uniform(*prof.turnover)
    noise = np.exp(rng.normal(0, 0.5, len(days)) - 0.125)
    volume = np.round(turnover * shares_end * noise)  # shares traded: a share of the float, noisy day to day
    prices = {"date": days, "close": path, "volume": volume}
    return q, prices, events


def _share_history(
    rng: np.random.Generator, kind: str, shares_end: float
) -> tuple[np.ndarray, list[tuple[int, float]]]:
    """Shares at each quarter end, and the (quarter, new shares) of each equity raise.

    Explorers and developers grow their share count 10-40% in every year (1-2 placements plus a trickle of options);
    producers drift 0-4% a year; downstream users buy back 0-3% a year.
    """
    log_growth = np.zeros(QUARTERS)
    raise_log = np.zeros(QUARTERS)
    if kind in ("explorer", "developer"):
        base = rng.uniform(0.12, 0.38)
        for year in range((QUARTERS - 1) // 4):
            g = float(np.clip(base + rng.normal(0, 0.06), 0.10, 0.40))
            total = math.log1p(g)
            # quarter 0 is the base; the latest quarters form whole years counted back from the newest
            idx = list(range(QUARTERS - 4 * (year + 1), QUARTERS - 4 * year))
            log_growth[idx] += 0.1 * total / 4
            picks = sorted(rng.choice(idx, size=int(rng.integers(1, 3)), replace=False).tolist())
            weights = rng.dirichlet(np.ones(len(picks)) * 3)
            for qi, w in zip(picks, weights, strict=True):
                raise_log[qi] += 0.9 * total * w
    elif kind == "downstream":
        log_growth += math.log1p(-rng.uniform(0.0, 0.03)) / 4
    else:
        log_growth += math.log1p(rng.uniform(0.0, 0.04)) / 4
    total_log = log_growth + raise_log
    # growth in quarter i happens between the end of quarter i-1 and the end of quarter i
    after = np.concatenate([np.cumsum(total_log[::-1])[::-1][1:], [0.0]])
    shares = np.round(shares_end * np.exp(-after))
    before = shares * np.exp(-total_log)
    raises = [
        (qi, float(round(before[qi] * math.exp(log_growth[qi]) * math.expm1(raise_log[qi]))))
        for qi in np.flatnonzero(raise_log).tolist()
    ]
    return shares, raises


def _junior_statements(
    rng: np.random.Generator, c: _Company, mcap: float, shares: np.ndarray, proceeds: np.ndarray
) -> dict:
    """Explorers and developers: little or no revenue, cash burn funded by placements (and sometimes a loan)."""
    lo, hi = SPEND_OF_MCAP[c.kind]
    annual_spend = float(np.clip(proceeds.sum() / 3 * rng.uniform(0.75, 1.1), lo * mcap, hi * mcap))
    spend = annual_spend / 4 * np.exp(rng.normal(0, 0.15, QUARTERS))
    opex_share = 0.8 if c.kind == "explorer" else rng.uniform(0.3, 0.45)
    opex = spend * opex_share
    capex = spend - opex
    revenue = np.zeros(QUARTERS)
    if c.kind == "developer" and c.enabler:
        ramp = np.linspace(0.2, 1.0, QUARTERS)
        revenue = annual_spend / 4 * rng.uniform(0.05, 0.3) * ramp * np.exp(rng.normal(0, 0.1, QUARTERS))
    debt_draw = np.zeros(QUARTERS)
    if c.kind == "developer" and rng.uniform() < 0.4:
        debt_draw[int(rng.integers(4, QUARTERS - 1))] = mcap * rng.uniform(0.1, 0.3)
    debt = np.cumsum(debt_draw)
    ocf = revenue * rng.uniform(-0.2, 0.1) - opex
    fcf = ocf - capex
    cum = np.cumsum(fcf + proceeds + debt_draw)
    floor = 0.3 * annual_spend / 4
    cash0 = max(annual_spend * rng.uniform(0.5, 1.5), floor - cum.min())
    cash = cash0 + cum
    interest = (cash * 0.03 - debt * 0.06) / 4
    dep = capex.cumsum() * 0.02
    op_income = ocf - dep
    net_income = op_income + interest
    equity0 = cash0 + mcap * rng.uniform(0.05, 0.2 if c.kind == "explorer" else 0.5)
    equity = equity0 + np.cumsum(net_income + proceeds)
    return {
        "revenue": revenue,
        "operating_income": op_income,
        "net_income": net_income,
        "operating_cash_flow": ocf,
        "capital_expenditure": capex,
        "free_cash_flow": fcf,
        "cash": cash,
        "total_debt": debt,
        "total_equity": equity,
        "inventory": None,
        "shares_outstanding": shares,
    }


#: Producers, enablers, pure traders and downstream users: price/sales, revenue growth a year and operating margin
#: are drawn uniformly from these ranges; margin noise and depreciation are shares of revenue.
_SENIOR: dict[str, dict[str, tuple[float, float]]] = {
    "downstream": {
        "price_to_sales": (0.3, 3.0),
        "growth": (-0.03, 0.10),
        "margin": (0.06, 0.20),
        "margin_sd": 0.01,
        "depreciation": 0.04,
    },
    "trader": {
        "price_to_sales": (0.15, 0.4),
        "growth": (-0.05, 0.08),
        "margin": (0.02, 0.05),
        "margin_sd": 0.005,
        "depreciation": 0.01,
    },
    "enabler": {
        "price_to_sales": (1.0, 3.0),
        "growth": (-0.05, 0.20),
        "margin": (0.0, 0.18),
        "margin_sd": 0.03,
        "depreciation": 0.05,
    },
    "producer": {
        "price_to_sales": (1.2, 4.0),
        "growth": (-0.15, 0.25),
        "margin": (-0.12, 0.25),
        "margin_sd": 0.04,
        "depreciation": 0.08,
    },
}


def _senior_statements(rng: np.random.Generator, c: _Company, mcap: float, shares: np.ndarray) -> dict:
    """Producers, enablers and downstream users: revenue, margins, capex and a balance sheet that carries cash."""
    k = c.kind
    shape = _SENIOR["trader" if c.trader_only and k == "producer" else k]
    ps, growth, margin = (rng.uniform(*shape[n]) for n in ("price_to_sales", "growth", "margin"))
    m_sd, dna = shape["margin_sd"], shape["depreciation"]
    t = (np.arange(QUARTERS) - (QUARTERS - 1)) / 4
    revenue = mcap / ps / 4 * np.exp(growth * t) * np.exp(np.clip(rng.normal(0, 0.05, QUARTERS), -0.1, 0.1))
    margins = margin + np.clip(rng.normal(0, m_sd, QUARTERS), -2 * m_sd, 2 * m_sd)
    op_income = revenue * margins
    wc_sd = 0.005 if k == "downstream" else 0.03
    ocf = op_income + revenue * dna + revenue * np.clip(rng.normal(0, wc_sd, QUARTERS), -2 * wc_sd, 2 * wc_sd)
    if k == "downstream":
        # Capex is a share of operating cash flow, so free cash flow stays positive every quarter.
        capex = rng.uniform(0.25, 0.6) * (margin + dna) * revenue
    elif c.trader_only and k == "producer":
        capex = revenue * rng.uniform(0.005, 0.015)
    elif k == "enabler":
        capex = revenue * rng.uniform(0.06, 0.15)
    else:
        capex = revenue * rng.uniform(0.10, 0.30)
    fcf = ocf - capex
    payout_ratio = rng.uniform(0.5, 0.9) if k == "downstream" else rng.uniform(0.0, 0.4)
    debt0 = mcap * (rng.uniform(0.05, 0.4) if k == "downstream" else rng.uniform(0.0, 0.4))
    cash_floor = 0.02 * mcap
    cash_q, debt_q, ni_q, payout_q = [], [], [], []
    cash, debt = mcap * rng.uniform(0.05, 0.2), debt0
    for i in range(QUARTERS):
        interest = (cash * 0.03 - debt * 0.05) / 4
        pre_tax = op_income[i] + interest
        ni = pre_tax * (0.75 if pre_tax > 0 else 1.0)
        payout = payout_ratio * max(float(fcf[i]), 0.0)
        cash = cash + fcf[i] + interest - payout
        if cash < cash_floor:
            debt += cash_floor - cash
            cash = cash_floor
        cash_q.append(cash)
        debt_q.append(debt)
        ni_q.append(ni)
        payout_q.append(payout)
    pb = rng.uniform(1.0, 6.0) if k == "downstream" else rng.uniform(1.0, 3.5)
    equity = mcap / pb + np.cumsum(np.array(ni_q) - np.array(payout_q))
    inv_ratio = {"downstream": (0.08, 0.15), "enabler": (0.15, 0.3)}.get(k, (0.15, 0.35))
    inventory = revenue * 4 * rng.uniform(*inv_ratio) * np.exp(rng.normal(0, 0.05, QUARTERS))
    return {
        "revenue": revenue,
        "operating_income": op_income,
        "net_income": np.array(ni_q),
        "operating_cash_flow": ocf,
        "capital_expenditure": capex,
        "free_cash_flow": fcf,
        "cash": np.array(cash_q),
        "total_debt": np.array(debt_q),
        "total_equity": equity,
        "inventory": inventory,
        "shares_outstanding": shares,
    }


_FLOWS = ("revenue", "operating_income", "net_income", "operating_cash_flow", "capital_expenditure", "free_cash_flow")
_STOCKS = ("cash", "total_debt", "total_equity", "inventory", "shares_outstanding")


def _statement_rows(c: _Company, q: dict, qends: list[date]) -> list[dict]:
    """Quarterly rows (or half-year rows for half-year reporters) plus an FY row for each fiscal year whose four
    quarters are all present. A half year or a year sums its quarters' flows and takes its last quarter's balances,
    so every FY equals the sum of its parts and the parts are spaced as labelled."""
    values = {}
    for name in (*_FLOWS, *_STOCKS):
        v = q[name]
        values[name] = None if v is None else np.round(np.asarray(v, dtype=float))

    def period(label: str, i: int, n: int) -> dict:
        row = {"symbol": c.symbol, "period_end": qends[i], "period": label, "currency": c.iso}
        for name, v in values.items():
            if v is None:
                row[name] = None
            elif name in _FLOWS:
                row[name] = float(v[i - n + 1 : i + 1].sum())
            else:
                row[name] = float(v[i])
        return row

    half_end_months = {c.fy_month, (c.fy_month + 5) % 12 + 1}
    if c.half_years:
        rows = [period("H", i, 2) for i, pe in enumerate(qends) if pe.month in half_end_months and i >= 1]
    else:
        rows = [period("Q", i, 1) for i in range(len(qends))]
    rows += [period("FY", i, 4) for i, pe in enumerate(qends) if pe.month == c.fy_month and i >= 3]
    return rows


# -- public API --------------------------------------------------------------------------------------------------
def generate_demo(companies: pl.DataFrame, *, end: date, seed: int = 7) -> dict[str, pl.DataFrame]:
    """Synthetic ``fundamentals``, ``prices``, ``fx`` and ``events`` for every company, in contract shapes.

    ``companies`` needs ``symbol``, ``country``, ``currency``, ``roles`` and ``stage`` (and may give ``listed_from``
    and ``delisted_on``). Prices cover the last three years of business days up to ``end`` (enough history for a
    back-dated run or a backtest), only while listed; fundamentals the 17 quarters public by ``end`` (four years of
    changes), reported as half years in ``HALF_YEAR_COUNTRIES``, with FY rows; fx the whole span.
    """
    days, qends = _timeline(end)
    price_from = np.datetime64(end - timedelta(days=365 * PRICE_YEARS), "D")
    rows = companies.select("symbol", "country", "currency", "roles", "stage").sort("symbol").iter_rows(named=True)
    members = list(rows)

    isos = sorted({normalise_currency(r["currency"])[0] for r in members} - {"USD"})
    fx_cols: dict[str, list] = {"currency": [], "date": [], "usd_per_unit": []}
    fx_end: dict[str, float] = {"USD": 1.0}
    for ccy in isos:
        series = _fx_series(ccy, days, seed)
        fx_cols["currency"].extend([ccy] * len(days))
        fx_cols["date"].append(days)
        fx_cols["usd_per_unit"].append(series)
        fx_end[ccy] = float(series[-1])

    fund_rows: list[dict] = []
    price_parts: list[pl.DataFrame] = []
    events: list[dict] = []
    for r in members:
        iso, sub = normalise_currency(r["currency"])
        roles = {x for x in (r["roles"] or "").split(";") if x}
        c = _Company(
            symbol=r["symbol"],
            kind=archetype(r["roles"], r["stage"]),
            listing=r["currency"],
            iso=iso,
            sub=sub,
            fx_end=fx_end[iso],
            fy_month=FY_END_MONTH.get(r["country"] or "", 12),
            half_years=(r["country"] or "") in HALF_YEAR_COUNTRIES,
            enabler=bool(roles & ENABLER_ROLES),
            trader_only=roles == {"trader_offtaker"},
        )
        q, prices, evs = _company(c, days, qends, seed)
        fund_rows.extend(_statement_rows(c, q, qends))
        keep = prices["date"] >= price_from
        price_parts.append(
            pl.DataFrame(
                {
                    "symbol": [c.symbol] * int(keep.sum()),
                    "date": prices["date"][keep],
                    "close": prices["close"][keep],
                    "volume": prices["volume"][keep],
                }
            )
        )
        events.extend(evs)

    def shaped(kind: str, frame: pl.DataFrame, key: list[str]) -> pl.DataFrame:
        schema = polars_schema(kind)
        missing = [pl.lit(None, dtype=dt).alias(n) for n, dt in schema.items() if n not in frame.columns]
        typed = frame.with_columns(missing).select([pl.col(n).cast(dt) for n, dt in schema.items()])
        return with_defaults(kind, typed).sort(key)

    fx = pl.DataFrame(
        {
            "currency": pl.Series(fx_cols["currency"], dtype=pl.String),
            "date": np.concatenate(fx_cols["date"]) if isos else np.array([], dtype="datetime64[D]"),
            "usd_per_unit": np.concatenate(fx_cols["usd_per_unit"]) if isos else np.array([], dtype=float),
        }
    )
    fund = (
        pl.DataFrame(fund_rows, schema=polars_schema("fundamentals"), orient="row")
        if fund_rows
        else pl.DataFrame(schema=polars_schema("fundamentals"))
    )
    prices_df = pl.concat(price_parts) if price_parts else pl.DataFrame(schema=polars_schema("prices"))
    # a listing trades only while it is listed: no synthetic close before its first day or from its delisting on
    listing = companies.select(
        "symbol",
        *(
            (pl.col(c) if c in companies.columns else pl.lit(None)).cast(pl.Date).alias(c)
            for c in ("listed_from", "delisted_on")
        ),
    )
    prices_df = (
        prices_df.join(listing, on="symbol", how="left")
        .filter(listed_on(pl.col("date")))
        .drop("listed_from", "delisted_on")
    )
    ev = pl.DataFrame(
        events,
        schema={
            "symbol": pl.String,
            "date": pl.Date,
            "kind": pl.String,
            "amount_usd": pl.Float64,
            "description": pl.String,
            "source": pl.String,
        },
    )
    return {
        "fundamentals": shaped("fundamentals", fund, ["symbol", "period_end", "period"]),
        "prices": shaped("prices", prices_df, ["symbol", "date"]),
        "fx": shaped("fx", fx, ["currency", "date"]),
        "events": shaped("events", ev, ["symbol", "date", "kind", "description"]),
    }
