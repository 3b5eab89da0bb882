"""What the weekly report shows, read from the store into plain frames: one function per section.

Why a layer of its own: the charts and the page only lay frames out, so every number on the page can be checked
against the frame it came from (the tests do), and a value the store does not hold stays null here; a chart then
leaves it out and the page lists it as missing, never as a zero. Everything is read through the library functions
the commands use (stored runs, the capacity ledger, stored backtests), so the report says what ``watchlist show``,
``show`` and ``backtest --show`` say.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from screener.backtest.result import BacktestResult
    from screener.store import Store
    from screener.watchlist.runs import Run

#: Runs of the rule set the rank history covers, the report's own run included.
HISTORY_RUNS = 12
#: The dilution map's axes: score-frame components of ``dilution_risk`` (``factors/library/dilution_risk.py``).
RUNWAY = "dilution_risk.cash_runway_years"
SHARE_GROWTH = "dilution_risk.share_growth_1y"
#: The role-class column every score frame and stored run carries (decided once, in ``factors.inputs``).
ROLE_CLASS = "role_class"


@dataclass
class ReportData:
    """Every section of the report as a frame, with the run (and backtest) it was read from."""

    run: Run
    members: pl.DataFrame
    contributions: pl.DataFrame
    changes: pl.DataFrame
    previous_run_id: int | None
    history: pl.DataFrame
    history_runs: pl.DataFrame
    scores: pl.DataFrame
    capacity: pl.DataFrame
    capacity_unstated: int
    dilution: pl.DataFrame
    dilution_missing: pl.DataFrame
    backtest: BacktestResult | None = None
    curve: pl.DataFrame = field(default_factory=pl.DataFrame)
    ic: pl.DataFrame = field(default_factory=pl.DataFrame)
    #: What the reader must know about the backtest shown (another rule set's, or one that runs past the run's
    #: date): the page shows each beside the backtest and the command repeats them on stderr.
    warnings: list[str] = field(default_factory=list)

    @property
    def demo(self) -> bool:
        """Whether any part rests on the seeded demo data: then the page carries the DEMO banner."""
        return self.run.demo or bool(self.backtest is not None and self.backtest.demo)


# -- which run ----------------------------------------------------------------------------------------------------
def resolve_report_run(store: Store, ref: str | int | None, rules: str | None) -> Run:
    """The run the report shows: ``latest`` (or None) is the latest run of ``rules`` (``default`` when None), by
    as-of date then run id; an id names one run, and ``rules`` that disagree with it are refused. The same rule
    as ``watchlist show`` and ``export`` (``screener.watchlist.runs.resolve_run_id``), so a report and the list it
    pictures are always the same run."""
    from screener.watchlist.runs import load_run

    return load_run(store, ref, rules=rules, parameter="ref")


def report_backtest(store: Store, run: Run, ref: str | int) -> tuple[BacktestResult, list[str]]:
    """The backtest the report of ``run`` shows, and the warnings it comes with.

    ``latest`` is the newest stored backtest of the run's rule set whose period ends on or before the run's as-of
    date: a report must not show what was not known on its date, nor another rule set's results as its own (none
    such is an error). An id names one backtest and is shown as asked, but one of other rules or one that ends after
    the run's date comes with a warning saying so.
    """
    from screener.backtest.history import list_backtests, load_backtest, resolve_backtest_id
    from screener.errors import ScreenerError

    if str(ref).strip().lower() == "latest":
        resolve_backtest_id(store, ref, parameter="backtest")  # none stored at all: the common error
        fitting = list_backtests(store).filter((pl.col("rules") == run.rules_name) & (pl.col("end") <= run.as_of))
        if fitting.height == 0:
            raise ScreenerError(
                f"no stored backtest of the rules {run.rules_name!r} ends on or before the run's as-of date "
                f"{run.as_of}; run 'screener backtest' with these rules and an end date no later, or name a stored "
                "backtest by its id"
            )
        return load_backtest(store, int(fitting["id"].max()), parameter="backtest"), []  # type: ignore[arg-type]
    result = load_backtest(store, ref, parameter="backtest")
    warnings = []
    if result.rules_name != run.rules_name:
        warnings.append(
            f"backtest {result.backtest_id} is of the rules {result.rules_name!r}, not of the run's rules "
            f"{run.rules_name!r}"
        )
    if result.params.end > run.as_of:
        warnings.append(
            f"backtest {result.backtest_id} runs to {result.params.end}, after the run's as-of date {run.as_of}: "
            "it shows what was not known on that date"
        )
    return result, warnings


# -- sections -----------------------------------------------------------------------------------------------------
def fill_flags(flags: Sequence[str] | None) -> list[str]:
    """The flags of a score row that name an input filled by a factor's missing-value policy (``imputed:F.c``,
    ``neutral:F.c``, ``worst:F.c``), in the order the row keeps them."""
    from factors.engine import _POLICY_FLAG  # the engine's flag prefix per policy: read, never copied

    prefixes = tuple(f"{p}:" for p in _POLICY_FLAG.values())
    listed = flags.split(";") if isinstance(flags, str) else ([] if flags is None else list(flags))
    return [f.strip() for f in listed if f and f.strip().startswith(prefixes)]


def _filled_factors(flags: Sequence[str] | None, factors: Sequence[str]) -> dict[str, str]:
    """Per factor whose value rests on a filled input: the fill flags naming its components (``F.c``)."""
    out: dict[str, list[str]] = {}
    for f in fill_flags(flags):
        subject = f.split(":", 1)[1]
        for factor in factors:
            if subject.startswith(factor + "."):
                out.setdefault(factor, []).append(f)
    return {k: "; ".join(v) for k, v in out.items()}


def contributions_of(members: pl.DataFrame, weighted: Sequence[str]) -> pl.DataFrame:
    """One row per (member, weighted factor): the factor's contribution to the score (``contrib.F``, computed by the
    rules engine so the parts add up to the score), and ``filled``: the member's fill flags for that factor (null
    when every input was measured), so a part resting on a filled input is drawn as such. A contribution the run
    did not store stays null."""
    cols = [f for f in weighted if f"contrib.{f}" in members.columns]
    order = {f: i for i, f in enumerate(cols)}
    if members.height == 0 or not cols:
        return pl.DataFrame(
            schema={
                "rank": pl.Int64,
                "symbol": pl.String,
                "factor": pl.String,
                "order": pl.Int64,
                "contrib": pl.Float64,
                "filled": pl.String,
            }
        )
    flags = members["flags"].to_list() if "flags" in members.columns else [None] * members.height
    fills = pl.DataFrame(
        [
            {"symbol": s, "factor": factor, "filled": text}
            for s, f in zip(members["symbol"].to_list(), flags, strict=True)
            for factor, text in _filled_factors(f, cols).items()
        ],
        schema={"symbol": pl.String, "factor": pl.String, "filled": pl.String},
        orient="row",
    )
    return (
        members.select("rank", "symbol", *[pl.col(f"contrib.{f}").alias(f) for f in cols])
        .unpivot(index=["rank", "symbol"], on=cols, variable_name="factor", value_name="contrib")
        .with_columns(pl.col("factor").replace_strict(order, return_dtype=pl.Int64).alias("order"))
        .join(fills, on=["symbol", "factor"], how="left")
        .select("rank", "symbol", "factor", "order", pl.col("contrib").cast(pl.Float64), "filled")
        .sort(["rank", "order"])
    )


def run_history(store: Store, run: Run, most: int = HISTORY_RUNS) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The last ``most`` runs of the run's rule set up to it (as-of date, then run id), and each current member's
    rank in each: one row per (run, member), rank null when the company was not a member of that run."""
    from screener.watchlist.runs import list_runs, load_run

    runs = (
        list_runs(store)
        .filter(
            (pl.col("rules") == run.rules_name)
            & ((pl.col("as_of") < run.as_of) | ((pl.col("as_of") == run.as_of) & (pl.col("run_id") <= run.run_id)))
        )
        .sort(["as_of", "run_id"], descending=True)
        .head(most)
        .sort(["as_of", "run_id"])
        .select("run_id", "as_of", "iso_week")
    )
    symbols = run.members
    rows = []
    for run_id, as_of, week in runs.iter_rows():
        past = run if run_id == run.run_id else load_run(store, run_id)
        ranks = dict(past.table.filter(pl.col("status") == "member").select("symbol", "rank").iter_rows())
        rows.extend(
            {"run_id": run_id, "as_of": as_of, "iso_week": week, "symbol": s, "rank": ranks.get(s)} for s in symbols
        )
    schema = {"run_id": pl.Int64, "as_of": pl.Date, "iso_week": pl.String, "symbol": pl.String, "rank": pl.Int64}
    return pl.DataFrame(rows, schema=schema, orient="row"), runs


def scores_by_role(run: Run) -> pl.DataFrame:
    """Every company the rule set scored (the eligible set), with its role class and whether it made the list."""
    table = run.table
    if "score" not in table.columns:
        return pl.DataFrame(
            schema={"symbol": pl.String, ROLE_CLASS: pl.String, "score": pl.Float64, "member": pl.Boolean}
        )
    return (
        table.filter(pl.col("score").is_not_null())
        .select(
            "symbol",
            pl.col(ROLE_CLASS) if ROLE_CLASS in table.columns else pl.lit(None, dtype=pl.String).alias(ROLE_CLASS),
            pl.col("score").cast(pl.Float64),
            (pl.col("status") == "member").alias("member"),
        )
        .sort(["score", "symbol"], descending=[True, False])
    )


def capacity_pipeline(
    store: Store, run: Run, *, ledger_of: Callable[[pl.DataFrame, date], pl.DataFrame] | None = None
) -> tuple[pl.DataFrame, int]:
    """The capacity ledger of the run's universe on its as-of date, summed by stage and region.

    Each project counts once, at the company's stake (``factors.ledger.capacity_ledger``, the ledger the
    localization premium reads): ``ndpr_tpa`` is stake-weighted NdPr-oxide-equivalent tonnes a year, ``risked_tpa``
    the same after the ledger's stage, timing, status and confidence discounts. A project whose tonnage was never
    stated is not summed as zero: it is counted and returned beside the frame.
    """
    ledger = (ledger_of or _ledger)(store_events(store, run), run.as_of)
    regions = run.table.select("symbol", "region") if "region" in run.table.columns else None
    schema = {
        "stage": pl.String,
        "region": pl.String,
        "projects": pl.UInt32,
        "ndpr_tpa": pl.Float64,
        "risked_tpa": pl.Float64,
    }
    if ledger.height == 0 or regions is None:
        return pl.DataFrame(schema=schema), 0
    ledger = ledger.join(regions, on="symbol", how="inner")
    unstated = ledger.filter(pl.col("capacity_tpa").is_null()).height
    out = (
        ledger.filter(pl.col("capacity_tpa").is_not_null())
        .group_by("stage", "region")
        .agg(
            pl.len().alias("projects"),
            pl.col("ndpr_tpa").sort().sum().alias("ndpr_tpa"),
            pl.col("risked_tpa").sort().sum().alias("risked_tpa"),
        )
        .sort(["stage", "region"])
        .cast(schema)  # type: ignore[arg-type]
    )
    return out, unstated


def store_events(store: Store, run: Run) -> pl.DataFrame:
    """The company events known on the run's as-of date, cut exactly as scoring cuts them."""
    from factors.inputs import FactorInputs, build_context

    inputs = FactorInputs(companies=store.companies(as_of=run.as_of), events=store.rows_as_of("events", run.as_of))
    return build_context(inputs, run.as_of).events


def _ledger(events: pl.DataFrame, as_of: date) -> pl.DataFrame:
    from factors.ledger import capacity_ledger
    from factors.registry import get_factor

    return capacity_ledger(events, as_of, get_factor("localization_premium").params)


def dilution_map(run: Run) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Cash runway (years) against one-year share growth for every company of the run's universe that has both,
    and the companies missing either (with which one), so a missing runway is listed, never plotted at zero."""
    table = run.table
    for col in (RUNWAY, SHARE_GROWTH):
        if col not in table.columns:
            table = table.with_columns(pl.lit(None, dtype=pl.Float64).alias(col))
    frame = table.select(
        "symbol",
        "name",
        pl.col(ROLE_CLASS) if ROLE_CLASS in table.columns else pl.lit(None, dtype=pl.String).alias(ROLE_CLASS),
        (pl.col("status") == "member").alias("member"),
        pl.col(RUNWAY).cast(pl.Float64).alias("runway_years"),
        pl.col(SHARE_GROWTH).cast(pl.Float64).alias("share_growth_1y"),
    ).with_columns(
        # NaN is no measurement either: it must not be drawn
        pl.col("runway_years").fill_nan(None),
        pl.col("share_growth_1y").fill_nan(None),
    )
    both = pl.col("runway_years").is_not_null() & pl.col("share_growth_1y").is_not_null()
    missing = (
        frame.filter(~both)
        .with_columns(
            pl.concat_str(
                [
                    pl.when(pl.col("runway_years").is_null()).then(pl.lit("cash runway")),
                    pl.when(pl.col("share_growth_1y").is_null()).then(pl.lit("share growth")),
                ],
                separator=" and ",
                ignore_nulls=True,
            ).alias("missing")
        )
        .select("symbol", "name", "member", "missing")
        .sort(["member", "symbol"], descending=[True, False])
    )
    return frame.filter(both).sort("symbol"), missing


def backtest_frames(result: BacktestResult) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The equity curves in long form (a series with no stored value on a date has no row for it) and the IC
    summary of the whole universe by factor and horizon (``mean_ic`` null when it could not be measured)."""
    curve = result.table("curve")
    long = (
        curve.unpivot(
            index="date", on=["portfolio", "universe", "benchmark"], variable_name="series", value_name="equity"
        )
        .filter(pl.col("equity").is_not_null() & pl.col("equity").is_finite())
        .sort(["series", "date"])
    )
    ic = (
        result.table("ic")
        .filter(pl.col("role_class") == "all")
        .select("factor", "horizon", "horizon_days", "mean_ic", "t_stat", "n_dates")
        .with_columns(pl.col("mean_ic").fill_nan(None))
        .sort(["factor", "horizon_days"])
    )
    return long, ic


# -- the whole report ---------------------------------------------------------------------------------------------
def assemble(
    store: Store, ref: str | int | None = None, rules: str | None = None, backtest: str | int | None = None
) -> ReportData:
    """Read every section of the report for one run (``ref``: an id or ``latest`` of ``rules``) and, when
    ``backtest`` is given (an id or ``latest``), one stored backtest.

    A backtest id is checked first, so a mistyped one fails before the slower reads; which backtest ``latest`` is
    depends on the run (``report_backtest``).
    """
    if backtest is not None:
        from screener.backtest.history import resolve_backtest_id

        resolve_backtest_id(store, backtest, parameter="backtest")
    run = resolve_report_run(store, ref, rules)
    result, warnings = report_backtest(store, run, backtest) if backtest is not None else (None, [])
    members = run.rows
    if ROLE_CLASS in run.table.columns:
        members = members.join(run.table.select("symbol", ROLE_CLASS), on="symbol", how="left").sort("rank")
    history, history_runs = run_history(store, run)
    capacity, unstated = capacity_pipeline(store, run)
    dilution, missing = dilution_map(run)
    data = ReportData(
        run=run,
        members=members,
        contributions=contributions_of(members, run.weighted),
        changes=run.changes,
        previous_run_id=run.meta.get("previous_run_id"),
        history=history,
        history_runs=history_runs,
        scores=scores_by_role(run),
        capacity=capacity,
        capacity_unstated=unstated,
        dilution=dilution,
        dilution_missing=missing,
        backtest=result,
        warnings=warnings,
    )
    if result is not None:
        data.curve, data.ic = backtest_frames(result)
    return data
