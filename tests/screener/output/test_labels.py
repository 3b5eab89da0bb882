"""The field catalogue: every exported column has a label, a unit where it has one, and a meaning; percentiles that
mean different things are named apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from screener.output.labels import (
    COMPONENTS,
    FACTOR_NAMES,
    FIELDS,
    PERCENTILE,
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
    assert label_of("balance_sheet_pct", "watchlist") == "Balance sheet percentile (eligible)"
    assert label_of("balance_sheet_pct_eligible") == label_of("balance_sheet_pct", "watchlist")
    assert unit_of("balance_sheet_pct") == PERCENTILE
    assert "every scored company" in describe("balance_sheet_pct")
    assert "filters and gates" in describe("balance_sheet_pct", "watchlist")
    assert label_of("market_cap_usd") == "Market cap" and unit_of("market_cap_usd") == USD
    assert label_of("contrib.dilution_risk") == "Dilution risk contribution"
    assert label_of("dilution_risk.months_to_raise") == "Months to a raise" and unit_of(
        "dilution_risk.months_to_raise"
    ) == ("months")
    assert unit_of("name") is None and describe("name")
    assert "dilution" in describe("dilution_risk").lower()  # the factor registry's own description


def test_unknown_fields_get_a_readable_fallback() -> None:
    assert not is_known("foo_bar.baz_qux")
    assert field_info("foo_bar.baz_qux") is None
    assert label_of("foo_bar.baz_qux") == "Foo bar baz qux"
    assert unit_of("foo_bar.baz_qux") is None and describe("foo_bar.baz_qux") == ""


def test_percentiles_and_ranks_that_mean_different_things_have_different_labels() -> None:
    from factors.registry import FACTORS

    for f in FACTORS:
        assert label_of(f"{f}_pct") != label_of(f"{f}_pct", "watchlist"), f
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
    rows = [company(s, localization_premium=0.1 * i, market_cap_usd=2e9) for i, s in enumerate(("AAA", "BBB", "CCC"))]
    # a downstream user too, so every bundled rule set (downstream-squeeze ranks only those) has someone to rank
    rows.append(company("DDD", roles="downstream_user", localization_premium=0.2, market_cap_usd=2e9))
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
        view = "watchlist" if sheet == "watchlist" else "scores"
        for c in cols:
            assert is_known(c), (sheet, c)
            assert describe(c, view), (sheet, c)
        labels = [label_of(c, view) for c in cols]
        assert len(set(labels)) == len(labels), (sheet, labels)
    unknown = [c for c in run.table.columns if not is_known(c)]
    assert unknown == [], unknown


def test_catalogue_entries_are_complete() -> None:
    for name, info in FIELDS.items():
        assert info.label and info.description.endswith("."), name
        assert info.label[0].isupper(), name
