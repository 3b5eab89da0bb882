"""Running a backtest: the date grid, the parameters, and one call that fills a ``BacktestResult``.

Why one entry point: the command, a notebook and a stored rerun must all get the same numbers from the same
arguments, so the defaults (the dates, the rule set's own weights) are resolved here once and written into the
result's ``BacktestParams``. The steps (METHODOLOGY.md, "Backtest statistics", "Running a backtest"):

1. the rebalance dates, from the stored prices unless given;
2. one ``score_panel`` call for every date (each date sees only what was public on it);
3. forward returns from USD closes (``stats.forward_returns``, never filled with a later price);
4. factor evaluation (``screener.backtest.evaluate``) and the portfolio simulation
   (``screener.backtest.simulate``), compared with the eligible universe, a benchmark and the ``mvis-like`` book.

Library code never prints: progress goes to the optional ``progress`` callback.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from screener.backtest import stats
from screener.backtest.evaluate import evaluate_factors, factor_directions
from screener.backtest.result import BacktestParams, BacktestResult
from screener.backtest.simulate import Book, active_share, benchmark_curve, hold, select_books
from screener.errors import NO_COMPANIES, ArgumentError, Option, ScreenerError

if TYPE_CHECKING:
    from screener.store import Store

__all__ = [
    "COMPARISON_RULES",
    "HISTORY_DAYS",
    "horizon_days",
    "parse_every",
    "parse_horizons",
    "parse_weights",
    "rebalance_dates",
    "run_backtest",
]

#: Prices a first rebalance date needs behind it (26 weeks): the price factors' windows need history to mean anything.
HISTORY_DAYS = 182
#: A trading cost of 10,000 basis points is the whole traded amount: anything at or above it is not a cost.
MAX_COST_BPS = 10_000.0
#: The index-style rule set every book is compared with (active share).
COMPARISON_RULES = "mvis-like"
EVERY = {"1w": 7, "2w": 14, "4w": 28}
_HORIZON = re.compile(r"^(\d+)([wd])$")


def parse_every(text: str) -> int:
    """The rebalance step in days: exactly ``1w``, ``2w`` or ``4w``.

    Why so few: the statistics compare consecutive rebalances and the Newey-West lag counts overlapping steps; a
    weekly grid and its multiples keep every date on the same weekday, so no step straddles a weekend differently.
    """
    key = str(text).strip().lower()
    if key not in EVERY:
        raise ArgumentError(Option("every"), f" must be 1w, 2w or 4w, not {text!r}")
    return EVERY[key]


def horizon_days(label: str) -> int:
    """Calendar days of one horizon label: ``Nw`` is ``7N`` days, ``Nd`` is ``N`` days (N at least 1)."""
    match = _HORIZON.match(str(label).strip().lower())
    if not match or int(match.group(1)) < 1:
        raise ArgumentError(
            Option("horizons"), f" must be a comma list of Nw or Nd such as 1w,4w,13w,26w, not {label!r}"
        )
    n, unit = int(match.group(1)), match.group(2)
    return n * 7 if unit == "w" else n


def parse_horizons(text: str | Sequence[str]) -> tuple[str, ...]:
    """Horizon labels from a comma list (or a sequence of labels), sorted by days, each length once.

    Two labels of the same length (``1w`` and ``7d``) would repeat every table; the first given is kept.
    """
    parts = text.split(",") if isinstance(text, str) else [p for item in text for p in str(item).split(",")]
    labels = [p.strip().lower() for p in parts if p.strip()]
    if not labels:
        raise ArgumentError(Option("horizons"), f" must name at least one horizon such as 4w, not {text!r}")
    seen: dict[int, str] = {}
    for label in labels:
        seen.setdefault(horizon_days(label), label)
    return tuple(seen[d] for d in sorted(seen))


def parse_weights(text: str) -> tuple[str, float | None]:
    """``equal`` -> ``("equal", None)``; ``capped:0.08`` -> market-cap weights capped at 8%: ``("market_cap", 0.08)``.

    The cap must lie in (0, 1]; ``capped:1`` is plain market-cap weighting. Without ``weights`` at all a backtest
    uses the rule set's own ``[portfolio]`` (``run_backtest`` resolves that, this parser never sees it).
    """
    key = str(text).strip().lower()
    if key == "equal":
        return "equal", None
    if key.startswith("capped:"):
        try:
            cap = float(key.split(":", 1)[1])
        except ValueError:
            cap = float("nan")
        if 0 < cap <= 1:
            return "market_cap", cap
    raise ArgumentError(
        Option("weights"), f" must be equal or capped:CAP with CAP in (0, 1] (e.g. capped:0.08), not {text!r}"
    )


def _weights_label(weighting: str, max_weight: float | None) -> str:
    """The ``weights`` text that reproduces a weighting: equal weights are within any cap that can be met, and an
    unmeetable cap gives equal weights too, so an equal weighting is always ``equal``."""
    if weighting == "equal":
        return "equal"
    return f"capped:{(max_weight if max_weight is not None else 1.0):g}"


def rebalance_dates(start: date, end: date, every_days: int) -> list[date]:
    """``start``, ``start + every``, ... up to and including ``end`` (empty when ``start`` is after ``end``)."""
    out: list[date] = []
    day = start
    while day <= end:
        out.append(day)
        day += timedelta(days=every_days)
    return out


def _benchmark_known(store: Store, symbol: str) -> None:
    """A benchmark must be a stored company (its closes are stored like any other); a typo names the nearest."""
    if store.has_company(symbol):
        return
    from screener.intake.universe import suggest_symbol

    hint = suggest_symbol(symbol, store.symbol_list())
    raise ArgumentError(
        Option("benchmark"),
        f" {symbol!r} is not a stored company" + (f"; did you mean {hint}?" if hint else ""),
    )


def _metric(value: float | None) -> float | None:
    return None if value is None else float(value)


def run_backtest(
    store: Store,
    *,
    rules: str | Path = "default",
    start: date | None = None,
    end: date | None = None,
    every: str = "1w",
    horizons: Sequence[str] = ("1w", "4w", "13w", "26w"),
    cost_bps: float = 20.0,
    weights: str | None = None,
    benchmark: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> BacktestResult:
    """Score every rebalance date, evaluate every factor and simulate the rule set's book; nothing is stored.

    Defaults: ``start`` is the first stored price date plus 26 weeks (the price factors need that history);
    ``end`` is the last stored price date minus the longest horizon (the latest date whose every horizon can be
    measured). Rebalance dates run from ``start`` every ``every`` up to ``end``. ``weights`` is ``equal``,
    ``capped:CAP`` or None for the rule set's own ``[portfolio]``. ``benchmark`` is a stored symbol whose USD
    closes are compared buy-and-hold (null, with a note, when it has no close at the start).

    Raises ``ArgumentError`` for a bad argument and ``ScreenerError`` when the store cannot give two dates.
    """
    steps = 4

    def say(label: str, done: int) -> None:
        if progress is not None:
            progress(label, done, steps)

    every_days = parse_every(every)
    labels = parse_horizons(horizons)
    days_of = {label: horizon_days(label) for label in labels}
    longest = max(days_of.values())
    if not (0 <= cost_bps < MAX_COST_BPS):  # also refuses NaN
        raise ArgumentError(
            Option("cost_bps"),
            f" must be at least 0 and below {MAX_COST_BPS:,.0f} (100% of the traded amount), not {cost_bps}",
        )
    weight_choice = parse_weights(weights) if weights is not None else None

    from factors.engine import rests_on_demo, score_panel, usd_closes
    from rules.ruleset import load

    rs = load(rules)
    weighting, max_weight = weight_choice if weight_choice is not None else (rs.weighting, rs.max_weight)
    if not store.company_count():
        raise ScreenerError(NO_COMPANIES)
    last_dates = store.last_dates("prices", "symbol")
    if not last_dates:
        raise ScreenerError("the store has no prices: a backtest needs stored closes (refresh or import prices)")
    if benchmark is not None:
        _benchmark_known(store, benchmark)
    last_price = max(last_dates.values())
    closes = usd_closes(store, last_price)
    first_price = closes["date"].min()
    if not isinstance(first_price, date):
        raise ScreenerError("the store has no prices of its companies: a backtest needs stored closes")
    first = start or first_price + timedelta(days=HISTORY_DAYS)
    last = end or last_price - timedelta(days=longest)
    if last > last_price:
        raise ArgumentError(
            Option("end"),
            f" {last.isoformat()} is after the last stored close ({last_price.isoformat()}): "
            "a book cannot be held past the prices",
        )
    if first > last and start is None and end is None:
        raise ScreenerError(
            f"not enough price history for a backtest: the stored prices run from {first_price.isoformat()} to "
            f"{last_price.isoformat()}, and the default dates need 26 weeks of prices before the first "
            f"({first.isoformat()}) and the longest horizon ({labels[-1]}) after the last ({last.isoformat()}); "
            "give a start and an end date, or shorter horizons"
        )
    if first > last:
        start_text = f" {first.isoformat()}" + ("" if start is not None else " (the default)")
        end_text = f" {last.isoformat()}" + ("" if end is not None else " (the default)")
        raise ArgumentError(
            Option("start"),
            f"{start_text} is after ",
            Option("end"),
            f"{end_text}: the stored prices run from "
            f"{first_price.isoformat()} to {last_price.isoformat()}, and a backtest needs 26 weeks of prices before "
            f"its start and its longest horizon ({labels[-1]}) after its end",
        )
    if last < first_price:
        raise ArgumentError(
            Option("end"),
            f" {last.isoformat()} is before the first stored close ({first_price.isoformat()}): "
            "there is nothing to score or hold",
        )
    dates = rebalance_dates(first, last, every_days)
    if len(dates) < 2:
        raise ScreenerError(
            f"only one rebalance date ({dates[0].isoformat()}) between start {first.isoformat()} and end "
            f"{last.isoformat()} every {every}: a backtest needs at least 2; widen the dates or rebalance more often"
        )

    say(f"scoring {len(dates)} dates", 0)
    panel = score_panel(store, dates)
    demo = rests_on_demo(panel)
    scores = panel.rename({"as_of": "date"})
    returns = stats.forward_returns(closes, dates, days_of)

    directions = factor_directions()
    say(f"evaluating {len(directions)} factors", 1)
    tables = evaluate_factors(
        scores, returns, dates=dates, horizon_days=days_of, step_days=every_days, directions=directions
    )

    say(f"simulating {rs.name}", 2)
    notes: list[str] = []
    book_weights, universe_weights, weight_notes = select_books(
        panel, rs, dates, weighting=weighting, max_weight=max_weight
    )
    book = hold(book_weights, closes, dates, cost_bps=cost_bps)
    universe = hold(universe_weights, closes, dates, cost_bps=cost_bps)
    share: float | None = None
    if rs.name != COMPARISON_RULES:
        say(f"simulating {COMPARISON_RULES}", 3)
        mv = load(COMPARISON_RULES)
        mv_weights, _, _ = select_books(panel, mv, dates, weighting=mv.weighting, max_weight=mv.max_weight)
        share = active_share(book_weights, mv_weights)
        if share is None:
            empty = "this rule set's book" if book_weights.height == 0 else f"the {COMPARISON_RULES} book"
            notes.append(f"active share is not measured: {empty} held nothing on the dates both could be compared")

    bench = benchmark_curve(closes, benchmark, dates) if benchmark is not None else None
    if benchmark is not None and bench is None:
        notes.append(
            f"benchmark {benchmark} has no stored close on or before {dates[0].isoformat()}: its series is empty"
        )
    if benchmark is not None and bench is not None:
        own_closes = closes.filter((pl.col("symbol") == benchmark) & pl.col("close_usd").is_not_null())
        last_close = own_closes["date"].max()
        if isinstance(last_close, date) and (dates[-1] - last_close).days > stats.MAX_STALE_DAYS:
            notes.append(
                f"benchmark {benchmark} has no close after {last_close.isoformat()}: its curve stays at that close "
                "from then on, and its CAGR includes that flat stretch"
            )
    curve = book.curve.select("date", pl.col("value").alias("portfolio")).join(
        universe.curve.select("date", pl.col("value").alias("universe")), on="date", how="left"
    )
    curve = curve.join(
        bench.rename({"value": "benchmark"})
        if bench is not None
        else pl.DataFrame(schema={"date": pl.Date, "benchmark": pl.Float64}),
        on="date",
        how="left",
    ).sort("date")

    per_year = 52.0 / (every_days / 7)
    own = stats.portfolio_metrics(book.curve, periods_per_year=per_year)
    uni = stats.portfolio_metrics(universe.curve, periods_per_year=per_year)
    bench_cagr = stats.portfolio_metrics(bench, periods_per_year=per_year)["cagr"] if bench is not None else None
    trades = book.turnover.filter(pl.col("date").is_in(dates[1:-1]))  # after the first trade-in, within the curve
    both = (
        book.curve.select("date", pl.col("net_return").alias("_p"))
        .join(universe.curve.select("date", pl.col("net_return").alias("_u")), on="date")
        .filter(pl.col("_p").is_not_null() & pl.col("_u").is_not_null())
    )
    portfolio: dict[str, float | None] = {
        "cagr": _metric(own["cagr"]),
        "volatility": _metric(own["volatility"]),
        "sharpe": _metric(own["sharpe"]),
        "max_drawdown": _metric(own["max_drawdown"]),
        "turnover": float(trades["turnover"].mean()) if trades.height else None,  # type: ignore[arg-type]
        "hit_rate": float((both["_p"] > both["_u"]).mean()) if both.height else None,  # type: ignore[arg-type]
        "universe_cagr": _metric(uni["cagr"]),
        "universe_sharpe": _metric(uni["sharpe"]),
        "benchmark_cagr": _metric(bench_cagr),
        "active_share": share,
        "active_share_vs": COMPARISON_RULES,  # type: ignore[dict-item]
        "periods_per_year": per_year,
    }

    if book_weights.height == 0:  # the book never held anything: its figures are not measured, not zero
        for key in ("cagr", "volatility", "sharpe", "max_drawdown", "turnover", "hit_rate"):
            portfolio[key] = None
        notes.append("no company passed the rules on any date: the book's figures are not measured")
    if universe_weights.height == 0:
        portfolio["universe_cagr"] = portfolio["universe_sharpe"] = portfolio["hit_rate"] = None
    notes = _notes(demo, dates, returns, labels, days_of, last_price, book, book_weights, weight_notes) + notes
    tables = {**tables, "curve": curve, "holdings": book.holdings}
    params = BacktestParams(
        rules=_rules_reference(rules),
        start=first,
        end=last,
        every=str(every).strip().lower(),
        horizons=labels,
        cost_bps=float(cost_bps),
        weights=_weights_label(weighting, max_weight),
        benchmark=benchmark,
    )
    return BacktestResult(
        params=params,
        rules_name=rs.name,
        rules_hash=rs.content_hash,
        dates=list(dates),
        tables=tables,
        portfolio=portfolio,
        notes=notes,
        demo=demo,
    )


def _rules_reference(rules: str | Path) -> str:
    """A rule set as it can be loaded again from anywhere: a bundled name as given, a file by its absolute path."""
    text = str(rules)
    candidate = Path(text)
    if candidate.suffix == ".toml" or len(candidate.parts) > 1:
        return str(candidate.resolve())
    return text


def _notes(
    demo: bool,
    dates: Sequence[date],
    returns: pl.DataFrame,
    labels: Sequence[str],
    days_of: dict[str, int],
    last_price: date,
    book: Book,
    holdings: pl.DataFrame,
    weight_notes: Sequence[str],
) -> list[str]:
    """The sentences every output prints: what the numbers rest on and what could not be measured."""
    notes: list[str] = []
    if demo:
        notes.append(
            "demo data: the prices are synthetic with no planted signal, so these ICs are noise "
            "(any |t| of 2 or more is chance)"
        )
        notes.append(
            "demo data: each price walks without drift at its archetype's volatility, so books of more volatile "
            "names (the juniors an equal-weighted universe holds) earn more on average; the book against the "
            "universe says nothing about the thesis either"
        )
    measured = returns.filter(pl.col("fwd_return").is_not_null()).group_by("horizon").agg(n=pl.col("date").n_unique())
    counts = dict(zip(measured["horizon"].to_list(), measured["n"].to_list(), strict=True))
    for label in labels:
        n = int(counts.get(label, 0))
        late = sum(1 for d in dates if (d + timedelta(days=days_of[label])) > last_price)
        early = len(dates) - n - late
        parts = []
        if late:
            parts.append(f"{late} end after the last close")
        if early > 0:
            parts.append(f"{early} have no fresh close to start or end from (before the first close, or stale)")
        reason = "; ".join(parts) or "all measured"
        if n < 2:
            notes.append(
                f"horizon {label}: measurable on {n} of {len(dates)} dates, too few for its statistics ({reason})"
            )
        elif n < len(dates):
            notes.append(f"horizon {label}: measurable on {n} of {len(dates)} dates ({reason})")
    held_dates = set(holdings["date"].to_list())
    empty = [d for d in dates if d not in held_dates]
    if empty:
        notes.append(
            f"no company passed the rules on {len(empty)} date(s) from {empty[0].isoformat()}: the book sat in cash"
        )
    stale = book.stale_valuations
    if stale:
        notes.append(
            f"{stale} holding period(s) valued at a close older than the period end (suspended or delisted names "
            "keep their last close)"
        )
    notes.extend(f"weights: {text}" for text in weight_notes)
    return notes
