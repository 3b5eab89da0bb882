"""Library code never talks to the terminal: no ``print``, no click, no rich outside the CLI and the output layer.

Why a scan: a library function that prints (or draws a progress bar) writes into a caller's stdout, a notebook or a
pipe the caller did not offer, and nothing in a test of its results notices. Progress and warnings reach the caller
through callbacks instead; ``screener/cli/`` prints them, and ``screener/output/`` is the output layer that draws
tables and writes spreadsheets on purpose.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("screener", "factors", "rules")
#: The CLI and the output layer: the places meant to write to the terminal.
ALLOWED = ("screener/cli/", "screener/output/")
_TERMINAL_PACKAGES = {"click", "rich"}


def terminal_uses(source: str) -> list[str]:
    """Each place in ``source`` that imports click or rich or calls ``print``, as ``line: what``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [
                f"{node.lineno}: import {a.name}" for a in node.names if a.name.split(".")[0] in _TERMINAL_PACKAGES
            ]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in _TERMINAL_PACKAGES:
            found.append(f"{node.lineno}: from {node.module} import")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            found.append(f"{node.lineno}: print(...)")
    return sorted(found, key=lambda f: int(f.split(":")[0]))


def _modules() -> list[Path]:
    files = [p for d in SCANNED for p in sorted((ROOT / d).rglob("*.py"))]
    return [p for p in files if not p.relative_to(ROOT).as_posix().startswith(ALLOWED)]


def test_the_scan_sees_every_kind_of_terminal_use() -> None:
    source = (
        "import click\n"
        "from click import echo\n"
        "import rich.progress\n"
        "from rich.console import Console\n"
        "print('hello')\n"
        "def f():\n"
        "    from click import echo\n"
        "report.print()\n"
        "import clickhouse\n"
    )
    assert terminal_uses(source) == [
        "1: import click",
        "2: from click import",
        "3: import rich.progress",
        "4: from rich.console import",
        "5: print(...)",
        "7: from click import",
    ]


def test_the_scan_covers_the_library_and_spares_the_cli() -> None:
    modules = {p.relative_to(ROOT).as_posix() for p in _modules()}
    assert {
        "screener/intake/imports.py",
        "screener/intake/refresh.py",
        "factors/engine.py",
        "rules/engine.py",
    } <= modules
    assert not any(m.startswith(ALLOWED) for m in modules)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_library_modules_never_print_nor_import_click_or_rich(path: Path) -> None:
    assert terminal_uses(path.read_text(encoding="utf-8")) == []
