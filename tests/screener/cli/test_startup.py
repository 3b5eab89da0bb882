"""Start-up stays fast: ``--help`` and ``universe list`` never import the heavy libraries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.builders import loaded_and_said

HEAVY = ("pandas", "great_expectations", "sklearn", "yfinance")

_SCRIPT = """
import json, sys
from screener.cli.app import cli

codes = []
for args in {runs}:
    try:
        cli.main(args=args, prog_name="screener", standalone_mode=False)
        codes.append(0)
    except SystemExit as exc:
        codes.append(exc.code)
print(json.dumps({{"codes": codes, "modules": sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})}}))
"""


def _run(runs: list[list[str]]) -> dict:
    script = _SCRIPT.format(runs=repr(runs), heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_help_and_universe_list_do_not_import_heavy_libraries(db_path: Path) -> None:
    from screener.intake.universe import load_bundled
    from screener.store import Store

    with Store(db_path) as store:
        load_bundled(store)
    got = _run(
        [
            ["--help"],
            ["--db", str(db_path), "universe", "list", "--format", "json"],
            ["--db", str(db_path), "universe", "list", "--role", "magnet_maker"],
        ]
    )
    assert got["modules"] == []
    assert got["codes"] == [0, 0, 0]


def test_every_command_help_is_light() -> None:
    from screener.cli.app import COMMANDS

    got = _run([[name, "--help"] for name in COMMANDS])
    assert got["codes"] == [0] * len(COMMANDS)
    assert got["modules"] == []


def test_screen_on_stored_scores_does_not_import_the_engine(db_path: Path) -> None:
    """Reading a stored score set that is still current needs the registry's declarations (the freshness key) and
    the set itself: neither the engine nor the point-in-time inputs it computes from are imported."""
    from datetime import date

    from factors.engine import current_scores
    from screener.intake.universe import load_bundled
    from screener.store import Store

    day = date(2026, 6, 1)
    with Store(db_path) as store:
        load_bundled(store)
        assert current_scores(store, day, today=day)[1] == "computed now"
    # nor the locale tables of ``strptime``, whose first call costs about 12 ms: ``--as-of`` is read without it
    engine = ("factors.engine", "factors.inputs", "_strptime")
    args = ["--db", str(db_path), "screen", "--as-of", day.isoformat(), "--format", "csv", "--top", "3"]
    loaded, said = loaded_and_said(args, engine)
    assert loaded == []
    assert "(stored)" in said


def test_import_validates_without_loading_what_great_expectations_imports_unused(db_path: Path, tmp_path: Path) -> None:
    """great-expectations imports scipy.stats and altair for checks no suite here runs (about 1.5 s of an import):
    a validated import stores its rows without either being loaded."""
    from tests._foundation_helpers import COMPANIES_CSV, PRICES_CSV

    (tmp_path / "companies.csv").write_text(COMPANIES_CSV)
    (tmp_path / "prices.csv").write_text(PRICES_CSV)
    args = ["--db", str(db_path), "import", str(tmp_path / "companies.csv"), str(tmp_path / "prices.csv")]
    loaded, said = loaded_and_said(args, ("great_expectations", "scipy.stats", "altair"))
    assert loaded == ["great_expectations"]
    assert "stored: 2 companies" in said
