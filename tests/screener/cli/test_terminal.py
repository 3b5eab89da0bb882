"""Terminal tables that fit, the field catalogue, sorting on any column, rank labels, the company's place on the
stored lists, and a closed pipe: each through the real CLI on a small real store with three stored runs."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click.testing
import pytest

from tests.builders import MARKET_END, build_market_store, weekly_market_template

AS_OF = ("--as-of", MARKET_END.isoformat())
LISTINGS = (
    ("weekly", *AS_OF),
    ("watchlist", "show"),
    ("screen", *AS_OF),
    ("screen", "--rules", "default", *AS_OF),
    ("universe", "list"),
)


@pytest.fixture
def template(store_template) -> Path:
    return weekly_market_template(store_template)


@pytest.fixture
def market(template: Path, db_path: Path) -> Path:
    shutil.copy(template, db_path)
    return db_path


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch):
    """Make the CLI's stdout a terminal of ``width`` columns (click's test stream answers isatty() with False)."""

    def _set(width: int) -> None:
        monkeypatch.setenv("COLUMNS", str(width))
        monkeypatch.setattr(click.testing._NamedTextIOWrapper, "isatty", lambda self: True, raising=False)

    return _set


def ok(result) -> str:
    """stdout, without the terminal's colour codes (a table in a terminal is bold in places)."""
    assert result.exit_code == 0, result.stderr
    return re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)


def fails(result, fragment: str) -> str:
    assert result.exit_code == 1, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and fragment in lines[0], lines[0]
    return lines[0]


def widest(text: str) -> int:
    """The widest table line (titles and the card's closing lines are plain text, not tables)."""
    return max(len(line) for line in text.splitlines() if line[:1] in "┏┃┡│└")


def header_cells(table: str) -> list[str]:
    """The column names of a rich table, re-joined across wrapped header lines."""
    lines = table.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("┏"))
    end = next(i for i, line in enumerate(lines) if line.startswith("┡"))
    rows = [[c.strip() for c in line.strip("┃").split("┃")] for line in lines[start + 1 : end]]
    return ["".join(parts) for parts in zip(*rows, strict=True)]


def body_rows(table: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("│").split("│")] for line in table.splitlines() if line.startswith("│")]


# -- widths -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", LISTINGS, ids=lambda a: " ".join(a[:3]))
@pytest.mark.parametrize("width", [80, 100, 120])
def test_a_listing_fits_the_terminal(invoke, market: Path, terminal, args: tuple[str, ...], width: int) -> None:
    terminal(width)
    out = ok(invoke(*args))
    assert widest(out) <= width
    heads = header_cells(out)
    assert "symbol" in heads and "name" in heads
    if "rank" in heads:
        assert heads.index("rank") == 0


def test_weekly_compact_view_holds_rank_name_score_percentiles_and_reason(invoke, market: Path, terminal) -> None:
    terminal(120)
    heads = header_cells(ok(invoke("watchlist", "show")))
    assert heads[:4] == ["rank", "symbol", "name", "score"]
    assert heads[-1] == "reason"
    assert any(h.endswith("_pct_eligible") for h in heads)  # key percentiles fit at 120, named as the rows name them
    assert not any(h.endswith("_pct") for h in heads)
    assert "contrib.dilution_risk" not in heads and "tilt" not in heads


def test_text_columns_use_the_terminal_width(invoke, market: Path, terminal) -> None:
    """The reason gets what the numbers leave: a wider terminal shows more of it, never a fixed cut."""
    shown = {}
    for width in (50, 200):
        terminal(width)
        rows = body_rows(ok(invoke("watchlist", "show", "--columns", "rank,symbol,reason")))
        shown[width] = max(len(r[2]) for r in rows)
    full = max(len(r["reason"]) for r in json.loads(ok(invoke("watchlist", "show", "--format", "json"))))
    assert shown[50] < shown[200] == full
    assert shown[50] >= 50 - 25  # rank and symbol are narrow: the reason takes the rest


def test_not_a_terminal_uses_columns_or_120(invoke, market: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert widest(ok(invoke("watchlist", "show"))) <= 120
    monkeypatch.setenv("COLUMNS", "90")
    assert widest(ok(invoke("watchlist", "show"))) <= 90


def test_wide_shows_every_column_whole(invoke, market: Path, terminal) -> None:
    terminal(100)
    out = ok(invoke("watchlist", "show", "--wide"))
    rows = json.loads(ok(invoke("watchlist", "show", "--format", "json")))
    assert widest(out) > 100
    assert header_cells(out) == list(rows[0])
    assert all(r["reason"] in out for r in rows)  # uncut


def test_columns_choose_and_order_the_table(invoke, market: Path, terminal) -> None:
    terminal(120)
    out = ok(invoke("watchlist", "show", "--columns", "score,symbol,market_cap_usd"))
    assert header_cells(out) == ["score", "symbol", "market_cap_usd"]


def test_csv_and_json_carry_every_column_whatever_columns_say(invoke, market: Path) -> None:
    full = ok(invoke("watchlist", "show", "--format", "csv"))
    chosen = ok(invoke("watchlist", "show", "--format", "csv", "--columns", "symbol,score"))
    assert chosen == full
    assert len(next(csv.reader(io.StringIO(full)))) > 20


@pytest.mark.parametrize("args", LISTINGS, ids=lambda a: " ".join(a[:3]))
def test_unknown_column_is_one_line_naming_the_closest_and_the_fields_command(
    invoke, market: Path, args: tuple[str, ...]
) -> None:
    line = fails(invoke(*args, "--columns", "symbol,nme"), "--columns: unknown column 'nme' (did you mean 'name'?)")
    assert "screener fields" in line


def test_a_field_this_listing_lacks_is_one_line(invoke, market: Path) -> None:
    fails(
        invoke("universe", "list", "--columns", "symbol,score"),
        "--columns: 'score' is not a column of this listing; --wide shows them all",
    )


def test_columns_and_wide_together_are_refused(invoke, market: Path) -> None:
    fails(invoke("universe", "list", "--columns", "symbol", "--wide"), "give --columns or --wide, not both")


def test_weekly_refuses_an_unknown_column_before_it_stores_a_run(invoke, market: Path) -> None:
    before = json.loads(ok(invoke("watchlist", "runs", "--format", "json")))
    fails(invoke("weekly", "--rules", "mvis-like", *AS_OF, "--columns", "rnak"), "did you mean 'rank'?")
    assert json.loads(ok(invoke("watchlist", "runs", "--format", "json"))) == before


def test_weekly_refuses_a_field_its_listing_lacks_before_it_replaces_the_weeks_run(invoke, market: Path) -> None:
    """``exposure`` is a field, but not a column of the watchlist rows: the week's stored run (same rules, same
    week) must not be replaced before the option is refused."""
    before = json.loads(ok(invoke("watchlist", "runs", "--format", "json")))
    fails(invoke("weekly", *AS_OF, "--columns", "symbol,exposure"), "'exposure' is not a column of this listing")
    assert json.loads(ok(invoke("watchlist", "runs", "--format", "json"))) == before


# -- numbers in tables --------------------------------------------------------------------------------------------
def test_money_is_human_scaled_and_percentiles_are_percent(invoke, market: Path, terminal) -> None:
    terminal(200)
    out = ok(invoke("watchlist", "show", "--columns", "symbol,market_cap_usd,dilution_risk_pct_eligible,weight"))
    rows = {r[0]: r for r in body_rows(out)}
    data = {r["symbol"]: r for r in json.loads(ok(invoke("watchlist", "show", "--format", "json")))}
    for sym, (_, cap, pct, weight) in rows.items():
        from screener.output.render import parse_money

        assert cap[-1] in "kmn" and "," not in cap, cap  # 412.3m, 1.2bn: never 412,345,678
        assert parse_money(cap) == pytest.approx(data[sym]["market_cap_usd"], rel=0.05)
        assert pct == f"{data[sym]['dilution_risk_pct_eligible'] * 100:.0f}%"
        assert weight.endswith("%")
    assert "nan" not in out.lower()


# -- fields -------------------------------------------------------------------------------------------------------
def test_fields_lists_every_where_name_with_unit_and_meaning(invoke, market: Path) -> None:
    from factors.registry import FACTORS

    rows = json.loads(ok(invoke("fields", "--format", "json")))
    by = {r["field"]: r for r in rows}
    assert by["market_cap_usd"]["unit"] == "USD" and by["market_cap_usd"]["where"] is True
    assert by["dilution_risk_pct"]["unit"].startswith("percentile")
    assert by["rank"]["where"] is False and by["reason"]["where"] is False
    for spec in FACTORS.values():
        assert by[spec.name]["meaning"] and by[spec.pct_column]["where"]
        for col in spec.component_columns:
            assert by[col]["where"], col
    assert all(r["meaning"] for r in rows)
    # two percentiles, two fields, each with one meaning
    assert by["dilution_risk_pct"]["label"] == "Dilution risk percentile (all scored)"
    assert "every scored company" in by["dilution_risk_pct"]["meaning"]
    assert "eligible" not in by["dilution_risk_pct"]["meaning"]
    assert by["dilution_risk_pct_eligible"]["label"] == "Dilution risk percentile (eligible)"
    assert "passed the rule set's filters and gates" in by["dilution_risk_pct_eligible"]["meaning"]
    # every score column a screen's --where can read is listed as such, and every listed where-field works
    scores = json.loads(ok(invoke("screen", *AS_OF, "--wide", "--format", "json")))
    where = [r["field"] for r in rows if r["where"] and r["unit"] in ("USD", "number", "ratio")]
    for name in where[:8]:
        ok(invoke("screen", *AS_OF, "--where", f"{name} is null or {name} > -1e12", "--format", "json"))
    assert scores


def test_watchlist_rows_and_scores_never_share_a_percentile_name(invoke, market: Path) -> None:
    """``watchlist show``/``weekly`` rows carry the percentile over the eligible set as ``F_pct_eligible``; ``score``
    carries the factor library's across every scored company as ``F_pct``. A name in both holds one number."""
    from factors.registry import FACTORS
    from screener.store import Store
    from screener.watchlist.runs import load_run

    shown = list(csv.DictReader(io.StringIO(ok(invoke("watchlist", "show", "--format", "csv")))))
    weekly = json.loads(ok(invoke("weekly", *AS_OF, "--format", "json")))
    scored = {r["symbol"]: r for r in csv.DictReader(io.StringIO(ok(invoke("score", *AS_OF, "--format", "csv"))))}
    ranked = list(csv.DictReader(io.StringIO(ok(invoke("screen", "--rules", "default", *AS_OF, "--format", "csv")))))
    score_cols = set(next(iter(scored.values())))
    with Store(market) as st:
        table = {r["symbol"]: r for r in load_run(st).table.iter_rows(named=True)}
    factors = [f for f in FACTORS if f"{f}_pct" in score_cols]
    assert factors
    differ = 0
    for rows in (shown, weekly, ranked):
        cols = set(rows[0])
        for f in factors:
            assert f"{f}_pct_eligible" in cols and f"{f}_pct" not in cols, f
            assert f"{f}_pct_eligible" not in score_cols
    for r in shown:
        for f in factors:
            eligible, everyone = table[r["symbol"]][f"{f}_pct_eligible"], scored[r["symbol"]][f"{f}_pct"]
            assert float(r[f"{f}_pct_eligible"]) == pytest.approx(eligible)
            assert float(everyone) == pytest.approx(table[r["symbol"]][f"{f}_pct"])
            differ += float(everyone) != pytest.approx(eligible)
    assert differ  # the two percentiles do differ here: one name for both could not hold one number
    # a ranked screen's --where reads the all-scored F_pct: the rows show that one under its name, beside their own
    where = json.loads(
        ok(invoke("screen", "--rules", "default", "--where", "dilution_risk_pct < 2", *AS_OF, "--format", "json"))
    )
    assert where
    for r in where:
        assert r["dilution_risk_pct"] == pytest.approx(float(scored[r["symbol"]]["dilution_risk_pct"]))
        assert "dilution_risk_pct_eligible" in r


def test_fields_where_only_and_csv(invoke) -> None:
    out = ok(invoke("fields", "--where-only", "--format", "csv"))
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows and all(r["where"] == "true" for r in rows)
    assert "rank" not in {r["field"] for r in rows}


def test_every_listed_field_is_a_valid_columns_choice(invoke, market: Path) -> None:
    rows = json.loads(ok(invoke("fields", "--format", "json")))
    names = ",".join(r["field"] for r in rows if r["field"] in ("symbol", "name", "score", "reason", "rank"))
    ok(invoke("watchlist", "show", "--columns", names))


# -- where fields, sorting, rank labels ---------------------------------------------------------------------------
def test_where_fields_appear_in_every_format_and_in_the_compact_table(invoke, market: Path, terminal) -> None:
    cond = ("--where", "net_cash_usd > -1e12 and has_role('miner')")
    for extra in ((), ("--rules", "default")):
        rows = json.loads(ok(invoke("screen", *extra, *cond, *AS_OF, "--format", "json")))
        assert rows and all("net_cash_usd" in r and "roles" in r for r in rows)
        terminal(120)
        heads = header_cells(ok(invoke("screen", *extra, *cond, *AS_OF)))
        assert "net_cash_usd" in heads and "roles" in heads


def test_sort_by_a_text_column(invoke, market: Path) -> None:
    rows = json.loads(ok(invoke("screen", "--sort", "name", *AS_OF, "--format", "json")))
    names = [r["name"].lower() for r in rows]
    assert names == sorted(names)
    rows = json.loads(ok(invoke("screen", "--sort", "-name", *AS_OF, "--format", "json")))
    assert [r["name"].lower() for r in rows] == sorted(names, reverse=True)


def test_sort_by_several_keys_with_ties_on_symbol(invoke, market: Path) -> None:
    rows = json.loads(ok(invoke("screen", "--sort", "country,-market_cap_usd", *AS_OF, "--format", "json")))
    keys = [(r["country"], -r["market_cap_usd"]) for r in rows]
    assert keys == sorted(keys)
    rows = json.loads(ok(invoke("screen", "--sort", "stage", *AS_OF, "--format", "json")))
    assert [(r["stage"], r["symbol"]) for r in rows] == sorted((r["stage"], r["symbol"]) for r in rows)


def test_sort_ranked_rows_by_score_then_name_keeps_their_rank(invoke, market: Path) -> None:
    rows = json.loads(ok(invoke("screen", "--rules", "default", "--sort", "-score,name", *AS_OF, "--format", "json")))
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))  # the rank is by score: unchanged
    by_name = json.loads(ok(invoke("screen", "--rules", "default", "--sort", "name", *AS_OF, "--format", "json")))
    assert [r["name"].lower() for r in by_name] == sorted(r["name"].lower() for r in by_name)
    assert sorted(r["rank"] for r in by_name) == list(range(1, len(rows) + 1))


@pytest.mark.parametrize(
    ("sort", "fragment"),
    [
        ("flags", "--sort: 'flags' holds lists and cannot be sorted"),
        ("name,,symbol", "--sort: empty key"),
        ("-name:asc", "gives the order twice"),
        ("nmae", "--sort: unknown factor or column 'nmae' (did you mean 'name'?)"),
    ],
)
def test_bad_sort_keys_are_one_line(invoke, market: Path, sort: str, fragment: str) -> None:
    fails(invoke("screen", "--sort", sort, *AS_OF), fragment)


def test_screen_without_rules_numbers_rows_and_never_calls_them_ranks(invoke, market: Path, terminal) -> None:
    rows = json.loads(ok(invoke("screen", *AS_OF, "--format", "json")))
    assert "rank" not in rows[0] and [r["row"] for r in rows] == list(range(1, len(rows) + 1))
    assert [r["symbol"] for r in rows] == sorted(r["symbol"] for r in rows)
    terminal(120)
    heads = header_cells(ok(invoke("screen", *AS_OF)))
    assert heads[0] == "row" and "rank" not in heads
    ranked = json.loads(ok(invoke("screen", "--rules", "default", *AS_OF, "--format", "json")))
    assert "row" not in ranked[0] and [r["rank"] for r in ranked] == list(range(1, len(ranked) + 1))


# -- show: membership and rank history ----------------------------------------------------------------------------
def test_show_gives_membership_with_why_not_and_rank_history(invoke, market: Path) -> None:
    from screener.store import Store
    from screener.watchlist.runs import load_run

    card = json.loads(ok(invoke("show", "PROC", *AS_OF, "--format", "json")))
    membership = {r["rules"]: r for r in card["membership"]}
    assert set(membership) == {"default", "balance-sheet-survivors"}
    with Store(market) as st:
        latest = load_run(st, membership["default"]["run_id"])
    stored = latest.table.filter(latest.table["symbol"] == "PROC").row(0, named=True)
    mine = membership["default"]
    assert mine["member"] is (stored["status"] == "member")
    if not mine["member"]:
        assert mine["why_out"] == stored["why_out"] and mine["why_out"]  # the Universe sheet's own text
    history = [r for r in card["rank_history"] if r["rules"] == "default"]
    assert [r["as_of"] for r in history] == sorted((r["as_of"] for r in history), reverse=True)
    assert len(history) == 2


def test_show_names_the_rank_of_a_member(invoke, market: Path) -> None:
    card = json.loads(ok(invoke("show", "MIPR", *AS_OF, "--format", "json")))
    default = next(r for r in card["membership"] if r["rules"] == "default")
    assert default["member"] is True and default["rank"] == 1 and default["why_out"] is None
    ranks = [r["rank"] for r in card["rank_history"] if r["rules"] == "default"]
    assert ranks[0] == 1 and all(isinstance(r, int) for r in ranks)


def test_show_table_fits_and_wide_does_not_cut(invoke, market: Path, terminal) -> None:
    terminal(100)
    out = ok(invoke("show", "PROC", *AS_OF))
    assert "On each rule set's latest list" in out and "Rank history" in out
    assert widest(out) <= 100
    wide = ok(invoke("show", "PROC", *AS_OF, "--wide"))
    card = json.loads(ok(invoke("show", "PROC", *AS_OF, "--format", "json")))
    for r in card["membership"]:
        if r["why_out"]:
            assert r["why_out"] in wide


def test_show_without_runs_says_so(invoke, db_path: Path) -> None:
    from screener.store import Store

    with Store(db_path) as st:
        build_market_store(st)
    out = ok(invoke("show", "PROC", *AS_OF))
    assert "On each rule set's latest list: none" in out and "Rank history: none" in out


# -- a closed pipe ------------------------------------------------------------------------------------------------
def _child_env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[3])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}


@pytest.mark.parametrize(
    "args",
    [("show", "PROC", *AS_OF), ("universe", "list", "--format", "csv"), ("watchlist", "show"), ("fields",)],
    ids=lambda a: " ".join(a[:2]),
)
def test_a_closed_pipe_exits_0_quietly(market: Path, args: tuple[str, ...]) -> None:
    """The reader leaves before the first byte is written: every write meets EPIPE."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "screener", "--db", str(market), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_child_env(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert "Error" not in err and "Traceback" not in err and "Exception ignored" not in err, err


def test_head_reads_one_line_and_screener_exits_0(market: Path) -> None:
    """`screener show PROC | head -1` as a shell runs it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "screener", "--db", str(market), "show", "PROC", *AS_OF, "--wide"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_child_env(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    head = subprocess.run(["head", "-1"], stdin=proc.stdout, capture_output=True, check=True)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert head.stdout.decode().startswith("PROC as of")
    assert "Traceback" not in err and "Exception ignored" not in err


@pytest.mark.parametrize(
    "args",
    [("show", "PROC", *AS_OF), ("show", "MIPR", *AS_OF, "--wide"), ("watchlist", "show", "--wide"), ("screen", *AS_OF)],
    ids=lambda a: " ".join(a[:3]),
)
def test_no_table_prints_money_as_a_long_digit_string(invoke, market: Path, args: tuple[str, ...]) -> None:
    """`79,898,347,851` is what the issue saw; a table says 79.9bn (the card's factor values and fundamentals too)."""
    out = ok(invoke(*args))
    assert not re.search(r"\d{1,3}(,\d{3}){2,}", out), re.search(r"\d{1,3}(,\d{3}){2,}", out)
    assert not re.search(r"\d{7,}", out.replace("2026", "")), re.search(r"\d{7,}", out)
