"""The curation commands follow the store's lock model: the inbox only reads, and suggestions are computed (and the
learnt model kept in memory) while another process has the store open, never waiting for or taking its lock."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from screener.store import Store
from tests.reliability.conftest import held, run


def test_suggest_and_the_inbox_run_while_another_process_has_the_store_open(
    fresh_store: Callable[[str], Path],
) -> None:
    db = fresh_store("curation.duckdb")
    with held(db, read_only=True):
        suggested = run(db, "universe", "suggest", "MP", "--format", "json", "--wait", "0")
        inbox = run(db, "events", "inbox", "--format", "json", "--wait", "0")
    assert suggested.returncode == 0, suggested.stderr
    rows = json.loads(suggested.stdout)
    assert rows and {r["symbol"] for r in rows} == {"MP"}
    notes = [line for line in suggested.stderr.splitlines() if "computed in memory" in line]
    assert len(notes) == 1 and "not stored" in notes[0], suggested.stderr
    assert inbox.returncode == 0, inbox.stderr
    assert json.loads(inbox.stdout) == []
    with Store(db, read_only=True) as store:
        assert store.suggestion_models().height == 0  # the model learnt under the other process was not stored


def test_accepting_a_suggestion_waits_for_the_lock_and_names_its_holder(fresh_store: Callable[[str], Path]) -> None:
    db = fresh_store("accept.duckdb")
    with held(db, read_only=False) as holder:
        done = run(db, "universe", "suggest", "--accept", "MP", "--source", "test", "--wait", "0")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"locked by process {holder.pid} " in lines[0], done.stderr
