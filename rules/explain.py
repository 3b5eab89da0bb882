"""Rule sets and ranked rows in words: the plan ``rules explain`` prints and the one-line reason of each member.

Why words: an analyst forwards the list to a PM who never opens a TOML file. The plan says exactly what the engine
will do, in the engine's order, and each member's reason says why it is on the list without a table of numbers.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence

import polars as pl

from rules.ruleset import RuleSet, factor_specs


def phrase(factor: str, pct: float | None) -> str:
    """Words for a percentile in the factor's own direction; the middle fifth reads as "average".

    The high and low words are the factor's own (``phrases`` in its registration), so a new factor brings them.
    """
    if pct is None:
        return f"no {factor} data"
    spec = factor_specs().get(factor)
    words = factor.replace("_", " ")
    high, low = spec.phrases if spec is not None else (f"high {words}", f"low {words}")
    if 0.4 < pct < 0.6:
        return f"average {words}"
    return high if pct >= 0.6 else low


def role_phrase(roles: str | None, tilt_class: str | None, segment: str | None, enablers: Sequence[str]) -> str:
    """The role part of a reason, from the rule set's tilt class (the engine's step 1), which names the enablers."""
    have = [r for r in (roles or "").split(";") if r]
    if tilt_class == "enabler":
        return f"enabler ({', '.join(r for r in have if r in enablers)})"
    if tilt_class == "miner":
        others = [r for r in have if r != "miner"]
        return "pure miner" if not others else f"miner ({', '.join(others)})"
    if tilt_class == "downstream_user":
        return f"downstream user ({segment})" if segment else "downstream user"
    return ", ".join(have) or "no roles"


def _better(rs: RuleSet, i: int, pct: float | None) -> float:
    """The "better is higher" value the engine used for weight ``i`` (step 6 of the engine)."""
    w = rs.weights[i]
    if pct is None:
        return 0.5 if rs.on_missing == "neutral" else 0.0
    b = pct if factor_specs()[w.factor].direction == "higher_is_better" else 1.0 - pct
    return 1.0 - b if w.prefer == "worse" else b


#: A factor is cited in a reason only when its "better is higher" value is at least this far above the middle, the
#: same edge at which ``phrase`` stops calling it "average": a reason never praises a weakness.
CITE_ABOVE = 0.1


def reasons(table: pl.DataFrame, rs: RuleSet, factors: Sequence[str]) -> list[str | None]:
    """One line per member (None for everyone else): tilt class, the two factors that lifted it most, the buffer.

    The first cited factor shows its percentile as "eligible pct": the row's ``F_pct_eligible``, among the
    eligible companies, not the factor library's ``F_pct`` across every scored company.

    "Lifted most" is weight times distance above the middle, so a heavily weighted but average factor does not
    crowd out the one that actually sets the name apart. Only factors on the good side (for the rule set: the
    worse end under ``prefer = "worse"``) are cited; a member that no factor sets apart says so.
    """
    out: list[str | None] = []
    cols = table.columns
    for row in table.iter_rows(named=True):
        if row.get("status") != "member":
            out.append(None)
            continue
        parts = [
            role_phrase(
                row.get("roles"),
                row.get("tilt_class"),
                row.get("segment") if "segment" in cols else None,
                rs.enabler_roles,
            )
        ]

        def lift(i: int, row: dict = row) -> float:
            return rs.weights[i].weight * (_better(rs, i, row.get(f"{rs.weights[i].factor}_pct_eligible")) - 0.5)

        def better(i: int, row: dict = row) -> float:
            return _better(rs, i, row.get(f"{rs.weights[i].factor}_pct_eligible"))

        order = sorted(range(len(rs.weights)), key=lambda i: (-lift(i), i))
        cited = [
            i
            for i in order
            if better(i) >= 0.5 + CITE_ABOVE and row.get(f"{rs.weights[i].factor}_pct_eligible") is not None
        ][:2]
        for n, i in enumerate(cited):
            f = rs.weights[i].factor
            pct = row.get(f"{f}_pct_eligible")
            text = phrase(f, pct)
            if n == 0 and pct is not None:
                text += f" (eligible pct {pct:.2f})"
            parts.append(text)
        if not cited:
            parts.append("no single factor stands out; ranked on the mix")
        if row.get("kept_by_buffer"):
            parts.append(f"kept by the buffer (rank {row['candidate_rank']}, stays within {rs.stay_within})")
        out.append("; ".join(parts))
    return out


#: Beyond this many extra digits a number is written in full (``repr``: the shortest text that reads back exactly).
MAX_EXTRA_DIGITS = 18


def usd_text(v: float, extra: int = 0) -> str:
    """USD 50m, USD 1.2bn, USD 412k: three significant digits are what a reader compares; ``extra`` adds digits
    where a comparison needs them (see ``compared``)."""
    if extra > MAX_EXTRA_DIGITS:
        return f"USD {v!r}"
    for scale, unit in ((1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if abs(v) >= scale:
            return f"USD {v / scale:.{3 + extra}g}{unit}"
    return f"USD {v:.{3 + extra}g}"


_WRITTEN = re.compile(r"^(?:USD )?(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)(?P<unit>%|k|m|bn)?$")
_UNITS = {None: 1.0, "k": 1e3, "m": 1e6, "bn": 1e9}


def read_number(text: str) -> float:
    """A number as the reasons write it (``0.12``, ``12.5%``, ``USD 41.2m``, ``250k``, ``1.2bn``), read back.

    Why: a printed comparison must hold for the numbers a reader sees, so ``compared`` reads its own text back.
    """
    m = _WRITTEN.match(text.strip())
    if m is None:
        raise ValueError(f"not a written number: {text!r}")
    num, unit = m["num"], m["unit"]
    if unit == "%":
        return float(num) / 100
    return float(num) * _UNITS[unit]


_HOLDS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def compared(value: float, op: str, threshold: float, text: Callable[[float, int], str]) -> tuple[str, str]:
    """``value`` and ``threshold`` written so that ``value op threshold``, true of the numbers, is true as printed.

    Why: rounding both sides to a fixed precision printed reasons that contradict themselves ("0.90 < 0.90",
    "USD 50m below USD 50m"). ``text(v, extra)`` writes a number in its usual form with ``extra`` more digits. The
    threshold gets the fewest digits that read back as itself (0.9 prints "0.90" beside a percentile), the value the
    fewest that keep the comparison true when both texts are read back: 0.8996 < 0.9 prints "0.8996 < 0.90".
    """
    holds = _HOLDS[op]
    limit = range(MAX_EXTRA_DIGITS + 2)
    right = next((t for t in (text(threshold, e) for e in limit) if read_number(t) == threshold), repr(threshold))
    bound = read_number(right)
    left = next((t for t in (text(value, e) for e in limit) if holds(read_number(t), bound)), repr(value))
    return left, right


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 run``, ``2 runs``, ``1 company``, ``3 companies``."""
    if n == 1:
        return f"{n} {word}"
    return f"{n} {many or (word[:-1] + 'ies' if word.endswith('y') else word + 's')}"


def _list(items: Sequence[str], joiner: str = "or") -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {joiner} {items[-1]}"


def plan(rs: RuleSet) -> list[tuple[str, str]]:
    """The compiled plan as (step, words) in the order the engine runs it."""
    specs = factor_specs()
    u = rs.universe
    steps: list[tuple[str, str]] = [
        ("rule set", f"{rs.name}: {rs.description}".rstrip(": ")),
        ("source", f"{rs.source} (content hash {rs.content_hash})"),
    ]
    uni: list[str] = []
    if u.include_roles:
        uni.append(f"keep companies with the role {_list(u.include_roles)}")
    if u.exclude_roles:
        uni.append(f"drop companies carrying the role {_list(u.exclude_roles)}")
    if u.countries or u.regions:
        uni.append(f"keep companies in {_list([*u.countries, *(f'the {r} region' for r in u.regions)])}")
    if u.exclude_countries or u.exclude_regions:
        places = [*u.exclude_countries, *(f"the {r} region" for r in u.exclude_regions)]
        uni.append(f"drop companies in {_list(places)}")
    if u.stages:
        uni.append(f"keep stage {_list(u.stages)}")
    if u.min_market_cap_usd is not None:
        uni.append(f"market cap at least {usd_text(u.min_market_cap_usd)}")
    if u.min_liquidity_usd is not None:
        uni.append(f"median daily traded value at least {usd_text(u.min_liquidity_usd)}")
    if u.min_data_completeness is not None:
        uni.append(f"data completeness at least {u.min_data_completeness:.0%}")
    if u.where is not None:
        uni.append(f"where {u.where.text}")
    steps += [("universe", s) for s in uni] or [("universe", "every scored company")]
    steps += [
        ("gate", f"{g.name}: keep only companies where {g.condition.text} (a missing value fails)") for g in rs.gates
    ] or [("gate", "no gates")]
    grouping = {
        "universe": "across the whole eligible set",
        "role": "within each tilt class (enabler, miner, downstream_user, else the company's first role)",
        "region": "within each region",
    }[rs.group_by]
    missing = {
        "neutral": "a missing value counts as the middle (0.5)",
        "worst": "a missing value counts as the worst (0)",
        "exclude": "a company missing a weighted factor is excluded",
    }[rs.on_missing]
    if rs.percentile_over == "scored":
        grouping = grouping.replace("whole eligible set", "whole universe")
        steps.append(
            ("percentiles", f"rank every factor over every scored company (not only those left), {grouping}; {missing}")
        )
    else:
        steps.append(("percentiles", f"rank every factor again over the companies left, {grouping}; {missing}"))
    for w in rs.weights:
        direction = specs[w.factor].direction
        better = "higher" if direction == "higher_is_better" else "lower"
        if w.prefer == "worse":
            better = "lower" if better == "higher" else "higher"
            note = f"prefers the worse end: {better} {w.factor} ranks first"
        else:
            note = f"{better} {w.factor} ranks first"
        steps.append(("weight", f"{w.factor} {w.weight / rs.total_weight:.0%} ({note})"))
    from screener.contract import SEGMENTS

    tilts = []
    for key, mult in rs.tilts.items():
        who = {"enabler": f"enablers ({', '.join(rs.enabler_roles)})", "pure_miner": "pure miners"}.get(key, key)
        if key in SEGMENTS:
            who = f"the {key} segment"
        tilts.append(f"x{mult:g} for {who}")
    steps.append(
        (
            "tilt",
            "multiply the score " + "; ".join(tilts) + " (multipliers combine by product)" if tilts else "no tilts",
        )
    )
    steps.append(
        (
            "order",
            f"score descending, then {rs.tie_break} "
            f"{'descending' if rs.tie_break_order == 'desc' else 'ascending'} (missing last), then symbol",
        )
    )
    if rs.stay_within > rs.top_n:
        steps.append(
            (
                "buffer",
                f"newcomers enter within the top {rs.top_n}; last run's members stay while within "
                f"the top {rs.stay_within}",
            )
        )
    else:
        steps.append(("buffer", "none: membership is the top N each run"))
    cons = [f"at most {rs.top_n} names"]
    if rs.max_per_country is not None:
        cons.append(f"at most {rs.max_per_country} per country")
    if rs.max_per_role is not None:
        cons.append(f"at most {rs.max_per_role} per role (a company counts for each role it carries)")
    steps.append(
        ("constraints", "; ".join(cons) + "; a name that breaks a cap is skipped and the next one fills the place")
    )
    weighting = (
        "by market cap (a member with an unknown market cap gets the smallest known member's)"
        if rs.weighting == "market_cap"
        else "equally"
    )
    cap = (
        f"; no member above {rs.max_weight:.1%}, the excess spread over the others in proportion (equal weights "
        "when the members are too few to meet the cap)"
        if rs.max_weight is not None and rs.max_weight < 1
        else ""
    )
    steps.append(("portfolio", f"weight the members {weighting}{cap}; the weights add up to 100%"))
    return steps


def plan_lines(rs: RuleSet, width: int = 100) -> list[str]:
    """The plan as plain text lines wrapped at ``width`` with a hanging indent: nothing is cut, whatever the width."""
    import textwrap

    steps = plan(rs)
    label = max(len(s) for s, _ in steps) + 2
    out: list[str] = []
    for step, words in steps:
        out += textwrap.wrap(
            words,
            width=max(width, label + 20),
            initial_indent=step.ljust(label),
            subsequent_indent=" " * label,
            break_long_words=False,
            break_on_hyphens=False,
        )
    return out


def plan_frame(rs: RuleSet) -> pl.DataFrame:
    steps = plan(rs)
    return pl.DataFrame(
        {"step": [s for s, _ in steps], "plan": [p for _, p in steps]}, schema={"step": pl.String, "plan": pl.String}
    )
