"""Ad hoc screens over stored scores: "Korean or Japanese processors with net cash, ranked by dilution risk".

Why stored scores: a screen is a question asked between weekly runs, at the terminal, many times in a row. It must
answer in well under a second, so it reuses the stored score set for its as-of date (today unless ``--as-of``
says otherwise) as long as that set's inputs fingerprint still matches the store, and recomputes (and stores) it
when the data changed since or nothing is stored. It never answers from another date's set: a stale or a
back-dated set would silently answer a different question. Every filter, including ``--role`` and ``--country``,
goes through the expression grammar, so a screen can never do more than compare known columns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

import polars as pl

from rules.expr import NUMBER, Compiled, ExprError, compile_condition, namespace_from_schema, suggest
from screener.contract import ROLES, split_places
from screener.errors import ArgumentError, Option, ScreenerError
from screener.store import Store

BASE_COLUMNS = ("symbol", "name", "country", "roles", "stage", "market_cap_usd")


@dataclass
class ScreenResult:
    rows: pl.DataFrame
    as_of: date
    demo: bool
    universe: int
    computed: bool
    #: "stored" (reused), "computed now" (none stored) or "recomputed: the data changed since" (stale set replaced).
    basis: str = "stored"


def _scores(store: Store, as_of: date | None) -> tuple[date, pl.DataFrame, str]:
    """The current score set for ``as_of`` (default today) and how it was obtained."""
    if not store.company_count():
        raise ScreenerError("the store has no companies yet: run 'screener init' (or 'screener demo') first")
    from factors.engine import inputs_fingerprint, scores_for

    day = as_of or date.today()
    info = store.score_set_info(day)
    if info is None:
        basis = "computed now"
    elif info.get("inputs_hash") != inputs_fingerprint(store, day):
        basis = "recomputed: the data changed since they were stored"
    else:
        basis = "stored"
    return day, scores_for(store, day), basis


class WhereError(ArgumentError, ExprError):
    """A ``where`` condition that does not compile: still an ``ExprError`` for callers that catch those, named by
    its parameter like every ``ArgumentError`` (the CLI words it ``--where``)."""


def _place_condition(countries: Sequence[str]) -> str:
    """``--country`` values as one condition, parsed (and refused with a hint) like ``universe list --country``."""
    codes, regions = split_places(countries)
    parts = []
    if codes:
        parts.append("country in [" + ", ".join(f"'{c}'" for c in codes) + "]")
    if regions:
        parts.append("region in [" + ", ".join(f"'{r}'" for r in regions) + "]")
    return " or ".join(parts)


def conditions(
    scores: pl.DataFrame,
    roles: Sequence[str],
    countries: Sequence[str],
    where: str | None,
    *,
    label_of: Callable[[str], str] = str,
) -> list[tuple[str, Compiled]]:
    """``roles``, ``countries`` and ``where`` as checked conditions against the columns actually present.

    Each condition is labelled ``label_of(parameter)``: the label names the filter in a ranked row's exclusion
    reason, so a script reads ``where: ...`` and the CLI (passing its flag namer) reads ``--where: ...``.
    """
    ns = namespace_from_schema(scores.schema)
    out: list[tuple[str, Compiled]] = []
    for r in roles:
        if r not in ROLES:
            raise ArgumentError(Option("roles"), f": unknown role {r!r}{suggest(r, ROLES)}")
    if roles:
        out.append((label_of("roles"), compile_condition(" or ".join(f"has_role('{r}')" for r in roles), ns)))
    if countries:
        out.append((label_of("countries"), compile_condition(_place_condition(countries), ns)))
    if where is not None:
        try:
            out.append((label_of("where"), compile_condition(where, ns)))
        except ExprError as exc:
            raise WhereError(Option("where"), f": {exc}") from None
    return out


def _sort_spec(scores: pl.DataFrame, sort: str) -> tuple[str, bool, str | None]:
    """``FACTOR`` sorts best first (direction-aware); any numeric column sorts descending; ``:asc``/``:desc``."""
    from factors.registry import FACTORS

    name, _, order = sort.partition(":")
    if order and order not in ("asc", "desc"):
        raise ArgumentError(
            Option("sort"),
            f": order must be 'asc' or 'desc', got {order!r} (e.g. ",
            Option("sort"),
            " dilution_risk:asc)",
        )
    numeric = [c for c, t in namespace_from_schema(scores.schema).types.items() if t == NUMBER]
    if name in FACTORS and (name in scores.columns or f"{name}_pct" in scores.columns):
        descending = FACTORS[name].direction == "higher_is_better"
        shown = name if name in scores.columns else None
        name = name if name in scores.columns else f"{name}_pct"
    elif name in numeric:
        descending, shown = True, name
    else:
        raise ArgumentError(Option("sort"), f": unknown factor or column {name!r}{suggest(name, [*FACTORS, *numeric])}")
    if order:
        descending = order == "desc"
    return name, descending, shown


def run_screen(
    store: Store,
    *,
    rules: str | None = None,
    roles: Sequence[str] = (),
    countries: Sequence[str] = (),
    where: str | None = None,
    sort: str | None = None,
    top: int | None = None,
    as_of: date | None = None,
    label_of: Callable[[str], str] = str,
) -> ScreenResult:
    """Filter (and, with a rule set, rank) the stored scores; ``top`` caps the rows (with rules: overrides N).

    ``label_of`` names the filters in exclusion reasons (see ``conditions``)."""
    day, scores, basis = _scores(store, as_of)
    conds = conditions(scores, roles, countries, where, label_of=label_of)
    from factors.engine import rests_on_demo

    demo = rests_on_demo(scores)
    if rules is not None:
        from rules.engine import rank
        from rules.ruleset import load

        rows = rank(scores, load(rules), where=conds, top_n=top).members
    else:
        from factors.registry import FACTORS

        df = scores
        for _, c in conds:
            df = df.filter(c.expr)
        factors = [f for f in FACTORS if f in df.columns]
        cols = [c for c in BASE_COLUMNS if c in df.columns] + [f"{f}_pct" for f in factors]
        cols += [c for c in ("data_completeness", "flags") if c in df.columns]
        if sort:
            key, descending, shown = _sort_spec(df, sort)
            if shown and shown not in cols:
                cols.insert(cols.index("market_cap_usd") + 1 if "market_cap_usd" in cols else len(cols), shown)
            df = df.sort([key, "symbol"], descending=[descending, False], nulls_last=True)
        else:
            df = df.sort("symbol")
        rows = df.select(cols).with_row_index("rank", offset=1).with_columns(pl.col("rank").cast(pl.Int64))
        if top is not None:
            rows = rows.head(top)
    if rules is not None and sort:
        key, descending, _ = _sort_spec(rows, sort)
        rows = rows.sort([key, "rank"], descending=[descending, False], nulls_last=True)
    return ScreenResult(
        rows=rows, as_of=day, demo=demo, universe=scores.height, computed=basis != "stored", basis=basis
    )
