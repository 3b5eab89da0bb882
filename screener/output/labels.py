"""One catalogue of every field a person reads: its human label, its unit and what it means.

Why one place: the workbook's headers and cell comments, and any listing that explains a column, must say the same
thing about the same field. A factor's entries (value, percentile, contribution, components) are built from the
factor registry, so a new factor is labelled without touching this file; the rest is written out below.

Why a ``view``: the stored name ``<factor>_pct`` means two different percentiles. In the score frame (``score``,
``screen``, the workbook's Factors sheet) it is the factor library's percentile across every scored company; in
watchlist rows (``weekly``, ``watchlist show``, the workbook's Watchlist sheet) it is the percentile over the
rule set's eligible set, within its groups, that drove the score. The stored names stay; the labels differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["FieldInfo", "View", "describe", "field_info", "is_known", "label_of", "unit_of"]

#: Where a field is read: ``scores`` (the score frame, the Factors sheet) or ``watchlist`` (a run's member rows).
View = Literal["scores", "watchlist"]

#: Units, named once so two fields of the same unit say it the same way.
USD = "USD"
USD_PER_SHARE = "USD per share"
PERCENTILE = "percentile, 0-1"
FRACTION = "fraction, 0-1"
SCORE_POINTS = "score points"
RANK = "rank, 1 = best"
DATE = "date"
SHARES = "shares"
YEARS = "years"
MONTHS = "months"
COUNT = "count"
MULTIPLIER = "multiplier"


@dataclass(frozen=True)
class FieldInfo:
    """What a field is called for a reader, its unit (``None`` for text, flags and plain numbers) and its meaning."""

    label: str
    unit: str | None
    description: str


def _f(label: str, unit: str | None, description: str) -> FieldInfo:
    return FieldInfo(label, unit, description)


#: Fields that are not a factor's own columns. Percentiles of the composite and the ranks are named apart from the
#: factor percentiles: "Watchlist rank", "Rank among eligible" and "Score" never read as another "percentile".
FIELDS: dict[str, FieldInfo] = {
    "symbol": _f("Symbol", None, "Exchange ticker as the data provider spells it (e.g. LYC.AX)."),
    "name": _f("Company", None, "Company name."),
    "country": _f("Country", None, "ISO country code of the company's home market."),
    "region": _f("Region", None, "Region of the country (the one table of region names)."),
    "roles": _f("Roles", None, "The company's roles in the rare-earth chain (processor, magnet_maker, miner, ...)."),
    "role_class": _f(
        "Role class",
        None,
        "Class of the roles: integrated, enabler, pure_miner, downstream_user, trader_offtaker or other.",
    ),
    "tilt_class": _f("Tilt class", None, "The rule set's own coarser class, used to group and tilt the score."),
    "stage": _f("Stage", None, "Development stage: explorer, developer or producer."),
    "segment": _f("Segment", None, "End market of a downstream user (ev_auto, wind, robotics, ...)."),
    "currency": _f("Currency", None, "Reporting currency of the company's statements and prices."),
    "gov_backing": _f(
        "Backing tags", None, "Descriptive government-backing tags of the universe; no factor reads them."
    ),
    "government_backing": _f(
        "Government backing",
        None,
        "Government counterparties that committed to the company by the as-of date; (non-binding) when none was "
        "binding.",
    ),
    "exposure": _f("Chain exposure", FRACTION, "Share of the business in the rare-earth chain."),
    "as_of": _f("As of", DATE, "The date the row is scored for (point in time)."),
    "demo": _f("Demo data", None, "True when a value on the row came from the synthetic demo generator."),
    "flags": _f("Flags", None, "Data-quality flags: demo, stale, halted, filled values (see the factor docs)."),
    "data_completeness": _f("Data completeness", FRACTION, "Share of the factors' inputs present (0..1)."),
    "last_price_date": _f("Last price", DATE, "Date of the latest close on or before the as-of date."),
    "fundamentals_period_end": _f("Last period", DATE, "End of the latest reported period used."),
    "market_cap_usd": _f("Market cap", USD, "Market capitalisation in US dollars (shown in millions)."),
    "price_usd": _f("Price", USD_PER_SHARE, "Latest close in US dollars."),
    "revenue_ttm_usd": _f("Revenue TTM", USD, "Revenue over the trailing twelve months, US dollars."),
    "operating_cash_flow_ttm_usd": _f("Operating cash flow TTM", USD, "Operating cash flow, trailing twelve months."),
    "capex_ttm_usd": _f("Capex TTM", USD, "Capital expenditure over the trailing twelve months, US dollars."),
    "free_cash_flow_ttm_usd": _f("Free cash flow TTM", USD, "Operating cash flow less capex, trailing twelve months."),
    "cash_usd": _f("Cash", USD, "Cash and short-term investments at the latest period end, US dollars."),
    "total_debt_usd": _f("Total debt", USD, "Total debt at the latest period end, US dollars."),
    "net_cash_usd": _f("Net cash", USD, "Cash less total debt, US dollars (negative: net debt)."),
    "total_equity_usd": _f("Total equity", USD, "Shareholders' equity at the latest period end, US dollars."),
    "shares_outstanding": _f("Shares outstanding", SHARES, "Shares outstanding at the latest report."),
    "score": _f(
        "Score",
        SCORE_POINTS,
        "The rule set's composite: the sum of the factor contributions (weight x direction-aware percentile x tilt).",
    ),
    "weight": _f("Portfolio weight", FRACTION, "The member's weight from the rule set's portfolio section."),
    "tilt": _f("Tilt", MULTIPLIER, "The rule set's multiplier for the company's class, applied to the score."),
    "rank": _f("Watchlist rank", RANK, "Position on the watchlist (members only)."),
    "candidate_rank": _f(
        "Rank among eligible",
        RANK,
        "Position by score among every company that passed the filters and gates, before the buffer and caps.",
    ),
    "status": _f("Status", None, "member, candidate, excluded, gated or filtered."),
    "why_out": _f("Why not on the list", None, "The filter, gate or cap that kept the company off the watchlist."),
    "out_factor": _f("Deciding factor", None, "The factor of the filter or gate that kept the company out."),
    "kept_by_buffer": _f("Kept by buffer", None, "True when an incumbent stayed on the list within the buffer."),
    "incumbent": _f("Incumbent", None, "True when the company was a member of the previous run."),
    "reason": _f("Why on the list", None, "The member's reasons in words: its role and its strongest factors."),
    "change": _f("Change", None, "entered, exited or moved, against the previous run of the same rules."),
    "rank_from": _f("Rank, previous run", RANK, "Watchlist rank in the previous run (empty: not a member)."),
    "rank_to": _f("Rank, this run", RANK, "Watchlist rank in this run (empty: not a member)."),
    "factor": _f("Blamed factor", None, "The factor the change is attributed to."),
    "pct_from": _f(
        "Blamed factor percentile, previous run",
        PERCENTILE,
        "The blamed factor's percentile in the previous run: over the eligible set when a weighted factor moved, "
        "across every scored company when a filter or gate decided.",
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
    "event": _f("Event", None, "The dated catalyst between the two runs that the change is tied to, if any."),
    "text": _f("Change in words", None, "The change and its attribution as one sentence."),
}

#: Human names of the bundled factors; a factor not listed here is named from its identifier.
FACTOR_NAMES: dict[str, str] = {
    "localization_premium": "Localization premium",
    "dilution_risk": "Dilution risk",
    "balance_sheet": "Balance sheet",
    "commodity_dependence": "Commodity dependence",
    "pullback": "Pullback",
    "liquidity": "Liquidity",
}

#: Components of the bundled factors: label, unit, meaning. A component not listed is named from its identifier.
COMPONENTS: dict[str, FieldInfo] = {
    "localization_premium.role_exposure": _f("Role exposure", None, "The best of the company's chain roles."),
    "localization_premium.exposure": _f(
        "Chain exposure (factor input)", FRACTION, "Share of the business in the chain."
    ),
    "localization_premium.downstream_penalty": _f("Downstream penalty", None, "Penalty for a downstream user."),
    "localization_premium.allied_footprint": _f("Allied footprint", None, "Non-China allied footprint."),
    "localization_premium.gov_backing": _f(
        "Government backing (weighted)", None, "Government commitments, weighted by binding and size, decaying."
    ),
    "localization_premium.setbacks": _f("Setbacks", None, "Setback events counted against the premium."),
    "localization_premium.capacity_pipeline": _f(
        "Capacity pipeline", None, "Risked capacity ledger, NdPr-oxide-equivalent tonnes, log-scaled."
    ),
    "dilution_risk.share_growth_1y": _f("Share growth 1y", FRACTION, "Share-count growth over one year."),
    "dilution_risk.share_growth_3y": _f(
        "Share growth 3y", FRACTION, "Share-count growth over three years, annualised."
    ),
    "dilution_risk.cash_runway_years": _f("Cash runway", YEARS, "Cash over trailing cash burn."),
    "dilution_risk.capex_intensity": _f("Capex intensity", FRACTION, "Capex relative to the business."),
    "dilution_risk.equity_raises_12m": _f("Equity raises 12m", COUNT, "Equity raises in the last twelve months."),
    "dilution_risk.stage_risk": _f("Stage risk", None, "Risk of the development stage (explorer, developer)."),
    "dilution_risk.remaining_capex_usd": _f("Remaining capex", USD, "Capex still to spend on the project ledger."),
    "dilution_risk.funding_gap_usd": _f("Funding gap", USD, "Remaining capex less cash (negative: funded)."),
    "dilution_risk.months_to_raise": _f("Months to a raise", MONTHS, "Forecast months until equity must be raised."),
    "balance_sheet.net_cash_to_mcap": _f("Net cash / market cap", FRACTION, "Net cash over market capitalisation."),
    "balance_sheet.debt_to_equity": _f("Debt / equity", None, "Total debt over equity, capped."),
    "commodity_dependence.pure_miner": _f("Pure-miner exposure", None, "Weight of a pure or integrated miner."),
    "commodity_dependence.stage_exposure": _f("Stage exposure", None, "Weight of an early development stage."),
    "commodity_dependence.uncontracted": _f(
        "Uncontracted share", FRACTION, "Share not relieved by offtakes, price floors or tolling."
    ),
    "pullback.drawdown_52w": _f("Drawdown from 52-week high", FRACTION, "Fall of the USD close from its 52-week high."),
    "liquidity.median_traded_value_usd": _f(
        "Median traded value", USD, "Median daily close x volume in USD over 63 trading days."
    ),
}
#: The unit of a factor's component by the number kind its factor declares (``formats`` in its registration).
KIND_UNITS: dict[str, str | None] = {"usd": USD, "ratio": FRACTION, "count": COUNT, "decimal": None}


def _humanise(name: str) -> str:
    text = name.replace(".", " ").replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else name


def factor_name(factor: str) -> str:
    """A factor's human name: the bundled ones by hand, any other from its identifier."""
    return FACTOR_NAMES.get(factor) or _humanise(factor)


def _attributive(factor: str) -> str:
    """The factor's name before a noun (``Balance sheet percentile``): spaced, not hyphenated, so a narrow header
    wraps between words."""
    return factor_name(factor)


def _factor_fields() -> dict[str, dict[str, FieldInfo]]:
    """Entries for every registered factor's columns, by view, from the registry as it is now (cheap: a few
    factors), so a factor registered later is labelled too."""
    from factors.registry import FACTORS

    scores: dict[str, FieldInfo] = {}
    watch: dict[str, FieldInfo] = {}
    for name, spec in FACTORS.items():
        direction = "higher is better" if spec.higher_is_better else "higher is worse"
        kinds = spec.column_formats()
        scores[name] = _f(factor_name(name), KIND_UNITS.get(kinds.get(name, "decimal")), spec.description)
        all_scored = _f(
            f"{_attributive(name)} percentile (all scored)",
            PERCENTILE,
            f"Percentile of {name} across every scored company, in the factor's own direction ({direction}).",
        )
        eligible = _f(
            f"{_attributive(name)} percentile (eligible)",
            PERCENTILE,
            f"Percentile of {name} among the companies that passed the rule set's filters and gates, within its "
            f"groups, in the factor's own direction ({direction}); the percentile that drove the score.",
        )
        scores[f"{name}_pct"] = all_scored
        watch[f"{name}_pct"] = eligible
        scores[f"{name}_pct_eligible"] = eligible
        scores[f"contrib.{name}"] = _f(
            f"{_attributive(name)} contribution",
            SCORE_POINTS,
            f"{factor_name(name)}'s part of the score: weight x direction-aware eligible percentile x tilt.",
        )
        for comp in spec.components:
            col = spec.column(comp)
            scores[col] = COMPONENTS.get(col) or _f(
                _humanise(comp), KIND_UNITS.get(kinds.get(col, "decimal")), f"Component {comp} of {name}."
            )
    return {"scores": scores, "watchlist": watch}


def field_info(field: str, view: View = "scores") -> FieldInfo | None:
    """The catalogue entry of ``field`` as read in ``view``; ``None`` for a field the catalogue does not know."""
    factor_fields = _factor_fields()
    if view == "watchlist" and field in factor_fields["watchlist"]:
        return factor_fields["watchlist"][field]
    return FIELDS.get(field) or factor_fields["scores"].get(field)


def is_known(field: str) -> bool:
    """True when the catalogue has an entry for ``field`` (a test keeps every exported column known)."""
    return field_info(field) is not None


def label_of(field: str, view: View = "scores") -> str:
    """The human label of ``field``; an unknown field gets its name with spaces and a capital."""
    info = field_info(field, view)
    return info.label if info else _humanise(field)


def unit_of(field: str, view: View = "scores") -> str | None:
    """The unit of ``field`` (``USD``, ``percentile, 0-1``, ...); ``None`` for text, flags, plain numbers or unknown."""
    info = field_info(field, view)
    return info.unit if info else None


def describe(field: str, view: View = "scores") -> str:
    """What ``field`` means in one or two sentences; empty for a field the catalogue does not know."""
    info = field_info(field, view)
    return info.description if info else ""
