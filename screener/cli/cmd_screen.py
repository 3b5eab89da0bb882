"""``screener screen``: ad hoc filters and rankings over the stored scores."""

from __future__ import annotations

from datetime import date

import click

from screener.cli.options import (
    as_of_option,
    country_option,
    format_option,
    note,
    role_option,
    rules_option,
    store_from,
    view_from,
    view_options,
    wait_option,
)
from screener.output.render import render


@click.command()
@rules_option(default=None, without="Ranks with its filters, gates, weights and tilts; without it, filter only.")
@role_option
@country_option
@click.option(
    "--where",
    "where",
    default=None,
    metavar="EXPR",
    help='Condition in the rule language, e.g. "net_cash_usd > 0 and dilution_risk_pct < 0.5".',
)
@click.option(
    "--sort",
    "sort",
    default=None,
    metavar="KEY[,KEY...]",
    help="Sort by factors (best first) or any columns (numbers largest first, text A-Z); -KEY descending, +KEY "
    "ascending (or KEY:desc, KEY:asc); ties break on symbol. E.g. -score,name.",
)
@click.option("--top", "top", type=click.IntRange(min=1), default=None, help="Show at most N rows (with --rules: N).")
@as_of_option
@format_option
@view_options
@wait_option
@click.pass_context
def screen(
    ctx: click.Context,
    rules_ref: str | None,
    roles: tuple[str, ...],
    countries: tuple[str, ...],
    where: str | None,
    sort: str | None,
    top: int | None,
    as_of: date | None,
    fmt: str,
    columns: tuple[str, ...],
    wide: bool,
) -> None:
    """Filter and rank the stored scores without storing a run.

    Without --rules nothing is ranked by score: rows are numbered (row) in the order shown. The fields --where
    reads and the --sort keys are shown beside the rows.

    Example: screener screen --role processor --country KR --country JP --where "net_cash_usd > 0" --sort dilution_risk
    """
    from screener.cli.app import flag_of
    from screener.watchlist.screen import run_screen

    with store_from(ctx, "if_free") as store:
        res = run_screen(
            store,
            rules=rules_ref,
            roles=roles,
            countries=countries,
            where=where,
            sort=sort,
            top=top,
            as_of=as_of,
            label_of=flag_of,
        )
    if res.demo:
        from screener.cli.options import DEMO_BANNER

        note(DEMO_BANNER)
    render(res.rows, fmt, view=view_from(columns, wide, keep=(*res.where_fields, *res.sort_columns)))
    # worded here rather than through rules.explain, whose import (the rule-set parser) a screen otherwise skips
    companies = "1 company" if res.universe == 1 else f"{res.universe} companies"
    note(f"{res.rows.height} of {companies}; scores as of {res.as_of} ({res.basis})")
