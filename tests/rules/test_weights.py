"""Portfolio weights of a rule set's members: equal, market cap, the capped-index method, and the mvis-like set."""

from __future__ import annotations

import math
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.engine import portfolio_weights, rank
from rules.ruleset import RuleSetError, available, load
from screener.output.export import RATIO_PERCENT, export_run
from screener.store import Store
from screener.watchlist.runs import load_run, run_weekly
from tests.builders import MARKET_END, company, ensure_factors, rules_from, score_frame

ensure_factors()

BASE = 'name = "w"\n[weights]\nliquidity = 1\n[constraints]\ntop_n = 6\n'


# -- the algorithm ------------------------------------------------------------------------------------------------
def test_equal_weights_sum_to_one() -> None:
    w, note = portfolio_weights([1e9, None, 5e8, 2e9, 3e9, 7e7, 1e8], "equal")
    assert w == [pytest.approx(1 / 7)] * 7 and note is None
    assert math.fsum(w) == pytest.approx(1.0, abs=1e-12)


def test_market_cap_weights_are_proportional() -> None:
    w, note = portfolio_weights([50, 20, 10, 10, 5, 5], "market_cap")
    assert w == pytest.approx([0.5, 0.2, 0.1, 0.1, 0.05, 0.05], abs=1e-15) and note is None


def test_capped_weights_by_hand() -> None:
    # cap 0.25 on [50, 20, 10, 10, 5, 5] (raw 0.50 0.20 0.10 0.10 0.05 0.05):
    #  pass 1: 0.50 > 0.25 is capped; the other five (raw sum 0.50) share 0.75: 0.30 0.15 0.15 0.075 0.075
    #  pass 2: 0.30 > 0.25 is capped too; the last four (raw sum 0.30) share 0.50: 1/6 1/6 1/12 1/12; none above
    w, note = portfolio_weights([50, 20, 10, 10, 5, 5], "market_cap", 0.25)
    assert w == pytest.approx([0.25, 0.25, 1 / 6, 1 / 6, 1 / 12, 1 / 12], abs=1e-15) and note is None
    # cap 0.30: one pass; the excess 0.20 goes to the rest in proportion: 0.20 -> 0.28, 0.10 -> 0.14, 0.05 -> 0.07
    w, _ = portfolio_weights([50, 20, 10, 10, 5, 5], "market_cap", 0.30)
    assert w == pytest.approx([0.30, 0.28, 0.14, 0.14, 0.07, 0.07], abs=1e-15)
    # the brief's cap 0.08 needs at least 13 members: with the same caps three times over (18 members, raw shares
    # 50/300 ...) the two largest of each copy are capped and the rest share what is left in proportion
    w, note = portfolio_weights([50, 20, 10, 10, 5, 5] * 3, "market_cap", 0.08)
    assert note is None and max(w) <= 0.08 + 1e-12 and math.fsum(w) == pytest.approx(1.0, abs=1e-12)
    # raw 10/300 = 0.0333 per 10; after capping 6 names at 0.08 the 12 others (raw 90) share 0.52: 10 -> 0.0578
    assert w[:6] == pytest.approx([0.08, 0.08, 0.52 / 9, 0.52 / 9, 0.26 / 9, 0.26 / 9], abs=1e-15)


def test_a_cap_met_exactly_puts_everyone_at_the_cap() -> None:
    w, note = portfolio_weights([3, 1, 1, 1, 1], "market_cap", 0.2)
    assert w == pytest.approx([0.2] * 5, abs=1e-15) and note is None


def test_unknown_market_cap_gets_the_smallest_known() -> None:
    w, _ = portfolio_weights([40, None, 10, float("nan"), 0.0], "market_cap")
    # unknown, NaN and non-positive caps count as the smallest known (10): 40 10 10 10 10
    assert w == pytest.approx([0.5, 0.125, 0.125, 0.125, 0.125], abs=1e-15)
    w, note = portfolio_weights([None, None], "market_cap")
    assert w == [0.5, 0.5] and note is not None and "no member has a known market cap" in note


def test_infeasible_cap_gives_equal_weights_and_a_note() -> None:
    # the brief's example: 6 members x 8% = 48% < 100%, so no capped answer exists
    w, note = portfolio_weights([50, 20, 10, 10, 5, 5], "market_cap", 0.08)
    assert w == [1 / 6] * 6
    assert note is not None and "cannot be met" in note and "16.67%" in note
    assert portfolio_weights([], "market_cap", 0.08) == ([], None)


caps_strategy = st.lists(
    st.one_of(st.none(), st.floats(min_value=1e5, max_value=1e13, allow_nan=False)), min_size=1, max_size=40
)


@settings(max_examples=300, deadline=None)
@given(caps=caps_strategy, cap=st.floats(min_value=0.01, max_value=1.0))
def test_weights_property(caps: list[float | None], cap: float) -> None:
    w, note = portfolio_weights(caps, "market_cap", cap)
    n = len(caps)
    assert len(w) == n and all(x >= 0 for x in w)
    assert math.fsum(w) == pytest.approx(1.0, abs=1e-9)
    if cap * n >= 1:
        assert max(w) <= cap + 1e-12
        assert note is None or "known market cap" in note
    else:
        assert w == [1 / n] * n and note is not None
    # order-preserving: a bigger market cap never gets a smaller weight
    known = [(c, x) for c, x in zip(caps, w, strict=True) if c is not None]
    for c1, x1 in known:
        for c2, x2 in known:
            if c1 > c2:
                assert x1 >= x2 - 1e-15
    # deterministic
    assert portfolio_weights(caps, "market_cap", cap) == (w, note)


# -- the engine ---------------------------------------------------------------------------------------------------
def _rows() -> list[dict]:
    caps = [50, 20, 10, 10, 5, 5, 1, 1]
    return [company(f"S{i}", liquidity=10 - i, market_cap_usd=c * 1e8) for i, c in enumerate(caps)]


def test_a_rule_set_without_portfolio_gives_members_equal_weights() -> None:
    r = rank(score_frame(_rows()), rules_from(BASE))
    m = r.members
    assert m["weight"].dtype == pl.Float64
    assert m["weight"].to_list() == [1 / 6] * 6 and r.weight_note is None
    others = r.table.filter(pl.col("status") != "member")
    assert others.height == 2 and others["weight"].null_count() == 2


def test_market_cap_capped_weights_reach_the_members() -> None:
    rs = rules_from(BASE + '[portfolio]\nweighting = "market_cap"\nmax_weight = 0.25\n')
    m = rank(score_frame(_rows()), rs).members
    assert m["symbol"].to_list() == ["S0", "S1", "S2", "S3", "S4", "S5"]
    assert m["weight"].to_list() == pytest.approx([0.25, 0.25, 1 / 6, 1 / 6, 1 / 12, 1 / 12], abs=1e-15)


def test_infeasible_cap_is_noted_on_the_ranking() -> None:
    rs = rules_from(BASE + '[portfolio]\nweighting = "market_cap"\nmax_weight = 0.1\n')
    r = rank(score_frame(_rows()), rs)
    assert r.members["weight"].to_list() == [1 / 6] * 6
    assert r.weight_note is not None and "cannot be met" in r.weight_note


# -- parsing ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("maxweight = 0.1", r"^w\.toml: portfolio\.maxweight: unknown key \(did you mean 'max_weight'\?\)"),
        ("max_weight = 0", r"^w\.toml: portfolio\.max_weight: must be greater than 0, got 0$"),
        ("max_weight = 1.5", r"^w\.toml: portfolio\.max_weight: must be at most 1, got 1\.5$"),
        ('max_weight = "8%"', r"^w\.toml: portfolio\.max_weight: must be a number, got text '8%'$"),
        ('weighting = "float"', r"^w\.toml: portfolio\.weighting: unknown weighting 'float'.*equal, market_cap$"),
    ],
)
def test_portfolio_errors_name_the_key(section: str, message: str) -> None:
    with pytest.raises(RuleSetError, match=message) as exc:
        rules_from(BASE + "[portfolio]\n" + section + "\n", "w.toml")
    assert "\n" not in str(exc.value)


def test_portfolio_defaults_and_values() -> None:
    rs = rules_from(BASE)
    assert (rs.weighting, rs.max_weight) == ("equal", None)
    rs = rules_from(BASE + '[portfolio]\nweighting = "market_cap"\nmax_weight = 1\n')
    assert (rs.weighting, rs.max_weight) == ("market_cap", 1.0)


# -- the bundled mvis-like set -----------------------------------------------------------------------------------
def test_every_bundled_set_loads_including_mvis_like() -> None:
    bundled = [name for name, _, origin in available() if origin == "bundled"]
    assert "mvis-like" in bundled
    for name in bundled:
        assert load(name).name == name


def test_mvis_like_has_index_style_rules_and_ranks() -> None:
    rs = load("mvis-like")
    assert rs.universe.min_exposure == 0.5
    assert rs.universe.min_market_cap_usd == 150e6 and rs.universe.min_liquidity_usd == 1e6
    assert rs.universe.exclude_regions == () and rs.universe.exclude_countries == ()  # China is held
    assert (rs.weighting, rs.max_weight, rs.top_n) == ("market_cap", 0.08, 25)
    rows = [
        company(
            f"M{i:02d}",
            country=["CN", "AU", "US", "JP", "CA"][i % 5],
            roles=["miner", "processor", "magnet_maker", "recycler"][i % 4],
            exposure=0.9,
            liquidity=100 - i,
            market_cap_usd=(30 - i) * 1e9,
        )
        for i in range(30)
    ]
    rows += [
        company("LOWX", exposure=0.2, liquidity=200),  # under half the business in the chain
        company("TINY", market_cap_usd=1e8, liquidity=200),  # below USD 150m
        company("THIN", **{"liquidity.median_traded_value_usd": 5e5}, liquidity=200),  # under USD 1m a day
    ]
    r = rank(score_frame(rows), rs)
    m = r.members
    assert m.height == 25 and r.weight_note is None
    assert not {"LOWX", "TINY", "THIN"} & set(m["symbol"].to_list())
    assert "CN" in m["country"].to_list()
    assert m["symbol"].to_list() == [f"M{i:02d}" for i in range(25)]  # ranked by size/liquidity
    w = m["weight"].to_list()
    assert math.fsum(w) == pytest.approx(1.0, abs=1e-12) and max(w) <= 0.08 + 1e-12
    assert w == sorted(w, reverse=True)


# -- the stored run and the workbook ------------------------------------------------------------------------------
def _weekly_mvis(db_path: Path, n: int, tmp_path: Path):
    """A weekly mvis-like run over ``n`` companies with falling size, exported to a workbook."""
    names = {f"C{i:02d}": f"Company {i}" for i in range(n)}
    rows = [
        company(s, name=nm, liquidity=50 - i, market_cap_usd=(20 - i) * 1e9) for i, (s, nm) in enumerate(names.items())
    ]
    with Store(db_path) as st:
        st.upsert(
            "companies",
            pl.DataFrame(
                {
                    "symbol": list(names),
                    "name": list(names.values()),
                    "country": ["US"] * n,
                    "currency": ["USD"] * n,
                    "roles": ["processor"] * n,
                    "stage": ["producer"] * n,
                }
            ),
            provider="file",
        )
        res = run_weekly(st, "mvis-like", MARKET_END, scores=score_frame(rows, MARKET_END))
        run = load_run(st, res.run_id)
        out = tmp_path / "list.xlsx"
        export_run(st, out, res.run_id)
    return res, run, out


def test_weight_reaches_the_stored_run_and_the_workbook(db_path: Path, tmp_path: Path) -> None:
    res, run, out = _weekly_mvis(db_path, 15, tmp_path)
    assert math.fsum(res.rows["weight"].to_list()) == pytest.approx(1.0, abs=1e-12)
    assert res.weight_note is None
    assert run.rows["weight"].to_list() == res.rows["weight"].to_list()
    assert max(run.rows["weight"].to_list()) == pytest.approx(0.08)
    ws = openpyxl.load_workbook(out)["Watchlist"]
    top = openpyxl.utils.cell.coordinate_to_tuple(ws.freeze_panes)[0]  # first data row, under the field names
    header = [c.value for c in ws[top - 1]]
    col = header.index("weight") + 1
    assert ws.cell(top, col).number_format == RATIO_PERCENT == "0.0%"
    assert ws.cell(top, col).value == pytest.approx(0.08)


def test_an_unmet_cap_is_noted_in_the_run_and_the_methodology_sheet(db_path: Path, tmp_path: Path) -> None:
    res, run, out = _weekly_mvis(db_path, 5, tmp_path)  # 5 x 8% < 100%
    assert res.rows["weight"].to_list() == [0.2] * 5
    assert res.weight_note is not None and "cannot be met" in res.weight_note
    assert run.meta["weight_note"] == res.weight_note
    ws = openpyxl.load_workbook(out)["Methodology"]
    items = {r[0]: r[1] for r in ws.iter_rows(values_only=True)}
    assert items["weights"] == res.weight_note


def test_a_cap_a_hair_below_one_over_n_is_not_met_and_says_so() -> None:
    # found by the property: one member and a cap of 0.9999999999999999 must not come out at the cap
    assert portfolio_weights([1e6], "market_cap", 0.9999999999999999)[0] == [1.0]
