"""One role class per company: the score frame decides it; ranking, screening and storing a run never rewrite it.

The rules engine groups and tilts by a coarser class of its own (``tilt_class``, which follows the rule set's
``enabler_roles``); these tests pin that the two never share a column, over every combination of roles.
"""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

import polars as pl
import pytest

from factors.engine import compute_scores
from rules.engine import rank
from rules.expr import compile_condition, namespace_from_schema
from rules.ruleset import load
from screener.contract import ROLES
from tests.builders import AS_OF, MARKET_END, company, inputs, load_template, market_template, rules_from

BUNDLED = ("default", "balance-sheet-survivors", "downstream-squeeze")
#: Every company eligible, grouped by tilt class, with a narrowed enabler list: the case where the rule set's
#: class and the contract's class differ most.
EVERYONE = """
name = "everyone"
[weights]
localization_premium = 1
[percentiles]
group_by = "role"
[tilts]
enabler_roles = ["processor"]
enabler = 1.2
pure_miner = 0.9
[constraints]
top_n = 300
"""


@pytest.fixture(scope="module")
def every_combination() -> pl.DataFrame:
    """A score frame from the factor engine with one company per subset of the contract's roles (256)."""
    combos = [";".join(c) for k in range(len(ROLES) + 1) for c in combinations(ROLES, k)]
    frame = compute_scores(inputs([company(f"C{i:03d}", roles=r) for i, r in enumerate(combos)]), AS_OF)
    assert frame.height == len(combos)
    return frame


def _classes(frame: pl.DataFrame) -> dict[str, str]:
    return dict(zip(frame["symbol"], frame["role_class"], strict=True))


def test_the_universe_covers_every_role_class(every_combination: pl.DataFrame) -> None:
    from factors.inputs import ROLE_CLASSES

    assert set(every_combination["role_class"]) == set(ROLE_CLASSES)
    by_roles = dict(zip(every_combination["roles"], every_combination["role_class"], strict=True))
    assert by_roles["miner;processor"] == "integrated" and by_roles["miner;trader_offtaker"] == "other"


@pytest.mark.parametrize("rules", [*BUNDLED, "everyone"])
def test_ranking_keeps_the_score_frames_role_class(every_combination: pl.DataFrame, rules: str) -> None:
    rs = rules_from(EVERYONE) if rules == "everyone" else load(rules)
    table = rank(every_combination, rs).table
    assert table.height == every_combination.height
    assert _classes(table) == _classes(every_combination)
    if rules == "everyone":
        assert table.filter(pl.col("status") == "member").height == every_combination.height


def test_the_tilt_class_is_a_column_of_its_own(every_combination: pl.DataFrame) -> None:
    table = rank(every_combination, rules_from(EVERYONE)).table
    row = {r["roles"]: r for r in table.select("roles", "role_class", "tilt_class", "tilt").iter_rows(named=True)}
    # the rule set names only processors as enablers: a miner-magnet maker is integrated by the contract, a miner
    # to this rule set
    assert (row["miner;processor"]["role_class"], row["miner;processor"]["tilt_class"]) == ("integrated", "enabler")
    assert (row["miner;magnet_maker"]["role_class"], row["miner;magnet_maker"]["tilt_class"]) == ("integrated", "miner")
    assert (row["miner"]["role_class"], row["miner"]["tilt_class"], row["miner"]["tilt"]) == (
        "pure_miner",
        "miner",
        0.9,
    )
    assert (row["miner;trader_offtaker"]["role_class"], row["miner;trader_offtaker"]["tilt_class"]) == (
        "other",
        "miner",
    )


def test_a_condition_on_role_class_means_the_same_with_and_without_rules(every_combination: pl.DataFrame) -> None:
    cond = compile_condition("role_class == 'integrated'", namespace_from_schema(every_combination.schema))
    expected = sorted(every_combination.filter(cond.expr)["symbol"])
    assert len(expected) == 124
    ranked = rank(every_combination, rules_from(EVERYONE), where=[("--where", cond)])
    assert sorted(ranked.members["symbol"]) == expected


EXTRA_COMPANIES = [
    # symbol, roles: the combinations the small market lacks (it has enablers, pure miners, an integrated miner and
    # downstream users)
    ("MITR", "miner;trader_offtaker"),
    ("TRAD", "trader_offtaker"),
    ("TRDU", "downstream_user;trader_offtaker"),
    ("MIDU", "downstream_user;miner"),
    ("MAMI", "magnet_maker;miner"),
]


@pytest.fixture
def market(store, db_path: Path, store_template) -> Path:
    load_template(store, market_template(store_template))
    extra = pl.DataFrame(
        [
            {"symbol": s, "name": f"{s} Ltd", "country": "CA", "currency": "USD", "roles": r, "stage": "developer"}
            for s, r in EXTRA_COMPANIES
        ]
    )
    store.upsert("companies", extra, provider="file")
    store.close()
    return db_path


def test_score_and_every_stored_run_agree_on_each_companys_class(invoke, market: Path) -> None:
    from screener.store import Store
    from screener.watchlist.runs import load_run

    as_of = ("--as-of", MARKET_END.isoformat())
    scored = invoke("score", *as_of, "--format", "json")
    assert scored.exit_code == 0, scored.stderr
    from_score = {r["symbol"]: r["role_class"] for r in json.loads(scored.stdout)}
    assert {"integrated", "pure_miner", "other", "trader_offtaker"} <= set(from_score.values())
    for rules in BUNDLED:
        assert invoke("weekly", "--rules", rules, *as_of, "--format", "json").exit_code == 0
    with Store(market, read_only=True) as st:
        for run_id in (1, 2, 3):
            run = load_run(st, run_id)
            assert dict(zip(run.table["symbol"], run.table["role_class"], strict=True)) == from_score
