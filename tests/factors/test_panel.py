"""One engine for one date and for many: the panel's rows for a date are that date's single-date score, byte for
byte, and no date reads anything published after it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from factors.engine import compute_panel, compute_scores, load_inputs, score_panel
from factors.inputs import FactorInputs, load_panel_inputs
from screener.store import Store, open_store
from tests.builders import company, daily, events, fx_rows, inputs, quarterly

END = date(2026, 6, 30)
#: Weekly dates across the demo's history plus the days around each tag change below.
DATES = [date(2024, 1, 5) + timedelta(weeks=9 * i) for i in range(14)] + [
    date(2025, 9, 14),
    date(2025, 9, 15),
    date(2026, 1, 31),
    date(2026, 2, 1),
    END,
]


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The bundled universe with three years of demo data to 2026-06-30, and two dated retags in between."""
    from screener.intake.demo import load_demo
    from screener.intake.universe import load_bundled, tag

    path = Path(tmp_path_factory.mktemp("panel")) / "s.duckdb"
    with open_store(path) as store:
        load_bundled(store)
        load_demo(store, end=END)
        tag(store, "LYC.AX", ["recycler"], [], "test: a recycling line", effective=date(2025, 9, 15))
        tag(store, "MP", [], ["magnet_maker"], "test: magnets spun off", effective=date(2026, 2, 1))
        yield store


def test_the_panel_of_many_dates_is_each_dates_single_score_byte_for_byte(demo_store: Store) -> None:
    panel = score_panel(demo_store, DATES)
    assert panel["as_of"].unique().sort().to_list() == sorted(set(DATES))
    for d in sorted(set(DATES)):
        single = compute_scores(load_inputs(demo_store, d), d)
        assert_frame_equal(panel.filter(pl.col("as_of") == d), single, check_exact=True)


def test_a_retag_counts_from_its_effective_day_in_the_panel(demo_store: Store) -> None:
    panel = score_panel(demo_store, [date(2025, 9, 14), date(2025, 9, 15), date(2026, 1, 31), date(2026, 2, 1)])
    roles = {(r["as_of"], r["symbol"]): r["roles"] for r in panel.iter_rows(named=True)}
    assert "recycler" not in roles[(date(2025, 9, 14), "LYC.AX")]
    assert "recycler" in roles[(date(2025, 9, 15), "LYC.AX")]
    assert "magnet_maker" in roles[(date(2026, 1, 31), "MP")]
    assert "magnet_maker" not in roles[(date(2026, 2, 1), "MP")]


def _cut(inp: FactorInputs, day: date) -> FactorInputs:
    """What a store held on ``day``: every dated row after it removed (splits stay: closes already carry them)."""
    return FactorInputs(
        companies=inp.companies.filter(pl.col("as_of") == day) if "as_of" in inp.companies.columns else inp.companies,
        fundamentals=inp.fundamentals.filter(pl.col("period_end") <= day),
        prices=inp.prices.filter(pl.col("date") <= day),
        fx=inp.fx.filter(pl.col("date") <= day),
        events=inp.events.filter(pl.col("date") <= day),
        splits=inp.splits,
        share_history=inp.share_history.filter(pl.col("date") <= day),
    )


def test_no_date_of_the_panel_reads_anything_after_it(demo_store: Store) -> None:
    """Scores of a date from the whole history equal scores from the history cut at that date."""
    days = [date(2024, 8, 2), date(2025, 5, 16), date(2026, 3, 6)]
    full = load_panel_inputs(demo_store, days)
    panel = compute_panel(full, days)
    for d in days:
        assert_frame_equal(panel.filter(pl.col("as_of") == d), compute_panel(_cut(full, d), [d]), check_exact=True)


def _trap(cash_in_trap_quarter: float, crash: float) -> FactorInputs:
    """Two companies; A's quarter ending 2026-03-31 is only public from 2026-05-30 (60-day lag), and a price move
    after the scored date. Twins differ only in that quarter's numbers and in the move."""
    quarters = quarter_ends_to(date(2026, 3, 31))
    cash = [100.0] * (len(quarters) - 1) + [cash_in_trap_quarter]
    shares = [10.0] * (len(quarters) - 1) + [10.0 * (1 + cash_in_trap_quarter / 1e6)]
    fund = [
        quarterly(
            s,
            len(quarters),
            last=date(2026, 3, 31),
            revenue=50.0,
            operating_cash_flow=5.0,
            capital_expenditure=2.0,
            cash=cash if s == "A" else 100.0,
            total_debt=10.0,
            total_equity=80.0,
            shares_outstanding=shares if s == "A" else 10.0,
        )
        for s in ("A", "B")
    ]
    prices = [
        daily("A", 500, end=date(2026, 6, 30), close=lambda i: 10.0 if i < 470 else 10.0 * crash),
        daily("B", 500, end=date(2026, 6, 30), close=lambda i: 10.0 + (i % 7) * 0.1),
    ]
    ev = events({"symbol": "A", "date": date(2026, 5, 20), "kind": "equity_raise", "amount_usd": 1e6})
    return inputs([company("A"), company("B")], fundamentals=fund, prices=prices, events_=ev, fx=[fx_rows("EUR", 1.1)])


def quarter_ends_to(last: date, n: int = 12) -> list[date]:
    from tests.builders import quarter_ends

    return quarter_ends(n, last)


def test_a_look_ahead_trap_is_never_reached() -> None:
    """A quarter published after the date (and a price move and an equity raise after it) that would foretell the
    next move: the scores of the date are identical whatever the trap holds; once public, the trap shows."""
    day = date(2026, 5, 15)  # the 2026-03-31 quarter is public from 2026-05-30; the crash is from 2026-06-01
    calm, trapped = _trap(100.0, 1.0), _trap(1e9, 0.1)
    dates = [day, date(2026, 6, 29)]
    a, b = compute_panel(calm, dates), compute_panel(trapped, dates)
    assert_frame_equal(a.filter(pl.col("as_of") == day), b.filter(pl.col("as_of") == day), check_exact=True)
    later_a = a.filter(pl.col("as_of") == dates[1])
    later_b = b.filter(pl.col("as_of") == dates[1])
    assert later_a["cash_usd"].to_list() != later_b["cash_usd"].to_list()
    assert later_a["pullback.drawdown_52w"].to_list() != later_b["pullback.drawdown_52w"].to_list()
    early = a.filter(pl.col("as_of") == day)
    assert early.filter(pl.col("symbol") == "A")["dilution_risk.equity_raises_12m"].item() == 0.0
    assert later_a.filter(pl.col("symbol") == "A")["dilution_risk.equity_raises_12m"].item() == 1.0


def test_a_listing_enters_and_leaves_the_panel_on_its_dates() -> None:
    comps = [
        company("OLD"),
        company("IPO", listed_from=date(2026, 3, 1)),
        company("GONE", delisted_on=date(2026, 4, 1)),
    ]
    prices = [daily(s, 400, end=date(2026, 6, 1)) for s in ("OLD", "IPO", "GONE")]
    panel = compute_panel(inputs(comps, prices=prices), [date(2026, 2, 1), date(2026, 3, 15), date(2026, 5, 1)])
    seen = panel.group_by("as_of").agg(pl.col("symbol").sort()).sort("as_of")["symbol"].to_list()
    assert seen == [["GONE", "OLD"], ["GONE", "IPO", "OLD"], ["IPO", "OLD"]]


def test_a_factor_sees_its_window_per_date_not_the_last_dates() -> None:
    """A 52-week high set before one date's window but inside a later one's: each date measures its own."""
    close = [50.0 if i == 100 else 10.0 for i in range(760)]
    p = daily("A", 760, end=date(2026, 6, 1), close=close)
    peak_day = date(2026, 6, 1) - timedelta(days=659)
    inside, outside = peak_day + timedelta(days=200), peak_day + timedelta(days=400)
    panel = compute_panel(
        inputs([company("A"), company("B")], prices=[p, daily("B", 760, end=date(2026, 6, 1))]), [inside, outside]
    )
    dd = dict(panel.filter(pl.col("symbol") == "A").select("as_of", "pullback.drawdown_52w").iter_rows())
    assert dd[inside] == pytest.approx(0.8)
    assert dd[outside] == pytest.approx(0.0)


def test_screener_backtest_runs_on_the_demo_offline_and_shows_again_byte_for_byte(
    demo_store: Store, tmp_path: Path
) -> None:
    """The real command on the demo (three years of synthetic history): the issue's JSON keys, the demo's notes,
    a curve from 1.0, and ``--show`` printing the stored backtest exactly as the run printed it."""
    import json
    import shutil

    from click.testing import CliRunner

    from screener.cli import cli

    db = tmp_path / "copy.duckdb"
    demo_store.con.execute("CHECKPOINT")
    shutil.copy(demo_store.path, db)
    runner = CliRunner()
    run = runner.invoke(cli, ["--db", str(db), "backtest", "--every", "4w", "--format", "json"], catch_exceptions=False)
    assert run.exit_code == 0, run.stderr
    data = json.loads(run.stdout)
    assert {"ic", "quantiles", "portfolio", "curve"} <= set(data)
    assert {"factor", "horizon", "mean_ic", "t_stat", "ic_ir", "n_dates"} <= set(data["ic"][0])
    assert {"factor", "horizon", "quantile", "mean_return"} <= set(data["quantiles"][0])
    keys = {"cagr", "volatility", "sharpe", "max_drawdown", "turnover", "benchmark_cagr"}
    assert keys <= set(data["portfolio"])
    assert data["curve"][0]["portfolio"] == 1.0 and {"date", "portfolio", "benchmark"} <= set(data["curve"][0])
    assert data["demo"] and any("noise" in n for n in data["notes"])
    again = runner.invoke(cli, ["--db", str(db), "backtest", "--show", "latest", "--format", "json"])
    assert again.exit_code == 0 and again.stdout == run.stdout
