from __future__ import annotations

import click

from screener.cli.options import format_option, note, store_from, wait_option


@click.command()
@click.option(
    "--failures",
    "show_failures",
    is_flag=True,
    default=False,
    help="List every failing stored value (kind, key, column, expectation, value) instead of the summary.",
)
@click.option(
    "--rejected",
    "show_rejected",
    is_flag=True,
    default=False,
    help="List the rows that validation still keeps out of the store (import --quarantine, refresh, "
    "demo, init), with their reasons.",
)
@click.option(
    "--include-resolved",
    is_flag=True,
    default=False,
    help="With --rejected: also list rejections a later load resolved by storing the same key.",
)
@format_option
@wait_option
@click.pass_context
def validate(ctx: click.Context, show_failures: bool, show_rejected: bool, include_resolved: bool, fmt: str) -> None:
    """Re-run the validation suites over everything stored and report, per kind and expectation, how many rows
    were checked, how many failed and which keys. Exits 1 when anything stored fails.

    Besides each value's own rules, the suites check across rows: a close or FX rate more than 20x the previous
    one, a share count more than 3x the previous period's (unless a stored split explains it), periods spaced
    unlike their label, an FY more than 10% away from the sum of its quarters, and refresh subjects whose latest
    answer was empty where data was expected."""
    import polars as pl

    from screener.errors import CompletedWithProblems, ScreenerError
    from screener.output.render import render

    if show_failures and show_rejected:
        raise ScreenerError("--failures and --rejected list different things; give one of them")
    if include_resolved and not show_rejected:
        raise ScreenerError("--include-resolved lists resolved rejections: give it with --rejected")
    with store_from(ctx) as store:
        if show_rejected:
            render(store.rejected_rows(include_resolved=include_resolved), fmt)
            return
        from screener.cli.progress import ProgressBar, stderr_is_terminal
        from screener.validation import validate_store

        with ProgressBar(stderr_is_terminal(), "validate") as bar:
            result = validate_store(store, progress=bar)
        # one rejected row can fail several expectations: count rows (source and key), not failing values; a
        # rejection that a later load resolved (it stored the same key) no longer keeps anything out
        held = store.held_row_count()
    if show_failures:
        render(result.failures.select("kind", "key", "column_name", "expectation", "value"), fmt)
    else:
        render(result.summary, fmt)
    if held:
        note(f"{held} row(s) are still kept out of the store by earlier loads; list them with --rejected")
    if result.failed:
        kinds = sorted(set(result.failures["kind"].to_list()))
        raise CompletedWithProblems(f"{result.failed} stored value(s) failed validation ({', '.join(kinds)})")
    per_kind = result.summary.group_by("kind").agg(pl.col("checked").max())
    note(f"all {result.summary.height} expectations pass over {int(per_kind['checked'].sum())} stored rows")
