"""The demo refuses a store that holds real market data; the rule is the library's, the command only words it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from screener.intake.demo import RealDataInStore, check_demo_store, real_data_providers
from screener.store import Store

COMPANIES = pl.DataFrame(
    [("AAA", "Alpha", "US", "USD", "miner", "producer")],
    schema=["symbol", "name", "country", "currency", "roles", "stage"],
    orient="row",
)
PRICES = pl.DataFrame({"symbol": ["AAA"], "date": [date(2025, 1, 2)], "close": [10.0]})


def test_a_universe_alone_and_demo_rows_are_safe_for_the_demo(store: Store) -> None:
    store.upsert("companies", COMPANIES, "file")  # the user's own universe is not market data
    store.upsert("prices", PRICES, "demo")
    assert real_data_providers(store) == []
    check_demo_store(store)


def test_real_prices_refuse_the_demo_with_the_providers_named(store: Store) -> None:
    store.upsert("companies", COMPANIES, "file")
    store.upsert("prices", PRICES, "file")
    assert real_data_providers(store) == ["file"]
    with pytest.raises(RealDataInStore) as caught:
        check_demo_store(store)
    assert caught.value.providers == ["file"]
    assert str(caught.value) == f"the store {store.path} holds real market data (providers: file)"


def test_the_demo_command_refuses_a_store_with_real_data_and_says_where_to_run_it(
    db_path: Path, invoke, tmp_path: Path
) -> None:
    with Store(db_path) as store:
        store.upsert("companies", COMPANIES, "file")
        store.upsert("prices", PRICES, "file")
    result = invoke("demo", "--no-export")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: the store {db_path} holds real market data (providers: file); "
        "run the demo in its own store: screener --db demo.duckdb demo"
    )
    with Store(db_path) as store:
        assert store.frame("prices")["close"].to_list() == [10.0]  # nothing loaded next to it


def test_the_bundled_load_counts_its_companies_whatever_happened_to_each(store: Store) -> None:
    from screener.intake.universe import load_bundled

    first = load_bundled(store)
    assert first.companies == first.companies_added == store.company_count() > 0
    again = load_bundled(store)  # nothing new: every company is refreshed or kept, none added
    assert again.companies_added == 0 and again.companies == first.companies
