"""Stored backtests: a saved result loads back equal, by id or latest; unknown ids name the stored ones; the list
carries each backtest's parameters and headline figures; the clock is the caller's to pin."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest

from screener.backtest.history import LIST_SCHEMA, list_backtests, load_backtest, save_backtest
from screener.errors import ArgumentError, ScreenerError
from screener.store import Store
from tests.builders import BT_START, backtest_result

AT = datetime(2026, 1, 2, 3, 4, 5)


def test_save_then_load_gives_the_same_result(store: Store) -> None:
    result = backtest_result()
    bid = save_backtest(store, result, clock=lambda: AT)
    assert result.backtest_id == bid and result.created_at == "2026-01-02T03:04:05Z"
    loaded = load_backtest(store, bid)
    assert loaded.to_json() == result.to_json()
    assert loaded.to_json()["backtest_id"] == bid
    assert loaded.created_at == result.created_at
    for name in ("ic", "quantiles", "curve", "holdings", "ic_series"):
        assert loaded.table(name).equals(result.table(name)), name
    assert loaded.notes == result.notes and loaded.demo is True


def test_latest_is_the_newest_backtest(store: Store) -> None:
    save_backtest(store, backtest_result(), clock=lambda: AT)
    second = save_backtest(store, backtest_result(demo=False), clock=lambda: AT)
    assert load_backtest(store, "latest").backtest_id == second
    assert load_backtest(store, None).backtest_id == second
    assert load_backtest(store, f" {second} ").demo is False


def test_the_clock_defaults_to_the_store_clock_a_test_can_pin(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("screener.backtest.history.utcnow", lambda: AT)
    result = backtest_result()
    save_backtest(store, result)
    assert list_backtests(store)["created_at"].to_list() == [AT]


def test_an_unknown_id_names_the_stored_ones(store: Store) -> None:
    with pytest.raises(ScreenerError, match="no stored backtests yet"):
        load_backtest(store, "latest")
    a = save_backtest(store, backtest_result(), clock=lambda: AT)
    b = save_backtest(store, backtest_result(), clock=lambda: AT)
    with pytest.raises(ScreenerError, match=rf"no stored backtest 99; stored: {a}, {b}$"):
        load_backtest(store, 99)
    with pytest.raises(ArgumentError) as info:
        load_backtest(store, "last week", parameter="show")
    assert info.value.options == ["show"]


def test_the_list_has_parameters_and_headline_figures(store: Store) -> None:
    assert list_backtests(store).schema == pl.Schema(LIST_SCHEMA)
    save_backtest(store, backtest_result(), clock=lambda: AT)
    save_backtest(store, backtest_result(demo=False, sharpe=None), clock=lambda: AT)
    df = list_backtests(store)
    assert df.columns == list(LIST_SCHEMA)
    newest, oldest = df.rows(named=True)
    assert newest["id"] > oldest["id"]
    assert oldest["rules"] == "default" and oldest["rules_hash"] == "54472fda"
    assert (oldest["start"], oldest["every"], oldest["dates"]) == (BT_START, "1w", 30)
    assert oldest["end"] == date(2025, 7, 25)
    assert oldest["cagr"] == pytest.approx(0.081) and oldest["sharpe"] == pytest.approx(0.41)
    assert newest["sharpe"] is None  # not measured stays unknown, never 0
    assert (newest["demo"], oldest["demo"]) == (False, True)
