"""One intake funnel: every write of a contract kind goes through ``screener.intake``, under an explicit policy.

Why a scan: a loader that writes with ``Store.upsert_real`` itself skips the validation suites and the ledger, and
nothing at run time notices; so the rule is checked on the source. The only store writers of contract kinds a module
outside ``screener/intake/__init__.py`` and ``screener/store/`` may call are inside a function it hands to ``admit`` or
``intake`` as ``write=`` (``init`` keeps user-owned rows its own way, after the same validation).
"""

from __future__ import annotations

import ast
from datetime import date

import polars as pl
import pytest

from screener.intake import Refused, check, intake
from tests.builders import ROOT

SCANNED = ("screener", "factors", "rules")
FUNNEL = ROOT / "screener" / "intake" / "__init__.py"
STORE = ROOT / "screener" / "store"
#: Store methods that write rows of a contract kind.
_WRITERS = {"upsert_real", "upsert", "write_bundled_companies", "write_bundled_events"}
_FUNNEL_CALLS = {"admit", "intake"}
TODAY = date(2024, 2, 1)


def unvalidated_writes(source: str) -> list[str]:
    """Each call in ``source`` to a contract-kind writer that is not inside a function passed as ``write=`` to
    ``admit``/``intake``, as ``line: .method(...)``."""
    tree = ast.parse(source)
    handed: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if name in _FUNNEL_CALLS:
                handed |= {kw.value.id for kw in node.keywords if kw.arg == "write" and isinstance(kw.value, ast.Name)}
    allowed: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in handed:
            allowed |= {id(n) for n in ast.walk(node)}
    return sorted(
        (
            f"{node.lineno}: .{node.func.attr}(...)"
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _WRITERS
            and id(node) not in allowed
        ),
        key=lambda f: int(f.split(":")[0]),
    )


def test_the_scan_sees_a_direct_write_and_allows_a_handed_writer() -> None:
    source = (
        "def _write_real(run, kind, frame):\n"
        "    return run.store.upsert_real(kind, frame, 'yahoo')\n"
        "store.upsert('prices', frame, 'x')\n"
        "def write_companies(frame):\n"
        "    return store.write_bundled_companies(frame, 'bundled', stamp)\n"
        "admit(store, checked, 'bundled', write=write_companies)\n"
        "def helper(frame):\n"
        "    return store.write_bundled_events(frame, 'bundled', stamp)\n"
    )
    assert unvalidated_writes(source) == ["2: .upsert_real(...)", "3: .upsert(...)", "8: .write_bundled_events(...)"]


def test_no_module_writes_a_contract_kind_around_the_intake() -> None:
    files = [p for d in SCANNED for p in sorted((ROOT / d).rglob("*.py"))]
    scanned = [p for p in files if p != FUNNEL and STORE not in p.parents]
    assert any(p.name == "refresh.py" for p in scanned)
    offenders = {
        str(p.relative_to(ROOT)): found for p in scanned if (found := unvalidated_writes(p.read_text(encoding="utf-8")))
    }
    assert offenders == {}


def _prices() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "symbol": ["AAA", "AAA", "BBB"],
            "date": [date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 2)],
            "close": [10.0, -1.0, 5.0],
            "volume": [100.0, 100.0, 50.0],
        }
    )


def test_refuse_raises_every_failure_and_stores_nothing(store) -> None:
    with pytest.raises(Refused) as caught:
        intake(store, "prices", _prices(), "file", source="prices.csv", today=TODAY, policy="refuse")
    assert len(caught.value.failures) == 1
    assert "prices.csv, row 3, column close" in caught.value.failures[0]
    assert store.frame("prices").height == 0
    assert store.rejected_rows().height == 0


def test_quarantine_stores_the_passing_rows_and_records_the_rest(store) -> None:
    done = intake(store, "prices", _prices(), "file", source="prices.csv", today=TODAY, policy="quarantine")
    assert (done.stored, done.rejected) == (2, 1)
    assert sorted(store.frame("prices")["close"].to_list()) == [5.0, 10.0]
    ledger = store.rejected_rows()
    assert ledger.select("source", "kind", "column_name").rows() == [("prices.csv", "prices", "close")]


def test_an_unknown_policy_is_refused_before_anything_is_stored(store) -> None:
    with pytest.raises(ValueError, match="policy"):
        intake(store, "prices", _prices(), "file", source="prices.csv", today=TODAY, policy="skip")  # type: ignore[arg-type]
    assert store.frame("prices").height == 0


def test_a_part_of_a_checked_batch_keeps_its_own_failures_renumbered() -> None:
    batch = check("prices", _prices(), "yahoo", today=TODAY)
    aaa = batch.part(pl.col("symbol") == "AAA", "yahoo:AAA")
    bbb = batch.part(pl.col("symbol") == "BBB", "yahoo:BBB")
    assert (aaa.frame.height, aaa.rejected, aaa.passing["close"].to_list()) == (2, 1, [10.0])
    assert aaa.failures.select("source", "row").rows() == [("yahoo:AAA", 3)]
    assert (bbb.frame.height, bbb.rejected, bbb.failures.height) == (1, 0, 0)
