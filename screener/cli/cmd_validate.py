from __future__ import annotations

import click

from screener.cli.options import format_option, note, store_from


@click.command()
@click.option("--failures", "show_failures", is_flag=True, default=False,
              help="List every failing stored value (kind, key, column, expectation, value) instead of the summary.")
@click.option("--rejected", "show_rejected", is_flag=True, default=False,
              help="List the rows that import --quarantine and refresh kept out of the store, with their reasons.")
@format_option
@click.pass_context
def validate(ctx: click.Context, show_failures: bool, show_rejected: bool, fmt: str) -> None:
    """Re-run the validation suites over everything stored and report, per kind and expectation, how many rows
    were checked, how many failed and which keys. Exits 1 when anything stored fails."""
    import polars as pl

    from screener.errors import CompletedWithProblems, ScreenerError
    from screener.render import render

    if show_failures and show_rejected:
        raise ScreenerError("--failures and --rejected list different things; give one of them")
    with store_from(ctx) as store:
        if show_rejected:
            render(store.query(
                "SELECT rejected_at, provider, source, kind, key, column_name, expectation, value FROM rejected_rows "
                "ORDER BY id"), fmt)
            return
        from screener.validation import validate_store

        result = validate_store(store)
        # one rejected row can fail several expectations: count rows (source and key), not failing values
        held = int(store.scalar("SELECT count(DISTINCT (source, kind, key)) FROM rejected_rows") or 0)
    if show_failures:
        render(result.failures.select("kind", "key", "column_name", "expectation", "value"), fmt)
    else:
        render(result.summary, fmt)
    if held:
        note(f"{held} row(s) were kept out of the store by earlier imports or refreshes; list them with --rejected")
    if result.failed:
        kinds = sorted(set(result.failures["kind"].to_list()))
        raise CompletedWithProblems(f"{result.failed} stored value(s) failed validation ({', '.join(kinds)})")
    per_kind = result.summary.group_by("kind").agg(pl.col("checked").max())
    note(f"all {result.summary.height} expectations pass over {int(per_kind['checked'].sum())} stored rows")
