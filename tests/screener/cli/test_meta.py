"""Every command has help text and a place in docs/, with every option: the CLI is the public contract, so it is
documented."""

from __future__ import annotations

import importlib
import re

import click
import pytest

from screener.cli.app import COMMANDS, cli, load_command
from tests.builders import ROOT

DOCS = ROOT / "docs"


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


def _doc_sections() -> list[tuple[str, str]]:
    """(heading, text from the heading to the next heading of the same or a higher level) for every docs/ page.

    Lines inside code fences are never headings (a ``# comment`` in a shell example is not a section).
    """
    sections: list[tuple[str, str]] = []
    for page in sorted(DOCS.glob("*.md")):
        lines = page.read_text(encoding="utf-8").splitlines()
        heads: list[tuple[int, int, str]] = []
        fenced = False
        for i, line in enumerate(lines):
            if line.startswith("```"):
                fenced = not fenced
            elif not fenced and (m := re.match(r"^(#+) (.*)$", line)):
                heads.append((i, len(m.group(1)), m.group(2)))
        for n, (start, level, title) in enumerate(heads):
            end = next((i for i, lvl, _ in heads[n + 1 :] if lvl <= level), len(lines))
            sections.append((title, "\n".join(lines[start:end])))
    return sections


def _long_options(command: click.Command) -> list[str]:
    """The command's own long flags (``--role``, ``--no-export``); ``--help`` is click's and documented once."""
    return sorted(
        {
            opt
            for param in command.params
            if isinstance(param, click.Option)
            for opt in (*param.opts, *param.secondary_opts)
            if opt.startswith("--")
        }
    )


@pytest.mark.parametrize(("path", "command"), _command_paths(), ids=[p for p, _ in _command_paths()])
def test_every_command_and_option_is_documented(path: str, command: click.Command) -> None:
    # a section of docs/ whose heading names the command documents it; its options must appear in such a section
    heading = re.compile(rf"screener {re.escape(path)}(?=[\s`]|$)")
    texts = [text for title, text in _doc_sections() if heading.search(title)]
    assert texts, f"'screener {path}' has no section in docs/ (a heading naming `screener {path}`)"
    missing = [opt for opt in _long_options(command) if not any(re.search(rf"{opt}(?![\w-])", t) for t in texts)]
    assert not missing, f"'screener {path}': {', '.join(missing)} not documented in its docs/ section"


def test_global_options_are_documented() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    missing = [opt for opt in _long_options(cli) if not re.search(rf"{opt}(?![\w-])", text)]
    assert not missing, f"global options not documented in docs/cli.md: {', '.join(missing)}"
