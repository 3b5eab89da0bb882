"""Shared options are one definition: every command that takes ``--rules``, ``--role``, ``--country``, ``--run``,
``--export``, ``--format`` or ``--as-of`` takes the same option (name, type, metavar, help), and ``--as-of`` reaches
the command as a ``date``."""

from __future__ import annotations

from datetime import date
from typing import Any

import click
import pytest

from screener.cli.app import COMMANDS, load_command
from screener.cli.options import (
    RULES_HELP,
    as_of_option,
    backtest_export_option,
    card_format_option,
    country_option,
    export_option,
    format_option,
    role_option,
    rules_option,
    run_option,
)
from screener.errors import ScreenerError


def _definition(decorator: Any) -> click.Parameter:
    (param,) = decorator(lambda: None).__click_params__
    return param


def _info(param: click.Parameter) -> dict[str, Any]:
    """What a user sees of an option, less its default: a command may default differently (weekly exports nowhere,
    demo to a named workbook), but the option is the same."""
    info = param.to_info_dict()
    for key in ("default", "show_default"):
        info.pop(key, None)
    return info


#: option -> the shared definitions a command may use for it
SHARED: dict[str, list[click.Parameter]] = {
    "--rules": [_definition(rules_option(default=None))],
    "--role": [_definition(role_option)],
    "--country": [_definition(country_option)],
    "--run": [_definition(run_option)],
    # a backtest exports only a workbook, so it has its own definition (defined once, in options.py)
    "--export": [_definition(export_option(default=None)), _definition(backtest_export_option)],
    "--format": [_definition(format_option), _definition(card_format_option)],
    "--as-of": [_definition(as_of_option)],
}
#: commands known to take each option, so the test cannot pass by finding none
USERS = {
    "--rules": {"screen", "weekly", "backtest", "watchlist show", "watchlist diff", "export"},
    "--role": {"screen", "universe list"},
    "--country": {"screen", "universe list"},
    "--run": {"export", "watchlist show"},
    "--export": {"demo", "weekly", "backtest"},
    "--format": {"score", "show", "screen", "universe list", "weekly", "backtest"},
    "--as-of": {"score", "show", "screen", "weekly"},
}


def _commands() -> dict[str, click.Command]:
    out: dict[str, click.Command] = {}

    def walk(path: str, command: click.Command) -> None:
        out[path] = command
        if isinstance(command, click.Group):
            for sub_name, sub in command.commands.items():
                walk(f"{path} {sub_name}", sub)

    for name in COMMANDS:
        command = load_command(name)
        assert command is not None
        walk(name, command)
    return out


@pytest.mark.parametrize("option", sorted(SHARED))
def test_every_command_takes_the_shared_definition(option: str) -> None:
    users = {}
    for path, command in _commands().items():
        for param in command.params:
            if option in param.opts:
                users[path] = param
    assert USERS[option] <= set(users), f"{option} is missing from {sorted(USERS[option] - set(users))}"
    wanted = [_info(p) for p in SHARED[option]]
    for path, param in sorted(users.items()):
        got = _info(param)
        if option == "--rules":
            # a command whose default is no rule set adds what it does without one
            assert got.pop("help").startswith(RULES_HELP), path
            wanted = [{k: v for k, v in w.items() if k != "help"} for w in wanted]
        assert got in wanted, f"'screener {path}' defines {option} itself: {got}"


def test_as_of_reaches_a_command_as_a_date(runner) -> None:
    seen: list[object] = []

    @click.command()
    @as_of_option
    def probe(as_of: date | None) -> None:
        seen.append(as_of)

    runner.invoke(probe, ["--as-of", "2025-06-30"], catch_exceptions=False)
    runner.invoke(probe, [], catch_exceptions=False)
    assert seen == [date(2025, 6, 30), None]
    assert type(seen[0]) is date  # not a datetime, which the library would compare wrongly with dates


def test_score_passes_the_library_a_date(invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []

    def scores_for(store: object, as_of: object, **kwargs: object) -> None:
        seen.append(as_of)
        raise ScreenerError("stop here")

    monkeypatch.setattr("factors.engine.scores_for", scores_for)
    result = invoke("score", "--as-of", "2025-06-30")
    assert result.exit_code == 1
    assert seen == [date(2025, 6, 30)]
    assert type(seen[0]) is date


def test_a_future_as_of_is_still_refused_in_one_line(invoke) -> None:
    first = date.today()  # read on both sides of the command, so a run that crosses midnight still passes
    result = invoke("score", "--as-of", "2999-01-01")
    last = date.today()
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() in (
        [f"Error: --as-of 2999-01-01 is in the future; use today ({day}) or an earlier date"] for day in (first, last)
    )


def test_rules_keeps_each_command_default() -> None:
    commands = _commands()
    weekly = next(p for p in commands["weekly"].params if p.name == "rules_ref")
    screen = next(p for p in commands["screen"].params if p.name == "rules_ref")
    assert (weekly.default, weekly.show_default) == ("default", True)
    assert screen.default is None and "filter only" in (screen.help or "")
