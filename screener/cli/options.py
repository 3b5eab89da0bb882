"""Options declared once and shared by every command, and the helpers commands use to reach the store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any, TypeVar

import click

from screener.render import FORMATS
from screener.store import Store

F = TypeVar("F", bound=Callable[..., Any])


def format_option(func: F) -> F:
    """``--format table|csv|json`` for every command that lists rows."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="Output format: table for reading, csv for spreadsheets, json (array of objects) for scripts.",
    )(func)


def _not_in_future(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A score as of a future date would be stored and then shadow today's; refuse it up front."""
    if value is not None and value.date() > date.today():
        from screener.errors import ScreenerError

        raise ScreenerError(f"--as-of {value.date()} is in the future; use today ({date.today()}) or an earlier date")
    return value


def as_of_option(func: F) -> F:
    return click.option(
        "--as-of",
        "as_of",
        type=click.DateTime(formats=["%Y-%m-%d"]),
        default=None,
        callback=_not_in_future,
        help="Point-in-time date YYYY-MM-DD (default: today, not later): only data public by then is used.",
    )(func)


def to_date(value: Any) -> date | None:
    """click.DateTime gives a datetime; the library speaks dates."""
    if value is None:
        return None
    return value.date() if hasattr(value, "date") else value


@contextmanager
def store_from(ctx: click.Context) -> Iterator[Store]:
    """Open the store named by ``--db``/``SCREENER_DB`` for the duration of a command."""
    root = ctx.find_root()
    store = Store(root.obj.db if root.obj else None)
    try:
        yield store
    finally:
        store.close()


def note(message: str) -> None:
    """Messages go to stderr so stdout stays clean data for pipes and spreadsheets."""
    click.echo(message, err=True)


DEMO_BANNER = "DEMO DATA: synthetic numbers from the seeded generator, not market data (provider 'demo')."
