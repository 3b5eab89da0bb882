"""``screener events``: the catalyst inbox. Headlines come in (refresh --news, import-headlines), candidates are
listed with the model's suggestion (inbox), and only ``accept`` turns one into an event."""

from __future__ import annotations

from datetime import UTC, date, datetime

import click

from screener.cli.options import (
    date_option,
    format_option,
    note,
    source_option,
    store_from,
    wait_option,
    wide_option,
)
from screener.output.render import View, render

#: How many candidates the inbox lists by default, newest first: the model reads only the listed headlines, so a
#: store of years of news answers in seconds; ``--since`` and ``--limit`` choose others.
INBOX_LIMIT = 1000
#: What a terminal table of the inbox shows, so the headline keeps its room (``--wide``, csv and json: every column).
INBOX_COMPACT = ("id", "published", "symbol", "headline", "kind", "kind_probability", "polarity", "status")


@click.group()
def events() -> None:
    """The catalyst inbox: news headlines as candidate events, stored only when you accept them."""


@events.command("inbox")
@date_option("--since", "List headlines published on or after this day, YYYY-MM-DD (UTC; default: all).")
@click.option("--new", "only_new", is_flag=True, default=False, help="Leave out headlines already accepted.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=INBOX_LIMIT,
    show_default=True,
    metavar="N",
    help="List at most the N newest candidates.",
)
@wide_option
@format_option
@wait_option
@click.pass_context
def inbox(ctx: click.Context, since: date | None, only_new: bool, limit: int, wide: bool, fmt: str) -> None:
    """List stored headlines as candidate events: matched company, suggested kind and stage with probabilities,
    polarity (negative is a setback) and the words that drove it. Reads only: nothing is stored."""
    from screener.curation.inbox import candidates

    with store_from(ctx, "never") as store:
        frame = candidates(store, since=since, include_accepted=not only_new, limit=limit)
        total = store.count_headlines(since, only_new=only_new) if frame.height == limit else frame.height
    view = View(wide=True) if wide else View(compact=INBOX_COMPACT, fit=True)
    render(frame, fmt, view=view)
    waiting = frame.filter(frame["status"] == "new").height if frame.height else 0
    note(f"{frame.height} candidate(s), {waiting} waiting; accept one with 'screener events accept ID'")
    if total > frame.height:
        note(f"the newest {frame.height} of {total} shown; narrow with --since DATE or raise --limit")


@events.command("accept")
@click.argument("headline_id", metavar="ID")
@click.option(
    "--edit",
    "edits",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Change a field of the event before it is stored (repeat), e.g. --edit kind=funding --edit symbol=MP.",
)
@source_option(required=False, help_text="The event's source (default: the headline's publisher and link).")
@wait_option
@click.pass_context
def accept(ctx: click.Context, headline_id: str, edits: tuple[str, ...], source: str | None) -> None:
    """Store candidate ID as an event, dated by the headline's publication, through the events validation."""
    from screener.curation.inbox import accept as accept_candidate

    # the UTC day bounds the event's date: an event dated the day after a headline published today is not "future"
    today = datetime.now(UTC).date()
    with store_from(ctx) as store:
        done = accept_candidate(store, headline_id, edits=edits, source=source, today=today)
    e = done.event
    note(f"stored a {e['kind']} event of {e['symbol']} dated {e['date']:%Y-%m-%d} (source: {e['source'] or 'none'})")


@events.command("import-headlines")
@click.argument("path", type=click.Path())
@format_option
@wait_option
@click.pass_context
def import_headlines(ctx: click.Context, path: str, fmt: str) -> None:
    """Import a file of headlines (CSV, XLSX or Parquet: headline, published_at, and optionally symbol, publisher,
    link) into the inbox. Every row is validated; one failing value stores nothing."""
    import polars as pl

    from screener.curation.headlines import import_headlines as import_file

    now = datetime.now(UTC).replace(tzinfo=None)  # publication times after this are refused
    # reading and validating the file take the time; the lock is taken for the one transaction that stores it
    with store_from(ctx, "brief") as store:
        done = import_file(store, path, now=now)
    render(pl.DataFrame({"source": [done.source], "rows": [done.rows], "stored": [done.stored]}), fmt)
    note(f"{done.stored} new headline(s) of {done.rows} in the inbox (a headline already stored is kept as it was)")
