from __future__ import annotations

import click

from screener.cli.options import format_option, note, store_from


@click.command()
@click.option("--failures", "show_failures", is_flag=True, default=False,
              help="List every failing value (kind, key, column, expectation, value) instead of the summary.")
@format_option
@click.pass_context
def validate(ctx: click.Context, show_failures: bool, fmt: str) -> None:
    """Re-run the validation suites over everything stored and report, per kind and expectation, how many rows
    were checked, how many failed and which keys. Exits 1 when anything fails."""
    from screener.errors import CompletedWithProblems
    from screener.render import render
    from screener.validation import validate_store

    with store_from(ctx) as store:
        result = validate_store(store)
    if show_failures:
        render(result.failures.drop("row").select("kind", "key", "column_name", "expectation", "value"), fmt)
    else:
        render(result.summary, fmt)
    if result.failed:
        kinds = sorted(set(result.failures["kind"].to_list()))
        raise CompletedWithProblems(f"{result.failed} stored value(s) failed validation ({', '.join(kinds)})")
    note(f"all {int(result.summary['checked'].sum())} checked values pass")
