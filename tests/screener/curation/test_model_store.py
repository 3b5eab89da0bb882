"""Migration 10 and the store's model cache: an older store upgrades in place, and the cache keeps one model."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from screener.store import Store
from screener.store.migrations import MIGRATIONS
from screener.store.suggestions import StoredModel


def test_a_v9_store_upgrades_and_keeps_its_tag_history(db_path: Path) -> None:
    import duckdb

    con = duckdb.connect(str(db_path))
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description VARCHAR, applied_at TIMESTAMP)")
    for version, description, sql in MIGRATIONS:
        if version <= 9:
            con.execute(sql)
            con.execute("INSERT INTO schema_version VALUES (?, ?, now())", [version, description])
    con.execute(
        "INSERT INTO role_tag_history (symbol, role, action, actor, source, changed_at) "
        "VALUES ('MP', 'miner', 'add', 'user', 'a source', TIMESTAMP '2025-01-02 03:04:05')"
    )
    con.close()
    with Store(db_path) as store:
        assert store.schema_version() >= 10
        rows = store.rows("SELECT symbol, role, source, probability, model_version FROM role_tag_history")
        assert rows == [("MP", "miner", "a source", None, None)]
        assert store.accepted_suggestions().height == 0
        assert store.suggestion_models().height == 0


def test_the_cache_keeps_one_model_and_reads_it_back(store: Store) -> None:
    at = datetime(2026, 1, 2, 3, 4, 5)
    store.save_suggestion_model(StoredModel("hash-a", "m-a", at, 10, "[]", b"\x00\x01payload"))
    before = store.data_version()
    store.save_suggestion_model(StoredModel("hash-b", "m-b", at, 12, '[{"role": "macro"}]', b"\x02"))
    assert store.data_version() == before  # a derived result: scores stay current
    assert store.suggestion_model("hash-a") is None
    got = store.suggestion_model("hash-b")
    assert got is not None and got.payload == b"\x02" and got.examples == 12 and got.model_version == "m-b"
    assert store.suggestion_models()["training_hash"].to_list() == ["hash-b"]
