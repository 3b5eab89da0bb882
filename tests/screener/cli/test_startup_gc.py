"""The entry point holds garbage collection while the libraries load and gives it back once a store is open.

Each case runs the real entry point in a fresh interpreter: the test process's own collector must stay untouched.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest

from screener.cli import startup
from tests.builders import MARKET_END, copy_template, scored_market_template

PROBE = """
import gc, json, sys
from screener.cli import startup
seen = {{}}
real_release = startup.release

def release(**kw):
    seen.setdefault("at_release", {{"threshold": gc.get_threshold(), "held": startup.held()}})
    real_release(**kw)

startup.release = release
default = gc.get_threshold()
sys.argv = ["screener", *{args!r}]
from screener.cli.app import main
try:
    main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({{"code": code, "default": default, "after": gc.get_threshold(), "frozen": gc.get_freeze_count(),
                  "held": startup.held(), **seen}}), file=sys.stderr)
"""


def _probe(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True, timeout=300)
    return json.loads(out.stderr.strip().splitlines()[-1])


@pytest.fixture
def scored_db(db_path: Path, store_template) -> Path:
    return copy_template(scored_market_template(store_template), db_path)


def test_a_command_that_opens_a_store_freezes_the_start_up_and_collects_as_usual_after(scored_db: Path) -> None:
    got = _probe(["--db", str(scored_db), "screen", "--as-of", MARKET_END.isoformat(), "--format", "csv"])
    assert got["code"] in (0, None)
    assert got["at_release"] == {"threshold": [startup.STARTUP_THRESHOLD, *got["default"][1:]], "held": True}
    assert got["after"] == got["default"] and not got["held"]
    assert got["frozen"] > 10_000  # the libraries' objects, out of every later collection


def test_a_command_without_a_store_gives_the_settings_back_unfrozen() -> None:
    got = _probe(["--version"])
    assert got["code"] in (0, None)
    assert got["after"] == got["default"] and not got["held"] and got["frozen"] == 0


def test_release_without_hold_changes_nothing() -> None:
    before = gc.get_threshold(), gc.get_freeze_count()
    startup.release()
    startup.release(freeze=False)
    assert (gc.get_threshold(), gc.get_freeze_count()) == before and not startup.held()


def test_hold_is_undone_by_an_unfrozen_release() -> None:
    before = gc.get_threshold(), gc.get_freeze_count()
    try:
        startup.hold()
        startup.hold()  # a second hold keeps the first one's settings to give back
        assert startup.held() and gc.get_threshold()[0] == startup.STARTUP_THRESHOLD
    finally:
        startup.release(freeze=False)
    assert (gc.get_threshold(), gc.get_freeze_count()) == before and not startup.held()
