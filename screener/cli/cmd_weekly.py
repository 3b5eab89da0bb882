"""``screener weekly``: the weekly job. Score, rank, store the run, print the list and what changed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from screener.cli.options import (
    DEMO_BANNER,
    as_of_option,
    export_option,
    format_option,
    note,
    report_out_option,
    rules_option,
    store_from,
    store_path_of,
    view_from,
    view_options,
    wait_option,
)
from screener.output.render import EVERYTHING, View, render

if TYPE_CHECKING:
    from datetime import date

    import polars as pl

    from screener.watchlist.runs import WeeklyResult


@click.command()
@rules_option(default="default")
@as_of_option
@export_option(default=None)
@report_out_option("--report", default=None)
@format_option
@view_options
@wait_option
@click.pass_context
def weekly(
    ctx: click.Context,
    rules_ref: str,
    as_of: date | None,
    export_path: str | None,
    report_path: str | None,
    fmt: str,
    columns: tuple[str, ...],
    wide: bool,
) -> None:
    """Rank with a rule set and store the run; rerunning in the same ISO week replaces that week's run.

    Prints the watchlist and the changes since the previous run of the same rules (with csv or json, stdout
    holds the rows and the changes go to stderr).
    """
    from screener.output.export import check_target, export_run
    from screener.watchlist.runs import run_weekly

    view = view_from(columns, wide)
    if export_path:
        check_target(export_path, store_path_of(ctx))  # before anything is scored or stored
    if report_path:
        from screener.report.page import check_report_target

        check_report_target(report_path, store_path_of(ctx))
    check = None
    if fmt == "table" and view.columns:
        from screener.output.render import check_columns

        def check(rows: pl.DataFrame) -> None:
            check_columns(rows, view.columns)

    # scoring and ranking read; the lock is taken only to store the score set and the run (each one transaction)
    with store_from(ctx, "brief") as store:
        res = run_weekly(store, rules_ref, as_of, check_rows=check)
        print_weekly(res, fmt, view)
        if export_path:
            out = export_run(store, export_path, res.run_id, note)
            note(f"wrote {out}")
        if report_path:
            from screener.cli.progress import ProgressBar, stderr_is_terminal
            from screener.report.page import write_report

            with ProgressBar(stderr_is_terminal(), "report") as bar:
                out, _ = write_report(store, report_path, ref=res.run_id, progress=bar)
            note(f"wrote {out}")


def print_weekly(res: WeeklyResult, fmt: str, view: View | None = None) -> None:
    """The weekly list and its changes: shared by ``weekly`` and ``demo`` so both read the same.

    The table shows ``view``'s columns (default: the compact set that fits the terminal)."""
    from rules.explain import plural

    if res.demo:
        note(DEMO_BANNER)
    verb = "replaced this week's run" if res.replaced else "stored"
    note(
        f"run {res.run_id}: {res.rules_name}, {res.iso_week}, as of {res.as_of} ({verb}); "
        f"{plural(res.rows.height, 'member')}; data: {res.data_freshness}"
    )
    if res.weight_note:
        note(f"weights: {res.weight_note}")
    if fmt == "table":
        render(res.rows, fmt, title=f"Watchlist {res.rules_name} {res.iso_week}", view=view or View(fit=True))
        if res.previous_run_id is None:
            note("first run of these rules: no changes to show")
        elif res.changes.height == 0:
            note(f"no changes since run {res.previous_run_id}")
        else:
            render(
                res.changes.select("change", "symbol", "name", "text"),
                fmt,
                title=f"Changes since run {res.previous_run_id}",
                view=EVERYTHING,
            )
    else:
        render(res.rows, fmt, view=view or View(fit=True))
        for sym, line in res.changes.select("symbol", "text").iter_rows():
            note(f"{sym} {line}")
