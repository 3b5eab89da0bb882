"""The screener from a notebook: one import, every answer a polars frame.

Why a module of its own: the library functions behind the commands take an open ``Store`` and return result
objects shaped for the commands (a ``ScreenResult``, a ``RunDiff``, a ``BacktestResult``). A notebook wants the
frame, and the store opened and closed around each call so that nothing is left holding the file. Each function
here does exactly that around the one library function the command calls, so the two never disagree.

Every function takes ``db``: the store file (None: ``SCREENER_DB``, else the default location). Nothing here creates
a store: a missing one is a ``ScreenerError``. Errors are the library's own (``screener.errors``):
``ArgumentError`` names the parameter of *this* module that was wrong (``from_run``, not the library's
``from_ref``), and every other problem is a ``ScreenerError`` of one line.

A result that rests on the synthetic demo data says so the way Python says such things: a ``DemoDataWarning``
(every score frame also carries the per-company ``demo`` column).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import polars as pl

from screener.errors import ArgumentError, Option, ScreenerError

if TYPE_CHECKING:
    from screener.backtest.result import BacktestResult
    from screener.store import Store

__all__ = [
    "DemoDataWarning",
    "backtest",
    "backtest_result",
    "backtests",
    "diff",
    "query",
    "run",
    "runs",
    "scores",
    "screen",
]

DbPath = str | os.PathLike[str] | None
T = TypeVar("T")


class DemoDataWarning(UserWarning):
    """The frame rests on the seeded synthetic demo data (provider ``demo``), not on market data."""


DEMO_MESSAGE = "this frame rests on synthetic demo data (provider 'demo'), not on market data"


def _warn_demo(demo: bool) -> None:
    if demo:
        warnings.warn(DEMO_MESSAGE, DemoDataWarning, stacklevel=3)


@contextmanager
def _store(db: DbPath, *, write: bool = False) -> Iterator[Store]:
    """The store at ``db`` for one call. ``write`` opens it writable, for the calls that keep what they compute
    (score sets, backtests) as the commands do; a missing file is refused either way rather than created."""
    from screener.store import Store, resolve_db_path

    path = resolve_db_path(db)
    if not path.is_file():
        raise ScreenerError(f"no store at {path}: run 'screener init' (or 'screener demo') first")
    store = Store(path, read_only=not write)
    try:
        yield store
    finally:
        store.close()


def _renamed(call: Callable[[], T], names: Mapping[str, str]) -> T:
    """Run ``call``; an ``ArgumentError`` naming a library parameter is raised again naming this module's."""
    try:
        return call()
    except ArgumentError as exc:
        parts = [Option(names.get(p.name, p.name)) if isinstance(p, Option) else p for p in exc.parts]
        raise ArgumentError(*parts) from None


def _day(value: date | str | None, parameter: str) -> date | None:
    """A date given as a ``date`` or ISO text (``"2026-06-05"``), as a notebook user types it."""
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ArgumentError(Option(parameter), f" must be a date YYYY-MM-DD, got {value!r}") from None


# -- scores and screens -------------------------------------------------------------------------------------------
def scores(as_of: date | str | None = None, *, recompute: bool = False, db: DbPath = None) -> pl.DataFrame:
    """Every company's scores as of ``as_of`` (default today): one row per company, the columns of
    docs/factors.md, as ``screener score`` prints them.

    The stored score set is reused while its inputs are unchanged, else computed and stored (``recompute=True``
    forces that), exactly as the command does. A future date is refused.
    """
    from factors.engine import rests_on_demo, scores_for

    day = _day(as_of, "as_of")
    with _store(db, write=True) as store:
        frame = scores_for(store, day, recompute=recompute)
    _warn_demo(rests_on_demo(frame))
    return frame


def screen(
    where: str | None = None,
    *,
    sort: str | None = None,
    rules: str | None = None,
    roles: Sequence[str] = (),
    countries: Sequence[str] = (),
    top: int | None = None,
    as_of: date | str | None = None,
    db: DbPath = None,
) -> pl.DataFrame:
    """The stored scores filtered (and, with ``rules``, ranked) without storing a run: ``screener screen``.

    ``where`` is a condition in the rule language (``"net_cash_usd > 0 and dilution_risk_pct < 0.5"``), ``sort``
    a factor or column with an optional ``:asc``/``:desc``, ``roles`` and ``countries`` keep any of several (a
    country is an ISO code or a region name), ``top`` caps the rows (at least 1, else an ``ArgumentError`` naming
    ``top``). Returns one row per kept company: with ``rules`` its ``rank`` by score, without them its ``row`` in
    the order shown; the fields ``where`` reads and the ``sort`` keys are among the columns, as in the CLI.
    """
    from screener.watchlist.screen import run_screen

    day = _day(as_of, "as_of")
    with _store(db, write=True) as store:
        result = run_screen(
            store,
            rules=rules,
            roles=tuple(roles),
            countries=tuple(countries),
            where=where,
            sort=sort,
            top=top,
            as_of=day,
        )
    _warn_demo(result.demo)
    return result.rows


def query(sql: str, *, max_rows: int = 10_000, db: DbPath = None) -> pl.DataFrame:
    """One read-only SELECT against the store, as ``screener query`` runs it: anything else (a write, a file read,
    ``ATTACH``, ``COPY``, several statements) is a ``ScreenerError`` and changes nothing.

    A result longer than ``max_rows`` is a ``ScreenerError`` naming the cap, rather than a silently cut frame.
    """
    from screener.store.query import query_readonly

    result = query_readonly(db, sql, max_rows=max_rows)
    if result.truncated:
        raise ScreenerError(f"the query returns more than {max_rows:,} rows; add a LIMIT or pass a larger max_rows")
    return result.rows


# -- watchlist runs -----------------------------------------------------------------------------------------------
def runs(*, db: DbPath = None) -> pl.DataFrame:
    """The stored weekly runs, one row each (``run_id``, ``as_of``, ``iso_week``, ``rules``, ``members``, ``demo``,
    ...), as ``screener watchlist runs`` lists them."""
    from screener.watchlist.runs import list_runs

    with _store(db) as store:
        return list_runs(store)


def run(ref: int | str = "latest", *, rules: str | Path | None = None, db: DbPath = None) -> pl.DataFrame:
    """The members of one stored run (a run id, or ``"latest"``), ranked, with their reasons: the rows of
    ``screener watchlist show``.

    ``"latest"`` is the latest run of ``rules`` (a rule set's name or file; the default rule set when None), as
    ``watchlist show --rules`` picks it; given ``rules``, a run id of another rule set is an ``ArgumentError``.
    """
    from screener.watchlist.runs import show_run

    with _store(db) as store:
        stored, rows = show_run(store, ref, rules=rules)
    _warn_demo(stored.demo)
    return rows


def diff(
    from_run: int | str | None = None,
    to_run: int | str = "latest",
    *,
    rules: str | Path | None = None,
    db: DbPath = None,
) -> pl.DataFrame:
    """What entered, left or moved between two stored runs, with the attributed reason of each change:
    ``screener watchlist diff``.

    ``to_run`` is a run id or ``"latest"``: the latest run of ``rules`` (a rule set's name or file; the default rule
    set when None); ``from_run`` defaults to the previous run of ``to_run``'s rule set (an empty frame when
    ``to_run`` is that rule set's first run). ``from_run`` must be the earlier of the two. Runs of another rule set
    are compared by their ids (``runs()`` lists them with their ``rules``); given ``rules``, a ``to_run`` id of
    another rule set is an ``ArgumentError``.
    """
    from screener.watchlist.runs import diff_runs

    with _store(db) as store:
        result = _renamed(
            lambda: diff_runs(store, from_run, to_run, rules=rules), {"from_ref": "from_run", "to_ref": "to_run"}
        )
    _warn_demo(result.demo)
    return result.changes


# -- backtests ----------------------------------------------------------------------------------------------------
def _frames(result: BacktestResult) -> dict[str, pl.DataFrame]:
    """A backtest as frames: each table of ``screener.backtest.result.TABLES`` under its name, and ``portfolio``,
    one row with what the backtest ran with and its summary figures (a figure that cannot be measured is null)."""
    from screener.backtest.result import TABLES

    params = result.params
    head: dict[str, Any] = {
        "backtest_id": result.backtest_id,
        "created_at": result.created_at,
        "rules": result.rules_name,
        "rules_hash": result.rules_hash,
        "start": params.start,
        "end": params.end,
        "every": params.every,
        "horizons": list(params.horizons),
        "cost_bps": params.cost_bps,
        "weights": params.weights,
        "benchmark": params.benchmark,
        "dates": len(result.dates),
        "demo": result.demo,
    }
    figures = {k: (float(v) if isinstance(v, int | float) else None) for k, v in result.portfolio.items()}
    schema: dict[str, Any] = {
        "backtest_id": pl.Int64,
        "created_at": pl.String,
        "horizons": pl.List(pl.String),
        "benchmark": pl.String,
        **dict.fromkeys(figures, pl.Float64),
        "notes": pl.List(pl.String),
    }
    portfolio = pl.DataFrame([{**head, **figures, "notes": list(result.notes)}], schema_overrides=schema)
    return {"portfolio": portfolio, **{name: result.table(name) for name in TABLES}}


def backtest(
    rules: str | Path = "default",
    *,
    start: date | str | None = None,
    end: date | str | None = None,
    every: str = "1w",
    horizons: str | Sequence[str] = ("1w", "4w", "13w", "26w"),
    cost_bps: float = 20.0,
    weights: str | None = None,
    benchmark: str | None = None,
    save: bool = True,
    on_progress: Callable[[str, int, int], None] | None = None,
    db: DbPath = None,
) -> dict[str, pl.DataFrame]:
    """Run a backtest of ``rules``, point in time, and (``save=True``, as ``screener backtest`` does) store it.

    The parameters are the command's (docs/backtest.md); ``horizons`` is ``"1w,4w"`` or a list of labels.
    ``on_progress(label, done, total)`` is called as the dates are scored. Returns the frames of
    ``backtest_result``: ``portfolio`` (one row: parameters, ``backtest_id`` when stored, figures, notes), ``ic``,
    ``ic_series``, ``quantiles``, ``spreads``, ``stability``, ``curve`` and ``holdings``.
    """
    from screener.backtest.history import save_backtest
    from screener.backtest.run import parse_horizons, run_backtest

    first, last = _day(start, "start"), _day(end, "end")
    with _store(db, write=save) as store:
        result = run_backtest(
            store,
            rules=rules,
            start=first,
            end=last,
            every=every,
            horizons=parse_horizons(horizons),
            cost_bps=cost_bps,
            weights=weights,
            benchmark=benchmark,
            progress=on_progress,
        )
        if save:
            save_backtest(store, result)
    _warn_demo(result.demo)
    return _frames(result)


def backtests(*, db: DbPath = None) -> pl.DataFrame:
    """The stored backtests, newest first (``id``, ``created_at``, ``rules``, dates, ``cagr``, ``sharpe``,
    ``demo``), as ``screener backtest --list`` lists them."""
    from screener.backtest.history import list_backtests

    with _store(db) as store:
        return list_backtests(store)


def backtest_result(ref: int | str = "latest", *, db: DbPath = None) -> dict[str, pl.DataFrame]:
    """A stored backtest (an id, or ``"latest"``) exactly as it was stored, nothing recomputed: the frames that
    ``backtest`` returns."""
    from screener.backtest.history import load_backtest

    with _store(db) as store:
        result = load_backtest(store, ref)
    _warn_demo(result.demo)
    return _frames(result)
