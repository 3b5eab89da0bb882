"""Rule files: the bundled sets load, and every way to break a file gives one line with file, key and a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.ruleset import RuleSetError, available, load, parse, resolve
from tests.builders import ensure_factors

BUNDLED = ("default", "balance-sheet-survivors", "downstream-squeeze")

BASE = """
name = "t"
[weights]
dilution_risk = 1.0
"""


@pytest.fixture(autouse=True)
def _factors() -> None:
    ensure_factors()


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_sets_load_and_name_themselves(name: str) -> None:
    rs = load(name)
    assert rs.name == name
    assert rs.description
    assert rs.top_n >= 1 and rs.stay_within >= rs.top_n
    assert len(rs.content_hash) == 16
    assert rs.source == f"rules/{name}.toml"


def test_default_is_enablers_first_dilution_averse_and_gated_on_liquidity() -> None:
    rs = load("default")
    assert rs.tilts["enabler"] > 1 > rs.tilts["pure_miner"]
    assert rs.tilts["downstream_user"] < rs.tilts["pure_miner"]
    assert {w.factor for w in rs.weights} >= {"dilution_risk", "localization_premium"}
    assert any("liquidity" in name for g in rs.gates for name in g.condition.names)
    assert rs.stay_within > rs.top_n


def test_downstream_squeeze_prefers_the_worse_end() -> None:
    rs = load("downstream-squeeze")
    assert rs.universe.include_roles == ("downstream_user",)
    assert {w.factor: w.prefer for w in rs.weights}["localization_premium"] == "worse"


def test_available_lists_bundled_and_user_sets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user = tmp_path / "xdg-data" / "ree-screener" / "rules"
    user.mkdir(parents=True)
    (user / "mine.toml").write_text(BASE.replace('"t"', '"mine"'))
    names = {n: origin for n, _, origin in available()}
    assert names["mine"] == "user"
    assert all(names[b] == "bundled" for b in BUNDLED)
    assert load("mine").name == "mine"


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(RuleSetError, match=r"unknown rule set 'defualt' \(did you mean 'default'\?\)"):
        resolve("defualt")


def test_missing_path_is_clear(tmp_path: Path) -> None:
    with pytest.raises(RuleSetError, match="not found"):
        load(tmp_path / "nope.toml")


def test_content_hash_follows_the_text() -> None:
    a, b = parse(BASE, "a.toml"), parse(BASE + "\n# comment\n", "a.toml")
    assert a.content_hash != b.content_hash
    assert parse(BASE, "b.toml").content_hash == a.content_hash


def test_weights_table_form_and_zero_weights_drop_out() -> None:
    rs = parse(BASE + 'balance_sheet = { weight = 0.5, prefer = "worse" }\npullback = 0\n', "t.toml")
    assert [(w.factor, w.weight, w.prefer) for w in rs.weights] == [
        ("dilution_risk", 1.0, "better"),
        ("balance_sheet", 0.5, "worse"),
    ]


ERRORS = [
    # (file text, expected fragment); each must be one line naming the key
    ("name = \n", "not valid TOML"),
    ("description = 'x'\n[weights]\ndilution_risk = 1\n", "name: missing"),
    ("name = 5\n[weights]\ndilution_risk = 1\n", "name: must be text in quotes, got a number (5)"),
    ("name = 'bad name!'\n[weights]\ndilution_risk = 1\n", "name: 'bad name!' must be letters"),
    (BASE + "extra = 1\n", "weights.extra: unknown factor 'extra'"),
    ("name = 't'\ncolour = 'red'\n[weights]\ndilution_risk = 1\n", "colour: unknown key"),
    (
        "name = 't'\ndesciption = 'x'\n[weights]\ndilution_risk = 1\n",
        "desciption: unknown key (did you mean 'description'?)",
    ),
    ("name = 't'\n", "weights: missing"),
    (
        "name = 't'\n[weights]\ndilution_rsk = 1\n",
        "weights.dilution_rsk: unknown factor 'dilution_rsk' (did you mean 'dilution_risk'?)",
    ),
    ("name = 't'\n[weights]\ndilution_risk = 'high'\n", "weights.dilution_risk: must be a number, got text 'high'"),
    ("name = 't'\n[weights]\ndilution_risk = true\n", "weights.dilution_risk: must be a number, got true/false"),
    ("name = 't'\n[weights]\ndilution_risk = -1\n", "weights.dilution_risk: weights are >= 0"),
    ("name = 't'\n[weights]\ndilution_risk = 0\nliquidity = 0.0\n", "weights: all weights are zero"),
    (
        "name = 't'\n[weights]\ndilution_risk = { weight = 1, prefer = 'wrose' }\n",
        "weights.dilution_risk.prefer: unknown preference 'wrose' (did you mean 'worse'?)",
    ),
    (
        "name = 't'\n[weights]\ndilution_risk = { wieght = 1 }\n",
        "weights.dilution_risk.wieght: unknown key (did you mean 'weight'?)",
    ),
    ("name = 't'\n[weights]\ndilution_risk = { prefer = 'worse' }\n", "weights.dilution_risk.weight: missing"),
    ("name = 't'\nweights = 3\n", "weights: must be a table"),
    (BASE + "[constraints]\ntop_n = 0\n", "constraints.top_n: must be at least 1, got 0"),
    (BASE + "[constraints]\ntop_n = 2.5\n", "constraints.top_n: must be a whole number"),
    (BASE + "[constraints]\ntop_n = '10'\n", "constraints.top_n: must be a whole number, got text '10'"),
    (
        BASE + "[constraints]\nmax_per_contry = 3\n",
        "constraints.max_per_contry: unknown key (did you mean 'max_per_country'?)",
    ),
    (BASE + "[constraints]\nmax_per_country = 0\n", "constraints.max_per_country: must be at least 1"),
    (BASE + "[constraints]\nmax_per_role = -2\n", "constraints.max_per_role: must be at least 1"),
    (
        BASE + "[constraints]\ntop_n = 10\n[buffer]\nstay_within = 8\n",
        "buffer.stay_within: 8 is smaller than constraints.top_n = 10",
    ),
    (BASE + "[buffer]\nstay = 8\n", "buffer.stay: unknown key (did you mean 'stay_within'?)"),
    (
        BASE + "[universe]\ninclude_roles = ['procesor']\n",
        "universe.include_roles[0]: unknown role 'procesor' (did you mean 'processor'?)",
    ),
    (BASE + "[universe]\nexclude_roles = 'miner'\n", "universe.exclude_roles: must be a list of roles"),
    (BASE + "[universe]\ncountries = ['KR', 'XX']\n", "universe.countries[1]: unknown country 'XX'"),
    (BASE + "[universe]\ncountries = ['kr']\n", "universe.countries[0]: unknown country 'kr' (did you mean 'KR'?)"),
    (
        BASE + "[universe]\nregions = ['europa']\n",
        "universe.regions[0]: unknown region 'europa' (did you mean 'europe'?)",
    ),
    (
        BASE + "[universe]\nexclude_regions = ['chna']\n",
        "universe.exclude_regions[0]: unknown region 'chna' (did you mean 'china'?)",
    ),
    (
        BASE + "[universe]\nstages = ['producr']\n",
        "universe.stages[0]: unknown stage 'producr' (did you mean 'producer'?)",
    ),
    (
        BASE + "[universe]\nmin_market_cap = 5\n",
        "universe.min_market_cap: unknown key (did you mean 'min_market_cap_usd'?)",
    ),
    (BASE + "[universe]\nmin_market_cap_usd = '100m'\n", "universe.min_market_cap_usd: must be a number, got text"),
    (BASE + "[universe]\nmin_market_cap_usd = -1\n", "universe.min_market_cap_usd: must be at least 0"),
    (BASE + "[universe]\nmin_data_completeness = 1.5\n", "universe.min_data_completeness: must be at most 1"),
    (
        BASE + "[universe]\nwhere = 'dilution_rsk_pct < 1'\n",
        "universe.where: unknown name 'dilution_rsk_pct' (did you mean 'dilution_risk_pct'?)",
    ),
    (BASE + "[universe]\nwhere = 5\n", "universe.where: must be text in quotes"),
    (BASE + '[gates]\nliquid = "liquidity_pct >= 0.2; DROP TABLE x"\n', "gates.liquid: unexpected character ';'"),
    (BASE + "[gates]\nliquid = \"__import__('os')\"\n", "gates.liquid: unknown function '__import__'"),
    (BASE + '[gates]\nliquid = "(liquidity_pct >= 0.2"\n', "gates.liquid: unbalanced parentheses"),
    (BASE + '[gates]\nliquid = "liquidity_pct"\n', "gates.liquid: 'liquidity_pct' is a number, not a condition"),
    (BASE + "[gates]\n'bad gate' = \"liquidity_pct > 0\"\n", "gates.bad gate: gate names are letters"),
    (BASE + "[percentiles]\ngroup_by = 'sector'\n", "percentiles.group_by: unknown grouping 'sector'"),
    (
        BASE + "[percentiles]\ngroup_by = 'roles'\n",
        "percentiles.group_by: unknown grouping 'roles' (did you mean 'role'?)",
    ),
    (BASE + "[percentiles]\nmissing = 'zero'\n", "percentiles.missing: unknown missing-value policy 'zero'"),
    (BASE + "[percentiles]\nrank = 'x'\n", "percentiles.rank: unknown key"),
    (BASE + "[tilts]\nenabler = 0\n", "tilts.enabler: must be at least 0.01, got 0"),
    (BASE + "[tilts]\nenablers = 1.2\n", "tilts.enablers: unknown key (did you mean 'enabler'?)"),
    (BASE + "[tilts]\nprocesor = 1.2\n", "tilts.procesor: unknown key (did you mean 'processor'?)"),
    (BASE + "[tilts]\nenabler_roles = ['processor', 'smelter']\n", "tilts.enabler_roles[1]: unknown role 'smelter'"),
    (BASE + "[tilts]\nenabler_roles = []\n", "tilts.enabler_roles: must name at least one role"),
    (BASE + "[tilts]\ndownstream_user = 'low'\n", "tilts.downstream_user: must be a number"),
    (
        BASE + "[tie_break]\nkey = 'liquidty'\n",
        "tie_break.key: unknown numeric column 'liquidty' (did you mean 'liquidity'?)",
    ),
    (BASE + "[tie_break]\nkey = 'country'\n", "tie_break.key: unknown numeric column 'country'"),
    (BASE + "[tie_break]\norder = 'up'\n", "tie_break.order: unknown order 'up'"),
    (BASE + "[tie_break]\ndirection = 'asc'\n", "tie_break.direction: unknown key"),
    (BASE + "[universe]\n[universe.extra]\nx = 1\n", "universe.extra: unknown key"),
    # numbers that are not numbers, or absurdly large: TOML accepts inf and nan, the rule file does not
    ("name = 't'\n[weights]\ndilution_risk = inf\n", "weights.dilution_risk: must be a finite number, got inf"),
    ("name = 't'\n[weights]\ndilution_risk = -inf\n", "weights.dilution_risk: must be a finite number, got -inf"),
    ("name = 't'\n[weights]\ndilution_risk = nan\n", "weights.dilution_risk: must be a finite number, got nan"),
    (
        "name = 't'\n[weights]\ndilution_risk = { weight = +inf }\n",
        "weights.dilution_risk.weight: must be a finite number, got inf",
    ),
    (
        "name = 't'\n[weights]\ndilution_risk = 1e308\nliquidity = 1e308\n",
        "weights.dilution_risk: 1e+308 is out of range",
    ),
    ("name = 't'\n[weights]\ndilution_risk = 2e6\n", "weights.dilution_risk: must be at most 1e+06, got 2e+06"),
    (BASE + "[tilts]\nenabler = inf\n", "tilts.enabler: must be a finite number, got inf"),
    (BASE + "[tilts]\nenabler = nan\n", "tilts.enabler: must be a finite number, got nan"),
    (BASE + "[tilts]\nenabler = 1e9\n", "tilts.enabler: must be at most 100, got 1e+09"),
    (BASE + "[tilts]\nenabler = 1e-9\n", "tilts.enabler: must be at least 0.01"),
    (BASE + "[tilts]\nev_autos = 1.2\n", "tilts.ev_autos: unknown key (did you mean 'ev_auto'?)"),
    (BASE + "[universe]\nmin_market_cap_usd = inf\n", "universe.min_market_cap_usd: must be a finite number"),
    (BASE + "[universe]\nmin_market_cap_usd = 1e14\n", "universe.min_market_cap_usd: must be at most 1e+13"),
    (BASE + "[universe]\nmin_liquidity_usd = -inf\n", "universe.min_liquidity_usd: must be a finite number"),
    (BASE + "[universe]\nmin_data_completeness = nan\n", "universe.min_data_completeness: must be a finite number"),
    (BASE + "[constraints]\ntop_n = 9223372036854775807\n", "constraints.top_n: must be at most 10000"),
    (BASE + "[gates]\nbig = 'market_cap_usd > 1e300'\n", "gates.big: number '1e300' is out of range"),
    (BASE + "[percentiles]\nover = 'everyone'\n", "percentiles.over: unknown percentile basis 'everyone'"),
]


@pytest.mark.parametrize(("text", "fragment"), ERRORS)
def test_every_error_names_file_and_key(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text)
    with pytest.raises(RuleSetError) as info:
        load(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: ")
    assert fragment in msg
    assert "\n" not in msg


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.toml"
    path.write_bytes(b"name = '\xe9'\n")
    with pytest.raises(RuleSetError, match="not UTF-8"):
        load(path)


def test_weights_normalise_without_overflow() -> None:
    rs = parse("name = 't'\n[weights]\ndilution_risk = 1e6\nliquidity = 1e6\nbalance_sheet = 5e-324\n", "t.toml")
    shares = [w.weight / rs.total_weight for w in rs.weights]
    assert shares[:2] == [0.5, 0.5] and sum(shares) == 1.0


def test_segment_tilts_and_percentile_basis() -> None:
    rs = parse(BASE + "[percentiles]\nover = 'scored'\n[tilts]\nev_auto = 1.2\ndefense = 0.85\n", "t.toml")
    assert rs.percentile_over == "scored" and dict(rs.tilts) == {"ev_auto": 1.2, "defense": 0.85}
    assert parse(BASE, "t.toml").percentile_over == "eligible"


def test_a_user_file_is_reachable_by_its_file_name_and_by_its_declared_name(tmp_path: Path) -> None:
    from rules.catalog import catalog

    user = tmp_path / "xdg-data" / "ree-screener" / "rules"
    user.mkdir(parents=True)
    (user / "kr-jp.toml").write_text(BASE.replace('"t"', '"korea-japan-enablers"'))
    assert load("kr-jp").name == "korea-japan-enablers"
    assert load("korea-japan-enablers").name == "korea-japan-enablers"
    row = catalog().filter(name="kr-jp").row(0, named=True)
    assert row["runs_as"] == "korea-japan-enablers" and row["origin"] == "user" and row["file"].endswith("kr-jp.toml")
    for listed in catalog()["name"]:
        assert resolve(listed)  # every listed name is one --rules accepts
    (user / "other.toml").write_text(BASE.replace('"t"', '"korea-japan-enablers"'))
    with pytest.raises(RuleSetError, match="declared by"):
        resolve("korea-japan-enablers")


def test_a_user_file_cannot_take_a_bundled_sets_name(tmp_path: Path) -> None:
    user = tmp_path / "xdg-data" / "ree-screener" / "rules"
    user.mkdir(parents=True)
    (user / "mydefault.toml").write_text(BASE.replace('"t"', '"default"'))
    with pytest.raises(RuleSetError, match=r"mydefault\.toml: name: 'default' is the name of the bundled rule set"):
        load("mydefault")


# -- the bundled dilution gates are absolute -----------------------------------------------------------------------
FUNDING = ("remaining_capex_usd", "funding_gap_usd", "months_to_raise")


def _scored(rows: list[dict]) -> object:
    """A score frame of ``rows`` with the funding-forecast components (the builder's frame predates them)."""
    import polars as pl

    from tests.builders import score_frame

    frame = score_frame(rows)
    return frame.with_columns(
        [
            pl.Series(
                f"dilution_risk.{c}",
                [r.get(f"dilution_risk.{c}") for r in sorted(rows, key=lambda r: r["symbol"])],
                dtype=pl.Float64,
            )
            for c in FUNDING
        ]
    )


def _gate_universe(runway: float, others_runway: float = 8.0, **extra: float) -> list[dict]:
    from tests.builders import company

    rows = [
        company(f"P{i:02d}", localization_premium=0.5, **{"dilution_risk.cash_runway_years": others_runway})
        for i in range(19)
    ]
    values = {"dilution_risk.cash_runway_years": runway, **{f"dilution_risk.{k}": v for k, v in extra.items()}}
    rows.append(company("X", localization_premium=0.5, dilution_risk=0.9, **values))
    return rows


def _status(rows: list[dict], name: str = "default") -> tuple[str, str | None]:
    """X's fate: "gated" or "in" (a member or a candidate: it passed every gate), and why it is out."""
    from rules.engine import rank

    t = rank(_scored(rows), load(name)).table
    r = t.filter(t["symbol"] == "X").row(0, named=True)
    return ("gated" if r["status"] == "gated" else "in"), r["why_out"]


def test_default_keeps_two_years_of_runway_even_when_everyone_else_is_better() -> None:
    # X has the worst dilution risk and the shortest runway of twenty names, yet two years is not a raise this year
    status, why = _status(_gate_universe(2.0))
    assert status == "in", why


def test_default_drops_six_months_of_runway_whoever_else_is_in_the_universe() -> None:
    for others in (0.1, 8.0):  # the verdict does not depend on the others
        status, why = _status(_gate_universe(0.5, others_runway=others))
        assert status == "gated" and "runway_over_a_year" in why, why


def test_default_gates_share_growth_and_the_funding_gap_in_absolutes() -> None:
    assert _status(_gate_universe(3.0, share_growth_1y=0.30))[0] == "gated"
    assert _status(_gate_universe(3.0, share_growth_1y=0.20))[0] == "in"
    status, why = _status(_gate_universe(3.0, funding_gap_usd=5e7))
    assert status == "gated" and "build_out_funded" in why
    assert _status(_gate_universe(3.0, funding_gap_usd=-5e7))[0] == "in"


def test_unknown_runway_passes_the_gate_explicitly() -> None:
    rows = _gate_universe(2.0)
    rows[-1]["dilution_risk.cash_runway_years"] = None
    assert _status(rows)[0] == "in"
    gate = next(g for g in load("default").gates if g.name == "runway_over_a_year")
    assert "is null" in gate.condition.text  # the pass is written in the rule, not an accident of missing values


def test_no_bundled_set_gates_dilution_on_a_percentile() -> None:
    for name in BUNDLED:
        for g in load(name).gates:
            assert "dilution_risk_pct" not in g.condition.names, (name, g.name)


def test_survivors_ask_for_two_years_of_runway_where_the_weekly_list_asks_for_one() -> None:
    rows = _gate_universe(1.5)
    assert _status(rows)[0] == "in"
    status, why = _status(rows, "balance-sheet-survivors")
    assert status == "gated" and "runway_over_two_years" in why, why
    assert _status(_gate_universe(2.5), "balance-sheet-survivors")[0] == "in"


def test_squeeze_list_leaves_out_names_that_already_collapsed() -> None:
    from tests.builders import company

    def fate(drawdown: float) -> str:
        rows = [company(f"U{i}", roles="downstream_user", segment="ev_auto") for i in range(4)]
        rows.append(company("X", roles="downstream_user", segment="ev_auto", **{"pullback.drawdown_52w": drawdown}))
        return _status(rows, "downstream-squeeze")[0]

    assert fate(0.05) == "in" and fate(0.69) == "in"
    assert fate(0.80) == "gated"  # the squeeze is priced; the tent would otherwise rank it with names near their high


@pytest.mark.parametrize("value", ["1.5", "-0.1", "'half'"])
def test_min_exposure_outside_zero_to_one_is_refused_in_one_line(tmp_path: Path, value: str) -> None:
    path = tmp_path / "exposure.toml"
    path.write_text(BASE + f"[universe]\nmin_exposure = {value}\n")
    with pytest.raises(RuleSetError) as info:
        load(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: universe.min_exposure") and "\n" not in msg


def test_min_exposure_is_read() -> None:
    assert parse(BASE + "[universe]\nmin_exposure = 0.25\n").universe.min_exposure == 0.25
