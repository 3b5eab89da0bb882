"""Cross-sectional helpers: percentile rank, winsorize and robust z-score, each optionally within groups.

Why plain polars expressions: the factor engine and the rules engine both compose them into one lazy plan, so a
percentile "by role" costs a window expression rather than a Python loop. Every helper treats null and NaN as
missing: a missing value never takes part in a median, a quantile or a rank, and stays missing in the output.

``robust_scale_columns`` is the one helper that is not an expression: it robust-scales a matrix of factor components
by calling scikit-learn's ``RobustScaler`` itself, which is how the multi-component factors put unlike units on one
scale. Why the real scaler rather than a copy of its arithmetic: it is the reference implementation, so the
composite factors share one well-known definition that METHODOLOGY.md can name. Its import (scipy behind it, about a
second) happens only when scores are computed: inside that function, and earlier on a thread that the factor engine
starts while it builds the point-in-time panels. Commands that reuse stored scores never import it.
``robust_zscore`` is the expression form of the same scaling, and a test holds it to the real ``RobustScaler`` on
random columns.
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


def robust_scale_columns(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """Scale each column with scikit-learn's ``RobustScaler`` (median and interquartile range, nulls ignored).

    Why scikit-learn: it is the reference implementation of robust scaling, so the composite factors share one
    well-known definition (and METHODOLOGY.md can point to it). Its import costs about a second, which is paid
    only when scores are (re)computed, never by commands that reuse stored scores.

    Returns a frame of the same height with the same column names. Columns with no observed value come back all
    null. The result does not depend on row order: the statistics are order-free and the transform is element-wise.
    """
    import numpy as np
    from sklearn.preprocessing import RobustScaler

    if not columns:
        return pl.DataFrame()
    matrix = frame.select([_expr(c).alias(c) for c in columns]).to_numpy().astype(np.float64)
    observed = ~np.all(np.isnan(matrix), axis=0) if matrix.shape[0] else np.zeros(len(columns), dtype=bool)
    out = np.full_like(matrix, np.nan)
    if observed.any():
        out[:, observed] = RobustScaler(quantile_range=(25.0, 75.0)).fit_transform(matrix[:, observed])
    frame_out = pl.DataFrame({c: out[:, i] for i, c in enumerate(columns)}, schema=dict.fromkeys(columns, pl.Float64))
    return frame_out.select([pl.col(c).fill_nan(None) for c in columns])


def weighted_robust_sum(
    frame: pl.DataFrame, signs: Mapping[str, float], weights: Mapping[str, float], clip: float
) -> pl.Series:
    """Sum over components of ``weight * clip(sign * robust z, -clip, clip)``; a missing component counts 0.

    Why robust z and a clip: component units differ (years of runway, growth rates, ratios) and small caps produce
    extreme ratios; scaling by median/IQR and clipping keeps one outlier from deciding the factor.
    """
    names = list(signs)
    scaled = robust_scale_columns(frame, names)
    total = pl.lit(0.0)
    for name in names:
        total = total + weights[name] * (signs[name] * pl.col(name)).clip(-clip, clip).fill_null(0.0)
    return scaled.select(total.alias("v")).to_series()
