"""Options declared once and shared by every command, and the helpers commands use to reach the store.

Why one definition: a flag must mean the same thing, take the same values and read the same in every command's help;
only a default may differ (``weekly`` ranks with the default rules, ``screen`` filters unless given rules).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

from screener.contract import REGION_NAMES, ROLES
from screener.output.render import FORMATS, View

if TYPE_CHECKING:
    from pathlib import Path

    from screener.store import Store
    from screener.store.connection import WriteMode

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


class IsoDate(click.DateTime):
    """``click.DateTime`` for the one format ``YYYY-MM-DD``, read without ``datetime.strptime``.

    Why: a process's first ``strptime`` imports the locale tables behind it and compiles their patterns, about 12 ms,
    a twentieth of a short command such as ``screen --as-of``. The pattern here is the one ``strptime`` builds for
    ``%Y-%m-%d`` (matched whole, ignoring case), so exactly the same texts are read as the same dates, and any other
    text is refused with click's own message, as before."""

    FORMAT = "%Y-%m-%d"
    _PATTERN = re.compile(
        r"(?P<Y>\d\d\d\d)-(?P<m>1[0-2]|0[1-9]|[1-9])-(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])", re.IGNORECASE
    )

    def __init__(self) -> None:
        super().__init__(formats=[self.FORMAT])

    def _try_to_convert_date(self, value: Any, format: str) -> datetime | None:
        if format != self.FORMAT or not isinstance(value, str):
            return super()._try_to_convert_date(value, format)
        found = self._PATTERN.fullmatch(value)
        if found is None:
            return None
        try:
            return datetime(int(found["Y"]), int(found["m"]), int(found["d"]))
        except ValueError:  # a day the month does not have, or year 0
            return None


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
        type=IsoDate(),
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


#: ``--rules NAME`` of the commands that read stored runs: "latest" is the latest run of these rules.
run_rules_option = rules_option(
    None, "The run is one of these rules: latest is their latest run (default: the rules 'default')."
)


def _column_list(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    """``a,b,c`` as a tuple; a name no listing has is refused here, before a command scores or stores anything."""
    if value is None:
        return ()
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    from rules.expr import suggest
    from screener.errors import ArgumentError, Option
    from screener.output.fields import known_fields

    if not names:
        raise ArgumentError(Option("columns"), " needs at least one field name, e.g. symbol,name,score")
    known = known_fields()
    for n in names:
        if n not in known and not n.startswith("contrib."):
            raise ArgumentError(
                Option("columns"), f": unknown column {n!r}{suggest(n, known)}; 'screener fields' lists every field"
            )
    return names


def wide_option(func: F) -> F:
    """``--wide`` as ``wide``: every column, text uncut, however wide the table gets."""
    return click.option(
        "--wide",
        "wide",
        is_flag=True,
        default=False,
        help="Show every column, text uncut, however wide the table gets (csv and json always carry every column).",
    )(func)


def view_options(func: F) -> F:
    """``--columns a,b,c`` as ``columns`` and ``--wide`` as ``wide``: which columns a terminal table shows (csv and
    json always carry every column). Without either, a table shows a compact set that fits the terminal."""
    return click.option(
        "--columns",
        "columns",
        default=None,
        metavar="FIELD[,FIELD...]",
        callback=_column_list,
        help="Table columns, in this order (see 'screener fields'). Default: a compact set that fits the terminal.",
    )(wide_option(func))


def view_from(columns: tuple[str, ...], wide: bool, keep: tuple[str, ...] = ()) -> View:
    """The table view ``--columns``/``--wide`` ask for; both at once is refused (one would silently lose)."""
    if columns and wide:
        from screener.errors import ArgumentError, Option

        raise ArgumentError("give ", Option("columns"), " or ", Option("wide"), ", not both")
    return View(columns=columns, wide=wide, keep=keep, cut=not wide, fit=True)


ROLE_HELP = "Keep companies with this role; repeat to keep any of several."


def role_option(func: F) -> F:
    """``--role ROLE``, repeatable, as the tuple ``roles``."""
    return click.option("--role", "roles", multiple=True, type=click.Choice(ROLES), help=ROLE_HELP)(func)


SOURCE_HELP = "Why: a citation or URL, kept in the tag history."


def source_option(required: bool, help_text: str = SOURCE_HELP) -> Callable[[F], F]:
    """``--source TEXT`` as ``source``: the citation a change is kept with (a tag change by ``universe tag`` and
    ``universe suggest --accept``; an event by ``events accept``, whose ``help_text`` says what it defaults to)."""
    # no explicit default: click (8.3 on) takes default=None as a value, and a required option would then never be
    # reported missing
    return click.option("--source", "source", required=required, help=help_text)


def effective_option(func: F) -> F:
    """``--effective YYYY-MM-DD`` as ``effective`` (a datetime, or None for today): when a tag change took effect."""
    return click.option(
        "--effective",
        type=IsoDate(),
        default=None,
        help="The day the change took effect, YYYY-MM-DD (default: today); scores as of an earlier date keep the old "
        "tags.",
    )(func)


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


def _plain_date(ctx: click.Context, param: click.Parameter, value: datetime | None) -> date | None:
    """click.DateTime parses a datetime; the library speaks dates."""
    return None if value is None else value.date()


def date_option(flag: str, help: str) -> Callable[[F], F]:
    """A ``--FLAG YYYY-MM-DD`` option given to the command as a ``date`` (or None): ``--start`` and ``--end``."""
    return click.option(
        flag,
        flag.removeprefix("--").replace("-", "_"),
        type=IsoDate(),
        default=None,
        metavar="DATE",
        callback=_plain_date,
        help=help,
    )


# -- backtest -----------------------------------------------------------------------------------------------------
#: ``--start``/``--end`` of a backtest: the first and last rebalance date.
start_option = date_option("--start", "First rebalance date YYYY-MM-DD (default: as early as the stored data allows).")
end_option = date_option("--end", "Last rebalance date YYYY-MM-DD (default: the newest stored close).")


def every_option(func: F) -> F:
    """``--every 1w|2w|4w`` as ``every``: the step between rebalance dates."""
    return click.option(
        "--every",
        default="1w",
        show_default=True,
        metavar="1w|2w|4w",
        help="Rebalance every this many weeks.",
    )(func)


def horizons_option(func: F) -> F:
    """``--horizons 1w,4w,13w,26w`` as ``horizons`` (text; the library parses it)."""
    return click.option(
        "--horizons",
        default="1w,4w,13w,26w",
        show_default=True,
        metavar="H[,H...]",
        help="Forward-return horizons in weeks, comma-separated.",
    )(func)


def cost_bps_option(func: F) -> F:
    """``--cost-bps N`` as ``cost_bps``: round-trip trading cost per unit of one-way turnover."""
    return click.option(
        "--cost-bps",
        "cost_bps",
        type=click.FloatRange(min=0),
        default=20.0,
        show_default=True,
        metavar="N",
        help="Round-trip trading cost in basis points per unit of one-way turnover.",
    )(func)


def weights_option(func: F) -> F:
    """``--weights equal|capped:MAX`` as ``weights`` (None: the rule set's ``[portfolio]`` section)."""
    return click.option(
        "--weights",
        default=None,
        metavar="equal|capped:MAX",
        help="Portfolio weights: equal, or market cap capped at MAX per name (capped:0.08). "
        "Default: the rule set's [portfolio] section.",
    )(func)


def benchmark_option(func: F) -> F:
    """``--benchmark SYMBOL`` as ``benchmark``: a stored symbol whose closes make the benchmark curve."""
    return click.option(
        "--benchmark",
        default=None,
        metavar="SYMBOL",
        help="Symbol whose stored closes are the benchmark curve (e.g. REMX); default: none.",
    )(func)


#: The tables of a backtest result that ``--table`` can choose (``screener.backtest.result.TABLES``).
BACKTEST_TABLES = ("ic", "ic_series", "quantiles", "spreads", "stability", "curve", "holdings")


def table_option(func: F) -> F:
    """``--table NAME`` as ``table_name``: print one table of a backtest in the chosen format."""
    return click.option(
        "--table",
        "table_name",
        type=click.Choice(BACKTEST_TABLES),
        default=None,
        help="Print this table of the result instead of the report (table, json) or the IC table (csv).",
    )(func)


def backtest_export_option(func: F) -> F:
    """``--export PATH.xlsx`` as ``export_path``: a backtest exports only to a workbook."""
    return click.option(
        "--export",
        "export_path",
        type=str,  # checked by the command (a folder, a missing folder, a wrong suffix: one line, exit 1)
        default=None,
        help="Write the backtest to this .xlsx workbook (Summary, IC, Quantiles, Portfolio, Curve, with charts).",
    )(func)


def show_backtest_option(func: F) -> F:
    """``--show ID|latest`` as ``show_ref``: print a stored backtest again instead of running one."""
    return click.option(
        "--show",
        "show_ref",
        default=None,
        metavar="ID|latest",
        help="Print a stored backtest again, as it printed when it ran (nothing is recomputed).",
    )(func)


def list_backtests_option(func: F) -> F:
    """``--list`` as ``list_stored``: list the stored backtests instead of running one."""
    return click.option(
        "--list", "list_stored", is_flag=True, default=False, help="List the stored backtests, newest first."
    )(func)


# -- report -------------------------------------------------------------------------------------------------------
REPORT_HELP = "Write the visual report of the run to this self-contained .html file (charts inline, works offline)."


def report_out_option(flag: str, default: str | None) -> Callable[[F], F]:
    """The report's HTML path as ``report_path``: ``--out`` of ``report``, ``--report`` of ``weekly``."""
    return click.option(
        flag,
        "report_path",
        type=str,  # checked by the command before any work (a folder, a missing folder: one line, exit 1)
        default=default,
        show_default=default is not None,
        metavar="PATH",
        help=REPORT_HELP,
    )


def report_backtest_option(func: F) -> F:
    """``--backtest ID|latest`` as ``backtest_ref``: a stored backtest whose equity curve and IC the report adds."""
    return click.option(
        "--backtest",
        "backtest_ref",
        default=None,
        metavar="ID|latest",
        help="Add this stored backtest's equity curve and IC by factor and horizon (see 'screener backtest --list').",
    )(func)


#: The longest ``--wait``: an hour. Why a bound: ``inf`` (or ``nan``, which no comparison stops) waited forever.
MAX_WAIT = 3600.0


def _wait_seconds(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not math.isfinite(value):  # FloatRange lets nan through: every comparison with it is false
        raise click.BadParameter(f"{value} is not a number of seconds from 0 to {MAX_WAIT:g}", ctx, param)
    root = ctx.find_root()
    if root.obj is not None:
        root.obj.wait = value
    return value


def wait_option(func: F) -> F:
    """``--wait SECONDS``: how long a command waits for the store while another process writes to it. Kept on the
    root context rather than passed to the command, so that ``store_from`` finds it and no signature changes."""
    return click.option(
        "--wait",
        "wait",
        type=click.FloatRange(min=0, max=MAX_WAIT),
        default=10.0,
        show_default=True,
        metavar="SECONDS",
        expose_value=False,
        is_eager=True,
        callback=_wait_seconds,
        help="Wait this long for the store while another process writes to it (0: do not wait).",
    )(func)


@contextmanager
def store_from(ctx: click.Context, writes: WriteMode = "hold") -> Iterator[Store]:
    """Open the store named by ``--db``/``SCREENER_DB`` for the duration of a command.

    ``writes`` says how long the command holds the write lock (``screener.store.connection.WriteMode``): commands
    that only read pass ``never``, so any number of them run at once. Waiting for the lock is reported on stderr;
    what the store asks to be said (a log kept aside, scores not stored) is said once, at the end. Before a command
    that can write begins, the store's ``marker`` is kept, so that an interrupt can say what was stored.
    """
    from screener.store import Store  # here, not at the top: `--help` must not load duckdb and polars

    root = ctx.find_root()
    app = root.obj
    store = Store(
        app.db if app else None,
        writes=writes,
        wait=getattr(app, "wait", 10.0) if app else 10.0,
        on_wait=note,
    )
    from screener.cli import startup

    startup.release()  # polars and DuckDB are loaded: the collector's usual pace again (``startup``)
    try:
        for line in store.notices:
            note(f"Note: {line}")
        store.notices.clear()
        if app is not None and writes == "if_free" and app.marker is None:
            # its writes are optional (a stale score set stored): the marker is kept just before the first one,
            # so a command that only reads never pays for it
            def keep_marker() -> None:
                if app.marker is None:
                    app.marker = store.marker()

            store.before_first_write = keep_marker
        elif app is not None and writes != "never" and app.marker is None:
            app.marker = store.marker()
        yield store
        for line in store.notices:
            note(f"Note: {line}")
    finally:
        store.close()


def store_path_of(ctx: click.Context) -> Path:
    """The store file ``--db``/``SCREENER_DB`` names (or the default one), without opening it: an output path is
    checked against it before any work, so no command writes over the store."""
    from screener.paths import resolve_db_path

    root = ctx.find_root()
    return resolve_db_path(root.obj.db if root.obj else None)


def note(message: str) -> None:
    """Messages go to stderr so stdout stays clean data for pipes and spreadsheets; each line bounded and
    terminal-safe (``message_text``), as a note may quote an imported value."""
    from screener.output.terminal import message_text

    click.echo(message_text(message), err=True)


DEMO_BANNER = "DEMO DATA: synthetic numbers from the seeded generator, not market data (provider 'demo')."
