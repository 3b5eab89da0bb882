"""Week-over-week changes of a watchlist, each attributed to the weighted factor that moved the score.

Why attribute: "XYZ left the list" is noise; "XYZ left: dilution_risk_pct_eligible 0.41 → 0.88 after an equity
raise" is something an analyst can check and act on. What is blamed depends on why the name moved:

- ranked in both runs (a member or a candidate): the **weighted** factor whose contribution to the score
  (``contrib.F``: weight share × direction-aware percentile × tilt) changed most in the direction of the move: for
  an entry or a climb the one that rose most, for an exit or a fall the one that fell most. A factor the rule set
  does not weigh never moved the score, so it is never blamed. The text shows that factor's percentile over the
  eligible set under its own name, ``F_pct_eligible`` (the column of the watchlist rows), and the change in its
  contribution;
- out of the list because of a universe filter or a gate in the later run (or in the earlier one, for an entry):
  that check, with the company's own numbers ("failed gate tradeable (liquidity_pct 0.12 < 0.15)", "no liquidity
  data"); the factor is the one whose data decided the check. Such a check reads the factor library's percentile
  across every scored company (``F_pct``, the name a rule set's conditions use), so that is what ``pct_from`` and
  ``pct_to`` hold for it; for a blamed weighted factor they hold ``F_pct_eligible``.

An event of a kind that can explain the blamed factor (an equity raise for dilution risk, a capacity announcement
for the localization premium, ...) dated after the earlier run and up to the later one adds an "after ..." clause.
A contribution change smaller than ``MIN_CONTRIB`` is not a cause: the name moved because its peers did.

When the blamed factor moved because a missing-value fill started (or ended), the text says so, with the inputs
that went missing and the factor's declared policy: "balance_sheet_pct_eligible 0.89 → 0.00, total debt and total
equity now missing: worst-filled". A filled value moves a percentile as far as a real collapse; the words tell them
apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from screener.store import Store

MIN_CONTRIB = 0.001
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
CHANGE_ORDER = {"entered": 0, "exited": 1, "moved": 2}
SCHEMA = {
    "change": pl.String,
    "symbol": pl.String,
    "name": pl.String,
    "rank_from": pl.Int64,
    "rank_to": pl.Int64,
    "factor": pl.String,
    "pct_from": pl.Float64,
    "pct_to": pl.Float64,
    "contrib_from": pl.Float64,
    "contrib_to": pl.Float64,
    "event": pl.String,
    "text": pl.String,
}


def empty_changes() -> pl.DataFrame:
    return pl.DataFrame(schema=SCHEMA)


def _pct(row: dict, factor: str, eligible: bool) -> float | None:
    return row.get(f"{factor}_pct_eligible" if eligible else f"{factor}_pct")


def _blame(before: dict, after: dict, weighted: Sequence[str], improved: bool) -> str | None:
    """The weighted factor whose contribution moved most in the direction of the move (None below MIN_CONTRIB).

    Ties go to the first factor in the rule set's order.
    """
    best, best_move = None, MIN_CONTRIB
    for f in weighted:
        c0, c1 = before.get(f"contrib.{f}"), after.get(f"contrib.{f}")
        if c0 is None or c1 is None:
            continue
        move = (c1 - c0) if improved else (c0 - c1)
        if move >= best_move and (best is None or move > best_move):
            best, best_move = f, move
    return best


def moved_by(factor: str) -> tuple[str, ...]:
    """The event kinds that can move ``factor``, in tie-break order: the factor declares them at registration
    (``moved_by``). A name that is not a factor (a universe filter's column) is moved by none."""
    from factors.registry import FACTORS

    spec = FACTORS.get(factor)
    return spec.moved_by if spec is not None else ()


#: How each declared missing-value policy (``FactorSpec.missing``) reads in a change's text.
POLICY_WORDS = {
    "worst": "worst-filled",
    "neutral": "median-filled",
    "impute_peers": "filled with the peer median",
    "exclude": "the factor is left out",
}
PRESENT = "_present."


def _present_columns(frame: pl.DataFrame, factors: Sequence[str]) -> pl.DataFrame:
    """``_present.<input>`` for every counted input the ``factors`` declare (``needs``) that the frame can judge.

    The input's own ``present`` declaration decides; an input whose columns the frame lacks is left out, and the
    text then names the filled components instead.
    """
    from factors.inputs import INPUTS
    from factors.registry import FACTORS

    needs = dict.fromkeys(n for f in factors if f in FACTORS for n in FACTORS[f].needs)
    exprs = []
    for n in needs:
        present = INPUTS[n].present if n in INPUTS else None
        if present is None:
            continue
        try:
            frame.head(0).select(present)
        except pl.exceptions.ColumnNotFoundError:
            continue
        exprs.append(present.fill_null(False).alias(PRESENT + n))
    return frame.with_columns(exprs) if exprs else frame


def _flags(row: dict) -> set[str]:
    raw = row.get("flags")
    if raw is None:
        return set()
    return {f.strip() for f in (raw.split(";") if isinstance(raw, str) else raw) if f and f.strip()}


def _and(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def fill_clause(factor: str | None, before: dict, after: dict) -> str | None:
    """Why a factor moved when a missing-value fill moved it: "total debt and total equity now missing:
    worst-filled", or "... measured again (was worst-filled)"; None when no fill started or ended.

    Why: a filled value moves a percentile as far as a real collapse does; the reader must be able to tell them
    apart. The factor declares its policy (``missing``) and inputs (``needs``); the engine's fill flags say which
    components were filled in each run, the inputs' ``present`` declarations which inputs went missing.
    """
    from factors.engine import _POLICY_FLAG  # the engine's flag prefix per policy: read, never copied
    from factors.registry import FACTORS

    spec = FACTORS.get(factor) if factor else None
    if spec is None or not before or not after:
        return None
    if spec.missing == "exclude":
        marks = {f"excluded:{spec.name}": spec.name}
    else:
        marks = {f"{_POLICY_FLAG[spec.missing]}:{spec.column(c)}": c for c in spec.components}
    was, now = _flags(before), _flags(after)
    started = [c for flag, c in marks.items() if flag in now and flag not in was]
    ended = [c for flag, c in marks.items() if flag in was and flag not in now]
    if not started and not ended:
        return None

    def inputs(gone: dict, there: dict) -> list[str]:
        return [
            n.replace("_", " ") for n in spec.needs if gone.get(PRESENT + n) is False and there.get(PRESENT + n) is True
        ]

    words = POLICY_WORDS[spec.missing]
    if started:
        return f"{_and(inputs(after, before) or started)} now missing: {words}"
    return f"{_and(inputs(before, after) or ended)} measured again (was {words})"


def _num(v: float | None) -> str:
    return "missing" if v is None else f"{v:.2f}"


def _event_clause(symbol: str, factor: str | None, events: pl.DataFrame) -> str | None:
    if factor is None or events.height == 0:
        return None
    kinds = moved_by(factor)
    if not kinds:
        return None
    mine = events.filter((pl.col("symbol") == symbol) & pl.col("kind").is_in(list(kinds)))
    if mine.height == 0:
        return None
    mine = mine.with_columns(
        pl.col("kind").replace_strict({k: i for i, k in enumerate(kinds)}, return_dtype=pl.Int32).alias("_k")
    )
    top = mine.sort(["date", "_k", "description"], descending=[True, False, False]).row(0, named=True)
    return f"{EVENT_WORDS.get(top['kind'], top['kind'])} ({top['date'].isoformat()})"


def attribute(
    before: pl.DataFrame | None, after: pl.DataFrame, weighted: Sequence[str], events: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Entered, exited and moved members between two run payloads, each with its attribution text.

    ``weighted`` are the factors the rule set weighs (the ``contrib.F`` columns); only they can be blamed.
    """
    if before is None:
        return empty_changes()
    events = (
        events
        if events is not None
        else pl.DataFrame(schema={"symbol": pl.String, "date": pl.Date, "kind": pl.String, "description": pl.String})
    )
    weighted = [f for f in weighted if f"contrib.{f}" in after.columns and f"contrib.{f}" in before.columns]
    from factors.registry import FACTORS

    blamable = [*weighted, *(f for f in FACTORS if f not in weighted)]  # a filter's factor can be blamed too
    before, after = _present_columns(before, blamable), _present_columns(after, blamable)
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
        rows.append(
            {
                "change": change,
                "symbol": sym,
                "name": a.get("name") or b.get("name"),
                "rank_from": b.get("rank") if was else None,
                "rank_to": a.get("rank") if now else None,
                **_explain(change, b, a, weighted, events),
            }
        )
    out = pl.DataFrame(rows, schema=SCHEMA, orient="row") if rows else empty_changes()
    return (
        out.with_columns(pl.col("change").replace_strict(CHANGE_ORDER, return_dtype=pl.Int32).alias("_o"))
        .sort(["_o", "rank_to", "rank_from", "symbol"], nulls_last=True)
        .drop("_o")
    )


def _explain(change: str, b: dict, a: dict, weighted: Sequence[str], events: pl.DataFrame) -> dict:
    """factor, pct_from, pct_to, contrib_from, contrib_to, event and text for one change."""
    sym = a.get("symbol") or b.get("symbol")
    out: dict = {
        "factor": None,
        "pct_from": None,
        "pct_to": None,
        "contrib_from": None,
        "contrib_to": None,
        "event": None,
    }
    if change == "entered":
        context = f"now #{a['rank']}"
    elif change == "exited":
        context = f"was #{b['rank']}" + (
            f", now {a['why_out']}" if a.get("status") in RANKED and a.get("why_out") else ""
        )
    else:
        context = f"#{b['rank']} → #{a['rank']}"
    # Out of the list in one of the runs because of a filter or a gate: that check is the cause.
    out_row = a if change == "exited" else b if change == "entered" else None
    if out_row is not None and out_row and out_row.get("status") not in RANKED:
        factor = out_row.get("out_factor")
        event = _event_clause(sym, factor, events)
        out.update(
            factor=factor,
            event=event,
            pct_from=_pct(b, factor, False) if factor else None,
            pct_to=_pct(a, factor, False) if factor else None,
        )
        why = out_row.get("why_out") or out_row.get("status")
        fill = fill_clause(factor, b, a)
        if fill:
            why = f"{why}, {fill}"
        after_event = f" after {event}" if event else ""
        head = f"{why}{after_event}" if change == "exited" else f"was out last run: {why}"
        return {**out, "text": f"{change}: {head} ({context})"}
    if not b:
        return {**out, "text": f"{change}: new to the scored universe ({context})"}
    if not a:
        return {**out, "text": f"{change}: no longer in the scored universe ({context})"}
    improved = change == "entered" or (change == "moved" and a["rank"] < b["rank"])
    factor = _blame(b, a, weighted, improved)
    if factor is None:
        side = "in its favour" if improved else "against it"
        return {**out, "text": f"{change}: no weighted factor moved {side}; its peers did ({context})"}
    p0, p1 = _pct(b, factor, True), _pct(a, factor, True)
    c0, c1 = b[f"contrib.{factor}"], a[f"contrib.{factor}"]
    event = _event_clause(sym, factor, events)
    fill = fill_clause(factor, b, a)
    head = f"{factor}_pct_eligible {_num(p0)} → {_num(p1)}{f', {fill}' if fill else ''} (score {c1 - c0:+.3f})" + (
        f" after {event}" if event else ""
    )
    out.update(factor=factor, pct_from=p0, pct_to=p1, contrib_from=c0, contrib_to=c1, event=event)
    return {**out, "text": f"{change}: {head} ({context})"}


def events_between(store: Store, start: date, end: date) -> pl.DataFrame:
    """Company events dated after ``start`` and up to ``end`` (point in time: nothing after ``end``)."""
    return store.events_between(start, end)
