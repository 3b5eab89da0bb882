"""Splits are not dilution: share counts on the closes' basis, the latest known count, and nothing from the future.

Closes are split-adjusted (yfinance adjusts every close and volume for every split it knows when it fetches); share
counts in statements and in the daily share history are as reported. Twins differ in one thing: whether the share
count moved by a split or never moved at all.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from factors.engine import compute_scores
from factors.inputs import FactorInputs, build_context, load_inputs
from tests.builders import AS_OF, company, daily, full_company, quarter_ends, quarterly, row, universe

ENDS = quarter_ends(13)  # 2023-03-31 .. 2026-03-31


def splits(*rows: tuple[str, date, float]) -> pl.DataFrame:
    return pl.DataFrame(
        {"symbol": [r[0] for r in rows], "date": [r[1] for r in rows], "ratio": [r[2] for r in rows]},
        schema={"symbol": pl.String, "date": pl.Date, "ratio": pl.Float64},
    )


def share_history(*rows: tuple[str, date, float]) -> pl.DataFrame:
    return pl.DataFrame(
        {"symbol": [r[0] for r in rows], "date": [r[1] for r in rows], "shares": [r[2] for r in rows]},
        schema={"symbol": pl.String, "date": pl.Date, "shares": pl.Float64},
    )


def _with(
    inp: FactorInputs, comps: list[dict], funds: list[pl.DataFrame], prices: list[pl.DataFrame], **extra: pl.DataFrame
) -> FactorInputs:
    """``inp`` (peers) plus more companies and their rows."""
    return FactorInputs(
        companies=pl.concat([inp.companies, pl.DataFrame(comps)], how="diagonal_relaxed"),
        fundamentals=pl.concat([inp.fundamentals.drop("provider"), *funds], how="diagonal_relaxed"),
        prices=pl.concat([inp.prices.drop("provider"), *prices], how="diagonal_relaxed"),
        **extra,
    )


# -- the twin: a split between two statements reads like shares that never changed ---------------------------------
@pytest.mark.parametrize("ratio", [5.0, 0.1], ids=["5-for-1 split", "1-for-10 consolidation"])
def test_a_split_between_two_statements_is_not_dilution(ratio: float) -> None:
    split_day = date(2026, 2, 2)  # between the last two statements, so every reference count is pre-split
    after = 4e8
    reported = [after / ratio if e < split_day else after for e in ENDS]
    twins = []
    for symbol, counts in (("SPLIT", reported), ("SAME", after)):
        c, f, p = full_company(symbol, shares=counts, close=2.5, n_q=13)
        twins.append((c, f, p))
    inp = _with(
        universe(6),
        [t[0] for t in twins],
        [t[1] for t in twins],
        [t[2] for t in twins],
        splits=splits(("SPLIT", split_day, ratio)),
    )
    out = compute_scores(inp, AS_OF)
    split, same = row(out, "SPLIT"), row(out, "SAME")
    assert split["dilution_risk.share_growth_1y"] == same["dilution_risk.share_growth_1y"] == 0.0
    assert split["dilution_risk.share_growth_3y"] == same["dilution_risk.share_growth_3y"] == 0.0
    assert split["dilution_risk"] == same["dilution_risk"]
    assert split["dilution_risk_pct"] == same["dilution_risk_pct"]
    assert split["market_cap_usd"] == same["market_cap_usd"] == after * 2.5
    # without the split on record the same counts read as issuance (or a buyback): the twin test can fail
    blind = compute_scores(
        FactorInputs(companies=inp.companies, fundamentals=inp.fundamentals, prices=inp.prices), AS_OF
    )
    assert row(blind, "SPLIT")["dilution_risk.share_growth_1y"] != 0.0


@settings(max_examples=40, deadline=None)
@given(
    ratio=st.sampled_from([2.0, 3.0, 5.0, 10.0, 0.5, 0.2, 0.1]) | st.floats(0.05, 20.0),
    k=st.integers(1, 12),
    on_the_day=st.booleans(),
    growth=st.floats(-0.3, 1.0),
)
def test_share_growth_ignores_any_split(ratio: float, k: int, on_the_day: bool, growth: float) -> None:
    # a split dated on a statement's period end is already in that statement's count
    split_day = ENDS[k] if on_the_day else ENDS[k] - timedelta(days=10)
    organic = [1e8 * (1 + growth) ** (i / 4) for i in range(13)]
    reported = [s * (ratio if e >= split_day else 1.0) for s, e in zip(organic, ENDS, strict=True)]
    funds = [
        quarterly("SPLIT", 13, shares_outstanding=reported),
        quarterly("TWIN", 13, shares_outstanding=[s * ratio for s in organic]),
    ]
    base = build_context(
        FactorInputs(
            companies=pl.DataFrame([company("SPLIT"), company("TWIN")]),
            fundamentals=pl.concat(funds),
            splits=splits(("SPLIT", split_day, ratio)),
        ),
        AS_OF,
    ).base
    split, twin = row(base, "SPLIT"), row(base, "TWIN")
    for col in ("share_growth_1y", "share_growth_3y", "shares_outstanding"):
        assert split[col] == pytest.approx(twin[col], rel=1e-9, abs=1e-12), col


# -- the basis: a split after the as-of date is inside the closes already -----------------------------------------
def test_a_split_after_the_as_of_date_changes_only_the_basis() -> None:
    ratio = 4.0
    peers = universe(4)
    c, f, p = full_company("X", shares=lambda i: 1e8 * 1.05**i, close=8.0, volume=1e5)
    unadjusted = _with(peers, [c], [f], [p])
    # fetched after a 4:1 split on AS_OF + 30: closes / 4 and volumes x 4 (as yfinance delivers them); the
    # statements still say what was reported
    adjusted_p = p.with_columns(pl.col("close") / ratio, pl.col("volume") * ratio)
    adjusted = _with(peers, [c], [f], [adjusted_p], splits=splits(("X", AS_OF + timedelta(days=30), ratio)))
    a, b = compute_scores(unadjusted, AS_OF), compute_scores(adjusted, AS_OF)
    assert row(b, "X")["shares_outstanding"] == row(a, "X")["shares_outstanding"] * ratio
    assert row(b, "X")["price_usd"] == row(a, "X")["price_usd"] / ratio
    assert_frame_equal(
        a.drop("shares_outstanding", "price_usd"),
        b.drop("shares_outstanding", "price_usd"),
        check_exact=False,
        rel_tol=1e-12,
    )


# -- the latest known share count ---------------------------------------------------------------------------------
def test_market_cap_uses_the_daily_share_history_when_it_is_newer_than_the_last_statement() -> None:
    fund = quarterly("A", 8, shares_outstanding=1e8)  # last public statement 2026-03-31
    not_public = quarterly("A", 1, last=date(2026, 3, 31), shares_outstanding=9e9).with_columns(
        pl.lit(date(2026, 5, 12)).alias("period_end")
    )  # inside the 60-day lag: not known on AS_OF
    prices = daily("A", close=2.0)
    comps = pl.DataFrame([company("A")])

    def base(history: pl.DataFrame | None, sp: pl.DataFrame | None = None) -> dict:
        inp = FactorInputs(
            companies=comps, fundamentals=pl.concat([fund, not_public]), prices=prices, share_history=history, splits=sp
        )
        return row(build_context(inp, AS_OF).base, "A")

    newer = base(share_history(("A", date(2026, 5, 15), 1.2e8)))
    assert newer["shares_outstanding"] == 1.2e8 and newer["market_cap_usd"] == 2.4e8
    assert newer["shares_outstanding_date"] == date(2026, 5, 15)
    older = base(share_history(("A", date(2026, 3, 1), 5e7)))
    assert older["shares_outstanding"] == 1e8 and older["shares_outstanding_date"] == date(2026, 3, 31)
    future = base(share_history(("A", AS_OF + timedelta(days=1), 7e9), ("A", date(2026, 2, 1), 5e7)))
    assert future["shares_outstanding"] == 1e8  # the future count is never read, the older one loses
    # a daily count from before a split is put on the closes' basis like a statement count
    pre_split = base(share_history(("A", date(2026, 5, 15), 2.4e7)), splits(("A", date(2026, 5, 20), 5.0)))
    assert pre_split["shares_outstanding"] == 1.2e8 and pre_split["market_cap_usd"] == 2.4e8


def test_a_stale_statement_count_is_not_stale_when_the_daily_count_is_current() -> None:
    old = quarterly("A", 4, last=date(2024, 12, 31), shares_outstanding=1e8)
    inp = FactorInputs(companies=pl.DataFrame([company("A")]), fundamentals=old, prices=daily("A"))
    assert "stale:shares_outstanding" in row(compute_scores(inp, AS_OF), "A")["flags"]
    current = FactorInputs(
        companies=inp.companies,
        fundamentals=old,
        prices=inp.prices,
        share_history=share_history(("A", date(2026, 5, 29), 1e8)),
    )
    assert "stale:shares_outstanding" not in row(compute_scores(current, AS_OF), "A")["flags"]


# -- point in time through the store ------------------------------------------------------------------------------
def _load(store, inp: FactorInputs) -> None:
    with store.transaction():
        store.upsert("companies", inp.companies.drop("provider"), "file")
        store.upsert("fundamentals", inp.fundamentals.drop("provider"), "file")
        store.upsert("prices", inp.prices.drop("provider"), "file")


def test_scoring_as_of_a_date_reads_no_share_count_or_split_dated_after_it(store) -> None:
    """What is allowed: a split dated after the as-of date is read, and only as the basis factor that multiplies
    every share count of its company alike (the stored closes carry it). No share count (statement or daily) and no
    other value dated after the as-of date is read."""
    from screener.store.profiles import upsert_share_history

    _load(store, universe(3))
    upsert_share_history(
        store, share_history(("C00", date(2026, 5, 20), 1.1e8), ("C01", date(2026, 5, 1), 2e8)), "yahoo"
    )
    before = compute_scores(load_inputs(store, AS_OF), AS_OF)
    # the future arrives: later daily counts, a later statement with a huge count, a later split of another name
    upsert_share_history(
        store,
        share_history(("C00", AS_OF + timedelta(days=1), 9e12), ("C02", AS_OF + timedelta(days=5), 9e12)),
        "yahoo",
    )
    store.upsert(
        "fundamentals", quarterly("C01", 1, last=AS_OF + timedelta(days=10), shares_outstanding=9e12, cash=-1.0), "file"
    )
    loaded = load_inputs(store, AS_OF)
    assert loaded.share_history["date"].max() <= AS_OF and loaded.share_history["symbol"].is_unique().all()
    assert_frame_equal(compute_scores(loaded, AS_OF), before)
    # a split dated after the as-of date: every count of C02 times its ratio, and nothing else moves
    store.upsert("splits", splits(("C02", AS_OF + timedelta(days=20), 3.0)), "file")
    after = compute_scores(load_inputs(store, AS_OF), AS_OF)
    b, a = row(before, "C02"), row(after, "C02")
    assert a["shares_outstanding"] == pytest.approx(3 * b["shares_outstanding"], rel=1e-12)
    assert a["market_cap_usd"] == pytest.approx(3 * b["market_cap_usd"], rel=1e-12)  # these closes were not adjusted
    for col in ("dilution_risk.share_growth_1y", "dilution_risk.share_growth_3y", "price_usd", "cash_usd"):
        assert a[col] == pytest.approx(b[col], rel=1e-12), col
    # and scores change with the split on record: it is part of the inputs' fingerprint
    from factors.engine import inputs_fingerprint

    fp = inputs_fingerprint(store, AS_OF)
    store.upsert("splits", splits(("C01", AS_OF - timedelta(days=400), 2.0)), "file")
    assert inputs_fingerprint(store, AS_OF) != fp
    fp = inputs_fingerprint(store, AS_OF)
    upsert_share_history(store, share_history(("C01", date(2026, 5, 2), 2.5e8)), "yahoo")
    assert inputs_fingerprint(store, AS_OF) != fp
