"""Weekly runs in a real store, ranked from synthetic score frames: storage, idempotence, buffer, attribution."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from screener.cli.app import flag_of
from screener.errors import ArgumentError, ScreenerError
from screener.watchlist.runs import diff_runs, iso_week, list_runs, load_run, run_weekly, show_run
from tests.builders import company, ensure_factors, score_frame

ensure_factors()

WEEK1 = date(2026, 6, 5)  # Friday, 2026-W23
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
    assert runs.select("run_id", "iso_week", "rules", "members", "demo").row(0) == (
        res.run_id,
        "2026-W23",
        "wk",
        3,
        False,
    )
    assert wstore.rows("SELECT rank, symbol FROM watchlist_members WHERE run_id = ? ORDER BY rank", [res.run_id]) == [
        (1, "A"),
        (2, "B"),
        (3, "C"),
    ]
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
    assert load_run(wstore, "latest", rules="wk").as_of == WEEK1
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
    wstore.upsert(
        "events",
        pl.DataFrame(
            {
                "symbol": ["B", "B", "B", "A"],
                "date": [date(2026, 6, 8), date(2026, 6, 20), date(2026, 6, 1), date(2026, 6, 9)],
                "kind": ["equity_raise", "equity_raise", "equity_raise", "capacity"],
                "description": ["placement", "later raise", "earlier raise", "new line"],
            }
        ),
        provider="file",
    )
    res = run_weekly(wstore, rules_path, WEEK2, scores=score_frame(week_rows(dilution={"B": 0.99}), WEEK2))
    assert res.previous_run_id == first.run_id
    assert res.rows["symbol"].to_list() == ["A", "C", "D"]
    ch = {r["symbol"]: r for r in res.changes.iter_rows(named=True)}
    assert set(ch) == {"B", "C", "D"}
    b = ch["B"]
    assert b["change"] == "exited" and b["factor"] == "dilution_risk"
    assert b["event"] == "an equity raise (2026-06-08)"
    assert (b["contrib_from"], b["contrib_to"]) == (0.25, 0.0)
    assert b["text"] == (
        "exited: dilution_risk_pct_eligible 0.50 → 1.00 (score -0.250) after an equity raise (2026-06-08) "
        "(was #2, now rank 4 outside the top 3)"
    )
    assert ch["D"]["change"] == "entered" and ch["D"]["rank_to"] == 3
    assert ch["C"]["change"] == "moved" and (ch["C"]["rank_from"], ch["C"]["rank_to"]) == (3, 2)
    # C climbed because its dilution contribution rose (its peer B's risk pushed C's percentile down)
    assert ch["C"]["text"] == "moved: dilution_risk_pct_eligible 0.50 → 0.40 (score +0.050) (#3 → #2)"
    assert res.changes["change"].to_list() == ["entered", "exited", "moved"]


def test_exit_through_a_gate_compares_library_percentiles_and_names_the_gate(wstore, tmp_path: Path) -> None:
    p = tmp_path / "gated.toml"
    p.write_text(RULES + '[gates]\nnot_diluting = "dilution_risk_pct <= 0.8"\n')
    run_weekly(wstore, p, WEEK1, scores=score_frame(week_rows(), WEEK1))
    res = run_weekly(wstore, p, WEEK2, scores=score_frame(week_rows(dilution={"A": 0.95}), WEEK2))
    a = res.changes.filter(pl.col("symbol") == "A").row(0, named=True)
    assert a["change"] == "exited"
    assert a["factor"] == "dilution_risk" and a["pct_from"] == 0.5 and a["pct_to"] == 1.0
    assert a["event"] is None
    assert a["text"] == "exited: failed gate not_diluting (dilution_risk_pct 1.00 > 0.80) (was #1)"


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
        load_run(wstore, rules="wk")
    r1 = run_weekly(wstore, rules_path, WEEK1, scores=score_frame(week_rows(), WEEK1))
    first = diff_runs(wstore, rules="wk")  # the first run has nothing to compare with: information, not an error
    assert first.from_run is None and first.changes.height == 0 and first.to_run.run_id == r1.run_id
    r2 = run_weekly(wstore, rules_path, WEEK2, scores=score_frame(week_rows(dilution={"B": 0.99}), WEEK2))
    run, rows = show_run(wstore, "latest", rules="wk")
    assert run.run_id == r2.run_id and rows.equals(r2.rows)
    assert show_run(wstore, str(r1.run_id))[1].equals(r1.rows)
    assert diff_runs(wstore, rules="wk").changes.equals(r2.changes)
    assert diff_runs(wstore, r1.run_id, r2.run_id).changes.equals(r2.changes)
    assert diff_runs(wstore, r1.run_id, r2.run_id).warnings == []
    with pytest.raises(ArgumentError) as reversed_pair:
        diff_runs(wstore, r2.run_id, r1.run_id)
    assert reversed_pair.value.worded(flag_of).startswith(
        f"--from run {r2.run_id} (as of 2026-06-12) is newer than --to run {r1.run_id} (as of 2026-06-05); swap them"
    )
    with pytest.raises(ScreenerError, match="pick two different runs"):
        diff_runs(wstore, r1.run_id, r1.run_id)
    with pytest.raises(ScreenerError, match="no watchlist run 99"):
        load_run(wstore, 99)
    with pytest.raises(ArgumentError) as bad_ref:
        load_run(wstore, "yesterday")
    assert bad_ref.value.worded(flag_of).startswith("--run must be a run id or 'latest'")
    assert str(bad_ref.value).startswith("ref must be a run id or 'latest'")


def test_demo_scores_mark_the_run(wstore, rules_path: Path) -> None:
    rows = [dict(r, demo=True) for r in week_rows()]
    res = run_weekly(wstore, rules_path, WEEK1, scores=score_frame(rows, WEEK1))
    assert res.demo and load_run(wstore, rules="wk").demo
    assert res.rows["demo"].all()


def test_weekly_without_companies_is_a_clear_error(store, rules_path: Path) -> None:
    with pytest.raises(ScreenerError, match="no companies yet"):
        run_weekly(store, rules_path, WEEK1, scores=score_frame(week_rows(), WEEK1))


# -- attribution blames the weighted factor that moved the score ------------------------------------------------
def test_attribution_blames_the_weighted_factor_not_the_biggest_percentile_move(wstore, tmp_path: Path) -> None:
    p = tmp_path / "tight.toml"
    p.write_text(RULES.replace("stay_within = 5", "stay_within = 3"))
    run_weekly(
        wstore,
        p,
        WEEK1,
        scores=score_frame([dict(r, pullback=1.0 if r["symbol"] == "B" else 0.5) for r in week_rows()], WEEK1),
    )
    # B's pullback (not weighted) collapses; its dilution risk (weighted) rises a little; its localization
    # premium (weighted) improves a little. B falls out: only the weighted factor that fell can be the cause.
    rows = [dict(r, pullback=0.5) for r in week_rows(dilution={"B": 0.9}, lp={"B": 0.85})]
    rows = [dict(r, pullback=0.0) if r["symbol"] == "B" else r for r in rows]
    rows = [dict(r, localization_premium=0.65) if r["symbol"] == "C" else r for r in rows]
    res = run_weekly(wstore, p, WEEK2, scores=score_frame(rows, WEEK2))
    ch = {r["symbol"]: r for r in res.changes.iter_rows(named=True)}
    assert ch["B"]["change"] == "exited"
    assert ch["B"]["factor"] == "dilution_risk"  # not pullback (zero weight) nor the premium (it rose)
    assert ch["B"]["contrib_to"] < ch["B"]["contrib_from"]
    assert ch["B"]["text"].startswith("exited: dilution_risk_pct_eligible 0.50 → 1.00 (score -0.")
    # a climber is attributed to the factor whose contribution rose most
    climbers = [
        r
        for r in ch.values()
        if r["change"] in ("entered", "moved")
        and r["text"].split(":")[1].strip().startswith(("dilution", "localization"))
    ]
    for r in climbers:
        assert r["contrib_to"] > r["contrib_from"], r["text"]


def test_exit_through_a_universe_filter_says_which_and_with_what(wstore, tmp_path: Path) -> None:
    p = tmp_path / "liq.toml"
    p.write_text(
        RULES.replace("stay_within = 5", "stay_within = 3")
        + '[universe]\nmin_liquidity_usd = 1_000_000\n[gates]\ntradeable = "liquidity_pct >= 0.15"\n'
    )
    base = [dict(r, liquidity=20 - i, **{"liquidity.median_traded_value_usd": 5e6}) for i, r in enumerate(week_rows())]
    run_weekly(wstore, p, WEEK1, scores=score_frame(base, WEEK1))
    after = [dict(r) for r in base]
    after[0]["liquidity.median_traded_value_usd"] = None  # A: no liquidity data any more
    after[1]["liquidity"] = 0.0  # B: least liquid of all: fails the gate
    res = run_weekly(wstore, p, WEEK2, scores=score_frame(after, WEEK2))
    ch = {r["symbol"]: r for r in res.changes.iter_rows(named=True)}
    assert ch["A"]["text"] == "exited: no liquidity data (was #1)"
    assert ch["A"]["factor"] == "liquidity"
    assert ch["B"]["text"] == "exited: failed gate tradeable (liquidity_pct 0.00 < 0.15) (was #2)"
    # back in the next week: the entry says what kept it out
    res3 = run_weekly(wstore, p, date(2026, 6, 19), scores=score_frame(base, date(2026, 6, 19)))
    ch3 = {r["symbol"]: r["text"] for r in res3.changes.iter_rows(named=True)}
    assert ch3["A"] == "entered: was out last run: no liquidity data (now #1)"


def test_diff_across_rule_sets_warns_and_latest_is_the_latest_as_of(wstore, rules_path: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text(RULES.replace('name = "wk"', 'name = "other"'))
    a = run_weekly(wstore, rules_path, WEEK2, scores=score_frame(week_rows(), WEEK2))
    b = run_weekly(wstore, other, WEEK1, scores=score_frame(week_rows(), WEEK1))  # written later, back-dated
    back = run_weekly(wstore, rules_path, WEEK1, scores=score_frame(week_rows(), WEEK1))  # written later, back-dated
    assert back.run_id > a.run_id
    # latest = latest as-of of the rule set, not the most recently written
    assert load_run(wstore, rules="wk").run_id == a.run_id
    assert load_run(wstore, rules="other").run_id == b.run_id
    d = diff_runs(wstore, b.run_id, a.run_id)
    assert d.warnings and "used rules 'other'" in d.warnings[0] and "'wk'" in d.warnings[0]
    changed = tmp_path / "wk2.toml"
    changed.write_text(RULES + "\n# edited\n")
    c = run_weekly(wstore, changed, date(2026, 6, 19), scores=score_frame(week_rows(), date(2026, 6, 19)))
    assert "changed between run" in diff_runs(wstore, a.run_id, c.run_id).warnings[0]
    # same as-of date: the newer run id is the latest
    e = run_weekly(wstore, other, date(2026, 6, 19), scores=score_frame(week_rows(), date(2026, 6, 19)))
    assert load_run(wstore, rules="other").run_id == e.run_id
    assert load_run(wstore, rules="wk").run_id == c.run_id


def test_data_freshness_counts_statements_only_once_public(wstore, rules_path: Path) -> None:
    from factors.inputs import SETTINGS

    lag = SETTINGS["reporting_lag_days"]["Q"]
    public = date(2026, 3, 31)  # more than the lag before WEEK1
    fresh = date(2026, 5, 31)  # a quarter that ended days before WEEK1: not reported yet
    assert (WEEK1 - public).days > lag > (WEEK1 - fresh).days
    wstore.upsert(
        "fundamentals",
        pl.DataFrame(
            {
                "symbol": ["A", "A", "B"],
                "period_end": [public, fresh, date(2025, 12, 31)],
                "period": ["Q", "Q", "FY"],
                "currency": ["USD"] * 3,
                "revenue": [1.0, 2.0, 3.0],
            }
        ),
        provider="file",
    )
    res = run_weekly(wstore, rules_path, WEEK1, scores=score_frame(week_rows(), WEEK1))
    assert "fundamentals 2026-03-31" in res.data_freshness


def test_data_freshness_counts_half_years_after_their_own_lag(wstore, rules_path: Path) -> None:
    from factors.inputs import reporting_lags

    lag = reporting_lags()
    public = date(2026, 2, 28)  # a half year more than its lag before WEEK1
    pending = date(2026, 3, 31)  # past a quarter's lag, inside a half year's
    assert (WEEK1 - public).days > lag["H"] > (WEEK1 - pending).days > lag["Q"]
    wstore.upsert(
        "fundamentals",
        pl.DataFrame(
            {
                "symbol": ["A", "B", "C"],
                "period_end": [public, pending, date(2025, 12, 31)],
                "period": ["H", "H", "Q"],
                "currency": ["USD"] * 3,
                "revenue": [1.0, 2.0, 3.0],
            }
        ),
        provider="file",
    )
    res = run_weekly(wstore, rules_path, WEEK1, scores=score_frame(week_rows(), WEEK1))
    assert "fundamentals 2026-02-28" in res.data_freshness


def test_a_diff_names_the_run_argument_it_could_not_read(wstore, rules_path: Path) -> None:
    # each run argument is named by its own parameter, so the command line names the flag the user typed
    run_weekly(wstore, rules_path, WEEK1, scores=score_frame(week_rows(), WEEK1))
    with pytest.raises(ArgumentError) as bad_from:
        diff_runs(wstore, "yesterday", rules="wk")
    assert bad_from.value.options == ["from_ref"]
    assert bad_from.value.worded(flag_of).startswith("--from must be a run id or 'latest', got 'yesterday'")
    with pytest.raises(ArgumentError) as bad_to:
        diff_runs(wstore, None, "later", rules="wk")
    assert bad_to.value.worded(flag_of).startswith("--to must be a run id or 'latest', got 'later'")


def test_a_run_stored_before_the_eligible_percentile_had_its_name_reads_back_under_it(wstore, tmp_path: Path) -> None:
    """A run written the old way (its change texts name the eligible percentile ``F_pct``) reads back with rows
    and texts that name it ``F_pct_eligible``; a gate's text, which reads the all-scored ``F_pct``, is kept."""
    from screener.watchlist.runs import _to_blob

    rules_path = tmp_path / "tight.toml"
    rules_path.write_text(RULES.replace("stay_within = 5", "stay_within = 3"))
    run_weekly(wstore, rules_path, WEEK1, scores=score_frame(week_rows(), WEEK1))
    res = run_weekly(wstore, rules_path, WEEK2, scores=score_frame(week_rows(dilution={"B": 0.99}), WEEK2))
    new = load_run(wstore, res.run_id)
    # the same run as the code before stored it: the whole table, and texts naming the eligible percentile F_pct
    gate = {
        "change": "exited",
        "symbol": "Z",
        "name": "Z Corp",
        "factor": "liquidity",
        "text": "exited: failed gate tradeable (liquidity_pct 0.12 < 0.15) (was #4)",
    }
    old_changes = pl.concat(
        [
            new.changes.with_columns(pl.col("text").str.replace("dilution_risk_pct_eligible ", "dilution_risk_pct ")),
            pl.DataFrame([gate]),
        ],
        how="diagonal_relaxed",
    )
    old_texts = dict(zip(old_changes["symbol"], old_changes["text"], strict=True))
    assert old_texts["B"].startswith("exited: dilution_risk_pct 0.50 → 1.00")
    wstore.save_run(
        as_of=new.as_of,
        week=new.iso_week,
        rules_name=new.rules_name,
        rules_hash=new.rules_hash,
        created_at=new.created_at,
        data_freshness=new.data_freshness,
        demo=new.demo,
        payload=_to_blob(
            new.table.with_columns(pl.col("reason").str.replace_all(" (eligible pct ", " (pct ", literal=True)),
            new.meta,
        ),
        changes=_to_blob(old_changes),
        members=new.rows.select("rank", "symbol", "score"),
    )
    back = load_run(wstore, res.run_id)
    texts = dict(zip(back.changes["symbol"], back.changes["text"], strict=True))
    assert texts["B"] == old_texts["B"].replace("dilution_risk_pct ", "dilution_risk_pct_eligible ")
    assert texts["B"] == dict(zip(new.changes["symbol"], new.changes["text"], strict=True))["B"]
    assert texts["C"].startswith("moved: dilution_risk_pct_eligible ")
    assert texts["Z"] == gate["text"]  # a gate reads the all-scored percentile under its own name
    rows = back.rows
    assert "dilution_risk_pct" not in rows.columns and "localization_premium_pct" not in rows.columns
    members = back.table.filter(pl.col("status") == "member").sort("rank")
    assert rows["dilution_risk_pct_eligible"].to_list() == members["dilution_risk_pct_eligible"].to_list()
    _, shown = show_run(wstore, res.run_id)
    assert shown.columns == rows.columns
    # its reasons cite the eligible percentile as the reasons written now do
    assert rows["reason"].to_list() == new.rows["reason"].to_list()
    assert any("(eligible pct " in r for r in rows["reason"].to_list())
