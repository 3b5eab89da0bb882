"""The filter language of rule sets and ``screen --where``: a small grammar compiled to polars expressions.

Why our own grammar: rule files and ``--where`` text come from users and from files passed around a desk. Text that
reaches ``eval`` or SQL can do anything; text that reaches this parser can only name known columns, compare them and
do arithmetic. Every name is checked against the columns a score frame has, so a typo is caught with a "did you
mean" before anything runs.

Grammar (lowest precedence first; keywords are case-insensitive)::

    condition  := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | compare
    compare    := sum [ ("==" | "=" | "!=" | "<" | "<=" | ">" | ">=") sum
                      | ["not"] "in" "[" literal ("," literal)* "]"
                      | "is" ["not"] "null" ]
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*
    unary      := "-" unary | atom
    atom       := NUMBER | STRING | "true" | "false" | NAME | FUNCTION "(" STRING ")" | "(" condition ")"
    literal    := ["-"] NUMBER | STRING | "true" | "false"

    NUMBER     := 12, 0.5, 1e6, 1_000_000, with an optional suffix: % (/100), k, m, bn (thousand, million, billion)
    STRING     := 'text' or "text" (backslash escapes the quote)
    NAME       := a column: factor (dilution_risk), percentile (dilution_risk_pct), component
                  (dilution_risk.cash_runway_years), company field (country, region, stage, ...) or fundamental field
                  (market_cap_usd, cash_usd, ...)
    FUNCTION   := has_role | has_flag | has_backing

Missing values: arithmetic and comparisons with a missing value give missing, and a row whose condition is missing
does not pass. ``x is null`` asks for missing values explicitly. A division by zero (``x / 0``, ``0 / 0``) and any
other non-finite result is missing too, never an infinity that would pass ``> 1``, and a NaN or infinity stored in a
column reads as missing: a number that is not a number cannot rank or pass a filter.

Text compared with a column that has a vocabulary (country, region, stage, segment) is matched without regard to
case, so ``country == 'kr'`` means ``country == 'KR'``, as ``screen --country kr`` does.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from screener.errors import ScreenerError

if TYPE_CHECKING:  # polars is imported where expressions are built, so parsing alone stays light
    import polars as pl

#: The operators of the language, shared by the polars compiler and the row-by-row explainer (rules.why), which
#: both apply them to their own values (polars expressions, Python numbers).
ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
}
COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


NUMBER = "number"
TEXT = "text"
BOOL = "bool"
LIST = "list"

MAX_LENGTH = 2000
MAX_DEPTH = 60
MAX_TREE_DEPTH = 200
#: Largest number a literal may have: ten times the world's stock market in USD. Anything beyond is a typo.
MAX_NUMBER = 1e15
KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "true", "false"})
_SUFFIXES = {"%": 0.01, "k": 1e3, "m": 1e6, "bn": 1e9}
_COMPARE = ("==", "!=", "<", "<=", ">", ">=")
#: Each comparison with its sides swapped: ``a < b`` is ``b > a``.
MIRRORED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_HINTS = {"&": " (use 'and')", "|": " (use 'or')", "!": " (use 'not' or '!=')", ";": " (one condition only)"}


class ExprError(ScreenerError):
    """A filter expression that cannot be parsed, typed or compiled; the message is one line for the user."""


# -- AST ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Num:
    value: float
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Str:
    value: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Bool:
    value: bool
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Name:
    name: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Unary:
    op: str  # "-" or "not"
    operand: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Binary:
    op: str  # + - * / and or == != < <= > >=
    left: Node
    right: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class In:
    operand: Node
    values: tuple[Num | Str | Bool, ...]
    negated: bool = False
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class IsNull:
    operand: Node
    negated: bool = False
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Call:
    func: str
    arg: str
    pos: int = field(default=0, compare=False)


Node = Num | Str | Bool | Name | Unary | Binary | In | IsNull | Call


# -- names the language knows -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Function:
    """A whitelisted function: one text argument checked against a vocabulary, compiled by ``build``."""

    name: str
    column: str
    vocabulary: frozenset[str] | None
    build: Callable[[str], pl.Expr]
    help: str
    #: For arguments without a closed vocabulary: the problem with a value (with a "did you mean"), or None.
    check: Callable[[str], str | None] | None = None


#: Flags a score row can carry (the score-frame contract) and the prefixes of the flags naming a filled input
#: (``imputed:dilution_risk.cash_runway_years``); ``has_flag`` accepts exactly these.
FLAGS = ("demo", "stale", "missing_fx", "no_prices", "no_fundamentals", "halted")
FLAG_PREFIXES = ("imputed", "neutral", "worst", "excluded", "stale")


def _check_flag(value: str) -> str | None:
    prefix, sep, rest = value.partition(":")
    if (not sep and value in FLAGS) or (sep and rest and prefix in FLAG_PREFIXES):
        return None
    known = [*FLAGS, *(f"{p}:{rest or '<column>'}" for p in FLAG_PREFIXES)]
    return (
        f"unknown flag {value!r}{suggest(value, known)}; flags are {', '.join(FLAGS)} or "
        f"{'/'.join(FLAG_PREFIXES)}:<column>"
    )


def _has_in_list(column: str, sep: str | None) -> Callable[[str], pl.Expr]:
    def build(value: str) -> pl.Expr:
        import polars as pl

        col = pl.col(column)
        if sep is not None:
            col = col.fill_null("").str.split(sep)
        return col.list.contains(pl.lit(value)).fill_null(False)

    return build


def _functions() -> dict[str, Function]:
    from screener.contract import GOV_BACKING, ROLES

    return {
        "has_role": Function(
            "has_role",
            "roles",
            frozenset(ROLES),
            _has_in_list("roles", ";"),
            "the company carries this supply-chain role",
        ),
        "has_flag": Function(
            "has_flag",
            "flags",
            None,
            _has_in_list("flags", None),
            "the score row carries this data flag (demo, stale, missing_fx, ...)",
            _check_flag,
        ),
        "has_backing": Function(
            "has_backing",
            "gov_backing",
            frozenset(GOV_BACKING),
            _has_in_list("gov_backing", ";"),
            "the company has this government-backed demand or funding tag",
        ),
    }


@dataclass(frozen=True)
class Namespace:
    """What an expression may name: column -> type, and the known values of text columns with a vocabulary."""

    types: Mapping[str, str]
    vocab: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def type_of(self, name: str, pos: int, text: str) -> str:
        if name in self.types:
            return self.types[name]
        raise ExprError(f"unknown name {name!r}{suggest(name, self.types)} at {_where(pos, text)}")


def suggest(word: str, choices: Iterable[str]) -> str:
    """A "(did you mean ...?)" suffix, case-insensitive first, so 'kr' finds 'KR' and 'dilution_rsk' its factor."""
    options = list(choices)
    lowered = {c.lower(): c for c in options}
    if word.lower() in lowered and lowered[word.lower()] != word:
        return f" (did you mean {lowered[word.lower()]!r}?)"
    from difflib import get_close_matches  # here: only a condition that misses pays for its import

    hits = get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    if not hits and len(word) >= 3:
        hits = sorted(c for c in lowered if c.startswith(word.lower()))[:1]
    return f" (did you mean {lowered[hits[0]]!r}?)" if hits else ""


IDENTITY_TEXT = ("symbol", "name", "country", "region", "roles", "stage", "segment", "currency", "gov_backing")


def _vocabularies() -> dict[str, frozenset[str]]:
    from screener.contract import ISO_COUNTRIES, REGION_NAMES, SEGMENTS, STAGES

    return {
        "country": ISO_COUNTRIES,
        "region": frozenset(REGION_NAMES),
        "stage": frozenset(STAGES),
        "segment": frozenset(SEGMENTS),
    }


def namespace_for(
    factors: Iterable[str], components: Iterable[str] = (), extra: Mapping[str, str] | None = None
) -> Namespace:
    """The names a score frame offers for the given factors and components (plus any ``extra`` typed names)."""
    from factors.inputs import FIELD_COLUMNS  # the score frame's numeric fields, defined once by the engine

    types: dict[str, str] = {n: TEXT for n in IDENTITY_TEXT}
    types.update({n: NUMBER for n in FIELD_COLUMNS})
    types["data_completeness"] = NUMBER
    types["demo"] = BOOL
    types["flags"] = LIST
    for f in factors:
        types[f] = NUMBER
        types[f"{f}_pct"] = NUMBER
    for c in components:
        types[c] = NUMBER
    if extra:
        types.update(extra)
    return Namespace(types, _vocabularies())


def namespace_from_schema(schema: Mapping[str, Any]) -> Namespace:
    """The names of an actual frame, typed from its polars dtypes (used when a frame is at hand)."""
    import polars as pl

    types: dict[str, str] = {}
    for name, dtype in schema.items():
        if dtype == pl.Boolean:
            types[name] = BOOL
        elif dtype.is_numeric():
            types[name] = NUMBER
        elif isinstance(dtype, pl.List):
            types[name] = LIST
        elif dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
            types[name] = TEXT
    return Namespace(types, _vocabularies())


# -- tokenizer ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Token:
    kind: str  # num, str, name, kw, op, end
    value: Any
    pos: int
    raw: str = ""


def _where(pos: int, text: str) -> str:
    return f"position {pos + 1} of {text!r}"


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; anything outside the grammar (``;``, ``$``, backticks, ...) stops here."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression is {len(text)} characters long; the limit is {MAX_LENGTH}")
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isdigit()):
            i = _number(text, i, tokens)
        elif ch in "'\"":
            i = _string(text, i, tokens)
        elif ch.isascii() and (ch.isalpha() or ch == "_"):
            j = i
            while j < n and text[j].isascii() and (text[j].isalnum() or text[j] in "_."):
                j += 1
            word = text[i:j]
            if word.endswith(".") or ".." in word:
                raise ExprError(f"malformed name {word!r} at {_where(i, text)}")
            low = word.lower()
            tokens.append(Token("kw", low, i, word) if low in KEYWORDS else Token("name", word, i, word))
            i = j
        else:
            two = text[i : i + 2]
            if two in ("==", "!=", "<=", ">="):
                tokens.append(Token("op", two, i, two))
                i += 2
            elif ch in "<>+-*/()[],":
                tokens.append(Token("op", ch, i, ch))
                i += 1
            elif ch == "=":
                tokens.append(Token("op", "==", i, ch))
                i += 1
            else:
                raise ExprError(f"unexpected character {ch!r}{_HINTS.get(ch, '')} at {_where(i, text)}")
    tokens.append(Token("end", None, n))
    return tokens


def _number(text: str, i: int, tokens: list[Token]) -> int:
    n = len(text)
    j = i
    while j < n and (text[j].isdigit() or text[j] in "._"):
        j += 1
    if (
        j < n
        and text[j] in "eE"
        and j + 1 < n
        and (text[j + 1].isdigit() or (text[j + 1] in "+-" and j + 2 < n and text[j + 2].isdigit()))
    ):
        j += 2
        while j < n and text[j].isdigit():
            j += 1
    raw = text[i:j]
    try:
        if raw.startswith("_") or raw.endswith("_") or "__" in raw:
            raise ValueError
        value = float(raw.replace("_", ""))
    except ValueError:
        raise ExprError(f"malformed number {raw!r} at {_where(i, text)}") from None
    for suffix, scale in sorted(_SUFFIXES.items(), key=lambda kv: -len(kv[0])):
        if text.startswith(suffix, j) and not (
            j + len(suffix) < n and (text[j + len(suffix)].isalnum() or text[j + len(suffix)] == "_")
        ):
            value *= scale
            j += len(suffix)
            break
    if j < n and (text[j].isalpha() or text[j] == "_"):
        raise ExprError(f"malformed number {text[i : j + 1]!r} at {_where(i, text)} (suffixes: %, k, m, bn)")
    if not math.isfinite(value) or abs(value) > MAX_NUMBER:
        raise ExprError(f"number {text[i:j]!r} is out of range (at most {MAX_NUMBER:g} in size) at {_where(i, text)}")
    tokens.append(Token("num", value, i, text[i:j]))
    return j


def _string(text: str, i: int, tokens: list[Token]) -> int:
    quote = text[i]
    j = i + 1
    out: list[str] = []
    while j < len(text):
        ch = text[j]
        if ch == "\\" and j + 1 < len(text):
            out.append(text[j + 1])
            j += 2
            continue
        if ch == quote:
            tokens.append(Token("str", "".join(out), i, text[i : j + 1]))
            return j + 1
        out.append(ch)
        j += 1
    raise ExprError(f"unterminated text starting at {_where(i, text)}")


# -- parser ---------------------------------------------------------------------------------------------------
class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def at(self, kind: str, value: Any = None) -> bool:
        tok = self.peek()
        return tok.kind == kind and (value is None or tok.value == value)

    def expect(self, kind: str, value: str, what: str) -> Token:
        if not self.at(kind, value):
            raise self.error(f"expected {what}")
        return self.take()

    def error(self, message: str, tok: Token | None = None) -> ExprError:
        tok = tok or self.peek()
        found = "the end" if tok.kind == "end" else repr(tok.raw)
        return ExprError(f"{message} but found {found} at {_where(tok.pos, self.text)}")

    def parse(self) -> Node:
        if self.at("end"):
            raise ExprError('empty expression: write a condition such as "dilution_risk_pct < 0.5"')
        node = self.or_()
        if not self.at("end"):
            tok = self.peek()
            if tok.kind == "op" and tok.value == ")":
                raise ExprError(f"unbalanced parentheses: ')' without '(' at {_where(tok.pos, self.text)}")
            raise self.error("expected 'and', 'or' or the end of the expression")
        return node

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"expression nests deeper than {MAX_DEPTH} levels")

    def or_(self) -> Node:
        self.nest()
        node = self.and_()
        while self.at("kw", "or"):
            tok = self.take()
            node = Binary("or", node, self.and_(), tok.pos)
        self.depth -= 1
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.at("kw", "and"):
            tok = self.take()
            node = Binary("and", node, self.not_(), tok.pos)
        return node

    def not_(self) -> Node:
        if self.at("kw", "not"):
            tok = self.take()
            self.nest()
            node = Unary("not", self.not_(), tok.pos)
            self.depth -= 1
            return node
        return self.compare()

    def compare(self) -> Node:
        left = self.sum_()
        tok = self.peek()
        if tok.kind == "op" and tok.value in _COMPARE:
            self.take()
            node: Node = Binary(tok.value, left, self.sum_(), tok.pos)
        elif (
            tok.kind == "kw"
            and tok.value in ("in", "not")
            and (tok.value == "in" or self.tokens[self.i + 1].value == "in")
        ):
            negated = tok.value == "not"
            if negated:
                self.take()
            self.expect("kw", "in", "'in'")
            node = In(left, self.literal_list(), negated, tok.pos)
        elif tok.kind == "kw" and tok.value == "is":
            self.take()
            negated = self.at("kw", "not")
            if negated:
                self.take()
            self.expect("kw", "null", "'null' after 'is'")
            node = IsNull(left, negated, tok.pos)
        else:
            return left
        nxt = self.peek()
        if (nxt.kind == "op" and nxt.value in _COMPARE) or (nxt.kind == "kw" and nxt.value in ("in", "is")):
            raise ExprError(f"chained comparison at {_where(nxt.pos, self.text)}: join conditions with 'and'")
        return node

    def literal_list(self) -> tuple[Num | Str | Bool, ...]:
        self.expect("op", "[", "'[' to start the list")
        items: list[Num | Str | Bool] = []
        while True:
            tok = self.take()
            sign = 1.0
            if tok.kind == "op" and tok.value == "-" and self.at("num"):
                sign = -1.0
                tok = self.take()
            if tok.kind == "num":
                items.append(Num(sign * tok.value, tok.pos))
            elif tok.kind == "str":
                items.append(Str(tok.value, tok.pos))
            elif tok.kind == "kw" and tok.value in ("true", "false"):
                items.append(Bool(tok.value == "true", tok.pos))
            else:
                raise self.error("a list holds numbers, 'text' or true/false", tok)
            if self.at("op", ","):
                self.take()
                continue
            if self.at("op", "]"):
                self.take()
                return tuple(items)
            raise self.error("expected ',' or ']' in the list")

    def sum_(self) -> Node:
        node = self.product()
        while self.peek().kind == "op" and self.peek().value in ("+", "-"):
            tok = self.take()
            node = Binary(tok.value, node, self.product(), tok.pos)
        return node

    def product(self) -> Node:
        node = self.unary()
        while self.peek().kind == "op" and self.peek().value in ("*", "/"):
            tok = self.take()
            node = Binary(tok.value, node, self.unary(), tok.pos)
        return node

    def unary(self) -> Node:
        if self.at("op", "-"):
            tok = self.take()
            self.nest()
            node = Unary("-", self.unary(), tok.pos)
            self.depth -= 1
            return node
        return self.atom()

    def atom(self) -> Node:
        tok = self.take()
        if tok.kind == "num":
            return Num(tok.value, tok.pos)
        if tok.kind == "str":
            return Str(tok.value, tok.pos)
        if tok.kind == "kw" and tok.value in ("true", "false"):
            return Bool(tok.value == "true", tok.pos)
        if tok.kind == "name":
            if self.at("op", "("):
                return self.call(tok)
            return Name(tok.value, tok.pos)
        if tok.kind == "op" and tok.value == "(":
            node = self.or_()
            if not self.at("op", ")"):
                if self.at("end"):
                    raise ExprError(f"unbalanced parentheses: '(' at {_where(tok.pos, self.text)} is never closed")
                raise self.error("expected ')'")
            self.take()
            return node
        if tok.kind == "end":
            raise self.error("expected a value, a name or '('", tok)
        raise self.error("expected a value, a name or '('", tok)

    def call(self, name_tok: Token) -> Node:
        functions = _functions()
        if name_tok.value not in functions:
            allowed = ", ".join(functions)
            raise ExprError(
                f"unknown function {name_tok.value!r}{suggest(name_tok.value, functions)} at "
                f"{_where(name_tok.pos, self.text)}; the only functions are {allowed}"
            )
        self.take()  # (
        arg = self.take()
        if arg.kind != "str":
            raise self.error(f"{name_tok.value}() takes one 'text' argument", arg)
        self.expect("op", ")", f"')' after the argument of {name_tok.value}()")
        return Call(name_tok.value, arg.value, name_tok.pos)


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, In | IsNull):
        return (node.operand,)
    return ()


def depth(node: Node) -> int:
    """Tree depth, computed without recursion so a hostile 2000-term chain cannot exhaust the stack."""
    best, stack = 0, [(node, 1)]
    while stack:
        n, d = stack.pop()
        best = max(best, d)
        stack.extend((c, d + 1) for c in _children(n))
    return best


def parse(text: str) -> Node:
    """Parse ``text`` into an AST, or raise ``ExprError`` with one line naming the position."""
    node = _Parser(text).parse()
    if depth(node) > MAX_TREE_DEPTH:
        raise ExprError(
            f"expression is too long a chain ({depth(node)} levels; the limit is {MAX_TREE_DEPTH}): "
            "split it into several conditions"
        )
    return node


# -- printing (canonical text, used by explain and by the round-trip tests) ------------------------------------
_PREC = {"or": 1, "and": 2, "not": 3, "cmp": 4, "+": 5, "-": 5, "*": 6, "/": 6, "neg": 7, "atom": 8}


def _num_text(v: float) -> str:
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def _str_text(v: str) -> str:
    return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _prec(node: Node) -> int:
    if isinstance(node, Binary):
        return _PREC["cmp"] if node.op in _COMPARE else _PREC[node.op]
    if isinstance(node, Unary):
        return _PREC["not"] if node.op == "not" else _PREC["neg"]
    if isinstance(node, In | IsNull):
        return _PREC["cmp"]
    if isinstance(node, Num) and node.value < 0:
        return _PREC["neg"]
    return _PREC["atom"]


def to_text(node: Node) -> str:
    """Canonical text of an AST with only the parentheses it needs; ``parse(to_text(n)) == n``."""

    def wrap(child: Node, min_prec: int) -> str:
        s = to_text(child)
        return f"({s})" if _prec(child) < min_prec else s

    if isinstance(node, Num):
        return _num_text(node.value)
    if isinstance(node, Str):
        return _str_text(node.value)
    if isinstance(node, Bool):
        return "true" if node.value else "false"
    if isinstance(node, Name):
        return node.name
    if isinstance(node, Call):
        return f"{node.func}({_str_text(node.arg)})"
    if isinstance(node, Unary):
        if node.op == "not":
            return "not " + wrap(node.operand, _PREC["not"])
        return "-" + wrap(node.operand, _PREC["neg"] + 1 if isinstance(node.operand, Num) else _PREC["neg"])
    if isinstance(node, In):
        items = ", ".join(to_text(v) for v in node.values)
        return f"{wrap(node.operand, _PREC['cmp'] + 1)} {'not in' if node.negated else 'in'} [{items}]"
    if isinstance(node, IsNull):
        return f"{wrap(node.operand, _PREC['cmp'] + 1)} is {'not ' if node.negated else ''}null"
    assert isinstance(node, Binary)
    p = _prec(node)
    if node.op in _COMPARE:
        return f"{wrap(node.left, p + 1)} {node.op} {wrap(node.right, p + 1)}"
    # left-associative: the right operand needs parentheses at equal precedence
    return f"{wrap(node.left, p)} {node.op} {wrap(node.right, p + 1)}"


# -- types ----------------------------------------------------------------------------------------------------
def names_in(node: Node) -> set[str]:
    """Every column an expression reads (function columns included), for explain and for missing-column checks."""
    if isinstance(node, Name):
        return {node.name}
    if isinstance(node, Call):
        return {_functions()[node.func].column}
    if isinstance(node, Unary):
        return names_in(node.operand)
    if isinstance(node, Binary):
        return names_in(node.left) | names_in(node.right)
    if isinstance(node, In | IsNull):
        return names_in(node.operand)
    return set()


def _literal_type(node: Num | Str | Bool) -> str:
    return NUMBER if isinstance(node, Num) else TEXT if isinstance(node, Str) else BOOL


def _check_value(ns: Namespace, name_node: Node, lit: Node, text: str) -> None:
    """Text compared with a column that has a vocabulary must be one of its values: 'producr' is a typo."""
    if isinstance(name_node, Name) and isinstance(lit, Str) and name_node.name in ns.vocab:
        vocab = ns.vocab[name_node.name]
        if lit.value not in vocab:
            raise ExprError(
                f"unknown {name_node.name} {lit.value!r}{suggest(lit.value, vocab)} at {_where(lit.pos, text)}"
            )


def _canonical_text(ns: Namespace, name_node: Node, lit: Node) -> Node:
    """``'kr'`` compared with ``country`` becomes ``'KR'``: vocabulary values match without regard to case."""
    if isinstance(name_node, Name) and isinstance(lit, Str) and name_node.name in ns.vocab:
        vocab = ns.vocab[name_node.name]
        if lit.value not in vocab:
            hits = [v for v in vocab if v.lower() == lit.value.lower()]
            if len(hits) == 1:
                return replace(lit, value=hits[0])
    return lit


def canonical(node: Node, ns: Namespace) -> Node:
    """The same expression with text literals in the canonical case of the column they are compared with."""
    if isinstance(node, Unary):
        return replace(node, operand=canonical(node.operand, ns))
    if isinstance(node, IsNull):
        return replace(node, operand=canonical(node.operand, ns))
    if isinstance(node, In):
        operand = canonical(node.operand, ns)
        return replace(node, operand=operand, values=tuple(_canonical_text(ns, operand, v) for v in node.values))
    if isinstance(node, Binary):
        left, right = canonical(node.left, ns), canonical(node.right, ns)
        if node.op in ("==", "!="):
            left, right = _canonical_text(ns, right, left), _canonical_text(ns, left, right)
        return replace(node, left=left, right=right)
    return node


def typecheck(node: Node, ns: Namespace, text: str) -> str:
    """Return the type of ``node`` or raise ``ExprError``: text is never added, numbers are never 'and'-ed."""
    if isinstance(node, Num | Str | Bool):
        return _literal_type(node)
    if isinstance(node, Name):
        t = ns.type_of(node.name, node.pos, text)
        if t == LIST:
            raise ExprError(f"{node.name!r} is a list; test it with has_flag('...') at {_where(node.pos, text)}")
        return t
    if isinstance(node, Call):
        fn = _functions()[node.func]
        ns.type_of(fn.column, node.pos, text)
        if fn.vocabulary is not None and node.arg not in fn.vocabulary:
            raise ExprError(
                f"{node.func}(): unknown value {node.arg!r}{suggest(node.arg, fn.vocabulary)} at "
                f"{_where(node.pos, text)}"
            )
        problem = fn.check(node.arg) if fn.check is not None else None
        if problem:
            raise ExprError(f"{node.func}(): {problem} at {_where(node.pos, text)}")
        return BOOL
    if isinstance(node, Unary):
        t = typecheck(node.operand, ns, text)
        want = BOOL if node.op == "not" else NUMBER
        if t != want:
            raise ExprError(f"'{node.op}' needs a {_type_word(want)}, not {_type_word(t)}, at {_where(node.pos, text)}")
        return want
    if isinstance(node, IsNull):
        typecheck(node.operand, ns, text)
        return BOOL
    if isinstance(node, In):
        t = typecheck(node.operand, ns, text)
        for v in node.values:
            if _literal_type(v) != t:
                raise ExprError(
                    f"list item {to_text(v)} is {_type_word(_literal_type(v))} but the left side is "
                    f"{_type_word(t)} at {_where(v.pos, text)}"
                )
            _check_value(ns, node.operand, v, text)
        return BOOL
    assert isinstance(node, Binary)
    lt, rt = typecheck(node.left, ns, text), typecheck(node.right, ns, text)
    if node.op in ("and", "or"):
        for side, t in ((node.left, lt), (node.right, rt)):
            if t != BOOL:
                raise ExprError(
                    f"'{node.op}' joins conditions, but {to_text(side)!r} is {_type_word(t)}, at "
                    f"{_where(node.pos, text)}"
                )
        return BOOL
    if node.op in ("+", "-", "*", "/"):
        if lt != NUMBER or rt != NUMBER:
            raise ExprError(f"'{node.op}' needs numbers on both sides at {_where(node.pos, text)}")
        return NUMBER
    if lt != rt:
        raise ExprError(f"cannot compare {_type_word(lt)} with {_type_word(rt)} at {_where(node.pos, text)}")
    if lt != NUMBER and node.op not in ("==", "!="):
        raise ExprError(f"{_type_word(lt)} can only be compared with ==, != or in, at {_where(node.pos, text)}")
    _check_value(ns, node.left, node.right, text)
    _check_value(ns, node.right, node.left, text)
    return BOOL


def _type_word(t: str) -> str:
    return {NUMBER: "a number", TEXT: "text", BOOL: "a condition", LIST: "a list"}[t]


# -- compiling ------------------------------------------------------------------------------------------------
def _finite(e: pl.Expr) -> pl.Expr:
    """A number, or missing: NaN and infinities (a division by zero, a bad stored value) never compare or rank."""
    import polars as pl

    # Not ``when(is_finite)``: polars folds that into a scalar on an all-null column and the frame lengths clash.
    return e.cast(pl.Float64).fill_nan(None).replace([math.inf, -math.inf], None)


def to_polars(node: Node, numeric: frozenset[str] | set[str] = frozenset()) -> pl.Expr:
    """Translate a type-checked AST to a polars expression; nothing else can be produced from the text.

    ``numeric`` names the number-typed columns, read through ``_finite`` so a NaN or infinity stored in them is
    missing; every arithmetic result goes through it too.
    """
    import polars as pl

    def sub(n: Node) -> pl.Expr:
        return to_polars(n, numeric)

    if isinstance(node, Num):
        return pl.lit(node.value, dtype=pl.Float64)
    if isinstance(node, Str):
        return pl.lit(node.value, dtype=pl.String)
    if isinstance(node, Bool):
        return pl.lit(node.value, dtype=pl.Boolean)
    if isinstance(node, Name):
        return _finite(pl.col(node.name)) if node.name in numeric else pl.col(node.name)
    if isinstance(node, Call):
        return _functions()[node.func].build(node.arg)
    if isinstance(node, Unary):
        inner = sub(node.operand)
        return ~inner if node.op == "not" else -inner
    if isinstance(node, IsNull):
        inner = sub(node.operand)
        return inner.is_not_null() if node.negated else inner.is_null()
    if isinstance(node, In):
        values = [v.value for v in node.values]
        inner = sub(node.operand)
        # is_in treats a missing left side as "not in"; keep it missing so it never passes either way
        hit = pl.when(inner.is_null()).then(None).otherwise(inner.is_in(values))
        return ~hit if node.negated else hit
    assert isinstance(node, Binary)
    left, right = sub(node.left), sub(node.right)
    if node.op == "and":
        return left & right
    if node.op == "or":
        return left | right
    if node.op in ARITHMETIC:
        return _finite(ARITHMETIC[node.op](left, right))  # x/0 is ±inf and 0/0 NaN: both become missing
    if isinstance(node.left, (Num, Str, Bool)) and not isinstance(node.right, (Num, Str, Bool)):
        # the column side first (``0 < a`` as ``a > 0``): polars folds ``literal == <all-missing column>`` into one
        # value, which no longer lines up with the frame's rows
        return COMPARISONS[MIRRORED[node.op]](right, left)
    return COMPARISONS[node.op](left, right)


@dataclass(frozen=True)
class Compiled:
    """A checked expression: its source, canonical text, the columns it reads and the polars expression."""

    source: str
    node: Node
    names: frozenset[str]
    numeric: frozenset[str] = frozenset()

    @property
    def text(self) -> str:
        return to_text(self.node)

    @property
    def expr(self) -> pl.Expr:
        return to_polars(self.node, self.numeric)


def compile_condition(text: str, ns: Namespace) -> Compiled:
    """Parse, type-check and compile a condition (an expression that is true or false for each row)."""
    if not isinstance(text, str):
        raise ExprError("an expression must be text")
    node = canonical(parse(text), ns)
    t = typecheck(node, ns, text)
    if t != BOOL:
        raise ExprError(f'{text!r} is {_type_word(t)}, not a condition; compare it, e.g. "{to_text(node)} > 0"')
    names = frozenset(names_in(node))
    return Compiled(text, node, names, frozenset(n for n in names if ns.types.get(n) == NUMBER))
