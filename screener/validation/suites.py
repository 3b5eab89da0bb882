"""What each kind must satisfy, as data: one list of great-expectations checks per kind.

Why data and not GX objects: this module is imported by code paths that must stay fast (no great_expectations
import here), and a plain list makes the rules easy to read, document and test. ``runner`` turns them into GX
expectation suites when validation actually runs.

Dates may be at most one day ahead of the machine's date: an exchange east of us can already be on tomorrow.

Checks across rows (a jump from the previous close, the spacing of a period series, an FY against its quarters)
run on columns that ``derived`` computes first; their failures are reported under the contract column they are
about, with a value that shows the comparison.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from screener.contract import (
    CAPACITY_STAGES,
    CAPACITY_UNITS,
    COUNTERPARTY_TYPES,
    DATE_PRECISIONS,
    DIRECTIONS,
    EVENT_KINDS,
    EXPOSURE_BANDS,
    ISO_COUNTRIES,
    ISO_CURRENCIES,
    KINDS,
    MARKET_SYMBOL,
    PERIODS,
    PROJECT_STATUSES,
    ROLES,
    SEGMENTS,
    STAGES,
    SUBUNITS,
)
from screener.validation.derived import (
    FLOWS,
    FY_TOLERANCE,
    PRICE_JUMP_LIMIT,
    SHARE_JUMP_LIMIT,
    change_column,
    parts_column,
    shown_column,
)

#: Implied market cap (our shares x our close) over the provider's (its shares x its price) must fall in here.
#: Wide on purpose: share classes and a few days between prices move it a little; a unit mistake moves it 100x.
MARKET_CAP_RATIO_BOUNDS = (0.2, 5.0)
#: Kinds beyond the data contract: provider profiles, share-count history, the market-cap cross-check, the
#: refresh state of each subject (an empty answer where data was expected), and the labelled descriptions that
#: ``universe suggest`` learns from, and the headlines of the catalyst inbox.
EXTRA_KEYS: dict[str, tuple[str, ...]] = {
    "profiles": ("symbol",),
    "shares": ("symbol", "date"),
    "market_cap": ("symbol",),
    "refresh": ("subject", "part"),
    "descriptions": ("symbol",),
    "headlines": ("id",),
}
SUITE_KINDS: tuple[str, ...] = (*KINDS, *EXTRA_KEYS)

_SYMBOL = r"^[A-Z0-9][A-Z0-9.\-=&^]*$"
_TAGS = r"^[a-z0-9_]+(?:;[a-z0-9_]+)*$"
#: A headline: some visible text, one line, at most 500 characters (a longer one is an article, not a headline).
HEADLINE_MAX_CHARS = 500
_HEADLINE = rf"^(?=[^\x00-\x1f\x7f]*\S)[^\x00-\x1f\x7f]{{1,{HEADLINE_MAX_CHARS}}}$"
_LINK = r"^https?://[^\s]+$"


def key_columns(kind: str) -> tuple[str, ...]:
    return KINDS[kind].key if kind in KINDS else EXTRA_KEYS[kind]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True)
class Check:
    """One expectation: ``gx_class`` names the great-expectations class, ``kwargs`` its arguments, ``rule`` says
    in a few words what a passing value looks like (shown to users next to the expectation's name)."""

    gx_class: str
    kwargs: dict[str, Any] = field(hash=False)
    rule: str
    #: The contract column a failure is reported under, when the checked column is a derived one.
    about: str | None = None
    #: Columns whose values a failure shows, when the checked values alone would not explain it.
    shown: tuple[str, ...] = ()

    @property
    def expectation_type(self) -> str:
        return _snake(self.gx_class)

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns great-expectations checks (derived ones included)."""
        return columns_of(self.kwargs)

    @property
    def column_name(self) -> str:
        """What reports name as the failing column."""
        return self.about or ",".join(self.columns)

    @property
    def shown_columns(self) -> tuple[str, ...]:
        return self.shown or self.columns

    @property
    def label(self) -> str:
        return f"{self.expectation_type} ({self.rule})"

    @property
    def match_key(self) -> tuple[str, tuple[str, ...]]:
        """How a GX result is matched back to its check: results do not come back in suite order."""
        return self.expectation_type, self.columns


def columns_of(kwargs: dict[str, Any]) -> tuple[str, ...]:
    """The columns named in an expectation's arguments: a column list, a column pair, or one column."""
    if "column_list" in kwargs:
        return tuple(kwargs["column_list"])
    if "column_A" in kwargs:
        return kwargs["column_A"], kwargs["column_B"]
    return (kwargs["column"],)


def _jump(value: str, limit: float, what: str) -> Check:
    name = change_column(value)
    return Check(
        "ExpectColumnValuesToBeBetween",
        {"column": name, "min_value": 1 / limit, "max_value": limit},
        f"within {limit:g}x of the previous {what} unless a split explains it",
        about=value,
        shown=(shown_column(name),),
    )


def _spacing() -> Check:
    return Check(
        "ExpectColumnPairValuesToBeEqual",
        {"column_A": "period", "column_B": "period_by_spacing", "ignore_row_if": "either_value_is_missing"},
        "spaced as labelled: Q about 91 days, H about 182, FY about 365",
        about="period",
        shown=(shown_column("period_by_spacing"),),
    )


def _fy_parts(flow: str) -> Check:
    name = parts_column(flow)
    return Check(
        "ExpectColumnValuesToBeBetween",
        {"column": name, "min_value": 0, "max_value": FY_TOLERANCE},
        f"FY within {FY_TOLERANCE:.0%} of the sum of its quarters (or halves)",
        about=flow,
        shown=(shown_column(name),),
    )


def _not_null(column: str) -> Check:
    return Check("ExpectColumnValuesToNotBeNull", {"column": column}, "required")


def _positive(column: str) -> Check:
    return Check(
        "ExpectColumnValuesToBeBetween", {"column": column, "min_value": 0, "strict_min": True}, f"{column} > 0"
    )


def _non_negative(column: str) -> Check:
    return Check("ExpectColumnValuesToBeBetween", {"column": column, "min_value": 0}, f"{column} >= 0")


def _fraction(column: str) -> Check:
    return Check("ExpectColumnValuesToBeBetween", {"column": column, "min_value": 0, "max_value": 1}, "between 0 and 1")


def _in_set(column: str, values: object, what: str) -> Check:
    return Check("ExpectColumnValuesToBeInSet", {"column": column, "value_set": sorted(values)}, what)  # type: ignore[arg-type]


def _regex(column: str, pattern: str, what: str) -> Check:
    return Check("ExpectColumnValuesToMatchRegex", {"column": column, "regex": pattern}, what)


def _not_future(column: str, today: date) -> Check:
    latest = datetime.combine(today + timedelta(days=1), datetime.min.time())
    return Check(
        "ExpectColumnValuesToBeBetween",
        {"column": column, "max_value": latest},
        f"not after {latest.date().isoformat()}",
    )


def _not_after(column: str, now: datetime) -> Check:
    """A time column not after ``now``: a headline published later than the moment it is checked is a clock or
    time-zone mistake, and an event dated from it would be seen before it was published."""
    return Check(
        "ExpectColumnValuesToBeBetween",
        {"column": column, "max_value": now},
        f"not after {now.isoformat(sep=' ', timespec='seconds')} UTC",
    )


def _unique(columns: tuple[str, ...]) -> Check:
    if len(columns) == 1:
        return Check("ExpectColumnValuesToBeUnique", {"column": columns[0]}, "no duplicate key")
    return Check("ExpectCompoundColumnsToBeUnique", {"column_list": list(columns)}, "no duplicate key")


def _roles_pattern() -> str:
    alt = "|".join(ROLES)
    return rf"^(?:{alt})(?:;(?:{alt}))*$"


def checks_for(kind: str, today: date | None = None) -> list[Check]:
    """Every check of a kind, in a stable order (the order reports list them in). For ``headlines``, ``today`` may
    be the current time (a naive UTC ``datetime``, which the caller reads): a publication after it fails."""
    today = today or date.today()
    listing_currencies = ISO_CURRENCIES | set(SUBUNITS)
    if kind == "companies":
        return [
            *(_not_null(c) for c in ("symbol", "name", "country", "currency", "roles", "stage")),
            _unique(("symbol",)),
            _regex("symbol", _SYMBOL, "Yahoo symbol, upper case"),
            _in_set("country", ISO_COUNTRIES, "ISO 3166-1 alpha-2"),
            _in_set("currency", listing_currencies, "ISO 4217 or a quote sub-unit"),
            _regex("roles", _roles_pattern(), "known roles separated by ';'"),
            _in_set("stage", STAGES, "known stage"),
            _in_set("segment", SEGMENTS, "known segment"),
            _regex("gov_backing", _TAGS, "lower-case tags separated by ';'"),
            _fraction("exposure"),
        ]
    if kind == "fundamentals":
        return [
            *(_not_null(c) for c in ("symbol", "period_end", "period", "currency")),
            _unique(("symbol", "period_end", "period")),
            _regex("symbol", _SYMBOL, "Yahoo symbol, upper case"),
            _in_set("period", PERIODS, "Q, H or FY"),
            _in_set("currency", ISO_CURRENCIES, "ISO 4217 main unit (statements are never in pence)"),
            _not_future("period_end", today),
            _non_negative("capital_expenditure"),
            _positive("shares_outstanding"),
            _jump("shares_outstanding", SHARE_JUMP_LIMIT, "period's share count"),
            _spacing(),
            *(_fy_parts(flow) for flow in FLOWS),
        ]
    if kind == "prices":
        return [
            *(_not_null(c) for c in ("symbol", "date", "close")),
            _unique(("symbol", "date")),
            _regex("symbol", _SYMBOL, "Yahoo symbol, upper case"),
            _not_future("date", today),
            _positive("close"),
            _non_negative("volume"),
            _jump("close", PRICE_JUMP_LIMIT, "close"),
        ]
    if kind == "fx":
        return [
            *(_not_null(c) for c in ("currency", "date", "usd_per_unit")),
            _unique(("currency", "date")),
            _in_set("currency", ISO_CURRENCIES, "ISO 4217 main unit"),
            _not_future("date", today),
            _positive("usd_per_unit"),
            _jump("usd_per_unit", PRICE_JUMP_LIMIT, "rate"),
        ]
    if kind == "events":
        return [
            *(_not_null(c) for c in ("symbol", "date", "kind", "description")),
            _unique(("symbol", "date", "kind", "description")),
            _regex("symbol", rf"^(?:{re.escape(MARKET_SYMBOL)}|{_SYMBOL[1:-1]})$", "Yahoo symbol or '*'"),
            _in_set("kind", EVENT_KINDS, "known event kind"),
            _in_set("stage", CAPACITY_STAGES, "known capacity stage"),
            _not_future("date", today),
            _non_negative("capacity_tpa"),
            _non_negative("amount_usd"),
            _in_set("unit", CAPACITY_UNITS, "known capacity unit"),
            _fraction("equity_share"),
            _in_set("status", PROJECT_STATUSES, "known project status"),
            _in_set("counterparty_type", COUNTERPARTY_TYPES, "government or private"),
            _in_set("direction", DIRECTIONS, "receives or pays"),
            _in_set("date_precision", DATE_PRECISIONS, "day, month, quarter or year"),
            Check(
                "ExpectColumnValuesToBeBetween",
                {"column": "target_year", "min_value": 1950, "max_value": 2100},
                "a year between 1950 and 2100",
            ),
        ]
    if kind == "splits":
        return [
            *(_not_null(c) for c in ("symbol", "date", "ratio")),
            _unique(("symbol", "date")),
            _regex("symbol", _SYMBOL, "Yahoo symbol, upper case"),
            _not_future("date", today),
            _positive("ratio"),
        ]
    if kind == "profiles":
        return [
            _not_null("symbol"),
            _unique(("symbol",)),
            _in_set("quote_currency", listing_currencies, "ISO 4217 or a quote sub-unit"),
            _in_set("financial_currency", listing_currencies, "ISO 4217"),
            _positive("shares_outstanding"),
            _positive("price"),
            _positive("market_cap"),
        ]
    if kind == "shares":
        return [
            *(_not_null(c) for c in ("symbol", "date", "shares")),
            _unique(("symbol", "date")),
            _not_future("date", today),
            _positive("shares"),
            _jump("shares", SHARE_JUMP_LIMIT, "share count"),
        ]
    if kind == "market_cap":
        low, high = MARKET_CAP_RATIO_BOUNDS
        return [
            _positive("implied_market_cap"),
            Check(
                "ExpectColumnValuesToBeBetween",
                {"column": "market_cap_ratio", "min_value": low, "max_value": high},
                f"shares x close within {low:g}..{high:g} x the provider's market cap",
            ),
        ]
    if kind == "refresh":
        return [
            Check(
                "ExpectColumnValuesToNotBeInSet",
                {"column": "status", "value_set": ["empty"]},
                "an answer with data where data was expected",
                shown=(shown_column("status"),),
            ),
        ]
    if kind == "descriptions":
        return [
            *(_not_null(c) for c in ("symbol", "name", "description", "roles", "exposure_band", "source")),
            _unique(("symbol",)),
            _regex("symbol", _SYMBOL, "Yahoo symbol, upper case"),
            _regex("roles", _roles_pattern(), "known roles separated by ';'"),
            _in_set("exposure_band", tuple(EXPOSURE_BANDS), "known exposure band"),
        ]
    if kind == "headlines":
        return [
            *(_not_null(c) for c in ("id", "headline", "published_at", "provider")),
            _unique(("id",)),
            _regex("symbol", _SYMBOL, "Yahoo symbol, upper case"),
            _regex("headline", _HEADLINE, f"one line of text, at most {HEADLINE_MAX_CHARS} characters"),
            _regex("link", _LINK, "an http(s) address"),
            # the caller's current time (a datetime) bounds a publication exactly; a plain day (the re-check of
            # what is stored) bounds it by that day's end
            _not_after("published_at", today) if isinstance(today, datetime) else _not_future("published_at", today),
        ]
    raise ValueError(f"no validation suite for kind {kind!r}")
