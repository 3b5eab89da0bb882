"""The engine: output shape, missing data, determinism, currency invariance, stored scores."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factors.engine import compute_scores, inputs_fingerprint, score_columns, scores_for
from factors.inputs import FactorInputs
from factors.registry import FACTORS
from tests.builders import AS_OF, company, daily, events, fx_rows, inputs, quarterly, row, universe


def test_output_columns_dtypes_and_order() -> None:
    out = compute_scores(universe(4), AS_OF)
    assert out.columns == score_columns()
    for name in ("symbol", "name", "country", "region", "roles", "stage", "segment", "currency", "gov_backing"):
        assert name in out.columns
    assert out.schema["as_of"] == pl.Date and out.schema["demo"] == pl.Boolean
    assert out.schema["flags"] == pl.List(pl.String)
    for spec in FACTORS.values():
        assert out.schema[spec.name] == pl.Float64 and out.schema[spec.pct_column] == pl.Float64
        for col in spec.component_columns:
            assert out.schema[col] == pl.Float64
    for col in (
        "market_cap_usd",
        "price_usd",
        "revenue_ttm_usd",
        "operating_cash_flow_ttm_usd",
        "capex_ttm_usd",
        "free_cash_flow_ttm_usd",
        "cash_usd",
        "total_debt_usd",
        "net_cash_usd",
        "total_equity_usd",
        "shares_outstanding",
        "data_completeness",
    ):
        assert out.schema[col] == pl.Float64
    assert out["symbol"].to_list() == sorted(out["symbol"].to_list())
    assert (out["as_of"] == AS_OF).all()
    assert out["data_completeness"].to_list() == [1.0] * 4


def test_companies_with_no_data_do_not_crash() -> None:
    only_blank = compute_scores(inputs([company("A"), company("B", roles="miner", stage="explorer")]), AS_OF)
    assert only_blank.height == 2
    for r in only_blank.iter_rows(named=True):
        assert r["data_completeness"] == 0.0
        assert {"no_prices", "no_fundamentals", "excluded:pullback"} <= set(r["flags"])
        assert r["pullback"] is None
        assert r["localization_premium"] is not None  # identity-driven factors still speak
    mixed = universe(4)
    out = compute_scores(
        FactorInputs(
            companies=pl.concat([mixed.companies, inputs([company("Z")]).companies]),
            fundamentals=mixed.fundamentals,
            prices=mixed.prices,
        ),
        AS_OF,
    )
    z = row(out, "Z")
    assert z["data_completeness"] == 0.0
    assert z["data_completeness"] < min(r["data_completeness"] for r in out.iter_rows(named=True) if r["symbol"] != "Z")
    assert {"no_prices", "no_fundamentals"} <= set(z["flags"])
    assert any(f.startswith("imputed:") for f in z["flags"]) and any(f.startswith("worst:") for f in z["flags"])


def test_empty_universe_gives_an_empty_frame_with_every_column() -> None:
    empty = FactorInputs(companies=pl.DataFrame(schema={"symbol": pl.String, "name": pl.String}))
    out = compute_scores(empty, AS_OF)
    assert out.height == 0 and out.columns == score_columns()


def test_partial_data_gives_partial_completeness() -> None:
    out = compute_scores(inputs([company("A")], prices=[daily("A")]), AS_OF)
    a = row(out, "A")
    assert 0.0 < a["data_completeness"] < 1.0
    assert a["data_completeness"] == pytest.approx(3 / 15)  # price, price history, volume of 15 counted inputs


def test_demo_rows_are_marked() -> None:
    out = compute_scores(inputs([company("A"), company("B")], prices=[daily("A", provider="demo"), daily("B")]), AS_OF)
    assert row(out, "A")["demo"] is True and "demo" in row(out, "A")["flags"]
    assert row(out, "B")["demo"] is False and "demo" not in row(out, "B")["flags"]


def _shuffled(inp: FactorInputs, seed: int) -> FactorInputs:
    return FactorInputs(
        **{
            k: getattr(inp, k).sample(fraction=1.0, shuffle=True, seed=seed + i)
            for i, k in enumerate(("companies", "fundamentals", "prices", "fx", "events"))
        }
    )


def _rich_universe() -> FactorInputs:
    base = universe(6)
    ev = events(
        {"symbol": "C00", "date": AS_OF - timedelta(days=40), "kind": "offtake"},
        {"symbol": "C01", "date": AS_OF - timedelta(days=90), "kind": "equity_raise"},
        {
            "symbol": "C02",
            "date": AS_OF - timedelta(days=200),
            "kind": "capacity",
            "stage": "construction",
            "capacity_tpa": 5000.0,
            "target_year": 2028,
        },
        {"symbol": "C04", "date": AS_OF - timedelta(days=700), "kind": "funding"},
    )
    extra = quarterly("C05", 4, last=date(2025, 3, 31), period="FY", revenue=900.0, cash=50.0)
    return FactorInputs(
        companies=pl.concat([base.companies, inputs([company("NODATA")]).companies]),
        fundamentals=pl.concat([base.fundamentals, extra], how="diagonal_relaxed"),
        prices=base.prices,
        events=ev,
    )


@pytest.fixture(scope="module")
def rich_scores() -> tuple[FactorInputs, pl.DataFrame]:
    """``_rich_universe`` and its scores in the given order: the baseline every shuffle is compared with, computed
    once (the engine is pure, so recomputing it per example would give the same frame)."""
    inp = _rich_universe()
    return inp, compute_scores(inp, AS_OF)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10_000))
def test_result_does_not_change_with_row_order(rich_scores: tuple[FactorInputs, pl.DataFrame], seed: int) -> None:
    inp, baseline = rich_scores
    assert baseline.equals(compute_scores(_shuffled(inp, seed), AS_OF))


@settings(max_examples=10, deadline=None)
@given(
    rate_exp=st.lists(st.integers(min_value=-3, max_value=3), min_size=3, max_size=3),
    # Money is zero or at least one unit: subnormal floats would underflow in the conversion itself.
    revenue=st.one_of(st.just(0.0), st.floats(min_value=1.0, max_value=1e6)),
    cash=st.one_of(st.just(0.0), st.floats(min_value=1.0, max_value=1e6)),
    debt=st.one_of(st.just(0.0), st.floats(min_value=1.0, max_value=1e6)),
    close=st.floats(min_value=0.5, max_value=500.0),
)
def test_result_does_not_change_with_currency_once_converted(
    rate_exp: list[int], revenue: float, cash: float, debt: float, close: float
) -> None:
    # Rates are powers of two so that local = usd / rate converts back exactly; they change over time, so each value
    # must be converted at its own date for the twins to match.
    rates = [2.0**e for e in rate_exp]
    switch = [date(2015, 1, 1), date(2025, 9, 1), date(2026, 5, 1)]
    fx = pl.DataFrame({"currency": ["EUR"] * 3, "date": switch, "usd_per_unit": rates})

    def rate_on(d: date) -> float:
        return [r for s, r in zip(switch, rates, strict=True) if s <= d][-1]

    base = universe(4)
    usd_f = quarterly(
        "TWUSD",
        12,
        revenue=revenue,
        cash=cash,
        total_debt=debt,
        operating_cash_flow=-revenue / 3,
        capital_expenditure=revenue / 5,
        total_equity=cash * 2,
        shares_outstanding=1e6,
    )
    eur_f = usd_f.with_columns(
        pl.lit("TWEUR").alias("symbol"),
        pl.lit("EUR").alias("currency"),
        *[
            (pl.col(c) / pl.col("period_end").map_elements(rate_on, return_dtype=pl.Float64)).alias(c)
            for c in ("revenue", "cash", "total_debt", "operating_cash_flow", "capital_expenditure", "total_equity")
        ],
    )
    usd_p = daily("TWUSD", close=lambda i: close * (1 + (i % 17) / 16), volume=1000.0)
    eur_p = usd_p.with_columns(
        pl.lit("TWEUR").alias("symbol"),
        (pl.col("close") / pl.col("date").map_elements(rate_on, return_dtype=pl.Float64)).alias("close"),
    )
    comps = [*base.companies.to_dicts(), company("TWUSD"), company("TWEUR", currency="EUR")]
    out = compute_scores(
        inputs(comps, fundamentals=[base.fundamentals, usd_f, eur_f], prices=[base.prices, usd_p, eur_p], fx=[fx]),
        AS_OF,
    )
    a, b = row(out, "TWUSD"), row(out, "TWEUR")
    skip = {"symbol", "name", "currency"}
    for col in out.columns:
        if col not in skip:
            assert a[col] == b[col], col


@settings(max_examples=10, deadline=None)
@given(n=st.integers(min_value=1, max_value=9), blank=st.integers(min_value=0, max_value=3))
def test_percentiles_stay_in_the_unit_interval(n: int, blank: int) -> None:
    base = universe(n)
    comps = [*base.companies.to_dicts(), *[company(f"Z{i}") for i in range(blank)]]
    out = compute_scores(inputs(comps, fundamentals=[base.fundamentals], prices=[base.prices]), AS_OF)
    for spec in FACTORS.values():
        pct = out[spec.pct_column].drop_nulls()
        assert ((pct >= 0.0) & (pct <= 1.0)).all()
        assert out[spec.pct_column].null_count() == out[spec.name].null_count()
    assert ((out["data_completeness"] >= 0) & (out["data_completeness"] <= 1)).all()


# -- stored scores ------------------------------------------------------------------------------------------
def _load(store, inp: FactorInputs) -> None:
    with store.transaction():
        store.upsert("companies", inp.companies.drop("provider"), "file")
        store.upsert("fundamentals", inp.fundamentals.drop("provider"), "file")
        store.upsert("prices", inp.prices.drop("provider"), "file")


def test_scores_for_stores_reuses_and_recomputes(store, monkeypatch: pytest.MonkeyPatch) -> None:
    import factors.engine as engine

    _load(store, universe(3))
    first = scores_for(store, AS_OF)
    info = store.score_set_info(AS_OF)
    assert info is not None and info["n_companies"] == 3 and info["inputs_hash"] == inputs_fingerprint(store, AS_OF)
    assert first.equals(compute_scores(engine.load_inputs(store, AS_OF), AS_OF))

    def boom(*a, **k):
        raise AssertionError("recomputed although nothing changed")

    monkeypatch.setattr(engine, "compute_scores", boom)
    assert scores_for(store, AS_OF).equals(first)
    monkeypatch.undo()
    store.upsert("prices", daily("C00", 1, close=99.0).with_columns(pl.lit(AS_OF).alias("date")), "file")
    changed = scores_for(store, AS_OF)
    assert row(changed, "C00")["price_usd"] == 99.0
    assert store.score_set_info(AS_OF)["inputs_hash"] != info["inputs_hash"]
    assert scores_for(store, AS_OF, recompute=True).equals(changed)


def test_fingerprint_changes_with_as_of_and_values(store) -> None:
    _load(store, universe(2))
    a = inputs_fingerprint(store, AS_OF)
    assert a == inputs_fingerprint(store, AS_OF)
    assert a != inputs_fingerprint(store, AS_OF - timedelta(days=1))
    store.upsert("fx", fx_rows("EUR", 1.1), "file")
    assert a != inputs_fingerprint(store, AS_OF)


def test_scores_for_an_empty_store_is_a_clear_error(store) -> None:
    from screener.errors import ScreenerError

    with pytest.raises(ScreenerError, match="no companies"):
        scores_for(store, AS_OF)


def test_scores_for_refuses_a_future_as_of_and_stores_nothing(store) -> None:
    from screener.errors import ScreenerError

    _load(store, universe(2))
    tomorrow = AS_OF + timedelta(days=1)  # "today" is pinned: the test passes at any hour of any day
    with pytest.raises(ScreenerError) as err:
        scores_for(store, tomorrow, today=AS_OF)
    message = str(err.value)
    assert "\n" not in message and f"as-of {tomorrow.isoformat()} is in the future" in message
    assert f"use today ({AS_OF.isoformat()})" in message
    assert store.score_set_info(tomorrow) is None
    assert store.scalar("SELECT count(*) FROM score_sets") == 0
    # the same day is not the future, and no as-of means that pinned today
    assert scores_for(store, today=AS_OF)["as_of"].unique().to_list() == [AS_OF]


@pytest.mark.parametrize(
    ("roles", "role_class"),
    [
        ("processor", "enabler"),
        ("magnet_maker;trader_offtaker", "enabler"),
        ("equipment_supplier", "enabler"),
        ("magnet_maker;downstream_user", "enabler"),
        ("miner;processor", "integrated"),
        ("miner;chemicals_tolling", "integrated"),
        ("miner", "pure_miner"),
        ("downstream_user", "downstream_user"),
        ("trader_offtaker", "trader_offtaker"),
        ("trader_offtaker;downstream_user", "downstream_user"),
        ("miner;trader_offtaker", "other"),
        ("", "other"),
    ],
)
def test_role_class_follows_the_contract_vocabulary(roles: str, role_class: str) -> None:
    from factors.inputs import ROLE_CLASSES

    out = compute_scores(inputs([company("A", roles=roles)]), AS_OF)
    assert row(out, "A")["role_class"] == role_class
    assert role_class in ROLE_CLASSES


def test_filled_values_are_the_numbers_the_factors_used() -> None:
    from factors.engine import filled_values
    from factors.registry import get_factor

    inp = _rich_universe()
    out = compute_scores(inp, AS_OF)
    filled = filled_values(out)
    assert filled["symbol"].to_list() == out["symbol"].to_list()
    nodata = row(filled, "NODATA")
    # impute_peers: NODATA is an enabler (processor), so the median of the other enablers' measured runways
    runway = "dilution_risk.cash_runway_years"
    peers = out.filter((pl.col("role_class") == "enabler") & pl.col(runway).is_not_null())[runway]
    assert peers.len() >= 2 and nodata[runway] == peers.median()
    # worst: the lowest net cash to market cap observed
    assert nodata["balance_sheet.net_cash_to_mcap"] == out["balance_sheet.net_cash_to_mcap"].min()
    # measured components have no filled value; exclude fills nothing
    assert all(row(filled, "C00")[c] is None for c in filled.columns if c != "symbol")
    assert "pullback.drawdown_52w" not in filled.columns
    # the factor value is the combine of the measured-or-filled components
    spec = get_factor("balance_sheet")
    used = pl.DataFrame(
        {
            c: [
                row(out, s)[spec.column(c)]
                if row(out, s)[spec.column(c)] is not None
                else row(filled, s)[spec.column(c)]
                for s in out["symbol"]
            ]
            for c in spec.components
        }
    )
    assert spec.combine(used, spec.params).to_list() == out["balance_sheet"].to_list()


def test_filled_values_survive_storing_the_scores(store) -> None:
    from factors.engine import filled_values

    inp = _rich_universe()
    with store.transaction():
        store.upsert("companies", inp.companies.drop("provider"), "file")
        store.upsert("fundamentals", inp.fundamentals.drop("provider"), "file")
        store.upsert("prices", inp.prices.drop("provider"), "file")
    computed = scores_for(store, AS_OF)
    stored = scores_for(store, AS_OF)  # read back from the store
    assert filled_values(stored).equals(filled_values(computed))


def test_every_row_flag_the_engine_sets_can_be_asked_for_with_has_flag() -> None:
    from factors.engine import _BASE_FLAGS
    from rules.expr import compile_condition, namespace_from_schema

    assert {"halted", "stale:cash_usd", "stale:shares_outstanding"} <= set(_BASE_FLAGS)
    old_cash = quarterly("A", 4, last=date(2024, 12, 31), cash=1.0)
    halted = daily("A", volume=lambda i: 0.0 if i > 250 else 1e5)
    out = compute_scores(
        inputs([company("A"), company("B")], fundamentals=[old_cash], prices=[halted, daily("B")]), AS_OF
    )
    ns = namespace_from_schema(out.schema)
    for flag in _BASE_FLAGS:
        compile_condition(f"has_flag('{flag}')", ns)  # none is refused as unknown
    for flag, hits in (("halted", ["A"]), ("stale:cash_usd", ["A"])):
        cond = compile_condition(f"has_flag('{flag}')", ns)
        assert out.filter(cond.expr)["symbol"].to_list() == hits, flag


def test_one_rule_says_whether_scores_rest_on_demo_data() -> None:
    from factors.engine import rests_on_demo

    real = pl.DataFrame({"symbol": ["A", "B"], "demo": [False, False]})
    assert not rests_on_demo(real)
    assert rests_on_demo(real.with_columns(pl.Series("demo", [False, True])))
    assert not rests_on_demo(real.clear())  # nothing scored rests on nothing
    assert not rests_on_demo(real.drop("demo"))  # a frame without the flag (an import's own scores) is not demo


def test_meanwhile_sees_the_computed_set_while_it_is_saved(store, monkeypatch: pytest.MonkeyPatch) -> None:
    """``meanwhile`` runs on another thread during the save, gets the frame returned, and is not called for a
    stored set; an error of either side is raised once both have finished, the save's first."""
    import threading

    _load(store, universe(3))
    seen: list[tuple[pl.DataFrame, str]] = []
    frame = scores_for(store, AS_OF, meanwhile=lambda f: seen.append((f, threading.current_thread().name)))
    assert len(seen) == 1 and seen[0][0].equals(frame) and seen[0][1] != threading.current_thread().name
    assert store.score_set_info(AS_OF) is not None
    scores_for(store, AS_OF, meanwhile=lambda f: seen.append((f, "stored")))  # reused: nothing saved, not called
    assert len(seen) == 1

    def fails(_: pl.DataFrame) -> None:
        raise OSError("disk full")

    saved: list[date] = []
    save = store.save_scores

    def recorded(day: date, *a, **k) -> None:
        save(day, *a, **k)
        saved.append(day)

    monkeypatch.setattr(store, "save_scores", recorded)
    with pytest.raises(OSError, match="disk full"):
        scores_for(store, AS_OF, recompute=True, meanwhile=fails)
    assert saved == [AS_OF]  # the save went through before the error was raised

    started = threading.Event()

    def slow(_: pl.DataFrame) -> None:
        started.wait(5)
        raise ValueError("meanwhile failed too")

    def save_fails(*a, **k) -> None:
        started.set()
        raise RuntimeError("save failed")

    monkeypatch.setattr(store, "save_scores", save_fails)
    with pytest.raises(RuntimeError, match="save failed"):
        scores_for(store, AS_OF, recompute=True, meanwhile=slow)
    assert [t for t in threading.enumerate() if t.name == "scores-meanwhile"] == []  # joined before the raise


def test_factors_reading_the_daily_panel_start_first() -> None:
    """The two threads start on the factors that read the price panel (the long ones); the rest follow in registry
    order, and the frame is joined in registry order whatever the start order (checked by the column order)."""
    from factors.engine import _panel_readers_first
    from factors.inputs import INPUTS

    specs = list(FACTORS.values())
    started = sorted(specs, key=_panel_readers_first)
    panel = [s.name for s in specs if any(INPUTS[n].grant.prices for n in s.needs)]
    assert panel and [s.name for s in started[: len(panel)]] == panel
    assert [s.name for s in started[len(panel) :]] == [s.name for s in specs if s.name not in panel]
    cols = score_columns()
    assert [c for c in cols if c in FACTORS] == [s.name for s in specs]
