"""balance_sheet: net cash over market cap and debt over equity; unreadable balance sheets count as the worst."""

from __future__ import annotations

import numpy as np
import pytest

from factors.engine import compute_scores
from factors.registry import get_factor
from tests.builders import AS_OF, company, daily, inputs, quarterly, row

SPEC = get_factor("balance_sheet")
P = SPEC.params


def _case(extra: list | None = None):
    specs = {  # symbol: (cash, debt, equity), shares 100 at price 2 -> market cap 200
        "A": (300.0, 100.0, 400.0),
        "B": (50.0, 150.0, 100.0),
        "C": (20.0, 0.0, -10.0),
        "D": (10.0, 200.0, -5.0),
        "E": (100.0, 100.0, 1000.0),
    }
    comps = [company(s) for s in specs]
    funds = [
        quarterly(s, 4, cash=c, total_debt=d, total_equity=e, shares_outstanding=100.0)
        for s, (c, d, e) in specs.items()
    ]
    prices = [daily(s, close=2.0) for s in specs]
    for c, f, p in extra or []:
        comps.append(c)
        funds.append(f)
        prices.append(p)
    return comps, funds, prices


def test_hand_computed_components_and_value() -> None:
    comps, funds, prices = _case()
    out = compute_scores(inputs(comps, fundamentals=funds, prices=prices), AS_OF)
    ncm = {"A": 1.0, "B": -0.5, "C": 0.1, "D": -0.95, "E": 0.0}
    de = {"A": 0.25, "B": 1.5, "C": 0.0, "D": P["max_debt_to_equity"], "E": 0.1}  # C: no debt; D: negative equity
    for s in ncm:
        assert row(out, s)["balance_sheet.net_cash_to_mcap"] == pytest.approx(ncm[s], rel=1e-12)
        assert row(out, s)["balance_sheet.debt_to_equity"] == pytest.approx(de[s], rel=1e-12)
    syms = sorted(ncm)
    total = np.zeros(len(syms))
    for name, values in (("net_cash_to_mcap", ncm), ("debt_to_equity", de)):
        x = np.array([values[s] for s in syms])
        iqr = np.percentile(x, 75) - np.percentile(x, 25)
        z = SPEC.signs[name] * (x - np.median(x)) / iqr
        total += P["weights"][name] * np.clip(z, -P["clip"], P["clip"])
    got = [row(out, s)["balance_sheet"] for s in syms]
    assert got == pytest.approx(total.tolist(), rel=1e-9, abs=1e-12)
    assert row(out, "A")["balance_sheet_pct"] == 1.0 and row(out, "D")["balance_sheet_pct"] == 0.0


def test_unreadable_balance_sheet_takes_the_worst_observed_values() -> None:
    blank = (company("X"), quarterly("X", 4, shares_outstanding=100.0), daily("X", close=2.0))
    comps, funds, prices = _case([blank])
    out = compute_scores(inputs(comps, fundamentals=funds, prices=prices), AS_OF)
    x = row(out, "X")
    assert x["balance_sheet.net_cash_to_mcap"] is None and x["balance_sheet.debt_to_equity"] is None
    assert {"worst:balance_sheet.net_cash_to_mcap", "worst:balance_sheet.debt_to_equity"} <= set(x["flags"])
    # D has both the lowest net cash and the highest leverage, so X scores exactly like D
    assert x["balance_sheet"] == pytest.approx(row(out, "D")["balance_sheet"], rel=1e-12)
    assert x["balance_sheet_pct"] == row(out, "D")["balance_sheet_pct"]
