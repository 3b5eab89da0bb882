"""The documentation holds together: every relative link reaches a file (and a heading), and the README stays a
front door that a fresh machine can follow, with the reference in docs/."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(
    [ROOT / "README.md", ROOT / "METHODOLOGY.md", ROOT / "benchmarks" / "README.md", *ROOT.glob("docs/*.md")]
)

#: The two commands a new user copies; CI runs the second one. A change here is a change to the front door.
SET_UP = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && screener demo",
    'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]" && python -m pytest -n 2',
)


def _prose(text: str) -> str:
    """The page without code fences and inline code, where ``[x](y)`` is an example, not a link."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", text)


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered."""
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)
    seen: dict[str, int] = {}
    out = set()
    for title in re.findall(r"^#+ (.*)$", text, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def _links(page: Path) -> list[str]:
    return re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", _prose(page.read_text(encoding="utf-8")))


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for link in _links(page):
        if re.match(r"^[a-z]+:", link):
            continue  # http(s), mailto: not checked offline
        target_text, _, anchor = link.partition("#")
        target = (page.parent / target_text).resolve() if target_text else page
        if not target.is_file() or ROOT not in target.parents:
            broken.append(f"{link} (no file {target_text})")
        elif anchor and anchor not in _anchors(target):
            broken.append(f"{link} (no heading #{anchor} in {target.relative_to(ROOT)})")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {'; '.join(broken)}"


def test_the_anchor_rule_matches_github() -> None:
    # the check above is only as good as its slugs: pin them on headings of the kinds the docs use
    page = ROOT / "docs" / "cli.md"
    anchors = _anchors(page)
    assert {"the-store", "live-data-and-validation", "scores"} <= anchors
    assert "screener-watchlist-runs---format-" in anchors


def test_every_docs_page_is_linked_from_the_readme() -> None:
    links = set(_links(ROOT / "README.md"))
    missing = [p.name for p in sorted(ROOT.glob("docs/*.md")) if f"docs/{p.name}" not in links]
    assert not missing, f"README.md does not link to: {', '.join(missing)}"


def test_readme_is_a_front_door() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for command in SET_UP:
        assert f"```bash\n{command}\n```" in text, f"README.md lost the set-up command {command!r}"
    reference = re.findall(r"^#+ `screener .*$", text, flags=re.MULTILINE)
    assert not reference, f"command reference belongs in docs/cli.md, not README.md: {reference}"
    assert len(text) < 8000, f"README.md is {len(text)} characters: move reference material into docs/"


#: File suffixes that make a dotted word a file name (``screener.duckdb``, ``factors.md``), not a Python name.
_FILE_SUFFIXES = {"duckdb", "md", "toml", "csv", "xlsx", "py", "json", "parquet"}


def _python_names(text: str) -> set[str]:
    """Dotted names of the project's packages in inline code and ``from ... import ...`` lines of the docs."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    spans = " ".join(re.findall(r"`[^`]+`", prose))
    names = {
        name
        for name in re.findall(r"\b((?:screener|factors|rules)(?:\.[A-Za-z_]\w*)+)", spans)
        if name.rsplit(".", 1)[1] not in _FILE_SUFFIXES
    }
    for module, imported in re.findall(r"^from ((?:screener|factors|rules)[\w.]*) import ([\w, ]+)$", text, re.M):
        names.update(f"{module}.{name.strip()}" for name in imported.split(","))
    return names


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_python_names_and_source_paths_in_the_docs_exist(page: Path) -> None:
    # the docs name modules, functions and files; a rename that forgets the docs fails here, not in a reader's hands
    text = page.read_text(encoding="utf-8")
    unknown = sorted(name for name in _python_names(text) if not _resolves(name))
    assert not unknown, f"{page.relative_to(ROOT)} names Python objects that do not exist: {', '.join(unknown)}"
    paths = set(re.findall(r"`((?:screener|factors|rules|data|benchmarks)/[\w./-]*\.(?:py|csv|toml|md))`", text))
    missing = sorted(p for p in paths if not (ROOT / p).is_file())
    assert not missing, f"{page.relative_to(ROOT)} names files that do not exist: {', '.join(missing)}"
