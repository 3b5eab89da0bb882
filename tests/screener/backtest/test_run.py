"""``run_backtest`` end to end on a small synthetic store: the tables' shapes, the default dates, determinism, the
costs and weights of the simulated book, a delisting that must neither vanish nor borrow a later price, a planted
signal the factor evaluation must find, and the argument errors the command turns into one-line messages."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from screener.backtest.result import TABLES, BacktestResult
from screener.backtest.run import (
    HISTORY_DAYS,
    parse_every,
    parse_horizons,
    parse_weights,
    rebalance_dates,
    run_backtest,
)
from screener.errors import ArgumentError, ScreenerError
from screener.store import Store
from tests.screener.backtest._synthetic import END, build_store

DAYS = 548  # about 18 months of closes
FIRST = END - timedelta(days=DAYS - 1)

#: Seven 4-weekly dates and one horizon: enough to trade, quick to score.
FAST = {"every": "4w", "horizons": ("4w",), "end": date(2025, 11, 28)}

#: A rule set that trades: five names ranked on pullback (which moves every week), no buffer, no gates.
CHURN = """
name = "churn"
description = "test: five names on pullback, no buffer"

[weights]
pullback = 1

[constraints]
top_n = 5

[buffer]
stay_within = 5
"""


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One stored synthetic market (40 companies, six role classes) shared by the module's read-only runs."""
    path = tmp_path_factory.mktemp("bt") / "market.duckdb"
    with Store(path) as store:
        build_store(store, n=40, days=DAYS)
    return path


@pytest.fixture(scope="module")
def default_run(market: Path) -> BacktestResult:
    messages: list[str] = []
    with Store(market) as store:
        result = run_backtest(store, every="4w", progress=lambda label, done, total: messages.append(label))
    assert messages == ["scoring 7 dates", "evaluating 6 factors", "simulating default", "simulating mvis-like"]
    return result


@pytest.fixture(scope="module")
def churn_rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "churn.toml"
    path.write_text(CHURN, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def churn_free(market: Path, churn_rules: Path) -> BacktestResult:
    """The trading rule set without costs, equal weights (its own): the baseline the book tests compare with."""
    with Store(market) as store:
        return run_backtest(store, rules=churn_rules, **FAST, cost_bps=0)


def _final(result: BacktestResult, column: str = "portfolio") -> float:
    return float(result.table("curve").sort("date")[column][-1])


# -- end to end ---------------------------------------------------------------------------------------------------
def test_default_dates_follow_the_stored_prices(default_run: BacktestResult) -> None:
    start = FIRST + timedelta(days=HISTORY_DAYS)
    end = END - timedelta(days=182)
    assert default_run.params.start == start and default_run.params.end == end
    assert default_run.dates == rebalance_dates(start, end, 28)
    assert default_run.dates[0] == start and default_run.dates[-1] <= end
    assert default_run.params.every == "4w" and default_run.params.horizons == ("1w", "4w", "13w", "26w")
    assert default_run.params.weights == "equal"  # the default rule set's own [portfolio]
    assert default_run.rules_name == "default" and len(default_run.rules_hash) > 10
    assert not default_run.demo and default_run.notes == []


def test_tables_have_their_columns_and_the_curve_starts_at_one(default_run: BacktestResult) -> None:
    for name, schema in TABLES.items():
        frame = default_run.tables[name]
        assert frame.columns == list(schema), name
        assert frame.height > 0, name
    curve = default_run.table("curve")
    assert curve["date"].to_list() == default_run.dates
    assert curve.row(0, named=True) == {
        "date": default_run.dates[0],
        "portfolio": 1.0,
        "universe": 1.0,
        "benchmark": None,
    }
    ic = default_run.table("ic")
    assert ic.filter(pl.col("role_class") == "all")["factor"].unique(maintain_order=True).to_list() == [
        "localization_premium",
        "dilution_risk",
        "balance_sheet",
        "commodity_dependence",
        "pullback",
        "liquidity",
    ]
    # every (factor, class) has all four horizons, in order of their days: the IC decay reads without gaps
    per = ic.group_by("factor", "role_class", maintain_order=True).agg(pl.col("horizon"))
    assert all(h == ["1w", "4w", "13w", "26w"] for h in per["horizon"].to_list())
    assert set(ic["role_class"]) >= {"all", "enabler"}
    holdings = default_run.table("holdings")
    sums = holdings.group_by("date").agg(pl.col("weight").sum())
    assert sums["weight"].to_list() == pytest.approx([1.0] * sums.height)
    p = default_run.portfolio
    assert set(p) >= {
        "cagr",
        "volatility",
        "sharpe",
        "max_drawdown",
        "turnover",
        "hit_rate",
        "universe_cagr",
        "universe_sharpe",
        "benchmark_cagr",
        "active_share",
        "active_share_vs",
        "periods_per_year",
    }
    assert p["periods_per_year"] == 13.0 and p["active_share_vs"] == "mvis-like" and p["benchmark_cagr"] is None
    assert p["active_share"] is not None and 0 <= p["active_share"] <= 1


def test_the_same_store_gives_the_same_result(market: Path, default_run: BacktestResult) -> None:
    with Store(market) as store:
        again = run_backtest(store, every="4w")
    assert again.to_blob() == default_run.to_blob()
    back = BacktestResult.from_blob(again.to_blob())
    assert back.portfolio == default_run.portfolio


# -- the book: costs, weights, benchmark --------------------------------------------------------------------------
def test_costs_lower_the_final_equity_when_the_book_trades(
    market: Path, churn_rules: Path, churn_free: BacktestResult
) -> None:
    free = churn_free
    with Store(market) as store:
        dear = run_backtest(store, rules=churn_rules, **FAST, cost_bps=500)
    assert free.portfolio["turnover"] is not None and free.portfolio["turnover"] > 0
    assert free.table("holdings").equals(dear.table("holdings"))  # costs never change who is held
    assert _final(dear) < _final(free)
    assert _final(dear, "universe") < _final(free, "universe")
    assert free.params.cost_bps == 0.0 and dear.params.cost_bps == 500.0


def test_equal_and_capped_market_cap_weights(market: Path, churn_rules: Path, churn_free: BacktestResult) -> None:
    equal = churn_free
    with Store(market) as store:
        capped = run_backtest(store, rules=churn_rules, **FAST, cost_bps=0, weights="capped:0.3")
    assert equal.params.weights == "equal" and capped.params.weights == "capped:0.3"
    e, c = equal.table("holdings"), capped.table("holdings")
    assert e.select("date", "symbol").equals(c.select("date", "symbol"))  # weights never change the members
    assert e["weight"].to_list() == pytest.approx([0.2] * e.height)
    assert max(c["weight"]) <= 0.3 + 1e-12
    spread = c.group_by("date").agg(gap=pl.col("weight").max() - pl.col("weight").min())
    assert spread["gap"].max() > 0.01  # market caps differ, so the weights do
    sums = c.group_by("date").agg(pl.col("weight").sum())["weight"].to_list()
    assert sums == pytest.approx([1.0] * len(sums))


def test_the_rule_sets_own_weights_and_a_stored_benchmark(market: Path) -> None:
    with Store(market) as store:
        result = run_backtest(store, rules="mvis-like", **FAST, benchmark="S003")
    assert result.params.weights == "capped:0.08"  # the file's [portfolio], written so a rerun gets it again
    assert result.portfolio["active_share"] is None  # no comparison with itself
    curve = result.table("curve")
    assert curve["benchmark"][0] == 1.0 and curve["benchmark"].null_count() == 0
    assert result.portfolio["benchmark_cagr"] is not None


def test_notes_say_what_rests_on_demo_data_and_what_could_not_be_measured(
    market: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import factors.engine

    monkeypatch.setattr(factors.engine, "rests_on_demo", lambda scores: True)
    with Store(market) as store:
        result = run_backtest(
            store, start=date(2026, 3, 6), end=date(2026, 5, 1), every="4w", horizons="13w,8w", benchmark="S001"
        )
    assert result.demo and result.params.horizons == ("8w", "13w")
    assert result.notes[0].startswith("demo data: the prices are synthetic with no planted signal")
    assert "horizon 8w: measurable on 2 of 3 dates (1 end after the last close)" in result.notes
    assert "horizon 13w: measurable on 0 of 3 dates, too few for its statistics (3 end after the last close)" in (
        result.notes
    )
    ic = result.table("ic").filter((pl.col("role_class") == "all") & (pl.col("horizon") == "13w"))
    assert ic["n_dates"].to_list() == [0] * ic.height and ic["mean_ic"].null_count() == ic.height


# -- delisting and point in time ----------------------------------------------------------------------------------
def test_a_delisted_holding_counts_until_its_last_close(
    tmp_path: Path, churn_rules: Path, churn_free: BacktestResult
) -> None:
    before = churn_free
    dates = before.dates
    held = before.table("holdings").filter(pl.col("date") == dates[2])["symbol"].to_list()
    gone = held[0]
    last_close = dates[2] + timedelta(days=10)
    with Store(tmp_path / "delisting.duckdb") as store:
        build_store(store, n=40, days=DAYS, stop={gone: last_close})
        after = run_backtest(store, rules=churn_rules, **FAST, cost_bps=0)
    assert after.dates == dates
    h0, h1 = before.table("holdings"), after.table("holdings")
    # point in time: nothing about the delisting is known on or before the last date it still traded
    assert h1.filter(pl.col("date") <= dates[2]).equals(h0.filter(pl.col("date") <= dates[2]))
    assert gone not in h1.filter(pl.col("date") > dates[2])["symbol"].to_list()
    c0, c1 = before.table("curve"), after.table("curve")
    assert c1["portfolio"][:3].to_list() == c0["portfolio"][:3].to_list()
    # the period it stopped in still carries it (valued at its last close, not dropped and not priced later)
    assert c1["portfolio"][3] != c0["portfolio"][3]
    assert any("valued at a close older than the period end" in n for n in after.notes)


# -- a planted signal ---------------------------------------------------------------------------------------------
def test_a_planted_signal_is_found_and_an_unrelated_factor_is_not(tmp_path: Path) -> None:
    with Store(tmp_path / "signal.duckdb") as store:
        build_store(store, n=80, days=420, drift=0.004, noise=0.006, roles=("processor",))
        result = run_backtest(store, every="4w", horizons=("4w",))
    ic = result.table("ic").filter(pl.col("role_class") == "all")
    mean = dict(zip(ic["factor"].to_list(), ic["mean_ic"].to_list(), strict=True))
    assert mean["localization_premium"] > 0.2  # prices drift with stated exposure, an input of this factor
    assert abs(mean["liquidity"]) < 0.15  # volumes were drawn at random: no signal
    spreads = result.table("spreads").filter(
        (pl.col("role_class") == "all") & (pl.col("factor") == "localization_premium")
    )
    assert spreads["spread"][0] > 0
    assert result.portfolio["cagr"] > result.portfolio["universe_cagr"]  # the default rules weight this factor most


# -- argument errors ----------------------------------------------------------------------------------------------
def test_parse_every() -> None:
    assert [parse_every(t) for t in ("1w", "2w", "4w")] == [7, 14, 28]
    for bad in ("3w", "1d", "weekly", ""):
        with pytest.raises(ArgumentError, match="every must be 1w, 2w or 4w"):
            parse_every(bad)


def test_parse_horizons() -> None:
    assert parse_horizons("26w,1w, 4w,13w") == ("1w", "4w", "13w", "26w")
    assert parse_horizons("4w,28d,10d") == ("10d", "4w")
    assert parse_horizons(["4w", "1w"]) == ("1w", "4w")
    for bad in ("4x", "0w", "w", ",", "1w,,abc"):
        with pytest.raises(ArgumentError, match="horizons must"):
            parse_horizons(bad)


def test_parse_weights() -> None:
    assert parse_weights("equal") == ("equal", None)
    assert parse_weights("capped:0.08") == ("market_cap", 0.08)
    assert parse_weights("capped:1") == ("market_cap", 1.0)
    for bad in ("capped:0", "capped:1.5", "capped:-0.1", "capped:x", "capped", "market_cap", "nan"):
        with pytest.raises(ArgumentError, match="weights must be equal or capped:CAP"):
            parse_weights(bad)


def test_refusals_name_the_dates_and_the_argument(market: Path) -> None:
    with Store(market) as store:
        with pytest.raises(ArgumentError, match=r"start 2025-12-01 is after end 2025-11-01") as caught:
            run_backtest(store, start=date(2025, 12, 1), end=date(2025, 11, 1))
        assert caught.value.options == ["start", "end"]
        with pytest.raises(ArgumentError, match=r"end 2026-06-05 is after the last stored close \(2026-05-29\)"):
            run_backtest(store, end=date(2026, 6, 5))
        with pytest.raises(ScreenerError, match=r"only one rebalance date \(2025-06-02\)"):
            run_backtest(store, start=date(2025, 6, 2), end=date(2025, 6, 20), every="4w")
        with pytest.raises(ScreenerError, match=r"not enough price history .* the default dates"):
            run_backtest(store, horizons=("60w",))  # the longest horizon leaves no room after 26 weeks of history
        with pytest.raises(ArgumentError, match=r"start 2025-05-29 \(the default\) is after end 2025-01-01"):
            run_backtest(store, end=date(2025, 1, 1))
        with pytest.raises(ArgumentError, match=r"end 2020-02-01 is before the first stored close"):
            run_backtest(store, start=date(2020, 1, 1), end=date(2020, 2, 1))
        with pytest.raises(ArgumentError, match=r"benchmark 'S03' is not a stored company; did you mean"):
            run_backtest(store, benchmark="S03")
        with pytest.raises(ArgumentError, match="every"):
            run_backtest(store, every="3w")
        with pytest.raises(ArgumentError, match="weights"):
            run_backtest(store, weights="capped:2")
        for cost in (-1, 10_000, float("inf"), float("nan")):
            with pytest.raises(ArgumentError, match="cost_bps"):
                run_backtest(store, cost_bps=cost)


def test_a_store_without_prices_is_refused(store: Store) -> None:
    with pytest.raises(ScreenerError, match="no companies"):
        run_backtest(store)
    store.upsert(
        "companies",
        pl.DataFrame(
            [
                {
                    "symbol": "A",
                    "name": "A Ltd",
                    "country": "US",
                    "currency": "USD",
                    "roles": "processor",
                    "stage": "producer",
                }
            ]
        ),
        provider="file",
    )
    with pytest.raises(ScreenerError, match="no prices"):
        run_backtest(store)


def test_a_book_that_never_holds_has_unmeasured_figures_not_zeros(market: Path, tmp_path: Path) -> None:
    never = tmp_path / "never.toml"
    never.write_text(
        'name = "never"\n[universe]\nmin_market_cap_usd = 1e13\n[weights]\nliquidity = 1\n', encoding="utf-8"
    )
    with Store(market) as store:
        result = run_backtest(store, rules=never, **FAST)
    for key in ("cagr", "volatility", "sharpe", "max_drawdown", "turnover", "hit_rate", "universe_cagr"):
        assert result.portfolio[key] is None, key
    assert "no company passed the rules on any date: the book's figures are not measured" in result.notes
    assert any("this rule set's book held nothing" in n for n in result.notes)
    assert result.params.rules == str(never.resolve())  # a file is stored by its absolute path


def test_a_benchmark_that_stops_trading_says_its_curve_goes_flat(tmp_path: Path) -> None:
    with Store(tmp_path / "bench.duckdb") as store:
        build_store(store, n=12, days=DAYS, stop={"S000": date(2025, 6, 30)})
        result = run_backtest(store, benchmark="S000", **FAST)
    assert any(n.startswith("benchmark S000 has no close after 2025-06-30") for n in result.notes)
    bench = result.table("curve")["benchmark"]
    assert bench.null_count() == 0 and bench[-1] == bench[-2]
