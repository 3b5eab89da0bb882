"""Loading the synthetic demo into a store: only into a store without real market data, and only through intake.

Why apart from the generator (``screener.providers.demo``): generating numbers is a provider's job and touches no
store; deciding whether a store may receive them, and replacing last week's demo rows, is a load's job.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from screener.contract import KINDS
from screener.errors import ScreenerError
from screener.providers.demo import DEMO_PROVIDER, default_end, generate_demo
from screener.store import Store

#: The demo stores this many weekly runs, a week apart, ending on the demo's last day: the Changes sheet and
#: ``watchlist diff`` then show what moved and why on a first run, instead of an empty table.
DEMO_WEEKS = 2


def demo_run_dates(end: date, weeks: int = DEMO_WEEKS) -> list[date]:
    """The as-of dates of the demo's weekly runs, oldest first: ``end`` (the demo's last day, a Friday) and the
    Fridays before it. Never today: the runs compare the demo's own weeks, so a rerun any day of the week agrees."""
    return [end - timedelta(weeks=k) for k in range(weeks - 1, -1, -1)]


def _keep_real_data(store: Store, kind: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Drop demo rows where real data exists: a symbol (or currency) with any non-demo rows of this kind keeps them
    alone, so the demo fills gaps and never overwrites or interleaves with a user's or a provider's numbers."""
    if frame.height == 0:
        return frame
    if kind == "events":
        key = list(KINDS["events"].key)
        real = store.keys_from_other_providers("events", key, DEMO_PROVIDER)
        return frame.join(real, on=key, how="anti", nulls_equal=True)
    col = "currency" if kind == "fx" else "symbol"
    real = store.keys_from_other_providers(kind, [col], DEMO_PROVIDER, distinct=True)
    return frame.join(real, on=col, how="anti")


class RealDataInStore(ScreenerError):
    """The store holds market data from a real provider, so synthetic demo rows must not be loaded into it."""

    def __init__(self, path: object, providers: list[str]) -> None:
        self.path = path
        self.providers = providers
        super().__init__(f"the store {path} holds real market data (providers: {', '.join(providers)})")


def real_data_providers(store: Store) -> list[str]:
    """The providers of real market data in the store, sorted: anything but the demo itself and the bundled
    universe, in any table but ``companies`` (a universe alone, even the user's own, is not market data)."""
    from screener.intake.universe import BUNDLED_PROVIDER

    safe = {DEMO_PROVIDER, BUNDLED_PROVIDER}
    return sorted({p for t, ps in store.providers().items() if t != "companies" for p in ps if p not in safe})


def check_demo_store(store: Store) -> None:
    """Refuse a store with real market data: the demo's synthetic numbers would sit next to real ones, and a user
    could not tell which ranking rests on which. Raises ``RealDataInStore``."""
    live = real_data_providers(store)
    if live:
        raise RealDataInStore(store.path, live)


def load_demo(store: Store, *, end: date | None = None, seed: int = 7) -> dict[str, int]:
    """Generate demo data for every company in the store and store it with provider ``demo`` in one transaction.

    Earlier demo rows are replaced (a rerun next week moves the window instead of piling up), and real data is
    never touched. Every frame goes through the validation suites (``screener.intake``), with ``end`` as today, like
    any other load. Returns the number of rows stored per kind.
    """
    from screener.intake import intake

    companies = store.companies()
    if companies.height == 0:
        raise ScreenerError("the store has no companies: run 'screener init' first (or import a companies file)")
    end = end or default_end()
    frames = generate_demo(companies, end=end, seed=seed)
    counts: dict[str, int] = {}
    with store.transaction():
        for kind in ("fx", "fundamentals", "prices", "events"):
            store.delete_provider_rows(kind, DEMO_PROVIDER)
            frame = _keep_real_data(store, kind, frames[kind])
            done = intake(
                store,
                kind,
                frame,
                DEMO_PROVIDER,
                source=f"demo: seed {seed}, end {end}",
                origin=DEMO_PROVIDER,
                today=end,
                policy="quarantine",
            )
            counts[kind] = done.stored
    return counts
