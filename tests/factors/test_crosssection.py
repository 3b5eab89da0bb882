"""Cross-sectional helpers: percentile rank, winsorize, robust z-score and scaling (checked against scikit-learn)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factors.crosssection import percentile_rank, robust_scale_panel, robust_zscore, winsorize

floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


def test_percentile_rank_ties_nulls_and_single_value() -> None:
    df = pl.DataFrame({"x": [3.0, 1.0, None, 3.0, 2.0, float("nan")]})
    got = df.select(percentile_rank("x")).to_series().to_list()
    # non-null: 1, 2, 3, 3 -> ranks 1, 2, 3.5, 3.5 -> (r - 1) / 3
    assert got == pytest.approx([2.5 / 3, 0.0, None, 2.5 / 3, 1 / 3, None], nan_ok=False)
    single = pl.DataFrame({"x": [None, 7.0]}).select(percentile_rank("x")).to_series().to_list()
    assert single == [None, 0.5]
    empty = pl.DataFrame({"x": [None, None]}, schema={"x": pl.Float64}).select(percentile_rank("x")).to_series()
    assert empty.to_list() == [None, None]


def test_percentile_rank_by_group() -> None:
    df = pl.DataFrame({"g": ["a", "a", "b", "b", "b"], "x": [1.0, 2.0, 5.0, 4.0, 6.0]})
    got = df.select(percentile_rank(pl.col("x"), by="g")).to_series().to_list()
    assert got == [0.0, 1.0, 0.5, 0.0, 1.0]
    two_keys = df.with_columns(pl.lit("r").alias("h")).select(percentile_rank("x", by=["g", "h"])).to_series()
    assert two_keys.to_list() == got


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), floats), min_size=1, max_size=40))
def test_percentile_rank_in_unit_interval_and_monotone(values: list[float | None]) -> None:
    df = pl.DataFrame({"x": values}, schema={"x": pl.Float64})
    pct = df.select(percentile_rank("x")).to_series().to_list()
    pairs = [(v, p) for v, p in zip(values, pct, strict=True) if v is not None]
    assert all(p is None for v, p in zip(values, pct, strict=True) if v is None)
    assert all(0.0 <= p <= 1.0 for _, p in pairs)
    for v1, p1 in pairs:
        for v2, p2 in pairs:
            if v1 < v2:
                assert p1 < p2
            if v1 == v2:
                assert p1 == p2


def test_winsorize_clips_to_quantiles() -> None:
    df = pl.DataFrame({"x": [float(i) for i in range(101)] + [None]})
    got = df.select(winsorize("x", lower=0.05, upper=0.95)).to_series()
    assert got[0] == 5.0 and got[100] == 95.0 and got[50] == 50.0 and got[101] is None
    with pytest.raises(ValueError):
        winsorize("x", lower=0.9, upper=0.1)


def test_winsorize_by_group() -> None:
    df = pl.DataFrame({"g": ["a"] * 3 + ["b"] * 3, "x": [0.0, 1.0, 2.0, 10.0, 20.0, 30.0]})
    got = df.select(winsorize("x", lower=0.5, upper=0.5, by="g")).to_series().to_list()
    assert got == [1.0, 1.0, 1.0, 20.0, 20.0, 20.0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), floats), min_size=1, max_size=30))
def test_robust_zscore_matches_sklearn_robust_scaler(values: list[float | None]) -> None:
    from sklearn.preprocessing import RobustScaler

    arr = np.array([np.nan if v is None else v for v in values], dtype=float).reshape(-1, 1)
    df = pl.DataFrame({"x": values}, schema={"x": pl.Float64})
    got = df.select(robust_zscore("x")).to_series().to_list()
    if np.all(np.isnan(arr)):
        assert all(v is None for v in got)
        return
    want = RobustScaler().fit_transform(arr).ravel()
    for g, w in zip(got, want, strict=True):
        if math.isnan(w):
            assert g is None
        else:
            assert g == pytest.approx(w, rel=1e-9, abs=1e-9)


def test_robust_zscore_constant_column_is_zero_and_mad_option() -> None:
    df = pl.DataFrame({"x": [2.0, 2.0, 2.0, 2.0]})
    assert df.select(robust_zscore("x")).to_series().to_list() == [0.0] * 4
    df = pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 100.0]})
    # median 3, absolute deviations 2, 1, 0, 1, 97 -> MAD 1
    assert df.select(robust_zscore("x", scale="mad")).to_series().to_list() == [-2.0, -1.0, 0.0, 1.0, 97.0]
    with pytest.raises(ValueError):
        robust_zscore("x", scale="std")


def test_robust_zscore_by_group() -> None:
    df = pl.DataFrame({"g": ["a", "a", "a", "b", "b", "b"], "x": [1.0, 2.0, 3.0, 10.0, 20.0, 30.0]})
    got = df.select(robust_zscore("x", by="g")).to_series().to_list()
    assert got == [-1.0, 0.0, 1.0, -1.0, 0.0, 1.0]


def _one_group(df: pl.DataFrame, cols: list[str]) -> pl.DataFrame:
    return robust_scale_panel(df.with_columns(pl.lit(0).alias("g")), cols, "g")


def test_robust_scale_panel_is_row_order_free_and_keeps_nulls() -> None:
    df = pl.DataFrame(
        {"a": [1.0, None, 3.0, 10.0], "b": [None, None, None, None]}, schema={"a": pl.Float64, "b": pl.Float64}
    )
    out = _one_group(df, ["a", "b"])
    assert out["b"].null_count() == 4
    assert out["a"][1] is None
    rev = _one_group(df.reverse(), ["a", "b"]).reverse()
    assert out.equals(rev)
    assert _one_group(df.head(0), ["a"]).height == 0


def test_robust_scale_panel_scales_by_median_and_iqr() -> None:
    """Hand-computed: median 3, IQR 4 - 2 = 2, so 1 -> -1, 3 -> 0, 5 -> 1; an all-missing column stays null."""
    df = pl.DataFrame(
        {"a": [1.0, 2.0, 3.0, 4.0, 5.0], "b": [None, None, None, None, None]}, schema={"a": pl.Float64, "b": pl.Float64}
    )
    out = _one_group(df, ["a", "b"])
    assert out["a"].to_list() == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert out["b"].null_count() == 5


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.lists(
            st.one_of(st.none(), st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False)), min_size=0, max_size=40
        ),
        min_size=1,
        max_size=4,
    )
)
def test_robust_scale_panel_is_scikit_learns_robust_scaler_bit_for_bit(groups: list[list[float | None]]) -> None:
    """Every group scaled on its own equals ``RobustScaler`` fitted on that group alone, to the last bit."""
    import numpy as np
    from sklearn.preprocessing import RobustScaler

    rows = [(g, v) for g, values in enumerate(groups) for v in values]
    df = pl.DataFrame(rows, schema={"g": pl.Int64, "x": pl.Float64}, orient="row")
    got = robust_scale_panel(df, ["x"], "g")["x"]
    for g, values in enumerate(groups):
        mine = got.filter(df["g"] == g).to_numpy()
        x = np.array([np.nan if v is None else v for v in values], dtype=np.float64).reshape(-1, 1)
        if not len(values):
            continue
        if np.isnan(x).all():
            assert np.isnan(mine).all()
            continue
        want = RobustScaler(quantile_range=(25.0, 75.0)).fit_transform(x).ravel()
        assert np.array_equal(mine, want, equal_nan=True), (values, mine, want)
