"""The data contract as code: one description of every file kind that providers, import and the store share.

Keeping the vocabularies and column specs in one module means import, validation, the demo generator and the
yfinance provider cannot drift apart: each asks this module what a valid ``fundamentals`` row is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date as date_type
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

ROLES: tuple[str, ...] = (
    "miner",
    "processor",
    "magnet_maker",
    "recycler",
    "chemicals_tolling",
    "equipment_supplier",
    "trader_offtaker",
    "downstream_user",
)
#: Roles that turn oxide into usable magnets outside China: the thesis favours them.
ENABLER_ROLES: frozenset[str] = frozenset(
    {"processor", "magnet_maker", "recycler", "chemicals_tolling", "equipment_supplier"}
)
STAGES: tuple[str, ...] = ("producer", "developer", "explorer")
#: Bands of ``exposure`` (the share of a business in the chain), each named by its lower bound: what a text can tell
#: (a conglomerate's line, a mixed business, a pure play) when no figure is stated. One table: the labelled corpus,
#: its validation and ``universe suggest`` all read it.
EXPOSURE_BANDS: dict[str, float] = {"minor": 0.0, "partial": 0.1, "core": 0.5}


def exposure_band(exposure: float | None) -> str | None:
    """The band of an exposure figure (``None`` when the figure is unknown: no band is guessed)."""
    if exposure is None:
        return None
    return max((low, name) for name, low in EXPOSURE_BANDS.items() if exposure >= low)[1]


SEGMENTS: tuple[str, ...] = ("ev_auto", "defense", "wind", "electronics", "robotics", "industrial")
GOV_BACKING: tuple[str, ...] = (
    "dod_offtake",
    "dod_equity",
    "dod_price_floor",
    "dod_award",
    "doe_loan",
    "doe_grant",
    "exim_loan",
    "commerce_chips",
    "state_grant",
    "jogmec",
    "eu_crma_strategic",
    "eu_grant",
    "uk_grant",
    "kr_policy_finance",
    "au_cmf",
    "au_efa",
    "ca_gov_funding",
)
EVENT_KINDS: tuple[str, ...] = (
    "capacity",
    "offtake",
    "funding",
    "policy",
    "permit",
    "production_start",
    "equity_raise",
    "setback",
)
#: How a true/false value may be written, case-insensitively, in a file or a text column.
BOOLEAN_TEXT: dict[str, bool] = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}
#: What a capacity tonnage measures. The capacity ledger converts each to NdPr-oxide-equivalent tonnes
#: (``factors.library.localization_premium.UNIT_TO_NDPR``; METHODOLOGY gives the factors and their sources).
CAPACITY_UNITS: tuple[str, ...] = ("ndpr_oxide", "treo", "mrec", "metal", "magnet", "feedstock")
#: Where a project stands besides its stage: a cancelled project counts nothing, a suspended one nothing until a
#: later event reactivates it, a delayed one is discounted.
PROJECT_STATUSES: tuple[str, ...] = ("active", "delayed", "suspended", "cancelled")
COUNTERPARTY_TYPES: tuple[str, ...] = ("government", "private")
#: Whether the company receives the money or offtake commitment, or pays it: only what it receives is backing.
DIRECTIONS: tuple[str, ...] = ("receives", "pays")
#: How exact an event's date is. A month-, quarter- or year-level date is written as the period's first day and
#: becomes known at the period's end (``known_from``), so a back-dated score never sees it early.
DATE_PRECISIONS: tuple[str, ...] = ("day", "month", "quarter", "year")
#: Ordered from least to most certain: headlines arrive years before volumes.
CAPACITY_STAGES: tuple[str, ...] = (
    "announced",
    "loi",
    "funded",
    "construction",
    "commissioning",
    "production",
)
PERIODS: tuple[str, ...] = ("Q", "H", "FY")
#: Nominal length of each period label in days: a label says how long the period is, and spacing must agree.
PERIOD_DAYS: dict[str, int] = {"Q": 91, "H": 182, "FY": 365}
#: The spacing between consecutive period ends that identifies each label (inclusive bounds, in days). Wide enough
#: for 52/53-week years and calendar quirks, narrow enough that a half year can never pass for a quarter.
PERIOD_SPACING: dict[str, tuple[int, int]] = {"Q": (70, 112), "H": (150, 215), "FY": (330, 400)}
#: Events not tied to one listed company (policy, agency agreements) carry this symbol.
MARKET_SYMBOL = "*"

#: Quote sub-units: Yahoo quotes some listings in 1/100 of the currency.
SUBUNITS: dict[str, tuple[str, float]] = {
    "GBp": ("GBP", 0.01),
    "GBX": ("GBP", 0.01),
    "ZAc": ("ZAR", 0.01),
    "ILA": ("ILS", 0.01),
}

ISO_COUNTRIES: frozenset[str] = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
    CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR
    GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO
    JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR
    MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO
    RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV
    TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW""".split()  # noqa: SIM905
)
ISO_CURRENCIES: frozenset[str] = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF
    CLP CNY CNH COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL
    HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL
    MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON
    RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX
    USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL""".split()  # noqa: SIM905
)

#: Regions used for grouping and filters. Allied supply is everything outside CN/HK/MO.
REGIONS: dict[str, str] = {
    "US": "north_america",
    "CA": "north_america",
    "MX": "north_america",
    "KR": "korea",
    "JP": "japan",
    "AU": "australia",
    "NZ": "australia",
    "CN": "china",
    "HK": "china",
    "MO": "china",
    "GB": "europe",
    "NO": "europe",
    "CH": "europe",
}
EU_COUNTRIES: frozenset[str] = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split()  # noqa: SIM905
)
for _c in EU_COUNTRIES:
    REGIONS[_c] = "europe"


#: The region of a country that ``REGIONS`` does not list (and of a company with no country).
OTHER_REGION = "other"
#: The one table of region names: every place filter (``universe list``, ``screen``, rule sets' ``regions``) and
#: the expression language's ``region`` accept exactly these.
REGION_NAMES: tuple[str, ...] = tuple(sorted(set(REGIONS.values()) | {OTHER_REGION}))
#: Everyday names that are not ISO codes, mapped to the code a user most likely means.
COMMON_ALIASES: dict[str, str] = {"UK": "GB", "USA": "US", "EU": "europe", "KOREA": "KR", "JAPAN": "JP"}
#: What a place filter accepts, in words, for the end of an error message.
PLACES_HELP = f"use an ISO code (US, KR, JP) or a region ({', '.join(REGION_NAMES)})"


def place_hint(value: str, prefer: str = "region") -> str | None:
    """The place a user most likely meant by ``value``, or None: itself in the right case, the code of an everyday
    name (UK -> GB, EU -> europe), else the closest region name or ISO code (``prefer`` says which kind to try
    first; only a word of two or three letters is matched against the codes).

    Why one function: a typo gets the same hint from every command that takes a place and from a rule file.
    """
    from difflib import get_close_matches

    if value.upper() in ISO_COUNTRIES:
        return value.upper()
    if value.lower() in REGION_NAMES:
        return value.lower()
    if value.upper() in COMMON_ALIASES:
        return COMMON_ALIASES[value.upper()]
    regions = get_close_matches(value.lower(), REGION_NAMES, n=1)
    if not regions and len(value) >= 3:
        regions = [r for r in REGION_NAMES if r.startswith(value.lower())][:1]
    # a longer word is a name, not a mistyped two-letter code ("chna" is not "NA")
    countries = get_close_matches(value.upper(), sorted(ISO_COUNTRIES), n=1) if len(value) <= 3 else []
    hits = [*regions, *countries] if prefer == "region" else [*countries, *regions]
    return hits[0] if hits else None


def split_places(values: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split user place filters into ISO country codes and region names, case-insensitively.

    The one parser of places typed by a user (``universe list`` and ``screen`` both call it). An unknown place is
    an error, not an empty result, because "0 companies" for a typo reads like a fact about the universe. The error
    names the argument as ``countries`` (the parameter of both callers); the CLI words it ``--country``.
    """
    from screener.errors import ArgumentError, Option

    codes: list[str] = []
    regions: list[str] = []
    for value in values:
        if value.upper() in ISO_COUNTRIES:
            codes.append(value.upper())
        elif value.lower() in REGION_NAMES:
            regions.append(value.lower())
        else:
            hint = place_hint(value)
            raise ArgumentError(
                Option("countries"),
                f": unknown country or region {value!r}"
                + (f" (did you mean {hint!r}?)" if hint else "")
                + f"; {PLACES_HELP}",
            )
    return codes, regions


def period_of_spacing(days: int) -> str | None:
    """The period label that ``days`` between two consecutive period ends implies, or ``None`` when it fits none.

    Why spacing and not a provider's label: Yahoo's "quarterly" tables hold half-year columns for ASX and AIM
    companies, and a half year summed as a quarter doubles trailing revenue.
    """
    for label, (low, high) in PERIOD_SPACING.items():
        if low <= days <= high:
            return label
    return None


def region_of(country: str | None) -> str:
    """Map a country to the region the thesis reasons in; unknown places fall in ``other`` rather than failing."""
    if not country:
        return OTHER_REGION
    return REGIONS.get(country, OTHER_REGION)


def normalise_currency(code: str) -> tuple[str, float]:
    """Return the ISO currency and the factor that turns a quote in ``code`` into that currency.

    Sub-units are checked before upper-casing because ``GBp`` (pence) and ``GBP`` differ only in case.
    """
    if code in SUBUNITS:
        return SUBUNITS[code]
    return code.upper(), 1.0


def is_known_currency(code: str) -> bool:
    return code in SUBUNITS or code in ISO_CURRENCIES


@dataclass(frozen=True)
class Column:
    """One column of a contract kind.

    ``dtype`` is one of ``str``, ``date``, ``float``, ``int``, ``bool``; ``domain`` restricts a ``str`` (or each
    item of a ``;``-separated ``multi`` list); ``positive``/``non_negative``/``fraction`` bound numbers
    (``fraction``: 0 to 1). ``default`` fills a missing column or an empty cell, so files written before the column
    existed still import and mean what they meant.
    """

    name: str
    dtype: str = "str"
    required: bool = False
    domain: frozenset[str] | None = None
    multi: bool = False
    positive: bool = False
    non_negative: bool = False
    upper: bool = False
    fraction: bool = False
    default: object = None


@dataclass(frozen=True)
class Kind:
    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...] = field(default_factory=tuple)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


_MONEY = (
    "revenue",
    "operating_income",
    "net_income",
    "operating_cash_flow",
    "free_cash_flow",
    "cash",
    "total_debt",
    "total_equity",
    "inventory",
)

KINDS: dict[str, Kind] = {
    "companies": Kind(
        "companies",
        ("symbol",),
        (
            Column("symbol", required=True, upper=True),
            Column("name", required=True),
            Column("country", required=True, domain=ISO_COUNTRIES, upper=True),
            Column("currency", required=True),
            Column("roles", required=True, domain=frozenset(ROLES), multi=True),
            Column("segment", domain=frozenset(SEGMENTS)),
            Column("stage", required=True, domain=frozenset(STAGES)),
            Column("gov_backing", multi=True),
            Column("description"),
            Column("source"),
            Column("exposure", "float", fraction=True),
            Column("exposure_source"),
            Column("listed_from", "date"),
            Column("delisted_on", "date"),
        ),
    ),
    "fundamentals": Kind(
        "fundamentals",
        ("symbol", "period_end", "period"),
        (
            Column("symbol", required=True, upper=True),
            Column("period_end", "date", required=True),
            Column("period", required=True, domain=frozenset(PERIODS), upper=True),
            Column("currency", required=True),
            *(Column(m, "float") for m in _MONEY[:4]),
            Column("capital_expenditure", "float", non_negative=True),
            *(Column(m, "float") for m in _MONEY[4:]),
            Column("shares_outstanding", "float", positive=True),
        ),
    ),
    "prices": Kind(
        "prices",
        ("symbol", "date"),
        (
            Column("symbol", required=True, upper=True),
            Column("date", "date", required=True),
            Column("close", "float", required=True, positive=True),
            Column("volume", "float", non_negative=True),
        ),
    ),
    "fx": Kind(
        "fx",
        ("currency", "date"),
        (
            Column("currency", required=True),
            Column("date", "date", required=True),
            Column("usd_per_unit", "float", required=True, positive=True),
        ),
    ),
    "events": Kind(
        "events",
        ("symbol", "date", "kind", "description"),
        (
            Column("symbol", required=True, upper=True),
            Column("date", "date", required=True),
            Column("kind", required=True, domain=frozenset(EVENT_KINDS)),
            Column("stage", domain=frozenset(CAPACITY_STAGES)),
            Column("capacity_tpa", "float", non_negative=True),
            Column("target_year", "int"),
            Column("amount_usd", "float", non_negative=True),
            Column("description", required=True),
            Column("source"),
            Column("project"),
            Column("unit", domain=frozenset(CAPACITY_UNITS)),
            # empty stake or status means "not stated here": the ledgers carry the project's latest stated value
            # (a partner's later production_start must not turn its 50% into 100%), else 1 and active
            Column("equity_share", "float", fraction=True),
            Column("status", domain=frozenset(PROJECT_STATUSES)),
            Column("counterparty"),
            Column("counterparty_type", domain=frozenset(COUNTERPARTY_TYPES)),
            Column("direction", domain=frozenset(DIRECTIONS)),
            Column("binding", "bool"),
            Column("date_precision", domain=frozenset(DATE_PRECISIONS), default="day"),
        ),
    ),
    "splits": Kind(
        "splits",
        ("symbol", "date"),
        (
            Column("symbol", required=True, upper=True),
            Column("date", "date", required=True),
            Column("ratio", "float", required=True, positive=True),
        ),
    ),
}

KIND_NAMES: tuple[str, ...] = tuple(KINDS)


def polars_schema(kind: str) -> dict[str, object]:
    """The polars dtypes of a kind's columns, in contract order, for frames handed to the store."""
    import polars as pl

    mapping = {"str": pl.String, "date": pl.Date, "float": pl.Float64, "int": pl.Int64, "bool": pl.Boolean}
    return {c.name: mapping[c.dtype] for c in KINDS[kind].columns}


def with_defaults(kind: str, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with each defaulted column's nulls filled (and the column added when absent).

    The one place contract defaults are applied: import, the bundled loader and scoring all call it, so an events
    file written before ``equity_share`` existed means a whole stake, wherever it is read.
    """
    import polars as pl

    schema = polars_schema(kind)
    exprs = []
    for c in KINDS[kind].columns:
        if c.default is None:
            continue
        value = pl.lit(c.default, dtype=schema[c.name])  # type: ignore[arg-type]
        exprs.append(pl.col(c.name).fill_null(value) if c.name in frame.columns else value.alias(c.name))
    return frame.with_columns(exprs) if exprs else frame


def listed_on(day: date_type | pl.Expr) -> pl.Expr:
    """Whether a company was listed on ``day`` (a date, or a date column): from ``listed_from`` (unknown: always)
    to before ``delisted_on`` (unknown: still listed).

    Why one rule: a back-dated score must rank the universe a user could have traded that day, and the demo must not
    draw a close for a day the listing did not trade; both ask here."""
    import polars as pl

    return (pl.col("listed_from").is_null() | (pl.col("listed_from") <= day)) & (
        pl.col("delisted_on").is_null() | (pl.col("delisted_on") > day)
    )


def known_from(date: pl.Expr, precision: pl.Expr) -> pl.Expr:
    """The first day a dated fact is known: the end of its period for a month, quarter or year precision.

    Why the end: "August 2025" may mean the 31st; counting it from the 1st would let a score back-dated to
    2025-08-10 see it. A null precision is a day.
    """
    import polars as pl

    return (
        pl.when(precision == "month")
        .then(date.dt.month_end())
        .when(precision == "quarter")
        .then(date.dt.offset_by("1q").dt.truncate("1q").dt.offset_by("-1d"))
        .when(precision == "year")
        .then(pl.date(date.dt.year(), 12, 31))
        .otherwise(date)
    )


def distinct(column: pl.Series) -> pl.Series:
    """The distinct values of ``column`` (a null once if there is one), in no stated order.

    Why not ``unique`` alone: the files of a load come in key order, so a symbol fills one run of rows, and
    hashing 13 million strings to find 50,000 values is the slow part. Runs of equal neighbours are folded first
    (one pass comparing each row with the row before), and only the runs' values are hashed: a quarter of the time
    on a price file. A column whose leading rows hold no runs to speak of (the dates of a price file change every
    row) is hashed straight away: folding it would build a run for nearly every row, four times the hash's cost
    on 13 million dates. Either way the values are the same; only the time differs. Every stage that asks a rule
    of a column's values (parsing, validation, the import's notes, the store's demo rows) asks it of these."""
    head = column.head(_RUN_SAMPLE)
    if head.len() == _RUN_SAMPLE and int(head.rle_id()[-1]) >= _RUN_SAMPLE // 2:  # ids count up from 0
        return column.unique().alias(column.name)
    return column.rle().struct.field("value").unique().alias(column.name)


#: How many leading rows ``distinct`` looks at to tell a column of runs (a symbol per series) from one without.
_RUN_SAMPLE = 4096
