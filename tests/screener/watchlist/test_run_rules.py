"""``--rules`` on the commands that read stored runs, and a weekly job that finds no eligible company.

Why: after a ``weekly --rules balance-sheet-survivors``, a plain ``watchlist show``, ``diff`` or ``export`` used to
read that rule set's run as "the latest list"; and a weekly run with no member replaced the week's real list.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from screener.cli.app import flag_of
from screener.errors import ArgumentError, ScreenerError
from screener.store import Store
from screener.watchlist.runs import diff_runs, list_runs, load_run, run_weekly, show_run
from tests.builders import company, ensure_factors, score_frame

ensure_factors()

WEEK1 = date(2026, 6, 5)
WEEK2 = date(2026, 6, 12)
WEEK3 = date(2026, 6, 19)


def _rows(lp_b: float = 0.8) -> list[dict]:
    lp = {"A": 0.9, "B": lp_b, "C": 0.7, "D": 0.6, "E": 0.5, "F": 0.4}
    return [company(s, localization_premium=v, dilution_risk=0.5) for s, v in lp.items()]


def _companies(store: Store) -> None:
    syms = ["A", "B", "C", "D", "E", "F"]
    store.upsert(
        "companies",
        pl.DataFrame(
            {
                "symbol": syms,
                "name": [f"{s} Corp" for s in syms],
                "country": ["US"] * 6,
                "currency": ["USD"] * 6,
                "roles": ["processor"] * 6,
                "stage": ["producer"] * 6,
            }
        ),
        provider="file",
    )


@pytest.fixture
def runs_store(db_path: Path) -> dict[str, int]:
    """Two weeks of the default rules, then a later run of balance-sheet-survivors: the newest run overall."""
    with Store(db_path) as store:
        _companies(store)
        d1 = run_weekly(store, "default", WEEK1, scores=score_frame(_rows(), WEEK1)).run_id
        d2 = run_weekly(store, "default", WEEK2, scores=score_frame(_rows(lp_b=0.3), WEEK2)).run_id
        s = run_weekly(store, "balance-sheet-survivors", WEEK3, scores=score_frame(_rows(), WEEK3)).run_id
    return {"d1": d1, "d2": d2, "s": s}


def test_latest_is_the_latest_run_of_the_default_rules_unless_rules_are_named(db_path: Path, runs_store) -> None:
    with Store(db_path) as store:
        assert load_run(store).run_id == runs_store["d2"]  # not the newer balance-sheet-survivors run
        assert load_run(store, "latest", rules="balance-sheet-survivors").run_id == runs_store["s"]
        assert show_run(store, rules="default")[0].run_id == runs_store["d2"]
        d = diff_runs(store)
        assert (d.from_run.run_id, d.to_run.run_id) == (runs_store["d1"], runs_store["d2"])  # type: ignore[union-attr]
        assert diff_runs(store, rules="balance-sheet-survivors").from_run is None  # its first run
        # an explicit id still works, with or without matching rules
        assert load_run(store, runs_store["s"]).rules_name == "balance-sheet-survivors"
        assert load_run(store, runs_store["d1"], rules="default").run_id == runs_store["d1"]
        with pytest.raises(ArgumentError) as contradiction:
            load_run(store, runs_store["s"], rules="default")
        assert contradiction.value.worded(flag_of) == (
            f"--run {runs_store['s']} is a run of the rules 'balance-sheet-survivors', not of --rules 'default'"
        )
        with pytest.raises(ArgumentError) as from_other:
            diff_runs(store, runs_store["d1"], runs_store["s"], rules="default")
        assert from_other.value.worded(flag_of).startswith(f"--to {runs_store['s']} is a run of the rules")
        with pytest.raises(ScreenerError, match="unknown rule set 'nosuch'"):
            load_run(store, rules="nosuch")
        with pytest.raises(ArgumentError) as none_yet:
            load_run(store, rules="mvis-like")
        assert none_yet.value.worded(flag_of).startswith("no runs of the rules 'mvis-like' yet")


def test_only_other_rules_stored_says_to_name_them(store: Store) -> None:
    _companies(store)
    run_weekly(store, "balance-sheet-survivors", WEEK1, scores=score_frame(_rows(), WEEK1))
    with pytest.raises(ArgumentError) as exc:
        load_run(store)
    assert exc.value.worded(flag_of) == (
        "no runs of the rules 'default' yet (stored runs use 'balance-sheet-survivors'): pass --rules NAME, "
        "or run 'screener weekly' with the rules 'default'"
    )


def test_cli_show_diff_and_export_take_rules(invoke, runs_store, tmp_path: Path) -> None:
    shown = invoke("watchlist", "show", "--format", "json")
    assert shown.exit_code == 0 and f"run {runs_store['d2']}: default" in shown.stderr
    shown = invoke("watchlist", "show", "--rules", "balance-sheet-survivors", "--format", "csv")
    assert shown.exit_code == 0 and f"run {runs_store['s']}: balance-sheet-survivors" in shown.stderr
    diffed = invoke("watchlist", "diff", "--format", "csv")
    assert diffed.exit_code == 0
    assert f"from run {runs_store['d1']} ({WEEK1}) to run {runs_store['d2']} ({WEEK2})" in diffed.stderr
    diffed = invoke("watchlist", "diff", "--rules", "balance-sheet-survivors")
    assert diffed.exit_code == 0 and "is the first run of the rules 'balance-sheet-survivors'" in diffed.stderr
    out = tmp_path / "w.csv"
    exported = invoke("export", str(out))
    assert exported.exit_code == 0 and f"(run {runs_store['d2']}: default," in exported.stderr
    exported = invoke("export", str(out), "--rules", "balance-sheet-survivors")
    assert exported.exit_code == 0 and f"(run {runs_store['s']}: balance-sheet-survivors," in exported.stderr
    # an explicit id that contradicts --rules: one line, exit 1
    for args in (
        ("watchlist", "show", "--run", str(runs_store["s"]), "--rules", "default"),
        ("export", str(tmp_path / "x.csv"), "--run", str(runs_store["s"]), "--rules", "default"),
        ("watchlist", "diff", "--to", str(runs_store["s"]), "--rules", "default"),
    ):
        bad = invoke(*args)
        assert bad.exit_code == 1, args
        assert bad.stderr.strip().splitlines() == [
            f"Error: {'--to' if 'diff' in args else '--run'} {runs_store['s']} is a run of the rules "
            "'balance-sheet-survivors', not of --rules 'default'"
        ]
    assert not (tmp_path / "x.csv").exists()


def test_weekly_without_prices_exits_1_and_keeps_the_stored_run(invoke, db_path: Path) -> None:
    with Store(db_path) as store:
        _companies(store)
        kept = run_weekly(store, "default", WEEK1, scores=score_frame(_rows(), WEEK1))
        before = list_runs(store)
        members = store.rows("SELECT run_id, rank, symbol FROM watchlist_members ORDER BY run_id, rank")
    # the same ISO week: a stored empty run would replace the week's real list
    res = invoke("weekly", "--as-of", "2026-06-04")
    assert res.exit_code == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "Error: no company is eligible for the rules 'default' as of 2026-06-04"
    )
    assert lines[0].endswith("; no run stored")
    assert res.stdout == ""
    with Store(db_path) as store:
        assert list_runs(store).equals(before)
        assert store.rows("SELECT run_id, rank, symbol FROM watchlist_members ORDER BY run_id, rank") == members
        assert load_run(store).run_id == kept.run_id


def test_weekly_with_no_eligible_company_stores_nothing(store: Store, tmp_path: Path) -> None:
    _companies(store)
    p = tmp_path / "strict.toml"
    p.write_text('name = "strict"\n[weights]\ndilution_risk = 1\n[gates]\nnever = "dilution_risk_pct > 2"\n')
    with pytest.raises(ScreenerError) as exc:
        run_weekly(store, p, WEEK1, scores=score_frame(_rows(), WEEK1))
    assert str(exc.value).startswith(
        "no company is eligible for the rules 'strict' as of 2026-06-05 (6 companies of 6: "
    )
    assert list_runs(store).height == 0
