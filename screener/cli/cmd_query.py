"""``screener query``: one read-only SQL statement against the store, rendered like every listing command."""

from __future__ import annotations

import click

from screener.cli.options import format_option, note


@click.command()
@click.argument("sql", metavar="SQL")
@click.option(
    "--max-rows",
    "max_rows",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    metavar="N",
    help="Return at most N rows; the query stops there and says that it was cut.",
)
@format_option
@click.pass_context
def query(ctx: click.Context, sql: str, max_rows: int, fmt: str) -> None:
    """Run one read-only SELECT against the store and print its rows.

    The connection cannot write, read files or URLs, attach databases, load extensions or change its settings:
    anything but a single SELECT (or EXPLAIN) is refused with one line and exit 1, and the store is left as it was.
    'SHOW TABLES' lists the tables; 'DESCRIBE t' their columns.

    Example: screener query "SELECT symbol, name, country FROM companies WHERE country = 'JP' ORDER BY symbol"
    """
    from screener.output.render import render
    from screener.store.query import query_readonly

    root = ctx.find_root()
    result = query_readonly(root.obj.db if root.obj else None, sql, max_rows=max_rows)
    # the rows are the user's own: NaN and the infinities stay apart from NULL in json too
    render(result.rows, fmt, non_finite="text")
    if result.truncated:
        note(f"showing the first {max_rows:,} rows; the query has more (raise --max-rows or add a LIMIT)")
    else:
        note(f"{result.rows.height:,} row{'' if result.rows.height == 1 else 's'}")
