"""Exports: the six-sheet workbook read back with openpyxl, formula neutralisation, atomic writes, suffixes."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest
from hypothesis import given, strategies

from screener.errors import ScreenerError
from screener.output.export import PRINT_COLUMNS, SHEETS, TAG_COLUMNS, USD_M, USD_PRICE, export_run
from screener.output.render import neutralise
from screener.store import Store
from screener.watchlist.runs import load_run, run_weekly
from tests.builders import MARKET_END, company, ensure_factors, score_frame

ensure_factors()

HOSTILE = {
    "EQ": '=HYPERLINK("http://evil.example","x")',
    "PL": "+1+2",
    "MI": "-2+3",
    "AT": "@SUM(A1)",
    "TB": "\tTabbed",
    "CR": "\rReturn",
    "OK": "Plain Metals Corp",
}


def with_classes(scores: pl.DataFrame) -> pl.DataFrame:
    """The engine's ``role_class`` column, which the builder's score frame leaves out (the Charts sheet reads it)."""
    return scores.with_columns(
        pl.col("roles").replace_strict({"miner": "pure_miner"}, default="enabler").alias("role_class")
    )


def make_run(
    db_path: Path, *, demo: bool = False, names: dict[str, str] | None = None, rules: str | Path = "default"
) -> int:
    names = names or {"AAA": "Alpha Rare Earths", "BBB": "Beta Magnets", "CCC": "Gamma Recycling"}
    rows = [
        company(
            s,
            name=n,
            localization_premium=0.2 + 0.1 * i,
            pullback=0.1 * i,
            demo=demo,
            roles=["processor", "magnet_maker", "recycler", "miner"][i % 4],
            flags=["demo", "stale"] if i % 2 else [],
            market_cap_usd=1.5e9 + i * 1e8,
            balance_sheet=None if i == 1 else 0.5,
        )
        for i, (s, n) in enumerate(sorted(names.items()))
    ]
    with Store(db_path) as st:
        st.upsert(
            "companies",
            pl.DataFrame(
                {
                    "symbol": list(names),
                    "name": list(names.values()),
                    "country": ["US"] * len(names),
                    "currency": ["USD"] * len(names),
                    "roles": ["processor"] * len(names),
                    "stage": ["producer"] * len(names),
                }
            ),
            provider="file",
        )
        res = run_weekly(st, rules, MARKET_END, scores=with_classes(score_frame(rows, MARKET_END)))
    return res.run_id


def first_data_row(ws: Any) -> int:
    """The 1-based row of a sheet's first data row: the frozen rows hold the title block and the two header rows."""
    return openpyxl.utils.cell.coordinate_to_tuple(ws.freeze_panes)[0]


def fields(ws: Any) -> list[str]:
    """The field names: the header row just above the data (the human labels sit above them)."""
    return [c.value for c in ws[first_data_row(ws) - 1]]


def sheet_rows(path: Path, sheet: str) -> list[dict]:
    ws = openpyxl.load_workbook(path)[sheet]
    top = first_data_row(ws)
    header = fields(ws)
    return [dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=top, values_only=True)]


def test_xlsx_round_trip_matches_watchlist_show_json(db_path: Path, tmp_path: Path, invoke) -> None:
    make_run(db_path)
    out = tmp_path / "list.xlsx"
    assert invoke("export", str(out)).exit_code == 0
    shown = json.loads(invoke("watchlist", "show", "--format", "json").stdout)
    book = sheet_rows(out, "Watchlist")
    assert len(book) == len(shown) == 3
    for x, j in zip(book, shown, strict=True):
        assert list(x) == list(j)
        for key, jv in j.items():
            xv = x[key]
            if isinstance(jv, list):  # lists, and the stored tag text, read "a; b" so a narrow column wraps
                assert xv == ("; ".join(jv) or None), key
            elif key in TAG_COLUMNS:
                assert xv == ("; ".join(jv.split(";")) or None), key
            elif isinstance(jv, str):
                assert xv == (neutralise(jv) or None), key
            elif isinstance(jv, float):
                assert xv == pytest.approx(jv, rel=1e-15, abs=0), key  # xlsx keeps 16 significant digits
            else:
                assert xv == jv, key  # integers and booleans exactly; None stays an empty cell


def test_workbook_is_desk_ready(db_path: Path, tmp_path: Path) -> None:
    run_id = make_run(db_path, demo=True)
    out = tmp_path / "list.xlsx"
    with Store(db_path) as st:
        export_run(st, out, run_id)
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == list(SHEETS)
    ws = wb["Watchlist"]
    header = fields(ws)
    top = first_data_row(ws)
    assert ws.freeze_panes == f"C{top}"  # the title block, both header rows, rank and symbol stay in view
    last = openpyxl.utils.get_column_letter(len(header))
    assert ws.auto_filter.ref == f"A{top - 1}:{last}{top + 2}"  # the buttons sit on the field names
    col = {h: i + 1 for i, h in enumerate(header)}
    assert ws.cell(top, col["market_cap_usd"]).number_format == USD_M
    assert ws.cell(top, col["dilution_risk_pct_eligible"]).number_format == "0%"
    assert ws.cell(top, col["data_completeness"]).number_format == "0%"
    assert ws.cell(top, col["score"]).number_format == "0.000"
    score_letter = openpyxl.utils.get_column_letter(col["score"])
    ranges = [str(r.sqref) for r in ws.conditional_formatting]
    assert f"{score_letter}{top}:{score_letter}{top + 2}" in ranges
    rule = next(iter(ws.conditional_formatting)).rules[0]
    assert rule.type == "colorScale"
    assert ws.sheet_properties.tabColor is not None  # demo runs are marked on the tab
    # every company's factors and percentiles; the universe with why each name is out
    factors = sheet_rows(out, "Factors")
    assert {r["symbol"] for r in factors} == {"AAA", "BBB", "CCC"}
    assert {
        "localization_premium",
        "localization_premium_pct",
        "dilution_risk.cash_runway_years",
        "market_cap_usd",
    } <= set(factors[0])
    universe = sheet_rows(out, "Universe")
    assert {r["status"] for r in universe} == {"member"}
    meth = {r["item"]: r["value"] for r in sheet_rows(out, "Methodology")}
    assert meth["rule set"] == "default"
    assert meth["as of"] == "2026-06-05"
    assert meth["ISO week"] == "2026-W23"
    assert meth["demo data"].startswith("yes: synthetic")
    assert "prices none" in meth["data freshness"]
    assert meth["providers: companies"] == "file 3 rows"
    assert meth["plan: tilt"].startswith("multiply the score x1.15")
    assert meth["rules text"].lstrip().startswith("#")


def test_changes_sheet_carries_the_attribution(db_path: Path, tmp_path: Path) -> None:
    make_run(db_path)
    with Store(db_path) as st:
        rows = [company(s, localization_premium=v) for s, v in (("AAA", 0.9), ("BBB", 0.1), ("CCC", 0.5))]
        run_weekly(st, "default", date(2026, 6, 12), scores=score_frame(rows, date(2026, 6, 12)))
        export_run(st, tmp_path / "w2.xlsx")
    changes = sheet_rows(tmp_path / "w2.xlsx", "Changes")
    assert changes and all(r["text"].startswith(r["change"] + ":") for r in changes)
    assert {"change", "symbol", "factor", "pct_from", "pct_to", "contrib_from", "contrib_to", "event", "text"} <= set(
        changes[0]
    )
    ws = openpyxl.load_workbook(tmp_path / "w2.xlsx")["Changes"]
    formats = {
        "rank_from": "0",
        "rank_to": "0",
        "pct_from": "0%",
        "pct_to": "0%",
        "contrib_from": "0.000",
        "contrib_to": "0.000",
    }
    header = fields(ws)
    assert ws.max_row >= first_data_row(ws)
    for r in range(first_data_row(ws), ws.max_row + 1):
        for c, name in enumerate(header, start=1):
            cell = ws.cell(r, c)
            if isinstance(cell.value, int | float) and not isinstance(cell.value, bool):
                assert cell.number_format == formats[name], (name, cell.number_format)


def test_formula_text_is_neutralised_in_xlsx_and_csv(db_path: Path, tmp_path: Path) -> None:
    run_id = make_run(db_path, names=HOSTILE)
    with Store(db_path) as st:
        export_run(st, tmp_path / "h.xlsx", run_id)
        export_run(st, tmp_path / "h.csv", run_id)
    wb = openpyxl.load_workbook(tmp_path / "h.xlsx")
    for sheet in ("Watchlist", "Factors", "Universe"):
        ws = wb[sheet]
        header = fields(ws)
        name_col = header.index("name") + 1
        names = {}
        for r in range(first_data_row(ws), ws.max_row + 1):
            cell = ws.cell(r, name_col)
            assert cell.data_type == "s"  # text, never a formula
            names[cell.value.lstrip("'")] = cell.value
        for raw in HOSTILE.values():
            if raw in names:
                assert names[raw] == ("'" + raw if raw[0] in "=+-@\t\r" else raw)
    csv = pl.read_csv(tmp_path / "h.csv")
    for n in csv["name"]:
        assert n[0] not in "=+-@\t\r", n


def test_csv_json_parquet_hold_the_watchlist_rows(db_path: Path, tmp_path: Path) -> None:
    run_id = make_run(db_path)
    with Store(db_path) as st:
        for suffix in ("csv", "json", "parquet"):
            export_run(st, tmp_path / f"w.{suffix}", run_id)
    pq = pl.read_parquet(tmp_path / "w.parquet")
    js = json.loads((tmp_path / "w.json").read_text())
    cs = pl.read_csv(tmp_path / "w.csv")
    assert pq["symbol"].to_list() == [r["symbol"] for r in js] == cs["symbol"].to_list()
    assert pq.columns == list(js[0]) == cs.columns
    assert pq.schema["flags"] == pl.List(pl.String)


def test_bad_suffix_missing_folder_and_no_runs(db_path: Path, tmp_path: Path) -> None:
    with Store(db_path) as st, pytest.raises(ScreenerError, match="no watchlist runs yet"):
        export_run(st, tmp_path / "x.xlsx")
    make_run(db_path)
    with Store(db_path) as st:
        with pytest.raises(ScreenerError, match=r"use a \.xlsx, \.csv, \.parquet or \.json"):
            export_run(st, tmp_path / "x.txt")
        with pytest.raises(ScreenerError, match="does not exist"):
            export_run(st, tmp_path / "nope" / "x.xlsx")


def test_failed_export_leaves_no_half_file_and_keeps_the_old_one(
    db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_run(db_path)
    target = tmp_path / "list.xlsx"
    target.write_bytes(b"previous good file")

    def broken(path: Path, run: object) -> None:
        path.write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr("screener.output.export.write_workbook", broken)
    with Store(db_path) as st, pytest.raises(ScreenerError, match="disk full"):
        export_run(st, target)
    assert target.read_bytes() == b"previous good file"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".list.xlsx")) == []


def test_every_numeric_cell_has_a_deliberate_format(db_path: Path, tmp_path: Path) -> None:
    rows = [
        company(
            s,
            price_usd=12.5 + i,
            market_cap_usd=2.5e9 + i,
            liquidity=3.2e6 + i,
            **{
                "liquidity.median_traded_value_usd": 3.2e6 + i,
                "pullback.drawdown_52w": 0.25,
                "dilution_risk.equity_raises_12m": 1.0,
                "dilution_risk.cash_runway_years": 2.5,
                "balance_sheet.net_cash_to_mcap": 0.12,
                "shares_outstanding": 1e8,
                "net_cash_usd": -5e7,
            },
        )
        for i, s in enumerate(("AAA", "BBB", "CCC"))
    ]
    with Store(db_path) as st:
        st.upsert(
            "companies",
            pl.DataFrame(
                {
                    "symbol": ["AAA", "BBB", "CCC"],
                    "name": ["A", "B", "C"],
                    "country": ["US"] * 3,
                    "currency": ["USD"] * 3,
                    "roles": ["processor"] * 3,
                    "stage": ["producer"] * 3,
                }
            ),
            provider="file",
        )
        run_weekly(st, "default", MARKET_END, scores=score_frame(rows, MARKET_END))
        export_run(st, tmp_path / "f.xlsx")
    wb = openpyxl.load_workbook(tmp_path / "f.xlsx")
    expected = {
        "price_usd": USD_PRICE,
        "market_cap_usd": USD_M,
        "net_cash_usd": USD_M,
        "liquidity": USD_M,
        "liquidity.median_traded_value_usd": USD_M,
        "liquidity_pct": "0%",
        "pullback.drawdown_52w": "0.0%",
        "balance_sheet.net_cash_to_mcap": "0.0%",
        "dilution_risk.equity_raises_12m": "0",
        "dilution_risk.cash_runway_years": "0.00",
        "shares_outstanding": "#,##0",
        "dilution_risk": "0.00",
        "data_completeness": "0%",
        "score": "0.000",
        "rank": "0",
        "candidate_rank": "0",
        "tilt": "0.00",
    }
    seen: dict[str, str] = {}
    for sheet in ("Watchlist", "Factors", "Universe"):
        ws = wb[sheet]
        header = fields(ws)
        for c, name in enumerate(header, start=1):
            cell = ws.cell(first_data_row(ws), c)
            if isinstance(cell.value, int | float) and not isinstance(cell.value, bool):
                assert cell.number_format != "General", (sheet, name)  # no number left unformatted
                if name in expected:
                    assert cell.number_format == expected[name], (sheet, name, cell.number_format)
                    seen[name] = cell.number_format
                if name.endswith("_usd") and name != "price_usd":
                    assert cell.number_format == USD_M, (sheet, name)
    assert set(seen) == set(expected)


def test_empty_changes_sheet_has_no_filter_over_nothing(db_path: Path, tmp_path: Path) -> None:
    make_run(db_path)
    with Store(db_path) as st:
        export_run(st, tmp_path / "first.xlsx")
    wb = openpyxl.load_workbook(tmp_path / "first.xlsx")
    changes = wb["Changes"]
    assert changes.max_row == 2 and changes.auto_filter.ref is None  # the two header rows, no data
    assert wb["Watchlist"].auto_filter.ref is not None


def test_factors_sheet_has_the_months_to_raise_with_a_months_format(db_path: Path, tmp_path: Path) -> None:
    from screener.output.export import MONTHS

    months = {"AAA": 7.5, "BBB": 120.0, "CCC": None}
    rows = [company(s, localization_premium=0.3 + 0.1 * i) for i, s in enumerate(months)]
    scores = score_frame(rows, MARKET_END).with_columns(  # the builder's frame predates the forecast components
        pl.Series("dilution_risk.months_to_raise", list(months.values()), dtype=pl.Float64),
        pl.Series("dilution_risk.funding_gap_usd", [2e7, -5e7, None], dtype=pl.Float64),
        pl.Series("dilution_risk.remaining_capex_usd", [1e8, 0.0, 0.0], dtype=pl.Float64),
    )
    with Store(db_path) as st:
        st.upsert(
            "companies",
            pl.DataFrame(
                {
                    "symbol": list(months),
                    "name": ["A", "B", "C"],
                    "country": ["US"] * 3,
                    "currency": ["USD"] * 3,
                    "roles": ["processor"] * 3,
                    "stage": ["producer"] * 3,
                }
            ),
            provider="file",
        )
        rid = run_weekly(st, "mvis-like", MARKET_END, scores=scores).run_id  # a set that does not weight dilution risk
        export_run(st, tmp_path / "m.xlsx", rid)
    ws = openpyxl.load_workbook(tmp_path / "m.xlsx")["Factors"]
    header = fields(ws)
    col = header.index("dilution_risk.months_to_raise") + 1
    got = {ws.cell(r, 1).value: ws.cell(r, col) for r in range(first_data_row(ws), ws.max_row + 1)}
    assert got["AAA"].value == 7.5 and got["AAA"].number_format == MONTHS
    assert got["CCC"].value is None  # unknown stays empty, never zero
    assert ws.cell(first_data_row(ws), header.index("dilution_risk.funding_gap_usd") + 1).number_format == USD_M


def test_exposure_and_the_backing_view_reach_the_workbook(db_path: Path, tmp_path: Path) -> None:
    from screener.output.export import PERCENT

    rows = [company("AAA", exposure=0.9, government_backing="EXIM (non-binding)"), company("BBB", exposure=None)]
    with Store(db_path) as st:
        st.upsert(
            "companies",
            pl.DataFrame(
                [{k: r[k] for k in ("symbol", "name", "country", "currency", "roles", "stage")} for r in rows]
            ),
            "file",
        )
        rid = run_weekly(st, "mvis-like", MARKET_END, scores=score_frame(rows, MARKET_END)).run_id
        export_run(st, tmp_path / "e.xlsx", rid)
    book = openpyxl.load_workbook(tmp_path / "e.xlsx")
    for sheet in ("Factors", "Universe"):
        ws = book[sheet]
        header = fields(ws)
        rows = range(first_data_row(ws), ws.max_row + 1)
        cells = {ws.cell(r, 1).value: ws.cell(r, header.index("exposure") + 1) for r in rows}
        assert cells["AAA"].value == 0.9 and cells["AAA"].number_format == PERCENT, sheet
        assert cells["BBB"].value is None, sheet  # unknown stays empty
        backing = {ws.cell(r, 1).value: ws.cell(r, header.index("government_backing") + 1).value for r in rows}
        assert backing["AAA"] == "EXIM (non-binding)", sheet


# -- the workbook as a reader and a printer see it ---------------------------------------------------------------------
def two_runs(db_path: Path) -> None:
    """Two weekly runs of the default rules, a week apart, so the second has changes to explain."""
    make_run(db_path, demo=True)
    with Store(db_path) as st:
        rows = [company(s, localization_premium=v, demo=True) for s, v in (("AAA", 0.9), ("BBB", 0.1), ("CCC", 0.5))]
        run_weekly(st, "default", date(2026, 6, 12), scores=with_classes(score_frame(rows, date(2026, 6, 12))))


def test_watchlist_title_block_names_the_run_and_marks_demo_data(db_path: Path, tmp_path: Path) -> None:
    make_run(db_path, demo=True)
    with Store(db_path) as st:
        export_run(st, tmp_path / "d.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "d.xlsx")["Watchlist"]
    block = [ws.cell(r, 1).value for r in range(1, first_data_row(ws) - 2)]
    assert block[0] == "Watchlist: default rules, as of 2026-06-05 (ISO week 2026-W23)"
    assert ws.cell(1, 1).font.b and ws.cell(1, 1).font.sz == 14
    banner = ws.cell(2, 1)
    assert banner.value.startswith("DEMO DATA: yes: synthetic")
    assert banner.fill.fgColor.rgb.endswith("C00000") and banner.font.b
    assert any(str(r).startswith(f"A2:{openpyxl.utils.get_column_letter(len(fields(ws)))}2") for r in ws.merged_cells)
    texts = "\n".join(v for v in block if v)
    assert "Rule set: default (content hash " in texts
    assert "As of 2026-06-05, ISO week 2026-W23; 3 members" in texts
    assert "Data freshness: " in texts and "prices none" in texts
    assert "first run of these rules" in texts

    make_run(db_path, demo=False)  # same week, real data: the run is replaced and the banner goes
    with Store(db_path) as st:
        export_run(st, tmp_path / "r.xlsx")
    real = openpyxl.load_workbook(tmp_path / "r.xlsx")["Watchlist"]
    cells = [real.cell(r, 1).value for r in range(1, first_data_row(real))]
    assert not any(v and "DEMO" in v for v in cells)
    assert real.sheet_properties.tabColor is None


def test_headers_are_labels_over_field_names_with_a_comment(db_path: Path, tmp_path: Path) -> None:
    from screener.output.fields import PERCENTILE, describe, label_of, unit_of

    two_runs(db_path)
    with Store(db_path) as st:
        export_run(st, tmp_path / "h.xlsx")
    wb = openpyxl.load_workbook(tmp_path / "h.xlsx")
    labels: dict[str, dict[str, str]] = {}
    for sheet in ("Watchlist", "Changes", "Factors", "Universe"):
        ws = wb[sheet]
        top = first_data_row(ws)
        names = fields(ws)
        shown = [c.value for c in ws[top - 2]]
        assert shown == [label_of(n) for n in names], sheet
        assert all(s != n for s, n in zip(shown, names, strict=True) if "_" in n or "." in n), sheet  # words
        for c, n in enumerate(names, start=1):
            comment = ws.cell(top - 2, c).comment
            assert comment is not None and f"({n})" in comment.text, (sheet, n)
            assert describe(n) in comment.text
        labels[sheet] = dict(zip(names, shown, strict=True))
        assert ws.print_title_rows == f"${top - 2}:${top - 1}"  # both header rows repeat on every printed page
    # two different percentiles, two names, each with its own label
    assert labels["Watchlist"]["dilution_risk_pct_eligible"] == "Dilution risk percentile (eligible)"
    assert labels["Factors"]["dilution_risk_pct"] == "Dilution risk percentile (all scored)"
    assert labels["Universe"]["rank"] == "Watchlist rank" != labels["Universe"]["candidate_rank"]
    assert labels["Changes"]["pct_from"].startswith("Blamed factor percentile")

    def comment(sheet: str, name: str) -> str:
        ws = wb[sheet]
        return ws.cell(first_data_row(ws) - 2, fields(ws).index(name) + 1).comment.text

    assert f"Unit: {unit_of('exposure')}" in comment("Factors", "exposure")
    assert "Unit: USD" in comment("Factors", "market_cap_usd")
    assert f"Unit: {PERCENTILE}" in comment("Watchlist", "dilution_risk_pct_eligible")
    assert "Unit:" not in comment("Factors", "name")  # text names no unit


def test_one_field_name_never_holds_two_different_percentiles(db_path: Path, tmp_path: Path) -> None:
    """The Watchlist sheet's percentile over the eligible set and the Factors sheet's across every scored company
    have different names; a name found on two sheets holds the same number for the same company. Under one shared
    name a reader saw 0.917 on one sheet and 0.95 on the other."""
    from factors.registry import FACTORS

    # a gate keeps the upper part of the universe, so the two percentiles of a member differ
    rules = tmp_path / "gated.toml"
    rules.write_text(
        'name = "gated"\n[weights]\nlocalization_premium = 0.5\npullback = 0.5\n'
        '[gates]\nupper = "localization_premium_pct >= 0.3"\n[constraints]\ntop_n = 5\n'
    )
    run_id = make_run(db_path, names={s: f"{s} Metals" for s in ("AAA", "BBB", "CCC", "DDD", "EEE")}, rules=rules)
    with Store(db_path) as st:
        export_run(st, tmp_path / "n.xlsx", run_id)
        table = load_run(st, run_id).table
    wb = openpyxl.load_workbook(tmp_path / "n.xlsx")
    sheets = {s: sheet_rows(tmp_path / "n.xlsx", s) for s in ("Watchlist", "Factors", "Universe")}
    watch, facs = set(sheets["Watchlist"][0]), set(sheets["Factors"][0])
    weighted = [f for f in FACTORS if f"contrib.{f}" in watch]
    assert weighted
    for f in weighted:
        assert f"{f}_pct_eligible" in watch and f"{f}_pct" not in watch
        assert f"{f}_pct" in facs and f"{f}_pct_eligible" not in facs
    # the two percentiles differ for this run, so one name for both could not hold one number
    assert any(
        r[f"{f}_pct"] != pytest.approx(r[f"{f}_pct_eligible"])
        for r in table.filter(pl.col("status") == "member").iter_rows(named=True)
        for f in weighted
    )
    by_name: dict[tuple[str, str], Any] = {}
    for sheet, rows in sheets.items():
        for r in rows:
            for name, v in r.items():
                if name.endswith(("_pct", "_pct_eligible")) and v is not None:
                    prior = by_name.setdefault((r["symbol"], name), v)
                    assert prior == pytest.approx(v), (sheet, r["symbol"], name)
    for r in sheets["Watchlist"]:
        row = table.filter(pl.col("symbol") == r["symbol"]).row(0, named=True)
        for f in weighted:
            assert r[f"{f}_pct_eligible"] == pytest.approx(row[f"{f}_pct_eligible"])
    for r in sheets["Factors"]:
        row = table.filter(pl.col("symbol") == r["symbol"]).row(0, named=True)
        for f in weighted:
            assert r[f"{f}_pct"] == pytest.approx(row[f"{f}_pct"])
    labels = {}
    for ws in wb:
        if ws.title in ("Watchlist", "Factors", "Universe", "Changes"):
            top = first_data_row(ws)
            for label, name in zip([c.value for c in ws[top - 2]], fields(ws), strict=True):
                assert labels.setdefault(name, label) == label, (ws.title, name)  # one name, one label


def test_every_sheet_prints_a4_landscape_one_page_wide_or_a_page_per_twenty_columns(
    db_path: Path, tmp_path: Path
) -> None:
    two_runs(db_path)
    with Store(db_path) as st:
        export_run(st, tmp_path / "p.xlsx")
    wb = openpyxl.load_workbook(tmp_path / "p.xlsx")
    assert wb.sheetnames == list(SHEETS)
    for ws in wb.worksheets:
        setup = ws.page_setup
        assert setup.orientation == "landscape", ws.title
        assert setup.paperSize == 9, ws.title  # A4
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        # 1 is the file format's default, so it may be left out; 0 tall means as many pages as the rows need; a
        # sheet wider than a readable page prints a page per PRINT_COLUMNS columns, repeating its first column
        pages = -(-ws.max_column // PRINT_COLUMNS) if ws.title in ("Changes", "Factors", "Universe") else 1
        assert (setup.fitToWidth or 1) == max(pages, 1), ws.title
        if pages > 1:
            assert ws.print_title_cols == "$A:$A", ws.title
        assert (1 if setup.fitToHeight is None else setup.fitToHeight) == (1 if ws.title == "Charts" else 0), ws.title
        assert ws.page_margins.left <= 0.5 and ws.page_margins.top <= 0.75, ws.title
        assert "DEMO DATA" in ws.oddHeader.center.text, ws.title
        assert ws.print_title_rows or ws.title == "Charts", ws.title  # Charts is one page: nothing to repeat


def test_column_widths_and_row_heights_fit_roles_regions_and_reasons(db_path: Path, tmp_path: Path) -> None:
    from screener.output.export import WIDTHS, row_height, wrapped_lines

    long_reason_names = {"AAA": "Alpha Rare Earths", "BBB": "Beta Magnets", "CCC": "Gamma Recycling"}
    make_run(db_path, names=long_reason_names)
    with Store(db_path) as st:
        export_run(st, tmp_path / "w.xlsx")
    wb = openpyxl.load_workbook(tmp_path / "w.xlsx")
    for sheet, cols in (("Watchlist", ("name", "roles", "reason")), ("Universe", ("region", "roles", "why_out"))):
        ws = wb[sheet]
        names = fields(ws)
        for name in cols:
            letter = openpyxl.utils.get_column_letter(names.index(name) + 1)
            assert ws.column_dimensions[letter].width >= WIDTHS[name], (sheet, name)
    ws = wb["Watchlist"]
    names = fields(ws)
    c = names.index("reason") + 1
    for r in range(first_data_row(ws), ws.max_row + 1):
        cell = ws.cell(r, c)
        assert cell.alignment.wrap_text
        need = row_height(wrapped_lines(cell.value, WIDTHS["reason"]))
        assert ws.row_dimensions[r].height >= need  # LibreOffice would not grow the row itself


def test_roles_wrap_between_tags() -> None:
    from screener.output.export import _cell_text

    assert _cell_text("roles", "processor;magnet_maker") == "processor; magnet_maker"
    assert _cell_text("flags", ["demo", "stale"]) == "demo; stale"
    assert _cell_text("name", "A;B Corp") == "A;B Corp"  # only tag columns are re-joined
    assert _cell_text("score", 0.5) is None


def test_charts_sheet_has_native_stacked_contributions_and_score_by_role_class(db_path: Path, tmp_path: Path) -> None:
    import re
    import zipfile

    from screener.output.export import TOP_N_CHART

    two_runs(db_path)
    with Store(db_path) as st:
        export_run(st, tmp_path / "c.xlsx")
    with zipfile.ZipFile(tmp_path / "c.xlsx") as z:
        charts = sorted(n for n in z.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n))
        xml = [z.read(n).decode() for n in charts]
        drawings_of_charts = z.read("xl/worksheets/_rels/sheet2.xml.rels").decode()
        workbook = z.read("xl/workbook.xml").decode()
    assert len(xml) == 2
    assert re.search(r'<sheet name="Charts" sheetId="2"', workbook) and "drawing" in drawings_of_charts
    bars, roles = xml
    assert '<c:barDir val="bar"/>' in bars and '<c:grouping val="stacked"/>' in bars
    assert bars.count("<c:ser>") == 5  # one series per weighted factor of the default rules
    assert "Charts!$A$" in bars and "Factor contributions" in bars
    assert '<c:barDir val="col"/>' in roles and roles.count("<c:ser>") == 2 and "role class" in roles
    ws = openpyxl.load_workbook(tmp_path / "c.xlsx")["Charts"]
    col_a = [ws.cell(r, 1).value for r in range(1, ws.max_row + 1)]
    start = col_a.index("label") + 1  # the data the bars draw: under the field-name row
    companies = [v for v in col_a[start : start + TOP_N_CHART] if v and v != "Score by role class"]
    assert companies[:3] == ["AAA #1", "CCC #2", "BBB #3"]
    role_start = col_a.index("role_class") + 1
    assert col_a[role_start] == "enabler"  # the builder's companies are processors, magnet makers, recyclers


def test_score_by_role_class_leaves_unscored_classes_empty(db_path: Path) -> None:
    from screener.output.export import score_by_role_class, top_contributions
    from screener.watchlist.runs import load_run

    make_run(db_path)
    with Store(db_path) as st:
        run = load_run(st, None)
    table = score_by_role_class(run)
    assert table.columns == ["role_class", "companies", "scored", "members", "mean_score", "best_score"]
    assert table["companies"].sum() == 3
    for row in table.iter_rows(named=True):
        if row["scored"] == 0:
            assert row["mean_score"] is None and row["best_score"] is None  # unknown, never zero
    top = top_contributions(run, n=2)
    assert top.height == 2 and top["label"].to_list()[0].endswith("#1")


def test_methodology_rows_are_wrapped_and_tall_enough(db_path: Path, tmp_path: Path) -> None:
    from screener.output.export import row_height, wrapped_lines

    make_run(db_path)
    with Store(db_path) as st:
        export_run(st, tmp_path / "m.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "m.xlsx")["Methodology"]
    widths = {c: ws.column_dimensions[c].width for c in "AB"}
    rules_rows = 0
    for r in range(2, ws.max_row + 1):
        item, value = ws.cell(r, 1), ws.cell(r, 2)
        if item.value == "rules text" or (item.value is None and rules_rows):
            rules_rows += 1
            assert "\n" not in (value.value or "")  # one line of the rule file per row
            continue
        assert item.alignment.wrap_text and value.alignment.wrap_text, item.value
        lines = max(wrapped_lines(item.value, widths["A"]), wrapped_lines(value.value or "", widths["B"]))
        assert ws.row_dimensions[r].height >= row_height(lines), item.value
    assert rules_rows > 10


def test_csv_file_has_a_bom_and_stdout_csv_has_none(db_path: Path, tmp_path: Path, invoke) -> None:
    make_run(db_path, names={"AAA": "Société → Minière", "BBB": "Beta Magnets"})
    out = tmp_path / "w.csv"
    assert invoke("export", str(out)).exit_code == 0
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfrank,symbol,")
    assert "Société → Minière" in raw.decode("utf-8-sig")
    piped = invoke("watchlist", "show", "--format", "csv").stdout
    assert piped.startswith("rank,symbol,") and "\ufeff" not in piped


@given(
    text=strategies.text(alphabet=strategies.sampled_from("abc de→\n"), max_size=300),
    width=strategies.floats(min_value=4, max_value=120),
)
def test_wrapped_lines_never_undercounts(text: str, width: float) -> None:
    """A row sized from this count is never too short: at least one line per paragraph, and at least as many lines
    as the characters need at the column's width."""
    from screener.output.export import WRAP_CHARS_PER_WIDTH, wrapped_lines

    chars = max(int(width * WRAP_CHARS_PER_WIDTH), 1)
    lines = wrapped_lines(text, width)
    paragraphs = text.split("\n")
    assert lines >= len(paragraphs)
    assert lines >= sum(-(-len(p) // chars) for p in paragraphs)


def test_the_same_run_exports_to_the_same_bytes_dated_by_the_run(db_path: Path, tmp_path: Path) -> None:
    """A workbook's document dates are the run's creation time, not the clock's: exporting a run twice gives the
    same file, and its properties say when the run was made."""
    import zipfile

    two_runs(db_path)
    with Store(db_path) as st:
        # a run made long ago, so the clock's time and the run's cannot coincide
        st.con.execute("UPDATE watchlist_runs SET created_at = TIMESTAMP '2020-01-02 03:04:05'")
        export_run(st, tmp_path / "a.xlsx")
        export_run(st, tmp_path / "b.xlsx")
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()
    core = zipfile.ZipFile(tmp_path / "a.xlsx").read("docProps/core.xml").decode()
    assert "<dcterms:created" in core and "2020-01-02T03:04:05Z" in core
    assert "<dcterms:modified" in core and core.count("2020-01-02T03:04:05Z") == 2
    assert openpyxl.load_workbook(tmp_path / "a.xlsx")["Factors"].max_column > PRINT_COLUMNS  # wide: several pages
