"""Cross-sectional helpers: percentile rank, winsorize and robust z-score, each optionally within groups.

Why plain polars expressions: the factor engine and the rules engine both compose them into one lazy plan, so a
percentile "by role" costs a window expression rather than a Python loop. Every helper treats null and NaN as
missing: a missing value never takes part in a median, a quantile or a rank, and stays missing in the output.

``robust_scale_panel`` is the one helper that is not an expression: it robust-scales factor components within each
group (each as-of date of the engine's panel), which is how the multi-component factors put unlike units on one
scale. It reproduces scikit-learn's ``RobustScaler`` bit for bit (numpy's median and linear quartiles, operation for
operation, and the same zero-scale rule), so the composite factors keep one well-known definition that
METHODOLOGY.md can name, and a test holds it to the real scaler; but it scales 150 dates in one pass and never
imports scikit-learn. ``robust_zscore`` is the expression form of the same scaling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

#: RobustScaler treats a scale below this as zero and replaces it with 1 (numpy float64 epsilon times ten).
_ZERO_SCALE = 10 * 2.220446049250313e-16

Group = str | Sequence[str] | None


def _expr(col: str | pl.Expr) -> pl.Expr:
    """Accept a column name or an expression; NaN counts as missing so it can never win a rank."""
    e = pl.col(col) if isinstance(col, str) else col
    return e.cast(pl.Float64).fill_nan(None)


def _over(e: pl.Expr, by: Group) -> pl.Expr:
    if by is None:
        return e
    keys = [by] if isinstance(by, str) else list(by)
    return e.over(keys) if keys else e


def percentile_rank(col: str | pl.Expr, *, by: Group = None) -> pl.Expr:
    """Average rank among the non-null values of the group, mapped to [0, 1] as (rank - 1) / (n - 1).

    Ties share their average rank, so equal inputs always get equal percentiles. A group with a single non-null
    value gets 0.5 (it is neither best nor worst); null stays null. Higher raw value, higher percentile.
    """
    e = _expr(col)
    rank = e.rank("average")
    n = e.count().cast(pl.Float64)
    pct = (
        pl.when(e.is_null())
        .then(pl.lit(None, dtype=pl.Float64))
        .when(n > 1)
        .then((rank - 1) / (n - 1))
        .otherwise(pl.lit(0.5))
    )
    return _over(pct, by)


def winsorize(col: str | pl.Expr, *, lower: float = 0.01, upper: float = 0.99, by: Group = None) -> pl.Expr:
    """Clip to the group's ``lower`` and ``upper`` quantiles (linear interpolation); nulls stay null.

    Why: one company with a data error (a capex of 10^12) must not stretch the scale for everyone else.
    """
    if not 0.0 <= lower <= upper <= 1.0:
        raise ValueError(f"winsorize needs 0 <= lower <= upper <= 1, got {lower}, {upper}")
    e = _expr(col)
    lo = e.quantile(lower, "linear")
    hi = e.quantile(upper, "linear")
    return _over(e.clip(lo, hi), by)


def robust_zscore(col: str | pl.Expr, *, by: Group = None, scale: str = "iqr") -> pl.Expr:
    """(x - median) / scale within the group; nulls are ignored in the fit and stay null.

    ``scale="iqr"`` is scikit-learn's ``RobustScaler`` exactly: the 75th minus the 25th percentile with linear
    interpolation, and a scale of (near) zero replaced by 1 so a constant column maps to 0 instead of dividing by
    zero. ``scale="mad"`` uses the median absolute deviation instead (same zero rule), which ignores more of the
    tails when a quarter of the group shares one value.
    """
    e = _expr(col)
    med = e.median()
    if scale == "iqr":
        s = e.quantile(0.75, "linear") - e.quantile(0.25, "linear")
    elif scale == "mad":
        s = (e - med).abs().median()
    else:
        raise ValueError(f"scale must be 'iqr' or 'mad', got {scale!r}")
    s = pl.when(s.abs() < _ZERO_SCALE).then(pl.lit(1.0)).otherwise(s)
    return _over((e - med) / s, by)


#: The two quartiles ``RobustScaler`` takes its scale from, by the name of their columns.
_QUARTILES = (("q3", 0.75), ("q1", 0.25))


def _positions(c: str) -> list[pl.Expr]:
    """Where numpy reads the median and the quartiles in the sorted list ``c`` of ``n`` values, as columns.

    The median is the mean of the values at ``(n - 1) // 2`` and ``n // 2``. Quantile ``q`` sits at
    ``virtual = n * q + (1 - q) - 1``: the values at its floor and the next position (within the list), and the
    fraction ``t`` between them."""
    n = pl.col(c).list.len()
    last = (n - 1).clip(lower_bound=0)
    out = [((n - 1) // 2).clip(lower_bound=0).alias(f"_lo.{c}"), (n // 2).clip(lower_bound=0).alias(f"_hi.{c}")]
    for tag, q in _QUARTILES:
        virtual = n.cast(pl.Float64) * q + (1.0 - q) - 1.0
        below = virtual.floor()
        out += [
            (virtual - below).alias(f"_t{tag}.{c}"),
            below.cast(pl.Int64).clip(0, last).alias(f"_ia{tag}.{c}"),
            (below.cast(pl.Int64) + 1).clip(0, last).alias(f"_ib{tag}.{c}"),
        ]
    return out


def _values_at(c: str) -> list[pl.Expr]:
    """The values at the positions ``_positions`` found (null in an empty list), and numpy's median of them."""
    v = pl.col(c)

    def at(position: str) -> pl.Expr:
        return v.list.get(pl.col(position), null_on_oob=True)

    out = [((at(f"_lo.{c}") + at(f"_hi.{c}")) / 2.0).alias(f"_m.{c}")]
    for tag, _q in _QUARTILES:
        out += [at(f"_ia{tag}.{c}").alias(f"_a{tag}.{c}"), at(f"_ib{tag}.{c}").alias(f"_b{tag}.{c}")]
    return out


def _quartiles(c: str) -> list[pl.Expr]:
    """numpy's linear quartiles from the values around them, operation for operation: ``a + (b - a) * t`` below
    ``t = 0.5`` and ``b - (b - a) * (1 - t)`` from it on; the same floating-point operations in the same order give
    the same bits."""
    out = []
    for tag, _q in _QUARTILES:
        a, b, t = pl.col(f"_a{tag}.{c}"), pl.col(f"_b{tag}.{c}"), pl.col(f"_t{tag}.{c}")
        diff = b - a
        out.append(pl.when(t >= 0.5).then(b - diff * (1.0 - t)).otherwise(a + diff * t).alias(f"_{tag}.{c}"))
    return out


def robust_scale_panel(frame: pl.DataFrame, columns: Sequence[str], by: str) -> pl.DataFrame:
    """``RobustScaler`` within each group of ``by`` (e.g. each as-of date), bit for bit, in one polars pass.

    Why not call scikit-learn per group: a backtest scores 150 dates at once, and 150 fits cost seconds plus a
    second to import scikit-learn. Each group's values are sorted once; median and quartiles follow numpy's
    definitions operation for operation (``_positions``, ``_values_at``, ``_quartiles``), a scale below ten machine
    epsilons becomes 1 as in scikit-learn, and the transform divides element by element as scikit-learn's does. A
    test holds the result to ``RobustScaler`` exactly. A group where a column has no value leaves it null. Rows keep
    ``frame``'s order.

    The statistics are computed in steps (positions, the values there, the quartiles), each a column: written as
    one expression per statistic, every reuse of a position copies its whole expression, and polars spends
    milliseconds per column planning the tree, several times the work itself on a small cross-section."""
    if not columns:
        return pl.DataFrame()
    sorted_ = frame.group_by(by).agg([_expr(c).drop_nulls().sort().alias(c) for c in columns])
    steps = sorted_.with_columns([e for c in columns for e in _positions(c)])
    steps = steps.with_columns([e for c in columns for e in _values_at(c)])
    steps = steps.with_columns([e for c in columns for e in _quartiles(c)])
    stats = []
    for c in columns:
        scale = pl.col(f"_q3.{c}") - pl.col(f"_q1.{c}")
        stats += [pl.col(f"_m.{c}"), pl.when(scale < _ZERO_SCALE).then(pl.lit(1.0)).otherwise(scale).alias(f"_s.{c}")]
    per = steps.select(by, *stats)
    joined = frame.select(by, *[_expr(c).alias(c) for c in columns]).join(per, on=by, how="left", maintain_order="left")
    # the transform element by element, as scikit-learn does it: on whole series, never in an expression, where
    # polars may divide a column by a broadcast value (one group's scale) through its reciprocal, which differs in
    # the last bit. Series arithmetic keeps numpy (a tenth of a second to import) off the scoring path.
    out = {}
    for c in columns:
        x, m, sc = (joined[k].cast(pl.Float64) for k in (c, f"_m.{c}", f"_s.{c}"))
        out[c] = (x - m) / sc
    result = pl.DataFrame(out, schema=dict.fromkeys(columns, pl.Float64))
    return result.select([pl.col(c).fill_nan(None) for c in columns])


def weighted_robust_sum(
    frame: pl.DataFrame, signs: Mapping[str, float], weights: Mapping[str, float], clip: float
) -> pl.Series:
    """Sum over components of ``weight * clip(sign * robust z, -clip, clip)``; a missing component counts 0.

    Why robust z and a clip: component units differ (years of runway, growth rates, ratios) and small caps produce
    extreme ratios; scaling by median/IQR and clipping keeps one outlier from deciding the factor. The scaling is a
    cross-section: with an ``as_of`` column (the engine's panel of dates) each date is scaled on its own.
    """
    names = list(signs)
    if "as_of" not in frame.columns:  # one cross-section
        frame = frame.with_columns(pl.lit(0).alias("as_of"))
    scaled = robust_scale_panel(frame, names, "as_of")
    total = pl.lit(0.0)
    for name in names:
        total = total + weights[name] * (signs[name] * pl.col(name)).clip(-clip, clip).fill_null(0.0)
    return scaled.select(total.alias("v")).to_series()
