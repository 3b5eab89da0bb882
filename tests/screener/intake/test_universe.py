"""``screener init`` and ``screener universe``: idempotent loading, user edits that survive, filters, tags, formats."""

from __future__ import annotations

import io
import json
import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from screener.contract import REGIONS, ROLES
from screener.paths import bundled_data_dir
from screener.providers.files import read_file
from screener.store import Store
from tests._foundation_helpers import snapshot, write

BUNDLED = read_file(bundled_data_dir() / "companies.csv", "companies").frame


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ``init`` per module; each test gets a copy, which is much faster than initialising again."""
    path = tmp_path_factory.mktemp("init") / "initialised.duckdb"
    from screener.intake.universe import load_bundled

    with Store(path) as store:
        load_bundled(store)
    return path


@pytest.fixture
def ready(initialised: Path, db_path: Path) -> Path:
    shutil.copy(initialised, db_path)
    return db_path


def _single_role_symbol() -> str:
    return BUNDLED.filter(~pl.col("roles").str.contains(";"))["symbol"].sort()[0]


def _multi_role_symbol() -> tuple[str, list[str]]:
    row = BUNDLED.filter(pl.col("roles").str.contains(";")).sort("symbol").row(0, named=True)
    return row["symbol"], row["roles"].split(";")


# -- init --------------------------------------------------------------------------------------------------------
def test_init_loads_the_bundled_universe(invoke, db_path: Path) -> None:
    result = invoke("init")
    assert result.exit_code == 0, result.stderr
    assert f"{BUNDLED.height} companies added" in result.stderr
    with Store(db_path) as store:
        assert store.counts()["companies"] == BUNDLED.height
        assert set(store.companies()["origin"].to_list()) == {"bundled"}
        assert store.counts()["events"] > 0
        assert set(store.tag_history()["actor"].to_list()) == {"bundled"}


def test_second_init_adds_nothing(invoke, ready: Path) -> None:
    before = snapshot(ready)
    result = invoke("init")
    assert result.exit_code == 0, result.stderr
    assert "0 companies added" in result.stderr and "0 events added" in result.stderr
    after = snapshot(ready)
    for table in ("role_tags", "role_tag_history", "events", "fundamentals", "prices"):
        assert len(after[table]) == len(before[table]), table
    assert [r[:9] for r in after["companies"]] == [r[:9] for r in before["companies"]]


def test_user_tags_survive_a_later_init(invoke, ready: Path) -> None:
    single = _single_role_symbol()
    multi, roles = _multi_role_symbol()
    extra = next(r for r in ROLES if r not in BUNDLED.filter(pl.col("symbol") == single)["roles"].item())
    assert invoke("universe", "tag", single, "--add", extra, "--source", "analyst call").exit_code == 0
    assert invoke("universe", "tag", multi, "--remove", roles[0], "--source", "10-K p.4").exit_code == 0
    assert invoke("init").exit_code == 0
    with Store(ready) as store:
        assert extra in store.current_roles(single)
        assert roles[0] not in store.current_roles(multi)
        assert set(store.current_roles(multi)) == set(roles[1:])


def test_user_companies_survive_a_later_init(tmp_path: Path, invoke, ready: Path) -> None:
    bundled = BUNDLED.sort("symbol").row(0, named=True)
    csv = (
        "symbol,name,country,currency,roles,stage,source\n"
        "ZZZ.AX,Zed Minerals,AU,AUD,miner,explorer,https://example.com/z\n"
        f"{bundled['symbol']},My own name,{bundled['country']},{bundled['currency']},recycler,developer,my notes\n"
    )
    assert invoke("import", str(write(tmp_path / "companies.csv", csv))).exit_code == 0
    result = invoke("init")
    assert result.exit_code == 0
    assert "1 kept as edited by you" in result.stderr
    with Store(ready) as store:
        companies = store.companies()
        mine = companies.filter(pl.col("symbol") == bundled["symbol"]).row(0, named=True)
        assert (mine["name"], mine["roles"], mine["stage"], mine["origin"]) == (
            "My own name",
            "recycler",
            "developer",
            "user",
        )
        assert companies.filter(pl.col("symbol") == "ZZZ.AX")["origin"].to_list() == ["user"]


def test_user_events_win_over_bundled_ones(tmp_path: Path, invoke, ready: Path) -> None:
    events = read_file(bundled_data_dir() / "events.csv", "events").frame.sort("symbol", "date").row(0, named=True)
    row = events | {"source": "my correction"}
    line = ",".join(
        "" if row[c] is None else f'"{row[c]}"'
        for c in [
            "symbol",
            "date",
            "kind",
            "stage",
            "capacity_tpa",
            "target_year",
            "amount_usd",
            "description",
            "source",
        ]
    )
    path = write(
        tmp_path / "events.csv",
        "symbol,date,kind,stage,capacity_tpa,target_year,amount_usd,description,source\n" + line + "\n",
    )
    assert invoke("import", str(path)).exit_code == 0
    assert invoke("init").exit_code == 0
    with Store(ready) as store:
        got = store.rows(
            "SELECT source, origin FROM events WHERE symbol = ? AND date = ? AND kind = ? AND description = ?",
            [row["symbol"], row["date"], row["kind"], row["description"]],
        )
    assert got == [("my correction", "user")]


# -- list --------------------------------------------------------------------------------------------------------
def _listed(invoke, *args: str) -> pl.DataFrame:
    result = invoke("universe", "list", "--format", "csv", *args)
    assert result.exit_code == 0, result.stderr
    return pl.read_csv(io.StringIO(result.stdout), infer_schema=False)


def test_list_everything(invoke, ready: Path) -> None:
    listed = _listed(invoke)
    assert listed["symbol"].to_list() == sorted(BUNDLED["symbol"].to_list())
    assert listed.columns[:6] == ["symbol", "name", "country", "region", "roles", "segment"]


def test_list_by_role(invoke, ready: Path) -> None:
    listed = _listed(invoke, "--role", "magnet_maker")
    assert listed.height > 0
    assert all("magnet_maker" in r.split(";") for r in listed["roles"])
    expected = BUNDLED.filter(pl.col("roles").str.split(";").list.contains("magnet_maker")).height
    assert listed.height == expected
    both = _listed(invoke, "--role", "magnet_maker", "--role", "recycler")
    assert both.height >= listed.height
    assert all({"magnet_maker", "recycler"} & set(r.split(";")) for r in both["roles"])


def test_list_by_country_code_and_region(invoke, ready: Path) -> None:
    korea = _listed(invoke, "--country", "kr")
    assert korea.height > 0 and set(korea["country"]) == {"KR"}
    europe = _listed(invoke, "--country", "europe")
    assert europe.height > 0 and set(europe["region"]) == {"europe"}
    assert all(REGIONS[c] == "europe" for c in europe["country"])
    mixed = _listed(invoke, "--country", "JP", "--country", "australia")
    assert set(mixed["region"]) == {"japan", "australia"}


def test_list_by_stage(invoke, ready: Path) -> None:
    for stage in ("producer", "developer", "explorer"):
        listed = _listed(invoke, "--stage", stage)
        assert listed.height == BUNDLED.filter(pl.col("stage") == stage).height
        assert set(listed["stage"]) <= {stage}


def test_filters_combine(invoke, ready: Path) -> None:
    listed = _listed(invoke, "--role", "miner", "--country", "AU", "--stage", "developer")
    assert listed.height > 0
    assert set(listed["country"]) == {"AU"} and set(listed["stage"]) == {"developer"}


def test_list_on_an_empty_store_says_what_to_do(invoke) -> None:
    result = invoke("universe", "list")
    assert result.exit_code == 1 and "screener init" in result.stderr


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_every_format_parses(invoke, ready: Path, fmt: str) -> None:
    result = invoke("universe", "list", "--role", "recycler", "--format", fmt)
    assert result.exit_code == 0, result.stderr
    expected = sorted(BUNDLED.filter(pl.col("roles").str.contains("recycler"))["symbol"].to_list())
    if fmt == "json":
        rows = json.loads(result.stdout)
        assert [r["symbol"] for r in rows] == expected
        assert all(isinstance(r["roles"], str) for r in rows)
    elif fmt == "csv":
        assert pl.read_csv(io.StringIO(result.stdout))["symbol"].to_list() == expected
    else:
        body = [line for line in result.stdout.splitlines() if line.startswith("│")]
        assert [line.split("│")[1].strip() for line in body] == expected
    assert f"{len(expected)} companies" in result.stderr  # the message goes to stderr, not into the data


# -- tag ---------------------------------------------------------------------------------------------------------
def test_tag_records_who_when_and_source(invoke, ready: Path) -> None:
    symbol = _single_role_symbol()
    result = invoke(
        "universe",
        "tag",
        symbol.lower(),
        "--add",
        "recycler",
        "--add",
        "trader_offtaker",
        "--source",
        "https://example.com/filing",
    )
    assert result.exit_code == 0, result.stderr
    assert "recycler" in result.stderr
    with Store(ready) as store:
        history = store.tag_history(symbol).filter(pl.col("actor") == "user")
        assert history.select("role", "action", "source").rows() == [
            ("recycler", "add", "https://example.com/filing"),
            ("trader_offtaker", "add", "https://example.com/filing"),
        ]
        assert history["changed_at"].null_count() == 0
        tags = store.rows(
            "SELECT role, origin, source FROM role_tags WHERE symbol = ? AND origin = 'user' ORDER BY role", [symbol]
        )
        assert tags == [
            ("recycler", "user", "https://example.com/filing"),
            ("trader_offtaker", "user", "https://example.com/filing"),
        ]


def test_tag_effective_dates_the_change_for_back_dated_scores(invoke, ready: Path) -> None:
    symbol = _single_role_symbol()
    result = invoke(
        "universe", "tag", symbol, "--add", "recycler", "--effective", "2025-03-31", "--source", "https://example.com/x"
    )
    assert result.exit_code == 0, result.stderr
    with Store(ready) as store:
        added = store.tag_history(symbol).filter(pl.col("actor") == "user")
        assert added["effective_on"].to_list() == [date(2025, 3, 31)]
        assert "recycler" not in store.companies(as_of=date(2025, 3, 30)).filter(pl.col("symbol") == symbol)["roles"][0]
        assert "recycler" in store.companies(as_of=date(2025, 3, 31)).filter(pl.col("symbol") == symbol)["roles"][0]
    bad = invoke("universe", "tag", symbol, "--add", "miner", "--effective", "31/03/2025", "--source", "x")
    assert bad.exit_code == 2 and "--effective" in bad.stderr


def test_tag_remove(invoke, ready: Path) -> None:
    symbol, roles = _multi_role_symbol()
    assert invoke("universe", "tag", symbol, "--remove", roles[-1], "--source", "news").exit_code == 0
    with Store(ready) as store:
        assert store.current_roles(symbol) == roles[:-1]
        assert store.tag_history(symbol).select("role", "action", "actor").rows()[-1] == (roles[-1], "remove", "user")


def test_tag_unknown_symbol_suggests(invoke, ready: Path) -> None:
    dotted = BUNDLED.filter(pl.col("symbol").str.contains(r"\.")).sort("symbol")["symbol"][0]
    before = snapshot(ready)
    result = invoke("universe", "tag", dotted.split(".")[0], "--add", "miner", "--source", "x")
    assert result.exit_code == 1
    assert f"did you mean '{dotted}'" in result.stderr
    assert snapshot(ready) == before


def test_tag_unknown_role_suggests(invoke, ready: Path) -> None:
    before = snapshot(ready)
    result = invoke("universe", "tag", _single_role_symbol(), "--add", "magnet", "--source", "x")
    assert result.exit_code == 1
    assert "unknown role 'magnet'" in result.stderr and "did you mean 'magnet_maker'" in result.stderr
    assert snapshot(ready) == before


def test_removing_the_last_role_is_refused(invoke, ready: Path) -> None:
    symbol = _single_role_symbol()
    role = BUNDLED.filter(pl.col("symbol") == symbol)["roles"].item()
    before = snapshot(ready)
    result = invoke("universe", "tag", symbol, "--remove", role, "--source", "x")
    assert result.exit_code == 1 and "no roles left" in result.stderr
    assert snapshot(ready) == before


def test_tag_needs_a_change_and_a_source(invoke, ready: Path) -> None:
    symbol = _single_role_symbol()
    nothing = invoke("universe", "tag", symbol, "--source", "x")
    assert nothing.exit_code == 1 and "nothing to change" in nothing.stderr
    no_source = invoke("universe", "tag", symbol, "--add", "miner")
    assert no_source.exit_code == 2 and "--source" in no_source.stderr


def test_add_and_remove_the_same_role_is_refused(invoke, ready: Path) -> None:
    result = invoke("universe", "tag", _single_role_symbol(), "--add", "miner", "--remove", "miner", "--source", "x")
    assert result.exit_code == 1 and "both added and removed" in result.stderr


def test_unknown_country_or_region_is_an_error_not_an_empty_list(invoke, ready: Path) -> None:
    result = invoke("universe", "list", "--country", "europa")
    assert result.exit_code == 1
    assert "unknown country or region 'europa' (did you mean 'europe'?)" in result.stderr
    assert invoke("universe", "list", "--country", "XX").exit_code == 1


def test_an_empty_source_is_refused(invoke, ready: Path, db_path: Path) -> None:
    before = snapshot(db_path)
    result = invoke("universe", "tag", _single_role_symbol(), "--add", "recycler", "--source", "  ")
    assert result.exit_code == 1 and "--source is empty" in result.stderr
    assert snapshot(db_path) == before


def test_a_tag_that_is_already_there_changes_nothing(invoke, ready: Path, db_path: Path) -> None:
    symbol, roles = _multi_role_symbol()
    before = snapshot(db_path)
    result = invoke("universe", "tag", symbol, "--add", roles[0], "--source", "x")
    assert result.exit_code == 0 and "nothing changed" in result.stderr
    assert snapshot(db_path) == before


def test_a_common_country_name_suggests_its_code(invoke, ready: Path) -> None:
    result = invoke("universe", "list", "--country", "uk")
    assert result.exit_code == 1 and "(did you mean 'GB'?)" in result.stderr


def test_init_validates_the_bundled_rows(
    tmp_path: Path, invoke, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``init`` goes through the same suites as every load: a bundled row that fails is kept out and recorded."""
    import screener.intake.universe

    folder = tmp_path / "bundled"
    folder.mkdir()
    shutil.copy(bundled_data_dir() / "companies.csv", folder / "companies.csv")
    symbol = BUNDLED["symbol"].sort()[0]
    write(
        folder / "events.csv",
        "symbol,date,kind,stage,capacity_tpa,target_year,amount_usd,description,source\n"
        f"{symbol},2024-05-01,offtake,,,,,A signed offtake.,https://example.com/o\n"
        f"{symbol},2999-01-04,offtake,,,,,A date no clock reaches.,https://example.com/f\n",
    )
    monkeypatch.setattr(screener.intake.universe, "bundled_data_dir", lambda: folder)
    result = invoke("init")
    assert result.exit_code == 0, result.stderr
    assert "1 bundled row(s) failed validation" in result.stderr
    with Store(db_path) as store:
        assert store.frame("events")["description"].to_list() == ["A signed offtake."]
        assert store.rows("SELECT provider, kind, column_name, value FROM rejected_rows") == [
            ("bundled", "events", "date", "2999-01-04")
        ]


def test_list_shows_exposure_and_listing_dates(invoke, ready: Path) -> None:
    rows = json.loads(invoke("universe", "list", "--format", "json").stdout)
    by = {r["symbol"]: r for r in rows}
    assert list(rows[0])[:10] == [
        "symbol",
        "name",
        "country",
        "region",
        "roles",
        "segment",
        "stage",
        "exposure",
        "listed_from",
        "delisted_on",
    ]
    assert by["MP"]["exposure"] == 1.0 and by["PEK.AX"]["delisted_on"] == "2025-10-01"
