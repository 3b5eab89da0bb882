"""The field catalogue: every column a person reads, with its label, its unit, its meaning and where it can be used.

Why one catalogue: ``--where`` names, ``--sort`` keys, ``--columns`` choices, the terminal table's number formats,
``screener fields`` and the workbook's headers and cell comments must say the same thing about the same field. The
names a condition may use come from the rule language's own namespace (``rules.expr.namespace_for``, fed by the
factor registry and ``factors.inputs.IDENTITY_COLUMNS``), and a factor's entries (value, percentiles, contribution,
components) are built from the factor registry, so a new factor is listed and labelled without touching this file;
the rest is written out below, once.

Why two percentile names: a factor has two percentiles that mean different things, so each has its own name
everywhere. ``<factor>_pct`` is the factor library's percentile across every scored company (``score``,
``screen``, ``show``, the workbook's Factors sheet, rule-set conditions); ``<factor>_pct_eligible`` is the
percentile over the rule set's eligible set, within its groups, that drove the score (watchlist rows: ``weekly``,
``watchlist show``, the workbook's Watchlist sheet, the report, change attribution). One name, one meaning: a
reader who finds a number under a name finds the same number under that name everywhere.

``unit_of`` is what the terminal table reads to print money human-scaled and percentiles as percent, and what the
workbook's comments name, so the table, the workbook and ``screener fields`` never disagree about what a number is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

__all__ = [
    "FieldInfo",
    "catalogue",
    "columns_of",
    "describe",
    "factor_name",
    "field_info",
    "is_known",
    "known_fields",
    "label_of",
    "unit_of",
]

#: Units, named once so two fields of the same unit say it the same way (``screener fields`` prints them, the
#: workbook's comments name them, the terminal table formats by them).
USD = "USD"
USD_PER_SHARE = "USD per share"
PERCENTILE = "percentile, 0-1"
SHARE = "share, 0-1"
RATIO = "ratio"
SCORE_POINTS = "score points"
RANK = "rank, 1 = best"
POSITION = "row number"
MULTIPLIER = "multiplier"
SHARES = "shares"
COUNT = "count"
DECIMAL = "number"
MONTHS = "months"
YEARS = "years"
DATE = "date"
TEXT = "text"
FLAG = "true/false"
LIST = "list"

#: Units printed as money (human-scaled) and as percent in a terminal table.
MONEY_UNITS = frozenset({USD, USD_PER_SHARE})
PERCENT_UNITS = frozenset({PERCENTILE, SHARE})
#: Kinds of value that are not a measurement: the workbook's comment names no unit for them.
UNITLESS = frozenset({TEXT, FLAG, LIST, DECIMAL})


@dataclass(frozen=True)
class FieldInfo:
    """What a field is called for a reader, its unit and its meaning."""

    label: str
    unit: str
    description: str


def _f(label: str, unit: str, description: str) -> FieldInfo:
    return FieldInfo(label, unit, description)


#: Identity and point-in-time inputs: what a score frame carries besides the factors.
_INPUTS: dict[str, FieldInfo] = {
    "symbol": _f("Symbol", TEXT, "Exchange ticker as the data provider spells it (e.g. LYC.AX)."),
    "name": _f("Company", TEXT, "Company name."),
    "country": _f("Country", TEXT, "ISO country code of the company's home market."),
    "region": _f(
        "Region", TEXT, "Region of the country (the one table of region names; 'screener universe list --country')."
    ),
    "roles": _f(
        "Roles",
        LIST,
        "The company's roles in the rare-earth chain (processor, magnet_maker, miner, ...); has_role('ROLE') tests "
        "one.",
    ),
    "role_class": _f(
        "Role class",
        TEXT,
        "Class of the roles: integrated, enabler, pure_miner, downstream_user, trader_offtaker or other; the "
        "percentiles of impute_peers factors are measured within it.",
    ),
    "stage": _f("Stage", TEXT, "Development stage: explorer, developer or producer."),
    "segment": _f("Segment", TEXT, "End market of a downstream user (ev_auto, wind, robotics, ...)."),
    "currency": _f("Currency", TEXT, "Reporting currency of the company's statements and prices."),
    "gov_backing": _f(
        "Backing tags", TEXT, "Descriptive government-backing tags of the universe file; no factor reads them."
    ),
    "government_backing": _f(
        "Government backing",
        TEXT,
        "Government counterparties that committed to the company by the as-of date; (non-binding) when none was "
        "binding.",
    ),
    "exposure": _f("Chain exposure", SHARE, "Share of the business in the rare-earth chain."),
    "as_of": _f("As of", DATE, "The date the row is scored for (point in time)."),
    "demo": _f("Demo data", FLAG, "True when a value on the row came from the synthetic demo generator."),
    "flags": _f(
        "Flags",
        LIST,
        "Data-quality flags (demo, stale, missing_fx, imputed:F.c, ...); has_flag('NAME') tests one.",
    ),
    "data_completeness": _f(
        "Data completeness", SHARE, "Share of the factors' inputs that were measured rather than filled (0..1)."
    ),
    "last_price_date": _f("Last price", DATE, "Date of the latest close on or before the as-of date."),
    "fundamentals_period_end": _f("Last period", DATE, "End of the latest reported period used."),
    "market_cap_usd": _f("Market cap", USD, "Market capitalisation: latest close x shares outstanding, in US dollars."),
    "price_usd": _f("Price", USD_PER_SHARE, "Latest close in US dollars."),
    "revenue_ttm_usd": _f("Revenue TTM", USD, "Revenue over the trailing twelve months, US dollars."),
    "operating_cash_flow_ttm_usd": _f(
        "Operating cash flow TTM", USD, "Operating cash flow over the trailing twelve months, US dollars."
    ),
    "capex_ttm_usd": _f("Capex TTM", USD, "Capital expenditure over the trailing twelve months, US dollars."),
    "free_cash_flow_ttm_usd": _f(
        "Free cash flow TTM", USD, "Operating cash flow less capex, trailing twelve months, US dollars."
    ),
    "cash_usd": _f("Cash", USD, "Cash and short-term investments at the latest period end, US dollars."),
    "total_debt_usd": _f("Total debt", USD, "Total debt at the latest period end, US dollars."),
    "net_cash_usd": _f("Net cash", USD, "Cash less total debt, US dollars (negative: net debt)."),
    "total_equity_usd": _f("Total equity", USD, "Shareholders' equity at the latest period end, US dollars."),
    "shares_outstanding": _f("Shares outstanding", SHARES, "Shares outstanding at the latest report."),
}

#: What a ranking, a run's changes or a listing adds: listed, sortable, not readable by ``--where``. Percentiles of
#: the composite and the ranks are named apart from the factor percentiles: "Watchlist rank", "Rank among eligible"
#: and "Score" never read as another "percentile".
_PRODUCED: dict[str, FieldInfo] = {
    "rank": _f("Watchlist rank", RANK, "Position on the watchlist by score (members only)."),
    "row": _f("Row", POSITION, "Row number of a listing that is not ranked by score."),
    "candidate_rank": _f(
        "Rank among eligible",
        RANK,
        "Position by score among every company that passed the filters and gates, before the buffer and caps.",
    ),
    "score": _f(
        "Score",
        SCORE_POINTS,
        "The rule set's composite: the sum of the factor contributions (weight x direction-aware percentile x tilt).",
    ),
    "weight": _f("Portfolio weight", SHARE, "The member's weight from the rule set's portfolio section."),
    "tilt": _f("Tilt", MULTIPLIER, "The rule set's multiplier for the company's class, applied to the score."),
    "tilt_class": _f("Tilt class", TEXT, "The rule set's own coarser class, used to group and tilt the score."),
    "status": _f("Status", TEXT, "member, candidate, excluded, gated or filtered."),
    "why_out": _f(
        "Why not on the list", TEXT, "The filter, gate or cap that kept the company off the watchlist, with numbers."
    ),
    "out_factor": _f("Deciding factor", TEXT, "The factor of the filter or gate that kept the company out."),
    "kept_by_buffer": _f("Kept by buffer", FLAG, "True when an incumbent stayed on the list within the buffer."),
    "incumbent": _f("Incumbent", FLAG, "True when the company was a member of the previous run of the same rules."),
    "reason": _f("Why on the list", TEXT, "The member's reasons in words: its role and its strongest factors."),
    # a run's changes (watchlist diff, the workbook's Changes sheet)
    "change": _f("Change", TEXT, "entered, exited or moved, against the previous run of the same rules."),
    "rank_from": _f("Rank, previous run", RANK, "Watchlist rank in the previous run (empty: not a member)."),
    "rank_to": _f("Rank, this run", RANK, "Watchlist rank in this run (empty: not a member)."),
    "factor": _f("Blamed factor", TEXT, "The factor the change is attributed to."),
    "pct_from": _f(
        "Blamed factor percentile, previous run",
        PERCENTILE,
        "The blamed factor's percentile in the previous run: when a weighted factor moved the score, its "
        "<factor>_pct_eligible (over the eligible set, the percentile the change's text names); when a filter "
        "or gate decided, its <factor>_pct (across every scored company, the name the check reads).",
    ),
    "pct_to": _f(
        "Blamed factor percentile, this run",
        PERCENTILE,
        "The blamed factor's percentile in this run, on the same basis as the previous-run column.",
    ),
    "contrib_from": _f(
        "Blamed factor contribution, previous run", SCORE_POINTS, "The blamed factor's contribution to the score."
    ),
    "contrib_to": _f(
        "Blamed factor contribution, this run", SCORE_POINTS, "The blamed factor's contribution to the score."
    ),
    "event": _f("Event", TEXT, "The dated catalyst between the two runs that the change is tied to, if any."),
    "text": _f("Change in words", TEXT, "The change and its attribution as one sentence."),
    # 'universe list'
    "listed_from": _f("Listed from", DATE, "First day of the listing."),
    "delisted_on": _f("Delisted on", DATE, "Day the listing ended (empty: still listed)."),
    "origin": _f("Origin", TEXT, "Where the company row came from (bundled, import, edit)."),
    "source": _f("Source", TEXT, "Citation for the company's tags."),
}

#: Every field that is not a factor's own column.
FIELDS: dict[str, FieldInfo] = {**_INPUTS, **_PRODUCED}

#: Human names of the bundled factors; a factor not listed here is named from its identifier.
FACTOR_NAMES: dict[str, str] = {
    "localization_premium": "Localization premium",
    "dilution_risk": "Dilution risk",
    "balance_sheet": "Balance sheet",
    "commodity_dependence": "Commodity dependence",
    "pullback": "Pullback",
    "liquidity": "Liquidity",
}

#: Components of the bundled factors: label, unit, meaning. A component not listed is named from its identifier
#: and takes its unit from the number kind its factor declares.
COMPONENTS: dict[str, FieldInfo] = {
    "localization_premium.role_exposure": _f("Role exposure", DECIMAL, "The best of the company's chain roles."),
    "localization_premium.exposure": _f("Chain exposure (factor input)", SHARE, "Share of the business in the chain."),
    "localization_premium.downstream_penalty": _f("Downstream penalty", DECIMAL, "Penalty for a downstream user."),
    "localization_premium.allied_footprint": _f("Allied footprint", DECIMAL, "Non-China allied footprint."),
    "localization_premium.gov_backing": _f(
        "Government backing (weighted)", DECIMAL, "Government commitments, weighted by binding and size, decaying."
    ),
    "localization_premium.setbacks": _f("Setbacks", DECIMAL, "Setback events counted against the premium."),
    "localization_premium.capacity_pipeline": _f(
        "Capacity pipeline", DECIMAL, "Risked capacity ledger, NdPr-oxide-equivalent tonnes, log-scaled."
    ),
    "dilution_risk.share_growth_1y": _f("Share growth 1y", RATIO, "Share-count growth over one year."),
    "dilution_risk.share_growth_3y": _f("Share growth 3y", RATIO, "Share-count growth over three years, annualised."),
    "dilution_risk.cash_runway_years": _f("Cash runway", YEARS, "Cash over trailing cash burn."),
    "dilution_risk.capex_intensity": _f("Capex intensity", RATIO, "Capex relative to the business."),
    "dilution_risk.equity_raises_12m": _f("Equity raises 12m", COUNT, "Equity raises in the last twelve months."),
    "dilution_risk.stage_risk": _f("Stage risk", DECIMAL, "Risk of the development stage (explorer, developer)."),
    "dilution_risk.remaining_capex_usd": _f("Remaining capex", USD, "Capex still to spend on the project ledger."),
    "dilution_risk.funding_gap_usd": _f("Funding gap", USD, "Remaining capex less cash (negative: funded)."),
    "dilution_risk.months_to_raise": _f("Months to a raise", MONTHS, "Forecast months until equity must be raised."),
    "balance_sheet.net_cash_to_mcap": _f("Net cash / market cap", RATIO, "Net cash over market capitalisation."),
    "balance_sheet.debt_to_equity": _f("Debt / equity", RATIO, "Total debt over equity, capped."),
    "commodity_dependence.pure_miner": _f("Pure-miner exposure", DECIMAL, "Weight of a pure or integrated miner."),
    "commodity_dependence.stage_exposure": _f("Stage exposure", DECIMAL, "Weight of an early development stage."),
    "commodity_dependence.uncontracted": _f(
        "Uncontracted share", SHARE, "Share not relieved by offtakes, price floors or tolling."
    ),
    "pullback.drawdown_52w": _f("Drawdown from 52-week high", SHARE, "Fall of the USD close from its 52-week high."),
    "liquidity.median_traded_value_usd": _f(
        "Median traded value", USD, "Median daily close x volume in USD over 63 trading days."
    ),
}

#: The unit of a factor's value or component by the number kind its factor declares (``formats`` in its
#: registration).
KIND_UNITS: dict[str, str] = {"usd": USD, "ratio": RATIO, "count": COUNT, "decimal": DECIMAL}


def _humanise(name: str) -> str:
    text = name.replace(".", " ").replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else name


def factor_name(factor: str) -> str:
    """A factor's human name: the bundled ones by hand, any other from its identifier."""
    return FACTOR_NAMES.get(factor) or _humanise(factor)


def _unit_from_name(name: str) -> str:
    """The unit a column's name states (``*_usd`` is USD, ``*_pct`` a percentile, ``*_years`` years), for a column
    the catalogue does not list; else a plain number."""
    if name.endswith("_usd"):
        return USD
    if name.endswith(("_pct", "_pct_eligible")):
        return PERCENTILE
    if name.endswith("_years"):
        return YEARS
    if name.endswith("months_to_raise"):
        return MONTHS
    return DECIMAL


def _factor_fields() -> dict[str, FieldInfo]:
    """Entries for every registered factor's columns, from the registry as it is now (cheap: a few factors), so a
    factor registered later is listed and labelled too."""
    from factors.registry import FACTORS

    scores: dict[str, FieldInfo] = {}
    for name, spec in FACTORS.items():
        direction = "higher is better" if spec.higher_is_better else "higher is worse"
        kinds = spec.column_formats()
        human = factor_name(name)
        scores[name] = _f(human, KIND_UNITS.get(kinds.get(name, "decimal"), DECIMAL), spec.description)
        all_scored = _f(
            f"{human} percentile (all scored)",
            PERCENTILE,
            f"Percentile of {name} across every scored company, in the factor's own direction ({direction}).",
        )
        eligible = _f(
            f"{human} percentile (eligible)",
            PERCENTILE,
            f"Percentile of {name} among the companies that passed the rule set's filters and gates, within its "
            f"groups, in the factor's own direction ({direction}); the percentile that drove the score.",
        )
        scores[spec.pct_column] = all_scored
        scores[f"{spec.pct_column}_eligible"] = eligible
        scores[f"contrib.{name}"] = _f(
            f"{human} contribution",
            SCORE_POINTS,
            f"{human}'s part of the score: weight x direction-aware eligible percentile x tilt.",
        )
        for comp in spec.components:
            col = spec.column(comp)
            kind = kinds.get(col)
            unit = KIND_UNITS[kind] if kind and kind != "decimal" else _unit_from_name(col)
            scores[col] = COMPONENTS.get(col) or _f(_humanise(comp), unit, f"Component {comp} of {name}.")
    return scores


def field_info(field: str) -> FieldInfo | None:
    """The catalogue entry of ``field``; ``None`` for a field the catalogue does not know."""
    return FIELDS.get(field) or _factor_fields().get(field)


def is_known(field: str) -> bool:
    """True when the catalogue has an entry for ``field`` (a test keeps every exported column known)."""
    return field_info(field) is not None


def label_of(field: str) -> str:
    """The human label of ``field``; an unknown field gets its name with spaces and a capital."""
    info = field_info(field)
    return info.label if info else _humanise(field)


def unit_of(field: str) -> str:
    """The unit of ``field`` (``USD``, ``percentile, 0-1``, ``text``, ...): the catalogue's where it lists the
    field, else what the name states (``*_usd`` is USD, ``*_pct`` a percentile), else a plain number."""
    info = field_info(field)
    return info.unit if info else _unit_from_name(field)


def describe(field: str) -> str:
    """What ``field`` means in one or two sentences; empty for a field the catalogue does not know."""
    info = field_info(field)
    return info.description if info else ""


def columns_of(names: Iterable[str]) -> dict[str, str]:
    """Units by column for a frame's columns (what the terminal table formats by)."""
    return {n: unit_of(n) for n in names}


def _where_names() -> dict[str, str]:
    """What ``--where`` may name, with its type: the rule language's own namespace over the registered factors."""
    from factors.inputs import IDENTITY_COLUMNS
    from factors.registry import FACTORS
    from rules.expr import TEXT as TEXT_TYPE
    from rules.expr import namespace_for

    components = [col for spec in FACTORS.values() for col in spec.component_columns]
    # a screen reads the score frame's own columns: its identity columns are all text but ``exposure``
    extra = {c: TEXT_TYPE for c in IDENTITY_COLUMNS if c != "exposure"} | {"exposure": "number"}
    return dict(namespace_for(FACTORS, components, extra).types)


def catalogue() -> pl.DataFrame:
    """Every field: name, label, unit, whether ``--where`` can read it, and its meaning; in the order a reader meets
    them (identity and inputs, factors with their percentiles and components, then what rankings, a run's changes
    and listings add). Every field has one meaning wherever it appears."""
    where = _where_names()
    order = [*_INPUTS, *_factor_fields(), *_PRODUCED, *where]
    rows = []
    for name in dict.fromkeys(order):
        info = field_info(name)
        meaning = info.description if info else ""
        rows.append(
            {"field": name, "label": label_of(name), "unit": unit_of(name), "where": name in where, "meaning": meaning}
        )
    schema = {"field": pl.String, "label": pl.String, "unit": pl.String, "where": pl.Boolean, "meaning": pl.String}
    return pl.DataFrame(rows, schema=schema)


def known_fields() -> list[str]:
    """Every field name the catalogue lists (what ``--columns`` and ``--sort`` can name, where a listing has it)."""
    return catalogue()["field"].to_list()
