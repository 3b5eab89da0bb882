"""The inputs a factor declares (``needs``) are what it receives: the base frame and the panels are cut down to
them, so ``needs`` (and the ``data_completeness`` built from it) cannot quietly disagree with what a factor reads."""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pytest

from factors import registry
from factors.engine import GRANTS, InputNotDeclared, compute_scores, context_for
from factors.inputs import INPUTS, build_context
from factors.registry import FACTORS, register_factor
from tests.builders import AS_OF, universe


@pytest.fixture
def scratch_registry() -> Iterator[None]:
    saved, saved_order = dict(registry._REGISTERED), dict(FACTORS)
    yield
    registry._REGISTERED.clear()
    registry._REGISTERED.update(saved)
    FACTORS.clear()
    FACTORS.update(saved_order)


def _register(needs: tuple[str, ...], compute) -> None:  # type: ignore[no-untyped-def]
    register_factor(
        name="probe",
        direction="higher_is_better",
        needs=needs,
        missing="neutral",
        params={},
        components={"x": 1},
        description="probe",
        order=90,
    )(compute)


def test_a_factor_cannot_read_a_base_column_it_did_not_declare(scratch_registry: None) -> None:
    _register(("cash",), lambda ctx, p: ctx.base.select("symbol", pl.col("total_debt_usd").alias("x")))
    with pytest.raises(InputNotDeclared, match="factor probe reads a column its needs do not declare"):
        compute_scores(universe(3), AS_OF)


def test_a_factor_cannot_read_the_event_ledger_without_declaring_events(scratch_registry: None) -> None:
    _register(("market_cap",), lambda ctx, p: ctx.events.group_by("symbol").agg(pl.len().cast(pl.Float64).alias("x")))
    with pytest.raises(InputNotDeclared, match=r"ctx\.events"):
        compute_scores(universe(3), AS_OF)


def test_a_factor_cannot_aggregate_prices_without_declaring_a_price_input(scratch_registry: None) -> None:
    _register(("cash",), lambda ctx, p: ctx.prices.select(pl.col("close_usd").alias("x")))
    with pytest.raises(InputNotDeclared, match=r"ctx\.prices"):
        compute_scores(universe(3), AS_OF)


def test_a_factor_receives_exactly_its_declared_columns() -> None:
    ctx = build_context(universe(3), AS_OF)
    spec = FACTORS["balance_sheet"]
    got = context_for(spec, ctx)
    assert set(got.base.columns) == {
        "as_of",
        "symbol",
        "cash_usd",
        "cash_usd_date",
        "total_debt_usd",
        "total_debt_usd_date",
        "total_equity_usd",
        "total_equity_usd_date",
        "market_cap_usd",
        "net_cash_usd",  # built from cash and debt, both declared
    }
    assert got.base["symbol"].to_list() == ctx.base["symbol"].to_list()
    with pytest.raises(InputNotDeclared):
        _ = got.events
    pull = context_for(FACTORS["pullback"], ctx)
    assert pull.prices.columns == ["g", "date", "_key", "close_usd"]  # no volume: pullback does not declare it


def test_every_declared_input_grants_columns_the_context_has() -> None:
    assert set(GRANTS) == set(INPUTS)
    ctx = build_context(universe(3), AS_OF)
    for name, grant in GRANTS.items():
        assert set(grant.base) <= set(ctx.base.columns), name
        assert set(grant.prices) <= set(ctx.prices.columns), name
        assert set(grant.fundamentals) <= set(ctx.fundamentals.columns), name


def test_a_factor_must_return_one_row_per_date_and_company(scratch_registry: None) -> None:
    """A factor that forgets ``as_of`` (written for one date) is refused by name, not joined on the wrong key."""
    _register(("cash",), lambda ctx, p: ctx.base.select("symbol", pl.col("cash_usd").alias("x")))
    with pytest.raises(RuntimeError, match="factor probe must return the columns as_of and symbol"):
        compute_scores(universe(3), AS_OF)
    _register(
        ("cash",), lambda ctx, p: pl.concat([ctx.base, ctx.base]).select("as_of", "symbol", pl.lit(1.0).alias("x"))
    )
    with pytest.raises(RuntimeError, match="factor probe returned more than one row"):
        compute_scores(universe(3), AS_OF)
