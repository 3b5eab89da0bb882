"""Ad hoc screens over stored scores: "Korean or Japanese processors with net cash, ranked by dilution risk".

Why stored scores: a screen is a question asked between weekly runs, at the terminal, many times in a row. It must
answer in well under a second, so it reuses the stored score set for its as-of date (today unless ``--as-of``
says otherwise) as long as that set's inputs fingerprint still matches the store, and recomputes (and stores) it
when the data changed since or nothing is stored. It never answers from another date's set: a stale or a
back-dated set would silently answer a different question. Every filter, including ``--role`` and ``--country``,
goes through the expression grammar, so a screen can never do more than compare known columns.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import polars as pl

from screener.contract import ROLES, split_places
from screener.errors import ArgumentError, Option

if TYPE_CHECKING:
    from rules.expr import Compiled
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
    #: The fields the ``where`` condition reads and the columns the rows are sorted by: a table shows them.
    where_fields: tuple[str, ...] = ()
    sort_columns: tuple[str, ...] = ()


def _scores(store: Store, as_of: date | None) -> tuple[date, pl.LazyFrame, str]:
    """The current score set for ``as_of`` (default today), not decoded yet, and how it was obtained (an empty store
    is refused there, in the words every command uses)."""
    from factors.methodology import current_scores_lazy

    day = as_of or date.today()
    frame, basis = current_scores_lazy(store, day)
    return day, frame, basis


@functools.cache
def _where_error() -> type[ArgumentError]:
    """``WhereError``, made on first use: it derives from the rule language's ``ExprError``, and a screen without a
    condition never imports the rule language's parser."""
    from rules.expr import ExprError

    class WhereError(ArgumentError, ExprError):
        """A ``where`` condition that does not compile: still an ``ExprError`` for callers that catch those, named
        by its parameter like every ``ArgumentError`` (the CLI words it ``--where``)."""

    WhereError.__module__ = __name__
    return WhereError


def __getattr__(name: str) -> object:
    if name == "WhereError":
        return _where_error()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    scores: pl.DataFrame | Mapping[str, pl.DataType],
    roles: Sequence[str],
    countries: Sequence[str],
    where: str | None,
    *,
    label_of: Callable[[str], str] = str,
) -> list[tuple[str, Compiled]]:
    """``roles``, ``countries`` and ``where`` as checked conditions against the columns actually present.

    Each condition is labelled ``label_of(parameter)``: the label names the filter in a ranked row's exclusion
    reason, so a script reads ``where: ...`` and the CLI (passing its flag namer) reads ``--where: ...``. ``scores``
    is the frame the conditions will filter, or its schema alone.
    """
    out: list[tuple[str, Compiled]] = []
    if not roles and not countries and where is None:
        return out
    from rules.expr import ExprError, compile_condition, namespace_from_schema, suggest

    ns = namespace_from_schema(scores.schema if isinstance(scores, pl.DataFrame) else scores)
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
            raise _where_error()(Option("where"), f": {exc}") from None
    return out


@dataclass(frozen=True)
class SortKey:
    """One ``sort`` key: the column sorted on, its order, and whether it is text (text sorts case-insensitively)."""

    column: str
    descending: bool
    text: bool = False


#: The column every sort ends with, so equal keys always give the same order.
TIE_BREAK = "symbol"


def _order_error(order: str) -> ArgumentError:
    return ArgumentError(
        Option("sort"),
        f": order must be 'asc' or 'desc', got {order!r} (e.g. ",
        Option("sort"),
        " dilution_risk:asc or ",
        Option("sort"),
        " -score,name)",
    )


def sort_keys(schema: Mapping[str, pl.DataType], sort: str) -> list[SortKey]:
    """``sort`` as keys: comma-separated, each a factor or any column of ``schema``.

    A factor sorts best first (its direction decides), a number largest first, text A to Z, true before false;
    ``-KEY`` sorts descending and ``+KEY`` ascending, as do the suffixes ``:desc`` and ``:asc``. A factor whose value
    is not a column sorts on its percentile. Lists cannot be sorted.
    """
    from factors.registry import FACTORS

    keys: list[SortKey] = []
    for raw in sort.split(","):
        item = raw.strip()
        if not item:
            raise ArgumentError(Option("sort"), f": empty key in {sort!r}; separate keys with one comma")
        sign = item[0] if item[0] in "+-" else ""
        name, _, order = item[len(sign) :].partition(":")
        if order and order not in ("asc", "desc"):
            raise _order_error(order)
        if order and sign:
            raise ArgumentError(Option("sort"), f": {item!r} gives the order twice; use {sign}{name} or {name}:{order}")
        text = False
        if name in FACTORS and (name in schema or f"{name}_pct" in schema):
            descending = FACTORS[name].direction == "higher_is_better"
            name = name if name in schema else f"{name}_pct"
        elif name in schema:
            dtype = schema[name]
            if isinstance(dtype, (pl.List, pl.Struct, pl.Array)):
                raise ArgumentError(Option("sort"), f": {name!r} holds lists and cannot be sorted")
            text = dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)
            descending = dtype.is_numeric() or dtype == pl.Boolean
        else:
            from rules.expr import suggest

            raise ArgumentError(
                Option("sort"), f": unknown factor or column {name!r}{suggest(name, [*FACTORS, *schema])}"
            )
        if sign or order:
            descending = sign == "-" or order == "desc"
        keys.append(SortKey(name, descending, text))
    return keys


def _sort_by(keys: Sequence[SortKey], columns: Sequence[str]) -> tuple[list[pl.Expr], list[bool]]:
    """What rows with ``columns`` are sorted by for ``keys``, and which of those sort descending: the keys, then the
    tie-break when the rows have it and no key is it."""
    exprs = [
        (pl.col(k.column).str.to_lowercase() if k.text else pl.col(k.column)).alias(f"_sort{i}")
        for i, k in enumerate(keys)
    ]
    order = [k.descending for k in keys]
    if TIE_BREAK in columns and all(k.column != TIE_BREAK for k in keys):
        exprs.append(pl.col(TIE_BREAK))
        order.append(False)
    return exprs, order


def sort_rows(rows: pl.DataFrame, keys: Sequence[SortKey]) -> pl.DataFrame:
    """``rows`` in ``keys`` order, missing values last, ties broken by symbol (A to Z)."""
    exprs, order = _sort_by(keys, rows.columns)
    return rows.sort(exprs, descending=order, nulls_last=True, maintain_order=True)


def _picked(
    scores: pl.DataFrame, conds: Sequence[tuple[str, Compiled]], keys: Sequence[SortKey], top: int | None
) -> pl.Series | None:
    """The rows a screen without rules shows, as positions in ``scores`` in the order shown (what ``sort_rows``
    gives after the conditions, cut to ``top``); None when that is every row as stored.

    Why positions: the conditions and the sort read a few columns, and only the rows shown are gathered, once, from
    every column read (50,000 rows, the top 20 by a sort key: 2 ms instead of 7 ms of filtering and sorting every
    column). A stored set is in symbol order already, so without keys it is sorted only when it is not."""
    to_sort = bool(keys) or not scores[TIE_BREAK].is_sorted()
    if not conds and not to_sort and top is None:
        return None
    at = "_at" + "_" * max(len(c) for c in scores.columns)  # a name no column has
    lazy = scores.lazy().with_row_index(at)
    for _, c in conds:
        lazy = lazy.filter(c.expr)
    if to_sort:
        exprs, order = _sort_by(keys, scores.columns)
        lazy = lazy.sort(exprs, descending=order, nulls_last=True, maintain_order=True)
    if top is not None:
        lazy = lazy.head(top)
    return lazy.select(at).collect().to_series()


def where_fields(where: str | None) -> list[str]:
    """The fields a ``where`` condition reads, in the order it names them first (shown beside the rows)."""
    if not where:
        return []
    from rules.expr import names_in, parse, tokenize

    used = names_in(parse(where))
    ordered = [t.value for t in tokenize(where) if t.kind == "name" and t.value in used]
    return list(dict.fromkeys([*ordered, *sorted(used)]))


def _shown_columns(schema: Mapping[str, pl.DataType], extra: Sequence[str]) -> list[str]:
    """The columns a screen without rules shows: identity, every factor's percentile, completeness and flags, with
    ``extra`` (the fields the condition reads and the sort keys) after the market cap."""
    from factors.registry import FACTORS

    cols = [c for c in BASE_COLUMNS if c in schema] + [f"{f}_pct" for f in FACTORS if f in schema]
    cols += [c for c in ("data_completeness", "flags") if c in schema]
    at = cols.index("market_cap_usd") + 1 if "market_cap_usd" in cols else len(cols)
    for c in extra:
        if c not in cols:
            cols.insert(at, c)
            at += 1
    return cols


def _columns_read(
    schema: Mapping[str, pl.DataType], conds: Sequence[tuple[str, Compiled]], extra: Sequence[str]
) -> list[str]:
    """Every stored column a screen without rules reads: the ones it shows, the ones its conditions read (a
    ``has_role`` reads ``roles``), the tie-break and the ``demo`` flag. The rest of the set is never decoded."""
    wanted = [TIE_BREAK, "demo", *_shown_columns(schema, extra)]
    for _, c in conds:
        wanted += sorted(c.names)
    return [c for c in dict.fromkeys(wanted) if c in schema]


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

    With a rule set the rows keep the rule set's ``rank`` (by score) whatever ``sort`` orders them by; without one
    nothing is ranked by score, so the rows are numbered ``row`` in the order shown (symbol, or ``sort``). The
    fields ``where`` reads and the columns ``sort`` orders by are always among the columns.
    ``label_of`` names the filters in exclusion reasons (see ``conditions``).

    Raises ``ArgumentError`` naming ``top`` when it is not a whole number of at least 1: a frame's ``head`` would
    read ``-1`` as "all but the last" and ``0`` as "none", neither a cap."""
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        raise ArgumentError(Option("top"), f" must be a whole number of at least 1, got {top!r}")
    day, lazy, basis = _scores(store, as_of)
    schema = lazy.collect_schema()
    conds = conditions(schema, roles, countries, where, label_of=label_of)  # a schema: no empty frame of 64 columns
    keys = sort_keys(schema, sort) if sort and rules is None else []
    used = [c for c in where_fields(where) if c in schema]
    # a ranking reads every factor and component; a filter only the columns shown and the columns it reads
    read = None if rules is not None else _columns_read(schema, conds, [*used, *(k.column for k in keys)])
    scores = lazy.collect() if read is None else lazy.select(read).collect()
    from factors.methodology import rests_on_demo

    demo = rests_on_demo(scores)
    if rules is not None:
        from rules.engine import rank
        from rules.ruleset import load

        rows = rank(scores, load(rules), where=conds, top_n=top).members
        if sort:
            keys = sort_keys({**scores.schema, **rows.schema}, sort)
        wanted = [c for c in [*used, *(k.column for k in keys)] if c not in rows.columns]
        if wanted:
            extra = scores.select("symbol", *dict.fromkeys(wanted))
            rows = rows.join(extra, on="symbol", how="left", maintain_order="left")
        if keys:
            rows = sort_rows(rows, keys)
    else:
        cols = _shown_columns(schema, [*used, *(k.column for k in keys)])
        picked = _picked(scores, conds, keys, top)
        df = scores if picked is None else scores[picked]
        rows = df.select(cols).with_row_index("row", offset=1).with_columns(pl.col("row").cast(pl.Int64))
    return ScreenResult(
        rows=rows,
        as_of=day,
        demo=demo,
        universe=scores.height,
        computed=basis != "stored",
        basis=basis,
        where_fields=tuple(used),
        sort_columns=tuple(k.column for k in keys),
    )
