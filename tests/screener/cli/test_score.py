"""``screener score``: one row per company, every factor with its percentile and components, stored per date."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from factors.engine import score_columns
from factors.registry import FACTORS
from tests._score_cli_helpers import AS_OF, imported_template


@pytest.fixture
def template(store_template) -> Path:
    return imported_template(store_template)


@pytest.fixture
def loaded(invoke, db_path: Path, template: Path):
    shutil.copyfile(template, db_path)
    return invoke


def test_json_has_one_row_per_company_with_every_column(loaded) -> None:
    result = loaded("score", "--as-of", AS_OF.isoformat(), "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["symbol"] for r in rows] == ["BLANK", "DWN.T", "ENB", "MIN.AX", "PRC.L"]
    assert list(rows[0]) == score_columns()
    by = {r["symbol"]: r for r in rows}
    assert all(r["as_of"] == AS_OF.isoformat() for r in rows)
    for spec in FACTORS.values():
        pcts = [r[spec.pct_column] for r in rows if r[spec.pct_column] is not None]
        assert pcts and all(0.0 <= p <= 1.0 for p in pcts)
    # the enabler outranks the pure miner and the downstream user on the thesis factor
    assert by["ENB"]["localization_premium"] > by["MIN.AX"]["localization_premium"]
    assert by["DWN.T"]["localization_premium_pct"] == 0.0
    # pence quotes: 100 x GBp price at 1.25 USD per GBP; market cap = shares x USD price
    assert by["PRC.L"]["price_usd"] == pytest.approx(by["PRC.L"]["market_cap_usd"] / by["PRC.L"]["shares_outstanding"])
    # the quarter inside the reporting lag is not used
    assert by["ENB"]["fundamentals_period_end"] == "2026-02-28"
    assert by["BLANK"]["data_completeness"] == 0.0
    assert {"no_prices", "no_fundamentals"} <= set(by["BLANK"]["flags"])
    assert by["ENB"]["data_completeness"] == 1.0 and by["ENB"]["flags"] == []
    assert "market-wide" not in result.stdout
    assert "5 companies scored as of 2026-06-01" in result.stderr


def test_csv_carries_every_column(loaded) -> None:
    result = loaded("score", "--as-of", AS_OF.isoformat(), "--format", "csv")
    assert result.exit_code == 0, result.stderr
    reader = csv.DictReader(io.StringIO(result.stdout))
    assert reader.fieldnames == score_columns()
    rows = list(reader)
    assert len(rows) == 5
    blank = next(r for r in rows if r["symbol"] == "BLANK")
    assert "no_prices" in blank["flags"].split(";")
    assert blank["pullback"] == ""


def test_table_is_compact_and_says_where_the_rest_is(loaded) -> None:
    result = loaded("score", "--as-of", AS_OF.isoformat())
    assert result.exit_code == 0, result.stderr
    header = result.stdout.splitlines()[1]
    for spec in FACTORS.values():
        assert spec.pct_column in header
    assert "market_cap_usd" in header and "data_completeness" in header and "flags" in header
    assert "dilution_risk.cash_runway_years" not in header and "localization_premium " not in header
    assert "--format csv or json" in result.stderr


def test_scores_are_stored_and_reused_until_inputs_change(
    loaded, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import factors.engine as engine
    from screener.store import Store

    first = loaded("score", "--as-of", AS_OF.isoformat(), "--format", "json")
    with Store(db_path) as store:
        info = store.score_set_info(AS_OF)
    assert info is not None and info["n_companies"] == 5
    calls: list[int] = []
    real = engine.compute_scores
    monkeypatch.setattr(engine, "compute_scores", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = loaded("score", "--as-of", AS_OF.isoformat(), "--format", "json")
    assert again.stdout == first.stdout and calls == []
    forced = loaded("score", "--as-of", AS_OF.isoformat(), "--format", "json", "--recompute")
    assert forced.stdout == first.stdout and calls == [1]
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "prices.csv").write_text("symbol,date,close,volume\nENB,2026-06-01,500,100\n")
    assert loaded("import", str(tmp_path / "more")).exit_code == 0
    changed = json.loads(loaded("score", "--as-of", AS_OF.isoformat(), "--format", "json").stdout)
    assert calls == [1, 1]
    assert next(r for r in changed if r["symbol"] == "ENB")["price_usd"] == 500.0


def test_as_of_moves_the_point_in_time(loaded) -> None:
    early = json.loads(loaded("score", "--as-of", "2026-04-15", "--format", "json").stdout)
    enb = next(r for r in early if r["symbol"] == "ENB")
    assert enb["fundamentals_period_end"] == "2025-11-30"  # the quarter to 2026-02-28 is public from 2026-04-29
    assert enb["last_price_date"] == "2026-04-15"


def test_demo_data_prints_the_banner(loaded, db_path: Path) -> None:
    from screener.store import Store
    from tests.builders import daily

    with Store(db_path) as store:
        store.upsert("prices", daily("ENB", 3, close=11.0), "demo")
    result = loaded("score", "--as-of", AS_OF.isoformat(), "--format", "json")
    assert "DEMO DATA" in result.stderr
    rows = {r["symbol"]: r for r in json.loads(result.stdout)}
    assert rows["ENB"]["demo"] is True and "demo" in rows["ENB"]["flags"]
    assert rows["MIN.AX"]["demo"] is False


def test_no_banner_when_no_scored_row_rests_on_demo_data(loaded, db_path: Path) -> None:
    from screener.store import Store
    from tests.builders import daily

    with Store(db_path) as store:
        store.upsert("prices", daily("ENB", 3, close=11.0), "demo")  # demo rows exist, but only from 2026-05-30
    early = loaded("score", "--as-of", "2026-01-15", "--format", "json")
    assert early.exit_code == 0, early.stderr
    assert not any(r["demo"] for r in json.loads(early.stdout))
    assert "DEMO DATA" not in early.stderr
    old = loaded("score", "--as-of", "1900-01-01", "--format", "csv")
    assert old.exit_code == 0 and "DEMO DATA" not in old.stderr


def test_role_class_uses_the_contract_vocabulary(loaded) -> None:
    rows = json.loads(loaded("score", "--as-of", AS_OF.isoformat(), "--format", "json").stdout)
    assert {r["symbol"]: r["role_class"] for r in rows} == {
        "BLANK": "pure_miner",
        "DWN.T": "downstream_user",
        "ENB": "enabler",
        "MIN.AX": "pure_miner",
        "PRC.L": "enabler",
    }


def test_empty_store_is_one_clear_line(invoke) -> None:
    result = invoke("score")
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("Error: the store has no companies yet")
    assert result.stdout == ""


def test_bad_date_is_a_usage_error(invoke) -> None:
    result = invoke("score", "--as-of", "June 1st")
    assert result.exit_code == 2


def test_csv_written_while_saving_is_the_csv_of_the_stored_set(loaded) -> None:
    """A computed set is written out while it is saved; a reused one after it is read back: the same bytes."""
    computed = loaded("score", "--as-of", AS_OF.isoformat(), "--format", "csv", "--recompute")
    reused = loaded("score", "--as-of", AS_OF.isoformat(), "--format", "csv")
    assert computed.exit_code == 0 and reused.exit_code == 0, computed.stderr + reused.stderr
    assert computed.stdout == reused.stdout and computed.stdout.count("\n") == 6


def test_a_failed_save_prints_no_rows(loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rows are written out beside the save but printed only after it: a save that fails leaves stdout empty
    and says one line."""
    from screener.errors import ScreenerError
    from screener.store.scores import Scores

    def fails(*a, **k) -> None:
        raise ScreenerError("the store is full")

    monkeypatch.setattr(Scores, "save_scores", fails)
    result = loaded("score", "--as-of", AS_OF.isoformat(), "--format", "csv", "--recompute")
    assert result.exit_code != 0
    assert result.stdout == ""
    assert result.stderr.strip().splitlines()[-1].endswith("the store is full")
