"""Reasons print numbers at the precision of the comparison they state: never "0.90 < 0.90" nor "USD 50m below
USD 50m". Each printed comparison is read back as numbers and must still hold."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.engine import _minimum, _pct_text, _share_text
from rules.explain import compared, read_number, usd_text
from rules.expr import compile_condition, namespace_for
from rules.why import number_text, why_false

NS = namespace_for(["liquidity", "balance_sheet"], ["liquidity.median_traded_value_usd"])
OPS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
NEGATED = {">=": "<", ">": "<=", "<=": ">", "<": ">="}
TEXTS: dict[str, Callable[[float, int], str]] = {
    "percentile": lambda v, e: number_text(v, "balance_sheet_pct", e),
    "rule number": lambda v, e: number_text(v, "", e),
    "usd": usd_text,
    "percent": _pct_text,
    "share": _share_text,
}
finite = st.floats(min_value=-1e13, max_value=1e13, allow_nan=False, allow_infinity=False)


def test_the_reported_contradictions_are_gone() -> None:
    def why(text: str, row: dict) -> str:
        return why_false(compile_condition(text, NS).node, row)[0]

    assert why("balance_sheet_pct >= 0.9", {"balance_sheet_pct": 0.8996}) == "balance_sheet_pct 0.8996 < 0.90"
    assert why("balance_sheet_pct <= 0.9", {"balance_sheet_pct": 0.9004}) == "balance_sheet_pct 0.9004 > 0.90"
    assert why("balance_sheet_pct < 0.9", {"balance_sheet_pct": 0.9}) == "balance_sheet_pct 0.90 >= 0.90"
    assert why("liquidity.median_traded_value_usd >= 100k", {"liquidity.median_traded_value_usd": 99_960.0}) == (
        "liquidity.median_traded_value_usd 99.96k < 100k"
    )
    # numbers that do not need more digits keep their usual form
    assert why("balance_sheet_pct >= 0.15", {"balance_sheet_pct": 0.12}) == "balance_sheet_pct 0.12 < 0.15"
    market_cap = _minimum("market_cap_usd", "market cap", 50e6, usd_text)
    assert market_cap({"market_cap_usd": 49.96e6}) == ("market cap USD 49.96m below USD 50m", None)
    assert market_cap({"market_cap_usd": 41.2e6}) == ("market cap USD 41.2m below USD 50m", None)
    completeness = _minimum("data_completeness", "data completeness", 0.4, _pct_text)
    assert completeness({"data_completeness": 0.399}) == ("data completeness 39.9% below 40%", None)


@pytest.mark.parametrize("kind", sorted(TEXTS))
@settings(max_examples=300, deadline=None)
@given(value=finite, threshold=finite, op=st.sampled_from(sorted(OPS)))
def test_a_printed_comparison_holds_when_read_back(kind: str, value: float, threshold: float, op: str) -> None:
    if not OPS[op](value, threshold):
        return  # a reason states only comparisons that hold
    left, right = compared(value, op, threshold, TEXTS[kind])
    assert OPS[op](read_number(left), read_number(right)), (left, op, right)


_DECIMAL = st.builds(
    lambda whole, frac: f"{whole}.{frac}" if frac else str(whole),
    st.integers(min_value=0, max_value=2_000_000),
    st.sampled_from(["", "0", "9", "15", "8996", "123456", "999999999"]),
)


@settings(max_examples=300, deadline=None)
@given(
    value=finite,
    threshold=_DECIMAL,
    op=st.sampled_from(sorted(NEGATED)),
    column=st.sampled_from(["balance_sheet_pct", "liquidity", "liquidity.median_traded_value_usd"]),
)
def test_a_failed_condition_reads_back_as_true(value: float, threshold: str, op: str, column: str) -> None:
    node = compile_condition(f"{column} {op} {threshold}", NS).node
    if OPS[op](value, float(threshold)):
        return  # the condition held: nothing to explain
    words, _ = why_false(node, {column: value})
    m = re.fullmatch(rf"{re.escape(column)} (\S+) (\S+) (\S+)", words)
    assert m is not None, words
    assert m[2] == NEGATED[op]
    assert OPS[m[2]](read_number(m[1]), read_number(m[3])), words


def test_an_unmeetable_cap_never_prints_as_meetable() -> None:
    from rules.engine import portfolio_weights

    _, note = portfolio_weights([1.0] * 10, "equal", 0.09999)
    assert note is not None and note.startswith("max_weight 9.999% x 10 members is below 100%")
    _, note = portfolio_weights([1.0] * 10, "equal", 0.05)
    assert note is not None and note.startswith("max_weight 5.00% x 10 members")
