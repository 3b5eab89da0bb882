"""The source tree shows the pipeline, and the tests mirror it, so a new engineer finds both rooms from folder names."""

from __future__ import annotations

from tests.builders import ROOT

STAGES = ("providers", "validation", "intake", "store", "watchlist", "output", "cli")


def test_screener_is_grouped_by_pipeline_stage() -> None:
    packages = {p.parent.name for p in (ROOT / "screener").glob("*/__init__.py")}
    assert set(STAGES) <= packages
    loose = sorted(p.name for p in (ROOT / "screener").glob("*.py"))
    # only what every stage shares stays at the top: the contract, errors, file locations, the package entry and
    # the Python API a notebook imports (``screener.api``, which calls into the stages)
    assert loose == ["__init__.py", "__main__.py", "api.py", "contract.py", "errors.py", "paths.py"]


#: Test folders that test the product as a whole rather than one source folder (the reliability suite).
CROSS_CUTTING = ("reliability",)


def test_every_test_folder_mirrors_a_source_folder() -> None:
    folders = [p.parent for p in (ROOT / "tests").rglob("__init__.py") if "fixtures" not in p.parts]
    folders = [f for f in folders if f.relative_to(ROOT / "tests").parts[:1] not in [(c,) for c in CROSS_CUTTING]]
    mirrored = [f.relative_to(ROOT / "tests") for f in folders if f != ROOT / "tests"]
    assert mirrored, "no test folders found"
    missing = sorted(str(m) for m in mirrored if not (ROOT / m).is_dir())
    assert missing == []


def test_every_stage_has_its_tests() -> None:
    for stage in STAGES:
        assert list((ROOT / "tests" / "screener" / stage).glob("test_*.py")), f"no tests for screener/{stage}/"
