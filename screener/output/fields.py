"""The field catalogue: every column a listing can show, what it means, its unit, and where it can be used.

Why one catalogue: ``--where`` names, ``--sort`` keys, ``--columns`` choices, the table's number formats and
``screener fields`` must agree. The names a condition may use come from the rule language's own namespace
(``rules.expr.namespace_for``, fed by the factor registry and the engine's ``FIELD_COLUMNS``), so a field added
there is listed here without a second list; this module adds only the words (meaning, unit) and the columns a
ranking or a listing produces (rank, score, reason ...), which no condition can read.

``unit_of`` is also what the terminal table reads to print money human-scaled and percentiles as percent, so
the catalogue and the table never disagree about what a number is.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

#: Units, as ``screener fields`` prints them and the table formats them.
USD = "USD"
PERCENTILE = "percentile (0-100%)"
SHARE = "share (0-100%)"
SCORE = "score (0-1)"
RATIO = "ratio"
COUNT = "count"
DECIMAL = "number"
MONTHS = "months"
YEARS = "years"
DATE = "date"
TEXT = "text"
FLAG = "true/false"
LIST = "list"
POSITION = "position"

#: Units printed as money (human-scaled) and as percent in a terminal table.
MONEY_UNITS = frozenset({USD})
PERCENT_UNITS = frozenset({PERCENTILE, SHARE})

#: What each non-factor field means; a factor, its percentile and its components take their words from the factor
#: registry. Unit first.
_FIELDS: dict[str, tuple[str, str]] = {
    "symbol": (TEXT, "ticker as the provider lists it (exchange suffix included)"),
    "name": (TEXT, "company name"),
    "country": (TEXT, "ISO country code of the listing's home country"),
    "region": (TEXT, "region of the country (see 'screener universe list --country REGION')"),
    "roles": (TEXT, "supply-chain roles, ';'-separated; has_role('ROLE') tests one"),
    "role_class": (TEXT, "role class the percentiles of impute_peers factors are measured within"),
    "stage": (TEXT, "development stage: explorer, developer, producer ..."),
    "segment": (TEXT, "business segment"),
    "currency": (TEXT, "reporting currency of the company's statements"),
    "gov_backing": (TEXT, "government backing as curated in the universe file"),
    "government_backing": (TEXT, "government backing in force on the as-of date"),
    "exposure": (SHARE, "share of the business in the rare-earth chain"),
    "as_of": (DATE, "point-in-time date of the scores"),
    "demo": (FLAG, "the row rests on synthetic demo data"),
    "flags": (LIST, "data-quality flags (demo, stale, missing_fx, imputed:F.c ...); has_flag('NAME') tests one"),
    "data_completeness": (SHARE, "share of factor inputs that were measured rather than filled"),
    "market_cap_usd": (USD, "market capitalisation: latest close x shares outstanding, in USD"),
    "price_usd": (USD, "latest close in USD"),
    "revenue_ttm_usd": (USD, "revenue, trailing twelve months, in USD"),
    "operating_cash_flow_ttm_usd": (USD, "operating cash flow, trailing twelve months, in USD"),
    "capex_ttm_usd": (USD, "capital expenditure, trailing twelve months, in USD"),
    "free_cash_flow_ttm_usd": (USD, "free cash flow, trailing twelve months, in USD"),
    "cash_usd": (USD, "cash at the latest public balance sheet, in USD"),
    "total_debt_usd": (USD, "total debt at the latest public balance sheet, in USD"),
    "net_cash_usd": (USD, "cash minus total debt, in USD"),
    "total_equity_usd": (USD, "total equity at the latest public balance sheet, in USD"),
    "shares_outstanding": (COUNT, "shares outstanding"),
    "last_price_date": (DATE, "date of the latest close used"),
    "fundamentals_period_end": (DATE, "period end of the latest public statement used"),
    # produced by a ranking (weekly, screen --rules, watchlist show): listed, sortable, not usable in --where
    "rank": (POSITION, "place on the list by score (1 = best); only a ranking by score has one"),
    "row": (POSITION, "row number of a listing that is not ranked by score"),
    "candidate_rank": (POSITION, "place by score among eligible companies, before the buffer and caps"),
    "score": (SCORE, "weighted score of the rule set: the sum of the contributions"),
    "weight": (SHARE, "portfolio weight of a member"),
    "tilt": (DECIMAL, "role tilt multiplier applied to the score"),
    "tilt_class": (TEXT, "role class the tilt was chosen by"),
    "status": (TEXT, "member, or why the company is out (filtered, gated, excluded, below the cut)"),
    "why_out": (TEXT, "why a company is not on the list, with its numbers"),
    "out_factor": (TEXT, "factor that decided a company's exclusion"),
    "kept_by_buffer": (FLAG, "an incumbent kept by the membership buffer"),
    "incumbent": (FLAG, "a member of the previous run of the same rules"),
    "reason": (TEXT, "why a member is on the list: its role and strongest factors"),
    # produced by 'universe list'
    "listed_from": (DATE, "first day of the listing"),
    "delisted_on": (DATE, "day the listing ended"),
    "origin": (TEXT, "where the company row came from (bundled, import, edit)"),
    "source": (TEXT, "citation for the company's tags"),
}

#: Which meaning a factor's number kind (``FactorSpec.formats``) gives a component.
_KIND_UNITS = {"usd": USD, "ratio": RATIO, "count": COUNT, "decimal": DECIMAL}


def _factor_entries() -> dict[str, tuple[str, str]]:
    from factors.registry import FACTORS

    out: dict[str, tuple[str, str]] = {}
    for spec in FACTORS.values():
        direction = spec.direction.replace("_", " ")
        kinds = spec.column_formats()
        out[spec.name] = (_KIND_UNITS.get(kinds.get(spec.name, "decimal"), DECIMAL), f"{spec.description}")
        out[spec.pct_column] = (
            PERCENTILE,
            f"percentile of {spec.name} among the scored companies ({direction}); in a ranking's rows, among the "
            "companies eligible for it",
        )
        out[f"{spec.pct_column}_eligible"] = (PERCENTILE, f"percentile of {spec.name} among the eligible companies")
        out[f"contrib.{spec.name}"] = (DECIMAL, f"contribution of {spec.name} to the score")
        for c in spec.components:
            col = spec.column(c)
            unit = MONTHS if c == "months_to_raise" else YEARS if c.endswith("_years") else None
            if unit is None and col in kinds:
                unit = _KIND_UNITS[kinds[col]]
            out[col] = (unit or _unit_from_name(col), f"component {c.replace('_', ' ')} of {spec.name}")
    return out


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
    """Every field: name, unit, whether ``--where`` can read it, and its meaning; in the order a reader meets them
    (identity, money fields, factors with their percentiles and components, then what rankings add)."""
    where = _where_names()
    entries = {**_FIELDS, **_factor_entries()}
    split = list(_FIELDS).index("rank")  # identity and inputs, then factors, then what rankings and listings add
    order = list(_FIELDS)[:split] + [n for n in entries if n not in _FIELDS] + list(_FIELDS)[split:]
    seen: set[str] = set()
    rows = []
    for name in [*order, *where]:
        if name in seen:
            continue
        seen.add(name)
        unit, meaning = entries.get(name, (TEXT, ""))
        rows.append({"field": name, "unit": unit, "where": name in where, "meaning": meaning})
    return pl.DataFrame(rows, schema={"field": pl.String, "unit": pl.String, "where": pl.Boolean, "meaning": pl.String})


def known_fields() -> list[str]:
    """Every field name the catalogue lists (what ``--columns`` and ``--sort`` can name, where a listing has it)."""
    return catalogue()["field"].to_list()


_UNIT_CACHE: dict[str, str] = {}


def unit_of(name: str) -> str:
    """The unit of a column by its name: the catalogue's where it lists the column, else read from the name
    (``*_usd`` is USD, ``*_pct`` a percentile), else plain number."""
    if not _UNIT_CACHE:
        _UNIT_CACHE.update({k: unit for k, (unit, _) in {**_FIELDS, **_factor_entries()}.items()})
    if name in _UNIT_CACHE:
        return _UNIT_CACHE[name]
    return _unit_from_name(name)


def _unit_from_name(name: str) -> str:
    if name.endswith("_usd"):
        return USD
    if name.endswith(("_pct", "_pct_eligible")):
        return PERCENTILE
    return DECIMAL


def describe(name: str) -> str:
    """What a field means, in the words ``screener fields`` prints; empty for a column the catalogue does not list."""
    entry = {**_FIELDS, **_factor_entries()}.get(name)
    return entry[1] if entry else ""


def columns_of(names: Iterable[str]) -> dict[str, str]:
    """Units by column for a frame's columns (what the terminal table formats by)."""
    return {n: unit_of(n) for n in names}
