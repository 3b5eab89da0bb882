"""The ``screener`` command group.

Commands are loaded lazily from ``COMMANDS`` so that ``screener --help`` and light commands never pay for the heavy
libraries (pandas, great-expectations, scikit-learn, yfinance), which each command imports inside its body.
One place, ``_one_line_errors``, turns domain errors into one line and an exit code.
"""

from __future__ import annotations

import gc
import importlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import click

from screener import __version__
from screener.errors import (
    MAX_LINE,
    ArgumentError,
    CompletedWithProblems,
    ScreenerError,
    StoreDamagedError,
    StoreLockedError,
    disk_full,
)
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
    "events": "screener.cli.cmd_events:events",
    "check": "screener.cli.cmd_check:check",
    "backup": "screener.cli.cmd_backup:backup",
}


#: Library parameters whose flag is not the name with dashes: a repeated flag is singular, its parameter plural.
FLAG_NAMES: dict[str, str] = {
    "roles": "--role",
    "countries": "--country",
    "ref": "--run",
    "from_ref": "--from",
    "to_ref": "--to",
    "edits": "--edit",
}


def flag_of(parameter: str) -> str:
    """The command-line flag of a library parameter named in an ``ArgumentError``: ``max_requests`` is
    ``--max-requests``, ``roles`` is ``--role``."""
    return FLAG_NAMES.get(parameter, "--" + parameter.replace("_", "-"))


#: What a full disk leaves: a write is one transaction and an export is renamed into place only when complete.
FULL_DISK_KEPT = "the store and any previous export are unchanged; free some space and run the command again"

#: What a damaged store's one line tells the user to do.
RECOVERY = "; run 'screener check', then restore a backup or 'screener backup --restore'"

#: An error with many parts (every bad cell of a file) lists this many under its one-line summary.
MAX_DETAIL_LINES = 30


@dataclass
class AppContext:
    """What the root command hands to every command: the store, how long to wait for its lock (``--wait``), and
    the store's ``marker`` taken before a command that can write begins (so an interrupt can say what it stored)."""

    db: str | None
    wait: float = 10.0
    marker: dict[str, Any] | None = None


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


#: The commands a user waits on at the terminal that open the store for reading first: their store is opened ahead,
#: on a worker thread, while their code loads (``screener.store.opening``).
OPENS_STORE_AHEAD = frozenset({"screen", "show"})


class ScreenerGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        # names only: listing must not import every command module; help imports them through get_command
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return load_command(cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        # before the command's module is imported: the store's open runs while the command's code and the store's
        # classes load; the command's own open takes it, and ``invoke`` closes one nobody took
        asks_help = any(a in ctx.help_option_names for a in args[1:])  # help loads neither polars nor DuckDB
        if args and args[0] in OPENS_STORE_AHEAD and not asks_help and not ctx.resilient_parsing:
            from screener.paths import resolve_db_path
            from screener.store import opening

            opening.start(resolve_db_path(ctx.params.get("db")))
        return super().resolve_command(ctx, args)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # ``screener --help`` (or no arguments) formats the command list while parsing, before ``invoke``: a broken
        # registry entry met there gets the same one-line report
        with _one_line_errors(ctx):
            return super().parse_args(ctx, args)
        return []  # not reached: the handler exits

    def invoke(self, ctx: click.Context) -> object:
        with _one_line_errors(ctx):
            try:
                return super().invoke(ctx)
            finally:
                _COMMAND_ENDED[0] = True
                from screener.store import opening

                opening.discard()
        return None  # not reached: the handler exits


#: Whether the command has ended (returned or raised): a Ctrl-C after that cannot have stopped any of its work.
_COMMAND_ENDED = [False]


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
        if isinstance(exc, StoreDamagedError):
            message += RECOVERY
        if isinstance(exc, StoreLockedError) and message.endswith("wait longer"):
            message += " (--wait SECONDS)"
        click.echo(message_text(f"Error: {message}"), err=True)
        ctx.exit(exc.exit_code)
    except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
        raise
    except BrokenPipeError:
        # `screener score | head`: the reader left; that is not an error worth a message.
        _reader_left()
        ctx.exit(0)
    except KeyboardInterrupt as exc:
        _interrupted(ctx, exc, str(exc))
    except Exception as exc:  # the one place that keeps tracebacks from users
        if _is_interrupt(exc):
            _interrupted(ctx, exc, "")
        # a full disk first: DuckDB invalidates a database that met one, in the words it uses for damage
        if disk_full(exc) and not os.environ.get("SCREENER_DEBUG"):
            # a store write met a full disk: its transaction rolled back, exports are atomic
            click.echo(f"Error: the disk is full; nothing was stored: {FULL_DISK_KEPT}", err=True)
            ctx.exit(1)
        damaged = _damaged(ctx, exc)
        if damaged is not None:
            click.echo(message_text(f"Error: {damaged}"), err=True)
            ctx.exit(1)
        if os.environ.get("SCREENER_DEBUG"):
            raise
        first = str(exc).splitlines()[0] if str(exc) else ""
        hint = " (rerun with SCREENER_DEBUG=1 for details)"
        line = message_text(f"Internal error: {type(exc).__name__}: {first}", MAX_LINE - len(hint))
        click.echo(line + hint, err=True)
        ctx.exit(2)


def _is_interrupt(exc: BaseException) -> bool:
    """Whether an error is a Ctrl-C in disguise.

    DuckDB reports a Ctrl-C that lands inside a query as its own exception (a ``RuntimeError`` saying ``Query
    interrupted``, or ``duckdb.InterruptException``), not as ``KeyboardInterrupt``; a Ctrl-C that lands while a
    compiled extension initialises comes out as ``ImportError: initialization failed`` raised from the
    ``KeyboardInterrupt``. So the chain of causes is searched too."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, KeyboardInterrupt) or type(current).__name__ == "InterruptException":
            return True
        if isinstance(current, RuntimeError) and str(current).strip().lower() == "query interrupted":
            return True
        current = current.__cause__ or current.__context__
    return False


def _interrupted(ctx: click.Context, exc: BaseException, said: str) -> None:
    """Say what an interrupted command left in the store, found by looking after the interrupt, and exit 130.

    Why look rather than infer: a Ctrl-C during a commit may land before or after the commit took effect, and only
    the store knows which. A command that never opened the store for writing stored nothing; a library that knows
    better says so in the interrupt's message (the read-only query)."""
    app = ctx.find_root().obj
    marker = getattr(app, "marker", None)
    if marker is None:
        click.echo(message_text(f"Interrupted; {said or 'nothing stored.'}"), err=True)
        ctx.exit(130)
    # a connection the interrupt left open in a frame of its traceback (one landed inside an open) would keep this
    # process from opening the store again: drop those frames' locals, and with them the connection
    if exc.__traceback__ is not None:
        traceback.clear_frames(exc.__traceback__)
    gc.collect()
    # DuckDB turns a Ctrl-C inside a query into its own error, yet Python may still hold the signal as pending: it
    # must not stop the check half way and leave the user without the answer
    previous = _ignore_interrupts()
    try:
        from screener.store import Store

        with Store(app.db, read_only=True, wait=min(app.wait, CHECK_WAIT)) as store:
            changes = store.changes_since(marker)
        outcome = "stored: " + "; ".join(changes) + "." if changes else "nothing stored."
    except Exception as problem:
        text = str(problem).strip()
        first = text.splitlines()[0] if text else type(problem).__name__
        outcome = f"what was stored could not be checked ({first})"
    finally:
        _restore_interrupts(previous)
    click.echo(message_text(f"Interrupted; {outcome}"), err=True)
    ctx.exit(130)


#: How long the check after an interrupt waits for another process's lock, at most.
CHECK_WAIT = 5.0


def _ignore_interrupts() -> object:
    """Ignore Ctrl-C (main thread only) and return the handler to put back."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, signal.SIG_IGN)


def _restore_interrupts(previous: object) -> None:
    if previous is not None:
        signal.signal(signal.SIGINT, previous)  # type: ignore[arg-type]


def _damaged(ctx: click.Context, exc: BaseException) -> str | None:
    """The one-line message for a DuckDB error that says the store is damaged; None for any other error."""
    if "duckdb" not in type(exc).__module__:
        return None
    from screener.paths import resolve_db_path
    from screener.store.connection import damage_of, damaged_message

    reason = damage_of(exc)
    if reason is None:
        return None
    app = ctx.find_root().obj
    return damaged_message(resolve_db_path(app.db if app else None), reason) + RECOVERY


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
    ``_one_line_errors`` covers what a command writes, this covers what is still buffered when it returns.
    Garbage collection is held while the libraries load (``startup``) and released once the store is open."""
    from screener.cli import startup

    startup.hold()
    code: int | str | None = 0
    try:
        try:
            cli(prog_name="screener")
        finally:
            # the command's outcome is decided and said: a Ctrl-C from here on must not turn the exit into a death
            # by signal (-2) or add a second, contradicting line
            _ignore_interrupts()
    except SystemExit as exc:
        code = exc.code
    except KeyboardInterrupt:
        if _COMMAND_ENDED[0]:  # after the command ended: what it printed stands
            click.echo("Interrupted after the command ended; its output above stands.", err=True)
        else:  # before a command began: nothing of it reached the store
            click.echo("Interrupted; nothing stored.", err=True)
        code = 130
    startup.release(freeze=False)  # a command that opened no store: the collector's own settings again
    try:
        sys.stdout.flush()  # the buffered tail of the output meets a closed pipe here, not at interpreter exit
    except BrokenPipeError:
        _reader_left()
    _forget_caught_interrupts()
    sys.exit(code)


def _forget_caught_interrupts() -> None:
    """Keep a Ctrl-C that was caught and answered from turning ``python -m screener``'s exit into a death by signal.

    Why: CPython marks a ``KeyboardInterrupt`` that leaves any ``exec`` of a string (libraries run such code while
    they are imported, scipy's among them) as "unhandled" in a process-wide flag that nothing clears, even when the
    exception is caught further up; under ``-m`` the interpreter then kills itself by SIGINT at exit (code -2)
    after the command has said "Interrupted; ..." and chosen 130. Evaluating a string clears that flag first
    thing, and an empty one cannot raise, so the exit code stays the one the command chose."""
    exec("")
