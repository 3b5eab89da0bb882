"""Why a company failed a condition, in words with its own numbers: "liquidity_pct 0.12 < 0.15", "no liquidity data".

Why a second evaluator next to the polars one: polars answers "which rows pass" for the whole frame at once, which
is what ranking needs; an analyst reading why one name left the list needs the one comparison that failed and the
value that failed it. This module walks the same checked tree for one row, with the same semantics (missing
propagates, a division by zero is missing, a missing condition fails), and only runs for the few rows that are out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rules.explain import MAX_EXTRA_DIGITS, compared
from rules.expr import (
    ARITHMETIC,
    COMPARISONS,
    Binary,
    Bool,
    Call,
    In,
    IsNull,
    Name,
    Node,
    Num,
    Str,
    Unary,
    _functions,
    names_in,
    to_text,
)

_NEGATED = {">=": "<", ">": "<=", "<=": ">", "<": ">=", "==": "!=", "!=": "=="}


def _number(v: float) -> float | None:
    f = float(v)
    return f if math.isfinite(f) else None


def evaluate(node: Node, row: Mapping[str, Any]) -> Any:
    """The value of ``node`` for one row (None for missing), as the compiled polars expression computes it."""
    if isinstance(node, Num | Str | Bool):
        return node.value
    if isinstance(node, Name):
        v = row.get(node.name)
        return _number(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
    if isinstance(node, Call):
        fn = _functions()[node.func]
        raw = row.get(fn.column)
        items = raw if isinstance(raw, list) else [s for s in (raw or "").split(";") if s]
        return node.arg in items
    if isinstance(node, Unary):
        v = evaluate(node.operand, row)
        if v is None:
            return None
        return (not v) if node.op == "not" else -v
    if isinstance(node, IsNull):
        v = evaluate(node.operand, row)
        return (v is not None) if node.negated else (v is None)
    if isinstance(node, In):
        v = evaluate(node.operand, row)
        if v is None:
            return None
        hit = v in [x.value for x in node.values]
        return not hit if node.negated else hit
    assert isinstance(node, Binary)
    a, b = evaluate(node.left, row), evaluate(node.right, row)
    if node.op == "and":
        if a is False or b is False:
            return False
        return None if a is None or b is None else True
    if node.op == "or":
        if a is True or b is True:
            return True
        return None if a is None or b is None else False
    if a is None or b is None:
        return None
    if node.op in ARITHMETIC:
        if node.op == "/" and b == 0:
            return None
        try:
            return _number(ARITHMETIC[node.op](a, b))
        except (OverflowError, ZeroDivisionError):
            return None
    return COMPARISONS[node.op](a, b)


def number_text(v: float, name: str = "", extra: int = 0) -> str:
    """A value as the rule language writes it: 0.12, 3.5, 250k, 1.2bn; ``extra`` more digits where a comparison
    needs them (``rules.explain.compared``)."""
    if extra > MAX_EXTRA_DIGITS:
        return repr(v)
    if name.endswith("_pct") or abs(v) < 10:
        return f"{v:.{2 + extra}f}"
    for scale, unit in ((1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if abs(v) >= scale:
            return f"{v / scale:.{3 + extra}g}{unit}"
    return f"{v:.{3 + extra}g}"


def _literal_text(node: Node) -> str:
    if isinstance(node, Num) and abs(node.value) >= 1e3:
        return number_text(node.value)
    return to_text(node)


def _value_text(node: Node, value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return number_text(value, node.name if isinstance(node, Name) else "")
    return repr(value)


def _side(node: Node, value: Any) -> str:
    """A literal as itself; a column or arithmetic as its text followed by its value."""
    if isinstance(node, Num | Str | Bool):
        return _literal_text(node)
    return f"{to_text(node)} {_value_text(node, value)}"


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _name_of(node: Node, other: Node) -> str:
    """The column that sets how both sides of a comparison are written (a percentile reads 0.12, not 120m)."""
    for n in (node, other):
        if isinstance(n, Name):
            return n.name
    return ""


def _labelled(node: Node, text: str) -> str:
    """A literal as its written value; a column or arithmetic as its text followed by its value."""
    return text if isinstance(node, Num) else f"{to_text(node)} {text}"


def data_label(name: str, factors: Mapping[str, Any] | None = None) -> str:
    """``liquidity_pct`` and ``liquidity.median_traded_value_usd`` are liquidity data; other columns are themselves."""
    factor = factor_of(name, factors)
    return factor or name


def factor_of(name: str, factors: Mapping[str, Any] | None = None) -> str | None:
    """The factor a column belongs to (``F``, ``F_pct``, ``F.component``), or None for other columns."""
    if factors is None:
        from rules.ruleset import factor_specs

        factors = factor_specs()
    base = name.split(".", 1)[0].removesuffix("_pct")
    return base if base in factors else None


def why_false(
    node: Node, row: Mapping[str, Any], factors: Mapping[str, Any] | None = None
) -> tuple[str, tuple[str, ...]]:
    """(words, columns involved) for the part of a condition that did not hold for ``row``.

    Conditions joined with ``and`` name the first part that failed; ``or`` names every part; a part that could
    not be evaluated because a value is missing says which data is missing.
    """
    if isinstance(node, Binary) and node.op == "and":
        for part in (node.left, node.right):
            if evaluate(part, row) is not True:
                return why_false(part, row, factors)
    if isinstance(node, Binary) and node.op == "or":
        left, lnames = why_false(node.left, row, factors)
        right, rnames = why_false(node.right, row, factors)
        return f"{left} and {right}", lnames + rnames
    names = tuple(sorted(names_in(node), key=lambda n: to_text(node).find(n)))
    if evaluate(node, row) is None:
        missing = [n for n in names if evaluate(Name(n), row) is None]
        if missing:
            labels = list(dict.fromkeys(data_label(n, factors) for n in missing))
            return f"no {' or '.join(labels)} data", tuple(missing)
        return f"{to_text(node)} cannot be computed (division by zero)", names
    if isinstance(node, Binary) and node.op in _NEGATED:
        lv, rv = evaluate(node.left, row), evaluate(node.right, row)
        op = _NEGATED[node.op]
        if _is_number(lv) and _is_number(rv):
            # Both sides at the precision of the comparison: the printed numbers must not contradict it.
            left, right = compared(lv, op, rv, lambda v, e: number_text(v, _name_of(node.left, node.right), e))
            return f"{_labelled(node.left, left)} {op} {_labelled(node.right, right)}", names
        return f"{_side(node.left, lv)} {op} {_side(node.right, rv)}", names
    if isinstance(node, In):
        v = evaluate(node.operand, row)
        items = ", ".join(to_text(x) for x in node.values)
        return f"{_side(node.operand, v)} {'in' if node.negated else 'not in'} [{items}]", names
    if isinstance(node, Unary) and node.op == "not":
        return f"{to_text(node.operand)} holds", names
    return f"not {to_text(node)}", names
