"""The factor engine: point-in-time inputs in, one explained score row per company out.

The algorithm, step by step (``compute_scores``):

1. **Point in time.** ``build_context`` keeps only what was public on the as-of date (reporting lag for statements,
   prices on or before the date), converts money to USD at each value's own date, and reduces it to one base row
   per company (market cap, TTM flows, latest balances, share-count growth) plus the panels factors aggregate.
2. **Components.** Each registered factor's ``compute`` returns its raw components per company, from a context cut
   down to the inputs it declares (``needs``, see ``GRANTS``): reading anything else fails. A component whose
   inputs are missing is null.
3. **Missing values.** The factor's policy fills or excludes: ``neutral`` fills the cross-sectional median,
   ``worst`` the worst observed value (by the component's sign and the factor's direction), ``impute_peers`` the
   median of the company's role-class peers (all companies when the class has none), ``exclude`` leaves the factor
   null. Every fill is flagged (``neutral:``, ``worst:``, ``imputed:`` + component column; ``excluded:`` + factor).
   A factor may add notes of its own (a ``flags`` list from ``compute``), e.g. ``short_history:pullback`` when a
   value rests on less price history than its window.
4. **Value and percentile.** ``combine`` turns the filled components into the factor value; the percentile ranks
   it across the companies that have one, in the same direction.
5. **Row bookkeeping.** ``data_completeness`` is the share of counted inputs present; flags say what is demo, stale,
   missing fx or absent. Rows are sorted by symbol.

The output columns shown are the raw components (null when missing), so a reader sees what was measured and, in the
flags, what was filled; ``filled_values`` gives the filled numbers themselves (``screener show`` prints them).
``scores_for`` wraps this with the store: scores are saved per as-of date with the store's data version and the
methodology, and reused until either changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import polars as pl

from factors.crosssection import percentile_rank
from factors.inputs import (
    FIELD_FLAGS,
    INPUTS,
    KEY,
    FactorContext,
    FactorInputs,
    Grant,
    build_panel,
    load_inputs,
    load_panel_inputs,
)

# the stored-score check, the score frame's columns and the methodology fingerprint live in a light module of their
# own (``screen`` and ``show`` read a stored set without importing the engine); named here for the engine's callers
from factors.methodology import COMPUTED as COMPUTED
from factors.methodology import METHODOLOGY_VERSION as METHODOLOGY_VERSION
from factors.methodology import RECOMPUTED as RECOMPUTED
from factors.methodology import STORED as STORED
from factors.methodology import PendingSave as PendingSave
from factors.methodology import current_scores_lazy as current_scores_lazy
from factors.methodology import filled_values as filled_values
from factors.methodology import inputs_fingerprint as inputs_fingerprint
from factors.methodology import methodology_fingerprint as methodology_fingerprint
from factors.methodology import rests_on_demo as rests_on_demo
from factors.methodology import score_columns as score_columns
from factors.registry import FACTORS, FactorSpec

if TYPE_CHECKING:
    from screener.store import Store

__all__ = [
    "compute_panel",
    "compute_scores",
    "current_scores",
    "current_scores_lazy",
    "filled_values",
    "inputs_fingerprint",
    "load_inputs",
    "score_columns",
    "score_panel",
    "scores_for",
    "usd_closes",
]

_POLICY_FLAG = {"neutral": "neutral", "worst": "worst", "impute_peers": "imputed"}
_BASE_FLAGS = ("demo", "stale", "missing_fx", "no_prices", "no_fundamentals", "halted", *FIELD_FLAGS)


def _clean(e: pl.Expr) -> pl.Expr:
    """Float64 with NaN and infinities as null: a division by zero must read as 'unknown', never as a rank."""
    f = e.cast(pl.Float64).fill_nan(None)
    return pl.when(f.is_infinite()).then(None).otherwise(f)


# --------------------------------------------------------------------------------------------------------------
# What a factor receives: the inputs it declares
# --------------------------------------------------------------------------------------------------------------
#: Per input of ``INPUTS``: what a factor that declares it in ``needs`` receives (declared on each ``InputSpec``).
GRANTS: Mapping[str, Grant] = MappingProxyType({name: spec.grant for name, spec in INPUTS.items()})
#: Base columns built from several inputs: a factor receives one only when it declares all of them.
DERIVED: Mapping[str, tuple[str, ...]] = MappingProxyType({"net_cash_usd": ("cash", "total_debt")})
_PRICE_KEYS = ("g", "date", "_key")
_STATEMENT_KEYS = ("as_of", "symbol", "period_end", "period", "currency", "provider", "_usd_per_unit")
_EVENT_VIEWS = frozenset({"events", "events_where", "event_versions", "event_source"})
_PANELS = frozenset({"prices", "price_runs", "bounds", "fundamentals"} | _EVENT_VIEWS)


def _fill_missing(spec: FactorSpec, comps: pl.DataFrame, by: str | None) -> pl.DataFrame:
    """``comps`` with each missing component replaced under the factor's policy (the statistics of
    ``factors.methodology._fill_value``, which ``filled_values`` uses on a stored set).

    Why group-bys here instead of those window expressions: a panel of 150 dates takes every statistic per date
    (and per date and peer group), and one group-by per grouping that aggregates all components at once, joined
    back once, costs about half of a window expression per component. The statistics are the same
    aggregates over the same groups, so the values are the same bits."""
    if spec.missing == "exclude" or not spec.components:
        return comps
    keys = [by] if by else []

    def stat(c: str) -> pl.Expr:
        if spec.missing == "worst":
            goodness = (1 if spec.higher_is_better else -1) * spec.signs[c]
            return pl.col(c).min() if goodness > 0 else pl.col(c).max()
        return pl.col(c).median()

    comps_ = list(spec.components)

    def per(group: list[str], prefix: str) -> pl.DataFrame:
        aggs = [stat(c).alias(f"{prefix}{c}") for c in comps_]
        return comps.group_by(group).agg(aggs) if group else comps.select(aggs)

    def attach(frame: pl.DataFrame, stats: pl.DataFrame, group: list[str]) -> pl.DataFrame:
        if group:
            return frame.join(stats, on=group, how="left", maintain_order="left")
        return frame.with_columns([pl.lit(stats[c][0], dtype=stats[c].dtype).alias(c) for c in stats.columns])

    joined = attach(comps, per(keys, "\x00all."), keys)
    fill = {c: pl.col(f"\x00all.{c}") for c in comps_}
    if spec.missing == "impute_peers":
        peers = [*keys, "role_class"]
        joined = attach(joined, per(peers, "\x00peer."), peers)
        fill = {c: pl.col(f"\x00peer.{c}").fill_null(fill[c]) for c in comps_}
    return joined.select(*[pl.col(c).fill_null(fill[c]).alias(c) if c in fill else pl.col(c) for c in comps.columns])


class InputNotDeclared(RuntimeError):
    """A factor read an input its ``needs`` do not declare."""


@dataclass
class DeclaredContext(FactorContext):
    """The context one factor receives: the base frame and panels cut down to what its ``needs`` declare.

    Why: ``needs`` decides ``data_completeness`` and documents what a factor rests on; if a factor could read a
    column it did not declare, both would quietly be wrong. A withheld panel raises on access, a withheld base
    column is simply absent (polars names it in its error, which the engine re-raises as ``InputNotDeclared``).
    """

    factor: str = ""
    withheld: frozenset[str] = frozenset()

    def __getattribute__(self, name: str) -> Any:
        if name in _PANELS and name in object.__getattribute__(self, "withheld"):
            factor = object.__getattribute__(self, "factor")
            need = "events" if name in _EVENT_VIEWS else {"fundamentals": "statement input"}.get(name, "price input")
            raise InputNotDeclared(f"factor {factor} reads ctx.{name} but its needs declare no {need}")
        return object.__getattribute__(self, name)


def context_for(spec: FactorSpec, ctx: FactorContext) -> DeclaredContext:
    """``ctx`` restricted to the inputs ``spec.needs`` declares (see ``GRANTS``)."""
    unknown = [n for n in spec.needs if n not in GRANTS]
    if unknown:
        raise RuntimeError(f"factor {spec.name} needs unknown input {unknown[0]!r}; add it to factors.inputs.INPUTS")
    grants = [GRANTS[n] for n in spec.needs]
    base = [*KEY, *(c for g in grants for c in g.base)]
    base += [c for c, needs in DERIVED.items() if set(needs) <= set(spec.needs)]
    prices = [c for g in grants for c in g.prices]
    statements = [c for g in grants for c in g.fundamentals]
    withheld: set[str] = set()
    if not prices:
        withheld |= {"prices", "price_runs", "bounds"}
    if not statements:
        withheld.add("fundamentals")
    if not any(g.events for g in grants):
        withheld |= _EVENT_VIEWS

    def declared_statements() -> pl.DataFrame:
        frame = ctx.fundamentals
        return frame.select([c for c in dict.fromkeys([*_STATEMENT_KEYS, *statements]) if c in frame.columns])

    return DeclaredContext(
        dates=ctx.dates,
        settings=ctx.settings,
        base=ctx.base.select(list(dict.fromkeys(base))),
        prices=ctx.prices.select(list(dict.fromkeys([*_PRICE_KEYS, *prices]))) if prices else ctx.prices,
        price_runs=ctx.price_runs,
        bounds=ctx.bounds,
        event_source=ctx.event_source,
        statements=declared_statements if statements else None,
        factor=spec.name,
        withheld=frozenset(withheld),
    )


#: Optional column a factor's ``compute`` may return: a list of notes appended to the row's flags.
FACTOR_FLAGS = "flags"


def _factor_frame(spec: FactorSpec, ctx: FactorContext) -> tuple[pl.DataFrame, list[Flag]]:
    """(symbol + F, F_pct, F.component columns; flag expressions over that frame) for one factor."""
    try:
        raw = spec.compute(context_for(spec, ctx), spec.params)
    except pl.exceptions.ColumnNotFoundError as e:
        raise InputNotDeclared(
            f"factor {spec.name} reads a column its needs do not declare (or none at all): {e}"
        ) from e
    if not set(KEY) <= set(raw.columns):
        raise RuntimeError(
            f"factor {spec.name} must return the columns as_of and symbol (one row per date and company); "
            f"it returned {raw.columns}"
        )
    missing_cols = [c for c in spec.components if c not in raw.columns]
    if missing_cols:
        raise RuntimeError(f"factor {spec.name} did not return components {missing_cols}")
    notes = [FACTOR_FLAGS] if FACTOR_FLAGS in raw.columns else []
    key = list(KEY)
    # the base is sorted by (as_of, symbol); a left join that keeps its order lines every factor up with it (a
    # factor that returned the base's own rows in its order, as most do, is lined up without one)
    frame = ctx.base.select(*key, "role_class")
    picked = raw.select(*key, *spec.components, *notes)
    if (
        picked.height == frame.height
        and picked["symbol"].equals(frame["symbol"])
        and picked["as_of"].equals(frame["as_of"])
    ):
        comps = frame.hstack(picked.drop(key))
    else:
        comps = frame.join(picked, on=key, how="left", maintain_order="left")
    comps = comps.with_columns([_clean(pl.col(c)).alias(c) for c in spec.components])
    # cross-sections are per date; one date is one cross-section, which plain aggregates compute faster than windows
    by = "as_of" if len(ctx.dates) > 1 else None
    if comps.height != ctx.base.height:
        raise RuntimeError(f"factor {spec.name} returned more than one row for some (as_of, symbol)")
    filled = _fill_missing(spec, comps, by)
    # every date at once, with its as_of: a cross-sectional combine scales each date on its own, never across dates
    value = spec.combine(filled.select("as_of", *spec.components), spec.params)
    if len(value) != comps.height:
        raise RuntimeError(f"factor {spec.name}: combine returned {len(value)} values for {comps.height} companies")
    any_missing = pl.any_horizontal([pl.col(c).is_null() for c in spec.components])
    out = comps.with_columns(value.alias(spec.name))
    out = out.with_columns(_clean(pl.col(spec.name)).alias(spec.name))
    if spec.missing == "exclude":
        out = out.with_columns(pl.when(any_missing).then(None).otherwise(pl.col(spec.name)).alias(spec.name))
    out = out.with_columns(percentile_rank(spec.name, by=by).alias(spec.pct_column))
    renamed = out.select(
        *key,
        spec.name,
        spec.pct_column,
        *[pl.col(c).alias(spec.column(c)) for c in spec.components],
        *[pl.col(FACTOR_FLAGS).cast(pl.List(pl.String)).fill_null([]).alias(_notes_column(spec)) for _ in notes],
    )
    flags: list[Flag] = [_notes_column(spec) for _ in notes]
    if spec.missing == "exclude":
        mask = pl.any_horizontal([pl.col(spec.column(c)).is_null() for c in spec.components])
        flags.append((f"excluded:{spec.name}", mask))
    else:
        prefix = _POLICY_FLAG[spec.missing]
        for c in spec.components:
            flags.append((f"{prefix}:{spec.column(c)}", pl.col(spec.column(c)).is_null()))
    return renamed, flags


#: A row flag: a text and the condition that raises it, or the name of a list column of a factor's own notes.
Flag = tuple[str, pl.Expr] | str


def _flags_column(frame: pl.DataFrame, flags: Sequence[Flag]) -> pl.Series:
    """Each row's flags as a sorted list: the texts whose condition holds plus the factors' own notes.

    Why not one ``concat_list`` over the conditions: over a panel of many dates that expression costs seconds per
    hundred thousand rows. Rows share few distinct flag sets, so the conditions are packed into integer bit codes,
    each distinct (codes, notes) pattern is turned into its sorted list once, and the lists are joined back."""
    conds = [f for f in flags if isinstance(f, tuple)]
    lists = [f for f in flags if isinstance(f, str)]
    if frame.height == 0 or not flags:
        return pl.Series("flags", [[] for _ in range(frame.height)], dtype=pl.List(pl.String))
    width = 62
    codes = []
    for start in range(0, len(conds), width):
        chunk = conds[start : start + width]
        bits = [cond.fill_null(False).cast(pl.Int64) * (1 << i) for i, (_, cond) in enumerate(chunk)]
        codes.append(pl.sum_horizontal(bits).alias(f"_code{start // width}"))
    notes = [pl.col(c).list.join("\x1f").fill_null("").alias(f"_note{i}") for i, c in enumerate(lists)]
    keys = frame.select(*codes, *notes)
    patterns = keys.unique(maintain_order=True)
    texts = []
    for row in patterns.iter_rows():
        out = [text for k, (text, _) in enumerate(conds) if (row[k // width] >> (k % width)) & 1]
        for note in row[len(codes) :]:
            out += [n for n in note.split("\x1f") if note]
        texts.append(sorted(out))
    table = patterns.with_columns(pl.Series("flags", texts, dtype=pl.List(pl.String)))
    return keys.join(table, on=keys.columns, how="left", maintain_order="left")["flags"]


def _notes_column(spec: FactorSpec) -> str:
    """Scratch column carrying a factor's own flags until they join the row's ``flags`` (not in the output)."""
    return f"_flags.{spec.name}"


def _counted_inputs() -> list[str]:
    names: list[str] = []
    for spec in FACTORS.values():
        for need in spec.needs:
            if need not in INPUTS:
                raise RuntimeError(f"factor {spec.name} needs unknown input {need!r}; add it to factors.inputs.INPUTS")
            if INPUTS[need].counted and need not in names:
                names.append(need)
    return names


def _panel_readers_first(spec: FactorSpec) -> bool:
    """Sort key that puts the factors reading the daily price panel first (``False`` sorts before ``True``; the
    sort is stable, so registry order holds within each group)."""
    return not any(GRANTS[need].prices for need in spec.needs if need in GRANTS)


def compute_scores(
    inputs: FactorInputs,
    as_of: date,
    *,
    settings: Mapping[str, Any] | None = None,
    release_prices: bool = False,
) -> pl.DataFrame:
    """Score every company of ``inputs.companies`` as of ``as_of``; pure (no store, no clock, no randomness).

    The one-date case of ``compute_panel``: the same computation, so a back-dated score and the backtest's score
    of that date are the same rows. ``release_prices`` as ``build_panel`` takes it."""
    return compute_panel(inputs, [as_of], settings=settings, release_prices=release_prices)


def compute_panel(
    inputs: FactorInputs,
    dates: Sequence[date],
    *,
    settings: Mapping[str, Any] | None = None,
    release_prices: bool = False,
) -> pl.DataFrame:
    """Score every company of every date of ``dates`` in one pass: ``score_columns()`` per (as_of, symbol), sorted
    by (as_of, symbol). Each date sees only what was public on it; cross-sectional steps (fills, scaling,
    percentiles) run within each date. Pure (no store, no clock, no randomness). ``release_prices`` (for inputs
    read for this call alone) hands ``inputs.prices`` over and empties it (``build_panel``)."""
    ctx = build_panel(inputs, dates, settings, release_prices=release_prices)
    key = list(KEY)
    frame = ctx.base
    flags: list[Flag] = [(f, pl.col(f)) for f in _BASE_FLAGS]
    # factors are independent pure computations over the same context: two threads evaluate them side by side
    # (polars releases the interpreter lock) and they are joined in registry order, so the result never changes.
    # The factors that read the daily panel start first: they take most of the time (a range maximum over every
    # close is a pass per doubling level), and started last the second thread would idle beside them; started
    # first, the small factors run on the other thread meanwhile
    specs = list(FACTORS.values())
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = {spec.name: pool.submit(_factor_frame, spec, ctx) for spec in sorted(specs, key=_panel_readers_first)}
        done = [jobs[spec.name].result() for spec in specs]
    for part, more in done:
        frame = frame.hstack(part.drop(key))  # same rows in the same (as_of, symbol) order as the base
        flags += more
    counted = _counted_inputs()
    completeness = (
        pl.mean_horizontal([INPUTS[n].present.fill_null(False).cast(pl.Float64) for n in counted])  # type: ignore[union-attr]
        if counted
        else pl.lit(1.0)
    )
    frame = frame.with_columns(completeness.alias("data_completeness"), _flags_column(frame, flags).alias("flags"))
    return frame.select(score_columns())


# --------------------------------------------------------------------------------------------------------------
# Stored scores
# --------------------------------------------------------------------------------------------------------------
def current_scores(
    store: Store,
    as_of: date | None = None,
    *,
    recompute: bool = False,
    today: date | None = None,
    meanwhile: Callable[[pl.DataFrame], None] | None = None,
    later: list[PendingSave] | None = None,
) -> tuple[pl.DataFrame, str]:
    """``scores_for`` with how the set was obtained (``STORED``, ``COMPUTED`` or ``RECOMPUTED``): the freshness
    key is read once, for the check and for the set saved."""
    frame, basis = current_scores_lazy(store, as_of, recompute=recompute, today=today, meanwhile=meanwhile, later=later)
    return frame.collect(), basis


def scores_for(
    store: Store,
    as_of: date | None = None,
    *,
    recompute: bool = False,
    today: date | None = None,
    meanwhile: Callable[[pl.DataFrame], None] | None = None,
    later: list[PendingSave] | None = None,
) -> pl.DataFrame:
    """The score set for ``as_of`` (default today): the stored one when its inputs are unchanged, else recomputed
    from the store, saved and returned. A date after today is refused: nothing is public yet about the future, and
    a stored future set would be what later commands find first. ``today`` (default the local date) is the only
    clock read, so callers and tests can pin it. ``later`` defers the save (``current_scores_lazy``)."""
    return current_scores(store, as_of, recompute=recompute, today=today, meanwhile=meanwhile, later=later)[0]


# --------------------------------------------------------------------------------------------------------------
# Many dates: the backtest's panel
# --------------------------------------------------------------------------------------------------------------
def score_panel(store: Store, dates: Sequence[date]) -> pl.DataFrame:
    """The score frames of every date of ``dates`` stacked: ``score_columns()`` for every (as_of, symbol), sorted
    by (as_of, symbol). The store is read once (``load_panel_inputs``) and every date is scored in one pass
    (``compute_panel``); each date sees only what was public on it, exactly as ``score`` on that date would."""
    days = sorted(set(dates))
    if not days:
        raise ValueError("score_panel needs at least one date")
    return compute_panel(load_panel_inputs(store, days), days, release_prices=True)


def usd_closes(store: Store, end: date) -> pl.DataFrame:
    """Every stored close on or before ``end`` in US dollars, each at its own day's rate (``FxTable``): ``symbol``,
    ``date``, ``close_usd`` (null where no rate was known that day: never a dollar figure it was not)."""
    from factors.inputs import FxTable, _currency_map

    fx = FxTable(store.rows_as_of("fx", end), end)
    comp = store.companies(as_of=end).select("symbol", "currency")
    cmap = _currency_map(comp["currency"].to_list())
    code = {r: fx.codes.get(i) for r, i in zip(cmap["raw"], cmap["iso"], strict=True)}
    unit = dict(zip(cmap["raw"], cmap["unit"], strict=True))
    comp = comp.with_columns(
        pl.col("currency").replace_strict(code, default=None, return_dtype=pl.Int64).alias("_code"),
        pl.col("currency").replace_strict(unit, default=None, return_dtype=pl.Float64).alias("_unit"),
    )
    p = (
        store.rows_as_of("prices", end)
        .select("symbol", "date", "close")
        .join(comp.select("symbol", "_code", "_unit"), on="symbol", how="inner")
        .sort(["symbol", "date"])
    )
    rate = fx.rate(p["_code"], p["date"])
    return p.select("symbol", "date", (pl.col("close") * pl.col("_unit") * rate).alias("close_usd"))
