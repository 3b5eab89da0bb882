"""great-expectations loads on another thread (``runner.warm_up``) while an import reads its files: one context is
made, once, and the first check waits for it. Run in a fresh interpreter: the test process has loaded it already."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import json, threading
import screener.validation.runner as runner

made = []
make = runner._make_context
def counting():
    made.append(threading.current_thread().name)
    return make()
runner._make_context = counting
before = runner.ready()
runner.warm_up()
runner.warm_up()  # once per process: a second call starts nothing
threads = [t.name for t in threading.enumerate() if t.name == "great-expectations"]
ctx = runner._context()  # waits for the thread's context rather than making another
print(json.dumps({"before": before, "threads": threads, "made": made, "ready": runner.ready(),
                  "same": ctx is runner._context(), "asset": "asset" in runner._STATE}))
"""


def test_one_context_is_made_on_the_warm_up_thread_and_the_first_check_waits_for_it() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["before"] is False
    assert got["threads"] == ["great-expectations"]
    assert got["made"] == ["great-expectations"]
    assert got["ready"] is True and got["same"] is True and got["asset"] is True
