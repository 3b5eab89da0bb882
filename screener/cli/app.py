"""The ``screener`` command group.

Commands are loaded lazily from ``COMMANDS`` so that ``screener --help`` and light commands never pay for the heavy
libraries (pandas, great-expectations, scikit-learn, yfinance), which each command imports inside its body.
One place, ``ScreenerGroup.invoke``, turns domain errors into one line and an exit code.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass

import click

from screener import __version__
from screener.errors import ScreenerError

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
}


#: An error with many parts (every bad cell of a file) lists this many under its one-line summary.
MAX_DETAIL_LINES = 30


@dataclass
class AppContext:
    db: str | None


class ScreenerGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._load(name) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None
            raise
        return getattr(module, attr)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ScreenerError as exc:
            # The parts come first and the one-line summary last, where a terminal user's eye lands.
            details = getattr(exc, "details", [])[1:]
            for line in details[:MAX_DETAIL_LINES]:
                click.echo(f"  {line}", err=True)
            if len(details) > MAX_DETAIL_LINES:
                click.echo(f"  ... and {len(details) - MAX_DETAIL_LINES} more", err=True)
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:
            # `screener score | head`: the reader left; that is not an error worth a message.
            sys.stderr.close()
            ctx.exit(0)
        except KeyboardInterrupt:
            click.echo("Interrupted; nothing partial was stored.", err=True)
            ctx.exit(130)
        except Exception as exc:  # the one place that keeps tracebacks from users
            if os.environ.get("SCREENER_DEBUG"):
                raise
            first = str(exc).splitlines()[0] if str(exc) else ""
            click.echo(
                f"Internal error: {type(exc).__name__}: {first} (rerun with SCREENER_DEBUG=1 for details)", err=True
            )
            ctx.exit(2)
        return None


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


def main() -> None:
    cli(prog_name="screener")
