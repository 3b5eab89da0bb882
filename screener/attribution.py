"""Week-over-week changes of a watchlist, each attributed to the factor whose percentile moved most.

Why attribute: "XYZ left the list" is noise; "XYZ left: dilution_risk_pct 0.41 → 0.88 after an equity raise" is
something an analyst can check and act on. The comparison basis is chosen so that it is always defined:

- when the company was ranked in both runs (a member or a candidate), its percentiles over the eligible set, which
  are exactly what moved its score;
- otherwise (it was filtered or gated in one of the runs), the factor library's percentiles across every scored
  company, which exist for everyone.

An event of a kind that can explain the chosen factor (an equity raise for dilution risk, a capacity announcement
for the localization premium, ...) dated after the earlier run and up to the later one adds an "after ..." clause.
Changes smaller than ``MIN_MOVE`` are not attributed: the name moved because its peers did.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from screener.store import Store

MIN_MOVE = 0.005
RANKED = ("member", "candidate")
EVENT_WORDS = {
    "equity_raise": "an equity raise",
    "capacity": "a capacity announcement",
    "offtake": "an offtake agreement",
    "funding": "a funding award",
    "policy": "a policy change",
    "permit": "a permit",
    "production_start": "a production start",
}
#: Which event kinds can move which factor; order breaks ties between events on the same day.
FACTOR_EVENTS: dict[str, tuple[str, ...]] = {
    "dilution_risk": ("equity_raise", "funding"),
    "balance_sheet": ("equity_raise", "funding"),
    "localization_premium": ("capacity", "offtake", "funding", "policy", "production_start", "permit"),
    "commodity_dependence": ("offtake", "production_start"),
    "liquidity": ("equity_raise",),
}
CHANGE_ORDER = {"entered": 0, "exited": 1, "moved": 2}
SCHEMA = {"change": pl.String, "symbol": pl.String, "name": pl.String, "rank_from": pl.Int64, "rank_to": pl.Int64,
          "factor": pl.String, "pct_from": pl.Float64, "pct_to": pl.Float64, "event": pl.String, "text": pl.String}


def empty_changes() -> pl.DataFrame:
    return pl.DataFrame(schema=SCHEMA)


def _pct_cols(factors: Sequence[str], eligible: bool) -> list[tuple[str, str]]:
    """(label shown to the user, payload column) per factor."""
    return [(f"{f}_pct", f"{f}_pct_eligible" if eligible else f"{f}_pct") for f in factors]


def _biggest_move(before: dict, after: dict, factors: Sequence[str]
                  ) -> tuple[str | None, float | None, float | None]:
    """The factor whose percentile moved most (the first in factor order on a tie), or None below ``MIN_MOVE``."""
    both_ranked = before.get("status") in RANKED and after.get("status") in RANKED
    best: tuple[str | None, float | None, float | None] = (None, None, None)
    best_move = 0.0
    for label, col in _pct_cols(factors, both_ranked):
        a, b = before.get(col), after.get(col)
        if a is None or b is None:
            continue
        move = abs(b - a)
        if move >= MIN_MOVE and move > best_move:
            best, best_move = (label, a, b), move
    return best


def _event_clause(symbol: str, factor_label: str | None, events: pl.DataFrame) -> str | None:
    if factor_label is None or events.height == 0:
        return None
    factor = factor_label.removesuffix("_pct")
    kinds = FACTOR_EVENTS.get(factor, ())
    if not kinds:
        return None
    mine = events.filter((pl.col("symbol") == symbol) & pl.col("kind").is_in(list(kinds)))
    if mine.height == 0:
        return None
    mine = mine.with_columns(pl.col("kind").replace_strict({k: i for i, k in enumerate(kinds)},
                                                           return_dtype=pl.Int32).alias("_k"))
    top = mine.sort(["date", "_k", "description"], descending=[True, False, False]).row(0, named=True)
    return f"{EVENT_WORDS.get(top['kind'], top['kind'])} ({top['date'].isoformat()})"


def attribute(before: pl.DataFrame | None, after: pl.DataFrame, factors: Sequence[str],
              events: pl.DataFrame | None = None) -> pl.DataFrame:
    """Entered, exited and moved members between two run payloads, each with its attribution text."""
    if before is None:
        return empty_changes()
    events = events if events is not None else pl.DataFrame(schema={"symbol": pl.String, "date": pl.Date,
                                                                     "kind": pl.String, "description": pl.String})
    old = {r["symbol"]: r for r in before.iter_rows(named=True)}
    new = {r["symbol"]: r for r in after.iter_rows(named=True)}
    rows: list[dict] = []
    for sym in sorted(set(old) | set(new)):
        b, a = old.get(sym, {}), new.get(sym, {})
        was, now = b.get("status") == "member", a.get("status") == "member"
        if was and now and b.get("rank") == a.get("rank"):
            continue
        if not was and not now:
            continue
        change = "moved" if was and now else "entered" if now else "exited"
        label, p0, p1 = _biggest_move(b, a, factors) if b and a else (None, None, None)
        event = _event_clause(sym, label, events)
        if label is None:
            if not b:
                head = "new to the scored universe"
            elif not a:
                head = "no longer in the scored universe"
            else:
                head = "no factor percentile moved; its peers did"
        else:
            head = f"{label} {p0:.2f} → {p1:.2f}" + (f" after {event}" if event else "")
        if change == "entered":
            context = f"now #{a['rank']}"
        elif change == "exited":
            context = f"was #{b['rank']}" + (f", now {a['why_out']}" if a.get("why_out") else "")
        else:
            context = f"#{b['rank']} → #{a['rank']}"
        rows.append({
            "change": change, "symbol": sym, "name": a.get("name") or b.get("name"),
            "rank_from": b.get("rank") if was else None, "rank_to": a.get("rank") if now else None,
            "factor": label, "pct_from": p0, "pct_to": p1, "event": event,
            "text": f"{change}: {head} ({context})",
        })
    out = pl.DataFrame(rows, schema=SCHEMA, orient="row") if rows else empty_changes()
    return out.with_columns(pl.col("change").replace_strict(CHANGE_ORDER, return_dtype=pl.Int32).alias("_o")).sort(
        ["_o", "rank_to", "rank_from", "symbol"], nulls_last=True).drop("_o")


def events_between(store: Store, start: date, end: date) -> pl.DataFrame:
    """Company events dated after ``start`` and up to ``end`` (point in time: nothing after ``end``)."""
    return store.query(
        "SELECT symbol, date, kind, description FROM events WHERE date > ? AND date <= ? AND symbol <> '*' "
        "ORDER BY symbol, date, kind, description",
        [start, end],
    )
