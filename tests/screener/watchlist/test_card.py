"""``screener show SYMBOL``: the company card, with tags, fundamentals, events, freshness and factor breakdown."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from factors.registry import FACTORS
from screener.watchlist.card import EVENT_ROWS, SECTION_TITLES
from tests._score_cli_helpers import AS_OF, scored_template


@pytest.fixture
def template(store_template) -> Path:
    """The imported universe with its scores for ``AS_OF`` stored, as the first ``show`` of that day leaves them:
    each card of that day reads the set instead of computing the same scores again (built once per run)."""
    return scored_template(store_template)


@pytest.fixture
def loaded(invoke, db_path: Path, template: Path):
    shutil.copyfile(template, db_path)
    return invoke


def test_table_prints_every_section_with_a_heading(loaded) -> None:
    result = loaded("show", "ENB", "--as-of", AS_OF.isoformat())
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.startswith("ENB as of 2026-06-01")
    for title in SECTION_TITLES.values():
        assert title in out, title
    for name in FACTORS:
        assert name in out
    assert "Enabler Magnetics" in out and "magnet_maker;recycler" in out
    assert "Q 2026-02-28" in out and "FY" not in out.split("Latest fundamentals")[1].split("Recent events")[0]
    assert "data_completeness: 1.00" in out


def test_json_is_one_object_with_a_key_per_section(loaded) -> None:
    result = loaded("show", "enb", "--as-of", AS_OF.isoformat(), "--format", "json")
    assert result.exit_code == 0, result.stderr
    card = json.loads(result.stdout)
    assert set(card) == {
        "symbol",
        "as_of",
        "demo",
        "identity",
        "tags",
        "tag_history",
        "fundamentals",
        "events",
        "freshness",
        "factors",
        "membership",
        "rank_history",
    }
    assert card["symbol"] == "ENB" and card["identity"]["region"] == "north_america"
    assert {t["role"] for t in card["tags"]} == {"magnet_maker", "recycler"}
    # latest fundamentals per period, with currency; the quarter inside the reporting lag is listed but marked
    assert card["fundamentals"][0]["period_end"] == "2026-05-31" and card["fundamentals"][0]["currency"] == "USD"
    # last 10 events, newest first, company events only
    assert len(card["events"]) == EVENT_ROWS
    dates = [e["date"] for e in card["events"]]
    assert dates == sorted(dates, reverse=True)
    fresh = {(f["data"], f["provider"]): f for f in card["freshness"]}
    assert fresh[("prices", "file")]["latest"] == "2026-06-01"
    assert fresh[("fundamentals", "file")]["loaded_at"]
    scores = json.loads(loaded("score", "--as-of", AS_OF.isoformat(), "--format", "json").stdout)
    enb = next(r for r in scores if r["symbol"] == "ENB")
    for spec in FACTORS.values():
        got = card["factors"]["values"][spec.name]
        assert got["value"] == enb[spec.name] and got["percentile"] == enb[spec.pct_column]
        assert set(got["components"]) == set(spec.components)
        assert got["direction"] == spec.direction
    assert card["factors"]["flags"] == enb["flags"]


def test_not_yet_reported_quarter_is_marked_in_the_table(loaded) -> None:
    out = loaded("show", "ENB", "--as-of", AS_OF.isoformat()).stdout
    assert "(not yet)" in out


def test_tag_changes_show_with_their_source(loaded) -> None:
    assert loaded("universe", "tag", "ENB", "--add", "processor", "--source", "https://example.com/10-K").exit_code == 0
    card = json.loads(loaded("show", "ENB", "--as-of", AS_OF.isoformat(), "--format", "json").stdout)
    latest = card["tag_history"][0]
    assert (latest["role"], latest["action"], latest["actor"], latest["source"]) == (
        "processor",
        "add",
        "user",
        "https://example.com/10-K",
    )


def test_company_without_data_still_gets_a_card(loaded) -> None:
    result = loaded("show", "BLANK", "--as-of", AS_OF.isoformat())
    assert result.exit_code == 0, result.stderr
    assert "Latest fundamentals: none" in result.stdout and "Recent events: none" in result.stdout
    assert "no_prices" in result.stdout
    card = json.loads(loaded("show", "BLANK", "--as-of", AS_OF.isoformat(), "--format", "json").stdout)
    assert card["fundamentals"] == [] and card["factors"]["values"]["pullback"]["value"] is None


@pytest.mark.parametrize(("typed", "hint"), [("ENBB", "ENB"), ("MINAX", "MIN.AX"), ("Outbak Miner", "MIN.AX")])
def test_unknown_symbol_is_one_line_with_a_suggestion(loaded, typed: str, hint: str) -> None:
    result = loaded("show", typed)
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1  # no demo banner before the error either
    assert f"no symbol or company name matches {typed!r}" in lines[0] and f"did you mean {hint!r}" in lines[0]


@pytest.mark.parametrize(
    ("typed", "symbol"),
    [
        ("enb", "ENB"),
        ("min.ax", "MIN.AX"),  # the symbol, any case
        ("Outback Miner", "MIN.AX"),
        ("outback miner", "MIN.AX"),  # the whole name
        ("Outback", "MIN.AX"),
        ("pence", "PRC.L"),
        ("Motors", "DWN.T"),  # a unique part of the name
    ],
)
def test_a_symbol_or_a_name_finds_the_company(loaded, typed: str, symbol: str) -> None:
    result = loaded("show", typed, "--as-of", AS_OF.isoformat(), "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["symbol"] == symbol


def test_a_part_of_several_names_lists_the_candidates(loaded) -> None:
    result = loaded("show", "in", "--as-of", AS_OF.isoformat())
    assert result.exit_code == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0] == (
        "Error: 'in' matches 3 companies: BLANK (Blank Holdings), MIN.AX (Outback Miner), "
        "PRC.L (Pence Processing); give the symbol or more of the name"
    )


def test_an_ambiguous_name_lists_at_most_five_candidates(loaded, db_path: Path) -> None:
    import polars as pl

    from screener.store import Store
    from tests._score_cli_helpers import COMPANIES

    extra = [{**COMPANIES[2], "symbol": f"ZZ{k}", "name": f"Zeta Motors {k}"} for k in range(3)]
    with Store(db_path) as store:
        store.upsert("companies", pl.DataFrame(extra), "file")
    result = loaded("show", "motors")
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert "'motors' matches 4 companies" in line and "DWN.T (Downstream Motors)" in line
    result = loaded("show", "e")  # in 7 of the 8 names (not in Blank Holdings)
    assert result.stderr.strip() == (
        "Error: 'e' matches 7 companies: DWN.T (Downstream Motors), ENB (Enabler Magnetics), MIN.AX (Outback Miner), "
        "PRC.L (Pence Processing), ZZ0 (Zeta Motors 0) and 2 more; give the symbol or more of the name"
    )


@pytest.mark.parametrize("typed", ["", "   "])
def test_an_empty_name_is_a_clear_error(loaded, typed: str) -> None:
    result = loaded("show", typed)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "Error: give a symbol or part of a company name, e.g. 'screener show MP' or 'screener show Lynas'"
    ]


def test_json_fundamentals_say_when_each_period_became_public(loaded) -> None:
    card = json.loads(loaded("show", "ENB", "--as-of", AS_OF.isoformat(), "--format", "json").stdout)
    periods = {p["period_end"]: p for p in card["fundamentals"]}
    late = periods["2026-05-31"]  # ends a day before as-of: public only after the 60-day lag
    assert late["reported_by"] == "2026-07-30" and late["public"] is False
    q1 = periods["2026-02-28"]
    assert q1["reported_by"] == "2026-04-29" and q1["public"] is True
    # the same marker in the table
    table = loaded("show", "ENB", "--as-of", AS_OF.isoformat()).stdout
    assert "2026-07-30 (not yet)" in table and "2026-04-29 (not yet)" not in table and "2026-04-29" in table


def test_filled_components_show_the_value_the_factor_used(loaded) -> None:
    scores = json.loads(loaded("score", "--as-of", AS_OF.isoformat(), "--format", "json").stdout)
    card = json.loads(loaded("show", "BLANK", "--as-of", AS_OF.isoformat(), "--format", "json").stdout)
    dil = card["factors"]["values"]["dilution_risk"]
    assert dil["components"]["cash_runway_years"] is None  # measured: nothing
    # imputed from role-class peers: BLANK is a pure miner, and MIN.AX the only other one with a value
    min_ax = next(r for r in scores if r["symbol"] == "MIN.AX")
    assert card["factors"]["role_class"] == "pure_miner"
    assert dil["filled"]["cash_runway_years"] == min_ax["dilution_risk.cash_runway_years"]
    assert "imputed:dilution_risk.cash_runway_years" in dil["flags"]
    # worst observed: the lowest net cash to market cap of the cross-section
    bs = card["factors"]["values"]["balance_sheet"]
    assert bs["filled"]["net_cash_to_mcap"] == min(
        r["balance_sheet.net_cash_to_mcap"] for r in scores if r["balance_sheet.net_cash_to_mcap"] is not None
    )
    assert bs["filled"]["debt_to_equity"] == max(
        r["balance_sheet.debt_to_equity"] for r in scores if r["balance_sheet.debt_to_equity"] is not None
    )
    # measured components are not "filled", and excluded factors fill nothing
    assert "stage_risk" not in dil["filled"] and card["factors"]["values"]["pullback"]["filled"] == {}
    table = loaded("show", "BLANK", "--as-of", AS_OF.isoformat()).stdout
    breakdown = table.split("Factor breakdown")[1]
    header = breakdown.splitlines()[2]
    assert "filled" in header
    runway = next(line for line in breakdown.splitlines() if "cash_runway_years" in line)
    assert "imputed from role-class peers (pure_miner)" in runway
    assert f"{dil['filled']['cash_runway_years']:.3g}" in runway


def test_banner_only_when_the_card_rests_on_demo_rows(loaded, db_path: Path) -> None:
    from screener.store import Store
    from tests.builders import daily

    assert "DEMO DATA" not in loaded("show", "ENB", "--as-of", AS_OF.isoformat()).stderr
    with Store(db_path) as store:
        store.upsert("prices", daily("ENB", 3, close=11.0), "demo")
    # an unknown symbol is checked before anything is said about the data
    bad = loaded("show", "NOPE")
    assert bad.exit_code == 1 and "DEMO DATA" not in bad.stderr
    # MIN.AX is real, but its percentiles are measured against a demo-priced ENB
    assert "DEMO DATA" in loaded("show", "MIN.AX", "--as-of", AS_OF.isoformat()).stderr
    # before the demo prices existed, nothing on the card rests on them
    early = loaded("show", "ENB", "--as-of", "2026-01-15")
    assert early.exit_code == 0, early.stderr
    assert "DEMO DATA" not in early.stderr and "[demo data]" not in early.stdout


def test_show_on_an_empty_store(invoke, db_path: Path) -> None:
    from screener.store import Store

    Store(db_path).close()  # show reads an existing store; it never creates one
    result = invoke("show", "MP")
    assert result.exit_code == 1 and "no companies" in result.stderr


def test_half_years_are_listed_with_their_own_lag_and_the_daily_share_count_is_in_freshness(
    loaded, db_path: Path
) -> None:
    import polars as pl

    from screener.store import Store
    from screener.store.profiles import upsert_share_history

    with Store(db_path) as store:
        store.upsert(
            "fundamentals",
            pl.DataFrame(
                {
                    "symbol": ["MIN.AX"] * 3,
                    "period_end": ["2025-06-30", "2025-12-31", "2026-03-31"],
                    "period": ["H", "H", "H"],
                    "currency": ["AUD"] * 3,
                    "revenue": [1.0, 2.0, 3.0],
                }
            ).with_columns(pl.col("period_end").str.to_date()),
            "file",
        )
        upsert_share_history(
            store,
            pl.DataFrame({"symbol": ["MIN.AX"], "date": ["2026-05-20"], "shares": [1e9]}).with_columns(
                pl.col("date").str.to_date()
            ),
            "yahoo",
        )
    card = json.loads(loaded("show", "MIN.AX", "--as-of", AS_OF.isoformat(), "--format", "json").stdout)
    halves = {p["period_end"]: p for p in card["fundamentals"] if p["period"] == "H"}
    assert set(halves) == {"2025-06-30", "2025-12-31", "2026-03-31"}
    # 62 days after its end a quarter would count; a half year needs 90
    assert halves["2026-03-31"]["reported_by"] == "2026-06-29" and halves["2026-03-31"]["public"] is False
    assert halves["2025-12-31"]["reported_by"] == "2026-03-31" and halves["2025-12-31"]["public"] is True
    fresh = {(f["data"], f["provider"]): f for f in card["freshness"]}
    assert fresh[("shares", "yahoo")]["latest"] == "2026-05-20"


def test_show_prints_the_months_to_raise_line(loaded) -> None:
    out = loaded("show", "ENB", "--as-of", AS_OF.isoformat()).stdout
    line = next(x for x in out.splitlines() if x.startswith("months to raise:"))
    card = json.loads(loaded("show", "ENB", "--as-of", AS_OF.isoformat(), "--format", "json").stdout)
    funding = card["factors"]["funding"]
    assert funding["text"] == line
    assert funding["months_to_raise"] == card["factors"]["values"]["dilution_risk"]["components"]["months_to_raise"]
    assert "cash + binding funding" in line  # ENB has a cash figure, so the gap is known
    blank = loaded("show", "BLANK", "--as-of", AS_OF.isoformat()).stdout
    assert "months to raise: unknown (no cash or cash-flow figure)" in blank


def test_months_to_raise_line_tells_none_needed_from_unknown_and_from_a_date() -> None:
    from screener.watchlist.card import funding_line

    cap = 12 * FACTORS["dilution_risk"].params["max_runway_years"]
    col = "dilution_risk."
    none = funding_line({f"{col}months_to_raise": cap, f"{col}funding_gap_usd": -5e7, f"{col}remaining_capex_usd": 0.0})
    soon = funding_line(
        {f"{col}months_to_raise": 7.25, f"{col}funding_gap_usd": 1.2e8, f"{col}remaining_capex_usd": 3e8}
    )
    unknown = funding_line({})
    assert none["raise_status"] == "not_needed" and none["text"].startswith("months to raise: none needed within 10")
    assert soon["text"] == (
        "months to raise: 7.2; open projects' capex USD 300.0m, short of cash + binding funding by USD 120.0m"
    )
    assert unknown["raise_status"] == "unknown" and unknown["months_to_raise"] is None


def test_the_card_reads_identity_as_of_its_date_and_refuses_a_company_not_listed_then(store) -> None:
    from datetime import date, datetime

    import polars as pl

    t0, t1 = datetime(2025, 6, 2, 9, 0), datetime(2026, 1, 2, 9, 0)
    from screener.errors import ScreenerError
    from screener.watchlist.card import company_card

    row = {"symbol": "PEK", "name": "Peak", "country": "AU", "currency": "AUD", "roles": "miner"}
    store.upsert("companies", pl.DataFrame([row | {"stage": "developer", "delisted_on": date(2025, 10, 1)}]), "file")
    store.upsert("companies", pl.DataFrame([row | {"symbol": "LYC", "stage": "developer"}]), "file", loaded_at=t0)
    store.upsert("companies", pl.DataFrame([row | {"symbol": "LYC", "stage": "producer"}]), "file", loaded_at=t1)
    with pytest.raises(ScreenerError, match=r"PEK was not listed on 2026-01-05 \(listed from unknown, delisted on"):
        company_card(store, "PEK", date(2026, 1, 5))
    assert company_card(store, "PEK", date(2025, 9, 1)).identity["delisted_on"] == date(2025, 10, 1)
    assert company_card(store, "LYC", date(2025, 9, 1)).identity["stage"] == "developer"
    assert company_card(store, "LYC", date(2026, 1, 5)).identity["stage"] == "producer"


def test_one_company_read_matches_the_universe_read_on_every_date(store) -> None:
    """``companies(as_of, symbol=...)`` is ``companies(as_of)`` cut to one symbol: the same roles put back and the
    same stage."""
    from datetime import date, datetime

    import polars as pl
    from polars.testing import assert_frame_equal

    base = {"name": "Alpha", "country": "AU", "currency": "AUD", "roles": "miner", "stage": "developer"}
    store.upsert(
        "companies",
        pl.DataFrame([base | {"symbol": "AAA"}, base | {"symbol": "BBB", "roles": "processor"}]),
        "file",
        loaded_at=datetime(2025, 1, 2, 9, 0),
    )
    store.upsert(
        "companies",
        pl.DataFrame([base | {"symbol": "AAA", "stage": "producer"}]),
        "file",
        loaded_at=datetime(2025, 6, 2, 9, 0),
    )
    tag = {"source": "filing", "actor": "test"}
    store.change_tags("AAA", add=["processor"], effective=date(2025, 3, 1), **tag)
    store.change_tags("AAA", remove=["miner"], effective=date(2025, 5, 1), **tag)
    store.change_tags("AAA", add=["miner"], effective=date(2025, 8, 1), **tag)
    store.change_tags("BBB", remove=["processor"], effective=date(2025, 4, 1), **tag)
    days = [
        date(2024, 12, 31),
        date(2025, 3, 1),
        date(2025, 4, 15),
        date(2025, 5, 1),
        date(2025, 7, 1),
        date(2025, 9, 1),
    ]
    seen = set()
    for day in days:
        every = store.companies(as_of=day)
        for symbol in ("AAA", "BBB"):
            one = store.companies(day, symbol=symbol)
            assert_frame_equal(one, every.filter(pl.col("symbol") == symbol))
            seen.add((symbol, one["roles"].item(), one["stage"].item()))
    # the dates do cross the changes: the comparison is not between two unchanged rows
    assert {("AAA", "miner", "developer"), ("AAA", "processor", "producer"), ("BBB", "", "developer")} <= seen
    assert store.companies(days[0], symbol="NOPE").height == 0


def test_show_by_symbol_reads_that_company_alone(loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    """A card by symbol reads neither the whole universe nor every name, nor decodes the whole stored score set."""
    from screener.store import Store

    expected = loaded("show", "ENB", "--as-of", AS_OF.isoformat(), "--format", "json")  # stores the score set
    assert expected.exit_code == 0, expected.stderr

    def whole(*args: object, **kwargs: object) -> None:
        raise AssertionError("read every company")

    one_company = Store.companies

    def companies(self: Store, as_of: object = None, *, symbol: str | None = None) -> object:
        if symbol is None:
            raise AssertionError("read every company")
        return one_company(self, as_of, symbol=symbol)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "companies", companies)
    for name in ("company_names", "load_scores"):
        monkeypatch.setattr(Store, name, whole)
    again = loaded("show", "ENB", "--as-of", AS_OF.isoformat(), "--format", "json")
    assert again.exit_code == 0, again.stderr
    assert again.stdout == expected.stdout


def test_a_stored_score_set_is_a_table_a_one_company_read_fetches_its_row(store) -> None:
    """A set is kept as a table of its own (schema v12), read back whole and by row: the card's one-company read is
    one query for that company's row; another filter tests its columns, then fetches the matching rows by row id."""
    from datetime import date

    import polars as pl
    from polars.testing import assert_frame_equal

    n = 20_005
    frame = pl.DataFrame({"symbol": [f"S{i:06d}" for i in range(n)], "value": [float(i) for i in range(n)]})
    day = date(2026, 1, 5)
    store.save_scores(day, frame, demo=False, inputs_hash="k")
    assert store.rows("SELECT rows_in, octet_length(payload) FROM score_sets") == [('score_rows."2026-01-05"', 0)]
    assert_frame_equal(store.scan_scores(day).collect(), frame)
    asked: list[str] = []
    query = store.query
    store.query = lambda sql, params=None: asked.append(sql) or query(sql, params)  # type: ignore[method-assign]
    one = store.scan_scores(day).filter(pl.col("symbol") == "S016386").collect()
    assert one.to_dicts() == [{"symbol": "S016386", "value": 16386.0}]
    assert [sql for sql in asked if "WHERE" in sql] == [
        'SELECT "symbol", "value" FROM score_rows."2026-01-05" WHERE "symbol" = ? ORDER BY rowid'
    ]
    asked.clear()
    two = store.scan_scores(day).filter(pl.col("symbol").is_in(["S016386", "S000002"])).collect()
    assert two["value"].to_list() == [2.0, 16386.0]
    assert any("rowid IN (2, 16386)" in sql for sql in asked), asked
    assert store.scan_scores(date(2026, 1, 6)) is None


def test_the_sections_beside_the_scores_are_read_on_a_second_handle(loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tags, fundamentals, events, freshness and runs are read through ``Store.reader`` on the card's worker thread
    while the identity and the score row are read beside it: the card is the same either way."""
    import threading

    from screener.store import Store

    expected = loaded("show", "ENB", "--as-of", AS_OF.isoformat(), "--format", "json")  # stores the score set
    assert expected.exit_code == 0, expected.stderr
    where: dict[str, set[bool]] = {}
    query = Store.query

    def spy(self: Store, sql: str, params: object = None) -> object:
        tables = ("fundamentals", "events", "role_tag_history", "watchlist_runs", "score_rows", "companies")
        table = next((t for t in tables if f"FROM {t}" in sql.replace('"', "")), None)
        if table is not None:
            where.setdefault(table, set()).add(threading.current_thread().name.startswith("ThreadPoolExecutor"))
        return query(self, sql, params)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "query", spy)
    again = loaded("show", "ENB", "--as-of", AS_OF.isoformat(), "--format", "json")
    assert again.exit_code == 0, again.stderr
    assert again.stdout == expected.stdout
    aside = {t for t, seen in where.items() if seen == {True}}
    beside = {t for t, seen in where.items() if seen == {False}}
    assert {"score_rows", "companies"} <= beside, where
    assert {"fundamentals", "events", "watchlist_runs"} <= aside, where
    assert True in where["role_tag_history"]  # the tag changes (the identity's roles as of the day read it too)


def test_an_error_in_a_section_read_beside_the_scores_is_one_line(loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read on the card's worker thread that fails reaches the user as the command's one line and exit 1, as it
    did when the card read everything on one thread."""
    from screener.errors import ScreenerError
    from screener.store import Store

    def fails(self: Store, *args: object) -> None:
        raise ScreenerError("the events could not be read")

    monkeypatch.setattr(Store, "company_events", fails)
    result = loaded("show", "ENB", "--as-of", AS_OF.isoformat())
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == ["Error: the events could not be read"]
    assert result.stdout == ""
