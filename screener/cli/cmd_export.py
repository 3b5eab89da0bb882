"""``screener export``: write a stored run to a file."""

from __future__ import annotations

import click

from screener.cli.options import DEMO_BANNER, note, run_option, run_rules_option, store_from, store_path_of, wait_option


@click.command()
@click.argument("path", type=click.Path(dir_okay=False))
@run_option
@run_rules_option
@wait_option
@click.pass_context
def export(ctx: click.Context, path: str, run_ref: str, rules_ref: str | None) -> None:
    """Write a run to PATH: an .xlsx workbook (Watchlist, Charts, Changes, ...) or .csv/.parquet/.json rows.

    latest is the run of --rules (default: the rules 'default') with the latest as-of date (the newest run id on a
    tie); a run id of another rule set than a given --rules is refused.
    """
    from screener.output.export import check_target, write_run
    from screener.watchlist.runs import load_run

    check_target(path, store_path_of(ctx))
    with store_from(ctx, "if_free") as store:
        run = load_run(store, run_ref, rules=rules_ref)
    if run.demo:
        note(DEMO_BANNER)
    out = write_run(run, path, note)
    note(f"wrote {out} (run {run.run_id}: {run.rules_name}, as of {run.as_of})")
