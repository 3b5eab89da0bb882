"""The bundled universe and the user's edits to it.

Why bundled and user rows are kept apart: the product ships curated companies and events that improve with each
release, while analysts retag names and add their own as news arrives. ``init`` refreshes only what is still
bundled and untouched, so a user's edits survive every later ``init``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

import polars as pl

from screener.contract import REGIONS, ROLES, region_of, split_places
from screener.errors import NO_COMPANIES, ArgumentError, Option, ScreenerError
from screener.paths import bundled_data_dir
from screener.providers.files import read_file
from screener.store import Store, UpsertResult, utcnow

BUNDLED_PROVIDER = "bundled"
#: What ``universe list`` shows of each company: who it is, where it sits in the chain and how much of it does.
LIST_COLUMNS: tuple[str, ...] = (
    "symbol",
    "name",
    "country",
    "region",
    "roles",
    "segment",
    "stage",
    "exposure",
    "listed_from",
    "delisted_on",
    "gov_backing",
    "origin",
    "source",
)


@dataclass
class InitResult:
    companies_added: int
    companies_updated: int
    companies_kept_user: int
    events_added: int
    schema_version: int
    #: Bundled rows that failed validation: kept out and recorded in the rejected-rows ledger.
    rejected: int = 0

    @property
    def companies(self) -> int:
        """The bundled companies in the store after the load, whatever happened to each: added, refreshed, or kept
        as the user edited them (rows that failed validation are not among them)."""
        return self.companies_added + self.companies_updated + self.companies_kept_user


def load_bundled(store: Store) -> InitResult:
    """Load ``data/companies.csv`` and ``data/events.csv`` idempotently, in one transaction.

    Both go through the validation suites (``screener.intake``) like every other load: a bundled row that fails is
    kept out and recorded, not stored. Set-based (a handful of statements whatever the universe size) so that
    ``init`` stays quick. Companies the user owns (imported by them) are left alone, and so is every (symbol, role)
    tag the user has ever touched.
    """
    from screener.intake import admit, check

    folder = bundled_data_dir()
    companies = check(
        "companies", read_file(folder / "companies.csv", "companies").frame, str(folder / "companies.csv")
    )
    events = check("events", read_file(folder / "events.csv", "events").frame, str(folder / "events.csv"))
    stamp = utcnow()
    counts: dict[str, int] = {}

    def write_companies(frame: pl.DataFrame) -> UpsertResult:
        result, added = store.write_bundled_companies(frame, BUNDLED_PROVIDER, stamp)
        counts["added"] = added
        counts["updated"] = result.stored - added
        return result

    def write_events(frame: pl.DataFrame) -> UpsertResult:
        result, counts["events_added"] = store.write_bundled_events(frame, BUNDLED_PROVIDER, stamp)
        return result

    with store.transaction():
        done = admit(
            store,
            companies,
            BUNDLED_PROVIDER,
            origin="bundled",
            loaded_at=stamp,
            write=write_companies,
            policy="quarantine",
        )
        admit(
            store, events, BUNDLED_PROVIDER, origin="bundled", loaded_at=stamp, write=write_events, policy="quarantine"
        )
    return InitResult(
        counts["added"],
        counts["updated"],
        done.kept_out,
        counts["events_added"],
        store.schema_version(),
        companies.rejected + events.rejected,
    )


def list_universe(
    store: Store,
    roles: Sequence[str] = (),
    countries: Sequence[str] = (),
    stages: Sequence[str] = (),
) -> pl.DataFrame:
    """The universe, filtered; a company matches a role filter when it carries any of the roles asked for."""
    df = store.companies()
    if df.height == 0:
        raise ScreenerError(NO_COMPANIES)
    df = df.with_columns(
        pl.col("country").replace_strict(REGIONS, default=region_of(None), return_dtype=pl.String).alias("region")
    )
    if roles:
        df = df.filter(pl.col("roles").str.split(";").list.eval(pl.element().is_in(list(roles))).list.any())
    if countries:
        codes, regions = split_places(countries)
        df = df.filter(pl.col("country").is_in(codes) | pl.col("region").is_in(regions))
    if stages:
        df = df.filter(pl.col("stage").is_in(list(stages)))
    return df.select(LIST_COLUMNS).sort("symbol")


def tag(
    store: Store,
    symbol: str,
    add: Sequence[str],
    remove: Sequence[str],
    source: str | None,
    *,
    effective: date | None = None,
) -> tuple[list[str], bool]:
    """Change a company's role tags, recording who changed what, when and on what source.

    ``effective`` is the day the change took effect in the world (a retag after a disposal announced last month);
    without it, today. A score back-dated before that day reads the tags as they were. Returns the tags afterwards
    and whether anything changed (adding a tag already there records nothing).
    """
    sym = symbol.upper()
    if not store.has_company(sym):
        known = store.symbol_list()
        hint = suggest_symbol(sym, known)
        raise ScreenerError(
            f"unknown symbol {sym!r}"
            + (f" (did you mean {hint!r}?)" if hint else "")
            + "; see 'screener universe list'"
        )
    for role in [*add, *remove]:
        if role not in ROLES:
            from difflib import get_close_matches

            hint = get_close_matches(role.lower(), ROLES, n=1)
            raise ScreenerError(
                f"unknown role {role!r}"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
                + f"; roles are {', '.join(ROLES)}"
            )
    if source is None or not source.strip():
        raise ArgumentError(
            Option("source"), " is empty: say why the tags change (a citation or URL); it is kept in the history"
        )
    overlap = set(add) & set(remove)
    if overlap:
        raise ScreenerError(f"role {sorted(overlap)[0]!r} is both added and removed")
    # The roles are read inside the transaction that changes them: a store that takes the write lock per
    # transaction (``brief``) lets another process tag between a read outside and the write. ``inputs=False``: a
    # change that changes nothing leaves the data version, and so the stored scores, as they are; ``change_tags``
    # marks its own change.
    with store.transaction(inputs=False):
        have = set(store.current_roles(sym))
        result = (have | set(add)) - set(remove)
        if result == have:
            return sorted(result, key=ROLES.index), False
        if not result:
            raise ScreenerError(f"{sym} would have no roles left; every company needs at least one")
        store.change_tags(
            sym,
            add=sorted(set(add) - have),
            remove=sorted(set(remove) & have),
            source=source,
            actor="user",
            origin="user",
            effective=effective,
        )
    return sorted(result, key=ROLES.index), True


def rescore_after_tags(
    store: Store,
    since: date | None = None,
    *,
    today: date | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[date]:
    """Recompute the stored score sets a tag change reaches (as-of ``since``, default today, and later); returns
    their dates, oldest first.

    Why now rather than at the next ``score``: a back-dated retag can reach many stored sets, and recomputing them is
    the long part; done here it runs once, with progress, instead of surprising the next ``weekly``. Each set is
    recomputed only when its inputs changed (``scores_for``). ``progress`` receives ``(as-of date, done, total)``.
    """
    from factors.engine import scores_for

    today = today or date.today()
    first = since or today
    days = [d for d in store.score_set_dates() if first <= d <= today]
    tell = progress or (lambda _label, _done, _total: None)
    for done, day in enumerate(days):
        tell(day.isoformat(), done, len(days))
        scores_for(store, day, today=today)
    tell("", len(days), len(days))
    return days


def suggest_symbol(symbol: str, known: Sequence[str]) -> str | None:
    """The closest known symbol: a missing exchange suffix (``LYC`` for ``LYC.AX``) first, then spelling."""
    from difflib import get_close_matches

    sym = symbol.upper()
    same_root = [k for k in known if k.split(".")[0] == sym.split(".")[0]]
    if same_root:
        return sorted(same_root)[0]
    hint = get_close_matches(sym, list(known), n=1, cutoff=0.6)
    return hint[0] if hint else None
