"""``screener report``: the visual weekly report of a stored run, as one self-contained HTML file."""

from __future__ import annotations

import click

from screener.cli.options import (
    DEMO_BANNER,
    note,
    report_backtest_option,
    report_out_option,
    rules_option,
    run_option,
    store_from,
    store_path_of,
    wait_option,
)

DEFAULT_OUT = "screener-report.html"


@click.command()
@run_option
@rules_option(default=None, without="With --run latest: whose latest run (default: default).")
@report_backtest_option
@report_out_option("--out", default=DEFAULT_OUT)
@wait_option
@click.pass_context
def report(ctx: click.Context, run_ref: str, rules_ref: str | None, backtest_ref: str | None, report_path: str) -> None:
    """Write the visual report of a run: ranked list with factor contributions, changes, rank history, score by
    role class, capacity pipeline, dilution map, and a backtest's equity curve and IC when --backtest is given.

    One HTML file with inline SVG charts: it opens offline and prints to A4 or Letter landscape.
    """
    from screener.cli.progress import ProgressBar, stderr_is_terminal
    from screener.report.page import check_report_target, write_report

    check_report_target(report_path, store_path_of(ctx))  # before anything is read or rendered
    with store_from(ctx, "if_free") as store, ProgressBar(stderr_is_terminal(), "report") as bar:
        out, data = write_report(store, report_path, ref=run_ref, rules=rules_ref, backtest=backtest_ref, progress=bar)
    if data.demo:
        note(DEMO_BANNER)
    for warning in data.warnings:
        note(f"warning: {warning}")
    run = data.run
    note(f"wrote {out} (run {run.run_id}: {run.rules_name}, {run.iso_week}, as of {run.as_of})")
