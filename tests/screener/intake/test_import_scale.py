"""Import at scale keeps its promises: a re-import changes nothing, quarantined rows are written in one statement,
and the contract checks written as polars expressions agree with the per-row rules they replaced."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from screener.contract import ISO_CURRENCIES, KINDS, MARKET_SYMBOL, is_known_currency
from screener.intake.imports import import_paths
from screener.providers.files import ContractError, invalid_symbol, outside_domain, read_file, unknown_currency
from screener.store import Store

TODAY = date(2026, 6, 1)
T0, T1 = datetime(2026, 1, 5, 9, 0), datetime(2026, 2, 5, 9, 0)


def _companies(symbols: list[str]) -> pl.DataFrame:
    n = len(symbols)
    return pl.DataFrame(
        {
            "symbol": symbols,
            "name": [f"Company {s}" for s in symbols],
            "country": ["US"] * n,
            "currency": ["USD"] * n,
            "roles": ["miner"] * n,
            "stage": ["producer"] * n,
        }
    )


def _prices(symbols: list[str], days: int) -> pl.DataFrame:
    dates = pl.date_range(date(2026, 1, 1), date(2026, 1, days), eager=True)
    return pl.DataFrame(
        {
            "symbol": [s for s in symbols for _ in range(days)],
            "date": [d for _ in symbols for d in dates],
            "close": [10.0 + i % 7 * 0.1 for i in range(len(symbols) * days)],
            "volume": [1000.0] * (len(symbols) * days),
        }
    )


def _write(folder: Path, frames: dict[str, pl.DataFrame]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for kind, frame in frames.items():
        frame.write_csv(folder / f"{kind}.csv")
    return folder


def _contents(store: Store) -> dict[str, pl.DataFrame]:
    return {kind: store.frame(kind) for kind in ("companies", "prices")}


def test_reimport_duplicates_nothing_and_changes_nothing(tmp_path: Path, db_path: Path) -> None:
    folder = _write(tmp_path / "in", {"companies": _companies(["AAA", "BBB"]), "prices": _prices(["AAA", "BBB"], 20)})
    with Store(db_path) as store:
        import_paths(store, [folder], today=TODAY)
        first = _contents(store)
        import_paths(store, [folder], today=TODAY)
        again = _contents(store)
    assert first["prices"].height == 40
    for kind in first:
        assert again[kind].equals(first[kind]), kind


def test_a_repeated_load_keeps_each_unchanged_rows_load_time(db_path: Path) -> None:
    """The merge rewrites only rows whose values change: ``loaded_at`` says when the stored value was written."""
    prices = _prices(["AAA"], 5)
    with Store(db_path) as store:
        store.upsert_real("prices", prices, "file", loaded_at=T0)
        on_the_3rd = pl.col("date") == date(2026, 1, 3)
        changed = prices.with_columns(pl.when(on_the_3rd).then(99.0).otherwise("close").alias("close"))
        more = pl.concat([changed, _prices(["BBB"], 2)])
        store.upsert_real("prices", more, "file", loaded_at=T1)
        got = store.frame("prices")
    assert got.height == 7
    by_key = {(r["symbol"], r["date"]): r for r in got.iter_rows(named=True)}
    assert by_key[("AAA", date(2026, 1, 3))]["close"] == 99.0
    assert by_key[("AAA", date(2026, 1, 3))]["loaded_at"] == T1
    assert by_key[("AAA", date(2026, 1, 2))]["loaded_at"] == T0
    assert by_key[("BBB", date(2026, 1, 2))]["loaded_at"] == T1


def test_a_repeated_load_with_a_missing_value_keeps_the_stored_one(db_path: Path) -> None:
    prices = _prices(["AAA"], 3)
    with Store(db_path) as store:
        store.upsert_real("prices", prices, "file", loaded_at=T0)
        store.upsert_real("prices", prices.with_columns(pl.lit(None, dtype=pl.Float64).alias("volume")), "file")
        assert store.frame("prices")["volume"].to_list() == [1000.0] * 3


class _Counting:
    """The store's connection, counting the statements that write the rejected-rows ledger."""

    def __init__(self, con: Any) -> None:
        self._con = con
        self.ledger_writes = 0

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        if "INSERT INTO rejected_rows" in sql:
            self.ledger_writes += 1
        return self._con.execute(sql, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def test_quarantine_writes_every_rejected_row_in_one_statement(tmp_path: Path, db_path: Path) -> None:
    prices = _prices(["AAA", "BBB"], 30)
    bad = prices.with_columns(
        pl.when(pl.int_range(pl.len()) % 3 == 0).then(-pl.col("close")).otherwise("close").alias("close")
    )
    folder = _write(tmp_path / "in", {"companies": _companies(["AAA", "BBB"]), "prices": bad})
    with Store(db_path) as store:
        counting = _Counting(store.con)
        store.con = counting  # type: ignore[assignment]
        summary = import_paths(store, [folder], quarantine=True, today=TODAY)
        store.con = counting._con
        ledger = store.rejected_rows()
        stored = store.frame("prices")
    assert summary.rejected == 20
    assert counting.ledger_writes == 1
    assert ledger.height == 20 and set(ledger["column_name"]) == {"close"}
    assert stored.height == 40 and (stored["close"] > 0).all()


def test_dates_after_tomorrow_are_still_refused(tmp_path: Path) -> None:
    """Dates reach great-expectations as ``datetime64[ns]``; the bound still holds, also far past its range."""
    from screener.validation import validate_frame
    from screener.validation.runner import _pandas

    frame = pl.DataFrame(
        {
            "symbol": ["AAA", "AAA", "AAA", "AAA"],
            "date": [date(2026, 6, 2), date(2026, 6, 3), date(2300, 1, 1), date(1600, 1, 1)],
            "close": [10.0, 10.0, 10.0, 10.0],
        }
    )
    assert str(_pandas(frame, ["date"])["date"].dtype) == "datetime64[ns]"
    failures = validate_frame("prices", frame, "prices.csv", today=TODAY)
    future = failures.filter(pl.col("expectation").str.contains("not after"))
    assert future["row"].to_list() == [3, 4]
    assert future["value"].to_list() == ["2026-06-03", "2300-01-01"]
    assert failures.filter(pl.col("expectation").str.contains("required")).height == 0


def test_text_rules_run_per_distinct_value_and_name_every_row() -> None:
    from screener.validation import validate_frame

    frame = pl.DataFrame(
        {
            "symbol": ["AAA", "b@d", "AAA", "b@d", "CCC"],
            "date": [date(2026, 1, d) for d in range(1, 6)],
            "close": [10.0] * 5,
        }
    )
    failures = validate_frame("prices", frame, "prices.csv", today=TODAY)
    assert failures.select("row", "column_name", "value").rows() == [(3, "symbol", "b@d"), (5, "symbol", "b@d")]


def test_duplicate_keys_name_the_first_row(tmp_path: Path) -> None:
    text = "symbol,date,close\nAAA,2026-01-02,1\nBBB,2026-01-02,1\nAAA,2026-01-02,2\nAAA,2026-01-02,3\n"
    path = tmp_path / "prices.csv"
    path.write_text(text)
    try:
        read_file(path, "prices")
    except ContractError as exc:
        details = exc.details
    else:
        raise AssertionError("duplicate keys were accepted")
    assert details == [
        f"{path}, row 4, column symbol: duplicate key (symbol=AAA, date=2026-01-02) also on row 2",
        f"{path}, row 5, column symbol: duplicate key (symbol=AAA, date=2026-01-02) also on row 2",
    ]


# -- the polars checks agree with the per-row rules they replaced -------------------------------------------------


def _old_symbol_rule(v: str | None, kind: str) -> bool:
    return v is not None and (" " in v or (v == MARKET_SYMBOL and kind != "events"))


def _old_domain_rule(v: str | None, domain: frozenset[str], multi: bool) -> bool:
    if v is None:
        return False
    items = [x.strip() for x in v.split(";")] if multi else [v]
    if multi and (not items or any(x == "" for x in items)):
        return True
    return any(item not in domain for item in items)


_words = st.sampled_from(["miner", "processor", "recycler", "US", "GBp", "GBP", "usd", "*", "", " ", ";", "a b"])
_text = st.lists(st.one_of(st.none(), st.text(max_size=6), _words, st.lists(_words, max_size=3).map(";".join)))


@settings(max_examples=200, deadline=None)
@given(_text, st.sampled_from(["prices", "events"]))
def test_symbol_check_agrees_with_the_per_row_rule(values: list[str | None], kind: str) -> None:
    text = pl.Series(values, dtype=pl.String)
    assert invalid_symbol(text, kind).to_list() == [_old_symbol_rule(v, kind) for v in values]


@settings(max_examples=200, deadline=None)
@given(_text, st.booleans())
def test_domain_check_agrees_with_the_per_row_rule(values: list[str | None], multi: bool) -> None:
    domain = KINDS["companies"].column("roles").domain
    assert domain is not None
    text = pl.Series(values, dtype=pl.String)
    assert outside_domain(text, domain, multi=multi).to_list() == [_old_domain_rule(v, domain, multi) for v in values]


@settings(max_examples=200, deadline=None)
@given(_text, st.booleans())
def test_currency_check_agrees_with_the_per_row_rule(values: list[str | None], listing: bool) -> None:
    known = is_known_currency if listing else ISO_CURRENCIES.__contains__
    text = pl.Series(values, dtype=pl.String)
    want = [v is not None and not known(v) for v in values]
    assert unknown_currency(text, listing=listing).to_list() == want


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["A", "B", None]), st.integers(1, 3)), min_size=1, max_size=12))
def test_duplicate_key_check_agrees_with_the_dict_it_replaced(rows: list[tuple[str | None, int]]) -> None:
    from screener.providers.files import _duplicate_keys

    frame = pl.DataFrame(
        {"symbol": [r[0] for r in rows], "date": [date(2026, 1, r[1]) for r in rows]},
        schema={"symbol": pl.String, "date": pl.Date},
    )
    seen: dict[tuple[object, ...], int] = {}
    want = []
    for i, key in enumerate(frame.iter_rows()):
        if any(v is None for v in key):
            continue
        if key in seen:
            want.append((i + 2, seen[key]))
        else:
            seen[key] = i + 2
    got = sorted(
        (p[0], int(re.search(r"on row (\d+)", p[3]).group(1))) for p in _duplicate_keys(frame, ("symbol", "date"))
    )  # type: ignore[union-attr]
    assert got == want


# -- a re-import changes nothing it need not: the data version, the counts, the rejected-rows ledger ---------------
def _summary(summary: Any) -> dict[str, tuple[int, int, int, int, int]]:
    return {
        r["kind"]: (r["rows"], r["inserted"], r["updated"], r["stored"], r["rejected"])
        for r in summary.table().iter_rows(named=True)
    }


def test_a_reimport_of_the_same_files_keeps_the_data_version_and_counts_nothing_stored(
    tmp_path: Path, db_path: Path
) -> None:
    folder = _write(tmp_path / "in", {"companies": _companies(["AAA", "BBB"]), "prices": _prices(["AAA", "BBB"], 20)})
    with Store(db_path) as store:
        first = import_paths(store, [folder], today=TODAY)
        version = store.data_version()
        again = import_paths(store, [folder], today=TODAY)
        assert store.data_version() == version
    assert _summary(first) == {"companies": (2, 2, 0, 2, 0), "prices": (40, 40, 0, 40, 0)}
    assert _summary(again) == {"companies": (2, 0, 0, 0, 0), "prices": (40, 0, 0, 0, 0)}


def test_a_reimport_that_changes_one_value_bumps_the_version_once_and_counts_one_update(
    tmp_path: Path, db_path: Path
) -> None:
    prices = _prices(["AAA", "BBB"], 20)
    folder = _write(tmp_path / "in", {"companies": _companies(["AAA", "BBB"]), "prices": prices})
    with Store(db_path) as store:
        import_paths(store, [folder], today=TODAY)
        version = store.data_version()
        edited = prices.with_columns(pl.when(pl.int_range(pl.len()) == 7).then(55.5).otherwise("close").alias("close"))
        _write(folder, {"prices": edited})
        summary = import_paths(store, [folder], today=TODAY)
        assert store.data_version() == version + 1
        assert store.scalar("SELECT count(*) FROM prices WHERE close = 55.5") == 1
    assert _summary(summary) == {"companies": (2, 0, 0, 0, 0), "prices": (40, 0, 1, 1, 0)}


def test_a_changed_role_or_a_new_row_counts_as_stored(tmp_path: Path, db_path: Path) -> None:
    folder = _write(tmp_path / "in", {"companies": _companies(["AAA", "BBB"]), "prices": _prices(["AAA"], 5)})
    with Store(db_path) as store:
        import_paths(store, [folder], today=TODAY)
        version = store.data_version()
        companies = _companies(["AAA", "BBB"]).with_columns(
            pl.when(pl.col("symbol") == "BBB").then(pl.lit("miner;recycler")).otherwise("roles").alias("roles")
        )
        _write(folder, {"companies": companies, "prices": _prices(["AAA"], 6)})  # one more day
        summary = import_paths(store, [folder], today=TODAY)
        assert store.data_version() == version + 1
        assert store.current_roles("BBB") == ["miner", "recycler"]
    assert _summary(summary) == {"companies": (2, 0, 1, 1, 0), "prices": (6, 1, 0, 1, 0)}


def test_stored_scores_stay_current_across_a_reimport_of_the_same_files(tmp_path: Path, db_path: Path) -> None:
    from factors.engine import COMPUTED, RECOMPUTED, STORED, current_scores

    as_of = date(2026, 1, 20)
    prices = _prices(["AAA", "BBB"], 20)
    folder = _write(tmp_path / "in", {"companies": _companies(["AAA", "BBB"]), "prices": prices})
    with Store(db_path) as store:
        import_paths(store, [folder], today=TODAY)
        assert current_scores(store, as_of, today=TODAY)[1] == COMPUTED
        import_paths(store, [folder], today=TODAY)
        assert current_scores(store, as_of, today=TODAY)[1] == STORED
        _write(folder, {"prices": prices.with_columns(pl.col("close") * 2)})
        import_paths(store, [folder], today=TODAY)
        assert current_scores(store, as_of, today=TODAY)[1] == RECOMPUTED


def test_a_quarantined_reimport_of_the_same_bad_file_duplicates_no_rejection(tmp_path: Path, db_path: Path) -> None:
    prices = _prices(["AAA", "BBB"], 30)
    bad = prices.with_columns(
        pl.when(pl.int_range(pl.len()) % 3 == 0).then(-pl.col("close")).otherwise("close").alias("close")
    )
    folder = _write(tmp_path / "in", {"companies": _companies(["AAA", "BBB"]), "prices": bad})
    with Store(db_path) as store:
        first = import_paths(store, [folder], quarantine=True, today=TODAY)
        ledger = store.rejected_rows()
        version = store.data_version()
        again = import_paths(store, [folder], quarantine=True, today=TODAY)
        assert store.rejected_rows().equals(ledger)  # the same entries, first rejection times kept
        assert store.data_version() == version
        assert store.held_row_count() == 20
    assert first.rejected == again.rejected == 20  # every import still says which rows it kept out
    assert _summary(again) == {"companies": (2, 0, 0, 0, 0), "prices": (60, 0, 0, 0, 20)}
    assert ledger.height == 20


def test_the_command_reports_a_reimport_as_nothing_stored(tmp_path: Path, invoke: Any) -> None:
    import json

    folder = _write(tmp_path / "in", {"companies": _companies(["AAA"]), "prices": _prices(["AAA"], 3)})
    first = invoke("import", str(folder), "--format", "json")
    assert first.exit_code == 0, first.stderr
    again = invoke("import", str(folder), "--format", "json")
    assert again.exit_code == 0, again.stderr
    rows = {r["kind"]: r for r in json.loads(again.stdout)}
    assert {k: (r["rows"], r["inserted"], r["updated"], r["stored"]) for k, r in rows.items()} == {
        "companies": (1, 0, 0, 0),
        "prices": (3, 0, 0, 0),
    }
    assert "stored: 0 companies, 0 prices" in again.stderr
