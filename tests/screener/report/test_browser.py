"""The report opened in a real browser (the system's headless Chromium): every chart drew marks, nothing was fetched
from the network, the page is not blank, and it prints to A4 and Letter landscape with no chart cut or too wide.

Skipped only when no Chromium is installed (``.ci/run`` installs the Debian package).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from pathlib import Path

import pytest

from screener.report.page import write_report
from tests.screener.report._store import built


def _chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


CHROMIUM = _chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on PATH (apt-get install chromium)")

#: The charts a report with changes and a backtest draws, by the ``data-chart`` key of their figure.
CHARTS = {"ranked", "changes", "history", "roles", "capacity", "dilution", "equity", "ic"}
#: JavaScript: per chart, how many mark elements (the children of Vega's ``role-mark`` groups) have a non-empty box.
COUNT_MARKS = """
() => Array.from(document.querySelectorAll('figure.chart')).map(fig => {
  const marks = Array.from(fig.querySelectorAll('svg g.role-mark > *'));
  const drawn = marks.filter(m => { const b = m.getBBox(); return b.width > 0 || b.height > 0; });
  const box = fig.querySelector('svg').getBoundingClientRect();
  return {key: fig.dataset.chart, marks: marks.length, drawn: drawn.length, width: box.width, height: box.height};
})
"""
#: JavaScript: the variance of the grey level of a PNG (given as a data URL), drawn into a canvas.
PIXEL_VARIANCE = """
async (url) => {
  const img = new Image();
  img.src = url;
  await img.decode();
  const c = document.createElement('canvas');
  c.width = img.width; c.height = img.height;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  let n = 0, sum = 0, sq = 0;
  for (let i = 0; i < d.length; i += 4) {
    const g = (d[i] + d[i + 1] + d[i + 2]) / 3;
    n += 1; sum += g; sq += g * g;
  }
  const mean = sum / n;
  return {variance: sq / n - mean * mean, width: c.width, height: c.height};
}
"""
#: The template's page margin (``@page``), in millimetres.
MARGIN_MM = 12
#: The papers the report must print on: name, (long side, short side) in mm, the landscape PDF page in points.
PAPERS = (("A4", (297, 210), (842, 595)), ("Letter", (279.4, 215.9), (792, 612)))


@pytest.fixture
def report_file(store, tmp_path: Path, store_template) -> Path:
    ids = built(store, tmp_path, store_template)
    out, _ = write_report(store, tmp_path / "report.html", ref=str(ids["w1"]), backtest=str(ids["bt"]))
    return out


def test_the_report_renders_offline_in_chromium(report_file: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    url = report_file.resolve().as_uri()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(url, wait_until="load")
            page.wait_for_load_state("networkidle")
            assert requests == [url], f"the page made requests besides its own file: {requests}"

            charts = page.evaluate(COUNT_MARKS)
            assert {c["key"] for c in charts} == CHARTS
            for c in charts:
                assert c["drawn"] > 0, f"chart {c['key']} drew no marks: {c}"
                assert c["width"] > 100 and c["height"] > 50, f"chart {c['key']} is too small: {c}"
            assert page.locator(".demo").count() == 0  # the test store holds no demo data

            shot = page.screenshot(full_page=True)
            (tmp_path / "report.png").write_bytes(shot)

            # printed on A4 and on Letter, landscape: no chart taller or wider than the page's printable area (so
            # break-inside: avoid can keep it whole), and the page follows the paper (the CSS names no size)
            page.emulate_media(media="print")
            for paper, (long_mm, short_mm), points in PAPERS:
                printable_w = (long_mm - 2 * MARGIN_MM) / 25.4 * 96
                printable_h = (short_mm - 2 * MARGIN_MM) / 25.4 * 96
                page.set_viewport_size({"width": int(printable_w), "height": 700})
                for c in page.evaluate(COUNT_MARKS):
                    assert c["height"] < printable_h, f"chart {c['key']} is taller than a printed {paper} page"
                    assert c["width"] <= printable_w, f"chart {c['key']} is wider than a printed {paper} page"
                # the CSS page size is honoured: it names no paper, so the paper asked for is the one printed
                pdf = page.pdf(format=paper, landscape=True, print_background=True, prefer_css_page_size=True)
                assert pdf.startswith(b"%PDF")
                assert len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf)) >= 2  # the report runs over several pages
                boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
                # Chromium rounds the page to whole CSS pixels: within 2 points of the paper's size
                fits = [abs(float(w) - points[0]) < 2 and abs(float(h) - points[1]) < 2 for w, h in boxes]
                assert boxes and all(fits), (paper, boxes)

            # the screenshot is a picture, not a blank page: its grey levels vary
            blank = browser.new_page()
            stats = blank.evaluate(PIXEL_VARIANCE, "data:image/png;base64," + base64.b64encode(shot).decode())
            assert stats["height"] > 900
            assert stats["variance"] > 100, f"the screenshot looks blank: {stats}"
        finally:
            browser.close()


def test_a_blank_page_fails_the_variance_check(tmp_path: Path) -> None:
    """The blank-page check can fail: a white page has no variance."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 400, "height": 300})
            page.set_content("<html><body style='background:white'></body></html>")
            shot = page.screenshot()
            stats = page.evaluate(PIXEL_VARIANCE, "data:image/png;base64," + base64.b64encode(shot).decode())
            assert stats["variance"] < 1
        finally:
            browser.close()
