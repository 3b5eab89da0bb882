"""Weekly runs in a real store, ranked from synthetic score frames: storage, idempotence, buffer, attribution."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from _rules_helpers import company, ensure_factors, score_frame

from screener.errors import ScreenerError
from screener.watchlist import diff_runs, iso_week, list_runs, load_run, run_weekly, show_run

ensure_factors()

WEEK1 = date(2026, 6, 5)   # Friday, 2026-W23
WEEK1_MON = date(2026, 6, 1)
WEEK2 = date(2026, 6, 12)  # 2026-W24

RULES = """
name = "wk"
description = "test list"
[weights]
localization_premium = 0.5
dilution_risk = 0.5
[constraints]
top_n = 3
[buffer]
stay_within = 5
[tie_break]
key = "market_cap_usd"
"""


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    p = tmp_path / "wk.toml"
    p.write_text(RULES)
    return p


@pytest.fixture
def wstore(store):
    syms = ["A", "B", "C", "D", "E", "F"]
    store.upsert("companies", pl.DataFrame({
        "symbol": syms, "name": [f"{s} Corp" for s in syms], "country": ["US"] * 6, "currency": ["USD"] * 6,
        "roles": ["processor"] * 6, "stage": ["producer"] * 6}), provider="file")
    return store


def week_rows(dilution: dict[str, float] | None = None, lp: dict[str, float] | None = None) -> list[dict]:
    base_lp = {"A": 0.9, "B": 0.8, "C": 0.7, "D": 0.6, "E": 0.5, "F": 0.4}
    base_lp.update(lp or {})
    dil = dict.fromkeys(base_lp, 0.5)
    dil.update(dilution or {})
    return [company(s, localization_premium=base_lp[s], dilution_risk=dil[s]) for s in base_lp]


def test_iso_week() -> None:
    assert iso_week(WEEK1) == "2026-W23"
    assert iso_week(date(2027, 1, 1)) == "2026-W53"


def test_first_run_is_stored_with_its_provenance(wstore, rules_path: Path) -> None:
    res = run_weekly(wstore, rules_path, WEEK1, scores=score_frame(week_rows(), WEEK1))
    assert res.rows["symbol"].to_list() == ["A", "B", "C"]
    assert res.rows["rank"].to_list() == [1, 2, 3]
    assert res.changes.height == 0 and res.previous_run_id is None and not res.replaced
    assert (res.iso_week, res.rules_name, res.as_of) == ("2026-W23", "wk", WEEK1)
    runs = list_runs(wstore)
    assert runs.select("run_id", "iso_week", "rules", "members", "demo").row(0) == (res.run_id, "2026-W23", "wk", 3,
                                                                                     False)
    assert wstore.rows("SELECT rank, symbol FROM watchlist_members WHERE run_id = ? ORDER BY rank",
                       [res.run_id]) == [(1, "A"), (2, "B"), (3, "C")]
    run = load_run(wstore, res.run_id)
    assert run.rows.equals(res.rows)
    assert run.rules_hash == res.rules_hash and len(run.rules_hash) == 16
    assert run.meta["rules_text"] == RULES
    assert run.meta["weighted"] == ["localization_premium", "dilution_risk"]
    assert next(s for s, _ in run.meta["plan"]) == "rule set"
    assert "prices none" in run.data_freshness
    assert set(run.table["status"]) == {"member", "candidate"}
    assert run.table.height == 6


def test_rerun_in_the_same_iso_week_replaces_that_weeks_run(wstore, rules_path: Path) -> None:
    first = run_weekly(wstore, rules_path, WEEK1_MON, scores=score_frame(week_rows(), WEEK1_MON))
    again = run_weekly(wstore, rules_path, WEEK1, scores=score_frame(week_rows(), WEEK1))
    assert again.run_id == first.run_id and again.replaced
    assert again.rows.equals(first.rows)
    assert list_runs(wstore).height == 1
    assert load_run(wstore, "latest").as_of == WEEK1
    assert wstore.scalar("SELECT count(*) FROM watchlist_members") == 3


def test_runs_of_other_rules_in_the_same_week_are_kept_apart(wstore, rules_path: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text(RULES.replace('name = "wk"', 'name = "other"'))
    a = run_weekly(wstore, rules_path, WEEK1, scores=score_frame(week_rows(), WEEK1))
    b = run_weekly(wstore, other, WEEK1, scores=score_frame(week_rows(), WEEK1))
    assert a.run_id != b.run_id
    assert list_runs(wstore).height == 2


def test_buffer_uses_the_previous_runs_members(wstore, rules_path: Path) -> None:
    run_weekly(wstore, rules_path, WEEK1, scores=score_frame(week_rows(), WEEK1))
    # D overtakes C (C falls from rank 3 to 4 = M - 1): the buffer keeps C
    res = run_weekly(wstore, rules_path, WEEK2, scores=score_frame(week_rows(lp={"D": 0.75}), WEEK2))
    assert res.rows["symbol"].to_list() == ["A", "B", "C"]
    assert "kept by the buffer" in res.rows["reason"][2]
    assert res.changes.height == 0


def test_exit_is_attributed_to_the_factor_that_moved_with_the_event_behind_it(wstore, tmp_path: Path) -> None:
    rules_path = tmp_path / "tight.toml"
    rules_path.write_text(RULES.replace("stay_within = 5", "stay_within = 3"))
    first = run_weekly(wstore, rules_path, WEEK1, scores=score_frame(week_rows(), WEEK1))
    wstore.upsert("events", pl.DataFrame({
        "symbol": ["B", "B", "B", "A"], "date": [date(2026, 6, 8), date(2026, 6, 20), date(2026, 6, 1),
                                                 date(2026, 6, 9)],
        "kind": ["equity_raise", "equity_raise", "equity_raise", "capacity"],
        "description": ["placement", "later raise", "earlier raise", "new line"]}), provider="file")
    res = run_weekly(wstore, rules_path, WEEK2, scores=score_frame(week_rows(dilution={"B": 0.99}), WEEK2))
    assert res.previous_run_id == first.run_id
    assert res.rows["symbol"].to_list() == ["A", "C", "D"]
    ch = {r["symbol"]: r for r in res.changes.iter_rows(named=True)}
    assert set(ch) == {"B", "C", "D"}
    b = ch["B"]
    assert b["change"] == "exited" and b["factor"] == "dilution_risk_pct"
    assert b["event"] == "an equity raise (2026-06-08)"
    assert b["text"] == ("exited: dilution_risk_pct 0.50 → 1.00 after an equity raise (2026-06-08) "
                         "(was #2, now rank 4 outside the top 3)")
    assert ch["D"]["change"] == "entered" and ch["D"]["rank_to"] == 3
    assert ch["C"]["change"] == "moved" and (ch["C"]["rank_from"], ch["C"]["rank_to"]) == (3, 2)
    assert res.changes["change"].to_list() == ["entered", "exited", "moved"]


def test_exit_through_a_gate_compares_library_percentiles_and_names_the_gate(wstore, tmp_path: Path) -> None:
    p = tmp_path / "gated.toml"
    p.write_text(RULES + '[gates]\nnot_diluting = "dilution_risk_pct <= 0.8"\n')
    run_weekly(wstore, p, WEEK1, scores=score_frame(week_rows(), WEEK1))
    res = run_weekly(wstore, p, WEEK2, scores=score_frame(week_rows(dilution={"A": 0.95}), WEEK2))
    a = res.changes.filter(pl.col("symbol") == "A").row(0, named=True)
    assert a["change"] == "exited"
    assert a["factor"] == "dilution_risk_pct" and a["pct_from"] == 0.5 and a["pct_to"] == 1.0
    assert a["event"] is None
    assert a["text"] == ("exited: dilution_risk_pct 0.50 → 1.00 (was #1, now failed gate not_diluting "
                         "(dilution_risk_pct <= 0.8))")


def test_move_without_a_factor_change_says_so(wstore, rules_path: Path) -> None:
    run_weekly(wstore, rules_path, WEEK1, scores=score_frame(week_rows(), WEEK1))
    # A leaves the scored universe entirely; everyone else moves up with unchanged values
    rows = [r for r in week_rows() if r["symbol"] != "A"]
    res = run_weekly(wstore, rules_path, WEEK2, scores=score_frame(rows, WEEK2))
    ch = {r["symbol"]: r["text"] for r in res.changes.iter_rows(named=True)}
    assert ch["A"] == "exited: no longer in the scored universe (was #1)"
    assert ch["D"].startswith("entered: ")


def test_show_diff_and_errors(wstore, rules_path: Path) -> None:
    with pytest.raises(ScreenerError, match="no watchlist runs yet"):
        load_run(wstore)
    r1 = run_weekly(wstore, rules_path, WEEK1, scores=score_frame(week_rows(), WEEK1))
    with pytest.raises(ScreenerError, match="no earlier run"):
        diff_runs(wstore)
    r2 = run_weekly(wstore, rules_path, WEEK2, scores=score_frame(week_rows(dilution={"B": 0.99}), WEEK2))
    run, rows = show_run(wstore, "latest")
    assert run.run_id == r2.run_id and rows.equals(r2.rows)
    assert show_run(wstore, str(r1.run_id))[1].equals(r1.rows)
    assert diff_runs(wstore).equals(r2.changes)
    assert diff_runs(wstore, r1.run_id, r2.run_id).equals(r2.changes)
    assert diff_runs(wstore, r2.run_id, r1.run_id).equals(r2.changes)  # order-insensitive by as-of
    with pytest.raises(ScreenerError, match="no watchlist run 99"):
        load_run(wstore, 99)
    with pytest.raises(ScreenerError, match="--run must be a run id or 'latest'"):
        load_run(wstore, "yesterday")


def test_demo_scores_mark_the_run(wstore, rules_path: Path) -> None:
    rows = [dict(r, demo=True) for r in week_rows()]
    res = run_weekly(wstore, rules_path, WEEK1, scores=score_frame(rows, WEEK1))
    assert res.demo and load_run(wstore).demo
    assert res.rows["demo"].all()


def test_weekly_without_companies_is_a_clear_error(store, rules_path: Path) -> None:
    with pytest.raises(ScreenerError, match="no companies yet"):
        run_weekly(store, rules_path, WEEK1, scores=score_frame(week_rows(), WEEK1))
