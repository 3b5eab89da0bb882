"""Places: one parser and one table of region names for ``universe list``, ``screen``, rule files and expressions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from rules.expr import ExprError, compile_condition, namespace_for
from rules.ruleset import RuleSetError, parse
from screener.cli.app import flag_of
from screener.contract import ISO_COUNTRIES, REGION_NAMES, split_places
from screener.errors import ScreenerError
from tests.builders import ROOT, ensure_factors

BASE = 'name = "t"\n[weights]\ndilution_risk = 1\n[universe]\n'
#: Names a user might try that are not regions.
NOT_REGIONS = ("europa", "EU", "asia", "emea", "north-america", "latam", "UK", "GB", "")

ensure_factors()


def _rule_set_accepts(key: str, value: str) -> bool:
    try:
        parse(BASE + f'{key} = ["{value}"]\n', "t.toml")
    except RuleSetError:
        return False
    return True


def _cli_region(value: str) -> str | None:
    try:
        _codes, regions = split_places([value])
    except ScreenerError:
        return None
    return regions[0] if regions else None


def _expression_accepts(value: str) -> bool:
    try:
        compile_condition(f"region == '{value}'", namespace_for([]))
    except ExprError:
        return False
    return True


@pytest.mark.parametrize("key", ["regions", "exclude_regions"])
def test_rule_sets_the_command_line_and_expressions_accept_exactly_the_contracts_regions(key: str) -> None:
    for name in (*REGION_NAMES, *NOT_REGIONS):
        known = name in REGION_NAMES
        assert _rule_set_accepts(key, name) is known, name
        assert (_cli_region(name) == name) is known, name
        assert _expression_accepts(name) is known, name


def test_no_module_but_the_contract_makes_its_own_table_of_region_names() -> None:
    """A second table drifts: each place check must read ``contract.REGION_NAMES`` (or ``region_of``)."""
    offenders = []
    for folder in ("screener", "rules", "factors"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == ROOT / "screener" / "contract.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Assign | ast.AnnAssign):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    if any(isinstance(t, ast.Name) and t.id == "REGION_NAMES" for t in targets):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} assigns REGION_NAMES")
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "values"
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "REGIONS"
                ):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} derives region names from REGIONS")
    assert offenders == []


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        # the hints --country gives on the command line
        ("regions", "EU", "universe.regions[0]: unknown region 'EU' (did you mean 'europe'?)"),
        ("exclude_regions", "eu", "universe.exclude_regions[0]: unknown region 'eu' (did you mean 'europe'?)"),
        ("countries", "UK", "universe.countries[0]: unknown country 'UK' (did you mean 'GB'?)"),
        ("regions", "nort", "universe.regions[0]: unknown region 'nort' (did you mean 'north_america'?)"),
        # a place under the wrong key is pointed to the key that takes it
        (
            "regions",
            "UK",
            "universe.regions[0]: unknown region 'UK' "
            "(did you mean the country 'GB'? list it under universe.countries)",
        ),
        (
            "exclude_countries",
            "china",
            "universe.exclude_countries[0]: unknown country 'china' "
            "(did you mean the region 'china'? list it under universe.exclude_regions)",
        ),
    ],
)
def test_a_rule_file_with_an_unknown_place_gets_the_command_lines_hint(
    tmp_path: Path, key: str, value: str, fragment: str
) -> None:
    from rules.ruleset import load

    path = tmp_path / "places.toml"
    path.write_text(BASE + f'{key} = ["{value}"]\n')
    with pytest.raises(RuleSetError) as info:
        load(path)
    msg = str(info.value)
    assert msg == f"{path}: {fragment}"


def test_the_command_line_hint_is_one_line_and_names_every_region() -> None:
    with pytest.raises(ScreenerError) as info:
        split_places(["UK"])
    msg = info.value.worded(flag_of)
    assert "\n" not in msg
    assert msg.startswith("--country: unknown country or region 'UK' (did you mean 'GB'?); use an ISO code")
    assert str(info.value).startswith("countries: unknown country or region 'UK'")
    assert msg.endswith(f"a region ({', '.join(REGION_NAMES)})")
    assert "GB" in ISO_COUNTRIES and "UK" not in ISO_COUNTRIES
