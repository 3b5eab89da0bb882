"""commodity_dependence: pure miners and explorers without contracted revenue depend on high prices."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import polars as pl
import pytest

from factors.engine import compute_scores
from factors.registry import get_factor
from tests.builders import AS_OF, company, inputs, row

P = get_factor("commodity_dependence").params
F = "commodity_dependence"


def offtake(sym: str, days: int = 0, **kw: Any) -> dict[str, Any]:
    """A binding offtake the company receives (it sells its product), unless ``kw`` says otherwise."""
    row = {"symbol": sym, "date": AS_OF - timedelta(days=days), "kind": "offtake", "direction": "receives"}
    return {**row, "binding": True, **kw}


def ev(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame([{"description": f"event {i}", **r} for i, r in enumerate(rows)], infer_schema_length=None)


def test_hand_computed_values() -> None:
    comps = [
        company("EXPL", roles="miner", stage="explorer"),
        company("OFFT", roles="miner", stage="producer"),
        company("OLDO", roles="miner", stage="producer"),
        company("FLOOR", roles="miner", stage="developer", gov_backing="dod_price_floor"),  # a tag is no contract
        company("INTG", roles="miner;processor", stage="producer"),
        company("TOLL", roles="chemicals_tolling", stage="developer"),
        company("PROC", roles="processor", stage="producer"),
        company("DOWN", roles="downstream_user", stage="producer"),
    ]
    rows = ev(
        offtake("OFFT"),
        offtake("OLDO", days=round(3 * 365.25)),
        offtake("FLOOR", counterparty_type="government", binding=False),  # a price-floor letter binds nobody
        {"symbol": "EXPL", "date": AS_OF - timedelta(days=5), "kind": "funding"},
        offtake("*"),
    )
    out = compute_scores(inputs(comps, events_=rows), AS_OF)
    relief = P["contract_relief"]
    old_credit = 0.5 ** (round(3 * 365.25) / 365.25 / 3.0)
    want = {
        "EXPL": (1.0, 1.0, 1.0, 1.0),
        "OFFT": (1.0, 0.0, 0.0, 0.7 * (1 - relief)),
        "OLDO": (1.0, 0.0, 1 - old_credit, 0.7 * (1 - relief * old_credit)),
        "FLOOR": (1.0, 0.5, 1.0, 0.7 + 0.15),
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


def _twins(rows_a: list[dict[str, Any]]) -> tuple[float, float]:
    """Two otherwise identical pure-miner developers; A has ``rows_a``, B nothing: (value A, value B)."""
    comps = [company(s, roles="miner", stage="developer") for s in ("A", "B")]
    out = compute_scores(inputs(comps, events_=ev(*rows_a) if rows_a else None), AS_OF)
    return row(out, "A")[F], row(out, "B")[F]


def test_binding_offtake_received_relieves_dependence() -> None:
    a, b = _twins([offtake("A")])
    assert a < b


@pytest.mark.parametrize(
    "kw",
    [{"direction": "pays"}, {"binding": False}, {"binding": None}, {"direction": None}],
    ids=["pays", "non_binding", "binding_unknown", "direction_unknown"],
)
def test_offtake_that_binds_no_buyer_of_the_company_gives_no_relief(kw: dict[str, Any]) -> None:
    a, b = _twins([offtake("A", **kw)])
    assert a == b


def test_contract_tags_are_not_an_input() -> None:
    comps = [company("A", roles="miner", gov_backing="dod_price_floor;dod_offtake"), company("B", roles="miner")]
    out = compute_scores(inputs(comps), AS_OF)
    assert row(out, "A")[F] == row(out, "B")[F]
    assert "gov_backing" not in get_factor(F).needs
