"""The library reports through callbacks and raises errors with their details; it never writes to the terminal.

Why: a notebook or a script that imports or refreshes must get the warnings, the progress and the failing values as
data, and must not find text on its stdout/stderr that it did not ask for. The CLI is the one that prints them.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from screener.intake.imports import ImportRefused, import_paths
from screener.intake.refresh import refresh
from screener.providers.yahoo import RetryPolicy, YahooProvider
from screener.store import Store
from tests._yahoo_helpers import ANCHOR_NOW, FakeYahoo, Listing, reset_yfinance

TODAY = date(2025, 6, 30)


def test_import_warnings_reach_the_callback_and_nothing_is_printed(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("symbol,date,close,analyst\nAAA,2025-01-02,10,me\n", encoding="utf-8")
    notes: list[str] = []
    summary = import_paths(store, [path], today=TODAY, note=notes.append)
    assert summary.table()["stored"].to_list() == [1]
    assert [n.split(":")[0] for n in notes] == ["Warning", "Warning"], notes
    assert "analyst" in notes[0] and "not in the universe" in notes[1] and "AAA" in notes[1]
    assert capsys.readouterr() == ("", "")


def test_a_refused_import_carries_every_failing_value_and_names_no_flag(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("symbol,date,close\nMP,2025-01-02,20\nMP,2999-01-04,21\nMP,2999-01-05,22\n", encoding="utf-8")
    with pytest.raises(ImportRefused) as caught:
        import_paths(store, [path], today=TODAY)
    failures = caught.value.failures
    assert len(failures) == 2 and all(f.startswith(f"{path}, row ") for f in failures), failures
    assert str(caught.value) == f"{failures[0]}; nothing was imported (2 failing value(s))"
    assert "--" not in str(caught.value)
    assert store.frame("prices").height == 0
    assert capsys.readouterr() == ("", "")


def test_refresh_reports_progress_through_the_callback_and_prints_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    reset_yfinance()
    fake = FakeYahoo(
        [
            Listing("MP"),
            Listing("7203.T", quote_currency="JPY", financial_currency="JPY", timezone="Asia/Tokyo", price=2800.0),
            Listing("JPYUSD=X", price=0.0066, timezone="Asia/Tokyo"),
        ]
    )
    cols = ["symbol", "name", "country", "currency", "roles", "stage"]
    rows = [
        ("MP", "MP Materials", "US", "USD", "miner", "producer"),
        ("7203.T", "Toyota", "JP", "JPY", "oem", "producer"),
    ]
    store.upsert("companies", pl.DataFrame(rows, schema=cols, orient="row"), "file")
    provider = YahooProvider(fake, retry=RetryPolicy(retries=0, base_delay=0.0), sleep=lambda _s: None, seed=3)
    seen: list[tuple[str, int, int]] = []
    report = refresh(store, provider, now=ANCHOR_NOW, on_progress=lambda *step: seen.append(step))
    assert set(report.table()["status"]) == {"ok"}, report.table().to_dicts()
    # the total grows as the run learns its work: two symbols, then the one FX pair found due
    assert seen[0] == ("", 0, 2)
    assert sorted(label for label, _, _ in seen if label) == ["7203.T", "JPYUSD=X", "MP"]
    assert [done for label, done, _ in seen if label] == [1, 2, 3]
    assert seen[-1][1:] == (3, 3)
    assert capsys.readouterr() == ("", "")
