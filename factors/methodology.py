"""What a stored score set is keyed on and shaped like: the engine settings, the score frame's columns, the
methodology fingerprint, and the check that reuses a stored set while it is current.

Why a module of its own: a command that reads stored scores (``screen``, ``show``) asks only whether the stored set
is still current and scans it. Those answers need the registry's declarations, not the engine that computes scores
nor the point-in-time inputs it reads, so this module imports neither until a set must be computed.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from factors.registry import FACTORS
from screener.contract import PERIODS

if TYPE_CHECKING:
    import polars as pl

    from factors.registry import FactorSpec
    from screener.store import Store

#: Engine settings (documented in METHODOLOGY.md, "Point in time").
SETTINGS: Mapping[str, Any] = MappingProxyType(
    {
        # H: 90 days covers the deadlines of half-year reporters (ASX: 75 days under the Corporations Act; AIM and
        # the UK's DTR: three months), so a half year is never read before most of them could have published it.
        "reporting_lag_days": MappingProxyType({"Q": 60, "H": 90, "FY": 90}),
        "price_window_days": 400,
        "stale_price_days": 10,
        "stale_fundamentals_days": 400,
        "halted_trading_days": 20,
        "ttm_window_days": 350,
        "share_growth_early_days": 30,
        "share_growth_late_days": 120,
    }
)


# --------------------------------------------------------------------------------------------------------------
# The reporting lag: one definition for scoring, the watchlist's freshness line and the company card
# --------------------------------------------------------------------------------------------------------------
def reporting_lags(settings: Mapping[str, Any] | None = None) -> dict[str, int]:
    """Days after its period end from which a statement of each period label counts, for every contract period.

    Why it refuses a missing label: a period without a lag would either never count or count at once; both are
    silent errors, so a settings mapping that forgets one (as ``H`` once was) fails loudly instead.
    """
    lags = (settings or SETTINGS)["reporting_lag_days"]
    missing = [p for p in PERIODS if p not in lags]
    if missing:
        raise ValueError(f"reporting_lag_days has no lag for period(s) {', '.join(missing)}")
    return {p: int(lags[p]) for p in PERIODS}


def is_public(as_of: date, settings: Mapping[str, Any] | None = None) -> pl.Expr:
    """True where a statement row (``period``, ``period_end``) was public on ``as_of``; null/false otherwise
    (a period label outside the contract is never public)."""
    import polars as pl

    cutoffs = {p: as_of - timedelta(days=d) for p, d in reporting_lags(settings).items()}
    cutoff = pl.col("period").replace_strict(cutoffs, default=None, return_dtype=pl.Date)
    return (pl.col("period_end") <= cutoff).fill_null(False)


def reported_by(settings: Mapping[str, Any] | None = None) -> pl.Expr:
    """The day a statement row counts for scoring: period end plus its period's reporting lag (null for a label
    outside the contract)."""
    import polars as pl

    days = pl.col("period").replace_strict(reporting_lags(settings), default=None, return_dtype=pl.Int64)
    return (pl.col("period_end") + pl.duration(days=days)).cast(pl.Date)


def public_statements_sql(as_of: date, settings: Mapping[str, Any] | None = None) -> tuple[str, list[Any]]:
    """The same rule as ``is_public`` as a SQL condition on ``period``/``period_end`` with its parameters."""
    lags = reporting_lags(settings)
    sql = "(" + " OR ".join("(period = ? AND period_end <= ?)" for _ in lags) + ")"
    return sql, [x for period, days in lags.items() for x in (period, as_of - timedelta(days=days))]


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
    "symbol",
    "name",
    "country",
    "region",
    "roles",
    "role_class",
    "stage",
    "segment",
    "currency",
    "gov_backing",
    "exposure",
    "government_backing",
)

#: Bump when a formula changes in a way params do not capture, so stored scores are recomputed.
METHODOLOGY_VERSION = "4"
_EXTRA_FIELDS = ("last_price_date", "fundamentals_period_end")

#: How a score set was obtained (``current_scores``): reused, computed with none stored, or replacing a stale one.
STORED, COMPUTED, RECOMPUTED = "stored", "computed now", "recomputed: the data changed since they were stored"


def rests_on_demo(scores: pl.DataFrame) -> bool:
    """Whether any scored row reads synthetic demo numbers (its ``demo`` flag), so whoever shows the scores must
    say so. The one rule behind every demo banner: a score set, a screen, a run and a company card all ask here."""
    return scores.height > 0 and "demo" in scores.columns and bool(scores["demo"].any())


def score_columns() -> list[str]:
    """The score frame's columns in order (identity, as_of, demo, factors, components, fields, bookkeeping)."""
    cols = [*IDENTITY_COLUMNS, "as_of", "demo"]
    for spec in FACTORS.values():
        cols += [spec.name, spec.pct_column]
    for spec in FACTORS.values():
        cols += list(spec.component_columns)
    return [*cols, *FIELD_COLUMNS, *_EXTRA_FIELDS, "data_completeness", "flags"]


def _plain(value: Any) -> Any:
    """Params and settings as JSON-able plain values (mappings sorted), for the methodology fingerprint."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def methodology_fingerprint() -> dict[str, Any]:
    return {
        "version": METHODOLOGY_VERSION,
        "settings": _plain(SETTINGS),
        "factors": [
            {
                "name": s.name,
                "direction": s.direction,
                "missing": s.missing,
                "needs": list(s.needs),
                "components": _plain(s.signs),
                "params": _plain(s.params),
            }
            for s in FACTORS.values()
        ],
    }


def inputs_fingerprint(store: Store, as_of: date) -> str:
    """A key for everything scores depend on: the store's data version, the as-of date and the methodology.

    Why a version and not a hash of the rows: the store bumps its data version in the same commit as every write of
    market data, tags or universe (``Store.transaction``), so an edit that keeps the row count and the load time
    still changes the key, and checking it costs one read of one row instead of a pass over every stored row.
    """
    parts: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "methodology": methodology_fingerprint(),
        "data_version": store.data_version(),
    }
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _while_saving(save: Callable[[], None], meanwhile: Callable[[pl.DataFrame], None], frame: pl.DataFrame) -> None:
    """Run ``save`` here and ``meanwhile(frame)`` on a second thread at the same time; both have finished when
    this returns, and an error of either is raised (the save's first: what was stored is what a caller must hear).

    Why: saving a score set waits on the disk (the commit) for much of its time, on one core, and what a caller
    does next with the frame (a command writes it as csv or json) needs only the frame. The save stays on the
    calling thread, so a Ctrl-C still lands in it as it did, and ``meanwhile`` is joined before anything is
    raised: no thread outlives the call."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            meanwhile(frame)
        except BaseException as exc:  # handed to the calling thread below, never lost with the thread
            failed.append(exc)

    worker = threading.Thread(target=run, name="scores-meanwhile")
    worker.start()
    interrupted: BaseException | None = None
    try:
        save()
    finally:
        while worker.is_alive():
            try:
                worker.join()
            except KeyboardInterrupt as exc:  # the worker finishes its short job first, then the interrupt goes on
                interrupted = exc
    if interrupted is not None:
        raise interrupted
    if failed:
        raise failed[0]


def _fill_value(spec: FactorSpec, comp: str, column: str | None = None, *, by: str | None = None) -> pl.Expr | None:
    """The expression a missing component is replaced with under the factor's policy (None: leave it missing).

    ``column`` is where the measured component lives (default: the bare component name, as inside the engine; the
    score frame's ``<factor>.<component>`` for ``filled_values``); the peer groups are the ``role_class`` column.
    ``by`` names the column of the cross-section (``as_of`` in the engine, which scores many dates at once); the
    statistics are taken within it.
    """
    import polars as pl

    c = pl.col(column or comp)

    def within(e: pl.Expr, *more: str) -> pl.Expr:
        keys = [k for k in (by, *more) if k]
        return e.over(keys) if keys else e

    if spec.missing == "neutral":
        return within(c.median())
    if spec.missing == "worst":
        goodness = (1 if spec.higher_is_better else -1) * spec.signs[comp]
        return within(c.min() if goodness > 0 else c.max())
    if spec.missing == "impute_peers":
        return within(c.median(), "role_class").fill_null(within(c.median()))
    return None


def filled_values(scores: pl.DataFrame) -> pl.DataFrame:
    """``symbol`` plus, per component a policy fills, the value the factor used in place of the missing measurement
    (null where the component was measured or the policy leaves it missing).

    Why recompute instead of storing: the fills are cross-sectional statistics of the measured components that the
    score frame already carries, so the same expressions the engine used give the same numbers from a stored score
    set. Pass the whole score set: a median over a subset is a different median.
    """
    import polars as pl

    exprs: list[pl.Expr] = []
    for spec in FACTORS.values():
        for comp in spec.components:
            col = spec.column(comp)
            fill = _fill_value(spec, comp, col)
            if fill is None or col not in scores.columns:
                continue
            exprs.append(pl.when(pl.col(col).is_null()).then(fill).otherwise(None).cast(pl.Float64).alias(col))
    return scores.select("symbol", *exprs)


class PendingSave:
    """The save of a freshly computed score set, handed to a caller that stores it in its own transaction
    (``current_scores_lazy``'s ``later``). ``computed_at`` is when the set was computed: the time the set is
    stored under, and what a run that reads it says ("scores computed ...") before the set is in the store.

    A plain class, not a dataclass: this module is imported by every command that reads stored scores, and making
    a dataclass compiles its methods at import (a few milliseconds of a command meant to take a few hundred)."""

    __slots__ = ("computed_at", "save")

    def __init__(self, computed_at: datetime, save: Callable[[], None]) -> None:
        self.computed_at = computed_at
        self.save = save

    def __call__(self) -> None:
        self.save()


def current_scores_lazy(
    store: Store,
    as_of: date | None = None,
    *,
    recompute: bool = False,
    today: date | None = None,
    meanwhile: Callable[[pl.DataFrame], None] | None = None,
    later: list[PendingSave] | None = None,
) -> tuple[pl.LazyFrame, str]:
    """``current_scores`` as a lazy frame: a stored set that is still current is scanned, not decoded, so a
    caller that needs a few columns or one company decodes only those (``Store.scan_scores``).

    ``meanwhile``, when given, is called with a freshly computed set while that set is being saved (on another
    thread; errors are raised here, after the save): a caller that writes the set out overlaps that work with the
    save's wait on the disk. It is not called for a stored set (nothing is saved then), nor when nothing can be
    saved.

    ``later``, when given, receives the save of a freshly computed set instead of it being run here: a caller that
    stores something of its own from the set (``weekly``, its run) runs the save inside its own transaction, so the
    command takes the write lock (and opens DuckDB for writing) once instead of twice. The save stores the set
    under the fingerprint of the data it was computed from, whenever it runs."""
    from screener.errors import NO_COMPANIES, ScreenerError

    today = today or date.today()
    day = as_of or today
    if day > today:
        raise ScreenerError(
            f"as-of {day.isoformat()} is in the future; use today ({today.isoformat()}) or an earlier date"
        )
    if not store.company_count():
        raise ScreenerError(NO_COMPANIES)
    fingerprint = inputs_fingerprint(store, day)
    info = store.score_set_info(day)
    if not recompute and info is not None and info.get("inputs_hash") == fingerprint:
        stored = store.scan_scores(day)
        if stored is not None and stored.collect_schema().names() == score_columns():
            return stored, STORED
    from factors.engine import compute_scores, load_inputs

    # the inputs are read for this score alone: their closes are freed once the price panel is built
    frame = compute_scores(load_inputs(store, day), day, release_prices=True)
    what = f"the scores as of {day.isoformat()}"
    from screener.store import utcnow

    computed_at = utcnow()

    def save() -> None:
        store.save_scores(day, frame, demo=rests_on_demo(frame), inputs_hash=fingerprint, computed_at=computed_at)

    def save_when_writable() -> None:
        if store.can_write(what):
            save()

    if later is not None:
        later.append(PendingSave(computed_at, save_when_writable))
    elif store.can_write(what):
        if meanwhile is None:
            save()
        else:
            _while_saving(save, meanwhile, frame)
    return frame.lazy(), COMPUTED if info is None else RECOMPUTED
