"""The registry: every factor is declared completely, documented in METHODOLOGY.md and tested."""

from __future__ import annotations

import re
from collections.abc import Iterator

import polars as pl
import pytest

from factors import registry
from factors.engine import compute_scores, score_columns
from factors.inputs import INPUTS
from factors.registry import FACTORS, factor_modules, get_factor, register_factor
from tests.builders import AS_OF, ROOT, universe

METHODOLOGY = (ROOT / "METHODOLOGY.md").read_text(encoding="utf-8")
PUBLIC = ["localization_premium", "dilution_risk", "balance_sheet", "commodity_dependence", "pullback", "liquidity"]


def _section(name: str) -> str:
    """The METHODOLOGY.md section whose heading names the factor."""
    match = re.search(rf"^## [^\n]*`{re.escape(name)}`[^\n]*\n(.*?)(?=^## |\Z)", METHODOLOGY, re.M | re.S)
    assert match, f"METHODOLOGY.md has no '## ... `{name}`' section"
    return match.group(0)


def _scalars(value: object) -> list[str]:
    if isinstance(value, dict) or hasattr(value, "items"):
        return [str(k) for k in value] + [s for v in value.values() for s in _scalars(v)]  # type: ignore[union-attr]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _scalars(v)]
    if isinstance(value, float):
        return [f"{value:g}"]
    return [str(value)]


def test_public_factor_names_and_order() -> None:
    assert list(FACTORS) == PUBLIC
    assert get_factor("dilution_risk").direction == "higher_is_worse"
    assert get_factor("commodity_dependence").direction == "higher_is_worse"
    for name in ("localization_premium", "balance_sheet", "pullback", "liquidity"):
        assert get_factor(name).direction == "higher_is_better"


@pytest.mark.parametrize("name", list(FACTORS))
def test_factor_is_documented_in_methodology(name: str) -> None:
    spec = FACTORS[name]
    text = _section(name)
    assert spec.direction.replace("_", " ") in text
    assert f"`{spec.missing}`" in text, f"missing-value policy of {name} not stated"
    for comp in spec.components:
        assert f"`{comp}`" in text, f"component {comp} of {name} not documented"
    for param, default in spec.params.items():
        assert f"`{param}`" in text, f"parameter {param} of {name} not documented"
        for token in _scalars(default):
            assert token in text, f"default {token!r} of {name}.{param} not in METHODOLOGY.md"
    assert "$$" in text, f"{name} has no formula"
    assert "Thesis" in text


@pytest.mark.parametrize("name", list(FACTORS))
def test_factor_has_its_own_test_module(name: str) -> None:
    path = ROOT / "tests" / "factors" / "library" / f"test_{name}.py"
    assert path.exists(), f"{name} has no {path.name}"
    assert "hand_computed" in path.read_text(encoding="utf-8"), f"{path.name} has no hand-computed test"


@pytest.mark.parametrize("name", list(FACTORS))
def test_factor_declaration_is_complete(name: str) -> None:
    spec = FACTORS[name]
    assert spec.description and spec.thesis
    assert spec.module == f"factors.library.{name}", "one module per factor, named after it"
    assert set(spec.signs) == set(spec.components)
    unknown = [n for n in spec.needs if n not in INPUTS]
    assert not unknown, f"{name} needs undeclared inputs {unknown}"
    assert any(INPUTS[n].counted for n in spec.needs) or name in ("commodity_dependence",)


def test_discovery_finds_every_factor_module() -> None:
    assert factor_modules() == sorted(PUBLIC)


def test_engine_settings_are_documented() -> None:
    from factors.inputs import SETTINGS

    for key in SETTINGS:
        assert f"`{key}`" in METHODOLOGY, key
    for name, spec in INPUTS.items():
        if spec.counted:
            assert f"`{name}`" in METHODOLOGY, name


def test_get_factor_suggests_on_a_typo() -> None:
    with pytest.raises(KeyError, match="did you mean 'pullback'"):
        get_factor("pulback")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"direction": "up"}, "direction"),
        ({"missing": "zero"}, "missing"),
        ({"components": {}}, "at least one component"),
        ({"components": {"a": 2}}, "signs"),
        ({"components": {"a": 1, "b": 1}}, "combine"),
        ({"name": "a.b"}, "may not contain"),
    ],
)
def test_malformed_declarations_are_rejected(kwargs: dict, message: str) -> None:
    decl = {
        "name": "tmp_factor",
        "direction": "higher_is_better",
        "needs": (),
        "missing": "neutral",
        "params": {},
        "components": {"a": 1},
        "description": "x",
        **kwargs,
    }
    with pytest.raises(ValueError, match=message):
        register_factor(**decl)


@pytest.fixture
def scratch_registry() -> Iterator[None]:
    saved, saved_order = dict(registry._REGISTERED), dict(FACTORS)
    yield
    registry._REGISTERED.clear()
    registry._REGISTERED.update(saved)
    FACTORS.clear()
    FACTORS.update(saved_order)


def test_a_new_factor_needs_only_its_own_module(scratch_registry: None) -> None:
    @register_factor(
        name="size",
        direction="higher_is_better",
        needs=("market_cap",),
        missing="exclude",
        params={},
        components={"log_market_cap": 1},
        description="Bigger is steadier.",
        order=70,
    )
    def size(ctx, p):  # type: ignore[no-untyped-def]
        return ctx.base.select("as_of", "symbol", pl.col("market_cap_usd").log10().alias("log_market_cap"))

    assert list(FACTORS)[-1] == "size"
    out = compute_scores(universe(3), AS_OF)
    assert out.columns == score_columns()
    assert {"size", "size_pct", "size.log_market_cap"} <= set(out.columns)
    assert out["size"].to_list() == out["size.log_market_cap"].to_list()
