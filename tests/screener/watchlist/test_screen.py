"""Every rules/screen/weekly/watchlist/export command in every format, on a small real store scored by the engine."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from tests.builders import MARKET_END, build_market_store

FORMATS = ("table", "csv", "json")
WEEK1 = MARKET_END - timedelta(days=7)
AS_OF_ARGS = ("--as-of", MARKET_END.isoformat())


@pytest.fixture
def template(store_template) -> Path:
    """A store with market data and two weekly runs of the default rules, built once per run."""

    def fill(st, _folder: Path) -> None:
        from screener.watchlist.runs import run_weekly

        build_market_store(st)
        run_weekly(st, "default", WEEK1)
        run_weekly(st, "default", MARKET_END)

    return store_template("market-two-weeks", fill)[0]


@pytest.fixture
def market(template: Path, db_path: Path) -> Path:
    shutil.copy(template, db_path)
    return db_path


def ok(result) -> str:
    assert result.exit_code == 0, result.stderr
    return result.stdout


def parsed(fmt: str, text: str) -> list[dict] | str:
    if fmt == "json":
        return json.loads(text)
    if fmt == "csv":
        lines = text.splitlines()
        header = lines[0].split(",")
        return [dict(zip(header, line.split(","), strict=False)) for line in lines[1:]]
    return text


def fails(result, fragment: str) -> None:
    assert result.exit_code == 1, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and fragment in lines[0], lines[0]
    assert "Traceback" not in result.stderr


# -- rules --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_rules_list(invoke, fmt: str) -> None:
    out = ok(invoke("rules", "list", "--format", fmt))
    for name in ("default", "balance-sheet-survivors", "downstream-squeeze"):
        assert name in out
    if fmt == "json":
        rows = json.loads(out)
        assert {r["status"] for r in rows} == {"ok"}
        assert {"name", "origin", "top_n", "weights", "description", "file"} <= set(rows[0])


@pytest.mark.parametrize("fmt", FORMATS)
def test_rules_check(invoke, tmp_path: Path, fmt: str) -> None:
    good = tmp_path / "mine.toml"
    good.write_text('name = "mine"\n[weights]\ndilution_risk = 1\n')
    res = invoke("rules", "check", str(good), "--format", fmt)
    out = ok(res)
    assert "mine" in out and f"{good}: ok" in res.stderr


def test_rules_check_broken_file(invoke, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\n[weights]\ndilution_rsk = 1\n')
    fails(
        invoke("rules", "check", str(bad)),
        f"{bad}: weights.dilution_rsk: unknown factor 'dilution_rsk' (did you mean 'dilution_risk'?)",
    )
    fails(invoke("rules", "check", str(tmp_path / "none.toml")), "not found")


@pytest.mark.parametrize("fmt", FORMATS)
def test_rules_explain(invoke, fmt: str) -> None:
    out = ok(invoke("rules", "explain", "downstream-squeeze", "--format", fmt))
    assert "prefers the worse end" in out
    default = ok(invoke("rules", "explain", "--format", fmt))
    assert "x1.15 for enablers" in default
    if fmt == "json":
        steps = [r["step"] for r in json.loads(default)]
        assert steps[:2] == ["rule set", "source"] and "constraints" in steps


def test_rules_explain_unknown(invoke) -> None:
    fails(invoke("rules", "explain", "defualt"), "unknown rule set 'defualt' (did you mean 'default'?)")


# -- screen -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_screen_filters_and_sorts(invoke, market: Path, fmt: str) -> None:
    res = invoke(
        "screen",
        "--role",
        "miner",
        "--where",
        "market_cap_usd > 100m",
        "--sort",
        "dilution_risk",
        *AS_OF_ARGS,
        "--format",
        fmt,
    )
    out = ok(res)
    assert "scores as of 2026-06-05 (stored)" in res.stderr
    if fmt != "table":
        rows = parsed(fmt, out)
        syms = [r["symbol"] for r in rows]
        assert set(syms) == {"MINE", "MIPR", "EXPL"}
        risk = [float(r["dilution_risk"]) for r in rows]
        assert risk == sorted(risk)  # best (lowest risk) first
        assert [int(r["row"]) for r in rows] == [1, 2, 3]  # numbered, not ranked: nothing here is ranked by score
        assert "rank" not in rows[0]


@pytest.mark.parametrize("fmt", FORMATS)
def test_screen_with_rules_country_and_top(invoke, market: Path, fmt: str) -> None:
    out = ok(
        invoke(
            "screen",
            "--rules",
            "default",
            "--country",
            "AU",
            "--country",
            "north_america",
            "--top",
            "2",
            *AS_OF_ARGS,
            "--format",
            fmt,
        )
    )
    if fmt == "json":
        rows = json.loads(out)
        assert len(rows) == 2 and [r["rank"] for r in rows] == [1, 2]
        assert {r["country"] for r in rows} <= {"AU", "US", "CA"}
        assert all(r["reason"] for r in rows)
    elif fmt == "table":
        assert "reason" in out


def test_screen_sort_with_rules_and_order_suffix(invoke, market: Path) -> None:
    rows = json.loads(
        ok(invoke("screen", "--rules", "default", "--sort", "pullback:asc", *AS_OF_ARGS, "--format", "json"))
    )
    vals = [r["pullback_pct_eligible"] for r in rows]
    assert vals == sorted(vals)
    rows = json.loads(ok(invoke("screen", "--sort", "market_cap_usd", "--top", "3", *AS_OF_ARGS, "--format", "json")))
    caps = [r["market_cap_usd"] for r in rows]
    assert len(caps) == 3 and caps == sorted(caps, reverse=True)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--where", "1; DROP TABLE x"), "--where: unexpected character ';'"),
        (("--where", "__import__('os')"), "--where: unknown function '__import__'"),
        (("--where", "read_csv('/etc/passwd')"), "--where: unknown function 'read_csv'"),
        (("--where", "(dilution_risk_pct < 0.5"), "--where: unbalanced parentheses"),
        (("--where", "dilution_rsk_pct < 0.5"), "did you mean 'dilution_risk_pct'"),
        (("--sort", "dilution_rsk"), "--sort: unknown factor or column 'dilution_rsk' (did you mean"),
        (("--sort", "pullback:up"), "--sort: order must be 'asc' or 'desc'"),
        (("--country", "Narnia"), "--country: unknown country or region 'Narnia'"),
        (("--rules", "nope"), "unknown rule set 'nope'"),
    ],
)
def test_screen_rejects_bad_input_in_one_line(invoke, market: Path, args: tuple[str, ...], fragment: str) -> None:
    fails(invoke("screen", *args, *AS_OF_ARGS), fragment)


def test_screen_csv_neutralises_formula_looking_names(invoke, market: Path) -> None:
    out = ok(invoke("screen", *AS_OF_ARGS, "--format", "csv"))
    assert "'=HYPERLINK" in out and "'-Defense Systems Corp" in out
    assert ",=HYPERLINK" not in out and ",-Defense" not in out


def test_screen_bad_role_is_a_usage_error(invoke, market: Path) -> None:
    res = invoke("screen", "--role", "smelter")
    assert res.exit_code == 2


def test_screen_computes_scores_when_none_are_stored(invoke, db_path: Path) -> None:
    from screener.store import Store

    with Store(db_path) as st:
        build_market_store(st)
    res = invoke("screen", "--as-of", MARKET_END.isoformat(), "--format", "json")
    assert len(json.loads(ok(res))) == 8
    assert "(computed now)" in res.stderr


def test_screen_start_up_keeps_heavy_libraries_out(market: Path) -> None:
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom screener.cli import cli\n"
        f"r = CliRunner().invoke(cli, ['--db', {str(market)!r}, 'screen', '--rules', 'default', '--as-of', "
        f"{MARKET_END.isoformat()!r}, '--format', 'csv'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print(','.join(m for m in ('pandas', 'sklearn', 'great_expectations', 'yfinance', 'xlsxwriter', 'openpyxl')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == ""


# -- weekly, watchlist, export ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_weekly_prints_list_and_changes_and_is_idempotent(invoke, market: Path, fmt: str) -> None:
    res = invoke("weekly", "--as-of", MARKET_END.isoformat(), "--format", fmt)
    out = ok(res)
    assert "replaced this week's run" in res.stderr
    if fmt == "json":
        rows = json.loads(out)
        assert rows[0]["rank"] == 1 and "contrib.dilution_risk" in rows[0] and "reason" in rows[0]
    runs = json.loads(ok(invoke("watchlist", "runs", "--format", "json")))
    assert [r["iso_week"] for r in runs] == ["2026-W23", "2026-W22"]
    again = json.loads(
        ok(invoke("weekly", "--as-of", (MARKET_END - timedelta(days=1)).isoformat(), "--format", "json"))
    )
    assert len(json.loads(ok(invoke("watchlist", "runs", "--format", "json")))) == 2
    assert [r["symbol"] for r in again] == [
        r["symbol"] for r in json.loads(ok(invoke("watchlist", "show", "--format", "json")))
    ]


def test_weekly_new_week_with_export(invoke, market: Path, tmp_path: Path) -> None:
    out = tmp_path / "week.xlsx"
    res = invoke(
        "weekly", "--rules", "balance-sheet-survivors", "--as-of", MARKET_END.isoformat(), "--export", str(out)
    )
    ok(res)
    assert "first run of these rules" in res.stderr
    assert f"wrote {out}" in res.stderr
    assert openpyxl.load_workbook(out).sheetnames == [
        "Watchlist",
        "Charts",
        "Changes",
        "Factors",
        "Universe",
        "Methodology",
    ]


def test_weekly_unknown_rules(invoke, market: Path) -> None:
    fails(invoke("weekly", "--rules", "defualt"), "did you mean 'default'")


@pytest.mark.parametrize("fmt", FORMATS)
def test_watchlist_show(invoke, market: Path, fmt: str) -> None:
    latest = invoke("watchlist", "show", "--format", fmt)
    out = ok(latest)
    assert "run 2: default, 2026-W23" in latest.stderr
    first = ok(invoke("watchlist", "show", "--run", "1", "--format", fmt))
    if fmt == "json":
        rows = json.loads(out)
        assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
        assert {"symbol", "name", "country", "roles", "score", "data_completeness", "flags", "demo", "reason"} <= set(
            rows[0]
        )
        assert any(k.startswith("contrib.") for k in rows[0]) and any(k.endswith("_pct_eligible") for k in rows[0])
        assert json.loads(first)


def test_watchlist_show_bad_run(invoke, market: Path) -> None:
    fails(invoke("watchlist", "show", "--run", "42"), "no watchlist run 42")
    fails(invoke("watchlist", "show", "--run", "last week"), "--run must be a run id or 'latest'")


def test_watchlist_show_without_runs(invoke, db_path: Path) -> None:
    from screener.store import Store

    Store(db_path).close()  # readers open an existing store; they never create one
    fails(invoke("watchlist", "show"), "no watchlist runs yet")


@pytest.mark.parametrize("fmt", FORMATS)
def test_watchlist_diff(invoke, market: Path, fmt: str) -> None:
    res = invoke("watchlist", "diff", "--format", fmt)
    out = ok(res)
    assert (
        re.search(r"\d+ changes? from run 1 \(2026-05-29\) to run 2 \(2026-06-05\)", res.stderr)
        or "no changes from run 1 to run 2" in res.stderr
    )
    explicit = ok(invoke("watchlist", "diff", "--from", "1", "--to", "2", "--format", fmt))
    assert explicit == out
    if fmt == "json":
        for r in json.loads(out):
            assert r["text"].startswith(r["change"] + ":")


@pytest.mark.parametrize("fmt", FORMATS)
def test_watchlist_diff_of_a_first_run_is_information(invoke, market: Path, fmt: str) -> None:
    res = invoke("watchlist", "diff", "--to", "1", "--format", fmt)
    out = ok(res)
    assert "run 1 is the first run of the rules 'default' (2026-W22): no changes to show" in res.stderr
    assert "Error" not in res.stderr
    if fmt == "json":
        assert json.loads(out) == []


def test_watchlist_diff_refuses_a_reversed_pair(invoke, market: Path) -> None:
    fails(
        invoke("watchlist", "diff", "--from", "2", "--to", "1"),
        "--from run 2 (as of 2026-06-05) is newer than --to run 1 (as of 2026-05-29); swap them: --from 1 --to 2",
    )


def test_watchlist_diff_across_rule_sets_warns(invoke, market: Path) -> None:
    ok(invoke("weekly", "--rules", "balance-sheet-survivors", *AS_OF_ARGS, "--format", "csv"))
    res = invoke("watchlist", "diff", "--from", "1", "--to", "3", "--format", "csv")
    ok(res)
    assert "Warning: run 1 used rules 'default' and run 3 used 'balance-sheet-survivors'" in res.stderr


@pytest.mark.parametrize("fmt", FORMATS)
def test_watchlist_runs(invoke, market: Path, fmt: str) -> None:
    out = ok(invoke("watchlist", "runs", "--format", fmt))
    assert "2026-W23" in out and "2026-W22" in out


@pytest.mark.parametrize("suffix", ["xlsx", "csv", "json", "parquet"])
def test_export_every_suffix(invoke, market: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"list.{suffix}"
    res = invoke("export", str(out), "--run", "1")
    ok(res)
    assert out.exists() and f"wrote {out}" in res.stderr


def test_export_bad_input(invoke, market: Path, tmp_path: Path) -> None:
    fails(invoke("export", str(tmp_path / "list.txt")), "use a .xlsx, .csv, .parquet or .json file name")
    fails(invoke("export", str(tmp_path / "missing" / "list.xlsx")), "does not exist")
    fails(invoke("export", str(tmp_path / "list.xlsx"), "--run", "9"), "no watchlist run 9")


@pytest.mark.parametrize(
    "command",
    [
        ("rules", "list"),
        ("rules", "check"),
        ("rules", "explain"),
        ("screen",),
        ("weekly",),
        ("watchlist", "show"),
        ("watchlist", "diff"),
        ("watchlist", "runs"),
        ("export",),
    ],
)
def test_every_command_has_help(invoke, command: tuple[str, ...]) -> None:
    res = invoke(*command, "--help")
    assert res.exit_code == 0
    assert len(res.stdout.splitlines()) > 3


def test_screen_on_an_empty_store(invoke, db_path: Path) -> None:
    from screener.store import Store

    Store(db_path).close()
    fails(invoke("screen"), "no companies yet")


# -- screen answers from current scores only ---------------------------------------------------------------------
def _doctored(store, day, marker: float) -> None:
    """Store a score set for ``day`` whose inputs fingerprint does not match the store (as after a data change)."""
    from factors.engine import scores_for

    frame = scores_for(store, MARKET_END)
    store.save_scores(day, frame.with_columns(pl.lit(marker).alias("market_cap_usd")), demo=False, inputs_hash="stale")


def test_screen_recomputes_a_stale_score_set(invoke, market: Path) -> None:
    from screener.store import Store

    with Store(market) as st:
        _doctored(st, MARKET_END, 7.0)
    res = invoke("screen", *AS_OF_ARGS, "--format", "json")
    rows = json.loads(ok(res))
    assert "(recomputed: the data changed since they were stored)" in res.stderr
    assert all(r["market_cap_usd"] != 7.0 for r in rows)
    again = invoke("screen", *AS_OF_ARGS, "--format", "json")  # now current and stored: reused
    assert "(stored)" in again.stderr and json.loads(ok(again)) == rows


def test_screen_never_answers_from_another_dates_set(invoke, market: Path) -> None:
    from datetime import date

    from screener.store import Store

    with Store(market) as st:
        _doctored(st, date(2030, 1, 1), 9.0)
    # the default as-of is the local date when the command runs; read it on both sides, so a run that crosses
    # midnight still passes
    first = date.today()
    res = invoke("screen", "--format", "json")
    last = date.today()
    rows = json.loads(ok(res))
    assert f"scores as of {first}" in res.stderr or f"scores as of {last}" in res.stderr
    assert all(r["market_cap_usd"] != 9.0 for r in rows)


def test_where_country_matches_like_the_country_option(invoke, market: Path) -> None:
    by_where = json.loads(ok(invoke("screen", "--where", "country == 'au'", *AS_OF_ARGS, "--format", "json")))
    by_option = json.loads(ok(invoke("screen", "--country", "au", *AS_OF_ARGS, "--format", "json")))
    assert by_where == by_option and {r["symbol"] for r in by_where} == {"MINE", "MIPR"}


@pytest.mark.parametrize("place", ["UK", "eu", "europa", "Narnia"])
def test_screen_refuses_an_unknown_place_with_the_same_hint_as_universe_list(invoke, market: Path, place: str) -> None:
    screened = invoke("screen", "--country", place, *AS_OF_ARGS)
    listed = invoke("universe", "list", "--country", place)
    fails(screened, f"--country: unknown country or region {place!r}")
    fails(listed, f"--country: unknown country or region {place!r}")
    assert screened.stderr == listed.stderr
    if place == "UK":
        assert "(did you mean 'GB'?)" in screened.stderr


def test_screen_and_universe_list_accept_exactly_the_contracts_places(invoke, market: Path) -> None:
    from screener.contract import REGION_NAMES

    for place in [*REGION_NAMES, "Europe", "au", "JP"]:
        screened = json.loads(ok(invoke("screen", "--country", place, *AS_OF_ARGS, "--format", "json")))
        listed = json.loads(ok(invoke("universe", "list", "--country", place, "--format", "json")))
        assert {r["symbol"] for r in screened} == {r["symbol"] for r in listed}, place


# -- nothing is stored when the export path is wrong -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "fragment"),
    [("x.txt", "use a .xlsx, .csv, .parquet or .json file name"), ("missing/x.xlsx", "does not exist")],
)
def test_weekly_checks_the_export_path_before_storing(
    invoke, market: Path, tmp_path: Path, name: str, fragment: str
) -> None:
    from screener.store import Store

    fails(invoke("weekly", "--rules", "downstream-squeeze", *AS_OF_ARGS, "--export", str(tmp_path / name)), fragment)
    with Store(market) as st:
        assert st.scalar("SELECT count(*) FROM watchlist_runs") == 2
        assert st.scalar("SELECT count(*) FROM watchlist_runs WHERE rules_name = 'downstream-squeeze'") == 0


def test_demo_checks_the_export_path_before_loading(invoke, db_path: Path, tmp_path: Path) -> None:
    from screener.store import Store

    fails(invoke("demo", "--export", str(tmp_path / "nonexistent" / "x.xlsx")), "does not exist")
    fails(invoke("demo", "--export", str(tmp_path / "x.txt")), "use a .xlsx, .csv, .parquet or .json")
    with Store(db_path) as st:
        assert st.scalar("SELECT count(*) FROM companies") == 0
        assert st.scalar("SELECT count(*) FROM watchlist_runs") == 0


# -- words -------------------------------------------------------------------------------------------------------------
def test_rules_explain_table_is_plain_text_and_cuts_nothing(invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    from rules.explain import plan
    from rules.ruleset import load

    monkeypatch.setenv("COLUMNS", "100")
    out = ok(invoke("rules", "explain", "default"))
    assert "…" not in out and "┃" not in out and "│" not in out
    flat = " ".join(out.split())
    for step, words in plan(load("default")):
        assert " ".join(words.split()) in flat, step
        assert step in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_messages_count_in_good_grammar(invoke, db_path: Path) -> None:
    from screener.store import Store

    with Store(db_path) as st:
        build_market_store(st)
    ok(invoke("weekly", *AS_OF_ARGS, "--format", "csv"))
    res = invoke("watchlist", "runs")
    assert res.stderr.strip() == "1 run"
    res = invoke("screen", *AS_OF_ARGS, "--where", "symbol == 'MINE'", "--format", "csv")
    assert "1 of 8 companies" in res.stderr
    res = invoke("rules", "list", "--format", "csv")
    assert "4 rule sets" in res.stderr  # default, balance-sheet-survivors, downstream-squeeze, mvis-like


def test_demo_banner_on_show_diff_and_export_of_demo_runs(invoke, db_path: Path, tmp_path: Path) -> None:
    from screener.cli.options import DEMO_BANNER
    from screener.store import Store
    from screener.watchlist.runs import run_weekly
    from tests.builders import company, score_frame

    with Store(db_path) as st:
        build_market_store(st)
        rows = [company(s, demo=True) for s in ("PROC", "MAGN", "RECY")]
        run_weekly(st, "default", WEEK1, scores=score_frame(rows, WEEK1))
        run_weekly(st, "default", MARKET_END, scores=score_frame(rows, MARKET_END))
    for args in (("watchlist", "show"), ("watchlist", "diff"), ("export", str(tmp_path / "d.xlsx"))):
        res = invoke(*args)
        ok(res)
        assert DEMO_BANNER in res.stderr, args


# -- screen decodes only the stored columns it reads -------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"roles": ["processor"], "countries": ["japan", "US"]},
        {"where": "net_cash_usd > 0 and not has_role('miner')", "sort": "dilution_risk,-price_usd"},
        {"where": "has_flag('stale') or region == 'japan'", "sort": "name", "top": 3},
        {"rules": "default", "where": "revenue_ttm_usd > 0", "sort": "pullback"},
    ],
    ids=["plain", "role-country", "where-sort", "list-where", "rules"],
)
def test_a_screen_reading_some_columns_answers_as_one_reading_all(
    market: Path, monkeypatch: pytest.MonkeyPatch, kwargs: dict
) -> None:
    from polars.testing import assert_frame_equal

    import screener.watchlist.screen as screen
    from screener.store import Store

    with Store(market) as st:
        got = screen.run_screen(st, as_of=MARKET_END, **kwargs)
        monkeypatch.setattr(screen, "_columns_read", lambda schema, conds, extra: list(schema))
        full = screen.run_screen(st, as_of=MARKET_END, **kwargs)
    assert got.rows.height > 0 and got.universe == full.universe and got.demo == full.demo
    assert_frame_equal(got.rows, full.rows)
    assert (got.where_fields, got.sort_columns) == (full.where_fields, full.sort_columns)


def test_screen_orders_by_symbol_a_set_stored_in_another_order(invoke, market: Path) -> None:
    """A set stored in symbol order is shown as read; one stored in any other order (an older store, a caller's
    own frame) is still sorted: the order never depends on how the set was written."""
    from factors.methodology import inputs_fingerprint, rests_on_demo
    from screener.store import Store

    with Store(market) as st:
        found = st.load_scores(MARKET_END)
        assert found is not None
        scores = found[1]
        assert scores["symbol"].is_sorted()
        reversed_set = scores.reverse()
        st.save_scores(
            MARKET_END,
            reversed_set,
            demo=rests_on_demo(reversed_set),
            inputs_hash=inputs_fingerprint(st, MARKET_END),
        )
        assert st.load_scores(MARKET_END)[1]["symbol"].to_list() == scores["symbol"].reverse().to_list()
    res = invoke("screen", *AS_OF_ARGS, "--format", "json")
    rows = json.loads(ok(res))
    assert "(stored)" in res.stderr
    assert [r["symbol"] for r in rows] == sorted(scores["symbol"].to_list())
    assert [r["row"] for r in rows] == list(range(1, len(rows) + 1))
