"""commodity_dependence: pure miners and explorers without contracted revenue depend on high prices."""

from __future__ import annotations

from datetime import timedelta

import pytest

from factors.engine import compute_scores
from factors.registry import get_factor
from tests.builders import AS_OF, company, events, inputs, row

P = get_factor("commodity_dependence").params


def test_hand_computed_values() -> None:
    comps = [
        company("EXPL", roles="miner", stage="explorer"),
        company("OFFT", roles="miner", stage="producer"),
        company("OLDO", roles="miner", stage="producer"),
        company("FLOOR", roles="miner", stage="developer", gov_backing="dod_price_floor"),
        company("INTG", roles="miner;processor", stage="producer"),
        company("TOLL", roles="chemicals_tolling", stage="developer"),
        company("PROC", roles="processor", stage="producer"),
        company("DOWN", roles="downstream_user", stage="producer"),
    ]
    ev = events(
        {"symbol": "OFFT", "date": AS_OF, "kind": "offtake"},
        {"symbol": "OLDO", "date": AS_OF - timedelta(days=round(3 * 365.25)), "kind": "offtake"},
        {"symbol": "EXPL", "date": AS_OF - timedelta(days=5), "kind": "funding"},
        {"symbol": "*", "date": AS_OF, "kind": "offtake"},
    )
    out = compute_scores(inputs(comps, events_=ev), AS_OF)
    relief = P["contract_relief"]
    old_credit = 0.5 ** (round(3 * 365.25) / 365.25 / 3.0)
    want = {
        "EXPL": (1.0, 1.0, 1.0, 1.0),
        "OFFT": (1.0, 0.0, 0.0, 0.7 * (1 - relief)),
        "OLDO": (1.0, 0.0, 1 - old_credit, 0.7 * (1 - relief * old_credit)),
        "FLOOR": (1.0, 0.5, 0.0, (0.7 + 0.15) * (1 - relief)),
        "INTG": (0.5, 0.0, 1.0, 0.35),
        "TOLL": (0.0, 0.5, 0.0, 0.15 * (1 - relief)),
        "PROC": (0.0, 0.0, 1.0, 0.0),
        "DOWN": (0.0, 0.0, 1.0, 0.0),
    }
    for sym, (pm, st, unc, value) in want.items():
        r = row(out, sym)
        assert r["commodity_dependence.pure_miner"] == pm, sym
        assert r["commodity_dependence.stage_exposure"] == st, sym
        assert r["commodity_dependence.uncontracted"] == pytest.approx(unc, rel=1e-12), sym
        assert r["commodity_dependence"] == pytest.approx(value, rel=1e-12, abs=1e-15), sym
    assert row(out, "EXPL")["commodity_dependence_pct"] == 1.0
    assert row(out, "PROC")["commodity_dependence_pct"] == row(out, "DOWN")["commodity_dependence_pct"]
