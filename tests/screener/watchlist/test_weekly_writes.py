"""How a weekly run writes: a score set it computes is stored with the run, in the run's one transaction.

Why it matters: the write lock is taken per transaction, and each take opens DuckDB for writing (and each give-back
closes it); a weekly run that stored its score set and then its run paid that twice, on a command meant to answer
in well under a second. A refused run still stores the score set it computed, as before, and an interrupted one
stores nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import screener.store.connection as connection
from screener.errors import ScreenerError
from screener.store import Store
from screener.watchlist.runs import load_run, run_weekly
from tests._score_cli_helpers import AS_OF, imported_template
from tests.builders import copy_template


def _counting_opens(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Every DuckDB open from here on, as its ``read_only`` flag."""
    opens: list[bool] = []
    real = connection.connect

    def counting(path: Path, *, read_only: bool, **kw: Any) -> Any:
        opens.append(read_only)
        return real(path, read_only=read_only, **kw)

    monkeypatch.setattr(connection, "connect", counting)
    return opens


#: Rules without a size gate: the small imported universe has names eligible under them.
RULES = """
name = "wk"
[weights]
localization_premium = 0.5
dilution_risk = 0.5
[constraints]
top_n = 3
"""


@pytest.fixture
def db(store_template: Any, tmp_path: Path) -> Path:
    return copy_template(imported_template(store_template), tmp_path / "weekly.duckdb")


@pytest.fixture
def rules(tmp_path: Path) -> str:
    path = tmp_path / "wk.toml"
    path.write_text(RULES)
    return str(path)


def test_a_run_on_a_new_date_stores_its_scores_and_the_run_in_one_write_open(
    db: Path, rules: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    opens = _counting_opens(monkeypatch)
    with Store(db, writes="brief") as store:
        res = run_weekly(store, rules, AS_OF)
    assert opens == [True, False]  # read; then the write lock once, for the score set and the run together
    with Store(db, read_only=True) as store:
        info = store.score_set_info(AS_OF)
        assert info is not None and info["n_companies"] > 0
        run = load_run(store, res.run_id)
    # the run says when its scores were computed, though they were not stored yet when it was ranked
    stamp = f"scores computed {info['computed_at']:%Y-%m-%d %H:%M} UTC"
    assert res.data_freshness.endswith(stamp)
    assert run.data_freshness == res.data_freshness


def test_a_refused_run_still_stores_the_scores_it_computed(db: Path, rules: str) -> None:
    def refuse(_rows: object) -> None:
        raise ScreenerError("the caller refuses these rows")

    with Store(db, writes="brief") as store:
        with pytest.raises(ScreenerError, match="the caller refuses these rows"):
            run_weekly(store, rules, AS_OF, check_rows=refuse)
        assert store.score_set_info(AS_OF) is not None  # the next screen of that date reuses it
        assert store.run_list().height == 0


def test_an_interrupted_run_stores_nothing(db: Path, rules: str) -> None:
    def interrupt(_rows: object) -> None:
        raise KeyboardInterrupt

    with Store(db, writes="brief") as store:
        with pytest.raises(KeyboardInterrupt):
            run_weekly(store, rules, AS_OF, check_rows=interrupt)
        assert store.score_set_info(AS_OF) is None
        assert store.run_list().height == 0


def test_a_run_on_stored_scores_stores_only_the_run(db: Path, rules: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with Store(db, writes="brief") as store:
        first = run_weekly(store, rules, AS_OF)
        computed = store.score_set_info(AS_OF)
    opens = _counting_opens(monkeypatch)
    with Store(db, writes="brief") as store:
        again = run_weekly(store, rules, AS_OF)
        assert opens == [True, False]
        assert store.score_set_info(AS_OF) == computed  # reused, not stored again
    assert again.replaced == first.run_id and again.data_freshness == first.data_freshness


def test_a_refused_run_whose_scores_cannot_be_stored_either_reports_the_refusal(
    db: Path, rules: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's own error is what the user hears; the failed store of the set is noted beside it, not instead."""

    def refuse(_rows: object) -> None:
        raise ScreenerError("the caller refuses these rows")

    def full_disk(*_args: object, **_kwargs: object) -> None:
        raise ScreenerError("the disk is full")

    with Store(db, writes="brief") as store:
        monkeypatch.setattr(store, "save_scores", full_disk)
        with pytest.raises(ScreenerError, match="the caller refuses these rows"):
            run_weekly(store, rules, AS_OF, check_rows=refuse)
        assert store.notices == ["the computed scores were not stored either: the disk is full"]
        assert store.score_set_info(AS_OF) is None and store.run_list().height == 0
