"""The reads a score makes: only the statement columns it uses, closes in the store's order, DuckDB's cache handed
back afterwards; the same values as the plain reads."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest

from factors.engine import compute_scores
from factors.inputs import STATEMENT_COLUMNS, load_inputs
from screener.store import Store

AS_OF = date(2026, 6, 1)


def _companies(store: Store, symbols: list[str]) -> None:
    rows = [
        {"symbol": s, "name": s, "country": "US", "currency": "USD", "roles": "processor", "stage": "producer"}
        for s in symbols
    ]
    store.upsert("companies", pl.DataFrame(rows), "file", loaded_at=datetime(2020, 1, 2))


def _closes(symbol: str, start: date, end: date) -> pl.DataFrame:
    days = pl.date_range(start, end, "1d", eager=True)
    days = days.filter(days.dt.weekday() <= 5)
    closes = pl.int_range(len(days), eager=True).cast(pl.Float64) + 10.0
    return pl.DataFrame({"symbol": symbol, "date": days, "close": closes, "volume": 1000.0})


def _statement(symbol: str, end: date, revenue: float) -> dict[str, object]:
    return {
        "symbol": symbol,
        "period_end": end,
        "period": "Q",
        "currency": "USD",
        "revenue": revenue,
        "operating_income": 1.0,
        "net_income": 2.0,
        "inventory": 3.0,
        "cash": 50.0,
        "shares_outstanding": 1e6,
    }


def test_statements_read_only_the_columns_asked_for_with_the_same_values(store: Store) -> None:
    _companies(store, ["A", "B"])
    rows = [_statement(s, date(2025, m, 28), 100.0 + m) for s in ("A", "B") for m in (3, 6, 9, 12)]
    store.upsert("fundamentals", pl.DataFrame(rows), "file")
    full = store.rows_as_of("fundamentals", AS_OF)
    picked = store.rows_as_of("fundamentals", AS_OF, columns=STATEMENT_COLUMNS, ordered=True)
    assert picked.columns == [*STATEMENT_COLUMNS, "provider"]
    assert picked.equals(full.select(picked.columns))
    assert "operating_income" not in picked.columns and "inventory" not in picked.columns
    # scoring's inputs carry the unread contract columns as typed nulls
    fund = load_inputs(store, AS_OF).fundamentals
    assert fund["inventory"].null_count() == fund.height and fund.schema["inventory"] == pl.Float64
    with pytest.raises(ValueError, match="no column 'nope'"):
        store.rows_as_of("fundamentals", AS_OF, columns=["symbol", "nope"])


def test_statement_providers_are_read_per_row_when_several_stored_them(store: Store) -> None:
    _companies(store, ["A"])
    store.upsert("fundamentals", pl.DataFrame([_statement("A", date(2025, 3, 31), 1.0)]), "file")
    one = store.rows_as_of("fundamentals", AS_OF, columns=["symbol", "period_end"])
    assert one["provider"].to_list() == ["file"]
    store.upsert("fundamentals", pl.DataFrame([_statement("A", date(2025, 6, 30), 2.0)]), "yahoo")
    both = store.rows_as_of("fundamentals", AS_OF, columns=["symbol", "period_end"]).sort("period_end")
    assert both["provider"].to_list() == ["file", "yahoo"]
    empty = store.rows_as_of("fundamentals", date(2000, 1, 1), columns=["symbol"])
    assert empty.height == 0 and empty.columns == ["symbol", "provider"]


def test_closes_arrive_in_the_stores_scan_order_with_earlier_rows_after_them(store: Store) -> None:
    """One filtered scan keeps the stored order (a store kept in key order hands the window over in key order, and
    the engine skips its sort); the earlier rows a name that stopped trading still needs follow the window's."""
    _companies(store, ["A", "B", "C", "GONE"])
    for s in ("A", "B", "C"):
        store.upsert("prices", _closes(s, AS_OF - timedelta(days=300), AS_OF), "file")
    window = store.prices_for_scoring(AS_OF, 400)
    scan = store.query("SELECT symbol, date, close, volume, provider FROM prices")
    assert window.equals(scan)
    assert window.sort(["symbol", "date"]).equals(store.rows_as_of("prices", AS_OF))
    store.upsert("prices", _closes("GONE", AS_OF - timedelta(days=900), AS_OF - timedelta(days=600)), "demo")
    read = store.prices_for_scoring(AS_OF, 400)
    assert read.head(window.height).equals(window.with_columns(pl.lit("file").alias("provider")))
    tail = read.slice(window.height)
    assert tail["symbol"].to_list() == ["GONE"] and tail["provider"].to_list() == ["demo"]
    scored = compute_scores(load_inputs(store, AS_OF), AS_OF)
    gone = scored.filter(pl.col("symbol") == "GONE").row(0, named=True)
    last = _closes("GONE", AS_OF - timedelta(days=900), AS_OF - timedelta(days=600))["date"].max()
    assert gone["demo"] and gone["last_price_date"] == last and gone["price_usd"] is not None


def test_release_cache_hands_back_read_blocks_and_restores_the_limit(store: Store) -> None:
    _companies(store, [f"S{i:03d}" for i in range(40)])
    frames = [_closes(f"S{i:03d}", AS_OF - timedelta(days=3000), AS_OF) for i in range(40)]
    store.upsert("prices", pl.concat(frames), "file")
    limit = store.scalar("SELECT current_setting('memory_limit')")

    def cached() -> int:
        return int(store.scalar("SELECT memory_usage_bytes FROM duckdb_memory() WHERE tag = 'BASE_TABLE'"))

    store.query("SELECT * FROM prices")
    assert cached() > 0
    store.release_cache()
    assert cached() == 0
    assert store.scalar("SELECT current_setting('memory_limit')") == limit
    assert store.query("SELECT count(*) AS n FROM prices")["n"][0] == sum(f.height for f in frames)


def test_release_cache_inside_a_transaction_drops_the_written_blocks_and_keeps_the_transaction(store: Store) -> None:
    """Inside a transaction (an import between its files) the blocks written and read are handed back from a
    second connection: the transaction goes on (a statement that failed in it would abort it), nothing is moved
    to a temporary file, the limit is back, and the commit keeps every row. 640,000 closes: a write of whole row
    groups, which DuckDB puts in the file before the commit."""
    _companies(store, [f"S{i:03d}" for i in range(300)])
    frames = [_closes(f"S{i:03d}", AS_OF - timedelta(days=3000), AS_OF) for i in range(300)]
    limit = store.scalar("SELECT current_setting('memory_limit')")

    def memory(tag: str, column: str = "memory_usage_bytes") -> int:
        return int(store.scalar(f"SELECT {column} FROM duckdb_memory() WHERE tag = ?", [tag]))

    with store.transaction():
        store.upsert("prices", pl.concat(frames[:250]), "file")
        store.query("SELECT * FROM prices")
        before = memory("BASE_TABLE")
        store.release_cache()
        assert memory("BASE_TABLE") < before and memory("BASE_TABLE") <= 1 << 20  # 1 MiB may stay: the margin
        assert sum(memory(t, "temporary_storage_bytes") for t in ("BASE_TABLE", "IN_MEMORY_TABLE")) == 0
        assert store.scalar("SELECT current_setting('memory_limit')") == limit
        store.upsert("prices", pl.concat(frames[250:]), "file")  # the transaction was not aborted
    assert store.query("SELECT count(*) AS n FROM prices")["n"][0] == sum(f.height for f in frames)


def test_a_limit_that_cannot_be_met_inside_a_transaction_is_let_go(store: Store) -> None:
    """The second connection's lowered limit fails (blocks pinned, say): the failure stays there, the limit is
    reset and that connection closed, and the transaction's writes commit."""
    import duckdb

    class Refusing:
        def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
            self.con, self.said, self.closed = con, [], False

        def execute(self, sql: str, *args: object) -> duckdb.DuckDBPyConnection:
            self.said.append(sql)
            if sql.startswith("SET memory_limit"):
                raise duckdb.OutOfMemoryException("could not free up enough memory for the new limit")
            return self.con.execute(sql, *args)

        def close(self) -> None:
            self.closed = True
            self.con.close()

    _companies(store, ["A", "B"])
    old, new = _closes("B", AS_OF - timedelta(days=3000), AS_OF), _closes("A", AS_OF - timedelta(days=3000), AS_OF)
    store.upsert("prices", old, "file")
    side = Refusing(store.con.cursor())
    with store.transaction():
        store.upsert("prices", new, "file")
        store._release(side, written=True)  # type: ignore[arg-type]
        store.upsert("prices", _closes("B", AS_OF, AS_OF + timedelta(days=3)), "file")
    assert [s.split(" =")[0].split(" ")[0] for s in side.said] == ["SELECT", "SET", "RESET"] and side.closed
    assert store.query("SELECT count(*) AS n FROM prices")["n"][0] == old.height + new.height + 3


def test_coded_closes_are_the_text_closes_with_each_symbol_as_its_position(store: Store) -> None:
    """Scoring reads each close's symbol as a four-byte code into the sorted symbols: decoded, the rows and their
    order are the text read's; a close of a symbol that is no company is left out; DuckDB's thread count is back."""
    _companies(store, ["B", "A", "C", "GONE"])
    for s in ("C", "A", "B"):
        store.upsert("prices", _closes(s, AS_OF - timedelta(days=300), AS_OF), "file")
    store.upsert("prices", _closes("NOCO", AS_OF - timedelta(days=30), AS_OF), "file")  # no company of that name
    store.upsert("prices", _closes("GONE", AS_OF - timedelta(days=900), AS_OF - timedelta(days=600)), "demo")
    threads = store.scalar("SELECT current_setting('threads')")
    names, coded = store.coded_prices_for_scoring(AS_OF, 400)
    assert names.to_list() == ["A", "B", "C", "GONE"] and coded.schema["symbol"] == pl.UInt32
    text = store.prices_for_scoring(AS_OF, 400)
    decoded = coded.with_columns(names.gather(coded["symbol"]).alias("symbol"))
    assert decoded.equals(text.filter(pl.col("symbol") != "NOCO"))
    assert store.scalar("SELECT current_setting('threads')") == threads
    # the enum type of the symbols was made for the read and is gone after it
    assert store.scalar("SELECT count(*) FROM duckdb_types() WHERE type_name = 'scoring_symbol_codes'") == 0
    # one provider in the window: the same value, given once
    window = coded.filter(pl.col("date") >= AS_OF - timedelta(days=399))
    assert window["provider"].unique().to_list() == ["file"]


def test_a_score_from_coded_closes_is_the_score_from_their_texts_and_can_free_them(store: Store) -> None:
    _companies(store, ["B", "A", "C"])
    for s in ("C", "A", "B"):
        store.upsert("prices", _closes(s, AS_OF - timedelta(days=500), AS_OF), "file")
    store.upsert("prices", _closes("B", AS_OF - timedelta(days=20), AS_OF), "demo")
    store.upsert("fundamentals", pl.DataFrame([_statement(s, date(2025, 12, 31), 5.0) for s in "ABC"]), "file")
    inputs = load_inputs(store, AS_OF)
    assert inputs.price_symbols is not None and inputs.prices.schema["symbol"] == pl.UInt32
    from dataclasses import replace

    texts = replace(inputs, prices=store.prices_for_scoring(AS_OF, 400))
    assert texts.price_symbols is None and texts.prices.schema["symbol"] == pl.String
    want = compute_scores(texts, AS_OF)
    assert compute_scores(inputs, AS_OF).equals(want) and inputs.prices.height  # kept: the inputs can score again
    assert compute_scores(inputs, AS_OF, release_prices=True).equals(want)
    assert inputs.prices.height == 0 and inputs.price_symbols is None  # handed over to the price side, and freed


def test_coded_closes_without_companies_are_empty(store: Store) -> None:
    """No company: no symbol to code (an enum type needs a value), so no close is read, and the frame is typed."""
    store.upsert("prices", _closes("NOCO", AS_OF - timedelta(days=30), AS_OF), "file")
    names, coded = store.coded_prices_for_scoring(AS_OF, 400)
    assert names.is_empty() and coded.is_empty() and coded.schema["symbol"] == pl.UInt32


def test_coded_closes_keep_the_stored_order_on_several_threads(store: Store) -> None:
    """The codes come from a cast in the window's scan, which keeps the stored order whatever DuckDB's thread
    count: enough rows for several row groups, read with four threads, arrive as one thread reads them."""
    symbols = [f"S{i:03d}" for i in range(120)]
    _companies(store, list(reversed(symbols)))
    store.upsert("prices", pl.concat([_closes(s, AS_OF - timedelta(days=1500), AS_OF) for s in symbols]), "file")
    threads = store.scalar("SELECT current_setting('threads')")
    store.con.execute("SET threads = 1")
    one = store.coded_prices_for_scoring(AS_OF, 400)[1]
    store.con.execute("SET threads = 4")
    try:
        several = store.coded_prices_for_scoring(AS_OF, 400)[1]
    finally:
        store.con.execute(f"SET threads = {threads}")
    assert one.height > 120 * 250 and several.equals(one)
