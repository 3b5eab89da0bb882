from __future__ import annotations

import click

from screener.cli.options import format_option, note, store_from, wait_option
from screener.contract import KIND_NAMES


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--kind",
    type=click.Choice(KIND_NAMES),
    default=None,
    help="File kind; default: taken from each file name (companies.csv, prices.parquet, ...).",
)
@click.option(
    "--quarantine",
    is_flag=True,
    default=False,
    help="Store rows that pass validation and record failing rows, instead of all-or-nothing.",
)
@format_option
@wait_option
@click.pass_context
def import_(ctx: click.Context, paths: tuple[str, ...], kind: str | None, quarantine: bool, fmt: str) -> None:
    """Import CSV, Parquet or XLSX files (or folders of them) in the data contract, as one transaction.

    Every file goes through the validation suites first; a splits file in the same import explains the price and
    share-count jumps of its splits. Your imports (provider 'file') rank above Yahoo: a later refresh does not
    overwrite them unless asked to."""
    import polars as pl

    from screener.errors import ScreenerError
    from screener.intake.imports import ImportRefused, import_paths
    from screener.output.render import render

    # The write lock is taken for the one transaction that stores the import, once its first file is read and
    # validated (the seconds of loading the validation library included): readers get in until then.
    with store_from(ctx, "brief") as store:
        try:
            summary = import_paths(store, paths, kind=kind, quarantine=quarantine, note=note)
        except ImportRefused as exc:
            lines = exc.failures
            for line in lines[1:20]:
                note(f"  {line}")
            if len(lines) > 20:
                note(f"  … and {len(lines) - 20} more")
            raise ScreenerError(
                f"{lines[0]}; nothing was imported ({len(lines)} failing value(s); "
                "use --quarantine to store the passing rows)"
            ) from None
    table = summary.table()
    render(table, fmt)
    per_kind = table.group_by("kind").agg(pl.col("stored").sum()).sort("kind")
    note("stored: " + ", ".join(f"{n} {k}" for k, n in per_kind.iter_rows()))
    summary.raise_if_problems()
