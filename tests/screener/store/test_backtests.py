"""The backtests table: migration 8 adds it, ids only grow, a row reads back byte for byte."""

from __future__ import annotations

from datetime import datetime

from screener.store import Store
from screener.store.migrations import LATEST_VERSION, MIGRATIONS

AT = datetime(2026, 1, 2, 3, 4, 5)


def _save(store: Store, name: str = "default", payload: bytes = b"\x00blob") -> int:
    return store.save_backtest(
        created_at=AT,
        rules_name=name,
        rules_hash="abcdef0123456789",
        params='{"every": "1w"}',
        demo=True,
        n_dates=30,
        payload=payload,
    )


def test_migration_8_adds_the_backtests_table(store: Store) -> None:
    assert LATEST_VERSION >= 8
    assert any(v == 8 and "backtest" in d for v, d, _ in MIGRATIONS)
    cols = store.query(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'backtests' "
        "ORDER BY ordinal_position"
    ).rows()
    assert [c for c, _ in cols] == [
        "id",
        "created_at",
        "rules_name",
        "rules_hash",
        "params",
        "demo",
        "n_dates",
        "payload",
    ]
    assert dict(cols)["payload"] == "BLOB"


def test_a_v7_store_upgrades_with_an_empty_backtests_table(db_path) -> None:
    import duckdb

    con = duckdb.connect(str(db_path))
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description VARCHAR, applied_at TIMESTAMP)")
    for version, description, sql in MIGRATIONS:
        if version <= 7:
            con.execute(sql)
            con.execute("INSERT INTO schema_version VALUES (?, ?, NULL)", [version, description])
    con.close()
    with Store(db_path) as store:
        assert store.schema_version() == LATEST_VERSION
        assert store.backtest_ids() == []
        assert store.backtest_list().height == 0


def test_saved_backtests_read_back_and_list_newest_first(store: Store) -> None:
    first = _save(store, payload=b"one")
    second = _save(store, "momentum", payload=b"two")
    assert second > first
    row = store.backtest_row(first)
    assert row is not None
    assert row[0] == first and row[1] == AT and row[2] == "default" and bytes(row[7]) == b"one"
    assert store.backtest_row(999) is None
    assert store.backtest_ids() == [first, second]
    assert store.backtest_list()["id"].to_list() == [second, first]
