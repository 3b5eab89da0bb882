"""Weekly watchlist runs: score, rank with a rule set, attribute the changes, store the run.

Why runs are stored whole: the list an analyst sent on Monday must be reproducible on Friday even if the data or
the rule file changed since. A run keeps every company's ranked row (members and the rest, with why they are out),
its changes, the rule file's text and hash, the data freshness and the provider mix, in Parquet blobs that keep
every dtype. Runs are keyed by rule set and ISO week: rerunning in the same week replaces that week's run (keeping
its id), so a weekly job can be retried without piling up near-duplicates.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from screener.errors import NO_COMPANIES, ArgumentError, Option, ScreenerError
from screener.store import Store, utcnow

if TYPE_CHECKING:
    from factors.methodology import PendingSave
    from rules.ruleset import RuleSet

META_PREFIX = "ree."


@dataclass
class WeeklyResult:
    """What ``run_weekly`` stored: the ranked members, the attributed changes and how to find the run again."""

    run_id: int
    rows: pl.DataFrame
    changes: pl.DataFrame
    demo: bool
    as_of: date
    iso_week: str
    rules_name: str
    rules_hash: str
    data_freshness: str
    previous_run_id: int | None = None
    replaced: bool = False
    #: Why the members' weights differ from what the rule set's ``[portfolio]`` asks (an unmeetable cap), else None.
    weight_note: str | None = None


@dataclass
class Run:
    """A stored run, read back: ``table`` holds every company, ``rows`` the members as watchlist rows."""

    run_id: int
    as_of: date
    iso_week: str
    rules_name: str
    rules_hash: str
    created_at: datetime
    data_freshness: str
    demo: bool
    table: pl.DataFrame
    changes: pl.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def factors(self) -> list[str]:
        return list(self.meta.get("factors", []))

    @property
    def weighted(self) -> list[str]:
        return list(self.meta.get("weighted", []))

    @property
    def rows(self) -> pl.DataFrame:
        from rules.engine import watchlist_rows

        return watchlist_rows(self.table, self.weighted, self.factors)

    @property
    def members(self) -> list[str]:
        return self.table.filter(pl.col("status") == "member")["symbol"].to_list()


def iso_week(d: date) -> str:
    year, week, _ = d.isocalendar()
    return f"{year}-W{week:02d}"


# -- Parquet blobs with metadata ------------------------------------------------------------------------------
def _to_blob(frame: pl.DataFrame, meta: dict[str, Any] | None = None) -> bytes:
    buf = io.BytesIO()
    md = {META_PREFIX + k: json.dumps(v, ensure_ascii=False, default=str) for k, v in (meta or {}).items()}
    frame.write_parquet(buf, metadata=md or None)
    return buf.getvalue()


def _from_blob(blob: bytes | None) -> tuple[pl.DataFrame | None, dict[str, Any]]:
    if blob is None:
        return None, {}
    raw = bytes(blob)
    md = pl.read_parquet_metadata(raw)
    meta = {k.removeprefix(META_PREFIX): json.loads(v) for k, v in md.items() if k.startswith(META_PREFIX)}
    return pl.read_parquet(io.BytesIO(raw)), meta


# -- provenance ---------------------------------------------------------------------------------------------------
def data_freshness(store: Store, as_of: date, scores_computed_at: datetime | None = None) -> str:
    """The newest date of each kind of data that the run could see (nothing after ``as_of`` counts).

    A statement counts from its period end plus the factor library's reporting lag, exactly as scoring treats it:
    a quarter that ended a month before the as-of date was not public yet, so it is not "fresh" data of this run.
    ``scores_computed_at`` is when the run's scores were computed, for a set not stored yet (it is stored with
    the run); otherwise the stored set's time is read.
    """
    from factors.inputs import public_statements_sql

    parts = [
        f"{table} {newest.isoformat() if newest else 'none'}"
        for table, newest in store.newest_dates(as_of, public_statements_sql(as_of)).items()
    ]
    computed = scores_computed_at
    if computed is None:
        info = store.score_set_info(as_of)
        computed = info["computed_at"] if info else None
    if computed is not None:
        parts.append(f"scores computed {computed:%Y-%m-%d %H:%M} UTC")
    return "; ".join(parts)


def provider_mix(store: Store) -> dict[str, dict[str, int]]:
    """Rows per provider per table: the export's Methodology sheet shows where the numbers came from."""
    return store.provider_counts()


# -- runs -----------------------------------------------------------------------------------------------------
def eligible_texts(changes: pl.DataFrame) -> pl.DataFrame:
    """A run's changes with the eligible percentile named ``F_pct_eligible`` in the texts written before it had
    that name ("moved: dilution_risk_pct 0.25 → 0.33 ..."), so the text names the column a reader finds it in.

    Why only the texts (these and the reasons, ``eligible_reasons``): a run stores its whole ranked table, which
    has always carried both percentiles (``F_pct`` across every scored company, ``F_pct_eligible`` over the eligible
    set), and its member rows are rebuilt from it on load, so an old run's rows come back with the new names. Its
    texts were stored as written.

    Only the blamed-factor text is rewritten: it starts with the change, then the factor's percentile. A text
    about a filter or a gate ("failed gate tradeable (liquidity_pct 0.12 < 0.15)") reads the factor library's
    percentile, which keeps the name ``F_pct``.
    """
    if changes.height == 0 or not {"change", "factor", "text"} <= set(changes.columns):
        return changes
    old = pl.col("change") + ": " + pl.col("factor") + "_pct "
    new = pl.col("change") + ": " + pl.col("factor") + "_pct_eligible "
    stale = pl.col("factor").is_not_null() & pl.col("text").str.starts_with(old)
    return changes.with_columns(
        pl.when(stale).then(new + pl.col("text").str.slice(old.str.len_chars())).otherwise(pl.col("text")).alias("text")
    )


def eligible_reasons(table: pl.DataFrame) -> pl.DataFrame:
    """A run's table with its members' reasons citing the eligible percentile as "eligible pct", as they are written
    now; a run stored before says "(pct 0.12)" for the same number (``F_pct_eligible``)."""
    if "reason" not in table.columns or table.schema["reason"] != pl.String:
        return table
    return table.with_columns(pl.col("reason").str.replace_all(" (pct ", " (eligible pct ", literal=True))


def _run_from_row(row: tuple[Any, ...]) -> Run:
    table, meta = _from_blob(row[8])
    changes, _ = _from_blob(row[9])
    from screener.watchlist.attribution import empty_changes

    return Run(
        run_id=int(row[0]),
        as_of=row[1],
        iso_week=row[2],
        rules_name=row[3],
        rules_hash=row[4],
        created_at=row[5],
        data_freshness=row[6] or "",
        demo=bool(row[7]),
        table=eligible_reasons(table) if table is not None else pl.DataFrame(),
        changes=eligible_texts(changes) if changes is not None else empty_changes(),
        meta=meta,
    )


#: The rule set whose runs "latest" means when no rule set is named: the one ``weekly`` ranks with by default.
DEFAULT_RULES = "default"


def rules_name_of(store: Store, rules: str | Path | None) -> str:
    """The name runs of ``rules`` are stored under: a stored name as it is, else the name a rule file declares.

    Why stored names first: a rule file may be gone or renamed while its runs stay; those runs must stay reachable.
    A bundled name or a path to a ``.toml`` file is read for the ``name`` it declares (what ``weekly`` stores).
    """
    if rules is None:
        return DEFAULT_RULES
    text = str(rules).strip()
    stored = set(store.run_list()["rules"].to_list())
    if text in stored:
        return text
    from rules.ruleset import load

    return load(text).name


def resolve_run_id(
    store: Store, ref: str | int | None, *, rules: str | Path | None = None, parameter: str = "ref"
) -> int:
    """``None``/``latest`` -> the latest run of ``rules`` (the default rule set when None); else a run id that exists.

    "Latest" is the run with the latest as-of date, newest run id on a tie. Why not the most recently written: a
    back-dated rerun (``weekly --as-of`` last month) must not become "the latest list" that ``show``, ``diff`` and
    ``export`` pick by default. Why of one rule set: a ``weekly`` run with other rules must not silently become
    what a plain ``show`` or ``export`` reads. An explicit run id is taken as it is, unless ``rules`` is given and
    the run was ranked with another rule set: that contradiction is refused rather than resolved either way.
    ``parameter`` names the caller's argument in an error (``ref``, ``from_ref``, ``to_ref``); the CLI words each
    as its flag.
    """
    if ref is None or str(ref).strip().lower() == "latest":
        if store.latest_run_id() is None:
            raise ScreenerError("no watchlist runs yet: run 'screener weekly' (or 'screener demo') first")
        name = rules_name_of(store, rules)
        latest = store.latest_run_id(name)
        if latest is not None:
            return latest
        others = sorted(set(store.run_list()["rules"].to_list()))
        raise ArgumentError(
            f"no runs of the rules {name!r} yet (stored runs use {', '.join(map(repr, others))}): pass ",
            Option("rules"),
            f" NAME, or run 'screener weekly' with the rules {name!r}",
        )
    try:
        rid = int(str(ref).strip())
    except ValueError:
        raise ArgumentError(
            Option(parameter), f" must be a run id or 'latest', got {ref!r}; see 'screener watchlist runs'"
        ) from None
    if not store.run_exists(rid):
        raise ScreenerError(f"no watchlist run {rid}; see 'screener watchlist runs'")
    if rules is not None:
        name = rules_name_of(store, rules)
        row = store.run_row(rid)
        assert row is not None  # run_exists said so
        if row[3] != name:
            raise ArgumentError(
                Option(parameter), f" {rid} is a run of the rules {row[3]!r}, not of ", Option("rules"), f" {name!r}"
            )
    return rid


def load_run(
    store: Store, ref: str | int | None = None, *, rules: str | Path | None = None, parameter: str = "ref"
) -> Run:
    """The stored run ``ref`` names (an id, ``latest`` or None) among the runs of ``rules`` (see ``resolve_run_id``);
    ``parameter`` names ``ref`` in an error."""
    rid = resolve_run_id(store, ref, rules=rules, parameter=parameter)
    row = store.run_row(rid)
    assert row is not None  # resolve_run_id checked that it exists
    return _run_from_row(row)


def previous_run(store: Store, rules_name: str, week: str) -> Run | None:
    """The latest run of the same rule set in an earlier ISO week: its members are the incumbents."""
    row = store.previous_run_row(rules_name, week)
    return _run_from_row(row) if row is not None else None


def list_runs(store: Store) -> pl.DataFrame:
    schema = {
        "run_id": pl.Int64,
        "as_of": pl.Date,
        "iso_week": pl.String,
        "rules": pl.String,
        "rules_hash": pl.String,
        "members": pl.Int64,
        "created_at": pl.Datetime("us"),
        "demo": pl.Boolean,
        "data_freshness": pl.String,
    }
    df = store.run_list()
    if df.height == 0:
        return pl.DataFrame(schema=schema)
    return df.cast(schema)  # type: ignore[arg-type]


def show_run(
    store: Store, ref: str | int | None = None, *, rules: str | Path | None = None
) -> tuple[Run, pl.DataFrame]:
    run = load_run(store, ref, rules=rules)
    return run, run.rows


@dataclass
class RunDiff:
    """Two runs compared: ``from_run`` is None when ``to_run`` is the first run of its rules (nothing to compare)."""

    to_run: Run
    from_run: Run | None
    changes: pl.DataFrame
    warnings: list[str] = field(default_factory=list)

    @property
    def demo(self) -> bool:
        return self.to_run.demo or bool(self.from_run and self.from_run.demo)


def diff_runs(
    store: Store,
    from_ref: str | int | None = None,
    to_ref: str | int | None = None,
    *,
    rules: str | Path | None = None,
) -> RunDiff:
    """Attributed changes between two runs; by default the latest run of ``rules`` (the default rule set when
    None) against the previous run of the same rules. Given ``rules``, an explicit run id of another rule set is
    refused (see ``resolve_run_id``).

    ``from_ref`` must be the earlier run (by as-of date, then run id): a reversed pair would turn every entry into an
    exit, so it is refused rather than silently swapped. Runs of different rule sets (or of a rule file that changed
    in between) can be compared, with a warning: membership then moved for reasons that are not in the data.
    """
    from screener.watchlist.attribution import attribute, empty_changes, events_between

    to_run = load_run(store, to_ref, rules=rules, parameter="to_ref")
    if from_ref is None:
        from_run = previous_run(store, to_run.rules_name, to_run.iso_week)
        if from_run is None:
            return RunDiff(to_run, None, empty_changes())
    else:
        from_run = load_run(store, from_ref, rules=rules, parameter="from_ref")
    if from_run.run_id == to_run.run_id:
        raise ArgumentError(
            Option("from_ref"), " and ", Option("to_ref"), f" are both run {to_run.run_id}; pick two different runs"
        )
    if (from_run.as_of, from_run.run_id) > (to_run.as_of, to_run.run_id):
        raise ArgumentError(
            Option("from_ref"),
            f" run {from_run.run_id} (as of {from_run.as_of}) is newer than ",
            Option("to_ref"),
            f" run {to_run.run_id} (as of {to_run.as_of}); swap them: ",
            Option("from_ref"),
            f" {to_run.run_id} ",
            Option("to_ref"),
            f" {from_run.run_id}",
        )
    warnings = []
    if from_run.rules_name != to_run.rules_name:
        warnings.append(
            f"run {from_run.run_id} used rules {from_run.rules_name!r} and run {to_run.run_id} used "
            f"{to_run.rules_name!r}: the changes mix two different lists"
        )
    elif from_run.rules_hash != to_run.rules_hash:
        warnings.append(
            f"the rules {to_run.rules_name!r} changed between run {from_run.run_id} and run "
            f"{to_run.run_id} (content hash {from_run.rules_hash} → {to_run.rules_hash}): some changes "
            "come from the rules, not the data"
        )
    weighted = [f for f in to_run.weighted if f in from_run.weighted]
    changes = attribute(from_run.table, to_run.table, weighted, events_between(store, from_run.as_of, to_run.as_of))
    return RunDiff(to_run, from_run, changes, warnings)


# -- the weekly job -----------------------------------------------------------------------------------------------
def run_weekly(
    store: Store,
    rules: str | Path = "default",
    as_of: date | None = None,
    *,
    scores: pl.DataFrame | None = None,
    check_rows: Callable[[pl.DataFrame], None] | None = None,
) -> WeeklyResult:
    """Score (reusing stored scores when inputs are unchanged), rank with ``rules``, attribute changes, store.

    ``scores`` ranks a given score frame instead of the factor engine's (for what-if runs and tests).
    ``check_rows`` sees the member rows before anything is stored and may raise: a caller's check of how it will
    show them (the columns a user asked for) then refuses the run instead of failing after it was stored.
    """
    from rules.ruleset import load

    rs = load(rules)
    day = as_of or date.today()
    if not store.company_count():
        raise ScreenerError(NO_COMPANIES)
    # a freshly computed score set is stored with the run, in its transaction (one write-lock open, not two)
    saves: list[PendingSave] = []
    if scores is None:
        from factors.engine import scores_for

        scores = scores_for(store, day, later=saves)
    try:
        return _rank_and_store(store, rs, day, scores, saves, check_rows)
    except Exception:
        _store_scores_alone(store, saves)
        raise


def _store_scores_alone(store: Store, saves: list[PendingSave]) -> None:
    """A run that is refused (nobody eligible, a caller's check) still stores the score set it computed, as a
    score would: the next screen of that date reuses it. The run's own error is the one reported, so a failure to
    store the set is only noted."""
    if not saves:
        return
    try:
        with store.transaction(inputs=False):
            for save in saves:
                save()
    except Exception as exc:  # reported beside the run's error, never instead of it
        store.notices.append(f"the computed scores were not stored either: {exc}")


def _rank_and_store(
    store: Store,
    rs: RuleSet,
    day: date,
    scores: pl.DataFrame,
    saves: list[PendingSave],
    check_rows: Callable[[pl.DataFrame], None] | None,
) -> WeeklyResult:
    """``run_weekly`` after scoring: rank, attribute, and store the run (with the pending score set) at once."""
    from rules.engine import rank
    from rules.explain import plan
    from screener.watchlist.attribution import attribute, events_between

    if scores.height == 0:
        raise ScreenerError(f"no scores for {day}: nothing to rank")
    week = iso_week(day)
    prev = previous_run(store, rs.name, week)
    ranking = rank(scores, rs, incumbents=prev.members if prev else ())
    members = ranking.table.filter(pl.col("status") == "member").select("rank", "symbol", "score")
    if members.height == 0:
        # An empty list stored as "this week's run" would replace the week's real list and become "latest".
        raise ScreenerError(
            f"no company is eligible for the rules {rs.name!r} as of {day}{_why_empty(ranking.table)}; no run stored"
        )
    factors = list(ranking.factors)
    weighted = list(rs.factors)
    changes = (
        attribute(
            prev.table,
            ranking.table,
            [f for f in weighted if f in prev.weighted],
            events_between(store, prev.as_of, day),
        )
        if prev
        else attribute(None, ranking.table, weighted)
    )
    from factors.engine import rests_on_demo

    demo = rests_on_demo(scores)
    freshness = data_freshness(store, day, saves[-1].computed_at if saves else None)
    meta = {
        "rules_text": rs.text,
        "rules_source": rs.source,
        "rules_description": rs.description,
        "plan": plan(rs),
        "factors": factors,
        "weighted": list(rs.factors),
        "providers": provider_mix(store),
        "previous_run_id": prev.run_id if prev else None,
        "top_n": rs.top_n,
        "stay_within": rs.stay_within,
        "weight_note": ranking.weight_note,
    }
    if check_rows is not None:
        check_rows(ranking.members)
    payload = _to_blob(ranking.table, meta)
    change_blob = _to_blob(changes)
    with store.transaction(inputs=False):
        for save in saves:
            save()
        run_id, replaced = store.save_run(
            as_of=day,
            week=week,
            rules_name=rs.name,
            rules_hash=rs.content_hash,
            created_at=utcnow(),
            data_freshness=freshness,
            demo=demo,
            payload=payload,
            changes=change_blob,
            members=members,
        )
    saves.clear()  # stored with the run: nothing after this point stores the set again
    return WeeklyResult(
        run_id=run_id,
        rows=ranking.members,
        changes=changes,
        demo=demo,
        as_of=day,
        iso_week=week,
        rules_name=rs.name,
        rules_hash=rs.content_hash,
        data_freshness=freshness,
        previous_run_id=prev.run_id if prev else None,
        replaced=replaced,
        weight_note=ranking.weight_note,
    )


def _why_empty(table: pl.DataFrame) -> str:
    """The commonest reason the companies are out (ties on the reason's text), so the one line says what to fix."""
    if table.height == 0 or "why_out" not in table.columns:
        return ""
    top = (
        table.filter(pl.col("why_out").is_not_null())
        .group_by("why_out")
        .len()
        .sort(["len", "why_out"], descending=[True, False])
    )
    if top.height == 0:
        return ""
    why, n = top.row(0)
    from rules.explain import plural

    return f" ({plural(n, 'company', 'companies')} of {table.height}: {why})"
