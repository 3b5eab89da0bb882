"""Factor discovery reads the factor folder only: every module there is a factor, and a helper beside the factors
is never imported as one."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from factors import registry
from factors.registry import FACTORS, LIBRARY, discover, factor_modules
from tests.builders import ROOT

FACTOR_MODULE = """
import polars as pl

from factors.registry import register_factor


@register_factor(
    name="{name}",
    direction="higher_is_better",
    needs=(),
    missing="neutral",
    params={{}},
    components={{"one": 1}},
    description="probe",
    order=90,
)
def compute(ctx, p):
    return ctx.base.select("as_of", "symbol", pl.lit(1.0).alias("one"))
"""


@pytest.fixture
def probe_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A package ``probe_factors`` whose ``library`` folder holds two factors and whose top holds a helper that
    fails on import; the registry and ``sys.modules`` are restored afterwards."""
    pkg = tmp_path / "probe_factors"
    lib = pkg / "library"
    lib.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "helper.py").write_text('raise RuntimeError("a helper was imported as a factor")\n')
    (lib / "__init__.py").write_text("")
    (lib / "zeta.py").write_text(FACTOR_MODULE.format(name="probe_zeta"))
    (lib / "alpha.py").write_text(FACTOR_MODULE.format(name="probe_alpha"))
    monkeypatch.syspath_prepend(str(tmp_path))
    saved, saved_order = dict(registry._REGISTERED), dict(FACTORS)
    yield "probe_factors.library"
    registry._REGISTERED.clear()
    registry._REGISTERED.update(saved)
    FACTORS.clear()
    FACTORS.update(saved_order)
    for name in [m for m in sys.modules if m == "probe_factors" or m.startswith("probe_factors.")]:
        del sys.modules[name]


def test_a_helper_beside_the_factor_folder_is_never_imported(probe_package: str) -> None:
    assert factor_modules(probe_package) == ["alpha", "zeta"]  # sorted: discovery is deterministic
    discover(probe_package)
    assert {"probe_alpha", "probe_zeta"} <= set(FACTORS)
    assert FACTORS["probe_alpha"].module == "probe_factors.library.alpha"
    assert "probe_factors.helper" not in sys.modules


def test_the_factor_folder_holds_only_factors_and_the_helpers_stay_outside() -> None:
    folder = ROOT / Path(*LIBRARY.split("."))
    on_disk = sorted(p.stem for p in folder.glob("*.py") if p.stem != "__init__")
    assert factor_modules() == on_disk
    registered = sorted(spec.module for spec in FACTORS.values())
    assert registered == [f"{LIBRARY}.{m}" for m in on_disk]  # every module registers, and only they do
    helpers = sorted(p.stem for p in (ROOT / "factors").glob("*.py") if p.stem != "__init__")
    assert {"crosssection", "engine", "inputs", "registry"} <= set(helpers)
    assert not set(helpers) & set(factor_modules())
