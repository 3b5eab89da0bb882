"""The DuckDB store: versioned migrations, one transaction per write, null-safe upserts, and a clear lock message."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from screener.contract import polars_schema
from screener.errors import ScreenerError
from screener.store import Store
from screener.store.migrations import LATEST_VERSION, MIGRATIONS
from tests._foundation_helpers import TABLES


def _prices(rows: list[tuple[str, date, float | None, float | None]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=polars_schema("prices"), orient="row")


def _fundamentals(**values: object) -> pl.DataFrame:
    row = {name: None for name in polars_schema("fundamentals")}
    row.update({"symbol": "AAA", "period_end": date(2024, 3, 31), "period": "Q", "currency": "USD"})
    row.update(values)
    return pl.DataFrame([row], schema=polars_schema("fundamentals"))


# -- migrations --------------------------------------------------------------------------------------------------
def test_fresh_store_applies_every_migration_in_order(db_path: Path) -> None:
    with Store(db_path) as store:  # a new file (the ``store`` fixture is a copy of one)
        rows = store.rows("SELECT version, description, applied_at FROM schema_version ORDER BY version")
        versions = [m[0] for m in MIGRATIONS]
        # applied in order of their number, each once, with no number skipped; the list ends with the latest
        assert [r[0] for r in rows] == versions == list(range(1, LATEST_VERSION + 1))
        assert [r[1] for r in rows] == [m[1] for m in MIGRATIONS]
        assert all(r[2] is not None for r in rows)
        assert store.schema_version() == LATEST_VERSION
        for table in TABLES:
            assert store.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]) == 1


def test_reopening_is_a_no_op(db_path: Path) -> None:
    with Store(db_path) as first:
        before = first.rows("SELECT * FROM schema_version ORDER BY version")
    with Store(db_path) as second:
        assert second.rows("SELECT * FROM schema_version ORDER BY version") == before
        assert second.migrate() == LATEST_VERSION


def test_a_brief_store_on_a_current_file_opens_duckdb_once(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a command that writes now and then (weekly, score, import) reads first and takes the write lock per
    # transaction; opening for writing only to find the schema current, then again for reading, cost an open
    import screener.store.connection as connection

    Store(db_path).close()  # a current store on disk
    opens: list[bool] = []
    real = connection.connect

    def counting(path: Path, *, read_only: bool, **kw: object) -> object:
        opens.append(read_only)
        return real(path, read_only=read_only, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(connection, "connect", counting)
    with Store(db_path, writes="brief") as store:
        assert opens == [True]  # one open, for reading
        store.upsert("prices", _prices([("AAA", date(2024, 1, 2), 1.0, None)]), "test")
        # the write lock for the transaction only; the lock is given back at once and reading opens again only
        # when something reads: a command whose last act is its transaction pays for no open it does not use
        assert opens == [True, False]
        assert store.scalar("SELECT count(*) FROM prices") == 1
        assert opens == [True, False, True]
        store.upsert("prices", _prices([("AAA", date(2024, 1, 3), 1.0, None)]), "test")
        store.upsert("prices", _prices([("AAA", date(2024, 1, 4), 1.0, None)]), "test")
        assert opens == [True, False, True, False, False]  # two transactions in a row: no read open between
        assert store.scalar("SELECT count(*) FROM prices") == 3
    opens.clear()
    with Store(db_path.with_name("new.duckdb"), writes="brief") as new:  # a new file is created by a writable open
        assert opens[0] is False and new.schema_version() == LATEST_VERSION


def test_a_brief_store_refuses_a_store_newer_than_it_knows_at_open(db_path: Path) -> None:
    with Store(db_path) as store:
        store.con.execute("INSERT INTO schema_version VALUES (?, 'from a newer screener', now())", [LATEST_VERSION + 1])
    for writes in ("brief", "hold"):
        with pytest.raises(ScreenerError, match=rf"schema v{LATEST_VERSION + 1}, newer than this version"):
            Store(db_path, writes=writes)  # type: ignore[arg-type]


def test_new_migrations_apply_in_version_order(store: Store) -> None:
    # Listed out of order on purpose: the second depends on the first.
    extra = [
        (LATEST_VERSION + 2, "add a column", "ALTER TABLE t_extra ADD COLUMN y INTEGER"),
        (LATEST_VERSION + 1, "add a table", "CREATE TABLE t_extra (x INTEGER)"),
    ]
    assert store.migrate([*MIGRATIONS, *extra]) == LATEST_VERSION + 2
    assert [r[0] for r in store.rows("SELECT version FROM schema_version ORDER BY version")][-2:] == [
        LATEST_VERSION + 1,
        LATEST_VERSION + 2,
    ]
    assert store.rows(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 't_extra' ORDER BY ordinal_position"
    ) == [("x",), ("y",)]


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
    store.upsert(
        "prices", _prices([("AAA", date(2024, 1, 2), 2.0, None), ("AAA", date(2024, 1, 3), 3.0, 5.0)]), "second"
    )
    got = store.frame("prices")
    assert got.select("date", "close", "volume", "provider").rows() == [
        (date(2024, 1, 2), 2.0, None, "second"),
        (date(2024, 1, 3), 3.0, 5.0, "second"),
    ]
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
    companies = pl.DataFrame(
        {
            "symbol": ["AAA", "BBB"],
            "name": ["A", "B"],
            "country": ["US", "JP"],
            "currency": ["USD", "JPY"],
            "roles": ["miner;processor", "magnet_maker"],
            "stage": ["producer", "developer"],
            "source": ["https://a", None],
        }
    )
    assert store.upsert("companies", companies, "file") == 2
    assert store.companies().select("symbol", "roles", "origin").rows() == [
        ("AAA", "miner;processor", "user"),
        ("BBB", "magnet_maker", "user"),
    ]
    store.upsert("companies", companies.with_columns(pl.lit("processor;recycler").alias("roles")).head(1), "file")
    history = store.tag_history("AAA").select("role", "action", "actor", "source").rows()
    assert history == [
        ("miner", "add", "import", "https://a"),
        ("processor", "add", "import", "https://a"),
        ("recycler", "add", "import", "https://a"),
        ("miner", "remove", "import", "https://a"),
    ]
    assert store.current_roles("AAA") == ["processor", "recycler"]
    # a missing source falls back to the provider, so every history row says where it came from
    assert store.tag_history("BBB")["source"].to_list() == ["file"]


def test_company_upsert_keeps_existing_values_of_the_same_provider_only(store: Store) -> None:
    base = pl.DataFrame(
        {
            "symbol": ["AAA"],
            "name": ["A"],
            "country": ["US"],
            "currency": ["USD"],
            "roles": ["miner"],
            "stage": ["producer"],
            "description": ["kept"],
        }
    )
    renamed = base.with_columns(pl.lit(None, dtype=pl.String).alias("description"), pl.lit("New name").alias("name"))
    store.upsert("companies", base, "live")
    store.upsert("companies", renamed, "live", keep_existing_on_null=True)
    row = store.companies().row(0, named=True)
    assert (row["name"], row["description"], row["provider"]) == ("New name", "kept", "live")
    # another provider's row never inherits the description under its own name
    store.upsert("companies", renamed, "other", keep_existing_on_null=True)
    row = store.companies().row(0, named=True)
    assert (row["name"], row["description"], row["provider"]) == ("New name", None, "other")


def test_uses_demo_data_looks_at_market_data_only(store: Store) -> None:
    assert not store.uses_demo_data()
    store.upsert("prices", _prices([("AAA", date(2024, 1, 2), 1.0, None)]), "demo")
    assert store.uses_demo_data()


# -- locking -----------------------------------------------------------------------------------------------------
def test_locked_store_gives_one_line_and_exit_1(db_path: Path, invoke) -> None:
    Store(db_path).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import duckdb, sys, time
            con = duckdb.connect({str(db_path)!r})
            print("ready", flush=True)
            sys.stdin.read()
        """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        result = invoke("universe", "list", "--wait", "0")
    finally:
        holder.communicate(input="", timeout=30)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: the store ") and f"is locked by process {holder.pid} " in lines[0]
    assert "Traceback" not in result.output and "IO Error" not in result.stderr


# -- provenance and precedence -----------------------------------------------------------------------------------
def _row(store: Store, *cols: str) -> tuple[object, ...]:
    return store.frame("fundamentals").select(*cols).row(0)


def test_another_currency_never_inherits_stored_values(store: Store) -> None:
    # A user's AUD statement, then Yahoo's row for the same key in USD (asked to override the user's import).
    store.upsert_real("fundamentals", _fundamentals(currency="AUD", cash=1.2e9, revenue=300.0), "file")
    store.upsert_real("fundamentals", _fundamentals(currency="USD", revenue=200.0), "yahoo", override=True)
    # the AUD cash is not relabelled USD under Yahoo's name: the row is Yahoo's, whole
    assert _row(store, "currency", "revenue", "cash", "provider") == ("USD", 200.0, None, "yahoo")


def test_the_same_provider_in_another_currency_replaces_the_row_whole(store: Store) -> None:
    store.upsert_real("fundamentals", _fundamentals(currency="KRW", cash=5e12, revenue=1e12), "yahoo")
    store.upsert_real("fundamentals", _fundamentals(currency="USD", revenue=7.5e8), "yahoo")
    assert _row(store, "currency", "revenue", "cash") == ("USD", 7.5e8, None)  # not 5e12 "USD" of cash


def test_the_same_provider_in_the_same_currency_keeps_what_it_did_not_send(store: Store) -> None:
    store.upsert_real("fundamentals", _fundamentals(currency="KRW", cash=5e12, revenue=1e12), "yahoo")
    store.upsert_real("fundamentals", _fundamentals(currency="KRW", revenue=1.1e12), "yahoo")
    assert _row(store, "currency", "revenue", "cash", "provider") == ("KRW", 1.1e12, 5e12, "yahoo")


def test_a_users_import_is_not_overwritten_by_yahoo_unless_asked(store: Store) -> None:
    store.upsert_real("fundamentals", _fundamentals(currency="AUD", cash=1.2e9), "file")
    result = store.upsert_real("fundamentals", _fundamentals(currency="USD", cash=9.0, revenue=1.0), "yahoo")
    assert (result.stored, result.kept_out) == (0, 1)
    assert _row(store, "currency", "cash", "revenue", "provider") == ("AUD", 1.2e9, None, "file")
    forced = store.upsert_real("fundamentals", _fundamentals(currency="USD", cash=9.0), "yahoo", override=True)
    assert (forced.stored, forced.kept_out) == (1, 0)
    assert _row(store, "currency", "cash", "provider") == ("USD", 9.0, "yahoo")


def test_precedence_is_one_explicit_table() -> None:
    from screener.store import PROVIDER_PRECEDENCE, precedence

    assert precedence("file") > precedence("yahoo") > precedence("demo")
    assert precedence("bundled") > precedence("demo")
    assert min(PROVIDER_PRECEDENCE, key=PROVIDER_PRECEDENCE.__getitem__) == "demo"
    assert precedence("some-new-feed") == precedence("yahoo")  # an unlisted provider ranks as a live one


def test_demo_rows_never_overwrite_real_ones_and_yield_to_them(store: Store) -> None:
    prices = _prices([("AAA", date(2024, 1, 2), 10.0, 5.0), ("AAA", date(2024, 1, 3), 11.0, 5.0)])
    store.upsert_real("prices", prices.head(1), "yahoo")
    demo = store.upsert_real("prices", prices.with_columns(pl.col("close") * 2), "demo")
    assert (demo.stored, demo.kept_out) == (1, 1)
    assert store.frame("prices").select("close", "provider").rows() == [(10.0, "yahoo"), (22.0, "demo")]


def test_upsert_real_counts_unpack_as_stored_and_dropped(store: Store) -> None:
    store.upsert(
        "prices", _prices([("AAA", date(2024, 1, 2), 1.0, None), ("AAA", date(2024, 1, 5), 1.0, None)]), "demo"
    )
    store.upsert_real("prices", _prices([("BBB", date(2024, 1, 2), 3.0, None)]), "file")
    incoming = _prices([("AAA", date(2024, 1, 2), 2.0, None), ("BBB", date(2024, 1, 2), 4.0, None)])
    stored, dropped = store.upsert_real("prices", incoming, "yahoo")  # the form refresh uses
    assert (stored, dropped) == (1, 2)  # BBB's row is the user's; AAA's two demo rows made way
    result = store.upsert_real("prices", incoming, "yahoo")
    assert (result.stored, result.dropped, result.kept_out) == (1, 0, 1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    writes=st.lists(
        st.tuples(
            st.sampled_from(["file", "yahoo", "demo"]),
            st.sampled_from(["USD", "AUD", "JPY"]),
            st.booleans(),
            st.one_of(st.none(), st.integers(1, 9)),
            st.one_of(st.none(), st.integers(1, 9)),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_every_stored_value_came_from_the_row_provider_in_its_currency(store: Store, writes: list) -> None:
    """Whatever the sequence of writes, each stored value was sent by the provider the row names, in the currency
    the row names; and without override no provider displaces one of higher precedence."""
    from screener.store import precedence

    store.con.execute("DELETE FROM fundamentals")
    best = None
    for provider, currency, override, revenue, cash in writes:
        store.upsert_real(
            "fundamentals", _fundamentals(currency=currency, revenue=revenue, cash=cash), provider, override=override
        )
        if best is None or override or precedence(provider) >= precedence(best):
            best = provider
    currency, revenue, cash, provider = _row(store, "currency", "revenue", "cash", "provider")
    assert provider == best
    sent = [(r, c) for p, cur, _, r, c in writes if p == provider and cur == currency]
    assert revenue is None or revenue in [float(r) for r, _ in sent if r is not None]
    assert cash is None or cash in [float(c) for _, c in sent if c is not None]


class _Counting:
    """A store's connection that counts the statements executed through it."""

    def __init__(self, con: object) -> None:
        self.con = con
        self.statements: list[str] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.con, name)

    def execute(self, sql: str, *args: object) -> object:
        self.statements.append(sql)
        return self.con.execute(sql, *args)  # type: ignore[attr-defined]


def _statements(store: Store, action: object) -> int:
    real, counting = store.con, _Counting(store.con)
    store.con = counting  # type: ignore[assignment]
    try:
        action()  # type: ignore[operator]
    finally:
        store.con = real
    return len(counting.statements)


def test_a_real_write_of_many_rows_is_set_based(store: Store) -> None:
    n = 50_000
    frame = pl.DataFrame(
        {
            "symbol": [f"S{i % 5000}" for i in range(n)],
            "date": [date(2020, 1, 1) + timedelta(days=i // 5000) for i in range(n)],
            "close": [1.0] * n,
            "volume": [None] * n,
        },
        schema=polars_schema("prices"),
    )
    store.upsert_real("prices", frame, "file")
    store.record_rejections(_rejections("S1/2020-01-01"), provider="yahoo")
    again = frame.with_columns(pl.lit(2.0).alias("close"))
    assert _statements(store, lambda: store.upsert_real("prices", again, "yahoo", override=True)) < 20
    assert store.scalar("SELECT count(*) FROM prices WHERE close = 2 AND provider = 'yahoo'") == n
    assert store.scalar("SELECT count(*) FROM rejected_rows WHERE resolved_at IS NOT NULL") == 1


def test_a_first_load_stores_every_row_once_in_key_order_with_its_provider(store: Store) -> None:
    n = 50
    frame = pl.DataFrame(
        {
            "symbol": [f"S{i % 5}" for i in range(n)],  # offered out of key order: stored in it
            "date": [date(2020, 1, 1) + timedelta(days=i // 5) for i in range(n)],
            "close": [float(i + 1) for i in range(n)],
            "volume": [None if i % 3 else float(i) for i in range(n)],
        },
        schema=polars_schema("prices"),
    )
    result = store.upsert_real("prices", frame, "file")
    assert (result.stored, result.inserted, result.updated) == (n, n, 0)
    stored = store.query("SELECT symbol, date, close, volume, provider, loaded_at FROM prices ORDER BY rowid")
    assert stored.select("symbol", "date", "close", "volume").equals(frame.sort("symbol", "date"))
    assert set(stored["provider"]) == {"file"} and stored["loaded_at"].n_unique() == 1


# -- keys kept by the writes (prices and fundamentals carry no key index) ----------------------------------------
def _price_rows(symbols: int, days: int, close: float = 1.0) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "symbol": [f"S{s:03d}" for s in range(symbols) for _ in range(days)],
            "date": [date(2024, 1, 1) + timedelta(days=d) for _ in range(symbols) for d in range(days)],
            "close": [close + d for _ in range(symbols) for d in range(days)],
            "volume": [float(d) if d % 2 else None for _ in range(symbols) for d in range(days)],
        },
        schema=polars_schema("prices"),
    )


def _repeated_keys(store: Store, table: str) -> int:
    from screener.store.migrations import KEYS_KEPT_BY_WRITES

    key = ", ".join(KEYS_KEPT_BY_WRITES[table])
    return int(store.scalar(f"SELECT count(*) FROM (SELECT {key} FROM {table} GROUP BY ALL HAVING count(*) > 1)"))


def test_prices_and_fundamentals_have_no_key_index_and_the_others_keep_theirs(store: Store) -> None:
    keyed = {
        r[0] for r in store.rows("SELECT table_name FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'")
    }
    assert "prices" not in keyed and "fundamentals" not in keyed
    assert {"companies", "events", "fx", "splits", "share_history", "role_tags"} <= keyed


@pytest.mark.parametrize("stored_first", [False, True])
def test_a_write_offering_one_key_twice_is_refused_and_changes_nothing(store: Store, stored_first: bool) -> None:
    from screener.store.market import RepeatedKeyError

    if stored_first:
        store.upsert_real("prices", _price_rows(2, 3), "file")
    before = store.frame("prices")
    twice = pl.concat([_price_rows(2, 3, close=5.0), _price_rows(1, 1, close=9.0)])
    with pytest.raises(RepeatedKeyError, match=r"prices: 1 row\(s\) repeat a key .*symbol=S000, date=2024-01-01"):
        store.upsert_real("prices", twice, "file")
    assert store.frame("prices").equals(before)
    fund = pl.concat([_fundamentals(revenue=1.0), _fundamentals(revenue=2.0)])
    with pytest.raises(RepeatedKeyError, match="fundamentals"):
        store.upsert("fundamentals", fund, "file")
    assert store.scalar("SELECT count(*) FROM fundamentals") == 0


def test_no_key_is_ever_stored_twice_through_load_reload_growth_and_other_providers(store: Store) -> None:
    first = _price_rows(4, 5)
    store.upsert_real("prices", first, "file")
    store.upsert_real("prices", first, "file")  # the same rows again: aligned, nothing written
    grown = _price_rows(5, 7, close=2.0)  # more symbols and days, interleaved with the stored keys
    done = store.upsert_real("prices", grown.sample(fraction=1.0, shuffle=True, seed=3), "file")
    assert (done.inserted, done.updated) == (35 - 20, 20)
    store.upsert_real("prices", grown.head(9), "yahoo", override=True)  # another provider's refresh
    store.upsert_real("prices", grown.tail(4), "yahoo")  # kept out: the user's file outranks it
    assert _repeated_keys(store, "prices") == 0
    assert store.scalar("SELECT count(*) FROM prices") == 35
    assert store.scalar("SELECT count(*) FROM prices WHERE provider = 'yahoo'") == 9
    store.upsert("fundamentals", _fundamentals(revenue=1.0), "file")
    store.upsert("fundamentals", _fundamentals(revenue=2.0), "file")
    assert _repeated_keys(store, "fundamentals") == 0 and store.scalar("SELECT revenue FROM fundamentals") == 2.0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    changes=st.lists(
        st.tuples(st.integers(0, 11), st.sampled_from(["close", "volume", "null"]), st.floats(1, 50)), max_size=6
    ),
    provider=st.sampled_from(["file", "yahoo"]),
    keep=st.booleans(),
)
def test_a_reload_merged_by_position_stores_what_the_key_merge_stores(
    tmp_path_factory: pytest.TempPathFactory,
    changes: list[tuple[int, str, float]],
    provider: str,
    keep: bool,
) -> None:
    import screener.store.market as market

    base = _price_rows(3, 4)
    offer = base.with_row_index("_i")
    for i, col, value in changes:
        new = None if col == "null" else value
        target = "volume" if col == "null" else col
        if target == "close" and new is None:
            continue
        offer = offer.with_columns(
            pl.when(pl.col("_i") == i).then(pl.lit(new, dtype=pl.Float64)).otherwise(pl.col(target)).alias(target)
        )
    offer = offer.drop("_i")
    stamp = datetime(2024, 6, 1)
    results = []
    original = market.MarketData._merge_aligned
    aligned: list[int | None] = []

    def spy(self: Store, *args: object) -> int | None:
        aligned.append(original(self, *args))  # type: ignore[arg-type]
        return aligned[-1]

    for by_position in (True, False):
        path = tmp_path_factory.mktemp("merge") / "s.duckdb"
        with Store(path) as s:
            s.upsert("prices", base, "file", loaded_at=datetime(2024, 5, 1))
            market.MarketData._merge_aligned = spy if by_position else lambda *_a, **_k: None  # type: ignore[method-assign,assignment]
            try:
                written = s.upsert("prices", offer, provider, keep_existing_on_null=keep, loaded_at=stamp)
            finally:
                market.MarketData._merge_aligned = original  # type: ignore[method-assign]
            results.append((written, s.frame("prices"), s.data_version()))
    assert len(aligned) == 1 and aligned[0] is not None  # the positional merge did the first write
    assert results[0][0] == results[1][0]
    assert results[0][1].equals(results[1][1])
    assert results[0][2] == results[1][2]


def test_migration_13_keeps_every_price_and_statement_of_a_v11_store(db_path: Path) -> None:
    import duckdb

    from screener.store.migrations import KEYS_KEPT_BY_WRITES

    # a store at v11: the migrations before 13 applied by hand, rows written out of key order
    con = duckdb.connect(str(db_path))
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description VARCHAR, applied_at TIMESTAMP)")
    for version, description, sql in MIGRATIONS:
        if version <= 11:
            con.execute(sql)
            con.execute("INSERT INTO schema_version VALUES (?, ?, ?)", [version, description, datetime(2024, 1, 1)])
    con.execute(
        "INSERT INTO prices VALUES ('BBB', '2024-01-02', 2.5, NULL, 'yahoo', '2024-01-03 10:00:00'), "
        "('AAA', '2024-01-03', 1.5, 100, 'file', '2024-01-04 11:00:00'), "
        "('AAA', '2024-01-02', 1.25, 0, 'demo', '2024-01-04 11:00:00')"
    )
    con.execute(
        "INSERT INTO fundamentals (symbol, period_end, period, currency, revenue, cash, provider, loaded_at) VALUES "
        "('BBB', '2023-12-31', 'FY', 'AUD', 10, NULL, 'file', '2024-01-05'), "
        "('AAA', '2023-12-31', 'Q', 'USD', NULL, 3, 'yahoo', '2024-01-05'), "
        "('AAA', '2023-12-31', 'FY', 'USD', 7, 3, 'yahoo', '2024-01-05')"
    )
    before = {t: con.execute(f"SELECT * FROM {t}").fetchall() for t in KEYS_KEPT_BY_WRITES}
    columns = {
        t: con.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = ? "
            "ORDER BY ordinal_position",
            [t],
        ).fetchall()
        for t in KEYS_KEPT_BY_WRITES
    }
    con.close()
    with Store(db_path) as store:
        assert store.schema_version() == LATEST_VERSION
        for table, key in KEYS_KEPT_BY_WRITES.items():
            after = store.rows(f"SELECT * FROM {table} ORDER BY rowid")
            assert sorted(after) == sorted(before[table])  # every row, every value, nothing else
            assert [r[: len(key)] for r in after] == sorted(r[: len(key)] for r in before[table])  # in key order
            assert (
                store.rows(
                    "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                    "WHERE table_name = ? ORDER BY ordinal_position",
                    [table],
                )
                == columns[table]
            )
        # and the store's writes keep the key: a reload of a stored key updates it
        store.upsert_real("prices", _prices([("AAA", date(2024, 1, 3), 9.0, None)]), "file")
        assert store.rows("SELECT close, volume FROM prices WHERE symbol = 'AAA' AND date = '2024-01-03'") == [
            (9.0, 100.0)
        ]
        assert _repeated_keys(store, "prices") == 0


def test_rejections_are_recorded_set_based(store: Store) -> None:
    many = _rejections(*(f"S{i}/2024-01-02" for i in range(1000)))
    assert _statements(store, lambda: store.record_rejections(many, provider="file")) <= 5
    assert store.scalar("SELECT count(*) FROM rejected_rows") == 1000


def test_ledger_ids_follow_each_frames_order_across_appends_and_matches(store: Store) -> None:
    """A first quarantine takes its ids from the sequence in one draw (no sort), a later one that is matched
    against the open entries draws them row by row: the ids keep rising in recording order, and the sequence stays
    ahead of every id stored, so any later append (by this or an older version) never reuses one."""
    store.record_rejections(_rejections("C/1", "A/1", "B/1"), provider="file")
    store.record_rejections(_rejections("Z/1", "A/1", "Y/1"), provider="file")  # matched: A/1 is open already
    store.record_rejections(_rejections("X/1", "W/1", kind="fx"), provider="yahoo")
    rows = store.rows("SELECT id, provider, key FROM rejected_rows ORDER BY id")
    assert [(p, k) for _, p, k in rows] == [
        ("file", "C/1"),
        ("file", "A/1"),
        ("file", "B/1"),
        ("file", "Z/1"),
        ("file", "Y/1"),
        ("yahoo", "X/1"),
        ("yahoo", "W/1"),
    ]
    ids = [i for i, _, _ in rows]
    assert ids == sorted(set(ids))
    assert store.scalar("SELECT nextval('seq_rejected')") > ids[-1]


def test_ids_drawn_with_a_gap_leave_the_rows_to_be_numbered_in_order(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were the ids drawn in one go not consecutive (another user of the sequence between two draws), the rows would
    be numbered one by one in frame order instead, never given ids that other rows may hold."""
    import screener.store.logs as logs

    monkeypatch.setattr(logs, "DRAW_REJECTION_IDS", "SELECT 10, 100, ?::BIGINT")  # three ids, not consecutive
    assert store.record_rejections(_rejections("C/1", "A/1", "B/1"), provider="file") == 3
    rows = store.rows("SELECT id, key FROM rejected_rows ORDER BY id")
    assert [k for _, k in rows] == ["C/1", "A/1", "B/1"]
    assert [i for i, _ in rows] == [1, 2, 3]  # the sequence's own numbers


# -- the rejected-rows ledger ------------------------------------------------------------------------------------
def _rejections(*keys: str, kind: str = "prices") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "source": ["f.csv"] * len(keys),
            "kind": [kind] * len(keys),
            "key": list(keys),
            "expectation": ["x"] * len(keys),
            "column_name": ["close"] * len(keys),
            "value": ["-1"] * len(keys),
        }
    )


def test_rejections_are_recorded_in_order(store: Store) -> None:
    assert (
        store.record_rejections(_rejections("AAA/2024-01-03", "AAA/2024-01-02", "BBB/2024-01-02"), provider="file") == 3
    )
    rows = store.rows("SELECT provider, key, resolved_at FROM rejected_rows ORDER BY id")
    assert rows == [
        ("file", "AAA/2024-01-03", None),
        ("file", "AAA/2024-01-02", None),
        ("file", "BBB/2024-01-02", None),
    ]


def test_a_later_load_of_the_same_key_resolves_its_rejection(store: Store) -> None:
    store.record_rejections(_rejections("AAA/2024-01-02", "AAA/2024-01-03"), provider="file")
    store.record_rejections(_rejections("AAA/2024-01-02", kind="fx"), provider="file")  # same text, other kind
    store.upsert_real(
        "prices", _prices([("AAA", date(2024, 1, 2), 10.0, None)]), "file", loaded_at=datetime(2024, 2, 1, 9, 30)
    )
    rows = store.rows("SELECT kind, key, resolved_at FROM rejected_rows ORDER BY id")
    assert rows == [
        ("prices", "AAA/2024-01-02", datetime(2024, 2, 1, 9, 30)),
        ("prices", "AAA/2024-01-03", None),
        ("fx", "AAA/2024-01-02", None),
    ]


def test_a_load_kept_out_by_precedence_resolves_nothing(store: Store) -> None:
    store.upsert_real("prices", _prices([("AAA", date(2024, 1, 2), 10.0, None)]), "file")
    store.record_rejections(_rejections("AAA/2024-01-02"), provider="yahoo")
    store.upsert_real("prices", _prices([("AAA", date(2024, 1, 2), 11.0, None)]), "yahoo")
    assert store.rows("SELECT resolved_at FROM rejected_rows") == [(None,)]


# -- the data version: what stored scores are checked against ------------------------------------------------------
def test_v8_store_upgrades_to_a_data_version_and_forgets_old_score_hashes(db_path: Path) -> None:
    """A store made before v9 has score sets keyed by a content hash; the upgrade adds the data version and clears
    those hashes, so each old set is recomputed once instead of being trusted or compared with a different key."""
    import duckdb

    con = duckdb.connect(str(db_path))
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description VARCHAR, applied_at TIMESTAMP)")
    for version, description, sql in MIGRATIONS:
        if version <= 8:
            con.execute(sql)
            con.execute("INSERT INTO schema_version VALUES (?, ?, now())", [version, description])
    con.execute("INSERT INTO score_sets VALUES ('2024-03-29', now(), false, 1, 'old-content-hash', ''::BLOB)")
    con.close()
    with Store(db_path) as upgraded:
        assert upgraded.schema_version() == LATEST_VERSION >= 9
        assert upgraded.data_version() == 1
        assert upgraded.rows("SELECT inputs_hash FROM score_sets") == [(None,)]
        upgraded.upsert("prices", _prices([("AAA", date(2024, 1, 2), 1.0, None)]), "test")
        assert upgraded.data_version() == 2


def test_every_committed_input_write_bumps_the_data_version_once(store: Store) -> None:
    v = store.data_version()
    store.upsert("prices", _prices([("AAA", date(2024, 1, 2), 1.0, None)]), "test")
    assert store.data_version() == v + 1
    with store.transaction():  # nested writes join the outer transaction: one bump at its commit
        store.upsert("prices", _prices([("AAA", date(2024, 1, 3), 2.0, None)]), "test")
        store.upsert("fundamentals", _fundamentals(revenue=5.0), "test")
        assert store.data_version() == v + 1
    assert store.data_version() == v + 2
    # an edit that keeps the row count and the load time is still a new version
    store.upsert("prices", _prices([("AAA", date(2024, 1, 3), 2.5, None)]), "test")
    assert store.data_version() == v + 3


def test_a_rolled_back_write_and_a_stored_result_leave_the_data_version(store: Store) -> None:
    v = store.data_version()
    with pytest.raises(RuntimeError), store.transaction():
        store.upsert("prices", _prices([("AAA", date(2024, 1, 2), 1.0, None)]), "test")
        raise RuntimeError("abort")
    assert store.data_version() == v and store.scalar("SELECT count(*) FROM prices") == 0
    store.save_scores(date(2024, 1, 2), pl.DataFrame({"symbol": ["AAA"]}), demo=False, inputs_hash="x")
    assert store.data_version() == v
    # a result written inside a transaction that also writes inputs still bumps (the inputs changed)
    with store.transaction():
        store.save_scores(date(2024, 1, 2), pl.DataFrame({"symbol": ["AAA"]}), demo=False, inputs_hash="x")
        store.upsert("prices", _prices([("AAA", date(2024, 1, 2), 1.0, None)]), "test")
    assert store.data_version() == v + 1


def test_a_write_that_changes_nothing_leaves_the_data_version(store: Store) -> None:
    """Stored scores stay current while the version holds: a load that offers the stored rows again, or a ledger
    entry, changes nothing a score reads."""
    row = _prices([("AAA", date(2024, 1, 2), 1.0, 5.0)])
    assert store.upsert("prices", row, "test") == 1
    v = store.data_version()
    assert store.upsert("prices", row, "test") == 0
    done = store.upsert_real("prices", row, "test")
    assert (done.stored, done.inserted, done.updated) == (1, 0, 0)
    store.record_rejections(_rejections("AAA/2024-01-03"), provider="test")
    assert store.data_version() == v
    # the provider is part of the row: another provider's identical values are a change of provenance
    done = store.upsert_real("prices", row, "file")
    assert (done.inserted, done.updated) == (0, 1) and store.data_version() == v + 1


def test_an_open_rejection_is_not_recorded_twice(store: Store) -> None:
    """The ledger keeps one open entry per rejection (provider, source, kind, key, column, expectation, value) and
    occurrence: the same bad rows offered again add nothing, a new reason or value is a new entry."""
    assert store.record_rejections(_rejections("AAA/2024-01-02", "AAA/2024-01-03"), provider="file") == 2
    first = store.rows("SELECT id, rejected_at FROM rejected_rows ORDER BY id")
    assert store.record_rejections(_rejections("AAA/2024-01-03", "AAA/2024-01-02"), provider="file") == 0
    assert store.rows("SELECT id, rejected_at FROM rejected_rows ORDER BY id") == first
    other_value = _rejections("AAA/2024-01-02").with_columns(pl.lit("-2").alias("value"))
    assert store.record_rejections(other_value, provider="file") == 1
    assert store.record_rejections(_rejections("AAA/2024-01-02"), provider="yahoo") == 1  # another provider's
    assert store.record_rejections(_rejections("AAA/2024-01-02", kind="fx"), provider="file") == 1


def test_identical_rejections_are_counted_not_collapsed(store: Store) -> None:
    """Two rows of one file can fail the same way with no key to tell them apart (an empty symbol): both stay in
    the ledger, and a third identical one offered later is added."""
    blank = _rejections("", "").with_columns(pl.lit(None, dtype=pl.String).alias("key"))
    assert store.record_rejections(blank, provider="file") == 2
    assert store.record_rejections(blank, provider="file") == 0
    assert store.record_rejections(pl.concat([blank, blank.head(1)]), provider="file") == 1
    assert store.scalar("SELECT count(*) FROM rejected_rows WHERE key IS NULL") == 3


def test_a_resolved_rejection_offered_again_is_open_again(store: Store) -> None:
    store.record_rejections(_rejections("AAA/2024-01-02"), provider="file")
    store.upsert_real("prices", _prices([("AAA", date(2024, 1, 2), 10.0, None)]), "file")
    assert store.record_rejections(_rejections("AAA/2024-01-02"), provider="file") == 1
    assert store.rows("SELECT resolved_at IS NULL FROM rejected_rows ORDER BY id") == [(False,), (True,)]


def test_check_counts_the_keys_the_writes_keep(store: Store) -> None:
    from screener.store.health import check_store

    store.upsert_real("prices", _price_rows(2, 2), "file")
    store.close()
    found = {f.name: f for f in check_store(store.path) if f.kind == "key"}
    assert found["prices(symbol, date)"].ok and "every value once" in found["prices(symbol, date)"].detail
    assert found["fundamentals(symbol, period_end, period)"].ok
    import duckdb

    con = duckdb.connect(str(store.path))  # a second row for a stored key, written around the store
    con.execute("INSERT INTO prices SELECT * FROM prices WHERE symbol = 'S000' AND date = '2024-01-01'")
    con.close()
    found = {f.name: f for f in check_store(store.path) if f.kind == "key"}
    assert not found["prices(symbol, date)"].ok and "1 repeated key value(s)" in found["prices(symbol, date)"].detail


def test_a_write_of_a_frame_with_an_all_missing_column_stores_nulls(store: Store) -> None:
    """A column with no known value at all (polars' null type) reaches DuckDB as SQL NULL, as a typed one would."""
    frame = pl.DataFrame({"symbol": ["AAA"], "date": [date(2024, 1, 2)], "close": [1.0], "volume": [None]})
    assert frame.schema["volume"] == pl.Null
    store.upsert("prices", frame, "test")
    assert store.rows("SELECT symbol, close, volume FROM prices") == [("AAA", 1.0, None)]
    with store.registered("_probe", pl.DataFrame({"a": [None, None]})) as name:
        assert store.rows(f"SELECT count(*), count(a) FROM {name}") == [(2, 0)]


# -- a second handle for another thread --------------------------------------------------------------------------
def test_a_reader_reads_the_store_from_another_thread_and_never_writes(store: Store) -> None:
    from concurrent.futures import ThreadPoolExecutor

    store.upsert("prices", _prices([("AAA", date(2024, 1, 2), 10.0, 1000.0)]), provider="user")
    with store.reader() as side, ThreadPoolExecutor(1) as pool:
        assert side is not store and side.con is not store.con
        seen = pool.submit(side.query, "SELECT symbol, close FROM prices").result()
        assert seen.rows() == store.query("SELECT symbol, close FROM prices").rows() == [("AAA", 10.0)]
        with pytest.raises(ScreenerError, match="read-only"), side.transaction():
            pass
    # the store's own connection is untouched by the reader's close, and still writes
    store.upsert("prices", _prices([("AAA", date(2024, 1, 3), 11.0, 1000.0)]), provider="user")
    assert store.scalar("SELECT count(*) FROM prices") == 2


def test_a_reader_is_refused_inside_a_transaction(store: Store) -> None:
    """A cursor would not see the transaction's uncommitted writes: reading beside a write is refused, not wrong."""
    with store.transaction():
        store.upsert("prices", _prices([("AAA", date(2024, 1, 2), 10.0, 1000.0)]), provider="user")
        with pytest.raises(RuntimeError, match="transaction"), store.reader():
            pass
