"""The rules engine on synthetic score frames: tilts, buffer, constraints, grouping, missing values, order."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.engine import rank
from rules.explain import plan
from rules.ruleset import load
from screener.errors import ScreenerError
from tests.builders import company, ensure_factors, rules_from, score_frame

ensure_factors()

SIMPLE = """
name = "simple"
[weights]
localization_premium = 1.0
[constraints]
top_n = {n}
[buffer]
stay_within = {m}
[tie_break]
key = "market_cap_usd"
"""


def simple(n: int = 3, m: int = 5, extra: str = "") -> object:
    return rules_from(SIMPLE.format(n=n, m=m) + extra)


def fillers(k: int = 8) -> list[dict]:
    return [
        company(
            f"F{i}",
            roles="processor;miner",
            localization_premium=i / k,
            dilution_risk=(k - i) / k,
            balance_sheet=(i * 3 % k) / k,
            liquidity=1 + i,
            country=["US", "JP", "KR", "AU"][i % 4],
        )
        for i in range(k)
    ]


def ranks(result) -> dict[str, int]:
    t = result.table.filter(pl.col("candidate_rank").is_not_null())
    return dict(zip(t["symbol"], t["candidate_rank"], strict=True))


def members(result) -> list[str]:
    return result.members["symbol"].to_list()


# -- the thesis: enablers first, downstream users last ------------------------------------------------------------
def test_enabler_ranks_above_its_pure_miner_twin_and_a_downstream_user_below_both() -> None:
    twin = {
        "localization_premium": 0.6,
        "dilution_risk": 0.3,
        "balance_sheet": 0.5,
        "commodity_dependence": 0.4,
        "pullback": 0.2,
        "liquidity": 4.5,
        "market_cap_usd": 2e9,
    }
    rows = [
        *fillers(),
        company("ENAB", roles="processor", **twin),
        company("MINE", roles="miner", **twin),
        company("DOWN", roles="downstream_user", segment="ev_auto", **twin),
    ]
    result = rank(score_frame(rows), load("default"))
    r = ranks(result)
    assert r["ENAB"] < r["MINE"] < r["DOWN"]
    t = result.table.filter(pl.col("symbol").is_in(["ENAB", "MINE", "DOWN"])).sort("symbol")
    # the raw percentiles are identical: only the tilt separates them
    assert t["localization_premium_pct_eligible"].n_unique() == 1
    assert dict(zip(t["symbol"], t["tilt"], strict=True)) == {"DOWN": 0.8, "ENAB": 1.15, "MINE": 0.9}


def test_integrated_miner_processor_counts_as_enabler() -> None:
    rows = [company("A", roles="miner;processor"), company("B", roles="miner")]
    t = rank(score_frame(rows), load("default")).table.sort("symbol")
    assert t["tilt_class"].to_list() == ["enabler", "miner"]
    assert t["tilt"].to_list() == [1.15, 0.9]


# -- membership buffer ---------------------------------------------------------------------------------------------
def buffer_rows(week: int) -> list[dict]:
    # week 1: A > B > C > D > E > F.  week 2: C slips from rank 3 to rank 4 (= M - 1) behind newcomer D.
    lp = (
        {"A": 0.9, "B": 0.8, "C": 0.7, "D": 0.6, "E": 0.5, "F": 0.4}
        if week == 1
        else {"A": 0.9, "B": 0.8, "D": 0.75, "C": 0.7, "E": 0.5, "F": 0.4}
    )
    return [company(s, localization_premium=v) for s, v in lp.items()]


def test_buffer_keeps_an_incumbent_that_slipped_from_rank_n_to_m_minus_1() -> None:
    rs = simple(n=3, m=5)
    week1 = rank(score_frame(buffer_rows(1)), rs)
    assert members(week1) == ["A", "B", "C"]
    week2 = rank(score_frame(buffer_rows(2)), rs, incumbents=members(week1))
    assert ranks(week2)["C"] == 4
    assert members(week2) == ["A", "B", "C"]
    row = week2.table.filter(pl.col("symbol") == "C").row(0, named=True)
    assert row["kept_by_buffer"] and row["rank"] == 3
    assert "kept by the buffer (rank 4, stays within 5)" in row["reason"]
    out = week2.table.filter(pl.col("symbol") == "D").row(0, named=True)
    assert out["status"] == "candidate" and out["why_out"] == "rank 3 outside the top 3"
    # without incumbents the newcomer takes the place
    assert members(rank(score_frame(buffer_rows(2)), rs)) == ["A", "B", "D"]


def test_incumbent_beyond_the_buffer_exits() -> None:
    rs = simple(n=2, m=3)
    rows = [
        company("A", localization_premium=0.9),
        company("B", localization_premium=0.8),
        company("C", localization_premium=0.7),
        company("D", localization_premium=0.1),
    ]
    result = rank(score_frame(rows), rs, incumbents=["A", "D"])
    assert members(result) == ["A", "B"]
    assert result.table.filter(pl.col("symbol") == "D")["why_out"].item() == "rank 4 outside the buffer (top 3)"


def test_no_buffer_means_top_n() -> None:
    rs = simple(n=2, m=2)
    result = rank(score_frame(buffer_rows(2)), rs, incumbents=["A", "B", "C"])
    assert members(result) == ["A", "B"]


# -- constraints -----------------------------------------------------------------------------------------------------
def test_max_per_country_skips_and_the_next_fills() -> None:
    rs = rules_from(SIMPLE.format(n=3, m=3).replace("top_n = 3", "top_n = 3\nmax_per_country = 1"))
    rows = [
        company("A", localization_premium=0.9, country="US"),
        company("B", localization_premium=0.8, country="US"),
        company("C", localization_premium=0.7, country="JP"),
        company("D", localization_premium=0.6, country="KR"),
    ]
    result = rank(score_frame(rows), rs)
    assert members(result) == ["A", "C", "D"]
    assert result.table.filter(pl.col("symbol") == "B")["why_out"].item() == "cap: already 1 members from US"


def test_max_per_role_counts_every_role_carried() -> None:
    rs = rules_from(SIMPLE.format(n=3, m=3).replace("top_n = 3", "top_n = 3\nmax_per_role = 1"))
    rows = [
        company("A", localization_premium=0.9, roles="processor;recycler"),
        company("B", localization_premium=0.8, roles="recycler"),
        company("C", localization_premium=0.7, roles="miner"),
        company("D", localization_premium=0.6, roles="magnet_maker"),
    ]
    result = rank(score_frame(rows), rs)
    assert members(result) == ["A", "C", "D"]
    assert "role recycler" in result.table.filter(pl.col("symbol") == "B")["why_out"].item()


# -- universe filter and gates -------------------------------------------------------------------------------------
def test_universe_filter_and_gates_say_why() -> None:
    rs = rules_from(
        SIMPLE.format(n=5, m=5)
        + """
[universe]
exclude_regions = ["china"]
stages = ["producer", "developer"]
min_market_cap_usd = 100_000_000
[gates]
liquid = "liquidity_pct >= 0.2"
runway = "dilution_risk.cash_runway_years >= 1"
"""
    )
    rows = [
        company("OK", liquidity=9, **{"dilution_risk.cash_runway_years": 3}),
        company("CN", country="CN", **{"dilution_risk.cash_runway_years": 3}),
        company("EXP", stage="explorer", **{"dilution_risk.cash_runway_years": 3}),
        company("SMALL", market_cap_usd=5e7, **{"dilution_risk.cash_runway_years": 3}),
        company("NOCAP", market_cap_usd=None, **{"dilution_risk.cash_runway_years": 3}),
        company("ILLIQ", liquidity=0.0, **{"dilution_risk.cash_runway_years": 3}),
        company("NORUN", liquidity=5),
    ]
    t = rank(score_frame(rows), rs).table
    why = dict(zip(t["symbol"], t["why_out"], strict=True))
    status = dict(zip(t["symbol"], t["status"], strict=True))
    assert status["OK"] == "member" and why["OK"] is None
    assert why["CN"] == "in an excluded region (china)"
    assert why["EXP"] == "stage not producer or developer"
    # each out-of-list name is told the check it failed, with its own numbers
    assert why["SMALL"] == "market cap USD 50m below USD 100m"
    assert why["NOCAP"] == "no market cap data"
    assert why["ILLIQ"] == "failed gate liquid (liquidity_pct 0.00 < 0.20)"
    assert why["NORUN"] == "failed gate runway (no dilution_risk data)"  # missing fails
    assert status["CN"] == "filtered" and status["ILLIQ"] == "gated"
    out = dict(zip(t["symbol"], t["out_factor"], strict=True))
    assert out["ILLIQ"] == "liquidity" and out["NORUN"] == "dilution_risk" and out["SMALL"] is None


def test_include_roles_and_countries_or_regions() -> None:
    rs = rules_from(
        SIMPLE.format(n=9, m=9)
        + """
[universe]
include_roles = ["processor", "magnet_maker"]
countries = ["US"]
regions = ["japan"]
"""
    )
    rows = [
        company("A", roles="processor", country="US"),
        company("B", roles="magnet_maker", country="JP"),
        company("C", roles="miner", country="US"),
        company("D", roles="processor", country="KR"),
    ]
    assert sorted(members(rank(score_frame(rows), rs))) == ["A", "B"]


def test_ad_hoc_where_conditions_join_the_universe_filter() -> None:
    from rules.expr import compile_condition, namespace_from_schema

    sf = score_frame(buffer_rows(1))
    cond = compile_condition("localization_premium < 0.85", namespace_from_schema(sf.schema))
    result = rank(sf, simple(n=2, m=2), where=[("--where", cond)])
    assert members(result) == ["B", "C"]
    assert (
        result.table.filter(pl.col("symbol") == "A")["why_out"].item() == "--where: localization_premium 0.90 >= 0.85"
    )


# -- percentiles, direction, missing values --------------------------------------------------------------------------
def test_percentiles_are_recomputed_over_the_eligible_set_and_grouped() -> None:
    base = """
name = "g"
[weights]
balance_sheet = 1
[constraints]
top_n = 4
[percentiles]
group_by = "{g}"
"""
    rows = [
        company("P1", roles="processor", balance_sheet=0.9),
        company("P2", roles="processor", balance_sheet=0.8),
        company("M1", roles="miner", balance_sheet=0.3),
        company("M2", roles="miner", balance_sheet=0.1),
    ]
    whole = rank(score_frame(rows), rules_from(base.format(g="universe"))).table.sort("symbol")
    by_role = rank(score_frame(rows), rules_from(base.format(g="role"))).table.sort("symbol")
    # sorted by symbol: M1 0.3, M2 0.1, P1 0.9, P2 0.8
    assert whole["balance_sheet_pct_eligible"].to_list() == pytest.approx([1 / 3, 0.0, 1.0, 2 / 3])
    assert by_role["balance_sheet_pct_eligible"].to_list() == [1.0, 0.0, 1.0, 0.0]
    assert by_role.filter(pl.col("symbol") == "M1")["score"].item() == 1.0


def test_direction_and_prefer_worse() -> None:
    rows = [company("LOW", dilution_risk=0.1), company("MID", dilution_risk=0.5), company("HIGH", dilution_risk=0.9)]
    averse = rules_from('name = "a"\n[weights]\ndilution_risk = 1\n[constraints]\ntop_n = 3\n')
    seeking = rules_from(
        'name = "s"\n[weights]\ndilution_risk = { weight = 1, prefer = "worse" }\n[constraints]\ntop_n = 3\n'
    )
    assert members(rank(score_frame(rows), averse)) == ["LOW", "MID", "HIGH"]
    assert members(rank(score_frame(rows), seeking)) == ["HIGH", "MID", "LOW"]
    # F_pct_eligible keeps the factor's own direction: the riskiest name has the highest dilution_risk_pct_eligible
    rows_out = rank(score_frame(rows), averse).members
    assert rows_out.filter(pl.col("symbol") == "HIGH")["dilution_risk_pct_eligible"].item() == 1.0
    assert "dilution_risk_pct" not in rows_out.columns  # the all-scored name is never the eligible percentile


@pytest.mark.parametrize(
    ("policy", "expected_score", "status"),
    [("neutral", 0.5, "member"), ("worst", 0.0, "member"), ("exclude", None, "excluded")],
)
def test_missing_factor_policy(policy: str, expected_score: float | None, status: str) -> None:
    rs = rules_from(
        f'name = "m"\n[weights]\nbalance_sheet = 1\n[percentiles]\nmissing = "{policy}"\n[constraints]\ntop_n = 5\n'
    )
    rows = [company("A", balance_sheet=0.9), company("B", balance_sheet=0.1), company("GAP", balance_sheet=None)]
    row = rank(score_frame(rows), rs).table.filter(pl.col("symbol") == "GAP").row(0, named=True)
    assert row["status"] == status
    assert row["score"] == expected_score
    if status == "excluded":
        assert row["why_out"] == "no balance_sheet data" and row["out_factor"] == "balance_sheet"


def test_scores_add_up_and_weights_normalise() -> None:
    rs = rules_from('name = "w"\n[weights]\nbalance_sheet = 3\ndilution_risk = 1\n[constraints]\ntop_n = 9\n')
    t = rank(score_frame(fillers()), rs).members
    total = t["contrib.balance_sheet"] + t["contrib.dilution_risk"]
    assert (total - t["score"]).abs().max() < 1e-12
    assert t["score"].max() <= 1.0


def test_tie_break_uses_the_stated_key_then_symbol() -> None:
    rs = simple(n=4, m=4)  # tie_break market_cap_usd desc
    rows = [
        company("B", market_cap_usd=1e9),
        company("A", market_cap_usd=1e9),
        company("C", market_cap_usd=5e9),
        company("D", market_cap_usd=None),
    ]
    assert members(rank(score_frame(rows), rs)) == ["C", "A", "B", "D"]
    asc = rules_from(SIMPLE.format(n=4, m=4).replace('key = "market_cap_usd"', 'key = "market_cap_usd"\norder = "asc"'))
    assert members(rank(score_frame(rows), asc)) == ["A", "B", "C", "D"]


def test_reason_names_role_and_the_factors_that_set_it_apart() -> None:
    rows = [
        company("GOOD", roles="processor", dilution_risk=0.05, localization_premium=0.5),
        *[company(f"X{i}", roles="miner", dilution_risk=0.5 + i / 10, localization_premium=0.5) for i in range(4)],
    ]
    result = rank(score_frame(rows), load("default"))
    reason = result.table.filter(pl.col("symbol") == "GOOD")["reason"].item()
    assert reason.startswith("enabler (processor); low dilution risk (eligible pct 0.00)")
    assert (
        result.table.filter(pl.col("status") != "member")["reason"].null_count()
        == result.table.filter(pl.col("status") != "member").height
    )


def test_missing_score_columns_is_a_clear_error() -> None:
    sf = score_frame(fillers()).drop("dilution_risk")
    with pytest.raises(ScreenerError, match="the scores lack dilution_risk"):
        rank(sf, load("default"))


def test_plan_reads_in_engine_order() -> None:
    steps = [s for s, _ in plan(load("default"))]
    order = [
        "rule set",
        "source",
        "universe",
        "gate",
        "percentiles",
        "weight",
        "tilt",
        "order",
        "buffer",
        "constraints",
    ]
    firsts = [steps.index(s) for s in order]
    assert firsts == sorted(firsts)
    words = dict(plan(load("default")))
    assert "x1.15 for enablers" in words["tilt"]
    assert "top 20" in words["buffer"]


# -- properties -----------------------------------------------------------------------------------------------------
value = st.one_of(st.none(), st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.5, 0.75, 1.0]))
company_rows = st.lists(
    st.tuples(
        value,
        value,
        value,
        st.sampled_from(["processor", "miner", "downstream_user", "miner;processor"]),
        st.sampled_from(["US", "JP", "KR", "AU", "FR"]),
        st.sampled_from([1e8, 1e9, 1e9, 5e9]),
    ),
    min_size=1,
    max_size=14,
)


def frame_from(data: list[tuple]) -> pl.DataFrame:
    return score_frame(
        [
            company(
                f"S{i:02d}",
                localization_premium=lp,
                dilution_risk=dr,
                balance_sheet=bs,
                roles=r,
                country=c,
                market_cap_usd=mc,
            )
            for i, (lp, dr, bs, r, c, mc) in enumerate(data)
        ]
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(company_rows, st.randoms(use_true_random=False), st.sampled_from(["universe", "role", "region"]))
def test_ranking_does_not_depend_on_row_order(data, rnd, group) -> None:
    rs = rules_from(f"""
name = "p"
[weights]
localization_premium = 0.5
dilution_risk = 0.3
balance_sheet = 0.2
[percentiles]
group_by = "{group}"
[tilts]
enabler = 1.1
downstream_user = 0.8
[constraints]
top_n = 5
max_per_country = 2
[buffer]
stay_within = 7
""")
    sf = frame_from(data)
    idx = list(range(sf.height))
    rnd.shuffle(idx)
    shuffled = sf[idx]
    incumbents = [s for i, s in enumerate(sf["symbol"]) if i % 3 == 0]
    a = rank(sf, rs, incumbents=incumbents)
    b = rank(shuffled, rs, incumbents=list(reversed(incumbents)))
    assert a.table.equals(b.table)
    assert a.members.equals(b.members)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(company_rows)
def test_ranks_percentiles_and_membership_are_well_formed(data) -> None:
    rs = load("default")
    sf = frame_from(data)
    result = rank(sf, rs)
    m = result.members
    assert m["rank"].to_list() == list(range(1, m.height + 1))
    assert m.height <= rs.top_n
    assert set(m["symbol"]) <= set(sf["symbol"])
    for f in result.factors:
        col = result.table[f"{f}_pct_eligible"].drop_nulls()
        assert col.is_between(0, 1).all()
    per_country = m.group_by("country").len()["len"]
    assert per_country.max() is None or per_country.max() <= rs.max_per_country
    assert result.table.height == sf.height
    assert m["score"].is_sorted(descending=True)


# -- reasons never contradict the numbers; the extra bundled lists ------------------------------------------------
def _phrase_ok(reason: str, row: dict) -> None:
    """A phrase in a reason must agree with the percentile printed beside it in the same row."""
    checks = {
        "strong balance sheet": ("balance_sheet_pct_eligible", ">="),
        "weak balance sheet": ("balance_sheet_pct_eligible", "<="),
        "high dilution risk": ("dilution_risk_pct_eligible", ">="),
        "low dilution risk": ("dilution_risk_pct_eligible", "<="),
        "high localization premium": ("localization_premium_pct_eligible", ">="),
        "low localization premium": ("localization_premium_pct_eligible", "<="),
        "liquid": ("liquidity_pct_eligible", ">="),
        "thinly traded": ("liquidity_pct_eligible", "<="),
    }
    for words, (col, op) in checks.items():
        if any(part == words or part.startswith(words + " ") for part in reason.split("; ")):
            v = row[col]
            assert v is not None and (v >= 0.6 if op == ">=" else v <= 0.4), (reason, col, v)


def test_reasons_only_cite_what_lifted_the_name() -> None:
    rs = rules_from('name = "r"\n[weights]\nbalance_sheet = 0.5\ndilution_risk = 0.5\n[constraints]\ntop_n = 5\n')
    rows = [
        company("A", balance_sheet=0.9, dilution_risk=0.9),
        company("B", balance_sheet=0.1, dilution_risk=0.1),
        company("C", balance_sheet=0.5, dilution_risk=0.5),
        company("D", balance_sheet=0.3, dilution_risk=0.7),
        company("E", balance_sheet=0.7, dilution_risk=0.3),
    ]
    m = {r["symbol"]: r for r in rank(score_frame(rows), rs).members.iter_rows(named=True)}
    # A: strongest balance sheet but the highest dilution risk: the risk is never cited as a reason
    assert m["A"]["reason"] == "enabler (processor); strong balance sheet (eligible pct 1.00)"
    assert m["B"]["reason"] == "enabler (processor); low dilution risk (eligible pct 0.00)"
    assert m["C"]["reason"] == "enabler (processor); no single factor stands out; ranked on the mix"
    assert "weak" not in m["D"]["reason"] and "high dilution" not in m["D"]["reason"]
    for row in m.values():
        _phrase_ok(row["reason"], row)


def survivors_universe() -> list[dict]:
    # 14 names that pass every gate (strong balance sheet, low dilution, liquid) plus names that must not
    good = [
        company(
            f"G{i:02d}",
            roles=["processor", "miner", "magnet_maker", "recycler"][i % 4],
            country=["US", "JP", "AU", "CA", "GB", "FR"][i % 6],
            balance_sheet=0.6 + i / 50,
            dilution_risk=0.1 + i / 60,
            liquidity=10 + i,
        )
        for i in range(14)
    ]
    bad = [
        company(
            f"B{i:02d}",
            roles="miner",
            country="AU",
            balance_sheet=0.1 + i / 30,
            dilution_risk=0.7 + i / 40,
            liquidity=5,
        )
        for i in range(10)
    ]
    down = [
        company(
            f"D{i:02d}",
            roles="downstream_user",
            segment="ev_auto",
            balance_sheet=0.2 + i / 20,
            dilution_risk=0.05,
            liquidity=50,
        )
        for i in range(6)
    ]
    return good + bad + down


def test_balance_sheet_survivors_reads_right_and_fills_the_list() -> None:
    rs = load("balance-sheet-survivors")
    result = rank(score_frame(survivors_universe()), rs)
    m = result.members
    assert m.height == rs.top_n  # enough names qualify, so the list is full
    assert all(s.startswith("G") for s in m["symbol"])
    lib = {r["symbol"]: r for r in score_frame(survivors_universe()).iter_rows(named=True)}
    for row in m.iter_rows(named=True):
        assert "high dilution risk" not in row["reason"] and "weak balance sheet" not in row["reason"], row["reason"]
        _phrase_ok(row["reason"], row)
        # percentiles are taken over every scored company: what the gates speak of is what the list shows
        assert row["balance_sheet_pct_eligible"] == pytest.approx(lib[row["symbol"]]["balance_sheet_pct"])
        assert row["balance_sheet_pct_eligible"] > 0.4
        # the dilution gates are absolute (runway, share growth, funding gap), not a percentile of everyone else
        runway = lib[row["symbol"]]["dilution_risk.cash_runway_years"]
        assert runway is None or runway >= 2


def test_downstream_squeeze_holds_only_non_enabler_downstream_users_and_separates_them() -> None:
    rows = [
        company(
            "AUTO1",
            roles="downstream_user",
            segment="ev_auto",
            balance_sheet=0.1,
            pullback=0.2,
            market_cap_usd=5e10,
            liquidity=80,
        ),
        company(
            "AUTO2",
            roles="downstream_user",
            segment="ev_auto",
            balance_sheet=0.8,
            pullback=0.7,
            market_cap_usd=5e10,
            liquidity=60,
        ),
        company(
            "WIND",
            roles="downstream_user",
            segment="wind",
            balance_sheet=0.3,
            pullback=0.3,
            market_cap_usd=2e10,
            liquidity=70,
        ),
        company(
            "DEF",
            roles="downstream_user",
            segment="defense",
            balance_sheet=0.3,
            pullback=0.3,
            market_cap_usd=2e10,
            liquidity=70,
        ),
        company(
            "TDK",
            roles="magnet_maker;downstream_user",
            segment="electronics",
            balance_sheet=0.0,
            pullback=0.0,
            market_cap_usd=2e11,
            liquidity=99,
        ),
        company("MINEUSE", roles="miner;downstream_user", segment="industrial", market_cap_usd=2e10),
        company("PROC", roles="processor", market_cap_usd=2e10),
    ]
    result = rank(score_frame(rows), load("downstream-squeeze"))
    m = result.members
    assert sorted(m["symbol"]) == ["AUTO1", "AUTO2", "DEF", "WIND"]
    why = dict(zip(result.table["symbol"], result.table["why_out"], strict=True))
    assert why["TDK"].startswith("carries an excluded role") and why["MINEUSE"].startswith("carries an excluded role")
    assert m["symbol"][0] == "AUTO1"
    assert len(set(m["score"])) == m.height  # the segment tilt separates equal balance sheets
    assert m.filter(pl.col("symbol") == "WIND")["score"].item() > m.filter(pl.col("symbol") == "DEF")["score"].item()
    top = m.row(0, named=True)
    assert top["reason"].startswith("downstream user (ev_auto); weak balance sheet")  # the worse end, in words
    for row in m.iter_rows(named=True):
        assert "strong balance sheet" not in row["reason"]


def test_segment_tilts_multiply_the_score() -> None:
    rs = rules_from(
        'name = "s"\n[weights]\nbalance_sheet = 1\n[tilts]\nwind = 1\nev_auto = 2\n[constraints]\ntop_n = 3\n'
    )
    rows = [
        company("A", roles="downstream_user", segment="ev_auto"),
        company("B", segment=None),
        company("C", roles="downstream_user", segment="wind"),
    ]
    t = {r["symbol"]: r["tilt"] for r in rank(score_frame(rows), rs).table.iter_rows(named=True)}
    assert t == {"A": 2.0, "B": 1.0, "C": 1.0}
    assert "x2 for the ev_auto segment" in dict(plan(rs))["tilt"]


def test_percentiles_over_every_scored_company() -> None:
    base = (
        'name = "o"\n[weights]\nbalance_sheet = 1\n[gates]\nstrong = "balance_sheet_pct >= 0.5"\n'
        '[constraints]\ntop_n = 5\n[percentiles]\nover = "{o}"\n'
    )
    rows = [company(s, balance_sheet=v) for s, v in (("A", 0.1), ("B", 0.2), ("C", 0.6), ("D", 0.9))]
    eligible = rank(score_frame(rows), rules_from(base.format(o="eligible"))).members
    scored = rank(score_frame(rows), rules_from(base.format(o="scored"))).members
    assert eligible["balance_sheet_pct_eligible"].to_list() == [1.0, 0.0]  # the weaker survivor reads 0.00
    assert scored["balance_sheet_pct_eligible"].to_list() == pytest.approx([1.0, 2 / 3])
    assert "over every scored company" in dict(plan(rules_from(base.format(o="scored"))))["percentiles"]


def test_min_exposure_keeps_the_pure_play_and_drops_the_conglomerate_but_not_the_unknown() -> None:
    text = SIMPLE.format(n=3, m=3).replace("[weights]", "[universe]\nmin_exposure = 0.1\n\n[weights]", 1)
    sf = score_frame(
        [
            company("PURE", exposure=0.9),
            company("CONG", exposure=0.05),  # a twin of PURE but for its exposure
            company("UNKN"),  # unknown exposure passes: the localization factor flags it
        ]
    )
    result = rank(sf, rules_from(text))
    assert set(result.members["symbol"]) == {"PURE", "UNKN"}
    why = dict(result.table.select("symbol", "why_out").iter_rows())
    assert why["CONG"] == "rare-earth exposure 5.0% below 10%"


def test_a_tiny_exposure_reads_as_itself_not_as_zero() -> None:
    from rules.engine import _share_text

    assert [_share_text(v) for v in (0.001, 0.0025, 0.03, 0.1, 0.0)] == ["0.1%", "0.25%", "3.0%", "10%", "0%"]
