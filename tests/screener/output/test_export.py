"""Exports: the five-sheet workbook read back with openpyxl, formula neutralisation, atomic writes, suffixes."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from screener.errors import ScreenerError
from screener.output.export import SHEETS, USD_M, USD_PRICE, export_run
from screener.output.render import neutralise
from screener.store import Store
from screener.watchlist.runs import run_weekly
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


def make_run(db_path: Path, *, demo: bool = False, names: dict[str, str] | None = None) -> int:
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
        res = run_weekly(st, "default", MARKET_END, scores=score_frame(rows, MARKET_END))
    return res.run_id


def sheet_rows(path: Path, sheet: str) -> list[dict]:
    wb = openpyxl.load_workbook(path)
    ws = wb[sheet]
    values = list(ws.iter_rows(values_only=True))
    header = values[0]
    return [dict(zip(header, r, strict=True)) for r in values[1:]]


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
            if isinstance(jv, list):
                assert xv == (";".join(jv) or None), key
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
    header = [c.value for c in ws[1]]
    assert ws.freeze_panes == "C2"
    assert ws.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(len(header))}4"
    col = {h: i + 1 for i, h in enumerate(header)}
    assert ws.cell(2, col["market_cap_usd"]).number_format == USD_M
    assert ws.cell(2, col["dilution_risk_pct"]).number_format == "0%"
    assert ws.cell(2, col["data_completeness"]).number_format == "0%"
    assert ws.cell(2, col["score"]).number_format == "0.000"
    score_letter = openpyxl.utils.get_column_letter(col["score"])
    ranges = [str(r.sqref) for r in ws.conditional_formatting]
    assert f"{score_letter}2:{score_letter}4" in ranges
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
    header = [c.value for c in ws[1]]
    for r in range(2, ws.max_row + 1):
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
        header = [c.value for c in ws[1]]
        name_col = header.index("name") + 1
        names = {}
        for r in range(2, ws.max_row + 1):
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
        header = [c.value for c in ws[1]]
        for c, name in enumerate(header, start=1):
            cell = ws.cell(2, c)
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
    assert changes.max_row == 1 and changes.auto_filter.ref is None
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
    header = [c.value for c in ws[1]]
    col = header.index("dilution_risk.months_to_raise") + 1
    got = {ws.cell(r, 1).value: ws.cell(r, col) for r in range(2, ws.max_row + 1)}
    assert got["AAA"].value == 7.5 and got["AAA"].number_format == MONTHS
    assert got["CCC"].value is None  # unknown stays empty, never zero
    assert ws.cell(2, header.index("dilution_risk.funding_gap_usd") + 1).number_format == USD_M


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
        header = [c.value for c in ws[1]]
        cells = {ws.cell(r, 1).value: ws.cell(r, header.index("exposure") + 1) for r in range(2, ws.max_row + 1)}
        assert cells["AAA"].value == 0.9 and cells["AAA"].number_format == PERCENT, sheet
        assert cells["BBB"].value is None, sheet  # unknown stays empty
        backing = {ws.cell(r, 1).value: ws.cell(r, header.index("government_backing") + 1).value for r in (2, 3)}
        assert backing["AAA"] == "EXIM (non-binding)", sheet
