"""The report page: the sections of ``ReportData``, rendered to SVG charts and laid out by a Jinja2 template.

Why one self-contained file: a report is mailed, archived and opened on machines without network access, so the page
carries everything it shows. Charts are inline SVG (no script, no font or stylesheet to fetch), styles are inline
and name system fonts, and the print rules give an A4/Letter landscape page where no chart is cut in two.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from screener.errors import ScreenerError
from screener.output.render import atomic_path

if TYPE_CHECKING:
    from screener.report.data import ReportData
    from screener.store import Store

DEMO_TEXT = "DEMO DATA: synthetic numbers from the seeded generator, not market data."
#: Members per chart in the ranked list and the rank history: a longer list is drawn as several charts, so none is
#: taller than a printed page.
PER_CHART = 20
#: The file names a report may be written to: anything else is refused (see ``check_report_target``).
REPORT_SUFFIXES = (".html", ".htm")

#: A progress callback: ``(label, done, total)``, as every long library call reports (the CLI draws it as a bar).
Progress = Callable[[str, int, int], None]


@dataclass
class Section:
    """One block of the page: a heading, an optional chart (SVG text), notes and an optional table."""

    key: str
    title: str
    #: The section's charts as SVG text: usually one; a long list is drawn in parts of ``PER_CHART`` members.
    svgs: list[str] = field(default_factory=list)
    notes: tuple[str, ...] = ()
    table: list[dict[str, Any]] | None = None
    columns: tuple[str, ...] = ()
    empty: str | None = None
    #: What the reader must see before the chart (a backtest of other rules, or past the run's date).
    warnings: tuple[str, ...] = ()


def _num(v: float | None, digits: int = 3) -> str:
    return "missing" if v is None else f"{v:.{digits}f}"


def _weight(v: float | None) -> str:
    return "missing" if v is None else f"{v:.1%}"


def _ranks(a: int | None, b: int | None) -> str:
    return f"{'—' if a is None else a} → {'—' if b is None else b}"


def sections(data: ReportData, progress: Progress | None = None) -> list[Section]:
    """Every section of the page with its chart rendered; a section with nothing to draw says why instead.

    Why the charts are drawn after every section is laid out: drawing (SVG conversion) is the slow part, and only
    then is the number of charts known, so ``progress`` hears ``(chart, done, total)`` before each one is drawn."""
    from factors.inputs import ROLE_CLASSES
    from screener.contract import CAPACITY_STAGES, REGION_NAMES
    from screener.report import charts
    from screener.report.data import fill_flags

    pending: list[tuple[str, Any]] = []

    def svg(name: str, chart: Any) -> list[str]:
        """A placeholder for ``chart``, drawn once every section is laid out."""
        pending.append((name, chart))
        return [f"\0chart{len(pending) - 1}\0"]

    def parts(symbols: list[str]) -> list[list[str]]:
        return [symbols[i : i + PER_CHART] for i in range(0, len(symbols), PER_CHART)]

    run = data.run
    out: list[Section] = []
    members = data.members
    out.append(
        Section(
            "ranked",
            f"Ranked list: {members.height} members",
            svgs=[
                chart
                for part in parts(members["symbol"].to_list())
                if data.contributions.filter(pl.col("symbol").is_in(part) & pl.col("contrib").is_not_null()).height
                for chart in svg(
                    "contributions",
                    charts.contributions_chart(
                        data.contributions.filter(pl.col("symbol").is_in(part)), run.weighted, _longest(data)
                    ),
                )
            ],
            table=[
                {
                    "rank": r["rank"],
                    "symbol": r["symbol"],
                    "name": r["name"],
                    "role class": r.get("role_class") or "missing",
                    "score": _num(r["score"]),
                    "weight": _weight(r["weight"]),
                    "reason": r["reason"] or "",
                    "filled inputs": "; ".join(fill_flags(r.get("flags"))),
                }
                for r in members.iter_rows(named=True)
            ],
            # the column is there when a member has a filled input: it would otherwise be empty width
            columns=("rank", "symbol", "name", "role class", "score", "weight", "reason")
            + (
                ("filled inputs",)
                if any(fill_flags(f) for f in members.get_column("flags", default=pl.Series([])).to_list())
                else ()
            ),
            notes=(
                "A pale, dash-outlined part rests on an input the factor's missing-value policy filled (imputed: "
                "role-class peers' median; neutral: cross-section median; worst: worst observed value); the "
                "'filled inputs' column names them.",
            )
            if data.contributions["filled"].is_not_null().any()
            else (),
            empty=None if members.height else "The run has no members.",
        )
    )
    changes = data.changes
    if data.previous_run_id is None:
        empty = "First run of these rules: no earlier run to compare with."
    elif changes.height == 0:
        empty = f"No changes since run {data.previous_run_id}."
    else:
        empty = None
    drawable = changes.filter(pl.col("contrib_from").is_not_null() & pl.col("contrib_to").is_not_null())
    out.append(
        Section(
            "changes",
            "Week-over-week changes"
            + (f" since run {data.previous_run_id}" if data.previous_run_id is not None else ""),
            svgs=svg("changes", charts.changes_chart(changes)) if drawable.height else [],
            notes=("A change whose score no weighted factor moved (its peers did) is in the table only.",)
            if drawable.height < changes.height
            else (),
            table=[
                {
                    "change": r["change"],
                    "symbol": r["symbol"],
                    "rank": _ranks(r["rank_from"], r["rank_to"]),
                    "reason": r["text"] or "",
                }
                for r in changes.iter_rows(named=True)
            ],
            columns=("change", "symbol", "rank", "reason"),
            empty=empty,
        )
    )
    hist = data.history
    runs = data.history_runs.height
    out.append(
        Section(
            "history",
            f"Rank history over the last {runs} runs of {run.rules_name}"
            if runs > 1
            else f"Rank history: the only stored run of {run.rules_name}",
            svgs=[
                chart
                for part in parts(members["symbol"].to_list())
                if hist.filter(pl.col("symbol").is_in(part) & pl.col("rank").is_not_null()).height
                for chart in svg(
                    "rank history",
                    charts.rank_history_chart(hist.filter(pl.col("symbol").is_in(part)), part, top=_top(hist)),
                )
            ],
            notes=("A gap means the company was not a member of that run.",)
            if runs > 1
            else ("Only one run of these rules is stored: each member shows one point.",),
            empty=None if hist.height else "No members to follow.",
        )
    )
    out.append(
        Section(
            "roles",
            "Score distribution by role class",
            svgs=svg("score by role", charts.score_by_role_chart(data.scores, ROLE_CLASSES))
            if data.scores.height
            else [],
            notes=(f"{data.scores.height} companies passed the filters and gates and were scored.",),
            empty=None if data.scores.height else "No company was scored.",
        )
    )
    cap_notes = []
    if data.capacity_unstated:
        cap_notes.append(
            f"{data.capacity_unstated} project{'s' if data.capacity_unstated != 1 else ''} with no stated tonnage "
            "not summed (missing, not zero)."
        )
    out.append(
        Section(
            "capacity",
            "Capacity pipeline by stage and region",
            svgs=svg("capacity", charts.capacity_chart(data.capacity, CAPACITY_STAGES, REGION_NAMES))
            if data.capacity.height
            else [],
            notes=(
                "Each project counts once, at the company's stake, in NdPr-oxide-equivalent tonnes a year; risked "
                "capacity applies the ledger's stage, timing, status and confidence discounts.",
                *cap_notes,
            ),
            empty=None if data.capacity.height else "No capacity project is known on the run's date.",
        )
    )
    missing = data.dilution_missing
    out.append(
        Section(
            "dilution",
            "Dilution map",
            svgs=svg("dilution", charts.dilution_chart(data.dilution)) if data.dilution.height else [],
            notes=(f"Not plotted, data missing: {missing.height} compan{'ies' if missing.height != 1 else 'y'}.",)
            if missing.height
            else (),
            table=[
                {
                    "symbol": r["symbol"],
                    "name": r["name"],
                    "member": "yes" if r["member"] else "no",
                    "missing": r["missing"],
                }
                for r in missing.iter_rows(named=True)
            ]
            or None,
            columns=("symbol", "name", "member", "missing"),
            empty=None if data.dilution.height else "No company has both a cash runway and a share growth.",
        )
    )
    if data.backtest is not None:
        bt = data.backtest
        p = bt.params
        label = f"Backtest {bt.backtest_id}: {p.rules}, {p.start} to {p.end}, every {p.every}"
        out.append(
            Section(
                "equity",
                label,
                svgs=svg("equity curve", charts.equity_chart(data.curve, p.benchmark)) if data.curve.height else [],
                warnings=tuple(f"Warning: {w}." for w in data.warnings),
                notes=() if p.benchmark else ("No benchmark was given to this backtest.",),
                empty=None if data.curve.height else "The backtest stored no equity curve.",
            )
        )
        out.append(
            Section(
                "ic",
                "Information coefficient by factor and horizon",
                svgs=svg("IC", charts.ic_chart(data.ic, p.horizons)) if data.ic.height else [],
                empty=None if data.ic.height else "The backtest stored no IC.",
            )
        )
    drawn: list[str] = []
    for i, (name, chart) in enumerate(pending):
        if progress:
            progress(name, i, len(pending))
        drawn.append(charts.to_svg(chart))
    for s in out:
        s.svgs = [drawn[int(v.strip("\0").removeprefix("chart"))] for v in s.svgs]
    return out


def render_page(data: ReportData, progress: Progress | None = None) -> str:
    """The report as one HTML document (text); ``progress`` hears each chart as ``sections`` draws it."""
    from jinja2 import Environment, PackageLoader, select_autoescape
    from markupsafe import Markup

    env = Environment(
        loader=PackageLoader("screener.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    run = data.run
    parts = sections(data, progress)
    for s in parts:
        s.svgs = [Markup(_local_ids(_strip_xml_prolog(v), f"{s.key}{i}")) for i, v in enumerate(s.svgs)]
    return env.get_template("report.html.j2").render(
        run=run,
        demo=data.demo,
        demo_text=DEMO_TEXT,
        sections=parts,
        description=run.meta.get("rules_description") or "",
    )


def _longest(data: ReportData) -> float | None:
    """The longest bar of the ranked list (the sum of a member's positive contributions): one scale for every part."""
    sums = data.contributions.filter(pl.col("contrib") > 0).group_by("symbol").agg(pl.col("contrib").sum())
    return float(sums["contrib"].max()) if sums.height else None  # type: ignore[arg-type]


def _top(history: pl.DataFrame) -> int:
    """The lowest rank any member held in the history: every part of a split chart shares this scale."""
    return max(1, int(history["rank"].max() or 1))


def _strip_xml_prolog(svg: str) -> str:
    """An SVG document inlined in HTML keeps its ``<svg>`` element only (an XML declaration is not HTML)."""
    start = svg.find("<svg")
    return svg[start:] if start > 0 else svg


_ID = re.compile(r'\bid="([^"]+)"')


def _local_ids(svg: str, prefix: str) -> str:
    """The SVG with its element ids (gradients, clip paths) renamed ``<prefix>-<n>`` in order of appearance.

    Why: the renderer numbers them from a counter that lives as long as the process, so the same chart would get
    other ids in a second report (the file would differ for the same run), and two inlined charts must not share
    one. Only the ids and the local references to them (``url(#id)``, ``href="#id"``) change.
    """
    names = {old: f"{prefix}-{i}" for i, old in enumerate(dict.fromkeys(_ID.findall(svg)))}
    if not names:
        return svg
    pattern = re.compile(r'(\bid="|url\(#|href="#)(' + "|".join(re.escape(n) for n in names) + r')(?=[")])')
    return pattern.sub(lambda m: m.group(1) + names[m.group(2)], svg)


def check_report_target(path: str | os.PathLike[str], store: str | os.PathLike[str] | None = None) -> Path:
    """Refuse a report path before any work: a ``.html``/``.htm`` name, in a folder that exists and can be written,
    and not the store file (``store``) or its log.

    Why the suffix: a report written to a name like the store's (``--out screener.duckdb``) would replace the
    store with a web page; asking for an HTML name catches that typo and the checks that follow catch a link to it.
    """
    from screener.output.render import check_writable

    target = Path(path)
    if target.is_dir():
        raise ScreenerError(f"cannot write {target}: it is a folder; give a .html file name")
    if target.suffix.lower() not in REPORT_SUFFIXES:
        raise ScreenerError(f"cannot write the report to {target.name}: use a .html or .htm file name")
    return check_writable(target, store=store)


def write_report(
    store: Store,
    path: str | os.PathLike[str],
    *,
    ref: str | int | None = None,
    rules: str | None = None,
    backtest: str | int | None = None,
    progress: Progress | None = None,
) -> tuple[Path, ReportData]:
    """Assemble, render and write the report to ``path`` atomically (a failure leaves the old file as it was).

    ``progress`` hears ``(label, done, total)``: reading the run, each chart drawn, writing the file, then
    ``("", total, total)``. The total is known once the run is read (it depends on the members and the backtest),
    so the first report counts one step; the library prints nothing."""
    from screener.report.data import assemble

    def step(label: str, done: int, total: int) -> None:
        if progress:
            progress(label, done, total)

    check_report_target(path, store.path)
    step("reading the run", 0, 1)
    data = assemble(store, ref, rules, backtest)
    charts = 0

    def drawing(name: str, done: int, total: int) -> None:
        nonlocal charts
        charts = total
        step(f"drawing {name}", done + 1, total + 2)

    html = render_page(data, drawing)
    step("writing", charts + 1, charts + 2)
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    step("", charts + 2, charts + 2)
    return Path(path), data
