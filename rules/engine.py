"""The rules engine: one rule set and one score frame in, one ranked and explained table out.

The algorithm, step by step (``rank`` below follows it line by line; ``screener rules explain`` prints the same
plan for a given rule set in words):

1. **Classify.** Each company gets a tilt class (``enabler`` when it carries any of the rule set's enabler roles,
   else ``miner`` when it mines, else ``downstream_user``, else its first role) and a tilt: the product of the
   multipliers the rule set gives to the keys the company matches (each role it carries, ``enabler``,
   ``pure_miner`` when its roles are exactly ``miner``, and its downstream segment such as ``ev_auto``). A company
   matching no key has tilt 1. The tilt class is the rule set's own coarse class, in its own ``tilt_class``
   column: it depends on the rule set's ``enabler_roles``, so it cannot be the score frame's ``role_class`` (the
   data contract's six classes, decided once in ``factors.inputs``), which passes through untouched.

2. **Universe filter.** Roles to include (any of) or exclude (any of), countries or regions (a company passes when
   its country or its region is listed), excluded countries and regions, stages, minimum market cap in USD, minimum
   median traded value in USD, minimum data completeness, and an optional ``where`` condition. A missing value
   fails a minimum. A company that fails is marked ``filtered`` with the first condition it failed, in words with
   its own value ("market cap USD 41.2m below USD 50m", "no liquidity data").

3. **Gates.** Hard conditions on factor values or percentiles, in file order. They read the factor library's
   percentiles (across every scored company), so "liquidity_pct >= 0.2" means the same thing whatever else is
   filtered. A company that fails (a missing value fails) is marked ``gated`` with the gate's name and the part of
   the condition that failed ("failed gate tradeable (liquidity_pct 0.12 < 0.15)"); ``out_factor`` names the
   factor whose data decided it, so a change report can look for the event behind it.

4. **Missing factor values.** Under ``missing = "exclude"`` a company missing a weighted factor is marked
   ``excluded``. What is left is the *eligible set*.

5. **Percentiles over the eligible set.** Every factor is ranked again among the eligible companies only, within
   the rule set's groups (the whole set, each tilt class, or each region): average rank of the non-missing values,
   mapped to [0, 1], 0.5 for a group of one. ``F_pct`` keeps the factor's own direction (a high
   ``dilution_risk_pct`` is a high risk). Under ``over = "scored"`` the ranking is over every scored company
   instead, so a short list that its gates already cut to the strong end keeps the scale its gates speak of
   (a survivor's balance sheet never reads 0.00 just because it is the weakest of the survivors).

6. **Direction.** Each weighted factor becomes a "better is higher" score: the percentile for a higher-is-better
   factor, one minus it for a higher-is-worse factor, and the opposite when the rule set prefers the worse end
   (``prefer = "worse"``, for lists to avoid or hedge). A missing percentile counts 0.5 under ``missing =
   "neutral"`` and 0 under ``"worst"``.

7. **Weighted score.** ``contrib.F = weight_F / sum(weights) * better_F * tilt`` and ``score = sum(contrib.F)``,
   so the contributions always add up to the score, tilt included.

8. **Order.** Score descending, then the rule set's tie-break column (ascending or descending, missing last), and
   finally symbol ascending, so equal inputs always give the same order. That position is ``candidate_rank``.

9. **Membership buffer.** Last run's members (the incumbents) are kept first, in order, while their candidate rank
   is within ``stay_within`` (M). The remaining places up to ``top_n`` (N) are filled in order from the top, so a
   newcomer enters only within the top N unless a constraint skipped someone above it.

10. **Constraints.** While places are filled, a company is skipped when its country already has
    ``max_per_country`` members or any role it carries already has ``max_per_role`` members.

11. **Members** are ranked 1..k in candidate order and each gets a one-line reason: its tilt class, the factors
    that lifted it most (only factors on the good side of the middle are cited, so a reason never praises a
    weakness), and whether the buffer kept it. Every other company keeps a ``why_out``.

12. **Portfolio weights.** Each member gets a ``weight`` (summing to 1 over the members, null for everyone else),
    from the rule set's ``[portfolio]``: ``equal`` gives 1/n; ``market_cap`` gives market cap / sum, and a member
    whose market cap is unknown gets the smallest known member's market cap (it stays in the list the rules chose,
    but an unknown size is never read as a large one). ``max_weight`` then caps the weights the way a capped index
    does: weights above the cap are set to it and the excess is spread over the uncapped members in proportion to
    their weights, repeated until none exceeds the cap. When the cap cannot be met (``max_weight`` x members < 1)
    every member gets 1/n and ``Ranking.weight_note`` says so. Weights never change who is a member or the order.

Nothing here reads the store or the clock: the same scores, rules and incumbents give the same table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from rules.explain import MAX_EXTRA_DIGITS, compared, reasons, usd_text
from rules.expr import Compiled
from rules.ruleset import RuleSet, factor_specs
from rules.why import factor_of, why_false
from screener.errors import ScreenerError

#: Words for a row that failed a check, and the factor whose data decided it (None when no factor did).
Describe = Callable[[Mapping[str, Any]], tuple[str, str | None]]

STATUS_ORDER = {"member": 0, "candidate": 1, "excluded": 2, "gated": 3, "filtered": 4}
LIQUIDITY_USD = "liquidity.median_traded_value_usd"
_STRUCT_SEP = ";"


@dataclass(frozen=True)
class Ranking:
    """Every company with its status and, for the eligible ones, percentiles, contributions and score."""

    table: pl.DataFrame
    rules: RuleSet
    factors: tuple[str, ...]
    #: Why the members' weights are not what ``[portfolio]`` asks for (an unmeetable cap), else None.
    weight_note: str | None = None

    @property
    def members(self) -> pl.DataFrame:
        return watchlist_rows(self.table, self.rules.factors, self.factors)


def eligible_pct(factor: str) -> str:
    """Payload column holding a factor's percentile over the eligible set (``F_pct`` in watchlist rows)."""
    return f"{factor}_pct_eligible"


def factors_in(scores: pl.DataFrame) -> tuple[str, ...]:
    """Registered factors present in a score frame, in registration order."""
    return tuple(f for f in factor_specs() if f in scores.columns)


def _roles_list() -> pl.Expr:
    return pl.col("roles").fill_null("").str.split(_STRUCT_SEP)


def _any_role(roles: Sequence[str]) -> pl.Expr:
    return _roles_list().list.eval(pl.element().is_in(list(roles))).list.any()


#: The column holding the rule set's coarse class (step 1); ``group_by = "role"`` groups by it.
TILT_CLASS = "tilt_class"


def classify(rs: RuleSet) -> list[pl.Expr]:
    """Step 1: tilt class and tilt per company.

    Why a column of its own: "enabler" here means the rule set's ``enabler_roles``, which a rule file may narrow,
    so the class is a property of the rule set, not of the company. The company's ``role_class`` comes from the
    score frame and is never rewritten, so a company has the same role class in ``score``, ``screen`` and every
    stored run.
    """
    roles = _roles_list()
    pure_miner = pl.col("roles") == "miner"
    enabler = _any_role(rs.enabler_roles)
    tilt_class = (
        pl.when(enabler)
        .then(pl.lit("enabler"))
        .when(roles.list.contains("miner"))
        .then(pl.lit("miner"))
        .when(roles.list.contains("downstream_user"))
        .then(pl.lit("downstream_user"))
        .otherwise(roles.list.first())
    )
    from screener.contract import SEGMENTS

    tilt = pl.lit(1.0)
    for key, mult in rs.tilts.items():
        if key == "enabler":
            hit = enabler
        elif key == "pure_miner":
            hit = pure_miner
        elif key in SEGMENTS:
            hit = pl.col("segment") == key
        else:
            hit = roles.list.contains(key)
        tilt = tilt * pl.when(hit.fill_null(False)).then(pl.lit(mult)).otherwise(pl.lit(1.0))
    return [tilt_class.alias(TILT_CLASS), tilt.alias("tilt")]


def _minimum(
    column: str, what: str, minimum: float, text: Callable[[float, int], str], factor: str | None = None
) -> Describe:
    def describe(row: Mapping[str, Any]) -> tuple[str, str | None]:
        v = row.get(column)
        if v is None or v != v:
            return f"no {factor or what} data", factor
        value, bound = compared(v, "<", minimum, text)  # digits enough that the two never read as equal
        return f"{what} {value} below {bound}", factor

    return describe


def _condition(prefix: str, cond: Compiled) -> Describe:
    def describe(row: Mapping[str, Any]) -> tuple[str, str | None]:
        words, names = why_false(cond.node, row)
        factor = next((f for f in (factor_of(n) for n in names) if f), None)
        return f"{prefix}{words}", factor

    return describe


def _pct_text(v: float, extra: int = 0) -> str:
    return repr(v) if extra > MAX_EXTRA_DIGITS else f"{v:.{extra}%}"


def _share_text(v: float, extra: int = 0) -> str:
    """A share of a business as a percent with the digits it needs: 0.1% and 0.3% stay apart from 0%, so a
    conglomerate's reason never reads "exposure 0% below 10%"."""
    if extra > MAX_EXTRA_DIGITS:
        return repr(v)
    if v == 0 or v >= 0.1:
        return f"{v:.{extra}%}"
    return f"{v * 100:.{2 + extra}g}%" if v * 100 < 1 else f"{v:.{1 + extra}%}"


def universe_checks(
    rs: RuleSet, columns: Collection[str], extra: Sequence[tuple[str, Compiled]] = ()
) -> list[tuple[str, pl.Expr, Describe | None]]:
    """Step 2 as (label, condition, how to say why a row failed it with its own numbers)."""
    u = rs.universe
    out: list[tuple[str, pl.Expr, Describe | None]] = []
    if u.include_roles:
        out.append((f"has none of the roles {', '.join(u.include_roles)}", _any_role(u.include_roles), None))
    if u.exclude_roles:
        out.append((f"carries an excluded role ({', '.join(u.exclude_roles)})", ~_any_role(u.exclude_roles), None))
    if u.countries or u.regions:
        places = [*u.countries, *u.regions]
        out.append(
            (
                f"outside {', '.join(places)}",
                pl.col("country").is_in(list(u.countries)) | pl.col("region").is_in(list(u.regions)),
                None,
            )
        )
    if u.exclude_countries:
        out.append(
            (
                f"in an excluded country ({', '.join(u.exclude_countries)})",
                ~pl.col("country").is_in(list(u.exclude_countries)),
                None,
            )
        )
    if u.exclude_regions:
        out.append(
            (
                f"in an excluded region ({', '.join(u.exclude_regions)})",
                ~pl.col("region").is_in(list(u.exclude_regions)),
                None,
            )
        )
    if u.stages:
        out.append((f"stage not {' or '.join(u.stages)}", pl.col("stage").is_in(list(u.stages)), None))
    if u.min_market_cap_usd is not None:
        out.append(
            (
                f"market cap below {usd_text(u.min_market_cap_usd)} or unknown",
                pl.col("market_cap_usd") >= u.min_market_cap_usd,
                _minimum("market_cap_usd", "market cap", u.min_market_cap_usd, usd_text),
            )
        )
    if u.min_liquidity_usd is not None:
        col = LIQUIDITY_USD if LIQUIDITY_USD in columns else "liquidity"
        out.append(
            (
                f"median traded value below {usd_text(u.min_liquidity_usd)} or unknown",
                pl.col(col) >= u.min_liquidity_usd,
                _minimum(col, "median traded value", u.min_liquidity_usd, usd_text, "liquidity"),
            )
        )
    if u.min_data_completeness is not None:
        out.append(
            (
                f"data completeness below {u.min_data_completeness:.0%}",
                pl.col("data_completeness") >= u.min_data_completeness,
                _minimum("data_completeness", "data completeness", u.min_data_completeness, _pct_text),
            )
        )
    if u.min_exposure is not None:
        known = pl.col("exposure") if "exposure" in columns else pl.lit(None, dtype=pl.Float64)
        out.append(
            (
                f"rare-earth exposure below {u.min_exposure:.0%}",
                known.is_null() | (known >= u.min_exposure),
                _minimum("exposure", "rare-earth exposure", u.min_exposure, _share_text),
            )
        )
    if u.where is not None:
        out.append((f"universe.where: {u.where.text}", u.where.expr, _condition("universe.where: ", u.where)))
    for label, cond in extra:
        out.append((f"{label}: {cond.text}", cond.expr, _condition(f"{label}: ", cond)))
    return out


def _first_failure(conds: Sequence[tuple[str, pl.Expr]]) -> pl.Expr:
    if not conds:
        return pl.lit(None, dtype=pl.String)
    return pl.coalesce([pl.when(cond.fill_null(False)).then(None).otherwise(pl.lit(label)) for label, cond in conds])


def required_columns(rs: RuleSet, extra: Sequence[Compiled] = ()) -> set[str]:
    cols = {"symbol", "name", "country", "region", "roles", "stage", "data_completeness", "flags", "demo"}
    cols |= set(rs.factors)
    for c in [rs.universe.where, *(g.condition for g in rs.gates), *extra]:
        if c is not None:
            cols |= set(c.names)
    if rs.universe.min_market_cap_usd is not None:
        cols.add("market_cap_usd")
    from screener.contract import SEGMENTS

    if any(k in SEGMENTS for k in rs.tilts):
        cols.add("segment")
    cols.add(rs.tie_break)
    if rs.weighting == "market_cap":
        cols.add("market_cap_usd")
    return cols


def rank(
    scores: pl.DataFrame,
    rs: RuleSet,
    *,
    incumbents: Collection[str] = (),
    where: Sequence[tuple[str, Compiled]] = (),
    top_n: int | None = None,
) -> Ranking:
    """Run steps 1-11 on a score frame; ``where`` adds ad hoc universe conditions and ``top_n`` overrides N."""
    from factors.crosssection import percentile_rank

    missing = sorted(required_columns(rs, [c for _, c in where]) - set(scores.columns))
    if missing:
        raise ScreenerError(
            f"the scores lack {', '.join(missing)} needed by rule set {rs.name!r}; "
            "rerun 'screener score' to recompute them"
        )
    factors = factors_in(scores)
    specs = factor_specs()
    n_top = top_n if top_n is not None else rs.top_n
    stay = max(rs.stay_within, n_top)

    df = scores.with_columns(classify(rs))
    # Steps 2-3: first failed universe condition, then first failed gate.
    checks = universe_checks(rs, df.columns, where)
    describe: dict[str, Describe] = {label: d for label, _, d in checks if d is not None}
    df = df.with_columns(_first_failure([(label, cond) for label, cond, _ in checks]).alias("_filtered"))
    gates = []
    for g in rs.gates:
        label = f"failed gate {g.name} ({g.condition.text})"
        gates.append((label, g.condition.expr))
        describe[label] = _gate(g.name, g.condition)
    df = df.with_columns(
        pl.when(pl.col("_filtered").is_not_null()).then(None).otherwise(_first_failure(gates)).alias("_gated")
    )
    # Step 4: missing weighted factors under "exclude".
    if rs.on_missing == "exclude":
        miss = [(f"missing {f}", pl.col(f).is_not_null()) for f in rs.factors]
        excl = _first_failure(miss)
        for f in rs.factors:
            describe[f"missing {f}"] = _no_data(f)
    else:
        excl = pl.lit(None, dtype=pl.String)
    df = df.with_columns(
        pl.when(pl.col("_filtered").is_not_null())
        .then(pl.lit("filtered"))
        .when(pl.col("_gated").is_not_null())
        .then(pl.lit("gated"))
        .when(excl.is_not_null())
        .then(pl.lit("excluded"))
        .otherwise(None)
        .alias("status"),
        pl.coalesce([pl.col("_filtered"), pl.col("_gated"), excl]).alias("why_out"),
    ).drop("_filtered", "_gated")

    eligible = df.filter(pl.col("status").is_null())
    others = _explain_out(df.filter(pl.col("status").is_not_null()), describe)
    group = {"universe": None, "role": TILT_CLASS, "region": "region"}[rs.group_by]
    # Step 5: percentiles over the eligible set (or every scored company), grouped.
    pcts = [percentile_rank(f, by=group).alias(eligible_pct(f)) for f in factors]
    if rs.percentile_over == "scored":
        eligible = eligible.join(df.select("symbol", *pcts), on="symbol", how="left")
    else:
        eligible = eligible.with_columns(pcts)
    # Steps 6-7: direction, weights, tilt.
    fill = 0.5 if rs.on_missing == "neutral" else 0.0
    contribs = []
    for w in rs.weights:
        pct = pl.col(eligible_pct(w.factor))
        better = pct if specs[w.factor].direction == "higher_is_better" else 1.0 - pct
        if w.prefer == "worse":
            better = 1.0 - better
        contribs.append(
            (better.fill_null(fill) * (w.weight / rs.total_weight) * pl.col("tilt")).alias(f"contrib.{w.factor}")
        )
    eligible = eligible.with_columns(contribs)
    eligible = eligible.with_columns(pl.sum_horizontal([f"contrib.{w.factor}" for w in rs.weights]).alias("score"))
    # Step 8: stated order.
    eligible = (
        eligible.sort(
            ["score", rs.tie_break, "symbol"],
            descending=[True, rs.tie_break_order == "desc", False],
            nulls_last=True,
            maintain_order=True,
        )
        .with_row_index("candidate_rank", offset=1)
        .with_columns(pl.col("candidate_rank").cast(pl.Int64))
    )
    # Steps 9-10: buffer and constraints.
    chosen, kept, why = _select(eligible, set(incumbents), n_top, stay, rs)
    ranks = pl.DataFrame(
        {"symbol": chosen, "rank": list(range(1, len(chosen) + 1))}, schema={"symbol": pl.String, "rank": pl.Int64}
    )
    whys = pl.DataFrame(
        {"symbol": list(why), "_why": list(why.values())}, schema={"symbol": pl.String, "_why": pl.String}
    )
    eligible = (
        eligible.join(ranks, on="symbol", how="left")
        .join(whys, on="symbol", how="left")
        .with_columns(
            pl.col("symbol").is_in(pl.Series(sorted(kept), dtype=pl.String)).alias("kept_by_buffer"),
            pl.col("symbol").is_in(pl.Series(sorted(incumbents), dtype=pl.String)).alias("incumbent"),
            pl.when(pl.col("rank").is_not_null()).then(pl.lit("member")).otherwise(pl.lit("candidate")).alias("status"),
            pl.when(pl.col("rank").is_not_null()).then(None).otherwise(pl.col("_why")).alias("why_out"),
        )
        .drop("_why")
    )
    table = pl.concat([eligible, others], how="diagonal_relaxed")
    table = (
        table.with_columns(
            pl.col("status").replace_strict(STATUS_ORDER, return_dtype=pl.Int32).alias("_o"),
            pl.col("incumbent").fill_null(False),
            pl.col("kept_by_buffer").fill_null(False),
        )
        .sort(["_o", "rank", "candidate_rank", "symbol"], nulls_last=True)
        .drop("_o")
    )
    # Step 11: reasons.
    table = table.with_columns(pl.Series("reason", reasons(table, rs, factors), dtype=pl.String))
    # Step 12: portfolio weights of the members, in rank order.
    members = table.filter(pl.col("status") == "member").sort("rank")
    caps = members["market_cap_usd"].to_list() if "market_cap_usd" in members.columns else [None] * members.height
    weights, note = portfolio_weights(caps, rs.weighting, rs.max_weight)
    weight = pl.DataFrame(
        {"symbol": members["symbol"].to_list(), "weight": weights}, schema={"symbol": pl.String, "weight": pl.Float64}
    )
    table = table.join(weight, on="symbol", how="left", maintain_order="left")
    return Ranking(table, rs, factors, note)


def portfolio_weights(
    market_caps: Sequence[float | None], weighting: str = "equal", max_weight: float | None = None
) -> tuple[list[float], str | None]:
    """Weights for members with these market caps (in member order), and a note when the cap could not be met.

    Why this way: ``market_cap`` follows the size of each company as an index would; a member with an unknown (or
    non-positive) market cap takes the smallest known member's, so a gap in the data neither drops a name the rules
    chose nor gives it a weight it has not shown. The cap is the standard capped-index method: every weight above
    ``max_weight`` is set to it and the excess goes to the uncapped members in proportion to their weights, repeated
    until none is above. Scaling the uncapped members together keeps their proportions, so a bigger company never
    gets a smaller weight; each pass caps at least one more member, so it ends within n passes. When the cap cannot
    be met (``max_weight`` x n < 1) there is no capped answer; every member gets 1/n (the flattest, closest to the
    cap) and the note says so. The result depends only on the inputs and their order.
    """
    n = len(market_caps)
    if n == 0:
        return [], None
    note: str | None = None
    if weighting == "market_cap":
        known = [float(c) for c in market_caps if _usable(c)]
        if known:
            floor = min(known)
            raw = [float(c) if _usable(c) else floor for c in market_caps]  # type: ignore[arg-type]
        else:
            raw = [1.0] * n
            note = "no member has a known market cap: equal weights"
    elif weighting == "equal":
        raw = [1.0] * n
    else:
        raise ScreenerError(f"unknown weighting {weighting!r}; choose equal or market_cap")
    total = math.fsum(raw)
    weights = [r / total for r in raw]
    if max_weight is None or max_weight >= 1:
        return weights, note
    if max_weight * n < 1:  # exact, as the property states it: no tolerance that could hide a cap below 1/n
        # the cap with the digits that keep it visibly below 1/n (9.999% x 10, never "10.00% x 10 is below 100%")
        cap, _ = compared(max_weight, "<", 1 / n, lambda v, e: f"{v:.{2 + e}%}")
        return [1.0 / n] * n, (
            f"max_weight {cap} x {n} members is below 100%: the cap cannot be met, "
            f"so every member gets an equal {1 / n:.2%}"
        )
    capped = [False] * n
    for _ in range(n):
        free = [i for i in range(n) if not capped[i]]
        room = 1.0 - max_weight * (n - len(free))
        free_sum = math.fsum(raw[i] for i in free)
        over = [i for i in free if raw[i] / free_sum * room > max_weight]
        if not over or len(over) == len(free):
            # every remaining member over the cap happens only when max_weight x n is 1: all sit at the cap
            for i in over:
                capped[i] = True
            break
        for i in over:
            capped[i] = True
    free = [i for i in range(n) if not capped[i]]
    room = 1.0 - max_weight * (n - len(free))
    free_sum = math.fsum(raw[i] for i in free)
    return [max_weight if capped[i] else raw[i] / free_sum * room for i in range(n)], note


def _usable(cap: float | None) -> bool:
    return cap is not None and math.isfinite(cap) and cap > 0


def _gate(name: str, cond: Compiled) -> Describe:
    inner = _condition("", cond)

    def describe(row: Mapping[str, Any]) -> tuple[str, str | None]:
        words, factor = inner(row)
        return f"failed gate {name} ({words})", factor

    return describe


def _no_data(factor: str) -> Describe:
    def describe(row: Mapping[str, Any]) -> tuple[str, str | None]:
        return f"no {factor} data", factor

    return describe


def _explain_out(others: pl.DataFrame, describe: Mapping[str, Describe]) -> pl.DataFrame:
    """Replace each out-of-list row's generic label with its own numbers and name the factor that decided it."""
    whys: list[str | None] = []
    factors: list[str | None] = []
    for row in others.iter_rows(named=True):
        fn = describe.get(row["why_out"])
        words, factor = fn(row) if fn is not None else (row["why_out"], None)
        whys.append(words)
        factors.append(factor)
    return others.with_columns(
        pl.Series("why_out", whys, dtype=pl.String), pl.Series("out_factor", factors, dtype=pl.String)
    )


def _select(
    eligible: pl.DataFrame, incumbents: set[str], n: int, m: int, rs: RuleSet
) -> tuple[list[str], set[str], dict[str, str]]:
    """Fill N places: incumbents within M first, then the best of the rest, skipping names that break a cap."""
    rows = eligible.select("symbol", "country", "roles", "candidate_rank").to_dicts()
    chosen: list[str] = []
    kept: set[str] = set()
    why: dict[str, str] = {}
    per_country: dict[str, int] = {}
    per_role: dict[str, int] = {}

    def blocked(row: dict) -> str | None:
        if rs.max_per_country is not None and per_country.get(row["country"], 0) >= rs.max_per_country:
            return f"cap: already {rs.max_per_country} members from {row['country']}"
        if rs.max_per_role is not None:
            for role in (row["roles"] or "").split(_STRUCT_SEP):
                if role and per_role.get(role, 0) >= rs.max_per_role:
                    return f"cap: already {rs.max_per_role} members with role {role}"
        return None

    def take(row: dict) -> None:
        chosen.append(row["symbol"])
        per_country[row["country"]] = per_country.get(row["country"], 0) + 1
        for role in (row["roles"] or "").split(_STRUCT_SEP):
            if role:
                per_role[role] = per_role.get(role, 0) + 1

    for row in rows:
        if len(chosen) >= n:
            break
        if row["symbol"] in incumbents and row["candidate_rank"] <= m:
            reason = blocked(row)
            if reason:
                why[row["symbol"]] = reason
                continue
            take(row)
            if row["candidate_rank"] > n:
                kept.add(row["symbol"])
    for row in rows:
        if len(chosen) >= n:
            break
        if row["symbol"] in chosen:
            continue
        reason = blocked(row)
        if reason:
            why[row["symbol"]] = reason
            continue
        take(row)
    chosen_set = set(chosen)
    for row in rows:
        sym = row["symbol"]
        if sym in chosen_set or sym in why:
            continue
        if sym in incumbents and m > n:
            why[sym] = f"rank {row['candidate_rank']} outside the buffer (top {m})"
        else:
            why[sym] = f"rank {row['candidate_rank']} outside the top {n}"
    order = {r["symbol"]: r["candidate_rank"] for r in rows}
    return sorted(chosen, key=order.__getitem__), kept, why


def watchlist_rows(table: pl.DataFrame, weighted: Sequence[str], factors: Sequence[str]) -> pl.DataFrame:
    """The members as watchlist rows: identity, score, contributions, percentiles, data quality, reason.

    A factor's percentile here is ``F_pct_eligible`` (``eligible_pct``): the percentile over the eligible set that
    drove the score. It keeps that name so it is never mistaken for the factor library's ``F_pct`` (across every
    scored company), which the score frame, the Factors sheet and rule-set conditions read under that name.
    """
    members = table.filter(pl.col("status") == "member").sort("rank")
    return members.select(
        [
            pl.col("rank"),
            "symbol",
            "name",
            "country",
            "roles",
            "stage",
            pl.col("market_cap_usd")
            if "market_cap_usd" in table.columns
            else pl.lit(None, dtype=pl.Float64).alias("market_cap_usd"),
            "score",
            # the member's portfolio weight (step 12); a run stored before weights existed shows it empty
            pl.col("weight") if "weight" in table.columns else pl.lit(None, dtype=pl.Float64).alias("weight"),
            "tilt",
            *[f"contrib.{f}" for f in weighted],
            *[eligible_pct(f) for f in factors],
            "data_completeness",
            "flags",
            "demo",
            "reason",
        ]
    )
