"""Stored score sets (schema v12): each set's rows in a table of its own, read back exactly, and old sets upgraded."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from screener.store import Store
from screener.store.migrations import LATEST_VERSION, MIGRATIONS
from screener.store.scores import storable_as_table

DAY = date(2026, 1, 5)


def _plain(n: int = 1_000) -> pl.DataFrame:
    """Every dtype a score frame has and more plain ones, with nulls, NaN, -0.0 and empty lists, in no sorted order."""
    order = [(i * 7_919) % n for i in range(n)]  # a permutation: the stored order is not the symbols' order
    return pl.DataFrame(
        {
            "symbol": [f"S{i:06d}" for i in order],
            "name": [None if i % 11 == 0 else f"Name é {i}" for i in order],
            "score": [float("nan") if i % 13 == 0 else (-0.0 if i % 17 == 0 else i / 3) for i in order],
            "pct": pl.Series([None if i % 5 == 0 else i / n for i in order], dtype=pl.Float64),
            "f32": pl.Series([i / 7 for i in order], dtype=pl.Float32),
            "small": pl.Series([i % 100 - 50 for i in order], dtype=pl.Int8),
            "big": pl.Series([2**63 + i for i in order], dtype=pl.UInt64),
            "demo": [i % 2 == 0 for i in order],
            "as_of": [date(2026, 1, 1 + i % 28) if i % 9 else None for i in order],
            "flags": [[] if i % 3 == 0 else (None if i % 3 == 1 else [f"stale:{i}", "neutral"]) for i in order],
        }
    )


def test_a_plain_set_is_a_table_read_back_exactly_whole_by_column_and_by_row(store: Store) -> None:
    frame = _plain(20_000)
    assert storable_as_table(frame)
    store.save_scores(DAY, frame, demo=False, inputs_hash="v1")
    assert store.rows("SELECT rows_in FROM score_sets") == [('score_rows."2026-01-05"',)]
    assert_frame_equal(store.load_scores(DAY)[1], frame, check_exact=True)  # type: ignore[index]
    assert_frame_equal(store.load_scores()[1], frame, check_exact=True)  # type: ignore[index]
    lazy = store.scan_scores(DAY)
    assert lazy is not None and lazy.collect_schema() == frame.schema
    assert_frame_equal(lazy.collect(), frame, check_exact=True)
    assert_frame_equal(lazy.select("flags", "symbol").collect(), frame.select("flags", "symbol"), check_exact=True)
    for condition in (  # one row, a few rows, many rows (read whole, then kept), none, every row
        pl.col("symbol") == "S000123",
        pl.col("name") == "Name é 23",  # a text equal to a text: applied by DuckDB
        pl.col("name") == "nobody",
        pl.lit("S000123") == pl.col("symbol"),
        pl.col("symbol") != "S000123",
        pl.col("symbol").is_in(["S000001", "S019999", "S000500"]),
        pl.col("demo") & (pl.col("pct") > 0.5),
        pl.col("symbol") == "nobody",
        pl.lit(True),
    ):
        assert_frame_equal(lazy.filter(condition).collect(), frame.filter(condition), check_exact=True)
        assert_frame_equal(
            lazy.filter(condition).select("name").head(3).collect(),
            frame.filter(condition).select("name").head(3),
            check_exact=True,
        )
    assert lazy.select(pl.len()).collect().item() == frame.height
    assert_frame_equal(lazy.head(5).collect(), frame.head(5), check_exact=True)
    # columns named like the read's own helpers are read as any other
    odd = pl.DataFrame({"_row": [3, 1, 2], "_row_": ["c", "a", "b"], "keep": [True, False, True]})
    store.save_scores(date(2026, 1, 6), odd, demo=False)
    scan = store.scan_scores(date(2026, 1, 6))
    assert scan is not None
    for condition in (pl.col("_row") > 1, pl.col("_row_") == "a", pl.col("keep")):
        assert_frame_equal(scan.filter(condition).collect(), odd.filter(condition), check_exact=True)
    info = store.score_set_info(DAY)
    assert info is not None and info["n_companies"] == frame.height and info["inputs_hash"] == "v1"
    assert store.score_set_dates() == [DAY, date(2026, 1, 6)]


def test_a_set_a_table_cannot_give_back_exactly_is_kept_as_parquet(store: Store) -> None:
    """Categories, zoned times, structs and names DuckDB would fold together stay in the old Parquet payload."""
    frames = [
        pl.DataFrame({"symbol": ["A", "B"], "kind": pl.Series(["x", "y"], dtype=pl.Categorical)}),
        pl.DataFrame({"symbol": ["A"], "at": [datetime(2026, 1, 2, 3, tzinfo=UTC)]}),
        pl.DataFrame({"symbol": ["A"], "s": [{"a": 1, "b": "x"}]}),
        pl.DataFrame({"symbol": ["A"], "Symbol": ["B"]}),
        pl.DataFrame({"symbol": ["A"], "rowid": [7]}),
        pl.DataFrame({"symbol": ["A"], "span": [timedelta(days=1)]}),
    ]
    for i, frame in enumerate(frames):
        day = date(2026, 2, 1 + i)
        assert not storable_as_table(frame)
        store.save_scores(day, frame, demo=True)
        assert store.rows("SELECT rows_in FROM score_sets WHERE as_of = ?", [day]) == [(None,)]
        assert_frame_equal(store.load_scores(day)[1], frame)  # type: ignore[index]
        assert_frame_equal(store.scan_scores(day).collect(), frame)  # type: ignore[union-attr]
    assert store.rows("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'score_rows'") == [(0,)]


def test_replacing_a_set_replaces_its_rows_and_a_failed_write_keeps_the_old_ones(store: Store) -> None:
    first = _plain(50)
    store.save_scores(DAY, first, demo=False, inputs_hash="a")
    second = _plain(30).with_columns(pl.col("score") * 2)
    store.save_scores(DAY, second, demo=False, inputs_hash="b")
    assert_frame_equal(store.load_scores(DAY)[1], second, check_exact=True)  # type: ignore[index]
    with pytest.raises(RuntimeError), store.transaction(inputs=False):
        store.save_scores(DAY, first, demo=False, inputs_hash="c")
        raise RuntimeError("interrupted before the commit")
    assert_frame_equal(store.load_scores(DAY)[1], second, check_exact=True)  # type: ignore[index]
    assert store.score_set_info(DAY)["inputs_hash"] == "b"  # type: ignore[index]
    # a set that is now kept as Parquet leaves no table of its rows behind
    odd = pl.DataFrame({"symbol": ["A"], "kind": pl.Series(["x"], dtype=pl.Categorical)})
    store.save_scores(DAY, odd, demo=False)
    assert store.rows("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'score_rows'") == [(0,)]
    assert_frame_equal(store.load_scores(DAY)[1], odd)  # type: ignore[index]


def _parquet(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_parquet(buf)
    return buf.getvalue()


def test_a_v11_store_upgrades_its_sets_to_tables_losslessly(db_path: Path) -> None:
    """Migration 12 moves every Parquet set into its table, keeping what each read gives; a payload that does not
    decode, or a frame a table cannot hold exactly, is left as it was."""
    import duckdb

    plain = _plain(3_000)
    odd = pl.DataFrame({"symbol": ["A"], "kind": pl.Series(["x"], dtype=pl.Categorical)})
    con = duckdb.connect(str(db_path))
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description VARCHAR, applied_at TIMESTAMP)")
    for version, description, sql in MIGRATIONS:
        if version <= 11:
            assert isinstance(sql, str)
            con.execute(sql)
            con.execute("INSERT INTO schema_version VALUES (?, ?, now())", [version, description])
    sets = [
        (date(2026, 1, 2), plain, _parquet(plain)),
        (date(2026, 1, 9), odd, _parquet(odd)),
        (date(2026, 1, 16), None, b""),
    ]
    for day, frame, payload in sets:
        n = 0 if frame is None else frame.height
        con.execute(
            "INSERT INTO score_sets VALUES (?, TIMESTAMP '2026-01-20 10:00:00', false, ?, 'h', ?)", [day, n, payload]
        )
    con.close()
    with Store(db_path) as store:
        assert store.schema_version() == LATEST_VERSION >= 12
        kept = store.rows("SELECT as_of, rows_in, octet_length(payload) FROM score_sets ORDER BY as_of")
        assert kept == [
            (date(2026, 1, 2), 'score_rows."2026-01-02"', 0),
            (date(2026, 1, 9), None, len(sets[1][2])),
            (date(2026, 1, 16), None, 0),
        ]
        assert_frame_equal(store.load_scores(date(2026, 1, 2))[1], plain, check_exact=True)  # type: ignore[index]
        assert_frame_equal(store.load_scores(date(2026, 1, 9))[1], odd)  # type: ignore[index]
        info = store.score_set_info(date(2026, 1, 2))
        assert info is not None
        assert (info["computed_at"], info["n_companies"], info["inputs_hash"]) == (
            datetime(2026, 1, 20, 10),
            plain.height,
            "h",
        )
        assert store.score_set_dates() == [d for d, _, _ in sets]


def test_the_first_write_of_an_if_free_store_runs_its_hook_once_before_it(store: Store) -> None:
    """``before_first_write``: the CLI keeps the interrupt marker there, so a command that only reads skips it."""
    path = store.path
    store.close()
    seen: list[int] = []
    with Store(path, writes="if_free") as st:
        st.before_first_write = lambda: seen.append(len(st.score_set_dates()))
        assert seen == []
        st.save_scores(DAY, _plain(10), demo=False)
        st.save_scores(date(2026, 1, 6), _plain(10), demo=False)
        assert seen == [0]  # once, before anything was written


def test_a_wide_read_runs_in_two_halves_at_once_and_gives_what_one_query_gives(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A set's rows read whole, many columns at once, come from two connections on two threads; the frame is the
    one a single query gives, its columns in the order asked, even for a set stored in no sorted order."""
    import threading

    from screener.store import connection

    frame = _plain(20_000)
    store.save_scores(DAY, frame, demo=False)
    started: list[str] = []

    class Recorded(threading.Thread):
        def start(self) -> None:
            started.append(self.name)
            super().start()

    monkeypatch.setattr(connection.threading, "Thread", Recorded)
    lazy = store.scan_scores(DAY)
    assert lazy is not None
    for columns in (
        frame.columns,
        frame.columns[::-1],
        frame.columns[:9],  # an odd count: one half a column longer
        ["flags", "symbol", "name", "score", "pct", "f32", "small", "big"],
    ):
        started.clear()
        assert_frame_equal(lazy.select(columns).collect(), frame.select(columns), check_exact=True)
        assert started == ["store-read-beside"]
    started.clear()
    assert_frame_equal(lazy.select("symbol", "name").collect(), frame.select("symbol", "name"), check_exact=True)
    assert started == []  # a narrow read is one query
    table = 'score_rows."2026-01-05"'
    with pytest.raises(Exception, match="missing"):  # a failure of either half is raised, on the calling thread
        store._read_columns(table, [f'"{c}"' for c in frame.columns] + ['"missing"'])


def test_two_halves_of_different_lengths_are_refused_in_one_line(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not reachable while nothing writes the table, but if the halves ever disagreed the read says so in one line
    rather than putting rows of different companies side by side."""
    import threading

    from screener.errors import ScreenerError
    from screener.store import connection

    frame = _plain(1_000)
    store.save_scores(DAY, frame, demo=False)
    real = connection._frame

    def short_beside(relation: object) -> pl.DataFrame:
        read = real(relation)  # type: ignore[arg-type]
        return read.head(-1) if threading.current_thread().name == "store-read-beside" else read

    monkeypatch.setattr(connection, "_frame", short_beside)
    lazy = store.scan_scores(DAY)
    assert lazy is not None
    with pytest.raises(ScreenerError) as refused:
        lazy.collect()
    assert str(refused.value) == 'score_rows."2026-01-05" changed while it was read; read it again'


def test_a_wide_read_inside_a_transaction_sees_its_writes(store: Store) -> None:
    """A second connection would not see what the open transaction wrote: inside one, a wide read is one query."""
    frame = _plain(3_000)
    with store.transaction(inputs=False):
        store.save_scores(DAY, frame, demo=False)
        lazy = store.scan_scores(DAY)
        assert lazy is not None
        assert_frame_equal(lazy.collect(), frame, check_exact=True)
