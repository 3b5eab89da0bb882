"""The report page and its file: one self-contained HTML document, written atomically, missing values marked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from screener.errors import ScreenerError
from screener.report.data import assemble
from screener.report.page import DEMO_TEXT, render_page, write_report
from tests.screener.report._store import built


@pytest.fixture
def ids(store, tmp_path: Path, store_template) -> dict[str, int]:
    return built(store, tmp_path, store_template)


def test_the_page_is_self_contained(store, ids) -> None:
    html = render_page(assemble(store, str(ids["w1"]), None, str(ids["bt"])))
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html and "<link" not in html and "<img" not in html and "@import" not in html
    # no attribute points anywhere: SVG namespaces are names, not requests
    assert not re.findall(r"(?:src|href)\s*=\s*\"(?!#)", html)
    assert not re.findall(r"url\((?!#)", html)  # only references to the page's own gradients and clip paths
    assert "@page { size: landscape;" in html  # the printer's paper decides: A4 or Letter
    charts = re.findall(r'<figure class="chart" data-chart="(\w+)"><svg', html)
    assert charts == ["ranked", "changes", "history", "roles", "capacity", "dilution", "equity", "ic"]
    assert "<?xml" not in html
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))  # two charts never share an element id


def test_missing_data_is_listed_as_missing(store, ids) -> None:
    html = render_page(assemble(store, None, "wk"))
    # C has no cash runway and E no share growth: both listed as missing under the dilution map
    dilution = html[html.index('id="dilution"') :]
    assert re.search(r"<td>C</td>\s*<td>C Corp</td>\s*<td>no</td>\s*<td>cash runway</td>", dilution)
    assert re.search(r"<td>E</td>\s*<td>E Corp</td>\s*<td>no</td>\s*<td>share growth</td>", dilution)
    assert "1 project with no stated tonnage not summed (missing, not zero)." in html


def test_a_first_run_says_there_is_nothing_to_compare(store, ids) -> None:
    html = render_page(assemble(store, str(ids["w0"]), None))
    assert "First run of these rules: no earlier run to compare with." in html
    assert 'data-chart="changes"' not in html
    assert 'data-chart="equity"' not in html  # no backtest given


def test_demo_banner_only_on_demo_data(store, ids) -> None:
    data = assemble(store, None, "wk")
    assert DEMO_TEXT not in render_page(data)
    data.run.demo = True
    assert DEMO_TEXT in render_page(data)


def test_the_same_run_gives_the_same_file(store, ids, tmp_path: Path) -> None:
    a, _ = write_report(store, tmp_path / "a.html", ref=str(ids["w2"]), backtest=str(ids["bt"]))
    b, _ = write_report(store, tmp_path / "b.html", ref=str(ids["w2"]), backtest=str(ids["bt"]))
    assert a.read_bytes() == b.read_bytes()


def test_a_failed_report_leaves_the_old_file(store, ids, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    out.write_text("previous report")
    with pytest.raises(ScreenerError, match="no watchlist run 99"):
        write_report(store, out, ref="99")
    assert out.read_text() == "previous report"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".r.html")] == []
    with pytest.raises(ScreenerError, match="does not exist"):
        write_report(store, tmp_path / "nowhere" / "r.html")


def test_a_long_list_is_drawn_in_parts_on_one_rank_scale(store, ids, monkeypatch) -> None:
    import screener.report.page as page

    monkeypatch.setattr(page, "PER_CHART", 2)
    html = render_page(assemble(store, None, "wk"))  # three members: parts of two and one
    assert re.findall(r'data-chart="(ranked|history)"', html) == ["ranked", "ranked", "history", "history"]
    ids_ = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids_) == len(set(ids_))


def test_rank_history_titles_carry_the_rank_of_the_newest_run() -> None:
    """A rerun in the same week keeps its older run id: the newest run is the latest as-of date, not the top id."""
    from datetime import date

    import polars as pl

    from screener.report.charts import rank_history_chart

    history = pl.DataFrame(
        {
            "run_id": [2, 2, 1, 1],  # run 1 was rerun this week, after run 2 was stored for last week
            "as_of": [date(2026, 5, 29), date(2026, 5, 29), date(2026, 6, 5), date(2026, 6, 5)],
            "iso_week": ["2026-W22", "2026-W22", "2026-W23", "2026-W23"],
            "symbol": ["A", "B", "A", "B"],
            "rank": [2, 1, 1, 2],
        }
    )
    spec = rank_history_chart(history, ["A", "B"]).to_dict()
    assert spec["facet"]["sort"] == ["1. A", "2. B"]
    rows = next(iter(spec["datasets"].values()))
    assert {r["symbol"]: r["member"] for r in rows} == {"A": "1. A", "B": "2. B"}


def _history(ranks: dict[str, list[int | None]]):
    from datetime import date, timedelta

    import polars as pl

    days = [date(2026, 5, 1) + timedelta(weeks=i) for i in range(5)]
    return pl.DataFrame(
        {
            "run_id": list(range(1, 6)) * len(ranks),
            "as_of": days * len(ranks),
            "iso_week": ["w"] * 5 * len(ranks),
            "symbol": [s for s in ranks for _ in range(5)],
            "rank": [r for rs in ranks.values() for r in rs],
        },
        schema_overrides={"rank": pl.Int64},
    )


def test_rank_history_breaks_the_line_where_the_company_was_out() -> None:
    """The line must not join the runs on either side of a gap, and every run stays on the axis."""
    from screener.report.charts import rank_history_chart, to_svg

    svg = to_svg(rank_history_chart(_history({"A": [1, 2, None, 2, 3], "B": [None, None, None, 1, 1]}), ["A", "B"]))
    lines = re.findall(r'aria-roledescription="line mark" d="([^"]*)"', svg)
    assert len(lines) == 2
    a, b = lines
    assert a.count("M") == 2 and a.count("L") == 2  # two pieces: runs 1-2 and runs 4-5
    assert b.count("M") == 1 and b.count("L") == 1  # B's line starts at run 4
    # no point is drawn for a run out of the list
    assert len(re.findall(r'aria-roledescription="point"', svg)) == 4 + 2
    # every run is on the axis of every panel, also the runs in which no company of the part was a member
    only_b = to_svg(rank_history_chart(_history({"B": [None, None, None, 1, 1]}), ["B"]))
    assert all(f">2026-05-{d:02d}</text>" in only_b for d in (1, 8, 15, 22, 29))


def test_a_filled_input_is_marked_in_the_bars_and_the_table(store, ids) -> None:
    import polars as pl

    from tests.screener.report._store import FILLED_B

    html = render_page(assemble(store, None, "wk"))
    ranked = html[html.index('id="ranked"') : html.index('id="changes"')]
    bars = re.findall(r'<path aria-label="([^"]*)" role="graphics-symbol" aria-roledescription="bar"([^>]*)>', ranked)
    dashed = [label for label, attrs in bars if "stroke-dasharray" in attrs and 'opacity="0.35"' in attrs]
    assert len(dashed) == 1 and "B" in dashed[0] and "dilution_risk" in dashed[0]
    assert ">rests on a filled input</text>" in ranked  # the legend says what the pale part is
    assert re.search(rf"<td>B</td>.*?<td>{re.escape(FILLED_B)}</td>", ranked, re.S)
    assert "A pale, dash-outlined part rests on an input" in ranked and "<th>filled inputs</th>" in ranked
    # with no filled input, neither the column nor the note is there
    data = assemble(store, None, "wk")
    data.members = data.members.with_columns(pl.lit([], dtype=pl.List(pl.String)).alias("flags"))
    data.contributions = data.contributions.with_columns(pl.lit(None, dtype=pl.String).alias("filled"))
    plain = render_page(data)
    assert "<th>filled inputs</th>" not in plain and "dash-outlined" not in plain


def test_labels_read_at_one_precision_and_with_years(store, ids) -> None:
    html = render_page(assemble(store, str(ids["w2"]), None, str(ids["bt"])))
    ic = html[html.index('id="ic"') :]
    # the builder's mean ICs are 0.02 steps plus 0.005 per horizon: 0.020 keeps its trailing zero
    cells = re.findall(r'aria-roledescription="text mark"[^>]*>([^<]*)</text>', ic)
    assert "0.020" in cells and "0.025" in cells
    assert all(re.fullmatch(r"-?\d\.\d{3}|n/a", c) for c in cells), cells
    equity = html[html.index('id="equity"') : html.index('id="ic"')]
    assert re.search(r">(Jan|Feb|Mar|Apr|May|Jun|Jul) 2025</text>", equity)


def test_notes_stay_with_their_chart(store, ids) -> None:
    html = render_page(assemble(store, None, "wk"))
    capacity = html[html.index('id="capacity"') : html.index('id="dilution"')]
    # the chart and both notes inside the one block that is never cut across pages
    assert re.search(
        r'<div class="keep">\s*<h2>[^<]*</h2>\s*<figure class="chart" data-chart="capacity">.*?</figure>\s*'
        r'<p class="note">[^<]*</p>\s*<p class="note">1 project with no stated tonnage[^<]*</p>\s*</div>',
        capacity,
        re.S,
    )
