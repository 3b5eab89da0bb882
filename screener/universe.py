"""The bundled universe and the user's edits to it.

Why bundled and user rows are kept apart: the product ships curated companies and events that improve with each
release, while analysts retag names and add their own as news arrives. ``init`` refreshes only what is still
bundled and untouched, so a user's edits survive every later ``init``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from screener.contract import ROLES, region_of
from screener.errors import ScreenerError
from screener.importer import read_file
from screener.paths import bundled_data_dir
from screener.store import Store, utcnow

BUNDLED_PROVIDER = "bundled"


@dataclass
class InitResult:
    companies_added: int
    companies_updated: int
    companies_kept_user: int
    events_added: int
    schema_version: int


def load_bundled(store: Store) -> InitResult:
    """Load ``data/companies.csv`` and ``data/events.csv`` idempotently, in one transaction."""
    folder = bundled_data_dir()
    companies = read_file(folder / "companies.csv", "companies").frame
    events = read_file(folder / "events.csv", "events").frame
    existing = store.query("SELECT symbol, origin FROM companies")
    origin = dict(zip(existing["symbol"].to_list(), existing["origin"].to_list(), strict=True))
    user_touched = {
        (s, r)
        for s, r in store.con.execute(
            "SELECT DISTINCT symbol, role FROM role_tag_history WHERE actor <> 'bundled'"
        ).fetchall()
    }
    added = updated = kept = 0
    stamp = utcnow()
    fields = ["symbol", "name", "country", "currency", "segment", "stage", "gov_backing", "description", "source"]
    with store.transaction():
        for row in companies.iter_rows(named=True):
            sym = row["symbol"]
            if origin.get(sym) == "user":
                kept += 1
                continue
            store.con.execute(
                f"INSERT INTO companies ({', '.join(fields)}, origin, provider, loaded_at) VALUES "
                f"({', '.join('?' for _ in fields)}, 'bundled', ?, ?) ON CONFLICT (symbol) DO UPDATE SET "
                + ", ".join(f"{f} = excluded.{f}" for f in fields[1:]),
                [*(row[f] for f in fields), BUNDLED_PROVIDER, stamp],
            )
            if sym in origin:
                updated += 1
            else:
                added += 1
            want = set(row["roles"].split(";"))
            have = set(store.current_roles(sym))
            add = sorted(r for r in want - have if (sym, r) not in user_touched)
            remove = sorted(r for r in have - want if (sym, r) not in user_touched)
            if add or remove:
                store.change_tags(sym, add=add, remove=remove, source=row["source"], actor="bundled",
                                  origin="bundled", at=stamp)
        before = int(store.scalar("SELECT count(*) FROM events"))
        store.con.register("_bundled_events", events.with_columns(
            pl.lit("bundled").alias("origin"), pl.lit(BUNDLED_PROVIDER).alias("provider"),
            pl.lit(stamp).cast(pl.Datetime("us")).alias("loaded_at")).to_arrow())
        try:
            cols = "symbol, date, kind, description, stage, capacity_tpa, target_year, amount_usd, source, origin, " \
                   "provider, loaded_at"
            # Bundled events refresh only rows that are still bundled; a user's own row with the same key wins.
            store.con.execute(
                f"INSERT INTO events ({cols}) SELECT {cols} FROM _bundled_events ON CONFLICT "
                "(symbol, date, kind, description) DO UPDATE SET stage = excluded.stage, "
                "capacity_tpa = excluded.capacity_tpa, target_year = excluded.target_year, "
                "amount_usd = excluded.amount_usd, source = excluded.source WHERE events.origin = 'bundled'"
            )
        finally:
            store.con.unregister("_bundled_events")
        events_added = int(store.scalar("SELECT count(*) FROM events")) - before
        store.log_ingest(provider=BUNDLED_PROVIDER, status="ok", kind="companies", source=str(folder),
                         rows_in=companies.height, rows_stored=added + updated)
    return InitResult(added, updated, kept, events_added, store.schema_version())


def list_universe(
    store: Store,
    roles: Sequence[str] = (),
    countries: Sequence[str] = (),
    stages: Sequence[str] = (),
) -> pl.DataFrame:
    """The universe, filtered; a company matches a role filter when it carries any of the roles asked for."""
    df = store.companies()
    if df.height == 0:
        raise ScreenerError("the store has no companies yet: run 'screener init' (or 'screener demo')")
    df = df.with_columns(pl.col("country").map_elements(region_of, return_dtype=pl.String).alias("region"))
    if roles:
        df = df.filter(pl.col("roles").str.split(";").list.eval(pl.element().is_in(list(roles))).list.any())
    if countries:
        wanted = [c.upper() for c in countries]
        df = df.filter(pl.col("country").is_in(wanted) | pl.col("region").is_in([c.lower() for c in countries]))
    if stages:
        df = df.filter(pl.col("stage").is_in(list(stages)))
    return df.select(["symbol", "name", "country", "region", "roles", "segment", "stage", "gov_backing", "origin",
                      "source"]).sort("symbol")


def tag(store: Store, symbol: str, add: Sequence[str], remove: Sequence[str], source: str | None) -> list[str]:
    """Change a company's role tags, recording who changed what, when and on what source; return the new tags."""
    sym = symbol.upper()
    if store.scalar("SELECT count(*) FROM companies WHERE symbol = ?", [sym]) == 0:
        raise ScreenerError(f"unknown symbol {sym!r}; see 'screener universe list'")
    for role in [*add, *remove]:
        if role not in ROLES:
            from difflib import get_close_matches

            hint = get_close_matches(role, ROLES, n=1)
            raise ScreenerError(f"unknown role {role!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    overlap = set(add) & set(remove)
    if overlap:
        raise ScreenerError(f"role {sorted(overlap)[0]!r} is both added and removed")
    have = set(store.current_roles(sym))
    result = (have | set(add)) - set(remove)
    if not result:
        raise ScreenerError(f"{sym} would have no roles left; every company needs at least one")
    with store.transaction():
        store.change_tags(sym, add=sorted(set(add) - have), remove=sorted(set(remove) & have), source=source,
                          actor="user", origin="user")
    return sorted(result, key=ROLES.index)
