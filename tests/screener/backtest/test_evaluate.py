"""Factor evaluation on frames small enough to check by hand: a higher-is-worse factor is turned before its IC, role
classes without enough names are left out, and every (factor, class) gets every horizon."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from screener.backtest.evaluate import evaluate_factors
from screener.backtest.result import TABLES
from screener.backtest.stats import forward_returns

D0 = date(2025, 1, 6)
DATES = [D0 + timedelta(days=7 * i) for i in range(4)]
SYMBOLS = [f"S{i:02d}" for i in range(12)]


def _panel() -> tuple[pl.DataFrame, pl.DataFrame]:
    """12 names over 5 weeks: S00..S09 enablers, S10..S11 miners; name i gains 1% a week per i.

    ``good`` is i (higher is better, perfectly right), ``risk`` is -i (higher is worse, also right), ``noise``
    is constant (no ordering)."""
    closes = [
        (s, D0 + timedelta(days=d), 10.0 * (1 + 0.01 * i) ** (d / 7))
        for i, s in enumerate(SYMBOLS)
        for d in range(0, 36)
    ]
    prices = pl.DataFrame(closes, schema={"symbol": pl.String, "date": pl.Date, "close_usd": pl.Float64}, orient="row")
    rows = [
        (d, s, "enabler" if i < 10 else "pure_miner", float(i), float(-i), 1.0)
        for d in DATES
        for i, s in enumerate(SYMBOLS)
    ]
    scores = pl.DataFrame(
        rows,
        schema={
            "date": pl.Date,
            "symbol": pl.String,
            "role_class": pl.String,
            "good": pl.Float64,
            "risk": pl.Float64,
            "noise": pl.Float64,
        },
        orient="row",
    )
    return scores, prices


def test_orientation_classes_and_shapes() -> None:
    scores, prices = _panel()
    horizons = {"1w": 7, "4w": 28}
    returns = forward_returns(prices, DATES, horizons)
    directions = {"good": "higher_is_better", "risk": "higher_is_worse", "noise": "higher_is_better"}
    tables = evaluate_factors(scores, returns, dates=DATES, horizon_days=horizons, step_days=7, directions=directions)
    for name in ("ic", "ic_series", "quantiles", "spreads", "stability"):
        assert tables[name].columns == list(TABLES[name]), name
    ic = tables["ic"]
    # the miners (2 names) never reach min_n = 5: only "all" and "enabler"
    assert ic.select("factor", "role_class", "horizon").rows() == [
        (f, g, h) for f in ("good", "risk", "noise") for g in ("all", "enabler") for h in ("1w", "4w")
    ]
    good = ic.filter((pl.col("factor") == "good") & (pl.col("role_class") == "all") & (pl.col("horizon") == "1w"))
    assert good["mean_ic"][0] == pytest.approx(1.0) and good["n_dates"][0] == 4 and good["nw_lags"][0] == 0
    risk = ic.filter((pl.col("factor") == "risk") & (pl.col("role_class") == "all") & (pl.col("horizon") == "1w"))
    assert risk["mean_ic"][0] == pytest.approx(1.0)  # -value of a higher-is-worse factor: right is positive
    four = ic.filter((pl.col("factor") == "good") & (pl.col("horizon") == "4w") & (pl.col("role_class") == "all"))
    assert four["n_dates"][0] == 2 and four["nw_lags"][0] == 3  # only the first two dates' 4w returns are known
    noise = ic.filter(pl.col("factor") == "noise")
    assert noise["n_dates"].to_list() == [0, 0, 0, 0] and noise["mean_ic"].null_count() == 4
    spreads = tables["spreads"].filter((pl.col("factor") == "good") & (pl.col("role_class") == "all"))
    assert spreads.filter(pl.col("horizon") == "1w")["spread"][0] > 0
    stab = tables["stability"].filter((pl.col("factor") == "good") & (pl.col("role_class") == "all"))
    assert stab["rank_autocorrelation"][0] == pytest.approx(1.0)
    assert stab["top_quintile_turnover"][0] == pytest.approx(0.0)
    assert stab["n_dates"][0] == 3
    series = tables["ic_series"]
    assert (
        series.filter((pl.col("factor") == "good") & (pl.col("role_class") == "all") & (pl.col("horizon") == "1w"))[
            "date"
        ].to_list()
        == DATES
    )
