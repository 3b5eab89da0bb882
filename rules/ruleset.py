"""Rule sets: TOML files read with ``tomllib``, checked completely before anything runs, held in frozen dataclasses.

Why so strict: a rule file is passed around a desk and edited by hand. A misspelt key that is silently ignored
(``max_per_contry = 3``) would change the list that someone trades on without anyone noticing. So every key at every
level is known, every value has a type, every factor, role, country, region and stage is checked against the
product's vocabularies, and each problem is reported as one line with the file, the key and a "did you mean".

The file format is documented in docs/rules.md; the bundled sets in this folder are worked examples.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rules.expr import NUMBER, Compiled, ExprError, Namespace, compile_condition, namespace_for, suggest
from screener.contract import ENABLER_ROLES, ISO_COUNTRIES, REGION_NAMES, ROLES, SEGMENTS, STAGES, place_hint
from screener.errors import ScreenerError

BUNDLED_DIR = Path(__file__).resolve().parent
GROUP_BY = ("universe", "role", "region")
#: What a percentile is taken over: the names that passed the filters and gates, or every scored company.
OVER = ("eligible", "scored")
ON_MISSING = ("neutral", "worst", "exclude")
PREFER = ("better", "worse")
ORDERS = ("asc", "desc")
#: How the members' portfolio weights are set (``[portfolio] weighting``; the engine's ``portfolio_weights``).
WEIGHTINGS = ("equal", "market_cap")
#: Tilt keys besides role and segment names: classes derived from the roles (see the data contract).
TILT_CLASSES = ("enabler", "pure_miner")
#: Bounds on numbers read from a rule file. Beyond them a value is a typo, and an infinite or astronomically large
#: weight would turn the normalised weights into NaN; TOML accepts ``inf`` and ``nan``, so they are checked here.
MAX_MAGNITUDE = 1e15
MAX_WEIGHT = 1e6
TILT_RANGE = (0.01, 100.0)
MAX_COUNT = 10_000
MAX_MARKET_CAP_USD = 1e13
MAX_LIQUIDITY_USD = 1e12
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: Bounds on a rule file, checked before it is parsed. The largest bundled set is a few kilobytes and nests three
#: deep; past these a file is a mistake or an attack, and refusing it costs milliseconds where parsing it and
#: checking every key took minutes (50,000 dotted keys) or crashed the parser (arrays nested 1,000 deep).
MAX_RULES_BYTES = 256 * 1024
MAX_NESTING = 10
MAX_KEYS = 2_000
#: More gates than this is a generated file, not a screen: each gate is a pass over the universe in every run.
MAX_GATES = 200
#: A TOML token that matters for nesting and key counts: strings and comments (skipped), brackets, ``=``, ``,``,
#: ``.`` and line ends. Each alternative matches one character at a time, so scanning is linear.
_TOKEN = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*"""'
    r"|'''(?:[^']|'(?!''))*'''"
    r'|"(?:[^"\\\n]|\\.)*"'
    r"|'[^'\n]*'"
    r"|#[^\n]*"
    r"|[\[\]{}=,.\n]"
)


class RuleSetError(ScreenerError):
    """A rule file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Weight:
    factor: str
    weight: float
    prefer: str = "better"


@dataclass(frozen=True)
class Universe:
    include_roles: tuple[str, ...] = ()
    exclude_roles: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    exclude_countries: tuple[str, ...] = ()
    exclude_regions: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    min_market_cap_usd: float | None = None
    min_liquidity_usd: float | None = None
    min_data_completeness: float | None = None
    #: The smallest share of the business in the rare-earth chain a member may have. Unknown exposure passes (the
    #: row is flagged by the localization factor's missing-value policy), so a universe without the column still
    #: ranks.
    min_exposure: float | None = None
    where: Compiled | None = None


@dataclass(frozen=True)
class Gate:
    name: str
    condition: Compiled


@dataclass(frozen=True)
class RuleSet:
    """A validated rule set. ``text`` and ``content_hash`` identify exactly which rules produced a stored run."""

    name: str
    description: str
    source: str
    text: str
    content_hash: str
    universe: Universe
    gates: tuple[Gate, ...]
    weights: tuple[Weight, ...]
    group_by: str = "universe"
    on_missing: str = "neutral"
    percentile_over: str = "eligible"
    enabler_roles: tuple[str, ...] = tuple(r for r in ROLES if r in ENABLER_ROLES)
    tilts: Mapping[str, float] = field(default_factory=dict)
    top_n: int = 15
    stay_within: int = 15
    max_per_country: int | None = None
    max_per_role: int | None = None
    tie_break: str = "liquidity"
    tie_break_order: str = "desc"
    #: ``[portfolio]``: how the members are weighted and the largest weight one member may carry (None: no cap).
    #: A file without the section gets equal weights and no cap, so its ranking and members are unchanged.
    weighting: str = "equal"
    max_weight: float | None = None

    @property
    def factors(self) -> tuple[str, ...]:
        return tuple(w.factor for w in self.weights)

    @property
    def total_weight(self) -> float:
        return sum(w.weight for w in self.weights)


# -- vocabularies from the factor library -----------------------------------------------------------------------
def factor_specs() -> Mapping[str, Any]:
    """The registered factors, in registration order (imported lazily: checking a file should not score anything)."""
    from factors.registry import FACTORS

    return FACTORS


def factor_components() -> list[str]:
    """Component column names (``factor.component``) declared by the registered factors."""
    out: list[str] = []
    for name, spec in factor_specs().items():
        for comp in getattr(spec, "components", ()) or ():
            out.append(comp if "." in comp else f"{name}.{comp}")
    return out


def default_namespace() -> Namespace:
    """Every name a score frame offers, from the factor registry and the score-frame schema."""
    return namespace_for(list(factor_specs()), factor_components())


# -- resolving NAME|PATH -----------------------------------------------------------------------------------------
def user_rules_dir() -> Path:
    """Where a user's own rule sets live, so ``--rules NAME`` finds them like the bundled ones."""
    from screener.paths import data_home

    return data_home() / "rules"


def available() -> list[tuple[str, Path, str]]:
    """(name, path, origin) of every rule set reachable by name; a user's file shadows a bundled one."""
    found: dict[str, tuple[str, Path, str]] = {}
    for origin, folder in (("bundled", BUNDLED_DIR), ("user", user_rules_dir())):
        if folder.is_dir():
            for p in sorted(folder.glob("*.toml")):
                found[p.stem] = (p.stem, p, origin)
    return [found[k] for k in sorted(found)]


def resolve(ref: str | Path) -> Path:
    """A rule set name (bundled or in the user's rules folder) or a path to a ``.toml`` file."""
    text = str(ref)
    path = Path(text).expanduser()
    if path.suffix.lower() == ".toml" or "/" in text or "\\" in text:
        if not path.is_file():
            raise RuleSetError(f"rules file {text} not found")
        return path
    found = available()
    by_name = {name: p for name, p, _ in found}
    if text in by_name:
        return by_name[text]
    # A file's own ``name`` (what its runs are stored under) finds it too, when exactly one file declares it.
    declared = [p for _, p, _ in found if declared_name(p) == text]
    if len(declared) == 1:
        return declared[0]
    if len(declared) > 1:
        raise RuleSetError(
            f"rule set name {text!r} is declared by {', '.join(str(p) for p in declared)}; "
            "use the file name (see 'screener rules list')"
        )
    if path.is_file():
        return path
    raise RuleSetError(
        f"unknown rule set {text!r}{suggest(text, by_name)}; see 'screener rules list' (or give a path to a .toml file)"
    )


def declared_name(path: Path) -> str | None:
    """The ``name`` a rule file declares, or None when it cannot be read (``rules list`` reports why)."""
    try:
        if path.stat().st_size > MAX_RULES_BYTES:
            return None
        doc = read_toml(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError, RuleSetError):
        return None
    name = doc.get("name")
    return name if isinstance(name, str) else None


def load(ref: str | Path, namespace: Namespace | None = None) -> RuleSet:
    """Resolve, read and validate a rule set; any problem is a ``RuleSetError`` naming the file and key."""
    path = resolve(ref)
    try:
        size = path.stat().st_size
        if size > MAX_RULES_BYTES:
            raise RuleSetError(_too_large(str(path), size))
        raw = path.read_bytes()
    except OSError as exc:
        raise RuleSetError(f"cannot read rules file {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RuleSetError(f"{path}: not UTF-8 text") from None
    bundled = path.resolve().parent == BUNDLED_DIR.resolve()
    label = f"rules/{path.name}" if bundled else str(path)
    rs = parse(text, label, namespace)
    if not bundled:
        # Weekly runs are stored under the declared name: a user file must not slip its runs into a bundled set's
        # history (membership buffers and week-over-week changes would then mix two rule sets).
        for other in sorted(BUNDLED_DIR.glob("*.toml")):
            if other.stem != path.stem and declared_name(other) == rs.name:
                raise RuleSetError(
                    f"{label}: name: {rs.name!r} is the name of the bundled rule set "
                    f"rules/{other.name}; give this file a name of its own so its weekly runs are "
                    "kept apart"
                )
    return rs


# -- validation ---------------------------------------------------------------------------------------------------
class _Checker:
    def __init__(self, source: str, ns: Namespace) -> None:
        self.source = source
        self.ns = ns

    def fail(self, key: str, message: str) -> RuleSetError:
        return RuleSetError(f"{self.source}: {key}: {message}" if key else f"{self.source}: {message}")

    def keys(self, table: Mapping[str, Any], allowed: tuple[str, ...], prefix: str) -> None:
        for k in table:
            if k not in allowed:
                where = f"{prefix}.{k}" if prefix else k
                raise self.fail(where, f"unknown key{suggest(k, allowed)}; allowed here: {', '.join(allowed)}")

    def table(self, doc: Mapping[str, Any], key: str, prefix: str = "") -> Mapping[str, Any]:
        value = doc.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(f"{prefix}{key}", f"must be a table ([{prefix}{key}]), got {_kind(value)}")
        return value

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str):
            raise self.fail(key, f"must be text in quotes, got {_kind(value)}")
        return value

    def number(
        self,
        value: Any,
        key: str,
        *,
        minimum: float | None = None,
        above: float | None = None,
        maximum: float | None = None,
    ) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"must be a number, got {_kind(value)}")
        try:
            v = float(value)
        except OverflowError:
            v = float("inf")
        if v != v or v in (float("inf"), float("-inf")):
            raise self.fail(key, f"must be a finite number, got {value}")
        if abs(v) > MAX_MAGNITUDE:
            raise self.fail(key, f"{v:g} is out of range (at most {MAX_MAGNITUDE:g} in size)")
        if minimum is not None and v < minimum:
            raise self.fail(key, f"must be at least {minimum:g}, got {v:g}")
        if above is not None and v <= above:
            raise self.fail(key, f"must be greater than {above:g}, got {v:g}")
        if maximum is not None and v > maximum:
            raise self.fail(key, f"must be at most {maximum:g}, got {v:g}")
        return v

    def integer(self, value: Any, key: str, *, minimum: int, maximum: int = MAX_COUNT) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be a whole number, got {_kind(value)}")
        if value < minimum:
            raise self.fail(key, f"must be at least {minimum}, got {value}")
        if value > maximum:
            raise self.fail(key, f"must be at most {maximum}, got {value}")
        return value

    def choice(self, value: Any, key: str, choices: tuple[str, ...], what: str) -> str:
        v = self.text(value, key)
        if v not in choices:
            raise self.fail(key, f"unknown {what} {v!r}{suggest(v, choices)}; choose one of {', '.join(choices)}")
        return v

    def choices(
        self,
        value: Any,
        key: str,
        choices: tuple[str, ...] | frozenset[str],
        what: str,
        hint: Callable[[str], str] | None = None,
    ) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(key, f'must be a list of {what}s, e.g. ["{sorted(choices)[0]}"], got {_kind(value)}')
        out: list[str] = []
        for i, item in enumerate(value):
            v = self.text(item, f"{key}[{i}]")
            if v not in choices:
                said = hint(v) if hint is not None else suggest(v, choices)
                raise self.fail(f"{key}[{i}]", f"unknown {what} {v!r}{said}")
            if v not in out:
                out.append(v)
        return tuple(out)

    def places(self, value: Any, key: str, kind: str) -> tuple[str, ...]:
        """A list of ISO codes (``kind`` "country") or region names ("region"), checked against the contract's
        tables with the same hint as ``--country`` on the command line. A place of the other kind is pointed to the
        key that takes it (``regions = ["UK"]``: did you mean the country GB, under ``countries``)."""
        if kind == "country":
            known: tuple[str, ...] | frozenset[str] = ISO_COUNTRIES
            other_kind, sibling = "region", key.replace("countries", "regions")
        else:
            known, other_kind, sibling = REGION_NAMES, "country", key.replace("regions", "countries")

        def hint(v: str) -> str:
            h = place_hint(v, prefer=kind)
            if h is None:
                return ""
            if h in known:
                return f" (did you mean {h!r}?)"
            return f" (did you mean the {other_kind} {h!r}? list it under {sibling})"

        return self.choices(value, key, known, kind, hint=hint)

    def condition(self, value: Any, key: str) -> Compiled:
        text = self.text(value, key)
        try:
            return compile_condition(text, self.ns)
        except ExprError as exc:
            raise self.fail(key, str(exc)) from None

    def column(self, value: Any, key: str) -> str:
        v = self.text(value, key)
        numeric = [n for n, t in self.ns.types.items() if t == NUMBER]
        if v not in numeric:
            raise self.fail(key, f"unknown numeric column {v!r}{suggest(v, numeric)}")
        return v


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"true/false ({str(value).lower()})"
    if isinstance(value, str):
        return f"text {value!r}"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


TOP_KEYS = (
    "name",
    "description",
    "universe",
    "gates",
    "weights",
    "percentiles",
    "tilts",
    "constraints",
    "buffer",
    "tie_break",
    "portfolio",
)
PORTFOLIO_KEYS = ("weighting", "max_weight")
UNIVERSE_KEYS = (
    "include_roles",
    "exclude_roles",
    "countries",
    "regions",
    "exclude_countries",
    "exclude_regions",
    "stages",
    "min_market_cap_usd",
    "min_liquidity_usd",
    "min_data_completeness",
    "min_exposure",
    "where",
)


def _too_large(source: str, size: int) -> str:
    return f"{source}: the file is {size:,} bytes; a rule file is at most {MAX_RULES_BYTES:,} bytes"


def check_bounds(text: str, source: str = "<rules>") -> None:
    """Refuse a rule text beyond the bounds (``MAX_RULES_BYTES``, ``MAX_NESTING``, ``MAX_KEYS``) before it is
    parsed, in one linear scan: arrays and tables (inline, dotted or in headers) nested too deep, or too many keys.

    Strings and comments are skipped, so brackets inside a gate's text or a description do not count."""
    size = len(text.encode("utf-8"))
    if size > MAX_RULES_BYTES:
        raise RuleSetError(_too_large(source, size))
    stack: list[str] = []  # the open arrays and inline tables of the value being read
    key = True  # reading a key (or a table header), not a value
    dots = keys = 0
    line = 1
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token == "\n":
            line += 1
            if not stack:
                key, dots = True, 0
        elif token == "." and key:
            dots += 1
        elif token == "=" and key:
            keys += 1
            key, dots = False, 0
            if keys > MAX_KEYS:
                raise RuleSetError(f"{source}: more than {MAX_KEYS:,} keys (line {line}); a rule file needs far fewer")
        elif token in ("[", "{") and not key:
            stack.append(token)
            key, dots = token == "{", 0
        elif token in ("]", "}") and stack:
            stack.pop()
        elif token == "," and stack:
            key, dots = stack[-1] == "{", 0
        else:
            line += token.count("\n")  # a string or comment over several lines
            continue
        if len(stack) + dots > MAX_NESTING:
            raise RuleSetError(
                f"{source}: nested more than {MAX_NESTING} deep (line {line}); a rule file needs a few levels at most"
            )


def read_toml(text: str, source: str = "<rules>") -> dict[str, Any]:
    """The TOML document of a rule text within the bounds (``check_bounds``); any problem a ``RuleSetError``."""
    check_bounds(text, source)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleSetError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:  # a nesting the scan did not see (it is a bound, not a parser): still one clean line
        raise RuleSetError(f"{source}: nested too deep to read") from None


def parse(text: str, source: str = "<rules>", namespace: Namespace | None = None) -> RuleSet:
    """Validate TOML text as a rule set. ``source`` names the file in messages."""
    doc = read_toml(text, source)
    ck = _Checker(source, namespace or default_namespace())
    ck.keys(doc, TOP_KEYS, "")
    if "name" not in doc:
        raise ck.fail("name", 'missing; every rule set needs a name, e.g. name = "my-list"')
    name = ck.text(doc["name"], "name")
    if not _NAME_RE.match(name):
        raise ck.fail("name", f"{name!r} must be letters, digits, '-', '_' or '.', at most 64 characters")
    description = ck.text(doc.get("description", ""), "description")
    universe = _universe(ck, ck.table(doc, "universe"))
    gates = _gates(ck, ck.table(doc, "gates"))
    weights = _weights(ck, ck.table(doc, "weights"))
    pct = ck.table(doc, "percentiles")
    ck.keys(pct, ("group_by", "missing", "over"), "percentiles")
    group_by = ck.choice(pct.get("group_by", "universe"), "percentiles.group_by", GROUP_BY, "grouping")
    over = ck.choice(pct.get("over", "eligible"), "percentiles.over", OVER, "percentile basis")
    on_missing = ck.choice(pct.get("missing", "neutral"), "percentiles.missing", ON_MISSING, "missing-value policy")
    enablers, tilts = _tilts(ck, ck.table(doc, "tilts"))
    cons = ck.table(doc, "constraints")
    ck.keys(cons, ("top_n", "max_per_country", "max_per_role"), "constraints")
    top_n = ck.integer(cons.get("top_n", 15), "constraints.top_n", minimum=1)
    max_country = (
        ck.integer(cons["max_per_country"], "constraints.max_per_country", minimum=1)
        if "max_per_country" in cons
        else None
    )
    max_role = (
        ck.integer(cons["max_per_role"], "constraints.max_per_role", minimum=1) if "max_per_role" in cons else None
    )
    buf = ck.table(doc, "buffer")
    ck.keys(buf, ("stay_within",), "buffer")
    stay = ck.integer(buf.get("stay_within", top_n), "buffer.stay_within", minimum=1)
    if stay < top_n:
        raise ck.fail(
            "buffer.stay_within",
            f"{stay} is smaller than constraints.top_n = {top_n}; members stay "
            f"while within the top M, so M must be at least N (use {top_n} for no buffer)",
        )
    tb = ck.table(doc, "tie_break")
    ck.keys(tb, ("key", "order"), "tie_break")
    tie_key = ck.column(tb.get("key", "liquidity"), "tie_break.key")
    tie_order = ck.choice(tb.get("order", "desc"), "tie_break.order", ORDERS, "order")
    port = ck.table(doc, "portfolio")
    ck.keys(port, PORTFOLIO_KEYS, "portfolio")
    weighting = ck.choice(port.get("weighting", "equal"), "portfolio.weighting", WEIGHTINGS, "weighting")
    # A cap too small for the number of members (max_weight x members < 1) is not refused here: the member count is
    # only known when the list is ranked, so the engine falls back to equal weights and says so (``weight_note``).
    max_weight = (
        ck.number(port["max_weight"], "portfolio.max_weight", above=0, maximum=1) if "max_weight" in port else None
    )
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return RuleSet(
        name=name,
        description=description,
        source=source,
        text=text,
        content_hash=digest,
        universe=universe,
        gates=gates,
        weights=weights,
        group_by=group_by,
        on_missing=on_missing,
        percentile_over=over,
        enabler_roles=enablers,
        tilts=tilts,
        top_n=top_n,
        stay_within=stay,
        max_per_country=max_country,
        max_per_role=max_role,
        tie_break=tie_key,
        tie_break_order=tie_order,
        weighting=weighting,
        max_weight=max_weight,
    )


def _universe(ck: _Checker, u: Mapping[str, Any]) -> Universe:
    ck.keys(u, UNIVERSE_KEYS, "universe")
    p = "universe."
    countries = ck.places(u.get("countries", []), p + "countries", "country")
    ex_countries = ck.places(u.get("exclude_countries", []), p + "exclude_countries", "country")
    return Universe(
        include_roles=ck.choices(u.get("include_roles", []), p + "include_roles", ROLES, "role"),
        exclude_roles=ck.choices(u.get("exclude_roles", []), p + "exclude_roles", ROLES, "role"),
        countries=countries,
        regions=ck.places(u.get("regions", []), p + "regions", "region"),
        exclude_countries=ex_countries,
        exclude_regions=ck.places(u.get("exclude_regions", []), p + "exclude_regions", "region"),
        stages=ck.choices(u.get("stages", []), p + "stages", STAGES, "stage"),
        min_market_cap_usd=(
            ck.number(u["min_market_cap_usd"], p + "min_market_cap_usd", minimum=0, maximum=MAX_MARKET_CAP_USD)
            if "min_market_cap_usd" in u
            else None
        ),
        min_liquidity_usd=(
            ck.number(u["min_liquidity_usd"], p + "min_liquidity_usd", minimum=0, maximum=MAX_LIQUIDITY_USD)
            if "min_liquidity_usd" in u
            else None
        ),
        min_data_completeness=(
            ck.number(u["min_data_completeness"], p + "min_data_completeness", minimum=0, maximum=1)
            if "min_data_completeness" in u
            else None
        ),
        min_exposure=(
            ck.number(u["min_exposure"], p + "min_exposure", minimum=0, maximum=1) if "min_exposure" in u else None
        ),
        where=ck.condition(u["where"], p + "where") if "where" in u else None,
    )


def _gates(ck: _Checker, g: Mapping[str, Any]) -> tuple[Gate, ...]:
    if len(g) > MAX_GATES:
        raise ck.fail("gates", f"{len(g):,} gates; a rule set has at most {MAX_GATES}")
    out = []
    for key, value in g.items():
        if not re.match(r"^[A-Za-z0-9_-]+$", key):
            raise ck.fail(f"gates.{key}", "gate names are letters, digits, '-' and '_'")
        out.append(Gate(key, ck.condition(value, f"gates.{key}")))
    return tuple(out)


def _weights(ck: _Checker, w: Mapping[str, Any]) -> tuple[Weight, ...]:
    factors = list(factor_specs())
    if not w:
        raise ck.fail("weights", f"missing; weigh at least one factor, e.g. [weights] {factors[0]} = 1.0")
    out: list[Weight] = []
    for factor, value in w.items():
        key = f"weights.{factor}"
        if factor not in factors:
            raise ck.fail(key, f"unknown factor {factor!r}{suggest(factor, factors)}; factors: {', '.join(factors)}")
        prefer = "better"
        if isinstance(value, dict):
            ck.keys(value, ("weight", "prefer"), key)
            if "weight" not in value:
                raise ck.fail(f"{key}.weight", 'missing; e.g. { weight = 0.5, prefer = "worse" }')
            prefer = ck.choice(value.get("prefer", "better"), f"{key}.prefer", PREFER, "preference")
            value = value["weight"]
            key = f"{key}.weight"
        number = ck.number(value, key)
        if number < 0:
            raise ck.fail(
                key,
                "weights are >= 0; the factor's direction is built in, and "
                '{ weight = ..., prefer = "worse" } ranks the worse end first',
            )
        out.append(Weight(factor, ck.number(value, key, minimum=0, maximum=MAX_WEIGHT), prefer))
    if all(x.weight == 0 for x in out):
        raise ck.fail("weights", "all weights are zero; give at least one factor a positive weight")
    return tuple(x for x in out if x.weight > 0)


def _tilts(ck: _Checker, t: Mapping[str, Any]) -> tuple[tuple[str, ...], dict[str, float]]:
    allowed = ("enabler_roles", *TILT_CLASSES, *ROLES, *SEGMENTS)
    ck.keys(t, allowed, "tilts")
    enablers = (
        ck.choices(t["enabler_roles"], "tilts.enabler_roles", ROLES, "role")
        if "enabler_roles" in t
        else tuple(r for r in ROLES if r in ENABLER_ROLES)
    )
    if not enablers:
        raise ck.fail("tilts.enabler_roles", "must name at least one role")
    lo, hi = TILT_RANGE
    mult = {k: ck.number(v, f"tilts.{k}", minimum=lo, maximum=hi) for k, v in t.items() if k != "enabler_roles"}
    return enablers, mult
