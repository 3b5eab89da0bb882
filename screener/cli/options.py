"""Options declared once and shared by every command, and the helpers commands use to reach the store.

Why one definition: a flag must mean the same thing, take the same values and read the same in every command's help;
only a default may differ (``weekly`` ranks with the default rules, ``screen`` filters unless given rules).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, TypeVar

import click

from screener.contract import REGION_NAMES, ROLES
from screener.output.render import FORMATS
from screener.store import Store

F = TypeVar("F", bound=Callable[..., Any])


def _format(choices: Sequence[str], help: str) -> Callable[[F], F]:
    return click.option("--format", "fmt", type=click.Choice(choices), default="table", show_default=True, help=help)


#: ``--format table|csv|json`` for every command that lists rows.
format_option = _format(
    FORMATS, "Output format: table for reading, csv for spreadsheets, json (array of objects) for scripts."
)
#: ``--format table|json`` for the company card, whose sections have different columns (so no single csv table).
card_format_option = _format(
    ("table", "json"), "table: one titled table per section; json: one object with a key per section."
)


def _as_of_date(ctx: click.Context, param: click.Parameter, value: datetime | None) -> date | None:
    """click.DateTime parses a datetime; commands and the library speak dates.

    A score as of a future date would be stored and then shadow today's, so a future date is refused up front.
    """
    if value is None:
        return None
    day = value.date()
    if day > date.today():
        from screener.errors import ScreenerError

        raise ScreenerError(f"--as-of {day} is in the future; use today ({date.today()}) or an earlier date")
    return day


def as_of_option(func: F) -> F:
    """``--as-of YYYY-MM-DD``, given to the command as a ``date`` (or None for today)."""
    return click.option(
        "--as-of",
        "as_of",
        type=click.DateTime(formats=["%Y-%m-%d"]),
        default=None,
        callback=_as_of_date,
        help="Point-in-time date YYYY-MM-DD (default: today, not later): only data public by then is used.",
    )(func)


RULES_HELP = "Rule set name (see 'screener rules list') or path to a .toml file."


def rules_option(default: str | None, without: str = "") -> Callable[[F], F]:
    """``--rules NAME|PATH`` as ``rules_ref``. A command whose default is None says in ``without`` what it does
    when the option is not given (``screen`` then filters only)."""
    return click.option(
        "--rules",
        "rules_ref",
        default=default,
        show_default=default is not None,
        metavar="NAME|PATH",
        help=f"{RULES_HELP} {without}".strip(),
    )


ROLE_HELP = "Keep companies with this role; repeat to keep any of several."


def role_option(func: F) -> F:
    """``--role ROLE``, repeatable, as the tuple ``roles``."""
    return click.option("--role", "roles", multiple=True, type=click.Choice(ROLES), help=ROLE_HELP)(func)


COUNTRY_HELP = f"ISO country code (e.g. KR, JP) or region ({', '.join(REGION_NAMES)}); repeat to keep any of several."


def country_option(func: F) -> F:
    """``--country CODE|REGION``, repeatable, as the tuple ``countries``; the library parses the places."""
    return click.option("--country", "countries", multiple=True, metavar="CODE|REGION", help=COUNTRY_HELP)(func)


RUN_HELP = "Stored run: its id, or latest."


def run_option(func: F) -> F:
    """``--run ID|latest`` as ``run_ref``."""
    return click.option("--run", "run_ref", default="latest", show_default=True, metavar="ID|latest", help=RUN_HELP)(
        func
    )


EXPORT_HELP = "Write the run to this file; the suffix picks the format: .xlsx workbook, or .csv/.parquet/.json rows."


def export_option(default: str | None) -> Callable[[F], F]:
    """``--export PATH`` as ``export_path``; the command checks the path before it scores or stores anything."""
    return click.option(
        "--export",
        "export_path",
        type=click.Path(dir_okay=False),
        default=default,
        show_default=default is not None,
        help=EXPORT_HELP,
    )


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
