"""A change caused by a missing-value fill says so: a filled value moves a percentile as far as a real collapse."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from screener.store import Store
from screener.watchlist.attribution import fill_clause
from screener.watchlist.runs import run_weekly
from tests.builders import company, ensure_factors, score_frame

ensure_factors()

WEEK1 = date(2026, 6, 5)
WEEK2 = date(2026, 6, 12)
RULES = """
name = "bs"
[weights]
balance_sheet = 0.7
localization_premium = 0.3
[constraints]
top_n = 3
"""
BOOKS = {"cash_usd": 2e8, "total_debt_usd": 1e8, "total_equity_usd": 5e8, "market_cap_usd": 1e9}


def _rows(b: dict) -> list[dict]:
    bs = {"A": 0.9, "B": 0.8, "C": 0.7, "D": 0.6, "E": 0.5}
    rows = [company(s, balance_sheet=v, localization_premium=0.5, **BOOKS) for s, v in bs.items()]
    return [dict(r, **b) if r["symbol"] == "B" else r for r in rows]


@pytest.fixture
def bs_store(store: Store) -> Store:
    syms = ["A", "B", "C", "D", "E"]
    store.upsert(
        "companies",
        pl.DataFrame(
            {
                "symbol": syms,
                "name": [f"{s} Corp" for s in syms],
                "country": ["US"] * 5,
                "currency": ["USD"] * 5,
                "roles": ["processor"] * 5,
                "stage": ["producer"] * 5,
            }
        ),
        provider="file",
    )
    return store


def test_an_exit_caused_by_a_worst_fill_names_the_missing_inputs_and_the_fill(bs_store: Store, tmp_path: Path) -> None:
    p = tmp_path / "bs.toml"
    p.write_text(RULES)
    run_weekly(bs_store, p, WEEK1, scores=score_frame(_rows({}), WEEK1))
    # B's debt and equity are no longer reported: the engine fills debt_to_equity with the worst value and flags it
    gone = {
        "balance_sheet": 0.1,
        "total_debt_usd": None,
        "total_equity_usd": None,
        "flags": ["worst:balance_sheet.debt_to_equity"],
    }
    res = run_weekly(bs_store, p, WEEK2, scores=score_frame(_rows(gone), WEEK2))
    ch = {r["symbol"]: r for r in res.changes.iter_rows(named=True)}
    assert ch["B"]["change"] == "exited" and ch["B"]["factor"] == "balance_sheet"
    assert ch["B"]["text"].startswith(
        "exited: balance_sheet_pct_eligible 0.75 → 0.00, total debt and total equity now missing: worst-filled "
        "(score -0."
    )
    # the entrant moved because its peer's fill did; nothing of its own was filled
    assert all("missing" not in r["text"] for s, r in ch.items() if s != "B")
    # back the week after, measured again: the entry says the fill ended
    res3 = run_weekly(bs_store, p, date(2026, 6, 19), scores=score_frame(_rows({}), date(2026, 6, 19)))
    back = {r["symbol"]: r["text"] for r in res3.changes.iter_rows(named=True)}
    assert "total debt and total equity measured again (was worst-filled)" in back["B"]


def test_a_real_collapse_carries_no_fill_words(bs_store: Store, tmp_path: Path) -> None:
    p = tmp_path / "bs.toml"
    p.write_text(RULES)
    run_weekly(bs_store, p, WEEK1, scores=score_frame(_rows({}), WEEK1))
    res = run_weekly(bs_store, p, WEEK2, scores=score_frame(_rows({"balance_sheet": 0.1}), WEEK2))
    text = next(r["text"] for r in res.changes.iter_rows(named=True) if r["symbol"] == "B")
    assert text.startswith("exited: balance_sheet_pct_eligible 0.75 → 0.00 (score -0.")


def test_the_policy_and_inputs_come_from_the_factor_declarations() -> None:
    from factors.registry import FACTORS

    assert FACTORS["balance_sheet"].missing == "worst"
    before = {"flags": [], "_present.total_debt": True}
    after = {"flags": ["worst:balance_sheet.net_cash_to_mcap"], "_present.total_debt": False}
    assert fill_clause("balance_sheet", before, after) == "total debt now missing: worst-filled"
    # without the inputs to judge, the filled components are named
    assert fill_clause("balance_sheet", {"flags": []}, {"flags": ["worst:balance_sheet.net_cash_to_mcap"]}) == (
        "net_cash_to_mcap now missing: worst-filled"
    )
    neutral = next(f for f, spec in FACTORS.items() if spec.missing == "neutral")
    comp = FACTORS[neutral].components[0]
    assert fill_clause(neutral, {"flags": []}, {"flags": [f"neutral:{neutral}.{comp}"]}) == (
        f"{comp} now missing: median-filled"
    )
    assert fill_clause("balance_sheet", {"flags": ["stale"]}, {"flags": ["stale"]}) is None
    assert fill_clause("not_a_factor", {"flags": []}, {"flags": ["worst:x"]}) is None
