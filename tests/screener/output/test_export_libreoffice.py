"""The demo workbook and csv as LibreOffice reads them: printed to PDF (a handful of A4 landscape pages, not 65
portrait ones) and a csv export imported back with its arrows and accents intact.

One demo runs for the module (on a fixed end date, never today's), so the two-run demo and its Changes sheet are
checked on the real thing. The conversions need LibreOffice (``soffice``); without it those tests are skipped.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from screener.store import Store

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
needs_soffice = pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed")
#: A Friday: the demo's data ends here and its two runs are as of this day and the Friday before.
DEMO_END = date(2026, 6, 5)
#: The most pages the demo workbook may print to (Watchlist 1, Charts 1, Changes 1, Universe 3, Methodology 3, and
#: Factors 9: three pages of twenty readable columns across, three down); the 65 portrait pages it printed before,
#: and the Factors sheet shrunk to one unreadable page, were the bugs.
MAX_PAGES = 22
A4_LANDSCAPE = (841.89, 595.28)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """Run ``screener demo`` once on a fixed end date; returns (store, workbook, stderr)."""
    from screener.cli import cli

    folder = tmp_path_factory.mktemp("demo")
    db, book = folder / "demo.duckdb", folder / "demo.xlsx"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("screener.providers.demo.default_end", lambda today=None: DEMO_END)
        res = CliRunner().invoke(
            cli, ["--db", str(db), "demo", "--export", str(book), "--format", "csv"], catch_exceptions=False
        )
    assert res.exit_code == 0, res.stderr
    return db, book, res.stderr


def soffice(src: Path, to: str, out: Path, *, infilter: str | None = None) -> Path:
    """Convert ``src`` with headless LibreOffice into folder ``out`` (its own profile, so a LibreOffice already
    running elsewhere cannot swallow the request); returns the converted file."""
    assert SOFFICE is not None
    out.mkdir(exist_ok=True)
    cmd = [SOFFICE, f"-env:UserInstallation={(out / 'profile').as_uri()}", "--headless", "--norestore"]
    if infilter:
        cmd.append(f"--infilter={infilter}")
    cmd += ["--convert-to", to, "--outdir", str(out), str(src)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=180)
    result = out / f"{src.stem}.{to.split(':')[0]}"
    assert result.exists(), f"LibreOffice wrote no {result.name}"
    return result


def pdf_pages(pdf: Path) -> tuple[int, list[tuple[float, float]]]:
    """The number of pages of ``pdf`` and every page size it declares, in points (LibreOffice writes the page
    objects and their MediaBox as plain text; the page tree may declare one more, its default)."""
    data = pdf.read_bytes()
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    pages = len(re.findall(rb"/Type\s*/Page\b(?!s)", data))
    assert len(boxes) >= pages, "a page without a size"
    return pages, [(float(w), float(h)) for w, h in boxes]


def test_demo_stores_two_runs_a_week_apart_on_its_own_dates(demo: tuple[Path, Path, str]) -> None:
    db, book, stderr = demo
    with Store(db) as st:
        runs = st.query("SELECT as_of, rules_name FROM watchlist_runs ORDER BY as_of").rows()
    assert runs == [(date(2026, 5, 29), "default"), (DEMO_END, "default")]
    assert "run 1: default, 2026-W22, as of 2026-05-29 (stored; the week before)" in stderr
    assert "run 2: default, 2026-W23, as of 2026-06-05" in stderr
    changes = openpyxl.load_workbook(book)["Changes"]
    top = openpyxl.utils.cell.coordinate_to_tuple(changes.freeze_panes)[0]
    header = [c.value for c in changes[top - 1]]
    rows = [dict(zip(header, r, strict=True)) for r in changes.iter_rows(min_row=top, values_only=True)]
    assert rows, "the demo's Changes sheet shows the attribution on first use"
    assert all(r["text"].startswith(r["change"] + ":") for r in rows)


def test_demo_workbook_opens_on_a_titled_demo_watchlist(demo: tuple[Path, Path, str]) -> None:
    _, book, _ = demo
    wb = openpyxl.load_workbook(book)
    ws = wb["Watchlist"]
    assert wb.active.title == "Watchlist"
    assert ws.cell(1, 1).value == "Watchlist: default rules, as of 2026-06-05 (ISO week 2026-W23)"
    assert ws.cell(2, 1).value.startswith("DEMO DATA")
    assert any((ws.cell(r, 1).value or "").startswith("Data freshness: prices ") for r in range(3, 7))


@needs_soffice
def test_demo_workbook_prints_to_a_handful_of_a4_landscape_pages(demo: tuple[Path, Path, str], tmp_path: Path) -> None:
    _, book, _ = demo
    pdf = soffice(book, "pdf", tmp_path / "pdf")
    count, sizes = pdf_pages(pdf)
    assert 6 <= count <= MAX_PAGES, count  # at least one page per sheet, and no spill
    for w, h in sizes:
        assert w > h, "portrait page"
        assert (w, h) == pytest.approx(A4_LANDSCAPE, abs=1.0)
    pdftotext = shutil.which("pdftotext")
    if pdftotext:  # the first page is the titled watchlist, the second the charts
        first = subprocess.run([pdftotext, "-f", "1", "-l", "2", str(pdf), "-"], capture_output=True, text=True)
        text = first.stdout
        assert "Watchlist: default rules, as of 2026-06-05" in text and "DEMO DATA" in text
        assert "Charts: default rules" in text and "Factor contributions to the score" in text


@needs_soffice
def test_csv_export_keeps_arrows_and_accents_through_libreoffice(db_path: Path, tmp_path: Path, invoke) -> None:
    """The file starts with a UTF-8 byte-order mark, which LibreOffice's import dialog and Excel take as "this is
    UTF-8" (without it both read the bytes as a legacy code page and garble ``→``). Headless conversion shows no
    dialog, so it is given the charset the dialog picks on seeing the mark (76, UTF-8); the round trip checks that
    the mark does not leak into the first header and that every character comes back."""
    from tests.screener.output.test_export import make_run

    make_run(db_path, names={"AAA": "Société → Minière", "BBB": "Beta Magnets", "CCC": "Gamma"})
    out = tmp_path / "w.csv"
    assert invoke("export", str(out)).exit_code == 0
    assert out.read_bytes().startswith(b"\xef\xbb\xbfrank,")
    book = soffice(out, "xlsx", tmp_path / "lo", infilter="CSV Text - txt - csv (StarCalc):44,34,76")
    ws = openpyxl.load_workbook(book).active
    header = [c.value for c in ws[1]]
    assert header[:3] == ["rank", "symbol", "name"]
    got = [dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)]
    assert {r["symbol"]: r["name"] for r in got}["AAA"] == "Société → Minière"
    shown = json.loads(invoke("watchlist", "show", "--format", "json").stdout)
    assert [r["reason"] for r in got] == [r["reason"] for r in shown]
