"""Every command has help text and a place in the README: the CLI is the public contract, so it is documented."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import click
import pytest

from screener.cli.app import COMMANDS, cli, load_command

README = Path(__file__).resolve().parent.parent / "README.md"


def _loaded() -> dict[str, click.Command]:
    """Every registered command, loaded: an entry that does not load fails here instead of going missing."""
    out = {}
    for name in COMMANDS:
        command = load_command(name)
        assert command is not None, name
        out[name] = command
    return out


def _command_paths() -> list[tuple[str, click.Command]]:
    """(``universe list``, command) for every command and subcommand, groups included."""
    paths: list[tuple[str, click.Command]] = []

    def walk(prefix: str, command: click.Command) -> None:
        paths.append((prefix, command))
        if isinstance(command, click.Group):
            for sub_name, sub in sorted(command.commands.items()):
                walk(f"{prefix} {sub_name}", sub)

    for name, command in sorted(_loaded().items()):
        walk(name, command)
    return paths


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_registered_command_loads(name: str) -> None:
    # imported here by hand, not through load_command, so a loader that skipped an entry could not hide it
    module_name, attr = COMMANDS[name].split(":")
    command = getattr(importlib.import_module(module_name), attr)
    assert isinstance(command, click.Command), f"{COMMANDS[name]} is a {type(command).__name__}, not a click command"
    assert (command.help or "").strip(), f"'screener {name}' has no help text (give it a docstring)"
    assert load_command(name) is command


def test_registry_entries_resolve() -> None:
    loaded = _loaded()
    assert {"init", "import", "universe"} <= set(loaded)
    for name, command in loaded.items():
        assert isinstance(command, click.Command), name
        assert command.name == name, f"{COMMANDS[name]} is named {command.name!r}, registered as {name!r}"


@pytest.mark.parametrize(("path", "command"), _command_paths(), ids=[p for p, _ in _command_paths()])
def test_every_command_has_help_text(path: str, command: click.Command) -> None:
    assert (command.help or "").strip(), f"'screener {path}' has no help text (give it a docstring)"
    assert command.get_short_help_str().strip()


def test_top_level_help_lists_every_command(runner) -> None:
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in _loaded():
        assert re.search(rf"^\s+{re.escape(name)}\s", result.stdout, re.MULTILINE), name


def test_every_command_is_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    headings = [line[4:].strip() for line in text.splitlines() if line.startswith("### ")]
    missing = [
        path for path, _ in _command_paths() if f"screener {path}" not in text and not any(path in h for h in headings)
    ]
    assert not missing, f"not documented in README.md: {', '.join(missing)}"
