"""``screener fields``: every field a listing can show, ``--where`` can test, ``--sort`` can order by and
``--columns`` can choose, with its label, unit and meaning."""

from __future__ import annotations

import click

from screener.cli.options import format_option, note


@click.command()
@click.option("--where-only", "where_only", is_flag=True, default=False, help="Only the fields --where can test.")
@format_option
def fields(where_only: bool, fmt: str) -> None:
    """List the fields: name, label, unit, whether --where can test it, and what it means.

    Every field can be a --sort key and a --columns choice where a listing has it (rank, score and reason come
    from a ranking; --where reads the scores, so only their fields).

    Example: screener fields --where-only; screener screen --where "net_cash_usd > 0" --sort -score,name
    """
    from screener.output.fields import catalogue
    from screener.output.render import View, render

    df = catalogue()
    if where_only:
        df = df.filter("where")
    render(df, fmt, view=View(compact=("field", "meaning"), optional=("unit", "where", "label"), fit=True))
    note(f"{df.height} fields")
