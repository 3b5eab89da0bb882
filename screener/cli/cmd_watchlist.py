"""``screener watchlist``: read stored weekly runs back, compare two of them, list them."""

from __future__ import annotations

import click

from screener.cli.options import format_option, note, store_from
from screener.render import render


@click.group()
def watchlist() -> None:
    """Show stored watchlist runs, list them, and diff two of them."""


@watchlist.command("show")
@click.option("--run", "run_ref", default="latest", show_default=True, metavar="ID|latest", help="Run to show.")
@format_option
@click.pass_context
def show(ctx: click.Context, run_ref: str, fmt: str) -> None:
    """Print the members of a stored run (csv and json carry every column)."""
    from screener.watchlist import show_run, table_view

    with store_from(ctx) as store:
        run, rows = show_run(store, run_ref)
    if run.demo:
        from screener.cli.options import DEMO_BANNER

        note(DEMO_BANNER)
    note(f"run {run.run_id}: {run.rules_name}, {run.iso_week}, as of {run.as_of}; {rows.height} members; "
         f"data: {run.data_freshness}")
    render(table_view(rows) if fmt == "table" else rows, fmt)


@watchlist.command("diff")
@click.option("--from", "from_ref", default=None, metavar="RUN", help="Earlier run id (default: the run before --to).")
@click.option("--to", "to_ref", default="latest", show_default=True, metavar="RUN", help="Later run id or latest.")
@format_option
@click.pass_context
def diff(ctx: click.Context, from_ref: str | None, to_ref: str, fmt: str) -> None:
    """Entered, exited and moved names between two runs, each attributed to the factor that moved most."""
    from screener.watchlist import diff_runs

    with store_from(ctx) as store:
        changes = diff_runs(store, from_ref, to_ref)
    render(changes.select("change", "symbol", "name", "text") if fmt == "table" else changes, fmt)
    note(f"{changes.height} changes")


@watchlist.command("runs")
@format_option
@click.pass_context
def runs(ctx: click.Context, fmt: str) -> None:
    """List stored runs, newest first."""
    from screener.watchlist import list_runs

    with store_from(ctx) as store:
        df = list_runs(store)
    render(df, fmt)
    note(f"{df.height} runs")
