"""The hostile-input corpus for ``screen --where``: code, SQL, deep nesting, huge numbers, escape sequences.

An expression is parsed by the product's own small grammar, never by ``eval`` or SQL: none of these may run code,
write a file or take long, and each ends in exit 0 or one clean line with exit 1."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from screener.errors import MAX_LINE
from screener.output.terminal import CONTROL
from tests.builders import MARKET_END, scored_market_template

SENTINEL = "pwned-by-where"

CORPUS = {
    "python import": f"__import__('os').system('touch {SENTINEL}')",
    "python eval": f"eval(\"open('{SENTINEL}','w')\")",
    "attribute walk": "().__class__.__bases__[0].__subclasses__()",
    "lambda": "(lambda: 1)() > 0",
    "f-string": "f'{1}' == '1'",
    "SQL injection": "price_usd > 0; DROP TABLE companies; --",
    "SQL quote escape": "name = '' OR 1=1; COPY companies TO 'pwned-by-where'",
    "SQL function": f"read_csv('{SENTINEL}') is null",
    "shell substitution": f"$(touch {SENTINEL}) > 0",
    "parentheses 10,000 deep": "(" * 10_000 + "price_usd > 0" + ")" * 10_000,
    "a chain of 1,500 ands": " and ".join(["price_usd > 0"] * 1_500),
    "a chain of 2,000 nots": "not " * 2_000 + "price_usd > 0",
    "a million characters": "price_usd > " + "9" * 1_000_000,
    "a number of 400 digits": "price_usd > " + "9" * 400,
    "1e400": "price_usd > 1e400",
    "nan and inf": "price_usd > nan or price_usd < inf",
    "escape sequences": "name = '\x1b[2J\x1b]8;;http://evil\x07x'",
    "escape in a field name": "\x1b[2Jprice_usd > 0",
    "NUL byte": "price_usd > 0\x00",
    "bidi override": "name = '\u202eabc'",
    "unterminated string": "name = 'abc",
    "empty": "",
    "only spaces": "   ",
    "unknown field": "market_kap_usd > 0",
    "text compared to a number": "name > 5",
    "regex bomb": "name matches '(a+)+$'",
    "a valid expression": "price_usd > 0",
}


@pytest.fixture
def template(store_template) -> Path:
    """The small market with its scores for ``MARKET_END`` stored: each case spends its time on its expression,
    not on computing the same scores again (the filter reads stored and computed scores alike)."""
    return scored_market_template(store_template)


@pytest.mark.parametrize("expression", CORPUS.values(), ids=list(CORPUS))
def test_a_hostile_where_is_harmless(
    template: Path, db_path: Path, tmp_path: Path, invoke, monkeypatch: pytest.MonkeyPatch, expression: str
) -> None:
    shutil.copy(template, db_path)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    start = time.perf_counter()
    result = invoke("screen", "--as-of", MARKET_END.isoformat(), "--where", expression, "--format", "csv")
    assert time.perf_counter() - start < 20
    assert result.exit_code in (0, 1), result.stderr
    assert "Internal error" not in result.stderr and "Traceback" not in result.stderr
    for line in result.stderr.splitlines():
        assert len(line) <= MAX_LINE and CONTROL.search(line) is None, line[:120]
    assert list(work.iterdir()) == []  # no file written where the command ran
    assert not any(SENTINEL in p.name for p in tmp_path.rglob("*"))
    if result.exit_code == 1:
        assert result.stderr.strip().splitlines()[-1].startswith("Error: ")
        assert result.stdout == ""
