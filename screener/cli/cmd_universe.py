from __future__ import annotations

from datetime import datetime

import click

from screener.cli.options import (
    country_option,
    format_option,
    note,
    role_option,
    store_from,
    view_from,
    view_options,
    wait_option,
)
from screener.contract import STAGES
from screener.output.render import render


@click.group()
def universe() -> None:
    """List the universe and edit supply-chain role tags."""


@universe.command("list")
@role_option
@country_option
@click.option(
    "--stage",
    "stages",
    multiple=True,
    type=click.Choice(STAGES),
    help="Keep companies at this stage; repeat to keep any of several.",
)
@format_option
@view_options
@wait_option
@click.pass_context
def list_(
    ctx: click.Context,
    roles: tuple[str, ...],
    countries: tuple[str, ...],
    stages: tuple[str, ...],
    fmt: str,
    columns: tuple[str, ...],
    wide: bool,
) -> None:
    """List companies with their roles, country, region and stage."""
    from screener.intake.universe import list_universe

    with store_from(ctx, "never") as store:
        df = list_universe(store, roles, countries, stages)
    render(df, fmt, view=view_from(columns, wide))
    note(f"{df.height} {'company' if df.height == 1 else 'companies'}")


@universe.command("tag")
@click.argument("symbol")
@click.option("--add", "add", multiple=True, help="Role to add (repeat).")
@click.option("--remove", "remove", multiple=True, help="Role to remove (repeat).")
@click.option("--source", required=True, help="Why: a citation or URL, kept in the tag history.")
@click.option(
    "--effective",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The day the change took effect, YYYY-MM-DD (default: today); scores as of an earlier date keep the old tags.",
)
@wait_option
@click.pass_context
def tag_(
    ctx: click.Context,
    symbol: str,
    add: tuple[str, ...],
    remove: tuple[str, ...],
    source: str,
    effective: datetime | None,
) -> None:
    """Add or remove role tags on SYMBOL; every change is kept with its source, time and effective date.

    Example: screener universe tag HOC.L --remove miner --add trader_offtaker --effective 2026-03-31 --source URL
    """
    from rules.explain import plural
    from screener.errors import ScreenerError
    from screener.intake.universe import tag

    if not add and not remove:
        raise ScreenerError("nothing to change: give --add ROLE and/or --remove ROLE")
    with store_from(ctx) as store:
        roles, changed = tag(store, symbol, add, remove, source, effective=effective.date() if effective else None)
        if changed:
            from screener.cli.progress import ProgressBar, stderr_is_terminal
            from screener.intake.universe import rescore_after_tags

            try:
                with ProgressBar(stderr_is_terminal(), "recompute scores") as bar:
                    days = rescore_after_tags(store, effective.date() if effective else None, progress=bar)
            except ScreenerError as exc:  # the tags are stored: the scores follow at the next 'score'
                days = []
                note(f"Warning: the stored scores were not recomputed ({exc}); the next 'screener score' will")
    if changed:
        note(f"{symbol.upper()}: roles now {';'.join(roles)}")
        if days:
            span = days[0].isoformat() + (f" to {days[-1].isoformat()}" if len(days) > 1 else "")
            note(f"recomputed {plural(len(days), 'stored score set')} as of {span}")
    else:
        note(f"{symbol.upper()}: nothing changed; roles are {';'.join(roles)}")
