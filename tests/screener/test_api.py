"""``screener.api``: each call on a real demo store returns the frame its command prints, errors are the library's,
and a demo store says so with a ``DemoDataWarning``."""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from screener import api
from screener.errors import ArgumentError, ScreenerError
from screener.store import Store, open_store

END = date(2026, 6, 5)  # a Friday, 2026-W23
WEEK_BEFORE = END - timedelta(days=7)
BT_START, BT_END = END - timedelta(weeks=20), END - timedelta(weeks=4)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled universe with demo data to END, two weekly runs of the default rules and one stored backtest."""
    from screener.backtest.history import save_backtest
    from screener.backtest.run import run_backtest
    from screener.intake.demo import load_demo
    from screener.intake.universe import load_bundled
    from screener.watchlist.runs import run_weekly

    path = Path(tmp_path_factory.mktemp("api")) / "template.duckdb"
    with open_store(path) as store:
        load_bundled(store)
        load_demo(store, end=END)
        run_weekly(store, "default", WEEK_BEFORE)
        run_weekly(store, "default", END)
        save_backtest(store, run_backtest(store, start=BT_START, end=BT_END, horizons=("1w", "4w")))
    return path


@pytest.fixture
def demo_db(template: Path, db_path: Path) -> Path:
    shutil.copyfile(template, db_path)
    return db_path


@pytest.fixture
def invoke_on():
    """Run ``screener --db PATH ARGS`` in-process (stdout and stderr apart)."""
    from click.testing import CliRunner

    from screener.cli import cli

    def _invoke(path: Path, *args: str):
        return CliRunner().invoke(cli, ["--db", str(path), *args], catch_exceptions=False)

    return _invoke


@pytest.fixture
def quiet() -> Iterator[None]:
    """Demo warnings are asserted where they matter; elsewhere they are expected and not noise."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", api.DemoDataWarning)
        yield


def test_scores_are_the_stored_set_and_say_demo(demo_db: Path) -> None:
    from factors.engine import score_columns, scores_for

    with pytest.warns(api.DemoDataWarning, match="synthetic demo data"):
        got = api.scores(END, db=demo_db)
    assert got.columns == score_columns()
    assert got.height > 50 and got["demo"].all()
    with Store(demo_db, read_only=True) as store:
        assert_frame_equal(got, scores_for(store, END))
    # ISO text works as well as a date
    with pytest.warns(api.DemoDataWarning):
        assert_frame_equal(api.scores("2026-06-05", db=demo_db), got)


def test_screen_filters_sorts_and_ranks(demo_db: Path, quiet: None) -> None:
    from screener.watchlist.screen import run_screen

    got = api.screen("net_cash_usd > 0", sort="dilution_risk", roles=["processor"], as_of=END, db=demo_db)
    with Store(demo_db) as store:
        expected = run_screen(
            store, where="net_cash_usd > 0", sort="dilution_risk", roles=("processor",), as_of=END
        ).rows
    assert_frame_equal(got, expected)
    # without a rule set nothing is ranked by score: the rows are numbered ``row`` in the order shown
    assert got.height > 0 and got["row"].to_list() == list(range(1, got.height + 1))
    assert "rank" not in got.columns
    ranked = api.screen(rules="default", top=5, as_of=END, db=demo_db)
    assert ranked.height == 5 and "score" in ranked.columns and ranked["rank"].to_list() == [1, 2, 3, 4, 5]
    assert api.screen(countries=["JP"], as_of=END, db=demo_db)["country"].unique().to_list() == ["JP"]


@pytest.mark.parametrize("top", [0, -1, -80, 2.5, True])
@pytest.mark.parametrize("rules", [None, "default"])
def test_screen_refuses_a_top_that_is_not_a_cap(demo_db: Path, quiet: None, top: object, rules: str | None) -> None:
    """polars' head(-1) is every row but the last and head(0) none: the CLI refuses both (--top is at least 1),
    and so does the library function the CLI and the api share."""
    with pytest.raises(ArgumentError) as caught:
        api.screen(rules=rules, top=top, as_of=END, db=demo_db)  # type: ignore[arg-type]
    assert caught.value.options == ["top"]
    assert "must be a whole number of at least 1" in str(caught.value)
    assert api.screen(rules=rules, top=1, as_of=END, db=demo_db).height == 1


@pytest.mark.parametrize("rules", [None, "default"])
def test_screen_shows_the_fields_where_reads(demo_db: Path, quiet: None, invoke_on, rules: str | None) -> None:
    """The numbers that selected the rows are columns of the api's frame, as they are of the CLI's rows."""
    where = "dilution_risk < 100 and net_cash_usd > -1e15"
    got = api.screen(where, rules=rules, as_of=END, db=demo_db)
    assert {"dilution_risk", "net_cash_usd"} <= set(got.columns)
    args = ["screen", "--where", where, "--as-of", END.isoformat(), "--format", "json"]
    result = invoke_on(demo_db, *args, *(["--rules", rules] if rules else []))
    assert result.exit_code == 0, result.stderr
    cli_columns = list(json.loads(result.stdout)[0])
    assert got.columns == cli_columns


def test_runs_run_and_diff(demo_db: Path, quiet: None) -> None:
    from screener.watchlist.runs import diff_runs, show_run

    runs = api.runs(db=demo_db)
    assert sorted(runs["as_of"].to_list()) == [WEEK_BEFORE, END]
    assert set(runs["rules"]) == {"default"} and runs["demo"].all()
    first, latest = sorted(runs["run_id"].to_list())
    with Store(demo_db, read_only=True) as store:
        assert_frame_equal(api.run(db=demo_db), show_run(store)[1])
        assert_frame_equal(api.run(first, db=demo_db), show_run(store, first)[1])
        expected = diff_runs(store).changes
    changes = api.diff(db=demo_db)
    assert_frame_equal(changes, expected)
    assert changes.height > 0
    assert_frame_equal(api.diff(first, latest, db=demo_db), changes)
    with pytest.warns(api.DemoDataWarning):
        api.diff(db=demo_db)


def test_run_and_diff_read_the_runs_of_the_rules_given(demo_db: Path, quiet: None) -> None:
    """``rules`` picks the latest run of that rule set, as ``--rules`` does for ``watchlist show`` and ``diff``; a run
    id of another rule set is refused, naming both parameters."""
    from screener.watchlist.runs import diff_runs, run_weekly, show_run

    first, latest = sorted(api.runs(db=demo_db)["run_id"].to_list())
    with Store(demo_db) as store:
        other = run_weekly(store, "mvis-like", END).run_id
    assert other not in (first, latest)
    with Store(demo_db, read_only=True) as store:
        expected = show_run(store, rules="mvis-like")[1]
        assert_frame_equal(api.run(rules="mvis-like", db=demo_db), expected)
        assert_frame_equal(api.run(other, rules="mvis-like", db=demo_db), expected)
        assert_frame_equal(api.run(db=demo_db), show_run(store, latest)[1])  # the default rule set's, still
        assert_frame_equal(api.diff(rules="mvis-like", db=demo_db), diff_runs(store, rules="mvis-like").changes)
    assert api.diff(rules="mvis-like", db=demo_db).height == 0  # its first run: nothing to compare with
    assert api.diff(rules="default", db=demo_db).height > 0  # the default's latest against its previous run
    with pytest.raises(ArgumentError) as wrong_run:
        api.run(latest, rules="mvis-like", db=demo_db)
    assert wrong_run.value.options == ["ref", "rules"]
    with pytest.raises(ArgumentError) as wrong_diff:
        api.diff(first, latest, rules="mvis-like", db=demo_db)
    assert wrong_diff.value.options == ["to_run", "rules"]


def test_errors_name_this_modules_parameters(demo_db: Path, quiet: None) -> None:
    runs = sorted(api.runs(db=demo_db)["run_id"].to_list())
    with pytest.raises(ArgumentError) as caught:
        api.diff(runs[1], runs[0], db=demo_db)
    assert caught.value.options == ["from_run", "to_run", "from_run", "to_run"]
    assert str(caught.value).startswith(f"from_run run {runs[1]}")
    with pytest.raises(ArgumentError) as bad_day:
        api.scores("June 5th", db=demo_db)
    assert bad_day.value.options == ["as_of"]
    with pytest.raises(ArgumentError) as bad_sort:
        api.screen(sort="no_such_column", as_of=END, db=demo_db)
    assert bad_sort.value.options == ["sort"]
    with pytest.raises(ScreenerError, match="no watchlist run 999"):
        api.run(999, db=demo_db)
    with pytest.raises(ScreenerError, match="in the future"):
        api.scores(date.today() + timedelta(days=1), db=demo_db)


def test_a_missing_store_is_refused_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope.duckdb"
    for call in (
        lambda: api.scores(END, db=missing),
        lambda: api.screen(db=missing),
        lambda: api.runs(db=missing),
        lambda: api.diff(db=missing),
        lambda: api.backtests(db=missing),
        lambda: api.backtest(db=missing),
        lambda: api.query("SELECT 1", db=missing),
    ):
        with pytest.raises(ScreenerError, match="no store at"):
            call()
    assert not missing.exists()


def test_the_store_comes_from_screener_db_when_db_is_not_given(
    demo_db: Path, monkeypatch: pytest.MonkeyPatch, quiet: None
) -> None:
    monkeypatch.setenv("SCREENER_DB", str(demo_db))
    assert api.runs().height == 2


def test_backtest_runs_stores_and_reads_back(demo_db: Path) -> None:
    from screener.backtest.result import TABLES

    seen: list[tuple[str, int, int]] = []
    with pytest.warns(api.DemoDataWarning):
        got = api.backtest(
            start=BT_START, end=BT_END, horizons="1w,4w", on_progress=lambda *a: seen.append(a), db=demo_db
        )
    assert set(got) == {"portfolio", *TABLES}
    assert seen, "progress was reported"
    head = got["portfolio"].row(0, named=True)
    assert head["backtest_id"] == 2 and head["rules"] == "default" and head["demo"] is True
    assert head["horizons"] == ["1w", "4w"] and head["start"] <= head["end"]
    assert head["notes"], "the demo note travels with the figures"
    assert got["ic"].height > 0 and set(got["ic"]["horizon"]) == {"1w", "4w"}
    assert got["curve"].height > 0
    listed = api.backtests(db=demo_db)
    assert listed["id"].to_list() == [2, 1]
    with pytest.warns(api.DemoDataWarning):
        again = api.backtest_result(2, db=demo_db)
    for name in TABLES:
        assert_frame_equal(again[name], got[name])
    assert again["portfolio"].drop("created_at").equals(got["portfolio"].drop("created_at"))


def test_backtest_without_saving_stores_nothing(demo_db: Path, quiet: None) -> None:
    got = api.backtest(start=BT_START, end=BT_END, horizons=["1w"], save=False, db=demo_db)
    assert got["portfolio"]["backtest_id"].to_list() == [None]
    assert api.backtests(db=demo_db)["id"].to_list() == [1]
    with pytest.raises(ArgumentError) as caught:
        api.backtest(every="3d", db=demo_db)
    assert caught.value.options == ["every"]


def test_stored_backtest_and_latest(demo_db: Path, quiet: None) -> None:
    latest = api.backtest_result(db=demo_db)
    assert latest["portfolio"]["backtest_id"].to_list() == [1]
    with pytest.raises(ScreenerError, match="no stored backtest 7"):
        api.backtest_result(7, db=demo_db)


def test_query_returns_a_frame_and_refuses_writes(demo_db: Path) -> None:
    got = api.query("SELECT count(*) AS n FROM watchlist_runs", db=demo_db)
    assert got.to_dicts() == [{"n": 2}]
    with pytest.raises(ScreenerError, match="refused"):
        api.query("DELETE FROM watchlist_runs", db=demo_db)
    with pytest.raises(ScreenerError, match="more than 3 rows"):
        api.query("SELECT * FROM companies", max_rows=3, db=demo_db)
    assert api.runs(db=demo_db).height == 2  # the refused DELETE removed nothing


def test_every_public_call_returns_frames(demo_db: Path, quiet: None) -> None:
    frames = [
        api.scores(END, db=demo_db),
        api.screen(as_of=END, db=demo_db),
        api.runs(db=demo_db),
        api.run(db=demo_db),
        api.diff(db=demo_db),
        api.backtests(db=demo_db),
        api.query("SELECT 1 AS x", db=demo_db),
        *api.backtest_result(db=demo_db).values(),
    ]
    assert all(isinstance(f, pl.DataFrame) for f in frames)
