"""Point-in-time inputs: what was public on the as-of date, in US dollars, one row per company.

Why this module exists: every factor must see the same view of the data, and that view must be honest about time and
money. Three rules are enforced here once, so no factor can get them wrong:

* **Reporting lag.** A fundamentals period counts only from ``period_end + lag``: 60 days after a quarter (``Q``),
  90 after a fiscal year (``FY``). A quarter that ended 30 days before the as-of date does not exist yet.
* **Prices on or before the as-of date.** Nothing later is read.
* **USD at the value's own date.** Each money value is converted with the latest ``fx`` rate on or before its own
  date (a price at its trading day, a statement value at its period end). ``USD`` needs no rate. Quote sub-units
  (``GBp``, ``ZAc``, ``ILA``) are scaled to their currency first. A value with no rate is left null and the company
  is flagged ``missing_fx``: it never counts as dollars.

The heavy part is the price panel (the benchmark has 13 million rows), so prices are handled without string joins:
rows sorted by (symbol, date) form one run per symbol, the run id indexes the company's currency, and the fx rate is
gathered from a dense day-by-currency grid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import polars as pl

from screener.contract import ENABLER_ROLES, MARKET_SYMBOL, REGIONS, normalise_currency, polars_schema

if TYPE_CHECKING:
    from screener.store import Store

#: Engine settings (documented in METHODOLOGY.md, "Point in time").
SETTINGS: Mapping[str, Any] = MappingProxyType(
    {
        "reporting_lag_days": MappingProxyType({"Q": 60, "FY": 90}),
        "price_window_days": 400,
        "stale_price_days": 10,
        "stale_fundamentals_days": 400,
        "ttm_window_days": 350,
        "share_growth_early_days": 30,
        "share_growth_late_days": 120,
    }
)

#: Flows summed over the trailing twelve months; the rest are balances taken at the latest period.
FLOW_FIELDS: tuple[str, ...] = ("revenue", "operating_cash_flow", "capital_expenditure", "fcf")
BALANCE_FIELDS: tuple[str, ...] = ("cash", "total_debt", "total_equity")

#: The point-in-time fields every score row carries (USD unless named otherwise).
FIELD_COLUMNS: tuple[str, ...] = (
    "market_cap_usd",
    "price_usd",
    "revenue_ttm_usd",
    "operating_cash_flow_ttm_usd",
    "capex_ttm_usd",
    "free_cash_flow_ttm_usd",
    "cash_usd",
    "total_debt_usd",
    "net_cash_usd",
    "total_equity_usd",
    "shares_outstanding",
)

IDENTITY_COLUMNS: tuple[str, ...] = (
    "symbol", "name", "country", "region", "roles", "role_class", "stage", "segment", "currency", "gov_backing",
)


@dataclass(frozen=True)
class InputSpec:
    """One input a factor can need. ``counted`` inputs enter ``data_completeness``; identity fields (required by
    the data contract) and the event ledger (an empty ledger is information, not a gap) do not."""

    description: str
    present: pl.Expr | None = None

    @property
    def counted(self) -> bool:
        return self.present is not None


#: The vocabulary of ``FactorSpec.needs``. Presence is judged on the point-in-time base frame.
INPUTS: Mapping[str, InputSpec] = MappingProxyType(
    {
        "roles": InputSpec("supply-chain role tags"),
        "country": InputSpec("headquarters country"),
        "stage": InputSpec("producer, developer or explorer"),
        "gov_backing": InputSpec("government-backing tags on the company"),
        "events": InputSpec("the event ledger (capacity, offtake, funding, equity raises)"),
        "price": InputSpec("a USD close on or before the as-of date", pl.col("price_usd").is_not_null()),
        "price_history": InputSpec("USD closes in the last year", pl.col("price_days") > 0),
        "volume": InputSpec("traded volume in the last year", pl.col("volume_days") > 0),
        "shares_outstanding": InputSpec("latest share count", pl.col("shares_outstanding").is_not_null()),
        "share_history_1y": InputSpec("share count about a year earlier", pl.col("share_growth_1y").is_not_null()),
        "share_history_3y": InputSpec("share count about three years earlier",
                                      pl.col("share_growth_3y").is_not_null()),
        "revenue": InputSpec("trailing-twelve-month revenue", pl.col("revenue_ttm_usd").is_not_null()),
        "operating_cash_flow": InputSpec("trailing-twelve-month operating cash flow",
                                         pl.col("operating_cash_flow_ttm_usd").is_not_null()),
        "capital_expenditure": InputSpec("trailing-twelve-month capex", pl.col("capex_ttm_usd").is_not_null()),
        "free_cash_flow": InputSpec("trailing-twelve-month free cash flow",
                                    pl.col("free_cash_flow_ttm_usd").is_not_null()),
        "cash": InputSpec("latest cash", pl.col("cash_usd").is_not_null()),
        "total_debt": InputSpec("latest total debt", pl.col("total_debt_usd").is_not_null()),
        "total_equity": InputSpec("latest total equity", pl.col("total_equity_usd").is_not_null()),
        "market_cap": InputSpec("market capitalisation", pl.col("market_cap_usd").is_not_null()),
    }
)


# --------------------------------------------------------------------------------------------------------------
# Inputs as frames
# --------------------------------------------------------------------------------------------------------------
def _conform(kind: str, frame: pl.DataFrame | None) -> pl.DataFrame:
    """Contract columns in contract order and dtypes, plus ``provider``; absent columns become typed nulls."""
    schema: dict[str, Any] = {**polars_schema(kind), "provider": pl.String}
    if frame is None:
        return pl.DataFrame(schema=schema)
    exprs = []
    for name, dtype in schema.items():
        if name in frame.columns:
            col = pl.col(name)
            exprs.append(col if frame.schema[name] == dtype else col.cast(dtype).alias(name))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
    return frame.select(exprs)


@dataclass(frozen=True)
class FactorInputs:
    """Everything scoring reads, as contract-shaped frames (an optional ``provider`` column marks demo rows).

    Frames are conformed on construction, so tests can pass only the columns they care about.
    """

    companies: pl.DataFrame
    fundamentals: pl.DataFrame = field(default_factory=lambda: _conform("fundamentals", None))
    prices: pl.DataFrame = field(default_factory=lambda: _conform("prices", None))
    fx: pl.DataFrame = field(default_factory=lambda: _conform("fx", None))
    events: pl.DataFrame = field(default_factory=lambda: _conform("events", None))

    def __post_init__(self) -> None:
        for kind in ("companies", "fundamentals", "prices", "fx", "events"):
            object.__setattr__(self, kind, _conform(kind, getattr(self, kind)))


def load_inputs(store: Store, as_of: date) -> FactorInputs:
    """Read what the store knew about dates on or before ``as_of``, ordered by each kind's key.

    Fundamentals are read up to ``as_of`` and the reporting lag is applied in scoring, so the same rule holds for
    frames that never touched a store.
    """
    def rows(kind: str, where: str, order: str) -> pl.DataFrame:
        cols = ", ".join([*polars_schema(kind), "provider"])
        return store.query(f"SELECT {cols} FROM {kind} WHERE {where} ORDER BY {order}", [as_of])

    return FactorInputs(
        companies=store.companies(),
        fundamentals=rows("fundamentals", "period_end <= ?", "symbol, period_end, period"),
        prices=rows("prices", "date <= ?", "symbol, date"),
        fx=rows("fx", "date <= ?", "currency, date"),
        events=rows("events", "date <= ?", "symbol, date, kind, description"),
    )


# --------------------------------------------------------------------------------------------------------------
# FX
# --------------------------------------------------------------------------------------------------------------
class FxTable:
    """USD per unit of each currency on every day, forward-filled from the latest rate on or before that day.

    Currencies are addressed by integer code: code 0 is USD (rate 1 every day); a currency with no fx row has no
    code, so its rate is null. The dense grid turns a conversion into one integer gather, which keeps the 13-million
    row price panel free of joins.
    """

    def __init__(self, fx: pl.DataFrame, as_of: date) -> None:
        rows = fx.filter(pl.col("date") <= as_of).drop_nulls(["currency", "date", "usd_per_unit"])
        rows = rows.filter(pl.col("currency") != "USD").sort(["currency", "date"])
        self._rows = rows
        self.codes: dict[str, int] = {"USD": 0}
        for i, cur in enumerate(rows["currency"].unique().sort().to_list(), start=1):
            self.codes[cur] = i
        self.start: date | None = rows["date"].min() if rows.height else None  # type: ignore[assignment]
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
            idx = pl.select(pl.when(offset >= 0).then(idx).otherwise(None)).to_series()
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
@dataclass
class FactorContext:
    """The point-in-time view handed to every factor's ``compute``.

    ``base`` has one row per company (sorted by symbol) with identity, USD fields and bookkeeping columns.
    ``prices`` is the panel of the last ``price_window_days`` (columns ``g``, ``date``, ``close_usd``, ``volume``,
    ``traded_value_usd``), sorted by company run ``g`` then date; use ``aggregate_prices`` to reduce it per company.
    ``fundamentals`` holds the periods already reported (with ``<field>_usd`` columns); ``events`` the events on or
    before the as-of date that belong to one company of the universe (market-wide ``*`` events are left out).
    """

    as_of: date
    settings: Mapping[str, Any]
    base: pl.DataFrame
    prices: pl.DataFrame
    price_runs: pl.DataFrame
    fundamentals: pl.DataFrame
    events: pl.DataFrame

    def aggregate_prices(self, *exprs: pl.Expr) -> pl.DataFrame:
        """Reduce the price panel per company -> symbol + one column per expression.

        ``exprs`` see one company's rows in date order. Prefer masks (``pl.when(cond).then(x).max()``) over
        ``filter`` inside them: elementwise-then-aggregate runs vectorised over the whole panel.
        """
        agg = self.prices.lazy().group_by("g", maintain_order=True).agg(*exprs).collect()
        return self.price_runs.join(agg, on="g", how="inner").drop("g")

    def age_years(self, col: str = "date") -> pl.Expr:
        """Years between an event's date and the as-of date (365.25-day years)."""
        return (pl.lit(self.as_of) - pl.col(col)).dt.total_days().cast(pl.Float64) / 365.25


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


def _runs(frame: pl.DataFrame, keys: Sequence[str], known: pl.Series) -> tuple[pl.DataFrame, pl.Series, pl.DataFrame]:
    """Sort a panel on ``keys`` (symbol first) unless it already is, keep symbols of the universe, and number the
    per-symbol runs: (frame, run id per row, runs with ``g`` and ``symbol``).

    The sortedness check works on the runs (strictly ascending symbols, then strictly ascending remaining keys
    within each run), which is far cheaper than comparing millions of strings with their neighbours.
    """
    def number(f: pl.DataFrame) -> tuple[pl.Series, pl.DataFrame]:
        g = f.select(pl.col("symbol").rle_id().alias("g"))["g"]
        runs = f.select(pl.col("symbol").rle()).unnest("symbol").rename({"value": "symbol"}).with_row_index("g")
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
    """
    lst = roles.fill_null("").str.split(";").list.eval(pl.element().filter(pl.element().str.len_chars() > 0))
    enabler = lst.list.eval(pl.element().is_in(sorted(ENABLER_ROLES))).list.any()
    miner = lst.list.contains("miner")
    only_miner = miner & lst.list.eval(pl.element() == "miner").list.all()
    return (
        pl.when(enabler & miner).then(pl.lit("integrated"))
        .when(enabler).then(pl.lit("enabler"))
        .when(only_miner).then(pl.lit("pure_miner"))
        .when(miner).then(pl.lit("other"))
        .when(lst.list.contains("downstream_user")).then(pl.lit("downstream_user"))
        .when(lst.list.contains("trader_offtaker")).then(pl.lit("trader_offtaker"))
        .otherwise(pl.lit("other"))
    )


def _companies(frame: pl.DataFrame, fx: FxTable) -> pl.DataFrame:
    comp = _sorted(frame, ["symbol"]).unique(subset=["symbol"], keep="first", maintain_order=True)
    cmap = _currency_map(comp["currency"].to_list())
    cmap = cmap.with_columns(
        pl.col("iso").replace_strict(fx.codes, default=None, return_dtype=pl.Int64).alias("code")
    )
    region = pl.col("country").replace_strict(dict(REGIONS), default="other", return_dtype=pl.String)
    return (
        comp.join(cmap, left_on="currency", right_on="raw", how="left")
        .with_columns(
            region.alias("region"),
            _role_class(pl.col("roles")).alias("role_class"),
            pl.col("roles").fill_null(""),
            (pl.col("provider") == "demo").fill_null(False).alias("company_demo"),
        )
        .sort("symbol")
    )


def _price_parts(prices: pl.DataFrame, comp: pl.DataFrame, fx: FxTable, as_of: date,
                 settings: Mapping[str, Any]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(latest-per-company frame, panel, runs): the price side of the base frame."""
    p = prices.select("symbol", "date", "close", "volume", "provider")
    p = p.filter(pl.col("date") <= as_of).drop_nulls(["symbol", "date"])
    p, g, runs = _runs(p, ["symbol", "date"], comp["symbol"])
    runs = runs.join(comp.select("symbol", "code", "unit"), on="symbol", how="left", maintain_order="left")
    rate = fx.rate(runs["code"].gather(g), p["date"])
    usd_per_quote_unit = runs["unit"].gather(g) * rate
    window_start = as_of - timedelta(days=int(settings["price_window_days"]))
    has_demo = bool((p["provider"] == "demo").any())
    p = p.select(
        g.alias("g").set_sorted(),
        "date",
        (pl.col("close") * usd_per_quote_unit).alias("close_usd"),
        "volume",
        (pl.col("provider") == "demo").fill_null(False).alias("demo") if has_demo else pl.lit(False).alias("demo"),
    ).with_columns((pl.col("close_usd") * pl.col("volume")).alias("traded_value_usd"))
    in_window = pl.col("date") > window_start
    latest = p.lazy().group_by("g", maintain_order=True).agg(
        pl.col("date").last().alias("last_price_date"),
        pl.col("close_usd").last().alias("price_usd"),
        in_window.sum().cast(pl.Int64).alias("price_days"),
        (in_window & pl.col("volume").is_not_null()).sum().cast(pl.Int64).alias("volume_days"),
        ((pl.col("close_usd").is_null() & in_window).any() | pl.col("close_usd").last().is_null())
        .alias("prices_missing_fx"),
        pl.col("demo").any().alias("prices_demo"),
    ).collect()
    latest = runs.select("g", "symbol").join(latest, on="g", how="inner").drop("g")
    panel = p.select(pl.col("g").set_sorted(), "date", "close_usd", "volume", "traded_value_usd")
    if p.height and p["date"].min() <= window_start:  # type: ignore[operator]
        panel = panel.filter(in_window)
    return latest, panel, runs.select("g", "symbol")


#: Fundamentals fields converted to USD and carried to the factors (fcf is derived, see ``_fundamental_parts``).
_USD_FIELDS = ("revenue", "operating_cash_flow", "capital_expenditure", "free_cash_flow", "cash", "total_debt",
               "total_equity")


def _fundamental_parts(fund: pl.DataFrame, comp: pl.DataFrame, fx: FxTable, as_of: date,
                       settings: Mapping[str, Any]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(per-company fields, reported periods with USD columns).

    Written as two vectorised passes over the periods rather than per-company filters: pass 1 finds, per company,
    the latest quarter and fiscal year reporting each field (as row numbers); those are broadcast back to the rows
    through the run id, and pass 2 sums the quarters inside the trailing window and finds the share-count
    reference periods. Everything else is a gather by row number.

    * TTM of a flow: the latest fiscal year when it ends on or after the latest quarter reporting the field;
      otherwise the mean of that quarter and the quarters in the ``ttm_window_days`` before it, times four (their
      sum when all four are present). Null when one of those periods had no fx rate.
    * Balances (cash, debt, equity) and the share count: the latest period reporting them. Null, not an older value,
      when that period had no fx rate.
    * Share growth over k = 1 and 3 years: against the latest period ending between ``365k + late`` and
      ``365k - early`` days before the latest share count, annualised: (now / then) ** (365.25 / days) - 1.
    """
    lag = settings["reporting_lag_days"]
    f = (
        fund.lazy()
        .select("symbol", "period_end", "period", "currency", *_USD_FIELDS, "shares_outstanding", "provider")
        .filter(
            ((pl.col("period") == "Q") & (pl.col("period_end") <= as_of - timedelta(days=int(lag["Q"]))))
            | ((pl.col("period") == "FY") & (pl.col("period_end") <= as_of - timedelta(days=int(lag["FY"]))))
        )
        .drop_nulls(["symbol", "period_end"])
        .collect()
    )
    f, g, runs = _runs(f, ["symbol", "period_end", "period"], comp["symbol"])
    cmap = _currency_map(f["currency"].unique().to_list())
    iso_code = {r: fx.codes.get(i) for r, i in zip(cmap["raw"], cmap["iso"], strict=True)}
    units = dict(zip(cmap["raw"], cmap["unit"], strict=True))
    code = f["currency"].replace_strict(iso_code, default=None, return_dtype=pl.Int64)
    usd_per_unit = f["currency"].replace_strict(units, default=None, return_dtype=pl.Float64) * fx.rate(
        code, f["period_end"]
    )
    f = f.with_columns(
        g.alias("g").set_sorted(),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("i"),
        usd_per_unit.alias("_usd_per_unit"),
        code.is_in(sorted(fx.demo_codes)).fill_null(False).alias("_fx_demo"),
    )
    f = f.with_columns([(pl.col(m) * pl.col("_usd_per_unit")).alias(f"{m}_usd") for m in _USD_FIELDS]).with_columns(
        pl.coalesce(pl.col("operating_cash_flow") - pl.col("capital_expenditure"), pl.col("free_cash_flow"))
        .alias("fcf"),
        pl.coalesce(pl.col("operating_cash_flow_usd") - pl.col("capital_expenditure_usd"), pl.col("free_cash_flow_usd"))
        .alias("fcf_usd"),
    )
    is_q, is_fy = pl.col("period") == "Q", pl.col("period") == "FY"
    pe, i = pl.col("period_end"), pl.col("i")
    money_present = pl.any_horizontal([pl.col(m).is_not_null() for m in _USD_FIELDS])

    # pass 1: per company, row numbers of the latest periods that report each field
    pass1 = [
        pe.max().alias("fundamentals_period_end"),
        (money_present & pl.col("_usd_per_unit").is_null()).any().alias("fundamentals_missing_fx"),
        ((pl.col("provider") == "demo").fill_null(False) | pl.col("_fx_demo")).any().alias("fundamentals_demo"),
    ]
    for fld in FLOW_FIELDS:
        has = pl.col(fld).is_not_null()
        pass1 += [pl.when(is_q & has).then(i).max().alias(f"_q_{fld}"), pl.when(is_fy & has).then(i).max()
                  .alias(f"_fy_{fld}")]
    for fld in (*BALANCE_FIELDS, "shares_outstanding"):
        pass1.append(pl.when(pl.col(fld).is_not_null()).then(i).max().alias(f"_last_{fld}"))
    per = f.lazy().group_by("g", maintain_order=True).agg(pass1).collect()

    def at(row_col: str, value: str) -> pl.Series:
        """The value of column ``value`` at the per-company row number ``row_col`` (null stays null)."""
        return f[value].gather(per[row_col])

    # broadcast the anchors back to the rows
    window = timedelta(days=int(settings["ttm_window_days"]))
    anchors = {f"_qend_{fld}": at(f"_q_{fld}", "period_end").gather(g) for fld in FLOW_FIELDS}
    anchors["_snow"] = at("_last_shares_outstanding", "period_end").gather(g)
    f = f.with_columns(**anchors)
    early, late = int(settings["share_growth_early_days"]), int(settings["share_growth_late_days"])
    has_shares = pl.col("shares_outstanding").is_not_null()
    pass2 = []
    for fld in FLOW_FIELDS:
        in_q = is_q & pl.col(fld).is_not_null() & (pe > pl.col(f"_qend_{fld}") - window)
        usd = pl.col(f"{fld}_usd")
        pass2 += [
            in_q.sum().alias(f"_n_{fld}"),
            (in_q & usd.is_not_null()).sum().alias(f"_nusd_{fld}"),
            pl.when(in_q).then(usd).sum().alias(f"_sum_{fld}"),
        ]
    for k in (1, 3):
        ref = has_shares & (pe <= pl.col("_snow") - timedelta(days=365 * k - early)) & (
            pe >= pl.col("_snow") - timedelta(days=365 * k + late)
        )
        pass2.append(pl.when(ref).then(i).max().alias(f"_ref{k}"))
    per = per.hstack(f.lazy().group_by("g", maintain_order=True).agg(pass2).drop("g").collect())

    out: dict[str, pl.Series] = {"symbol": runs["symbol"], "fundamentals_period_end": per["fundamentals_period_end"]}
    names = {"revenue": "revenue_ttm_usd", "operating_cash_flow": "operating_cash_flow_ttm_usd",
             "capital_expenditure": "capex_ttm_usd", "fcf": "free_cash_flow_ttm_usd"}
    for fld, name in names.items():
        q_end, fy_end = at(f"_q_{fld}", "period_end"), at(f"_fy_{fld}", "period_end")
        fy_val = at(f"_fy_{fld}", f"{fld}_usd")
        n, nusd, total = per[f"_n_{fld}"], per[f"_nusd_{fld}"], per[f"_sum_{fld}"]
        out[name] = pl.select(
            pl.when(pl.lit(fy_end).is_not_null() & (pl.lit(q_end).is_null() | (pl.lit(fy_end) >= pl.lit(q_end))))
            .then(pl.lit(fy_val))
            .when((pl.lit(n) > 0) & (pl.lit(nusd) == pl.lit(n)))
            .then(pl.lit(total) * 4.0 / pl.lit(n).cast(pl.Float64))
            .otherwise(None)
            .alias(name)
        ).to_series()
    for fld in BALANCE_FIELDS:
        out[f"{fld}_usd"] = at(f"_last_{fld}", f"{fld}_usd")
    out["shares_outstanding"] = at("_last_shares_outstanding", "shares_outstanding")
    pe_now = at("_last_shares_outstanding", "period_end")
    for k in (1, 3):
        s_ref, pe_ref = at(f"_ref{k}", "shares_outstanding"), at(f"_ref{k}", "period_end")
        days = (pe_now - pe_ref).dt.total_days().cast(pl.Float64)
        out[f"share_growth_{k}y"] = ((out["shares_outstanding"] / s_ref).pow(365.25 / days) - 1.0).alias(
            f"share_growth_{k}y")
    out["fundamentals_missing_fx"] = per["fundamentals_missing_fx"]
    out["fundamentals_demo"] = per["fundamentals_demo"]
    agg = pl.DataFrame(out)
    rows = f.drop("g", "i", "_fx_demo", *anchors)
    return agg, rows


def _events(events: pl.DataFrame, comp: pl.DataFrame, as_of: date) -> pl.DataFrame:
    ev = events.filter((pl.col("date") <= as_of) & (pl.col("symbol") != MARKET_SYMBOL))
    ev = ev.join(comp.select("symbol"), on="symbol", how="semi")
    return _sorted(ev, ["symbol", "date", "kind", "description"])


def build_context(inputs: FactorInputs, as_of: date, settings: Mapping[str, Any] | None = None) -> FactorContext:
    """Assemble the point-in-time base frame (one row per company) and the panels factors aggregate."""
    cfg: Mapping[str, Any] = {**SETTINGS, **(settings or {})}
    fx = FxTable(inputs.fx, as_of)
    comp = _companies(inputs.companies, fx)
    latest, panel, runs = _price_parts(inputs.prices, comp, fx, as_of, cfg)
    fund_agg, fund_rows = _fundamental_parts(inputs.fundamentals, comp, fx, as_of, cfg)
    events = _events(inputs.events, comp, as_of)
    ev_demo = events.group_by("symbol").agg((pl.col("provider") == "demo").fill_null(False).any().alias("events_demo"))
    fx_demo = pl.col("code").is_in(sorted(fx.demo_codes)).fill_null(False)
    stale_price = as_of - timedelta(days=int(cfg["stale_price_days"]))
    stale_fund = as_of - timedelta(days=int(cfg["stale_fundamentals_days"]))
    base = (
        comp.join(latest, on="symbol", how="left")
        .join(fund_agg, on="symbol", how="left")
        .join(ev_demo, on="symbol", how="left")
        .with_columns(
            (pl.col("shares_outstanding") * pl.col("price_usd")).alias("market_cap_usd"),
            (pl.col("cash_usd") - pl.col("total_debt_usd")).alias("net_cash_usd"),
            pl.col("price_days").fill_null(0),
            pl.col("volume_days").fill_null(0),
            pl.col("last_price_date").is_null().alias("no_prices"),
            pl.col("fundamentals_period_end").is_null().alias("no_fundamentals"),
            (pl.col("prices_missing_fx").fill_null(False) | pl.col("fundamentals_missing_fx").fill_null(False)
             | (pl.col("code").is_null() & (pl.col("last_price_date").is_not_null()))).alias("missing_fx"),
            (pl.col("company_demo") | pl.col("prices_demo").fill_null(False)
             | pl.col("fundamentals_demo").fill_null(False) | pl.col("events_demo").fill_null(False)
             | (fx_demo & pl.col("last_price_date").is_not_null())).alias("demo"),
            ((pl.col("last_price_date") < stale_price).fill_null(False)
             | (pl.col("fundamentals_period_end") < stale_fund).fill_null(False)).alias("stale"),
        )
        .drop("prices_missing_fx", "fundamentals_missing_fx", "prices_demo", "fundamentals_demo", "events_demo",
              "company_demo")
        .sort("symbol")
    )
    # Inf or NaN (a zero share count in an old period, say) would poison ranks: treat them as missing.
    floats = [c for c, t in base.schema.items() if t == pl.Float64]
    base = base.with_columns([pl.col(c).fill_nan(None) for c in floats]).with_columns(
        [pl.when(pl.col(c).is_infinite()).then(None).otherwise(pl.col(c)).alias(c) for c in floats]
    )
    return FactorContext(as_of=as_of, settings=MappingProxyType(dict(cfg)), base=base, prices=panel,
                         price_runs=runs, fundamentals=fund_rows, events=events)
