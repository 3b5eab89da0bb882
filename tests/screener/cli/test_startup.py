"""Start-up stays fast: ``--help`` and ``universe list`` never import the heavy libraries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
