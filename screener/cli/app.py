"""The ``screener`` command group.

Commands are loaded lazily from ``COMMANDS`` so that ``screener --help`` and light commands never pay for the heavy
libraries (pandas, great-expectations, scikit-learn, yfinance), which each command imports inside its body.
One place, ``_one_line_errors``, turns domain errors into one line and an exit code.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import click

from screener import __version__
from screener.errors import MAX_LINE, ArgumentError, CompletedWithProblems, ScreenerError, disk_full
from screener.output.terminal import message_text

#: command name -> "module:attribute"; adding a command is one line here plus its module.
COMMANDS: dict[str, str] = {
    "init": "screener.cli.cmd_init:init",
    "demo": "screener.cli.cmd_demo:demo",
    "import": "screener.cli.cmd_import:import_",
    "refresh": "screener.cli.cmd_refresh:refresh",
    "validate": "screener.cli.cmd_validate:validate",
    "universe": "screener.cli.cmd_universe:universe",
    "show": "screener.cli.cmd_show:show",
    "score": "screener.cli.cmd_score:score",
    "screen": "screener.cli.cmd_screen:screen",
    "weekly": "screener.cli.cmd_weekly:weekly",
    "watchlist": "screener.cli.cmd_watchlist:watchlist",
    "export": "screener.cli.cmd_export:export",
    "rules": "screener.cli.cmd_rules:rules",
    "backtest": "screener.cli.cmd_backtest:backtest",
    "report": "screener.cli.cmd_report:report",
    "query": "screener.cli.cmd_query:query",
    "fields": "screener.cli.cmd_fields:fields",
}


#: Library parameters whose flag is not the name with dashes: a repeated flag is singular, its parameter plural.
FLAG_NAMES: dict[str, str] = {
    "roles": "--role",
    "countries": "--country",
    "ref": "--run",
    "from_ref": "--from",
    "to_ref": "--to",
}


def flag_of(parameter: str) -> str:
    """The command-line flag of a library parameter named in an ``ArgumentError``: ``max_requests`` is
    ``--max-requests``, ``roles`` is ``--role``."""
    return FLAG_NAMES.get(parameter, "--" + parameter.replace("_", "-"))


#: What a full disk leaves: a write is one transaction and an export is renamed into place only when complete.
FULL_DISK_KEPT = "the store and any previous export are unchanged; free some space and run the command again"

#: An error with many parts (every bad cell of a file) lists this many under its one-line summary.
MAX_DETAIL_LINES = 30


@dataclass
class AppContext:
    db: str | None


class CommandLoadError(RuntimeError):
    """A ``COMMANDS`` entry that does not give a click command: a bug in the registry, not in the user's input.

    Why an error and not a missing command: a typo in the registry would otherwise drop the command from the CLI
    and from its own meta-test without a word. The message names the entry so the fix is one line.
    """


def load_command(name: str) -> click.Command | None:
    """The command registered as ``name``, imported on first use; None for a name that is not registered.

    Raises ``CommandLoadError`` naming the entry when its module does not import, lacks the attribute, or the
    attribute is not a click command.
    """
    target = COMMANDS.get(name)
    if target is None:
        return None
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise CommandLoadError(f"command {name!r} is registered as {target!r}, not as 'module:attribute'")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CommandLoadError(f"command {name!r} ({target}) cannot be loaded: {first}") from exc
    command = getattr(module, attr, None)
    if command is None:
        raise CommandLoadError(f"command {name!r} ({target}) cannot be loaded: {module_name} has no {attr!r}")
    if not isinstance(command, click.Command):
        raise CommandLoadError(
            f"command {name!r} ({target}) cannot be loaded: it is a {type(command).__name__}, not a click command"
        )
    return command


class ScreenerGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        # names only: listing must not import every command module; help imports them through get_command
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return load_command(cmd_name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # ``screener --help`` (or no arguments) formats the command list while parsing, before ``invoke``: a broken
        # registry entry met there gets the same one-line report
        with _one_line_errors(ctx):
            return super().parse_args(ctx, args)
        return []  # not reached: the handler exits

    def invoke(self, ctx: click.Context) -> object:
        with _one_line_errors(ctx):
            return super().invoke(ctx)
        return None  # not reached: the handler exits


@contextmanager
def _one_line_errors(ctx: click.Context) -> Iterator[None]:
    """The one place that turns an error into output: a domain error is its message and exit code, a surprise is
    one line and exit 2 (SCREENER_DEBUG=1 keeps the traceback), click's own errors pass through. Every line is
    bounded and terminal-safe (``message_text``): a message may quote a stored or imported value."""
    try:
        yield
    except ScreenerError as exc:
        # The parts come first and the one-line summary last, where a terminal user's eye lands.
        details = getattr(exc, "details", [])[1:]
        for line in details[:MAX_DETAIL_LINES]:
            click.echo(message_text(f"  {line}"), err=True)
        if len(details) > MAX_DETAIL_LINES:
            click.echo(f"  … and {len(details) - MAX_DETAIL_LINES} more", err=True)
        message = exc.worded(flag_of) if isinstance(exc, ArgumentError) else str(exc)
        if isinstance(exc, CompletedWithProblems) and exc.rejected:
            message += "; see 'screener validate --rejected'"
        click.echo(message_text(f"Error: {message}"), err=True)
        ctx.exit(exc.exit_code)
    except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
        raise
    except BrokenPipeError:
        # `screener score | head`: the reader left; that is not an error worth a message.
        _reader_left()
        ctx.exit(0)
    except KeyboardInterrupt as exc:
        # a library that knows better says what an interrupt left behind (the read-only query: nothing changed)
        click.echo(message_text(f"Interrupted; {str(exc) or 'nothing partial was stored.'}"), err=True)
        ctx.exit(130)
    except Exception as exc:  # the one place that keeps tracebacks from users
        if os.environ.get("SCREENER_DEBUG"):
            raise
        if disk_full(exc):  # a store write met a full disk: its transaction rolled back, exports are atomic
            click.echo(f"Error: the disk is full; nothing was stored: {FULL_DISK_KEPT}", err=True)
            ctx.exit(1)
        first = str(exc).splitlines()[0] if str(exc) else ""
        hint = " (rerun with SCREENER_DEBUG=1 for details)"
        line = message_text(f"Internal error: {type(exc).__name__}: {first}", MAX_LINE - len(hint))
        click.echo(line + hint, err=True)
        ctx.exit(2)


@click.group(cls=ScreenerGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--db",
    envvar="SCREENER_DB",
    type=click.Path(dir_okay=False),
    default=None,
    help="DuckDB store file (env SCREENER_DB; default ~/.local/share/ree-screener/screener.duckdb).",
)
@click.version_option(__version__, prog_name="screener")
@click.pass_context
def cli(ctx: click.Context, db: str | None) -> None:
    """Screen the rare-earth midstream for the localization trade: store, score, rank, export."""
    ctx.obj = AppContext(db=db)


def _reader_left() -> None:
    """The reader of stdout closed the pipe (``| head``): point stdout at devnull, as the Python documentation
    recommends, so the flush at exit cannot raise again (which would print a traceback and exit 1 or 120)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout already closed or not a file: nothing left to flush into the pipe
        pass
    finally:
        os.close(devnull)


def main() -> None:
    """The ``screener`` entry point. A closed pipe exits 0 quietly for every command: the handler in
    ``_one_line_errors`` covers what a command writes, this covers what is still buffered when it returns."""
    code: int | str | None = 0
    try:
        cli(prog_name="screener")
    except SystemExit as exc:
        code = exc.code
    try:
        sys.stdout.flush()  # the buffered tail of the output meets a closed pipe here, not at interpreter exit
    except BrokenPipeError:
        _reader_left()
    sys.exit(code)
