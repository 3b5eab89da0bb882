"""Point-in-time inputs: what was public on the as-of date, in US dollars, one row per company.

Why this module exists: every factor must see the same view of the data, and that view must be honest about time,
money and share counts. The rules are enforced here once, so no factor can get them wrong:

* **Reporting lag.** A statement period counts only from ``period_end + lag``: 60 days after a quarter (``Q``), 90
  after a half year (``H``) or a fiscal year (``FY``). A quarter that ended 30 days before the as-of date does not
  exist yet. ``is_public``/``public_statements_sql``/``reported_by`` (in ``factors.methodology``, beside the lags) are
  the one definition every caller uses.
* **Trailing twelve months from whole periods.** Four consecutive quarters, two consecutive halves, or a fiscal year
  (rolled forward by the half year that follows it): never a partial sum scaled up.
* **Prices on or before the as-of date.** Nothing later is read.
* **USD at the value's own date.** Each money value is converted with the latest ``fx`` rate on or before its own
  date (a price at its trading day, a statement value at its period end). ``USD`` is 1 on every date. Quote
  sub-units (``GBp``, ``ZAc``, ``ILA``) are scaled to their currency first. A value with no rate is left null and the
  company is flagged ``missing_fx``: it never counts as dollars.
* **One share basis.** Closes are split-adjusted (as yfinance delivers them), share counts are as reported: every
  count is put on the closes' basis with the stored splits dated after it, so a split is never read as issuance.

The heavy part is the price panel (the benchmark has 13 million rows), so prices are handled without string joins:
rows sorted by (symbol, date) form one run per symbol, the run id indexes the company's currency, and the fx rate is
gathered from a dense day-by-currency grid.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import reduce
from threading import Lock
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import polars as pl

from factors.ledger import government_backing_view, ordered_sum, received_from_government
from factors.methodology import FIELD_COLUMNS as FIELD_COLUMNS
from factors.methodology import IDENTITY_COLUMNS as IDENTITY_COLUMNS
from factors.methodology import SETTINGS as SETTINGS
from factors.methodology import is_public as is_public
from factors.methodology import public_statements_sql as public_statements_sql
from factors.methodology import reported_by as reported_by
from factors.methodology import reporting_lags as reporting_lags
from screener.contract import (
    BOOLEAN_TEXT,
    ENABLER_ROLES,
    KINDS,
    MARKET_SYMBOL,
    PERIOD_SPACING,
    PERIODS,
    REGIONS,
    known_from,
    listed_on,
    normalise_currency,
    polars_schema,
    with_defaults,
)

if TYPE_CHECKING:
    from screener.store import Store

#: Flows summed over the trailing twelve months; the rest are balances taken at the latest period.
FLOW_FIELDS: tuple[str, ...] = ("revenue", "operating_cash_flow", "capital_expenditure", "fcf")
BALANCE_FIELDS: tuple[str, ...] = ("cash", "total_debt", "total_equity")


def _reports(field: str) -> pl.Expr:
    """Whether a statement row reports ``field``: its ``<field>_usd`` amount is not null.

    Why the USD column and not the reported one: the amount is the reported value times the USD per unit, which is
    NaN (never null) without a rate, so it is null exactly when the reported value is; the passes then read no
    column in the statement's own currency, and a statement copied into many versions stays narrow. The share
    count has no USD amount and is read as reported."""
    return pl.col(field if field == "shares_outstanding" else f"{field}_usd").is_not_null()


#: Fields whose value can be older than the staleness limit even when newer rows of other fields exist; each gets
#: its own flag ``stale:<field>`` (a boolean column of the base frame under that name).
STALE_FIELDS: tuple[str, ...] = (
    "revenue_ttm_usd",
    "operating_cash_flow_ttm_usd",
    "capex_ttm_usd",
    "free_cash_flow_ttm_usd",
    "cash_usd",
    "total_debt_usd",
    "total_equity_usd",
    "shares_outstanding",
)
FIELD_FLAGS: tuple[str, ...] = tuple(f"stale:{c}" for c in STALE_FIELDS)


@dataclass(frozen=True)
class Grant:
    """What one declared input (a name of ``factors.inputs.INPUTS``) hands a factor: base-frame columns, columns of
    the price and statement panels, and whether the event ledger comes with it."""

    base: tuple[str, ...] = ()
    prices: tuple[str, ...] = ()
    fundamentals: tuple[str, ...] = ()
    events: bool = False


def _ttm(column: str) -> tuple[str, ...]:
    return (column, f"{column}_basis", f"{column}_date")


@dataclass(frozen=True)
class InputSpec:
    """One input a factor can need. ``counted`` inputs enter ``data_completeness``; identity fields (required by
    the data contract) and the event ledger (an empty ledger is information, not a gap) do not. ``grant`` is what a
    factor that declares the input receives, and all it receives: declared here, beside the input, so that adding
    an input is one entry."""

    description: str
    present: pl.Expr | None = None
    grant: Grant = field(default_factory=Grant)

    @property
    def counted(self) -> bool:
        return self.present is not None


#: The vocabulary of ``FactorSpec.needs``. Presence is judged on the point-in-time base frame.
INPUTS: Mapping[str, InputSpec] = MappingProxyType(
    {
        "roles": InputSpec("supply-chain role tags", grant=Grant(base=("roles", "role_class"))),
        "country": InputSpec("headquarters country", grant=Grant(base=("country", "region"))),
        "stage": InputSpec("producer, developer or explorer", grant=Grant(base=("stage",))),
        "gov_backing": InputSpec("government-backing tags on the company", grant=Grant(base=("gov_backing",))),
        "exposure": InputSpec(
            "share of the business in the rare-earth chain (0-1)",
            pl.col("exposure").is_not_null(),
            grant=Grant(base=("exposure",)),
        ),
        "events": InputSpec("the event ledger (capacity, offtake, funding, equity raises)", grant=Grant(events=True)),
        "price": InputSpec(
            "a USD close on or before the as-of date",
            pl.col("price_usd").is_not_null(),
            grant=Grant(base=("price_usd", "last_price_date")),
        ),
        "price_history": InputSpec(
            "USD closes in the last year",
            pl.col("price_days") > 0,
            grant=Grant(base=("price_days",), prices=("close_usd",)),
        ),
        "volume": InputSpec(
            "traded volume in the last year",
            pl.col("volume_days") > 0,
            grant=Grant(base=("volume_days", "last_trade_date", "halted"), prices=("volume", "traded_value_usd")),
        ),
        "shares_outstanding": InputSpec(
            "latest share count",
            pl.col("shares_outstanding").is_not_null(),
            grant=Grant(base=("shares_outstanding", "shares_outstanding_date"), fundamentals=("shares_outstanding",)),
        ),
        "share_history_1y": InputSpec(
            "share count about a year earlier",
            pl.col("share_growth_1y").is_not_null(),
            grant=Grant(base=("share_growth_1y",)),
        ),
        "share_history_3y": InputSpec(
            "share count about three years earlier",
            pl.col("share_growth_3y").is_not_null(),
            grant=Grant(base=("share_growth_3y",)),
        ),
        "revenue": InputSpec(
            "trailing-twelve-month revenue",
            pl.col("revenue_ttm_usd").is_not_null(),
            grant=Grant(base=_ttm("revenue_ttm_usd"), fundamentals=("revenue", "revenue_usd")),
        ),
        "operating_cash_flow": InputSpec(
            "trailing-twelve-month operating cash flow",
            pl.col("operating_cash_flow_ttm_usd").is_not_null(),
            grant=Grant(
                base=_ttm("operating_cash_flow_ttm_usd"),
                fundamentals=("operating_cash_flow", "operating_cash_flow_usd"),
            ),
        ),
        "capital_expenditure": InputSpec(
            "trailing-twelve-month capex",
            pl.col("capex_ttm_usd").is_not_null(),
            grant=Grant(base=_ttm("capex_ttm_usd"), fundamentals=("capital_expenditure", "capital_expenditure_usd")),
        ),
        "free_cash_flow": InputSpec(
            "trailing-twelve-month free cash flow",
            pl.col("free_cash_flow_ttm_usd").is_not_null(),
            grant=Grant(
                base=_ttm("free_cash_flow_ttm_usd"),
                fundamentals=("free_cash_flow", "free_cash_flow_usd", "fcf", "fcf_usd"),
            ),
        ),
        "cash": InputSpec(
            "latest cash",
            pl.col("cash_usd").is_not_null(),
            grant=Grant(base=("cash_usd", "cash_usd_date"), fundamentals=("cash", "cash_usd")),
        ),
        "total_debt": InputSpec(
            "latest total debt",
            pl.col("total_debt_usd").is_not_null(),
            grant=Grant(base=("total_debt_usd", "total_debt_usd_date"), fundamentals=("total_debt", "total_debt_usd")),
        ),
        "total_equity": InputSpec(
            "latest total equity",
            pl.col("total_equity_usd").is_not_null(),
            grant=Grant(
                base=("total_equity_usd", "total_equity_usd_date"), fundamentals=("total_equity", "total_equity_usd")
            ),
        ),
        "market_cap": InputSpec(
            "market capitalisation", pl.col("market_cap_usd").is_not_null(), grant=Grant(base=("market_cap_usd",))
        ),
    }
)


# --------------------------------------------------------------------------------------------------------------
# Inputs as frames
# --------------------------------------------------------------------------------------------------------------
#: The daily share-count history (not a file kind: the live provider fills it), as scoring reads it.
SHARE_HISTORY_SCHEMA: Mapping[str, Any] = MappingProxyType({"symbol": pl.String, "date": pl.Date, "shares": pl.Float64})


def _schema(kind: str) -> dict[str, Any]:
    base = dict(SHARE_HISTORY_SCHEMA) if kind == "share_history" else polars_schema(kind)
    return {**base, "provider": pl.String}


def _conform(kind: str, frame: pl.DataFrame | None) -> pl.DataFrame:
    """Contract columns in contract order and dtypes, plus ``provider``; absent columns become typed nulls."""
    schema = _schema(kind)
    if frame is None:
        return pl.DataFrame(schema=schema)
    exprs = []
    for name, dtype in schema.items():
        if name in frame.columns:
            col = pl.col(name)
            if dtype == pl.Boolean and frame.schema[name] == pl.String:
                # "true"/"false" text from a script's frame: read as the contract reads a file, not a failed cast
                col = col.str.to_lowercase().replace_strict(BOOLEAN_TEXT, default=None, return_dtype=pl.Boolean)
            exprs.append(col if frame.schema[name] == dtype else col.cast(dtype).alias(name))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
    return with_defaults(kind, frame.select(exprs)) if kind in KINDS else frame.select(exprs)


_KINDS = ("companies", "fundamentals", "prices", "fx", "events", "splits", "share_history")


@dataclass(frozen=True)
class FactorInputs:
    """Everything scoring reads, as contract-shaped frames (an optional ``provider`` column marks demo rows).

    ``companies`` is the universe. It may carry an ``as_of`` column: then it holds the universe as it stood on each
    date (tags, stage and exposure as of that date, ``load_panel_inputs``), and a date scores only its own rows;
    without it, the same rows stand on every date. ``splits`` (symbol, date, ratio) holds every known split,
    including those after the as-of date: they only put share counts on the basis of the split-adjusted closes (see
    ``build_context``). ``share_history`` (symbol, date, shares) is the daily share count; on each date the latest
    count on or before it is read.

    Frames are conformed on construction, so tests can pass only the columns they care about.

    ``price_symbols``, when given, holds symbols in ascending order, and ``prices["symbol"]`` holds UInt32
    positions in it instead of the texts: the store's compact form of 13 million closes
    (``Store.coded_prices_for_scoring``). The engine reads both forms alike; closes given with their texts drop it.
    """

    companies: pl.DataFrame
    fundamentals: pl.DataFrame = field(default_factory=lambda: _conform("fundamentals", None))
    prices: pl.DataFrame = field(default_factory=lambda: _conform("prices", None))
    fx: pl.DataFrame = field(default_factory=lambda: _conform("fx", None))
    events: pl.DataFrame = field(default_factory=lambda: _conform("events", None))
    splits: pl.DataFrame = field(default_factory=lambda: _conform("splits", None))
    share_history: pl.DataFrame = field(default_factory=lambda: _conform("share_history", None))
    price_symbols: pl.Series | None = None

    def __post_init__(self) -> None:
        for kind in _KINDS:
            frame = getattr(self, kind)
            if kind == "prices" and self.price_symbols is not None:
                if frame is not None and "symbol" in frame.columns and frame.schema["symbol"].is_integer():
                    # coded closes (``Store.coded_prices_for_scoring``): the codes stay codes
                    codes = frame["symbol"].cast(pl.UInt32)
                    object.__setattr__(self, kind, _conform(kind, frame.drop("symbol")).with_columns(codes))
                    continue
                object.__setattr__(self, "price_symbols", None)  # closes with their texts (``replace``d): no codes
            conformed = _conform(kind, frame)
            if kind == "companies" and frame is not None and "as_of" in frame.columns:
                conformed = conformed.with_columns(frame["as_of"].cast(pl.Date).alias("as_of"))
            object.__setattr__(self, kind, conformed)


def load_inputs(store: Store, as_of: date, settings: Mapping[str, Any] | None = None) -> FactorInputs:
    """Read what the store knew about dates on or before ``as_of``, ordered by each kind's key (prices and
    statements aside: the engine orders them itself, and skips the sort when the store's order already is).

    Fundamentals are read up to ``as_of`` and the reporting lag is applied in scoring, so the same rule holds for
    frames that never touched a store, and only the statement columns scoring reads (``STATEMENT_COLUMNS``: the
    contract's other values arrive as typed nulls). Three reads differ on purpose: every split is read (a split
    after ``as_of`` is already inside the stored closes, so the share counts need it too; it carries no value of its
    own); of the share history only the latest count on or before ``as_of`` per company; and of the prices only
    the engine's window (``price_window_days`` of ``settings``) plus each company's earlier rows that still decide
    its last price, last trade and demo flag (``Store.coded_prices_for_scoring``: symbols as codes), in the store's
    order: scoring reads the same rows either way, and moving ten years of closes to read one is the largest cost of
    a score. DuckDB's cache of the blocks read is handed back afterwards (``Store.release_cache``).
    """
    window = int({**SETTINGS, **(settings or {})}["price_window_days"])
    names, closes = store.coded_prices_for_scoring(as_of, window)  # symbols as codes: see ``FactorInputs``
    inputs = FactorInputs(
        companies=store.companies(as_of=as_of),
        fundamentals=store.rows_as_of("fundamentals", as_of, ordered=False, columns=STATEMENT_COLUMNS),
        prices=closes,
        price_symbols=names,
        fx=store.rows_as_of("fx", as_of),
        events=store.rows_as_of("events", as_of),
        splits=store.all_splits(),
        share_history=store.latest_shares(as_of),
    )
    store.release_cache()  # the blocks just read are in the frames now: scoring's peak need not hold both
    return inputs


def load_panel_inputs(store: Store, dates: Sequence[date]) -> FactorInputs:
    """Read, once, everything the scores of all ``dates`` need: the dated kinds up to the last date (each date
    then keeps only its own past, in ``build_context``) and the universe as it stood on each date.

    Why the universe is read per regime and not per date: tags, stage and exposure change on a handful of
    effective days; dates between two changes share one universe, so it is read once per distinct state (one query
    each) and stamped with every date of that state.
    """
    days = sorted(set(dates))
    if not days:
        raise ValueError("load_panel_inputs needs at least one date")
    last = days[-1]
    changes = store.history_change_dates()
    regimes: dict[int, list[date]] = {}
    for d in days:  # the state on d is decided by which changes took effect after it
        regimes.setdefault(sum(1 for c in changes if c > d), []).append(d)
    parts = []
    for group in regimes.values():
        comp = store.companies(as_of=group[0])
        stamp = pl.DataFrame({"as_of": group}, schema={"as_of": pl.Date})
        parts.append(comp.join(stamp, how="cross"))
    inputs = FactorInputs(
        companies=pl.concat(parts).sort(["as_of", "symbol"]),
        fundamentals=store.rows_as_of("fundamentals", last),
        prices=store.rows_as_of("prices", last),
        fx=store.rows_as_of("fx", last),
        events=store.rows_as_of("events", last),
        splits=store.all_splits(),
        share_history=store.share_history_until(last),
    )
    store.release_cache()  # as ``load_inputs``: the blocks read are in the frames now
    return inputs


# --------------------------------------------------------------------------------------------------------------
# FX
# --------------------------------------------------------------------------------------------------------------
class FxTable:
    """USD per unit of each currency on every day, forward-filled from the latest rate on or before that day.

    Currencies are addressed by integer code: code 0 is USD (rate 1 on every date, before the first fx row too); a
    currency with no fx row has no code, so its rate is null, and so is any rate asked for a day before that
    currency's first row. The dense grid turns a conversion into one integer gather, which keeps the 13-million row
    price panel free of joins.
    """

    def __init__(self, fx: pl.DataFrame, as_of: date) -> None:
        rows = fx.filter(pl.col("date") <= as_of).drop_nulls(["currency", "date", "usd_per_unit"])
        rows = rows.filter(pl.col("currency") != "USD").sort(["currency", "date"])
        self._rows = rows
        self.codes: dict[str, int] = {"USD": 0}
        for i, cur in enumerate(rows["currency"].unique().sort().to_list(), start=1):
            self.codes[cur] = i
        self.start: date | None = rows["date"].min() if rows.height else None  # type: ignore[assignment]
        firsts = rows.group_by("currency").agg(pl.col("date").min())
        #: the first day each currency has a rate: before it, a date knows no rate (and no code) for it
        self.first_dates: dict[int, date] = {self.codes[c]: d for c, d in firsts.iter_rows()}
        self.demo_codes: frozenset[int] = frozenset(
            self.codes[c] for c in rows.filter(pl.col("provider") == "demo")["currency"].unique().to_list()
        )

    def code(self, iso: str) -> int | None:
        return self.codes.get(iso)

    def rate(self, code: pl.Series, day: pl.Series) -> pl.Series:
        """Rate for each (currency code, day) pair; null when the code is null or no rate was known by that day."""
        code = code.cast(pl.Int64)
        last = day.max()
        first = self.start
        if len(day) == 0 or first is None or last is None or last < first:  # type: ignore[operator]
            # no fx row, or every day precedes the first rate: only USD converts
            return pl.select(pl.when(code == 0).then(pl.lit(1.0)).otherwise(None).alias("rate")).to_series()
        ndays = (last - first).days + 1  # type: ignore[operator]
        days = pl.date_range(first, last, "1d", eager=True).alias("date")
        columns = [pl.repeat(1.0, ndays, eager=True, dtype=pl.Float64)]
        for cur, _code in sorted(self.codes.items(), key=lambda kv: kv[1])[1:]:
            own = self._rows.filter(pl.col("currency") == cur).select("date", "usd_per_unit")
            filled = pl.DataFrame({"date": days}).join_asof(own, on="date", strategy="backward")
            columns.append(filled["usd_per_unit"].cast(pl.Float64))
        grid = pl.concat(columns)
        offset = day.cast(pl.Int32).cast(pl.Int64) - (first - _EPOCH).days
        idx = code * ndays + offset
        if offset.min() < 0:  # type: ignore[operator]
            # a day before the first fx row: no rate for a currency, but a US dollar is still a US dollar
            idx = pl.select(pl.when(offset >= 0).then(idx).otherwise(None)).to_series()
            return pl.select(pl.when(code == 0).then(pl.lit(1.0)).otherwise(grid.gather(idx)).alias("rate")).to_series()
        return grid.gather(idx).alias("rate")


_EPOCH = date(1970, 1, 1)


def _currency_map(codes: Sequence[str]) -> pl.DataFrame:
    """Raw currency text -> ISO code and the factor from quote sub-unit to unit (GBp -> GBP, 0.01)."""
    rows = []
    for raw in sorted({c for c in codes if c is not None}):
        iso, unit = normalise_currency(raw)
        rows.append((raw, iso, unit))
    return pl.DataFrame(rows, schema={"raw": pl.String, "iso": pl.String, "unit": pl.Float64}, orient="row")


# --------------------------------------------------------------------------------------------------------------
# The context factors read
# --------------------------------------------------------------------------------------------------------------
#: The key of every panel frame: one row per company and as-of date.
KEY: tuple[str, str] = ("as_of", "symbol")


@dataclass
class FactorContext:
    """The point-in-time view handed to every factor's ``compute``, for one or many as-of dates at once.

    Why one view for many dates: the backtest scores every rebalance date, and the single-date ``score`` is the
    one-date case of the same computation, so the two can never disagree. Every frame is keyed by ``as_of`` (the
    date it is seen from) and ``symbol``; a factor returns one row per (as_of, symbol) and measures ages against the
    ``as_of`` column, never against a clock.

    ``base`` has one row per (as_of, company) (sorted by as_of, symbol) with identity, USD fields and bookkeeping
    columns. ``events`` holds, per as-of date, the events known on it that belong to one company of that date's
    universe (market-wide ``*`` events are left out). ``prices`` is the daily panel (columns ``g``, ``date``,
    ``close_usd``, ``volume``, ``traded_value_usd``) of every close up to the last date, sorted by company run ``g``
    then date; a factor reads it through ``window`` and the range helpers, which measure each (as_of, company)
    over its own trailing window without copying rows per date. ``fundamentals`` holds, per as-of date, the periods
    already reported (with ``<field>_usd`` columns); it is built on first use, as ``events`` is. A ledger of some
    events reads ``events_where`` (only those copied), one whose grouping does not depend on the date reads
    ``event_versions`` (each company's events once per day something new became known).
    """

    dates: tuple[date, ...]
    settings: Mapping[str, Any]
    base: pl.DataFrame
    prices: pl.DataFrame
    price_runs: pl.DataFrame
    bounds: pl.DataFrame
    event_source: EventPanel | pl.DataFrame  # an EventPanel, or the per-date copies themselves
    statements: Any = None  # a callable building ``fundamentals`` on first use, or the frame itself

    @property
    def fundamentals(self) -> pl.DataFrame:
        if callable(self.statements):
            self.statements = self.statements()
        return self.statements  # type: ignore[no-any-return]

    @property
    def events(self) -> pl.DataFrame:
        """Per as-of date, every event known on it (``as_of`` first; see ``EventPanel``), built on first use."""
        src = self.event_source
        return src.copies() if isinstance(src, EventPanel) else src

    def events_where(self, predicate: pl.Expr, *, within_days: int | None = None) -> pl.DataFrame:
        """``events.filter(predicate)`` for a predicate over the event's own columns (not ``as_of``), without
        copying the events that do not pass: a ledger of one kind of event reads only those. ``within_days`` keeps
        only the events dated within that many days before each row's as-of date (``date > as_of - within_days``)."""
        src = self.event_source
        if isinstance(src, EventPanel):
            return src.copies(predicate, within_days=within_days)
        out = src.filter(predicate)
        if within_days is not None:
            out = out.filter(pl.col("date") > pl.col("as_of") - timedelta(days=within_days))
        return out

    def event_versions(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(rows, of): the events per version and each (as_of, symbol)'s version (see ``EventPanel.versions``);
        grouping ``rows`` by ``_vid`` and joining ``of`` on it gives what grouping ``events`` by (as_of, symbol)
        gives. Given the copies themselves, each (as_of, symbol) is its own version."""
        src = self.event_source
        if isinstance(src, EventPanel):
            return src.versions()
        vid = (pl.struct("as_of", "symbol").rank("dense") - 1).cast(pl.Int64).alias("_vid")
        rows = src.with_columns(vid)
        of = rows.select("as_of", "symbol", "_vid").unique(maintain_order=True)
        return rows.select("_vid", *[c for c in src.columns if c != "as_of"]), of

    @property
    def as_of(self) -> date:
        """The as-of date of a one-date context (a panel has several: read the ``as_of`` column instead)."""
        if len(self.dates) != 1:
            raise ValueError("this context holds several as-of dates; use the as_of column")
        return self.dates[0]

    def window(self, days: int) -> pl.DataFrame:
        """Per (as_of, symbol) with a close inside the engine's price window: ``lo``, the first panel row dated
        after ``as_of - days``, and ``hi``, the last row on or before ``as_of`` (``lo > hi``: no row in the window).

        Why row bounds instead of filtered copies: 156 weekly dates of a year-long window would copy every close
        about 50 times; bounds make each windowed statistic one gather per (as_of, company).
        """
        limit = int(self.settings["price_window_days"])
        if days > limit:
            raise ValueError(f"a price window of {days} days exceeds the engine's price_window_days ({limit})")
        b = self.bounds
        lo = _search(self.prices, b["g"], b["as_of"].cast(pl.Int32).cast(pl.Int64) - (days - 1), "left")
        return b.select("as_of", "symbol", "g", "hi").with_columns(lo.alias("lo"))

    def value_at(self, column: str, index: pl.Series) -> pl.Series:
        """``column`` of the price panel at each row ``index``."""
        return self.prices[column].gather(index)

    def range_count(self, column: str, lo: pl.Series, hi: pl.Series) -> pl.Series:
        """How many non-null values of ``column`` lie in rows ``lo..hi`` (0 when ``lo > hi``).

        Counted from the row positions of the rarer side (the nulls, mostly): two binary searches per range, not a
        running count over every row of the panel (13 million Int64 values and their copy at 50,000 companies)."""
        present = self.prices[column].is_not_null()
        if len(lo) and not (lo.null_count() or hi.null_count()) and int(lo.min()) >= 0 and int(hi.min()) >= 0:  # type: ignore[arg-type]
            if int(present.sum()) * 2 <= len(present):
                n = _rows_within(present.arg_true(), lo, hi)
            else:
                n = hi - lo + 1 - _rows_within((~present).arg_true(), lo, hi)
            return pl.select(pl.when(lo <= hi).then(n).otherwise(0).alias("n")).to_series()
        seen = present.cast(pl.Int64).cum_sum()
        before = pl.concat([pl.Series([0], dtype=pl.Int64), seen])
        n = seen.gather(hi) - before.gather(lo)
        return pl.select(pl.when(lo <= hi).then(n).otherwise(0).alias("n")).to_series()

    def range_max(self, column: str, lo: pl.Series, hi: pl.Series) -> pl.Series:
        """The largest non-null value of ``column`` in rows ``lo..hi`` (null when none or ``lo > hi``).

        A range of ``n`` rows is covered by two overlapping runs of ``2^k`` rows (the largest power of two not above
        ``n``): one starting at ``lo``, one ending at ``hi``. Level ``k`` of a doubling table holds the maximum of the
        ``2^k`` rows starting at each row, built from level ``k - 1`` by one shifted maximum; so every range length
        costs one pass over the panel per level (about eight for a year of closes), not one rolling pass per length
        (a panel of early dates and new listings has windows of every length). A maximum is exact whichever way it
        is grouped, so the value is the same as a row-by-row one."""
        values = self.prices[column].cast(pl.Float64)
        usable = (lo <= hi).fill_null(False)
        length = (hi - lo + 1).clip(lower_bound=1)
        k = length.cast(pl.Float64).log(2).floor().cast(pl.Int64)
        out = pl.Series(column, [None] * len(lo), dtype=pl.Float64)
        levels = k.filter(usable)
        if levels.is_empty():
            return out
        level = values
        for kk in range(int(levels.max()) + 1):  # type: ignore[arg-type]
            if kk:
                half = 1 << (kk - 1)
                level = pl.select(pl.max_horizontal(level, level.shift(-half))).to_series()
            idx = (usable & (k == kk)).arg_true()
            if idx.is_empty():
                continue
            span = 1 << kk
            first = level.gather(lo.gather(idx))
            last = level.gather(hi.gather(idx) - (span - 1))
            out = out.scatter(idx, pl.select(pl.max_horizontal(first, last)).to_series())
        return out

    def tail_median(self, column: str, rows: int, lo: pl.Series, hi: pl.Series) -> pl.Series:
        """The median of the non-null values of ``column`` in the last ``rows`` rows of ``lo..hi`` (null when
        none). A full window is read from one rolling median over the panel; a shorter one (a new listing, or a gap
        in trading) is gathered row by row.

        Why gather every window when they hold fewer rows than the panel: one date of 50,000 companies asks 63 rows
        of each company's 260, and a rolling median over all 13 million rows costs eight times the gathered
        medians (0.96 against 0.12 s). Both take the median of the same non-null values (a middle value, or the
        mean of the two middle ones), so the numbers are the same."""
        values = self.prices[column].cast(pl.Float64)
        start = pl.select(pl.max_horizontal(lo, hi - (rows - 1))).to_series()
        usable = (lo <= hi).fill_null(False)
        if int(usable.sum()) * rows <= len(values):
            return _gathered_median(values, start, hi, usable.arg_true(), len(lo))
        full = (hi - start + 1) == rows
        rolled = values.rolling_median(rows, min_samples=1).gather(hi)
        out = pl.select(pl.when(full & (lo <= hi)).then(rolled).alias("m")).to_series()
        short = (~full & (lo <= hi)).fill_null(False).arg_true()
        if len(short):
            med = _gathered_median(values, start, hi, short, len(lo))
            out = out.scatter(short, med.gather(short))
        return out


def _gathered_median(values: pl.Series, lo: pl.Series, hi: pl.Series, which: pl.Series, n: int) -> pl.Series:
    """``n`` medians: at each position of ``which``, the median of the non-null ``values`` of rows ``lo..hi`` (both
    inclusive, ``lo <= hi``); null elsewhere."""
    out = pl.Series("m", [None], dtype=pl.Float64).extend_constant(None, n - 1) if n else pl.Series("m", [], pl.Float64)
    if not len(which):
        return out
    idx = pl.DataFrame({"_q": which, "_lo": lo.gather(which), "_hi": hi.gather(which)})
    picked = idx.select("_q", pl.int_ranges("_lo", pl.col("_hi") + 1).alias("_i")).explode("_i")
    picked = picked.with_columns(values.gather(picked["_i"]).alias("_v"))
    med = picked.group_by("_q").agg(pl.col("_v").median())
    return out.scatter(med["_q"], med["_v"])


#: Day numbers fit in this span (dates from 1970 to beyond 9999), so (g, day) packs into one sortable integer.
_DAY_SPAN = 1 << 22


#: From this many probes on, ``_search`` merges instead of searching.
_MERGE_PROBES = 20_000


def _search(
    prices: pl.DataFrame, g: pl.Series, day: pl.Series, side: str, *, merge_from: int | None = None
) -> pl.Series:
    """For each (run ``g``, day number since 1970): the row of the price panel where that day would be inserted
    (``side`` as ``search_sorted``). The panel is sorted by (g, date), so one sorted integer key answers it (kept
    in the panel's ``_key`` column when it has one).

    Why a merge for many probes: a panel of 156 dates asks 780,000 binary searches of a 4-million-row key, each a
    chain of cache misses on one core; sorted, the probes meet the key in one as-of merge, in about a third of the
    time. The merge gives the same rows as ``search_sorted`` when every key is distinct (one close per company and
    day), which it checks first; otherwise, or for few probes, it searches.

    Few is decided by cost (unless ``merge_from`` fixes a number of probes): the merge walks the whole key, the
    searches take about log2(key) steps per probe. One date of 50,000 companies probes a 13-million-row key 50,000
    times, which searches do in 0.02 s and the merge in 0.1 to 0.3 s."""
    key = prices["_key"] if "_key" in prices.columns else _panel_key(prices)
    probe = g.cast(pl.Int64) * _DAY_SPAN + day.cast(pl.Int64)
    if merge_from is None:
        few = len(probe) < _MERGE_PROBES or len(probe) * max(len(key), 2).bit_length() < len(key)
    else:
        few = len(probe) < merge_from
    if few or probe.null_count() or key.null_count() or len(key) < 2:
        return key.search_sorted(probe, side=side).cast(pl.Int64)  # type: ignore[arg-type]
    if not bool((key.diff().slice(1) > 0).all()):  # equal keys: search_sorted's tie rule decides, so search
        return key.search_sorted(probe, side=side).cast(pl.Int64)  # type: ignore[arg-type]
    probes = pl.DataFrame({"_p": probe}).with_row_index("_q").sort("_p")
    rows = pl.DataFrame({"_k": key, "_i": pl.int_range(len(key), dtype=pl.Int64, eager=True)})
    if side == "left":  # the first key at or after the probe; past the end: len(key)
        found = probes.join_asof(rows, left_on="_p", right_on="_k", strategy="forward", check_sortedness=False)
        at = found["_i"].fill_null(len(key))
    else:  # one past the last key at or before the probe; before the start: 0
        found = probes.join_asof(rows, left_on="_p", right_on="_k", strategy="backward", check_sortedness=False)
        at = (found["_i"] + 1).fill_null(0)
    return pl.Series(probe.name, [0], dtype=pl.Int64).extend_constant(0, len(probe) - 1).scatter(found["_q"], at)


def _panel_key(prices: pl.DataFrame) -> pl.Series:
    """(g, day number) packed into one integer, ascending along the panel."""
    key = prices["g"].cast(pl.Int64) * _DAY_SPAN + prices["date"].cast(pl.Int32).cast(pl.Int64)
    return key.alias("_key").set_sorted()


def _sorted(frame: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """Sort on the key unless it already is: the answer must not depend on the order rows arrived in."""
    if frame.height < 2:
        return frame
    cond: pl.Expr | None = None
    for name in reversed(keys):
        k = pl.col(name)
        cond = (k > k.shift(1)) if cond is None else (k > k.shift(1)) | ((k == k.shift(1)) & cond)
    assert cond is not None
    if frame.select(cond.fill_null(False).slice(1).all()).item():
        return frame
    return frame.sort(list(keys), maintain_order=True)


def _runs(
    frame: pl.DataFrame, keys: Sequence[str], known: pl.Series, names: pl.Series | None = None
) -> tuple[pl.DataFrame, pl.Series, pl.DataFrame]:
    """Sort a panel on ``keys`` (symbol first) unless it already is, keep symbols of the universe, and number the
    per-symbol runs: (frame, run id per row, runs with ``g`` and ``symbol``).

    The sortedness check works on the runs (strictly ascending symbols, then strictly ascending remaining keys
    within each run), which is far cheaper than comparing millions of strings with their neighbours. With
    ``names`` (ascending symbols), the frame's ``symbol`` holds positions in it (``FactorInputs.price_symbols``),
    which sort as the symbols do; the runs carry the symbols themselves.
    """

    def number(f: pl.DataFrame) -> tuple[pl.Series, pl.DataFrame]:
        g = f.select(pl.col("symbol").rle_id().alias("g"))["g"]
        runs = f.select(pl.col("symbol").rle()).unnest("symbol").rename({"value": "symbol"}).with_row_index("g")
        if names is not None:
            runs = runs.with_columns(names.gather(runs["symbol"]).alias("symbol"))
        return g, runs

    g, runs = number(frame)
    ordered = runs.height < 2 or bool(runs.select((pl.col("symbol") > pl.col("symbol").shift(1)).slice(1).all()).item())
    if ordered and frame.height > 1:
        new_run = pl.col("_g") != pl.col("_g").shift(1)
        cond: pl.Expr | None = None
        for name in reversed(keys[1:]):
            k = pl.col(name)
            cond = (k > k.shift(1)) if cond is None else (k > k.shift(1)) | ((k == k.shift(1)) & cond)
        if cond is not None:
            ordered = bool(frame.with_columns(g.alias("_g")).select((new_run | cond).slice(1).all()).item())
    if not ordered:
        frame = frame.sort(list(keys), maintain_order=True)
        g, runs = number(frame)
    unknown = ~runs["symbol"].is_in(known.implode())
    if unknown.any():
        frame = frame.filter(~unknown.gather(g))
        g, runs = number(frame)
    return frame, g, runs.select("g", "symbol")


#: The values of the ``role_class`` column, in the order they are decided (first match wins).
ROLE_CLASSES: tuple[str, ...] = ("integrated", "enabler", "pure_miner", "downstream_user", "trader_offtaker", "other")


def _role_class(roles: pl.Expr) -> pl.Expr:
    """The role class: the data contract's vocabulary, with integrated miner-processors kept apart.

    * ``integrated``: ``miner`` plus any enabler role (an enabler by the contract, and for rule sets);
    * ``enabler``: any enabler role (processor, magnet_maker, recycler, chemicals_tolling, equipment_supplier) and
      no ``miner``;
    * ``pure_miner``: roles exactly ``miner`` (the contract's pure miner);
    * ``downstream_user``: a downstream user without a miner or enabler role;
    * ``trader_offtaker``: a trader without a miner, enabler or downstream role;
    * ``other``: anything else, e.g. a miner that also trades (``miner;trader_offtaker``), which is not a pure miner.

    Why integrated stays apart: the thesis places miner-processors between enablers and pure miners, and peer
    imputation should compare them with each other.

    This is the only place a company's role class is decided: ``score``, ``screen``, ``show`` and stored runs all
    carry this column unchanged. A rule set's coarser grouping is its ``tilt_class`` (``rules.engine.classify``).
    """
    lst = roles.fill_null("").str.split(";").list.eval(pl.element().filter(pl.element().str.len_chars() > 0))
    enabler = lst.list.eval(pl.element().is_in(sorted(ENABLER_ROLES))).list.any()
    miner = lst.list.contains("miner")
    only_miner = miner & lst.list.eval(pl.element() == "miner").list.all()
    return (
        pl.when(enabler & miner)
        .then(pl.lit("integrated"))
        .when(enabler)
        .then(pl.lit("enabler"))
        .when(only_miner)
        .then(pl.lit("pure_miner"))
        .when(miner)
        .then(pl.lit("other"))
        .when(lst.list.contains("downstream_user"))
        .then(pl.lit("downstream_user"))
        .when(lst.list.contains("trader_offtaker"))
        .then(pl.lit("trader_offtaker"))
        .otherwise(pl.lit("other"))
    )


def _companies(frame: pl.DataFrame, fx: FxTable, dates: Sequence[date]) -> pl.DataFrame:
    """The universe of every date, one row per (as_of, symbol): listed on that date, with region, role class,
    currency code (null before the currency's first rate) and unit."""
    grid = pl.DataFrame({"as_of": list(dates)}, schema={"as_of": pl.Date})
    if "as_of" not in frame.columns and not frame["symbol"].is_duplicated().any():
        # one row per company: its identity is decided once and repeated for every date it is listed on (the same
        # rows, in the same (as_of, symbol) order, as deciding it per date below)
        once = _identity(
            frame.sort("symbol", maintain_order=True).with_columns(pl.lit(None, pl.Date).alias("as_of")), fx
        )
        comp = grid.join(once.drop("as_of"), how="cross").select(once.columns).filter(listed_on(pl.col("as_of")))
        return _known_code(comp)
    if "as_of" in frame.columns:
        frame = frame.join(grid, on="as_of", how="semi")
    else:
        frame = frame.join(grid, how="cross")
    comp = frame.filter(listed_on(pl.col("as_of")))
    comp = _sorted(comp, ["as_of", "symbol"]).unique(subset=["as_of", "symbol"], keep="first", maintain_order=True)
    return _known_code(_identity(comp, fx))


def _identity(comp: pl.DataFrame, fx: FxTable) -> pl.DataFrame:
    """Region, role class, demo flag and currency code and unit of each company row; ``_first_rate`` is the day its
    currency's first rate is known (``_known_code`` applies it per date)."""
    cmap = _currency_map(comp["currency"].to_list())
    cmap = cmap.with_columns(
        pl.col("iso").replace_strict(fx.codes, default=None, return_dtype=pl.Int64).alias("code"),
    ).with_columns(
        pl.col("code").replace_strict(fx.first_dates, default=None, return_dtype=pl.Date).alias("_first_rate"),
    )
    region = pl.col("country").replace_strict(dict(REGIONS), default="other", return_dtype=pl.String)
    # the role class is decided once per distinct role text, not once per (date, company)
    texts = comp.select(pl.col("roles").fill_null("").unique().sort())
    classes = dict(texts.with_columns(_role_class(pl.col("roles")).alias("c")).iter_rows())
    return comp.join(cmap, left_on="currency", right_on="raw", how="left", maintain_order="left").with_columns(
        region.alias("region"),
        pl.col("roles").fill_null("").replace_strict(classes, return_dtype=pl.String).alias("role_class"),
        pl.col("roles").fill_null(""),
        (pl.col("provider") == "demo").fill_null(False).alias("company_demo"),
    )


def _known_code(comp: pl.DataFrame) -> pl.DataFrame:
    """A currency is known on a date from its first rate on (US dollars always): before, the row has no code."""
    known = (pl.col("code") == 0) | (pl.col("_first_rate") <= pl.col("as_of"))
    return comp.with_columns(pl.when(known).then(pl.col("code")).otherwise(None).alias("code")).drop("_first_rate")


def _price_parts(
    closes: list[pl.DataFrame],
    comp: pl.DataFrame,
    fx: FxTable,
    last: date,
    settings: Mapping[str, Any],
    names: pl.Series | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(latest per (as_of, symbol), daily panel, runs, bounds): the price side of the base frame for every date.

    The panel holds every close up to the last date, once; each (as_of, company) is located in it by two row
    bounds (``hi``: its last close on or before the date; ``lo``: its first close inside the engine's window), and
    every statistic is a gather or a difference of running counts at those bounds. What a date reads is exactly
    what a one-date view would read: closes on or before it, the window before it.

    ``closes`` holds the closes as its one item, which is taken out: no reference is left here, so once the panel
    no longer needs them the closes are freed (when the caller released its own, ``build_panel``). ``names``: the
    closes' symbols are codes into it (``FactorInputs.price_symbols``).
    """
    p = closes.pop().select("symbol", "date", "close", "volume", "provider")
    if p.height and (p["symbol"].null_count() or p["date"].null_count() or p["date"].max() > last):  # type: ignore[operator]
        p = p.filter(pl.col("date") <= last).drop_nulls(["symbol", "date"])  # (a copy of every close: only if needed)
    p, g, runs = _runs(p, ["symbol", "date"], comp["symbol"].unique(), names)
    # a listing's currency does not change with the date; its fx rate does, day by day
    currency = comp.sort("as_of").group_by("symbol", maintain_order=True).last().select("symbol", "currency", "unit")
    iso = _currency_map(currency["currency"].to_list())
    currency = currency.join(iso.select("raw", "iso"), left_on="currency", right_on="raw", how="left").with_columns(
        pl.col("iso").replace_strict(fx.codes, default=None, return_dtype=pl.Int64).alias("code")
    )
    runs = runs.join(currency.select("symbol", "code", "unit"), on="symbol", how="left", maintain_order="left")
    rate = fx.rate(runs["code"].gather(g), p["date"])
    usd_per_quote_unit = runs["unit"].gather(g) * rate
    # rows (over the whole sorted panel) of the demo closes and of the traded days (a close with a volume other than
    # zero; a missing volume is unknown, not "no trade"); read at a company's bounds they count only when they
    # belong to that company (see below). Row positions, not running columns: 13 million Int64 values (and their
    # copies while built) become one position per such row
    demo_rows = p.select(pl.arg_where((pl.col("provider") == "demo").fill_null(False))).to_series()
    traded_rows = p.select(pl.arg_where(pl.col("volume").is_null() | (pl.col("volume") != 0))).to_series()
    p = p.select(
        g.alias("g").set_sorted(),
        "date",
        (pl.col("close") * usd_per_quote_unit).alias("close_usd"),
        "volume",
    ).with_columns((pl.col("close_usd") * pl.col("volume")).alias("traded_value_usd"))
    del rate, usd_per_quote_unit
    p = p.with_columns(_panel_key(p))
    window = int(settings["price_window_days"])
    pairs = comp.select("as_of", "symbol", "_row").join(runs.select("g", "symbol"), on="symbol", how="inner")
    day = pairs["as_of"].cast(pl.Int32).cast(pl.Int64)
    hi = _search(p, pairs["g"], day, "right") - 1
    # the row found belongs to this company only if it is not before the company's first row
    own = (hi >= 0) & (p["g"].gather(hi.clip(lower_bound=0)) == pairs["g"])
    bounds = pairs.with_columns(hi.alias("hi"), own.alias("_own")).filter(pl.col("_own")).drop("_own")
    lo400 = _search(p, bounds["g"], bounds["as_of"].cast(pl.Int32).cast(pl.Int64) - (window - 1), "left")
    bounds = bounds.with_columns(lo400.alias("lo")).select("as_of", "symbol", "g", "lo", "hi", "_row").sort("_row")
    lo, hi = bounds["lo"], bounds["hi"]

    def count(mask: pl.Series) -> pl.Series:
        """How many rows of ``lo..hi`` the mask holds (0 when ``lo > hi``), counted on its rarer side."""
        if int(mask.sum()) * 2 <= len(mask):
            n = _rows_within(mask.arg_true(), lo, hi)
        else:
            n = hi - lo + 1 - _rows_within((~mask).arg_true(), lo, hi)
        return pl.select(pl.when(lo <= hi).then(n).otherwise(0)).to_series()

    close_now = p["close_usd"].gather(hi)
    # the company's first row: a row before it belongs to the companies sorted before this one
    run_first = p.select(pl.arg_where((pl.col("g") != pl.col("g").shift(1)).fill_null(True)))
    start = run_first.to_series().cast(pl.Int64).gather(bounds["g"])
    prices_demo = _rows_within(demo_rows, start, hi) > 0
    # the last traded row on or before ``hi`` (null: none in the panel)
    if traded_rows.is_empty():  # no trade anywhere in the panel (the gather below needs a row to point at)
        traded_row = pl.repeat(None, hi.len(), dtype=pl.Int64, eager=True)
    else:
        at = traded_rows.search_sorted(hi.cast(traded_rows.dtype), side="right").cast(pl.Int64) - 1
        traded_row = pl.select(
            pl.when(at >= 0).then(traded_rows.cast(pl.Int64).gather(at.clip(lower_bound=0))).alias("r")
        ).to_series()
    last_trade = pl.select(
        pl.when(traded_row >= start).then(p["date"].gather(traded_row.fill_null(0))).alias("t")
    ).to_series()
    latest = bounds.select(
        "_row",
        p["date"].gather(hi).alias("last_price_date"),
        last_trade.alias("last_trade_date"),
        close_now.alias("price_usd"),
        pl.select(pl.when(lo <= hi).then(hi - lo + 1).otherwise(0)).to_series().cast(pl.Int64).alias("price_days"),
        count(p["volume"].is_not_null()).cast(pl.Int64).alias("volume_days"),
        ((count(p["close_usd"].is_null()) > 0) | close_now.is_null()).alias("prices_missing_fx"),
        prices_demo.alias("prices_demo"),
    )
    panel = p.select(pl.col("g").set_sorted(), "date", "close_usd", "volume", "traded_value_usd", "_key")
    # only pairs with a close inside the window are measured by the factors (as a one-date view's panel holds)
    bounds = bounds.filter(pl.col("lo") <= pl.col("hi"))
    # the factors read inside the windows only: closes before the earliest window leave the panel (a one-date
    # score of a long history reads a year, not all of it), and the bounds move with the rows they point at
    first = comp["as_of"].min() - timedelta(days=window - 1) if comp.height else None
    if first is not None and panel.height and panel["date"].min() < first:  # type: ignore[operator]
        keep = panel["date"] >= first
        position = keep.cast(pl.Int64).cum_sum() - 1
        panel = panel.filter(keep)
        bounds = bounds.with_columns(
            position.gather(bounds["lo"]).alias("lo"), position.gather(bounds["hi"]).alias("hi")
        )
    return latest, panel, runs.select("g", "symbol"), bounds


def _rows_within(rows: pl.Series, lo: pl.Series, hi: pl.Series) -> pl.Series:
    """How many of the ascending row positions ``rows`` lie in ``lo..hi`` (both inclusive; ``lo`` and ``hi``
    non-negative; 0 or less when ``lo > hi``): two binary searches per range instead of a running count over
    every row."""
    after = rows.search_sorted(hi.cast(rows.dtype), side="right").cast(pl.Int64)
    return after - rows.search_sorted(lo.cast(rows.dtype), side="left").cast(pl.Int64)


#: Fundamentals fields converted to USD and carried to the factors (fcf is derived, see ``_fundamental_parts``).
_USD_FIELDS = (
    "revenue",
    "operating_cash_flow",
    "capital_expenditure",
    "free_cash_flow",
    "cash",
    "total_debt",
    "total_equity",
)

#: The statement columns scoring reads (``_fundamental_panel``); the store reads no others for a score
#: (``load_inputs``), and the rest of the contract's columns arrive as typed nulls.
STATEMENT_COLUMNS: tuple[str, ...] = ("symbol", "period_end", "period", "currency", *_USD_FIELDS, "shares_outstanding")

#: The score column of each flow's trailing twelve months.
TTM_COLUMNS: Mapping[str, str] = MappingProxyType(
    {
        "revenue": "revenue_ttm_usd",
        "operating_cash_flow": "operating_cash_flow_ttm_usd",
        "capital_expenditure": "capex_ttm_usd",
        "fcf": "free_cash_flow_ttm_usd",
    }
)
#: How a trailing twelve months can be built, in the order that breaks a tie of freshness (``<column>_basis``).
TTM_BASES: tuple[str, ...] = ("4Q", "2H", "FY+H", "FY")


def _usable_splits(splits: pl.DataFrame, comp: pl.DataFrame) -> pl.DataFrame:
    """The universe's splits with a usable ratio (finite, > 0), one per (symbol, date), in key order."""
    sp = splits.drop_nulls(["symbol", "date", "ratio"]).filter(pl.col("ratio").is_finite() & (pl.col("ratio") > 0))
    sp = sp.join(comp.select("symbol"), on="symbol", how="semi")
    return sp.sort(["symbol", "date", "ratio"]).unique(["symbol", "date"], keep="first", maintain_order=True)


def _split_basis(counts: pl.DataFrame, splits: pl.DataFrame, key: str) -> pl.Series:
    """The factor that puts each share count (``key``, ``date``) on the basis of the split-adjusted closes.

    It is the product of the ratios of the same company's splits dated *after* the count (a split's date is its
    first trading day at the new count, so a count of that very day already includes it); 1.0 when there is none.
    Why every later split, even one after the as-of date: the stored closes already carry it. It multiplies every
    count of the company alike, so market cap (count x close) and share growth (a ratio of counts) come out as
    they would without it; the split contributes no value of its own from after the as-of date.
    """
    ones = pl.repeat(1.0, counts.height, eager=True, dtype=pl.Float64).alias("basis")
    if splits.height == 0 or counts.height == 0:
        return ones
    sp = splits.select(key, pl.col("date").alias("_split_date"), "ratio")
    left = (
        counts.select(key, "date")
        .with_row_index("_row")
        .filter(pl.col(key).is_in(sp[key].unique().implode()) & pl.col("date").is_not_null())
    )
    if left.height == 0:
        return ones
    factor = (
        left.join(sp, on=key, how="inner")
        .filter(pl.col("_split_date") > pl.col("date"))
        .group_by("_row")
        .agg(pl.col("ratio").product().alias("basis"))
    )
    return ones.scatter(factor["_row"], factor["basis"]) if factor.height else ones


def _fundamental_panel(
    fund: pl.DataFrame, comp: pl.DataFrame, fx: FxTable, splits: pl.DataFrame, last: date, settings: Mapping[str, Any]
) -> tuple[pl.DataFrame, Any]:
    """(per (as_of, symbol) statement fields, a callable giving the public periods of each (as_of, symbol)).

    Why versions: what a date knows of a company's statements changes only when a period becomes public (its end
    plus the reporting lag). Every date between two such days reads the same periods, so the statement fields are
    computed once per *version* (a company's periods public by one of those days) and every date takes the
    latest version public on it. The versions run through the one-date passes (``_fundamental_parts``) keyed by
    an integer key per (symbol, version day) in place of the symbol, so each is computed exactly as a one-date view
    would.
    """

    def prepared() -> pl.DataFrame:
        """The public statement rows of the universe, prepared (``_prepare_statements``)."""
        f = (
            fund.lazy()
            .select(*STATEMENT_COLUMNS, "provider")
            .drop_nulls(["symbol", "period_end"])
            .with_columns(reported_by(settings).alias("_public"))
            .filter(pl.col("_public") <= last)
            .collect()
        )
        f = f.join(comp.select("symbol").unique(), on="symbol", how="semi")
        return _prepare_statements(f, fx, splits)

    f = prepared()
    if comp["as_of"].n_unique() == 1:  # one date: each company's version is simply its latest public period
        latest = f.group_by("symbol").agg(pl.col("_public").max().alias("_version"))
        need = comp.select("as_of", "symbol", "_row").join(latest, on="symbol", how="left", maintain_order="left")
    else:
        days = f.select("symbol", "_public").unique().sort(["symbol", "_public"])
        need = (
            comp.select("as_of", "symbol", "_row")
            .sort("as_of")
            .join_asof(
                days, left_on="as_of", right_on="_public", by="symbol", strategy="backward", check_sortedness=False
            )
            .rename({"_public": "_version"})
        )
    # a version's key is its position in (symbol, version) order: an integer that sorts as the pair does (a dense
    # rank of the pair, so each (date, company) row knows its version's key without a join)
    need = need.drop_nulls("_version").with_columns(
        (pl.struct("symbol", "_version").rank("dense") - 1).cast(pl.Int64).alias("_key")
    )
    versions = need.select("_key", "symbol", "_version").unique("_key").sort("_key")

    def copied(columns: Sequence[str]) -> pl.DataFrame:
        """Each version's public periods (``columns`` of them), keyed by the version in ``symbol``.

        The prepared rows are made again here, not kept from above: no factor of the registry reads the periods
        themselves, and kept for one that might they would hold 0.5 GB (2.5 million rows) through every factor of a
        50,000-company score. Preparing is a pure function of the inputs, so the rows are the same."""
        return (
            prepared()
            .select(*columns, "_public")
            .join(versions, on="symbol", how="inner")
            .filter(pl.col("_public") <= pl.col("_version"))
            .with_columns(pl.col("_key").alias("symbol"))
            .select(columns)
        )

    # the fields of a version read only its reachable periods; whether it rests on demo data asks all of them
    first_demo = f.filter(pl.col("_demo")).group_by("symbol").agg(pl.col("_public").min().alias("_first_demo"))
    reach = _reachable(f, versions, settings)
    del f  # see ``copied``: the passes read only the reachable rows, and the prepared ones would sit under them
    agg, _ = _fundamental_parts(reach, versions["_key"], settings, periods=False)
    del reach
    demo = versions.join(first_demo, on="symbol", how="left", maintain_order="left").select(
        (pl.col("_first_demo") <= pl.col("_version")).fill_null(False).alias("fundamentals_demo")
    )
    agg = agg.with_columns(demo["fundamentals_demo"])
    back = versions.select("_key", "symbol", "_version")
    # every version has a row (its own latest period), in key order: a (date, company) row takes its version's
    # fields by position
    if not agg["symbol"].equals(versions["_key"].alias("symbol"), check_dtypes=False):
        raise RuntimeError("statement versions lost their order")
    fields = agg.drop("symbol").gather(need["_key"]).with_columns(need["_row"])

    def statements() -> pl.DataFrame:
        _, periods = _fundamental_parts(copied(_PREPARED), versions["_key"], settings)
        per = periods.rename({"symbol": "_key"}).join(back, on="_key", how="inner").drop("_key")
        return (
            need.join(per, on=["symbol", "_version"], how="inner")
            .drop("_version", "_key", "_row")
            .sort(["as_of", "symbol", "period_end", "period"], maintain_order=True)
        )

    return fields, statements


def _lookbacks(settings: Mapping[str, Any]) -> dict[str, int]:
    """Days before its anchor period (the latest period reporting the field) that each kind of field reads in
    ``_fundamental_parts``: a quarterly TTM its trailing window; a half-year TTM that window or the half a year
    earlier; share growth its reference periods, up to three years and the late margin back; balances and fiscal
    years the anchor alone."""
    window = int(settings["ttm_window_days"])
    return {
        "q": window,
        "h": max(window, PERIOD_SPACING["FY"][1]),
        "fy": 0,
        "balance": 0,
        "shares": 365 * 3 + int(settings["share_growth_late_days"]),
    }


def _reach_days(f: pl.DataFrame, settings: Mapping[str, Any]) -> pl.DataFrame:
    """Per symbol (``_reach``), how many days before a version's latest period end its fields can read.

    Why this bound holds: let A be a field's anchor in a version and E the version's latest period end. Either the
    field's next reporting period after A is not public yet, so it ends after E less the spread of the reporting
    lags, and A is at most one reporting gap before it; or A is the company's last reporting period, at most the
    tail gap before its last period. So A >= E - (largest gap + lag spread), and everything a field reads lies at
    most its lookback before A. The gaps are the company's own, so a company that stopped reporting a field years
    ago reaches back that far and loses nothing."""
    lookback = _lookbacks(settings)
    lags = reporting_lags(settings)
    spread = max(lags.values()) - min(lags.values())
    day = pl.col("period_end").cast(pl.Int32).cast(pl.Int64)
    kinds: list[tuple[pl.Expr, int]] = [(_reports(fld), lookback["balance"]) for fld in BALANCE_FIELDS]
    kinds.append((_reports("shares_outstanding"), lookback["shares"]))
    for lbl, label in (("q", "Q"), ("h", "H"), ("fy", "FY")):
        kinds += [((pl.col("period") == label) & _reports(fld), lookback[lbl]) for fld in FLOW_FIELDS]
    # rows are sorted by (symbol, period end): a reporting row's previous reporting row is the running last one,
    # and counts only when it belongs to the same company (``g``, the company's run)
    gaps, reporting = [], []
    for k, (mask, back) in enumerate(kinds):
        prev_day = pl.when(mask).then(day).shift(1).forward_fill()
        prev_g = pl.when(mask).then(pl.col("g")).shift(1).forward_fill()
        gaps.append(pl.when(mask & (prev_g == pl.col("g"))).then(day - prev_day + back))
        reporting.append(pl.when(mask).then(day).alias(f"_rep{k}"))
    per = (
        f.lazy()
        .with_columns(pl.col("symbol").rle_id().alias("g"))
        .select("g", "symbol", day.alias("_day"), pl.max_horizontal(gaps).alias("_gap"), *reporting)
        .group_by("g", maintain_order=True)
        .agg(
            pl.col("symbol").first(),
            pl.col("_day").max(),
            pl.col("_gap").max(),
            *[pl.col(f"_rep{k}").max() for k in range(len(kinds))],
        )
    )
    # the tail gap: from a field's last reporting period to the company's last period
    tails = [pl.col("_day") - pl.col(f"_rep{k}") + back for k, (_, back) in enumerate(kinds)]
    return per.select("symbol", (pl.max_horizontal("_gap", *tails).fill_null(0) + spread).alias("_reach")).collect()


def _reachable(f: pl.DataFrame, versions: pl.DataFrame, settings: Mapping[str, Any]) -> pl.DataFrame:
    """Each version's public periods its fields can read (``_reach_days``), keyed by the version in ``symbol``.

    Why not every public period: a version of a company with twelve years of statements would carry all of them
    through the trailing-twelve-months passes, though its fields read the last few years; the panel holds about
    sixteen versions per company. Rows are located by range on a sorted (company, period end) key, not by joining
    every version with every period."""
    cols = list(_FIELD_INPUTS)
    rows = _sorted(f.select(*cols, "_public"), ["symbol", "period_end", "period"])
    if rows.height == 0 or versions.height == 0:
        return rows.select(cols).clear().with_columns(pl.col("symbol").cast(pl.Int64))
    if versions["symbol"].n_unique() == versions.height:
        # one version per company (a one-date score): each company's rows are copied once at most, so the reach
        # bound has nothing to save, and finding it costs more than the passes over the rows it would drop (the
        # fields read the same periods either way: that is what the bound guarantees)
        return (
            rows.join(versions.select("symbol", "_key", "_version"), on="symbol", how="inner", maintain_order="left")
            .filter(pl.col("_public") <= pl.col("_version"))
            .with_columns(pl.col("_key").alias("symbol"))
            .select(cols)
        )
    offset = 1 << 21  # day numbers before 1970 stay positive inside the packed key
    g = rows.select(pl.col("symbol").rle_id().alias("g"))["g"].cast(pl.Int64)
    key = (g * _DAY_SPAN + rows["period_end"].cast(pl.Int32).cast(pl.Int64) + offset).set_sorted()
    runs = rows.select(pl.col("symbol").rle()).unnest("symbol").rename({"value": "symbol"}).with_row_index("g")
    # the latest period end public on each day a company's periods become public
    ends = (
        rows.group_by("symbol", "_public")
        .agg(pl.col("period_end").max())
        .sort("symbol", "_public")
        .select("symbol", "_public", pl.col("period_end").cum_max().over("symbol").alias("_end"))
    )
    v = (
        versions.join(ends, left_on=["symbol", "_version"], right_on=["symbol", "_public"], how="left")
        .join(_reach_days(rows, settings), on="symbol", how="left")
        .join(runs.select(pl.col("g").cast(pl.Int64), "symbol"), on="symbol", how="left")
        .sort("_key")
    )
    end = v["_end"].cast(pl.Int32).cast(pl.Int64) + offset
    lo = key.search_sorted(v["g"] * _DAY_SPAN + end - v["_reach"], side="left")
    hi = key.search_sorted(v["g"] * _DAY_SPAN + end, side="right")
    pos = (
        v.select("_key", "_version", pl.int_ranges(lo.cast(pl.Int64), hi.cast(pl.Int64)).alias("_i"))
        .explode("_i")
        .drop_nulls("_i")
    )
    # the periods public by each version first, then only their columns (the symbol is replaced by the key)
    pos = pos.filter(rows["_public"].gather(pos["_i"]) <= pos["_version"])
    picked = rows.select(c for c in cols if c != "symbol").gather(pos["_i"])
    return picked.with_columns(pos["_key"].alias("symbol")).select(cols)


#: The columns of a prepared statement row (``_prepare_statements``), as the passes read them.
_PREPARED: tuple[str, ...] = (
    "symbol",
    "period_end",
    "period",
    "currency",
    *_USD_FIELDS,
    "shares_outstanding",
    "provider",
    "_usd_per_unit",
    "_fx_demo",
    "_demo",
    *(f"{m}_usd" for m in _USD_FIELDS),
    "fcf",
    "fcf_usd",
)
#: What the passes read to compute the fields (``_fundamental_parts(periods=False)``): the prepared row less the
#: text, the columns only the period rows show and the amounts in the statement's own currency (``_reports`` reads
#: the USD ones), so a statement copied into many versions stays narrow.
_FIELD_INPUTS: tuple[str, ...] = tuple(
    c
    for c in _PREPARED
    if c not in ("currency", "provider", "free_cash_flow_usd", "_usd_per_unit", "fcf", *_USD_FIELDS)
)
#: Period labels as an enum in their text order: copied and compared as small integers, sorted as the text sorts.
_PERIOD_ENUM = pl.Enum(sorted(PERIODS))


def _prepare_statements(f: pl.DataFrame, fx: FxTable, splits: pl.DataFrame) -> pl.DataFrame:
    """Each statement row with what does not depend on the date it is read on: USD per unit of its currency at its
    period end (NaN without a rate, see below), whether that rate is demo data, the share count on the closes'
    basis (``_split_basis``), the ``<field>_usd`` amounts and free cash flow. Done once per row, before the rows
    are copied into every statement version that holds them."""
    cmap = _currency_map(f["currency"].unique().to_list())
    iso_code = {r: fx.codes.get(i) for r, i in zip(cmap["raw"], cmap["iso"], strict=True)}
    units = dict(zip(cmap["raw"], cmap["unit"], strict=True))
    code = f["currency"].replace_strict(iso_code, default=None, return_dtype=pl.Int64)
    usd_per_unit = f["currency"].replace_strict(units, default=None, return_dtype=pl.Float64) * fx.rate(
        code, f["period_end"]
    )
    f = f.with_columns(
        # Inside the passes a missing rate is NaN, not null: a sum over periods then carries it (one aggregation
        # instead of a sum and a count). Every NaN is turned back into null before anything leaves the passes.
        usd_per_unit.fill_null(float("nan")).alias("_usd_per_unit"),
        code.is_in(sorted(fx.demo_codes)).fill_null(False).alias("_fx_demo"),
    ).with_columns(
        # demo data read: the statement's own provider, or a demo rate behind its dollars
        ((pl.col("provider") == "demo").fill_null(False) | pl.col("_fx_demo")).alias("_demo"),
        pl.col("period").cast(_PERIOD_ENUM),
    )
    if splits.height:  # as-reported counts -> the basis of the split-adjusted closes
        affected = (
            f["symbol"].is_in(splits["symbol"].unique().implode()) & f["shares_outstanding"].is_not_null()
        ).arg_true()
        if len(affected):
            basis = _split_basis(
                pl.DataFrame({"symbol": f["symbol"].gather(affected), "date": f["period_end"].gather(affected)}),
                splits.select("symbol", "date", "ratio"),
                "symbol",
            )
            factor = pl.repeat(1.0, f.height, eager=True, dtype=pl.Float64).scatter(affected, basis)
            f = f.with_columns(pl.col("shares_outstanding") * factor)
    f = f.with_columns([(pl.col(m) * pl.col("_usd_per_unit")).alias(f"{m}_usd") for m in _USD_FIELDS]).with_columns(
        pl.coalesce(pl.col("operating_cash_flow") - pl.col("capital_expenditure"), pl.col("free_cash_flow")).alias(
            "fcf"
        ),
        pl.coalesce(
            pl.col("operating_cash_flow_usd") - pl.col("capital_expenditure_usd"), pl.col("free_cash_flow_usd")
        ).alias("fcf_usd"),
    )
    return f.select(*_PREPARED, *(c for c in f.columns if c not in _PREPARED))


def _fundamental_parts(
    fund: pl.DataFrame, known: pl.Series, settings: Mapping[str, Any], *, periods: bool = True
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(per-company fields, reported periods with USD columns) from the periods already public.

    Written as two vectorised passes over the public periods rather than per-company filters: pass 1 finds, per
    company, the latest quarter, half year and fiscal year reporting each field (as row numbers); those are broadcast
    back to the rows through the run id, and pass 2 counts and sums the periods inside the trailing window and finds
    the year-earlier half and the share-count reference periods. Everything else is a gather by row number.

    * TTM of a flow, from whole periods only. Candidates: ``4Q``, the latest quarter reporting the field and the
      three before it (exactly four quarters ending within ``ttm_window_days``, spaced like quarters); ``2H``, the
      latest two half years likewise; ``FY+H``, the latest fiscal year rolled forward by the half year that follows
      it, minus the same half a year earlier (both halves known); ``FY``, the latest fiscal year. The freshest end
      date wins; ties go in that order (so whole quarters beat halves, and a plain sum beats a difference). A
      partial set is not a candidate: never a mean times four. Null when the chosen periods lack an fx rate (and
      flagged ``missing_fx``), not an older candidate.
    * Balances (cash, debt, equity) and the share count: the latest period reporting them. Null, not an older value,
      when that period had no fx rate.
    * Share counts are first put on the closes' basis (``_split_basis``), so growth is never a split.
    * Share growth over k = 1 and 3 years: against the latest period ending between ``365k + late`` and
      ``365k - early`` days before the latest share count, annualised: (now / then) ** (365.25 / days) - 1.
    * ``<field>_date``: the date each value stands for (a TTM's last period end), which decides ``stale:<field>``.
    """
    f = fund.select([c for c in _PREPARED if c in fund.columns]).drop_nulls(["symbol", "period_end"])
    f, g, runs = _runs(f, ["symbol", "period_end", "period"], known)
    f = f.with_columns(g.alias("g").set_sorted(), pl.int_range(pl.len(), dtype=pl.Int64).alias("i"))
    pe, i = pl.col("period_end"), pl.col("i")
    flow_usd = [f"{fld}_usd" for fld in FLOW_FIELDS]
    all_runs = runs.select("g").lazy()

    def per_run(frame: pl.LazyFrame, aggs: list[pl.Expr]) -> pl.DataFrame:
        """Aggregate per company run, one row per run of ``runs`` (null where the frame has no row of it)."""
        agg = frame.group_by("g", maintain_order=True).agg(aggs)
        return all_runs.join(agg, on="g", how="left", maintain_order="left").drop("g").collect()

    def of_label(label: str, *extra: str) -> pl.LazyFrame:
        """The rows of one period label with only the columns a pass reads: each label's aggregations run over
        its own rows (a universe of quarterly reporters pays almost nothing for the half-year candidates)."""
        cols = ["g", "i", "period_end", *flow_usd, *extra]
        return f.lazy().filter(pl.col("period") == label).select(cols)

    # pass 1: per company, row numbers of the latest periods that report each field
    per = per_run(
        f.lazy(),
        [
            pe.max().alias("fundamentals_period_end"),
            pl.col("_demo").any().alias("fundamentals_demo"),
            *[
                pl.when(_reports(fld)).then(i).max().alias(f"_last_{fld}")
                for fld in (*BALANCE_FIELDS, "shares_outstanding")
            ],
        ],
    )
    labels = {"q": "Q", "h": "H", "fy": "FY"}
    for lbl, label in labels.items():
        per = per.hstack(
            per_run(
                of_label(label),
                [pl.when(_reports(fld)).then(i).max().alias(f"_{lbl}_{fld}") for fld in FLOW_FIELDS],
            )
        )

    def at(row_col: str, value: str) -> pl.Series:
        """The value of column ``value`` at the per-company row number ``row_col`` (null stays null)."""
        return f[value].gather(per[row_col])

    # broadcast the anchors back to the rows
    window = timedelta(days=int(settings["ttm_window_days"]))
    anchors = {
        f"_{lbl}end_{fld}": at(f"_{lbl}_{fld}", "period_end").gather(g) for fld in FLOW_FIELDS for lbl in ("q", "h")
    }
    anchors["_snow"] = at("_last_shares_outstanding", "period_end").gather(g)
    f = f.with_columns(**anchors)
    early, late = int(settings["share_growth_early_days"]), int(settings["share_growth_late_days"])
    year_low, year_high = PERIOD_SPACING["FY"]

    # pass 2: per label, the periods inside the trailing window; for halves also the one a year earlier
    for lbl in ("q", "h"):
        aggs = []
        for fld in FLOW_FIELDS:
            end = pl.col(f"_{lbl}end_{fld}")
            inside = _reports(fld) & (pe > end - window)
            aggs += [
                inside.sum().alias(f"_{lbl}n_{fld}"),
                pl.when(inside).then(pe).min().alias(f"_{lbl}first_{fld}"),
                # added in row order (NaN: a rate missing), so a version's sum never depends on how many others
                # share the frame (see ``factors.ledger.ordered_sum``)
                ordered_sum(pl.when(inside).then(pl.col(f"{fld}_usd"))).alias(f"_{lbl}sum_{fld}"),
            ]
            if lbl == "h":
                year_before = (
                    _reports(fld) & (pe >= end - timedelta(days=year_high)) & (pe <= end - timedelta(days=year_low))
                )
                aggs.append(pl.when(year_before).then(i).max().alias(f"_hprev_{fld}"))
        per = per.hstack(per_run(of_label(labels[lbl], *[f"_{lbl}end_{fld}" for fld in FLOW_FIELDS]), aggs))
    has_shares = pl.col("shares_outstanding").is_not_null()
    refs = []
    for k in (1, 3):
        ref = (
            has_shares
            & (pe <= pl.col("_snow") - timedelta(days=365 * k - early))
            & (pe >= pl.col("_snow") - timedelta(days=365 * k + late))
        )
        refs.append(pl.when(ref).then(i).max().alias(f"_ref{k}"))
    per = per.hstack(per_run(f.lazy().select("g", "i", "period_end", "shares_outstanding", "_snow"), refs))

    out: dict[str, pl.Series] = {"symbol": runs["symbol"], "fundamentals_period_end": per["fundamentals_period_end"]}
    no_fx: list[pl.Series] = []
    q_low = PERIOD_SPACING["Q"][0]
    h_low, h_high = PERIOD_SPACING["H"]
    for fld, name in TTM_COLUMNS.items():
        c = pl.DataFrame(
            {
                "q_end": at(f"_q_{fld}", "period_end"),
                "h_end": at(f"_h_{fld}", "period_end"),
                "fy_end": at(f"_fy_{fld}", "period_end"),
                "fy_usd": at(f"_fy_{fld}", f"{fld}_usd"),
                "h_usd": at(f"_h_{fld}", f"{fld}_usd"),
                "hprev": per[f"_hprev_{fld}"],
                "hprev_usd": at(f"_hprev_{fld}", f"{fld}_usd"),
                **{f"{lbl}{part}": per[f"_{lbl}{part}_{fld}"] for lbl in ("q", "h") for part in ("n", "first", "sum")},
            }
        )
        span = {lbl: (pl.col(f"{lbl}_end") - pl.col(f"{lbl}first")).dt.total_days() for lbl in ("q", "h")}
        ends = {  # each candidate's end date, null when it cannot be built
            "4Q": pl.when((pl.col("qn") == 4) & (span["q"] >= 3 * q_low)).then(pl.col("q_end")),
            "2H": pl.when((pl.col("hn") == 2) & (span["h"] >= h_low)).then(pl.col("h_end")),
            "FY+H": pl.when(
                pl.col("hprev").is_not_null()
                & (pl.col("h_end") - pl.col("fy_end")).dt.total_days().is_between(h_low, h_high)
            ).then(pl.col("h_end")),
            "FY": pl.col("fy_end"),
        }
        values = {  # NaN when a period used has no rate
            "4Q": pl.col("qsum"),
            "2H": pl.col("hsum"),
            "FY+H": pl.col("fy_usd") + pl.col("h_usd") - pl.col("hprev_usd"),
            "FY": pl.col("fy_usd"),
        }
        # the candidates' ends and the latest of them become columns first: written inline, every test of a
        # candidate would copy all four ends into the expression, and polars would plan a tree many times the size
        c = c.with_columns([e.alias(f"_end_{b}") for b, e in ends.items()])
        c = c.with_columns(pl.max_horizontal([pl.col(f"_end_{b}") for b in ends]).alias("_best"))
        best = pl.col("_best")
        first, *rest = TTM_BASES
        hit = {b: (pl.col(f"_end_{b}") == best).fill_null(False) for b in TTM_BASES}
        value, basis = pl.when(hit[first]).then(values[first]), pl.when(hit[first]).then(pl.lit(first))
        for b in rest:
            value, basis = value.when(hit[b]).then(values[b]), basis.when(hit[b]).then(pl.lit(b))
        chosen = c.select(
            value.otherwise(None).cast(pl.Float64).fill_nan(None).alias(name),
            basis.otherwise(None).cast(pl.String).alias(f"{name}_basis"),
            best.alias(f"{name}_date"),
        )
        out.update({col: chosen[col] for col in chosen.columns})
        no_fx.append(chosen[f"{name}_date"].is_not_null() & chosen[name].is_null())
    for fld in BALANCE_FIELDS:
        out[f"{fld}_usd"] = at(f"_last_{fld}", f"{fld}_usd").fill_nan(None)
        out[f"{fld}_usd_date"] = at(f"_last_{fld}", "period_end")
        no_fx.append(out[f"{fld}_usd_date"].is_not_null() & out[f"{fld}_usd"].is_null())
    out["shares_outstanding"] = at("_last_shares_outstanding", "shares_outstanding")
    pe_now = at("_last_shares_outstanding", "period_end")
    out["shares_outstanding_date"] = pe_now
    for k in (1, 3):
        s_ref, pe_ref = at(f"_ref{k}", "shares_outstanding"), at(f"_ref{k}", "period_end")
        days = (pe_now - pe_ref).dt.total_days().cast(pl.Float64)
        out[f"share_growth_{k}y"] = ((out["shares_outstanding"] / s_ref).pow(365.25 / days) - 1.0).alias(
            f"share_growth_{k}y"
        )
    out["fundamentals_missing_fx"] = reduce(operator.or_, no_fx).alias("fundamentals_missing_fx")
    out["fundamentals_demo"] = per["fundamentals_demo"]
    agg = pl.DataFrame(out)
    if not periods:
        return agg, pl.DataFrame()
    nan_free = ["_usd_per_unit", *[f"{m}_usd" for m in _USD_FIELDS], "fcf_usd"]
    rows = (
        f.drop("g", "i", "_fx_demo", "_demo", *anchors)
        .with_columns([pl.col(c).fill_nan(None) for c in nan_free])
        .with_columns(pl.col("period").cast(pl.String))
    )
    return agg, rows


def _latest_share_count(history: pl.DataFrame, comp: pl.DataFrame, splits: pl.DataFrame, last: date) -> pl.DataFrame:
    """Per (as_of, symbol), the latest daily share count on or before that date on the closes' basis: ``_sh_date``,
    ``_sh_shares``, ``_sh_demo``. A count that is not positive is unknown, not zero."""
    h = history.drop_nulls(["symbol", "date", "shares"]).filter(
        (pl.col("date") <= last) & pl.col("shares").is_finite() & (pl.col("shares") > 0)
    )
    h = h.join(comp.select("symbol").unique(), on="symbol", how="semi").sort(["symbol", "date"], maintain_order=True)
    basis = _split_basis(h.select("symbol", "date"), splits, "symbol")
    h = h.select(
        "symbol",
        pl.col("date").alias("_sh_date"),
        (pl.col("shares") * basis).alias("_sh_shares"),
        (pl.col("provider") == "demo").fill_null(False).alias("_sh_demo"),
    )
    return (
        comp.select("as_of", "symbol", "_row")
        .sort("as_of")
        .join_asof(
            h,
            left_on="as_of",
            right_on="_sh_date",
            by="symbol",
            strategy="backward",
            coalesce=False,
            check_sortedness=False,
        )
        .drop_nulls("_sh_date")
    )


class EventPanel:
    """The company events of a panel of as-of dates: per date, the events known on it (a month-, quarter- or
    year-level date counts from its period's end) of companies in that date's universe (market-wide ``*`` events
    are left out).

    Two views of the same thing, built on demand:

    * ``copies(predicate)``: one copy of each event per date that knows it, with the date in ``as_of``, so a ledger
      whose value depends on the date (a decayed sum) is a group-by on (as_of, symbol). Given a predicate over the
      event's own columns, only the events that pass are copied: the same rows as filtering every copy, without
      making 1.4 million copies (5,000 companies, 156 dates) to keep a few thousand.
    * ``versions()``: what a date knows of a company's events changes only on the days a new event becomes known,
      so a ledger whose grouping does not depend on the date (a project's latest stage and tonnage) is computed once
      per *version* (a company's events known by one of those days, keyed ``_vid``) and each (as_of, company) row
      takes its version: the same rows as grouping the copies, in the same order within a group.
    """

    def __init__(self, events: pl.DataFrame, comp: pl.DataFrame, dates: Sequence[date]) -> None:
        grid = pl.Series("as_of", list(dates), dtype=pl.Date)
        known = known_from(pl.col("date"), pl.col("date_precision"))
        ev = events.filter(pl.col("symbol") != MARKET_SYMBOL).with_columns(known.alias("_known"))
        # in the ledgers' order once (stable, so equal keys keep their input order); the copies then need only an
        # integer sort on (date, position) instead of a sort of every copy on text
        ev = ev.filter(pl.col("_known") <= grid.max()).sort(
            ["symbol", "date", "kind", "description"], maintain_order=True, nulls_last=False
        )
        # each event's symbol and each universe row as small integers: a copy is kept when its (date, company) is
        # in that date's universe
        symbols = comp.select(pl.col("symbol").unique().sort()).with_row_index("_c")
        ev_code = ev.select("symbol").join(symbols, on="symbol", how="left", maintain_order="left")["_c"]
        universe = comp.select("as_of", "symbol").join(symbols, on="symbol", how="left", maintain_order="left")
        self._columns = [c for c in ev.columns if c != "_known"]
        self._ev = ev.with_columns(
            grid.search_sorted(ev["_known"], side="left").cast(pl.Int64).alias("_first"),
            ev_code.cast(pl.Int64).alias("_c"),
            pl.int_range(pl.len(), dtype=pl.Int64).alias("_e"),
        ).drop("_known")
        self._grid = grid
        self._n = max(symbols.height, 1)
        self._universe = universe.select(
            "as_of", "symbol", grid.search_sorted(universe["as_of"], side="left").cast(pl.Int64).alias("_d"), "_c"
        )
        self._lock = Lock()
        self._all: pl.DataFrame | None = None
        self._versions: tuple[pl.DataFrame, pl.DataFrame] | None = None

    def copies(self, predicate: pl.Expr | None = None, *, within_days: int | None = None) -> pl.DataFrame:
        """Per as-of date, the events known on it (those passing ``predicate``, an expression over the event's own
        columns), with the date in ``as_of`` first, sorted by as_of then the events' order. With ``within_days``,
        only the events dated within that many days before each as-of date (``date > as_of - within_days``): a
        count over the last year copies each event to a year of dates, not to every later one."""
        if predicate is None and within_days is None:
            with self._lock:
                if self._all is None:
                    self._all = self._copy(self._ev, None)
                return self._all
        return self._copy(self._ev if predicate is None else self._ev.filter(predicate), within_days)

    def _copy(self, ev: pl.DataFrame, within_days: int | None) -> pl.DataFrame:
        n = self._n
        listed = (self._universe["_d"] * n + self._universe["_c"].cast(pl.Int64)).implode()
        # the dates that see an event: from the first that knows it to the last (exclusive) it is recent on
        if within_days is None:
            end: pl.Expr | int = len(self._grid)
        else:
            until = ev["date"] + timedelta(days=within_days)
            end = pl.lit(self._grid.search_sorted(until, side="left").cast(pl.Int64))
        copies = (
            ev.select("_e", "_first", "_c")
            .with_row_index("_p")
            .with_columns(pl.int_ranges("_first", end, dtype=pl.Int64).alias("_d"))
            .explode("_d")
            .drop_nulls("_d")
            .filter((pl.col("_d") * n + pl.col("_c")).is_in(listed))
            .sort(["_d", "_p"])
        )
        out = ev.select(self._columns).gather(copies["_p"])
        return out.select(self._grid.gather(copies["_d"]).alias("as_of"), *self._columns)

    def versions(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(rows, of): ``rows`` holds each version's events (``_vid`` first, then the events' columns, in the
        events' order within a version); ``of`` names each (as_of, symbol) of the universe its version (``as_of``,
        ``symbol``, ``_vid``; a company with no event known yet has no row)."""
        with self._lock:
            if self._versions is None:
                self._versions = self._build_versions()
            return self._versions

    def _build_versions(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        ev = self._ev.filter(pl.col("_c").is_not_null())
        # a version per (company, day a new event of it becomes known), numbered in (company, day) order
        days = ev.select("_c", pl.col("_first").alias("_v")).unique().sort(["_c", "_v"]).with_row_index("_vid")
        rows = (
            ev.join(days, on="_c", how="inner")
            .filter(pl.col("_first") <= pl.col("_v"))
            .sort(["_vid", "_e"])
            .select(pl.col("_vid").cast(pl.Int64), *self._columns)
        )
        # each universe row's version: the company's latest version day on or before its date (one packed integer
        # key per (company, day), searched)
        span = len(self._grid) + 1
        key = days["_c"].cast(pl.Int64) * span + days["_v"]
        u = self._universe.drop_nulls("_c")
        if days.is_empty():
            return rows, u.select("as_of", "symbol", pl.lit(0, dtype=pl.Int64).alias("_vid")).clear()
        at = key.search_sorted(u["_c"].cast(pl.Int64) * span + u["_d"], side="right").cast(pl.Int64) - 1
        found = at.clip(lower_bound=0)
        same = (at >= 0) & (days["_c"].gather(found).cast(pl.Int64) == u["_c"].cast(pl.Int64))
        of = u.select("as_of", "symbol", found.alias("_vid")).filter(same)
        return rows, of


def _attach(frame: pl.DataFrame, part: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with the columns of ``part`` set at the rows ``part["_row"]`` names (null elsewhere): a left join
    on the row position, without hashing (date, symbol) keys."""
    n = frame.height
    part = part.sort("_row")
    if part.height == n:  # every row present (positions are unique): already in place
        return frame.hstack(part.drop([c for c in ("_row", "as_of", "symbol") if c in part.columns]))
    idx = part["_row"].cast(pl.Int64)
    columns = []
    for name in part.columns:
        if name in ("_row", "as_of", "symbol"):
            continue
        empty = pl.Series(name, [None], dtype=part.schema[name]).extend_constant(None, n - 1) if n else part[name][:0]
        columns.append(empty.scatter(idx, part[name]) if part.height else empty)
    return frame.hstack(columns)


def build_context(inputs: FactorInputs, as_of: date, settings: Mapping[str, Any] | None = None) -> FactorContext:
    """The point-in-time view of one date: the one-date case of ``build_panel``."""
    return build_panel(inputs, [as_of], settings)


def build_panel(
    inputs: FactorInputs,
    dates: Sequence[date],
    settings: Mapping[str, Any] | None = None,
    *,
    release_prices: bool = False,
) -> FactorContext:
    """Assemble, for every date of ``dates`` at once, the point-in-time base frame (one row per (as_of, company))
    and the panels factors aggregate. Inputs are read once; each date sees only what was public on it.

    ``release_prices`` hands the closes over to the price side: ``inputs.prices`` is emptied, and the closes are
    freed as soon as the daily panel is built from them. Why: a caller that read the inputs for this one score
    (``scores_for``) never reads them again, and 13 million closes kept beside the statement side and the factors
    are a quarter of a 50,000-company score's peak memory.

    Besides the score fields, the base frame carries ``<field>_date`` (the date each value stands for),
    ``<ttm column>_basis`` (how each trailing twelve months was built), ``last_trade_date`` and one boolean column
    per row flag (``stale``, ``halted``, ... and ``stale:<field>``, see ``FIELD_FLAGS``).
    """
    days = sorted(set(dates))
    if not days:
        raise ValueError("build_panel needs at least one date")
    cfg: Mapping[str, Any] = {**SETTINGS, **(settings or {})}
    fx = FxTable(inputs.fx, days[-1])
    # each (as_of, company) row's position: the sides built below carry it, and are set into the base by it
    comp = _companies(inputs.companies, fx, days).with_row_index("_row")
    splits = _usable_splits(inputs.splits, comp.select("symbol").unique())
    # the price, statement, share-count and event sides are independent: for a panel of dates two threads build them
    # side by side (polars releases the interpreter lock; each side is a pure function of the inputs, so the result
    # is the same). One date builds them one after the other: each side's polars work already uses every core, and
    # side by side their peaks add up (50,000 companies: a score peaks at 3.2 GB against 2.8 GB, for about 0.5 s of
    # wall time less on two cores). The statement side goes first: what it leaves is small, while the daily panel
    # the price side leaves (0.5 GB at 50,000 companies) would sit under the statement side's own peak
    with ThreadPoolExecutor(max_workers=2 if len(days) > 1 else 1) as pool:
        fund_job = pool.submit(_fundamental_panel, inputs.fundamentals, comp, fx, splits, days[-1], cfg)
        closes: list[pl.DataFrame] = [inputs.prices]  # the price side takes the frame out (see ``_price_parts``)
        names = inputs.price_symbols
        if release_prices:
            object.__setattr__(inputs, "prices", _conform("prices", None))
            object.__setattr__(inputs, "price_symbols", None)
        prices_job = pool.submit(_price_parts, closes, comp, fx, days[-1], cfg, names)
        shares_job = pool.submit(_latest_share_count, inputs.share_history, comp, splits, days[-1])
        events_job = pool.submit(EventPanel, inputs.events, comp, days)
        latest, panel, runs, bounds = prices_job.result()
        fund_agg, statements = fund_job.result()
        shares_now = shares_job.result()
        events = events_job.result()
    split_demo = (
        splits.filter(pl.col("provider") == "demo")
        .select("symbol")
        .unique()
        .with_columns(pl.lit(True).alias("_split_demo"))
    )
    # a company's events rest on demo data from the day its first demo event is known (each date's copies are every
    # event known by then): one small group-by of the events instead of one over every per-date copy
    first_demo_event = (
        inputs.events.filter((pl.col("symbol") != MARKET_SYMBOL) & (pl.col("provider") == "demo"))
        .group_by("symbol")
        .agg(known_from(pl.col("date"), pl.col("date_precision")).min().alias("_first_demo_event"))
    )
    fx_demo = pl.col("code").is_in(sorted(fx.demo_codes)).fill_null(False)
    stale_price = pl.col("as_of") - pl.duration(days=int(cfg["stale_price_days"]))
    stale_fund = pl.col("as_of") - pl.duration(days=int(cfg["stale_fundamentals_days"]))
    # no trade for more than N trading days (counted as weekdays): a halt, not old liquidity.
    # The count runs to the store's last session on or before the as-of date (the latest close of any company), not
    # to the as-of date itself: a store that was not refreshed for a month is stale, which every row says, and must
    # not make every name look halted and empty the list.
    last_session = pl.col("last_price_date").max().over("as_of")
    untraded = pl.business_day_count(pl.col("last_trade_date") + timedelta(days=1), last_session + timedelta(days=1))
    # the daily share history replaces the statement count when it is newer (both on the closes' basis)
    use_history = pl.col("_sh_date").is_not_null() & (
        pl.col("shares_outstanding_date").is_null() | (pl.col("_sh_date") > pl.col("shares_outstanding_date"))
    )
    key = list(KEY)
    base = (
        _attach(_attach(_attach(comp, latest), fund_agg), shares_now)
        .join(split_demo, on="symbol", how="left", maintain_order="left")
        .join(first_demo_event, on="symbol", how="left", maintain_order="left")
        .join(
            government_backing_view(events.copies(received_from_government())),
            on=key,
            how="left",
            maintain_order="left",
        )
        .with_columns(
            pl.when(use_history)
            .then(pl.col("_sh_shares"))
            .otherwise(pl.col("shares_outstanding"))
            .alias("shares_outstanding"),
            pl.when(use_history)
            .then(pl.col("_sh_date"))
            .otherwise(pl.col("shares_outstanding_date"))
            .alias("shares_outstanding_date"),
            (use_history & pl.col("_sh_demo")).fill_null(False).alias("_sh_demo"),
        )
        .with_columns(
            (pl.col("shares_outstanding") * pl.col("price_usd")).alias("market_cap_usd"),
            (pl.col("cash_usd") - pl.col("total_debt_usd")).alias("net_cash_usd"),
            pl.col("price_days").fill_null(0),
            pl.col("volume_days").fill_null(0),
            pl.col("last_price_date").is_null().alias("no_prices"),
            pl.col("fundamentals_period_end").is_null().alias("no_fundamentals"),
            (
                pl.col("prices_missing_fx").fill_null(False)
                | pl.col("fundamentals_missing_fx").fill_null(False)
                | (pl.col("code").is_null() & (pl.col("last_price_date").is_not_null()))
            ).alias("missing_fx"),
            (
                pl.col("company_demo")
                | pl.col("prices_demo").fill_null(False)
                | pl.col("fundamentals_demo").fill_null(False)
                | (pl.col("_first_demo_event") <= pl.col("as_of")).fill_null(False)
                | pl.col("_sh_demo")
                | pl.col("_split_demo").fill_null(False)
                | (fx_demo & pl.col("last_price_date").is_not_null())
            ).alias("demo"),
            *[(pl.col(f"{c}_date") < stale_fund).fill_null(False).alias(f"stale:{c}") for c in STALE_FIELDS],
            (
                pl.col("last_price_date").is_not_null()
                & (pl.col("last_trade_date").is_null() | (untraded > int(cfg["halted_trading_days"])).fill_null(False))
            ).alias("halted"),
        )
        .with_columns(
            (
                (pl.col("last_price_date") < stale_price).fill_null(False)
                | (pl.col("fundamentals_period_end") < stale_fund).fill_null(False)
                | pl.any_horizontal([pl.col(f) for f in FIELD_FLAGS])
            ).alias("stale"),
        )
        .drop(
            "prices_missing_fx",
            "fundamentals_missing_fx",
            "prices_demo",
            "fundamentals_demo",
            "_first_demo_event",
            "company_demo",
            "_sh_date",
            "_sh_shares",
            "_sh_demo",
            "_split_demo",
            "_row",
        )
    )
    # Inf or NaN (a zero share count in an old period, say) would poison ranks: treat them as missing.
    floats = [c for c, t in base.schema.items() if t == pl.Float64]
    base = base.with_columns([pl.when(pl.col(c).is_finite()).then(pl.col(c)).alias(c) for c in floats])
    return FactorContext(
        dates=tuple(days),
        settings=MappingProxyType(dict(cfg)),
        base=base,
        prices=panel,
        price_runs=runs,
        bounds=bounds,
        event_source=events,
        statements=statements,
    )
