"""``screener watchlist``: read stored weekly runs back, compare two of them, list them."""

from __future__ import annotations

import click

from screener.cli.options import (
    DEMO_BANNER,
    format_option,
    note,
    run_option,
    run_rules_option,
    store_from,
    view_from,
    view_options,
    wait_option,
)
from screener.output.render import View, render

#: Every column, its text cut to fit the width in a terminal and in a pipe or file alike (``COLUMNS``, else the
#: pipe width): a diff or a run list read through ``less`` or mailed from a job keeps the lines a terminal would.
FITTED = View(wide=True, fit=True)
#: The run list in a table: which run, of which rules, as of when and how many members always; the week, the demo
#: flag, the data freshness, the creation time and the rules' hash while they fit (csv and json carry them all).
RUNS_VIEW = View(
    compact=("run_id", "as_of", "rules", "members"),
    optional=("iso_week", "demo", "data_freshness", "created_at", "rules_hash"),
    fit=True,
)


@click.group()
def watchlist() -> None:
    """Show stored watchlist runs, list them, and diff two of them."""


@watchlist.command("show")
@run_option
@run_rules_option
@format_option
@view_options
@wait_option
@click.pass_context
def show(
    ctx: click.Context, run_ref: str, rules_ref: str | None, fmt: str, columns: tuple[str, ...], wide: bool
) -> None:
    """Print the members of a stored run (csv and json carry every column).

    latest is the run of --rules (default: the rules 'default') with the latest as-of date (the newest run id on a
    tie); a run id of another rule set than a given --rules is refused.
    """
    from rules.explain import plural
    from screener.watchlist.runs import show_run

    with store_from(ctx, "never") as store:
        run, rows = show_run(store, run_ref, rules=rules_ref)
    if run.demo:
        note(DEMO_BANNER)
    note(
        f"run {run.run_id}: {run.rules_name}, {run.iso_week}, as of {run.as_of}; {plural(rows.height, 'member')}; "
        f"data: {run.data_freshness}"
    )
    render(rows, fmt, view=view_from(columns, wide))


@watchlist.command("diff")
@click.option(
    "--from",
    "from_ref",
    default=None,
    metavar="RUN",
    help="Earlier run id (default: the previous run of the same rules as --to).",
)
@click.option(
    "--to",
    "to_ref",
    default="latest",
    show_default=True,
    metavar="RUN",
    help="Later run id, or latest (the latest as-of date of the --rules runs).",
)
@run_rules_option
@format_option
@wait_option
@click.pass_context
def diff(ctx: click.Context, from_ref: str | None, to_ref: str, rules_ref: str | None, fmt: str) -> None:
    """Entered, exited and moved names between two runs, each attributed to the weighted factor that moved it.

    --from must be the earlier run. latest is the latest run of --rules (default: the rules 'default'). Comparing
    runs of different rule sets by id works but warns on stderr; with --rules, both runs must be of those rules.
    """
    from rules.explain import plural
    from screener.watchlist.runs import diff_runs

    with store_from(ctx, "never") as store:
        d = diff_runs(store, from_ref, to_ref, rules=rules_ref)
    if d.demo:
        note(DEMO_BANNER)
    to = d.to_run
    if d.from_run is None:
        note(f"run {to.run_id} is the first run of the rules {to.rules_name!r} ({to.iso_week}): no changes to show")
        if fmt != "table":
            render(d.changes, fmt)
        return
    for w in d.warnings:
        note(f"Warning: {w}")
    changes = d.changes
    if fmt == "table" and changes.height == 0:
        note(f"no changes from run {d.from_run.run_id} to run {to.run_id}")
        return
    render(changes.select("change", "symbol", "name", "text") if fmt == "table" else changes, fmt, view=FITTED)
    note(
        f"{plural(changes.height, 'change')} from run {d.from_run.run_id} ({d.from_run.as_of}) to run {to.run_id} "
        f"({to.as_of})"
    )


@watchlist.command("runs")
@format_option
@wait_option
@click.pass_context
def runs(ctx: click.Context, fmt: str) -> None:
    """List stored runs, newest first."""
    from rules.explain import plural
    from screener.watchlist.runs import list_runs

    with store_from(ctx, "never") as store:
        df = list_runs(store)
    render(df, fmt, view=RUNS_VIEW)
    note(plural(df.height, "run"))
