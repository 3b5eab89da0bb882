"""The DuckDB store: versioned migrations, one transaction per write, null-safe upserts, and a clear lock message."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from screener.contract import polars_schema
from screener.errors import ScreenerError
from screener.migrations import LATEST_VERSION, MIGRATIONS
from screener.store import Store


def _prices(rows: list[tuple[str, date, float | None, float | None]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=polars_schema("prices"), orient="row")


def _fundamentals(**values: object) -> pl.DataFrame:
    row = {name: None for name in polars_schema("fundamentals")}
    row.update({"symbol": "AAA", "period_end": date(2024, 3, 31), "period": "Q", "currency": "USD"})
    row.update(values)
    return pl.DataFrame([row], schema=polars_schema("fundamentals"))


# -- migrations --------------------------------------------------------------------------------------------------
def test_fresh_store_applies_every_migration_in_order(store: Store) -> None:
    rows = store.rows("SELECT version, description, applied_at FROM schema_version ORDER BY version")
    assert [r[0] for r in rows] == [m[0] for m in MIGRATIONS] == list(range(1, LATEST_VERSION + 1))
    assert [r[1] for r in rows] == [m[1] for m in MIGRATIONS]
    assert all(r[2] is not None for r in rows)
    assert store.schema_version() == LATEST_VERSION
    for table in ("companies", "role_tags", "role_tag_history", "fundamentals", "prices", "fx", "events",
                  "ingest_log"):
        assert store.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]) == 1


def test_reopening_is_a_no_op(db_path: Path) -> None:
    with Store(db_path) as first:
        before = first.rows("SELECT * FROM schema_version ORDER BY version")
    with Store(db_path) as second:
        assert second.rows("SELECT * FROM schema_version ORDER BY version") == before
        assert second.migrate() == LATEST_VERSION


def test_new_migrations_apply_in_version_order(store: Store) -> None:
    # Listed out of order on purpose: the second depends on the first.
    extra = [
        (LATEST_VERSION + 2, "add a column", "ALTER TABLE t_extra ADD COLUMN y INTEGER"),
        (LATEST_VERSION + 1, "add a table", "CREATE TABLE t_extra (x INTEGER)"),
    ]
    assert store.migrate([*MIGRATIONS, *extra]) == LATEST_VERSION + 2
    assert [r[0] for r in store.rows("SELECT version FROM schema_version ORDER BY version")][-2:] == [
        LATEST_VERSION + 1, LATEST_VERSION + 2]
    assert store.rows("SELECT column_name FROM information_schema.columns WHERE table_name = 't_extra' "
                      "ORDER BY ordinal_position") == [("x",), ("y",)]


def test_failing_migration_rolls_back_and_leaves_the_version(store: Store) -> None:
    bad = (LATEST_VERSION + 1, "broken", "CREATE TABLE t_half (x INTEGER); INSERT INTO no_such_table VALUES (1)")
    with pytest.raises(ScreenerError, match=rf"schema v{LATEST_VERSION + 1}.*unchanged at v{LATEST_VERSION}"):
        store.migrate([*MIGRATIONS, bad])
    assert store.schema_version() == LATEST_VERSION
    assert store.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 't_half'") == 0
    # the store is still usable
    store.upsert("prices", _prices([("AAA", date(2024, 1, 2), 1.0, None)]), "test")
    assert store.scalar("SELECT count(*) FROM prices") == 1


def test_store_from_a_newer_version_is_refused(db_path: Path) -> None:
    with Store(db_path) as s:
        s.con.execute("INSERT INTO schema_version VALUES (999, 'future', NULL)")
    with pytest.raises(ScreenerError, match="newer"):
        Store(db_path)


# -- transactions ------------------------------------------------------------------------------------------------
def test_exception_inside_transaction_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.upsert("prices", _prices([("AAA", date(2024, 1, 2), 1.0, 10.0)]), "test")
        store.upsert("fundamentals", _fundamentals(revenue=5.0), "test")
        store.change_tags("AAA", add=["miner"], source="x", actor="user")
        raise RuntimeError("boom")
    assert store.counts() == {t: 0 for t in store.counts()}
    assert store.tag_history().height == 0


def test_nested_transaction_joins_the_outer_one(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        with store.transaction():
            store.upsert("prices", _prices([("AAA", date(2024, 1, 2), 1.0, None)]), "test")
        raise RuntimeError("after the inner block")
    assert store.scalar("SELECT count(*) FROM prices") == 0


def test_a_write_that_fails_halfway_stores_nothing(store: Store) -> None:
    # The second row breaks NOT NULL: the database refuses the statement, and the first row must not survive.
    frame = _prices([("AAA", date(2024, 1, 2), 1.0, None), ("AAA", date(2024, 1, 3), None, None)])
    with pytest.raises(Exception) as info:
        store.upsert("prices", frame, "test")
    assert "aborted" not in str(info.value).lower()  # the real cause surfaces, not the cleanup's complaint
    assert store.scalar("SELECT count(*) FROM prices") == 0
    store.upsert("prices", frame.head(1), "test")
    assert store.scalar("SELECT count(*) FROM prices") == 1


# -- upserts -----------------------------------------------------------------------------------------------------
def test_upsert_updates_on_the_key_and_stamps_provider(store: Store) -> None:
    store.upsert("prices", _prices([("AAA", date(2024, 1, 2), 1.0, 10.0)]), "first")
    store.upsert("prices", _prices([("AAA", date(2024, 1, 2), 2.0, None), ("AAA", date(2024, 1, 3), 3.0, 5.0)]),
                 "second")
    got = store.frame("prices")
    assert got.select("date", "close", "volume", "provider").rows() == [
        (date(2024, 1, 2), 2.0, None, "second"), (date(2024, 1, 3), 3.0, 5.0, "second")]
    assert got["loaded_at"].null_count() == 0


def test_keep_existing_on_null_keeps_stored_values(store: Store) -> None:
    store.upsert("fundamentals", _fundamentals(revenue=100.0, cash=50.0, shares_outstanding=10.0), "live")
    store.upsert("fundamentals", _fundamentals(revenue=None, cash=60.0), "live", keep_existing_on_null=True)
    row = store.frame("fundamentals").row(0, named=True)
    assert (row["revenue"], row["cash"], row["shares_outstanding"]) == (100.0, 60.0, 10.0)
    # without the flag a null means "now missing"
    store.upsert("fundamentals", _fundamentals(revenue=None, cash=70.0), "file")
    row = store.frame("fundamentals").row(0, named=True)
    assert (row["revenue"], row["cash"]) == (None, 70.0)


def test_company_upsert_is_set_based_and_records_role_history(store: Store) -> None:
    companies = pl.DataFrame({
        "symbol": ["AAA", "BBB"], "name": ["A", "B"], "country": ["US", "JP"], "currency": ["USD", "JPY"],
        "roles": ["miner;processor", "magnet_maker"], "stage": ["producer", "developer"],
        "source": ["https://a", None],
    })
    assert store.upsert("companies", companies, "file") == 2
    assert store.companies().select("symbol", "roles", "origin").rows() == [
        ("AAA", "miner;processor", "user"), ("BBB", "magnet_maker", "user")]
    store.upsert("companies", companies.with_columns(pl.lit("processor;recycler").alias("roles")).head(1), "file")
    history = store.tag_history("AAA").select("role", "action", "actor", "source").rows()
    assert history == [
        ("miner", "add", "import", "https://a"), ("processor", "add", "import", "https://a"),
        ("recycler", "add", "import", "https://a"), ("miner", "remove", "import", "https://a"),
    ]
    assert store.current_roles("AAA") == ["processor", "recycler"]
    # a missing source falls back to the provider, so every history row says where it came from
    assert store.tag_history("BBB")["source"].to_list() == ["file"]


def test_company_upsert_can_keep_existing_values(store: Store) -> None:
    base = pl.DataFrame({"symbol": ["AAA"], "name": ["A"], "country": ["US"], "currency": ["USD"],
                         "roles": ["miner"], "stage": ["producer"], "description": ["kept"]})
    store.upsert("companies", base, "file")
    store.upsert("companies", base.with_columns(pl.lit(None, dtype=pl.String).alias("description"),
                                                pl.lit("New name").alias("name")),
                 "live", keep_existing_on_null=True)
    row = store.companies().row(0, named=True)
    assert (row["name"], row["description"], row["provider"]) == ("New name", "kept", "live")


def test_uses_demo_data_looks_at_market_data_only(store: Store) -> None:
    assert not store.uses_demo_data()
    store.upsert("prices", _prices([("AAA", date(2024, 1, 2), 1.0, None)]), "demo")
    assert store.uses_demo_data()


# -- locking -----------------------------------------------------------------------------------------------------
def test_locked_store_gives_one_line_and_exit_1(db_path: Path, invoke) -> None:
    Store(db_path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys, time
            con = duckdb.connect({str(db_path)!r})
            print("ready", flush=True)
            sys.stdin.read()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        result = invoke("universe", "list")
    finally:
        holder.communicate(input="", timeout=30)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: the store ") and "in use by another process" in lines[0]
    assert "Traceback" not in result.output and "IO Error" not in result.stderr
