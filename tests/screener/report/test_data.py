"""The report's data assembly, read from a real store: each section against the numbers the store was given."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from screener.cli.app import flag_of
from screener.errors import ArgumentError, ScreenerError
from screener.report.data import assemble, contributions_of, dilution_map, resolve_report_run, run_history
from screener.watchlist.runs import load_run
from tests.screener.report._store import WEEKS, built


@pytest.fixture
def ids(store, tmp_path: Path, store_template) -> dict[str, int]:
    return built(store, tmp_path, store_template)


def test_latest_is_the_latest_run_of_the_rule_set_not_of_the_store(store, ids) -> None:
    assert store.latest_run_id() == ids["other"]  # the newest run of the store is another rule set's
    assert resolve_report_run(store, "latest", "wk").run_id == ids["w2"]
    assert resolve_report_run(store, None, "other").run_id == ids["other"]
    assert resolve_report_run(store, str(ids["w0"]), None).run_id == ids["w0"]


def test_a_bad_run_is_refused_with_its_flag(store, ids) -> None:
    with pytest.raises(ScreenerError, match="no watchlist run 99"):
        resolve_report_run(store, "99", None)
    with pytest.raises(ArgumentError) as bad:
        resolve_report_run(store, "abc", None)
    assert bad.value.worded(flag_of).startswith("--run must be a run id")
    with pytest.raises(ArgumentError) as mismatch:
        resolve_report_run(store, str(ids["w1"]), "other")
    assert mismatch.value.worded(flag_of) == (f"--run {ids['w1']} is a run of the rules 'wk', not of --rules 'other'")
    with pytest.raises(ScreenerError, match="unknown rule set 'nothing'"):
        resolve_report_run(store, "latest", "nothing")


def test_contributions_add_up_to_each_members_score(store, ids) -> None:
    data = assemble(store, None, "wk")
    members = data.members
    assert members["symbol"].to_list() == ["A", "D", "B"]
    assert data.contributions.height == 3 * 3  # members x weighted factors
    sums = dict(data.contributions.group_by("symbol").agg(pl.col("contrib").sum()).iter_rows())
    for symbol, score in members.select("symbol", "score").iter_rows():
        assert sums[symbol] == pytest.approx(score)
    assert data.contributions.filter(pl.col("symbol") == "A")["factor"].to_list() == [
        "localization_premium",
        "dilution_risk",
        "balance_sheet",
    ]


def test_a_contribution_the_run_lacks_stays_missing() -> None:
    members = pl.DataFrame(
        {"rank": [1, 2], "symbol": ["A", "B"], "contrib.x": [0.4, None], "contrib.y": [0.1, 0.2]},
        schema_overrides={"contrib.x": pl.Float64},
    )
    long = contributions_of(members, ["x", "y", "not_stored"])
    assert long.filter(pl.col("symbol") == "B").select("factor", "contrib").rows() == [("x", None), ("y", 0.2)]


def test_week_over_week_changes_carry_their_reasons(store, ids) -> None:
    data = assemble(store, str(ids["w1"]), None)
    assert data.previous_run_id == ids["w0"]
    changes = {r["symbol"]: r for r in data.changes.iter_rows(named=True)}
    assert changes["D"]["change"] == "entered"
    assert changes["C"]["change"] == "exited"
    assert "localization_premium" in changes["D"]["text"]


def test_rank_history_leaves_a_gap_where_a_member_was_out(store, ids) -> None:
    run = load_run(store, ids["w2"])
    history, runs = run_history(store, run)
    assert runs["run_id"].to_list() == [ids["w0"], ids["w1"], ids["w2"]]  # the other rule set's run is not here
    d = history.filter(pl.col("symbol") == "D").sort("as_of")
    assert d["rank"].to_list() == [None, 2, 2]  # not a member in week 0: missing, not rank 0
    two, runs2 = run_history(store, run, most=2)
    assert runs2["as_of"].to_list() == [WEEKS[1], WEEKS[2]]
    assert two.height == 2 * 3


def test_the_history_ends_at_the_run_shown(store, ids) -> None:
    history, runs = run_history(store, load_run(store, ids["w1"]))
    assert runs["run_id"].to_list() == [ids["w0"], ids["w1"]]
    assert set(history["symbol"]) == {"A", "B", "D"}


def test_score_distribution_uses_the_role_class_column(store, ids) -> None:
    data = assemble(store, None, "wk")
    classes = dict(data.scores.select("symbol", "role_class").iter_rows())
    assert classes == {"A": "enabler", "B": "enabler", "C": "pure_miner", "D": "integrated", "E": "downstream_user"}
    assert dict(data.scores.select("symbol", "member").iter_rows())["C"] is False


def test_capacity_pipeline_sums_the_ledger_by_stage_and_region(store, ids) -> None:
    data = assemble(store, None, "wk")
    cap = {(r["stage"], r["region"]): r for r in data.capacity.iter_rows(named=True)}
    assert set(cap) == {("production", "north_america"), ("funded", "japan")}
    assert cap[("production", "north_america")]["ndpr_tpa"] == pytest.approx(1000.0)
    assert cap[("production", "north_america")]["risked_tpa"] == pytest.approx(1000.0)  # producing: no discount
    assert cap[("funded", "japan")]["ndpr_tpa"] == pytest.approx(200.0)  # 400 t at a half stake
    assert 0 < cap[("funded", "japan")]["risked_tpa"] < 200.0
    # D's project has no stated tonnage: counted as unstated, not summed as zero tonnes of "announced"
    assert data.capacity_unstated == 1
    assert ("announced", "north_america") not in cap


def test_a_missing_runway_is_listed_as_missing_never_plotted_at_zero(store, ids) -> None:
    data = assemble(store, None, "wk")
    plotted = {r["symbol"]: r for r in data.dilution.iter_rows(named=True)}
    assert set(plotted) == {"A", "B", "D"}
    assert (plotted["D"]["runway_years"], plotted["D"]["share_growth_1y"]) == pytest.approx((4.0, 0.2))
    missing = dict(data.dilution_missing.select("symbol", "missing").iter_rows())
    assert missing == {"C": "cash runway", "E": "share growth"}
    assert not data.dilution.filter(pl.col("runway_years") == 0).height


def test_nan_is_missing_too(store, ids) -> None:
    run = load_run(store, ids["w2"])
    run.table = run.table.with_columns(
        pl.when(pl.col("symbol") == "A")
        .then(float("nan"))
        .otherwise(pl.col("dilution_risk.cash_runway_years"))
        .alias("dilution_risk.cash_runway_years")
    )
    plotted, missing = dilution_map(run)
    assert "A" not in plotted["symbol"].to_list()
    assert dict(missing.select("symbol", "missing").iter_rows())["A"] == "cash runway"


def test_backtest_sections(store, ids) -> None:
    data = assemble(store, None, "wk", backtest=str(ids["bt"]))
    assert data.backtest is not None and data.backtest.backtest_id == ids["bt"]
    assert set(data.curve["series"]) == {"portfolio", "universe", "benchmark"}
    assert data.curve.filter(pl.col("series") == "portfolio").height == 30
    assert data.ic.height == 3 * 3  # the whole universe only: factors x horizons
    assert set(data.ic["factor"]) == {"localization_premium", "dilution_risk", "balance_sheet"}
    with pytest.raises(ScreenerError, match="no stored backtest 42"):
        assemble(store, None, "wk", backtest="42")


def test_a_benchmark_without_prices_has_no_points(store, tmp_path: Path) -> None:
    from screener.report.data import backtest_frames
    from tests.builders import backtest_result

    result = backtest_result()
    curve = result.tables["curve"].with_columns(pl.lit(None, dtype=pl.Float64).alias("benchmark"))
    result.tables["curve"] = curve
    long, _ = backtest_frames(result)
    assert set(long["series"]) == {"portfolio", "universe"}


def test_demo_flag_follows_the_run(store, ids) -> None:
    data = assemble(store, None, "wk")
    assert data.demo is False
    data.run.demo = True
    assert data.demo is True


def test_latest_backtest_is_the_runs_own_rules_ending_by_its_date(store, ids) -> None:
    from screener.backtest.history import save_backtest
    from tests.builders import backtest_result
    from tests.screener.report._store import STORED_AT, of_rules

    # a newer backtest of wk that ends between w1 (2026-05-29) and w2 (2026-06-05), and a newer one of other rules
    late = save_backtest(store, of_rules(backtest_result(demo=False), "wk", date(2026, 6, 1)))
    other = save_backtest(store, backtest_result(demo=False), clock=lambda: STORED_AT)
    assert other > late > ids["bt"]
    w2 = assemble(store, str(ids["w2"]), None, backtest="latest")
    assert (w2.backtest.backtest_id, w2.warnings) == (late, [])
    w1 = assemble(store, str(ids["w1"]), None, backtest="latest")
    assert (w1.backtest.backtest_id, w1.warnings) == (ids["bt"], [])  # the later one ran past w1's date
    # named by id, it is shown as asked, with what is wrong with it said
    named = assemble(store, str(ids["w1"]), None, backtest=str(late))
    assert named.backtest.backtest_id == late
    assert named.warnings == [
        f"backtest {late} runs to 2026-06-01, after the run's as-of date 2026-05-29: it shows what was not known on "
        "that date"
    ]
    assert assemble(store, str(ids["w1"]), None, backtest=str(other)).warnings == [
        f"backtest {other} is of the rules 'default', not of the run's rules 'wk'"
    ]
    assert assemble(store, str(ids["w0"]), None, backtest="latest").backtest.backtest_id == ids["bt"]


def test_filled_inputs_are_named_per_contribution(store, ids) -> None:
    from tests.screener.report._store import FILLED_B

    data = assemble(store, None, "wk")
    filled = data.contributions.filter(pl.col("filled").is_not_null())
    assert filled.select("symbol", "factor", "filled").rows() == [("B", "dilution_risk", FILLED_B)]
    members = pl.DataFrame(
        {
            "rank": [1],
            "symbol": ["X"],
            "contrib.dilution_risk": [0.1],
            "contrib.balance_sheet": [0.2],
            "flags": [["demo", "worst:balance_sheet.net_debt_to_equity", "neutral:dilution_risk.x", "stale"]],
        }
    )
    long = contributions_of(members, ["dilution_risk", "balance_sheet"])
    assert long.select("factor", "filled").rows() == [
        ("dilution_risk", "neutral:dilution_risk.x"),
        ("balance_sheet", "worst:balance_sheet.net_debt_to_equity"),
    ]
