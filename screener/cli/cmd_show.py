from __future__ import annotations

from datetime import date

import click

from screener.cli.options import (
    DEMO_BANNER,
    as_of_option,
    card_format_option,
    note,
    store_from,
    wait_option,
    wide_option,
)


@click.command()
@click.argument("symbol")
@as_of_option
@card_format_option
@wide_option
@wait_option
@click.pass_context
def show(ctx: click.Context, symbol: str, as_of: date | None, fmt: str, wide: bool) -> None:
    """The company card for SYMBOL (a symbol, a company name or a unique part of one): identity, role tags and their
    history, latest fundamentals, recent events, data freshness and the factor breakdown as of a date; then its
    place on each rule set's latest stored list (or why it is not on it) and its rank in the last 12 runs of each.

    Example: screener show MP --as-of 2026-05-29; screener show Lynas
    """
    from screener.watchlist.card import company_card, render_card

    with store_from(ctx, "if_free") as store:
        card = company_card(store, symbol, as_of, for_json=fmt == "json")
    if card.rests_on_demo:
        note(DEMO_BANNER)
    render_card(card, fmt, wide=wide)
