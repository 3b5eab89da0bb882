"""The field catalogue: every exported column has a label, a unit and a meaning; percentiles that mean different
things are named apart; ``screener fields``, the terminal table and the workbook read the one catalogue."""

from __future__ import annotations

from pathlib import Path

import pytest

from screener.output.fields import (
    COMPONENTS,
    DECIMAL,
    FACTOR_NAMES,
    FIELDS,
    PERCENTILE,
    TEXT,
    USD,
    describe,
    field_info,
    is_known,
    label_of,
    unit_of,
)
from screener.store import Store
from tests.builders import ensure_factors

ensure_factors()


def test_the_typed_api_on_known_fields() -> None:
    assert label_of("balance_sheet_pct") == "Balance sheet percentile (all scored)"
    assert label_of("balance_sheet_pct_eligible") == "Balance sheet percentile (eligible)"
    assert unit_of("balance_sheet_pct") == unit_of("balance_sheet_pct_eligible") == PERCENTILE
    assert "every scored company" in describe("balance_sheet_pct")
    assert "filters and gates" not in describe("balance_sheet_pct")  # one name, one meaning
    assert "filters and gates" in describe("balance_sheet_pct_eligible")
    assert label_of("market_cap_usd") == "Market cap" and unit_of("market_cap_usd") == USD
    assert label_of("contrib.dilution_risk") == "Dilution risk contribution"
    assert label_of("dilution_risk.months_to_raise") == "Months to a raise" and unit_of(
        "dilution_risk.months_to_raise"
    ) == ("months")
    assert unit_of("name") == TEXT and describe("name")
    assert "dilution" in describe("dilution_risk").lower()  # the factor registry's own description


def test_unknown_fields_get_a_readable_fallback() -> None:
    assert not is_known("foo_bar.baz_qux")
    assert field_info("foo_bar.baz_qux") is None
    assert label_of("foo_bar.baz_qux") == "Foo bar baz qux"
    assert unit_of("foo_bar.baz_qux") == DECIMAL and describe("foo_bar.baz_qux") == ""
    assert unit_of("foo_bar.new_usd") == USD and unit_of("foo_bar_pct") == PERCENTILE  # the name states its unit


def test_percentiles_and_ranks_that_mean_different_things_have_different_labels() -> None:
    from factors.registry import FACTORS

    for f in FACTORS:
        assert label_of(f"{f}_pct") != label_of(f"{f}_pct_eligible"), f
        assert describe(f"{f}_pct") != describe(f"{f}_pct_eligible"), f
    names = {
        label_of(n)
        for n in ("rank", "candidate_rank", "score", "pct_from", "pct_to", "rank_from", "rank_to", "data_completeness")
    }
    assert len(names) == 8


def test_every_bundled_factor_component_has_a_written_label() -> None:
    from factors.registry import FACTORS

    for name in FACTOR_NAMES:
        spec = FACTORS[name]
        for col in spec.component_columns:
            assert col in COMPONENTS, col  # a new component of a bundled factor gets words here, not a fallback


@pytest.mark.parametrize("rules", ["default", "downstream-squeeze", "mvis-like", "balance-sheet-survivors"])
def test_every_exported_column_is_catalogued_and_labels_are_unique_per_sheet(
    db_path: Path, tmp_path: Path, rules: str
) -> None:
    from screener.output.export import _factors_frame, _universe_frame
    from screener.watchlist.runs import load_run, run_weekly
    from tests.builders import MARKET_END, company, score_frame
    from tests.screener.output.test_export import make_run, with_classes

    make_run(db_path)  # the companies, and a default run for the changes to compare with
    # each rule set ranks someone: a downstream rule set needs downstream users (no empty run is stored)
    extra = {"roles": "downstream_user", "segment": "ev_auto"} if rules == "downstream-squeeze" else {}
    rows = [
        company(s, localization_premium=0.1 * i, market_cap_usd=2e9, **extra)
        for i, s in enumerate(("AAA", "BBB", "CCC"))
    ]
    with Store(db_path) as st:
        res = run_weekly(st, rules, MARKET_END, scores=with_classes(score_frame(rows, MARKET_END)))
        run = load_run(st, res.run_id)
    sheets = {
        "watchlist": run.rows.columns,
        "changes": run.changes.columns,
        "factors": _factors_frame(run).columns,
        "universe": _universe_frame(run).columns,
    }
    for sheet, cols in sheets.items():
        for c in cols:
            assert is_known(c), (sheet, c)
            assert describe(c), (sheet, c)
        labels = [label_of(c) for c in cols]
        assert len(set(labels)) == len(labels), (sheet, labels)
    # the watchlist rows carry the eligible percentile under its own name, the Factors sheet the all-scored one
    assert not any(c.endswith("_pct") for c in sheets["watchlist"]), sheets["watchlist"]
    assert not any(c.endswith("_pct_eligible") for c in sheets["factors"]), sheets["factors"]
    unknown = [c for c in run.table.columns if not is_known(c)]
    assert unknown == [], unknown


def test_catalogue_entries_are_complete() -> None:
    for name, info in FIELDS.items():
        assert info.label and info.description.endswith("."), name
        assert info.label[0].isupper(), name


def test_every_field_screener_fields_lists_has_label_unit_and_meaning_from_the_catalogue() -> None:
    """``screener fields`` prints the one catalogue: each listed field is known to it, and the row's label, unit and
    meaning are the catalogue's own: one meaning per field, the two percentiles of a factor listed apart."""
    import json

    from click.testing import CliRunner

    from screener.cli import cli

    res = CliRunner().invoke(cli, ["fields", "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert len(rows) > 60
    assert len({r["field"] for r in rows}) == len(rows)
    for r in rows:
        name = r["field"]
        info = field_info(name)
        assert info is not None, name
        assert info.label and info.unit and info.description.endswith("."), name
        assert r["label"] == label_of(name) and r["unit"] == unit_of(name), name
        assert r["meaning"] == describe(name), name
    by_name = {r["field"]: r for r in rows}
    pct = by_name["balance_sheet_pct"]
    assert pct["label"] == "Balance sheet percentile (all scored)"
    assert "eligible" not in pct["meaning"]
    eligible = by_name["balance_sheet_pct_eligible"]
    assert eligible["label"] == "Balance sheet percentile (eligible)" and eligible["unit"] == pct["unit"]
    assert "filters and gates" in eligible["meaning"] and not eligible["where"]
    assert by_name["market_cap_usd"]["label"] == "Market cap" and by_name["market_cap_usd"]["unit"] == USD
    assert by_name["rank_from"]["label"] == "Rank, previous run"  # a run's changes are listed too
