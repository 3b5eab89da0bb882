"""``screener show SYMBOL``: the company card, with tags, fundamentals, events, freshness and factor breakdown."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from factors.registry import FACTORS
from screener.company_card import EVENT_ROWS, SECTION_TITLES
from tests._score_cli_helpers import AS_OF, build_template


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template(tmp_path_factory.mktemp("template"))


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
    assert "Q 2026-03-31" in out and "FY" not in out.split("Latest fundamentals")[1].split("Recent events")[0]
    assert "data_completeness: 1.00" in out


def test_json_is_one_object_with_a_key_per_section(loaded) -> None:
    result = loaded("show", "enb", "--as-of", AS_OF.isoformat(), "--format", "json")
    assert result.exit_code == 0, result.stderr
    card = json.loads(result.stdout)
    assert set(card) == {"symbol", "as_of", "demo", "identity", "tags", "tag_history", "fundamentals", "events",
                         "freshness", "factors"}
    assert card["symbol"] == "ENB" and card["identity"]["region"] == "north_america"
    assert {t["role"] for t in card["tags"]} == {"magnet_maker", "recycler"}
    # latest fundamentals per period, with currency; the quarter inside the reporting lag is listed but marked
    assert card["fundamentals"][0]["period_end"] == "2026-05-12" and card["fundamentals"][0]["currency"] == "USD"
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
        "processor", "add", "user", "https://example.com/10-K")


def test_company_without_data_still_gets_a_card(loaded) -> None:
    result = loaded("show", "BLANK", "--as-of", AS_OF.isoformat())
    assert result.exit_code == 0, result.stderr
    assert "Latest fundamentals: none" in result.stdout and "Recent events: none" in result.stdout
    assert "no_prices" in result.stdout
    card = json.loads(loaded("show", "BLANK", "--as-of", AS_OF.isoformat(), "--format", "json").stdout)
    assert card["fundamentals"] == [] and card["factors"]["values"]["pullback"]["value"] is None


@pytest.mark.parametrize(("typed", "hint"), [("ENBB", "ENB"), ("MIN", "MIN.AX"), ("outback", "MIN.AX")])
def test_unknown_symbol_is_one_line_with_a_suggestion(loaded, typed: str, hint: str) -> None:
    result = loaded("show", typed)
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"unknown symbol {typed!r}" in lines[0] and f"did you mean {hint!r}" in lines[0]


def test_show_on_an_empty_store(invoke) -> None:
    result = invoke("show", "MP")
    assert result.exit_code == 1 and "no companies" in result.stderr
