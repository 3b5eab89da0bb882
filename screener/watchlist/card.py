"""The company card behind ``screener show``: everything known about one company, with where and when it came from.

Why one card with sections rather than several commands: the analyst's question is "why is this name where it is
on the list?". The answer needs the tags (and who changed them), the numbers the factors read (with currency and
period), the catalysts, how fresh each source is, and the factor breakdown, side by side for one as-of date.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any

import polars as pl

from screener.contract import region_of
from screener.errors import NO_COMPANIES, ScreenerError
from screener.output.render import human_money, utc_text
from screener.store import Store

#: How many role-tag changes and events the card shows.
TAG_HISTORY_ROWS = 5
EVENT_ROWS = 10
QUARTERS_SHOWN = 4
#: Three halves: the two a trailing twelve months sums, or the one after a fiscal year and the one a year before.
HALVES_SHOWN = 3

SECTION_TITLES: dict[str, str] = {
    "identity": "Identity",
    "tags": "Role tags",
    "tag_history": "Recent tag changes",
    "fundamentals": "Latest fundamentals",
    "events": "Recent events",
    "freshness": "Data freshness",
    "factors": "Factor breakdown",
    "membership": "On each rule set's latest list",
    "rank_history": "Rank history",
}

#: How many stored runs of each rule set the rank history goes back.
RANK_HISTORY_RUNS = 12

_FUNDAMENTAL_FIELDS = (
    "revenue",
    "operating_income",
    "net_income",
    "operating_cash_flow",
    "capital_expenditure",
    "free_cash_flow",
    "cash",
    "total_debt",
    "total_equity",
    "inventory",
    "shares_outstanding",
)


@dataclass
class CompanyCard:
    symbol: str
    as_of: date
    demo: bool
    identity: dict[str, Any]
    sections: dict[str, pl.DataFrame] = field(default_factory=dict)
    factors: dict[str, Any] = field(default_factory=dict)
    #: Whether anything the card shows rests on demo rows: this company's, or the peers its percentiles and filled
    #: values are measured against. Decides the demo banner.
    rests_on_demo: bool = False

    def to_json_obj(self) -> dict[str, Any]:
        """One object with a key per section (lists of row objects; identity and factors as objects)."""
        out: dict[str, Any] = {"symbol": self.symbol, "as_of": self.as_of, "demo": self.demo, "identity": self.identity}
        for key, frame in self.sections.items():
            if key in ("identity", "factors"):
                continue
            out[key] = frame.to_dicts()
        out["factors"] = self.factors
        return _plain(out)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return utc_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


#: How many candidates an ambiguous name lists.
CANDIDATES_SHOWN = 5


def _listing(pairs: list[tuple[str, str | None]]) -> str:
    shown = ", ".join(f"{sym} ({name})" if name else sym for sym, name in pairs[:CANDIDATES_SHOWN])
    more = len(pairs) - CANDIDATES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def resolve_symbol(store: Store, text: str) -> str:
    """The stored symbol ``text`` stands for.

    In order: the symbol itself (exact, then case-insensitive); the company name (case-insensitive); a part of the
    name, when exactly one company's name contains it. Several companies containing it -> one line naming up to
    five of them; nothing -> one line with the closest symbol or name.
    """
    wanted = text.strip()
    if not wanted:
        raise ScreenerError("give a symbol or part of a company name, e.g. 'screener show MP' or 'screener show Lynas'")
    if store.has_company(wanted):  # the common case, answered without reading every name
        return wanted
    companies = store.company_names()
    if companies.height == 0:
        raise ScreenerError(NO_COMPANIES)
    pairs: list[tuple[str, str | None]] = list(companies.iter_rows())
    key = wanted.casefold()
    for match in ([s for s, _ in pairs if s == wanted], [s for s, _ in pairs if s.casefold() == key]):
        if len(match) == 1:
            return match[0]
    for match in (
        [(s, n) for s, n in pairs if n and n.casefold() == key],
        [(s, n) for s, n in pairs if n and key in n.casefold()],
    ):
        if len(match) == 1:
            return match[0][0]
        if match:
            raise ScreenerError(
                f"{wanted!r} matches {len(match)} companies: {_listing(match)}; give the symbol or more of the name"
            )
    from difflib import get_close_matches

    names = {n.casefold(): (s, n) for s, n in pairs if n}
    hint: tuple[str, str | None] | None = None
    close_symbols = get_close_matches(wanted.upper(), [s.upper() for s, _ in pairs], n=1, cutoff=0.5)
    if close_symbols:
        hint = next((s, n) for s, n in pairs if s.upper() == close_symbols[0])
    else:
        close_names = get_close_matches(key, list(names), n=1, cutoff=0.6)
        hint = names[close_names[0]] if close_names else None
    suffix = ""
    if hint is not None:
        suffix = f" (did you mean {hint[0]!r}, {hint[1]}?)" if hint[1] else f" (did you mean {hint[0]!r}?)"
    raise ScreenerError(f"no symbol or company name matches {wanted!r}{suffix}; see 'screener universe list'")


def _identity(store: Store, symbol: str, as_of: date) -> dict[str, Any]:
    """Who the company was on ``as_of``: its roles, stage and exposure as of that day, like the scores read them."""
    row = store.companies(as_of, symbol=symbol).row(0, named=True)
    return {
        "symbol": row["symbol"],
        "name": row["name"],
        "country": row["country"],
        "region": region_of(row["country"]),
        "currency": row["currency"],
        "roles": row["roles"],
        "stage": row["stage"],
        "segment": row["segment"],
        "exposure": row["exposure"],
        "exposure_source": row["exposure_source"],
        "listed_from": row["listed_from"],
        "delisted_on": row["delisted_on"],
        "gov_backing": row["gov_backing"],
        "description": row["description"],
        "source": row["source"],
        "origin": row["origin"],
        "provider": row["provider"],
        "loaded_at": row["loaded_at"],
    }


def _tags(store: Store, symbol: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    current = store.role_tags_of(symbol)
    history = store.tag_history(symbol)
    recent = (
        history.sort("id", descending=True)
        .head(TAG_HISTORY_ROWS)
        .select("changed_at", "role", "action", "actor", "source")
    )
    return current, recent


def _fundamental_rows(store: Store, symbol: str, as_of: date) -> pl.DataFrame:
    """The latest quarters, half years and fiscal year with a period end on or before the as-of date: every period
    a trailing twelve months can be built from (four quarters, two halves, a fiscal year and the half after it).

    ``reported_by`` is the day the period counts for scoring (period end + reporting lag, the engine's own rule)
    and ``public`` whether that day is on or before the as-of date: a listed period that is not public yet is in
    the store but not in the scores.
    """
    from factors.methodology import is_public, reported_by

    rows = store.company_fundamentals(symbol, as_of, _FUNDAMENTAL_FIELDS)
    rows = pl.concat(
        [
            rows.filter(pl.col("period") == "Q").head(QUARTERS_SHOWN),
            rows.filter(pl.col("period") == "H").head(HALVES_SHOWN),
            rows.filter(pl.col("period") == "FY").head(1),
        ]
    ).sort(["period_end", "period"], descending=[True, False])
    rows = rows.with_columns(reported_by().alias("reported_by"), is_public(as_of).alias("public"))
    return rows.select(
        "period_end", "period", "reported_by", "public", pl.exclude("period_end", "period", "reported_by", "public")
    )


def _fundamentals(rows: pl.DataFrame) -> pl.DataFrame:
    """Those periods as columns, fields as rows, so a terminal can show them side by side.

    ``reported_by`` is when the period counts for scoring; ``(not yet)`` marks a period that is not public on the
    as-of date (``public`` false in json).
    """
    if rows.height == 0:
        return pl.DataFrame(schema={"field": pl.String})
    columns: dict[str, list[str | None]] = {}
    for r in rows.iter_rows(named=True):
        values: list[str | None] = [r["currency"], r["reported_by"].isoformat() + ("" if r["public"] else " (not yet)")]
        for f in _FUNDAMENTAL_FIELDS:
            v = r[f]
            # money with its currency (a JPY company reads JPY 41.2bn); a share count is a plain number
            money = f != "shares_outstanding"
            values.append(None if v is None else human_money(v, r["currency"] if money else None))
        values += [r["provider"], utc_text(r["loaded_at"]) if r["loaded_at"] else None]
        columns[f"{r['period']} {r['period_end'].isoformat()}"] = values
    fields = ["currency", "reported_by", *_FUNDAMENTAL_FIELDS, "provider", "loaded_at"]
    return pl.DataFrame({"field": fields, **columns})


def _events(store: Store, symbol: str, as_of: date) -> pl.DataFrame:
    return store.company_events(symbol, as_of, EVENT_ROWS)


def _freshness(store: Store, symbol: str, as_of: date) -> pl.DataFrame:
    """Per data kind and provider (prices, fundamentals, events, daily share counts): the latest dated value on or
    before as-of, the row count and the load time."""
    parts = store.freshness_parts(symbol, as_of)
    schema = {
        "data": pl.String,
        "provider": pl.String,
        "latest": pl.Date,
        "rows": pl.Int64,
        "loaded_at": pl.Datetime("us"),
    }
    frames = [p.cast(schema) for p in parts if p.height]  # type: ignore[arg-type]
    if not frames:
        return pl.DataFrame(schema=schema)
    return pl.concat(frames).sort(["data", "provider"])


#: How the card names the value a missing-value policy put in place of a missing component.
_FILL_NOTES = {
    "neutral": "cross-sectional median",
    "worst": "worst observed value",
    "impute_peers": "imputed from role-class peers",
}


def _factors(row: dict[str, Any], filled: dict[str, Any]) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The factor breakdown: per factor its value and percentile, per component the measured value and, where the
    factor's missing-value policy filled it, the value the factor used instead."""
    from factors.registry import FACTORS

    flags = list(row.get("flags") or [])
    records: list[dict[str, Any]] = []
    obj: dict[str, Any] = {}
    # a flag's subject follows its first ':' -- the factor itself (excluded:F) or one of its components (F.c)
    subjects = {f: f.split(":", 1)[-1] for f in flags}
    for spec in FACTORS.values():
        value, pct = row.get(spec.name), row.get(spec.pct_column)
        own = [f for f, subj in subjects.items() if subj == spec.name or subj.startswith(spec.name + ".")]
        notes = [f"{spec.direction.replace('_', ' ')}; missing: {spec.missing}"]
        notes += [f for f in own if subjects[f] == spec.name]
        records.append(
            {
                "factor": spec.name,
                "component": "(value)",
                "value": value,
                "filled": None,
                "percentile": pct,
                "note": "; ".join(notes),
            }
        )
        comps: dict[str, Any] = {}
        fills: dict[str, Any] = {}
        for c in spec.components:
            col = spec.column(c)
            v, f = row.get(col), filled.get(col)
            comps[c] = v
            note = None
            if v is None and f is not None:
                fills[c] = f
                note = _FILL_NOTES[spec.missing]
                if spec.missing == "impute_peers":
                    note += f" ({row.get('role_class')})"
            elif v is None:
                note = "missing: factor excluded" if spec.missing == "exclude" else "missing; no value to fill it from"
            records.append(
                {
                    "factor": spec.name,
                    "component": c,
                    "value": v,
                    "filled": fills.get(c),
                    "percentile": None,
                    "note": note,
                }
            )
        obj[spec.name] = {
            "value": value,
            "percentile": pct,
            "direction": spec.direction,
            "missing": spec.missing,
            "components": comps,
            "filled": fills,
            "flags": own,
        }
    schema = {
        "factor": pl.String,
        "component": pl.String,
        "value": pl.Float64,
        "filled": pl.Float64,
        "percentile": pl.Float64,
        "note": pl.String,
    }
    frame = pl.DataFrame(records, schema=schema, orient="row")
    extras = {
        "role_class": row.get("role_class"),
        "market_cap_usd": row.get("market_cap_usd"),
        "data_completeness": row.get("data_completeness"),
        "flags": flags,
    }
    return frame, {"values": obj, **extras}


def funding_line(row: dict[str, Any]) -> dict[str, Any]:
    """The funding-gap forecast of a score row, in numbers and one sentence (``months_to_raise`` and the gap are
    ``dilution_risk`` components; METHODOLOGY.md, "Funding gap").

    Why a sentence of its own: the months are the one number of the card a reader acts on, and their two special
    values must not be misread: the cap means no raise is needed within the horizon, null means unknown (no cash or
    cash-flow figure), and neither is zero."""
    from factors.library.dilution_risk import months_cap
    from factors.registry import FACTORS

    spec = FACTORS.get("dilution_risk")
    cols = ("remaining_capex_usd", "funding_gap_usd", "months_to_raise")
    values = {c: row.get(f"dilution_risk.{c}") for c in cols}
    months, gap, capex = (values[c] for c in ("months_to_raise", "funding_gap_usd", "remaining_capex_usd"))
    cap = months_cap(spec.params) if spec is not None and hasattr(spec, "params") else None
    if months is None:
        status, text = "unknown", "months to raise: unknown (no cash or cash-flow figure)"
    elif cap is not None and months >= cap:
        status, text = "not_needed", f"months to raise: none needed within {cap / 12:.0f} years"
    else:
        status, text = "needed", f"months to raise: {months:.1f}"
    if gap is not None:
        side = "short of" if gap > 0 else "within"
        text += f"; open projects' capex USD {(capex or 0.0) / 1e6:,.1f}m, {side} cash + binding funding by USD "
        text += f"{abs(gap) / 1e6:,.1f}m"
    return {**values, "raise_status": status, "text": text}


def company_card(store: Store, symbol: str, as_of: date | None = None, *, for_json: bool = False) -> CompanyCard:
    """Assemble the card of ``symbol`` as of ``as_of`` (default today); scores come from ``scores_for``, of which
    only this company's row, the columns its missing components are filled from and the demo flags are decoded.

    The sections that do not rest on the scores (tags, fundamentals, events, freshness, runs) are read on a second
    thread (``Store.reader``) while this one reads the identity and the score row: the card's reads are a dozen
    small queries, each a wait on DuckDB. The score set is made current first, alone: a stale set is recomputed and
    stored there, and nothing reads beside a write."""
    from concurrent.futures import ThreadPoolExecutor

    from factors.methodology import current_scores_lazy, rests_on_demo

    sym = resolve_symbol(store, symbol)
    day = as_of or date.today()
    scores, _ = current_scores_lazy(store, day)
    with store.reader() as side, ThreadPoolExecutor(1) as pool:
        aside = pool.submit(_unscored_sections, side, sym, day, for_json)
        identity = _identity(store, sym, day)
        scored = scores.filter(pl.col("symbol") == sym).collect()
        if scored.height == 0:
            delisted = f", delisted on {identity['delisted_on']}" if identity["delisted_on"] else ""
            raise ScreenerError(
                f"{sym} was not listed on {day} (listed from {identity['listed_from'] or 'unknown'}{delisted}): "
                "nothing to score"
            )
        row = scored.row(0, named=True)
        identity["government_backing"] = row.get("government_backing")
        filled = _filled_row(scores, row)
        demo_peers = rests_on_demo(scores.select("demo").collect())
        unscored = aside.result()
    factor_frame, factor_obj = _factors(row, filled)
    factor_obj["funding"] = funding_line(row)
    identity_frame = pl.DataFrame(
        {"field": list(identity), "value": ["" if v is None else str(v) for v in identity.values()]}
    )
    read = {"identity": identity_frame, "factors": factor_frame, **unscored}
    sections = {key: read[key] for key in SECTION_TITLES}  # in the card's order, whichever thread read them
    return CompanyCard(
        symbol=sym,
        as_of=day,
        demo=bool(row.get("demo")),
        identity=identity,
        sections=sections,
        factors=factor_obj,
        rests_on_demo=demo_peers,
    )


def _unscored_sections(store: Store, symbol: str, day: date, for_json: bool) -> dict[str, pl.DataFrame]:
    """The card's sections that read no score: role tags and their recent changes, fundamentals, events, freshness,
    and the stored runs' membership and rank history."""
    current, history = _tags(store, symbol)
    fundamentals = _fundamental_rows(store, symbol, day)
    membership, rank_history = run_history(store, symbol)
    return {
        "tags": current,
        "tag_history": history,
        "fundamentals": fundamentals if for_json else _fundamentals(fundamentals),
        "events": _events(store, symbol, day),
        "freshness": _freshness(store, symbol, day),
        "membership": membership,
        "rank_history": rank_history,
    }


def _filled_row(scores: pl.LazyFrame, row: dict[str, Any]) -> dict[str, Any]:
    """``filled_values`` of the company whose score row is ``row``, for the components it lacks (the card reads a
    filled value only where the measurement is missing).

    Why not the whole set: a fill is a statistic of one component across every company (within role classes for
    ``impute_peers``), so it needs that component's column whole, but only those columns: decoding them alone gives
    the same numbers as decoding the set."""
    from factors.methodology import filled_values
    from factors.registry import FACTORS

    schema = scores.collect_schema()
    # only a component has a fill (``_factors`` looks one up for a missing component alone): a row that lacks none
    # reads no column of the set, and a missing field that is no component (``exposure``) is not read for nothing
    components = {c for spec in FACTORS.values() for c in spec.component_columns}
    missing = [c for c, v in row.items() if v is None and c in components and c in schema and schema[c].is_numeric()]
    if not missing:
        return {}
    peers = ["role_class"] if "role_class" in schema else []
    frame = scores.select(*dict.fromkeys(["symbol", *peers, *missing])).collect()
    return filled_values(frame).filter(pl.col("symbol") == row["symbol"]).row(0, named=True)


_MEMBERSHIP_SCHEMA = {
    "rules": pl.String,
    "run_id": pl.Int64,
    "iso_week": pl.String,
    "as_of": pl.Date,
    "member": pl.Boolean,
    "rank": pl.Int64,
    "candidate_rank": pl.Int64,
    "score": pl.Float64,
    "why_out": pl.String,
}
_HISTORY_COLUMNS = ("rules", "run_id", "iso_week", "as_of", "rank", "candidate_rank", "score", "status")


def run_history(store: Store, symbol: str, runs: int = RANK_HISTORY_RUNS) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Where ``symbol`` stood in the stored runs: its membership in each rule set's latest run (with why it is out,
    the ``why_out`` the ranking wrote for every company, the same text the workbook's Universe sheet shows), and its
    rank in each of the last ``runs`` runs of every rule set, newest first.

    Why from the stored runs and not recomputed: a run is what was sent; re-ranking today's data would rewrite it.
    "Latest" is the latest as-of date of that rule set (the newest run id on a tie), as everywhere else.
    """
    listed = store.run_list()
    latest: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    if listed.height == 0:
        return pl.DataFrame(schema=_MEMBERSHIP_SCHEMA), pl.DataFrame(
            schema={c: _MEMBERSHIP_SCHEMA.get(c, pl.String) for c in _HISTORY_COLUMNS}
        )
    from screener.watchlist.runs import load_run

    listed = listed.sort(["rules", "as_of", "run_id"], descending=[False, True, True])
    for (rules,), group in listed.group_by(["rules"], maintain_order=True):
        for i, rid in enumerate(group["run_id"].head(runs).to_list()):
            run = load_run(store, int(rid))
            found = run.table.filter(pl.col("symbol") == symbol) if "symbol" in run.table.columns else run.table
            row = found.row(0, named=True) if found.height else {}
            base = {"rules": rules, "run_id": run.run_id, "iso_week": run.iso_week, "as_of": run.as_of}
            status = row.get("status") if row else "not in this run's universe"
            history.append(
                {
                    **base,
                    "rank": row.get("rank"),
                    "candidate_rank": row.get("candidate_rank"),
                    "score": row.get("score"),
                    "status": status,
                }
            )
            if i == 0:
                member = status == "member"
                why = None if member else (row.get("why_out") or status)
                latest.append(
                    {
                        **base,
                        "member": member,
                        "rank": row.get("rank"),
                        "candidate_rank": row.get("candidate_rank"),
                        "score": row.get("score"),
                        "why_out": why,
                    }
                )
    membership = pl.DataFrame(latest, schema=_MEMBERSHIP_SCHEMA, orient="row")
    hist_schema = {c: _MEMBERSHIP_SCHEMA.get(c, pl.String) for c in _HISTORY_COLUMNS}
    return membership, pl.DataFrame(history, schema=hist_schema, orient="row")


def _factor_table(frame: pl.DataFrame) -> pl.DataFrame:
    """The factor breakdown as a table prints it: each value in its own unit (a USD amount human-scaled, a
    percentile as percent), since one column holds factors and components of every kind."""
    from screener.output.fields import MONEY_UNITS, unit_of

    def text(v: float | None, column: str) -> str | None:
        if v is None:
            return None
        return human_money(v) if unit_of(column) in MONEY_UNITS else f"{v:.3f}".rstrip("0").rstrip(".")

    columns = [f if c == "(value)" else f"{f}.{c}" for f, c in frame.select("factor", "component").iter_rows()]
    return frame.with_columns(
        pl.Series("value", [text(v, c) for v, c in zip(frame["value"], columns, strict=True)], dtype=pl.String),
        pl.Series("filled", [text(v, c) for v, c in zip(frame["filled"], columns, strict=True)], dtype=pl.String),
        (pl.col("percentile") * 100).round(0).cast(pl.Int64).cast(pl.String).add("%").alias("percentile"),
    )


def render_card(card: CompanyCard, fmt: str, dest: IO[str] | None = None, *, wide: bool = False) -> None:
    """Table: one titled table per section (empty sections say so); json: one object with a key per section.

    A table fits the terminal: long text is cut and the fundamentals show the newest periods that fit; ``wide``
    prints every period and every text whole."""
    import sys

    from screener.output.render import EVERYTHING, View, render
    from screener.output.terminal import terminal_safe

    out = dest or sys.stdout
    if fmt == "json":
        out.write(json.dumps(card.to_json_obj(), ensure_ascii=False, indent=2) + "\n")
        return
    out.write(terminal_safe(f"{card.symbol} as of {card.as_of.isoformat()}{'  [demo data]' if card.demo else ''}\n"))
    for key, frame in card.sections.items():
        title = SECTION_TITLES[key]
        if frame.height == 0:
            out.write(f"\n{title}: none\n")
            continue
        out.write("\n")
        view = EVERYTHING
        if key == "factors":  # one column holds numbers of every kind: each is printed in its own unit
            frame = _factor_table(frame)
            view = View(right=("value", "filled", "percentile"))
        if wide:
            view = View(wide=True, cut=False, right=view.right)
        elif key == "fundamentals":  # the newest periods first, each only while the table still fits
            view = View(compact=tuple(frame.columns[:2]), optional=tuple(frame.columns[2:]))
        elif key == "membership":  # why a company is out is the point: it gets the room the run details would take
            view = View(compact=("rules", "run_id", "member", "rank", "why_out"), optional=("score", "as_of"))
        render(frame, "table", out, title=title, view=view)
    funding = card.factors.get("funding")
    if funding:
        out.write(f"\n{terminal_safe(funding['text'])}\n")
    completeness = card.factors.get("data_completeness")
    flags = card.factors.get("flags") or []
    mcap = card.factors.get("market_cap_usd")
    out.write(
        f"\nmarket_cap_usd: {'' if mcap is None else human_money(mcap)}   "
        f"data_completeness: {'' if completeness is None else f'{completeness:.2f}'}   "
        f"flags: {';'.join(flags) if flags else 'none'}\n"
    )
