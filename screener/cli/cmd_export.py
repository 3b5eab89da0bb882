"""``screener export``: write a stored run to a file."""

from __future__ import annotations

import click

from screener.cli.options import note, store_from


@click.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--run", "run_ref", default="latest", show_default=True, metavar="ID|latest", help="Run to export.")
@click.pass_context
def export(ctx: click.Context, path: str, run_ref: str) -> None:
    """Write a run to PATH: .xlsx (Watchlist, Changes, Factors, Universe, Methodology) or .csv/.parquet/.json rows."""
    from screener.export import export_run

    with store_from(ctx) as store:
        out = export_run(store, path, run_ref)
    note(f"wrote {out}")
