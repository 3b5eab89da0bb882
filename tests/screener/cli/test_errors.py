"""The one place that maps failures to output: domain errors are one line and exit 1, surprises exit 2 with no
traceback, and SCREENER_DEBUG brings the traceback back for a developer."""

from __future__ import annotations

import re

import pytest
from click.testing import Result

from screener.cli.app import COMMANDS, CommandLoadError, cli, load_command
from screener.store import Store


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("boom\nsecond line")


def test_an_unexpected_error_is_one_line_and_exit_2(invoke, db_path, monkeypatch: pytest.MonkeyPatch) -> None:
    Store(db_path).close()  # a reader opens an existing store read-only
    monkeypatch.setattr("screener.intake.universe.list_universe", _boom)
    result = invoke("universe", "list")
    assert result.exit_code == 2
    assert result.stderr.strip() == ("Internal error: RuntimeError: boom (rerun with SCREENER_DEBUG=1 for details)")
    assert result.stdout == ""


def test_screener_debug_shows_the_real_exception(invoke, db_path, monkeypatch: pytest.MonkeyPatch) -> None:
    Store(db_path).close()
    monkeypatch.setattr("screener.intake.universe.list_universe", _boom)
    monkeypatch.setenv("SCREENER_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        invoke("universe", "list")


def test_a_domain_error_is_one_line_and_exit_1(invoke, db_path) -> None:
    Store(db_path).close()
    result = invoke("universe", "list")  # an empty store
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "Error: the store has no companies yet: run 'screener init' (or 'screener demo') first"
    ]


def test_a_reader_on_a_missing_store_creates_nothing(invoke, db_path) -> None:
    result = invoke("universe", "list")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: no store at {db_path}: run 'screener init' (or 'screener demo') first"
    assert not db_path.exists()


#: Broken registry entries and the part of the message that says what is wrong with each.
BAD_ENTRIES = [
    ("screener.cli.cmd_tpyo:tpyo", "No module named 'screener.cli.cmd_tpyo'"),
    ("screener.cli.cmd_init:inti", "screener.cli.cmd_init has no 'inti'"),
    ("screener.cli.options:note", "it is a function, not a click command"),
]


def _one_line_load_error(result: Result, target: str, why: str) -> None:
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"Internal error: CommandLoadError: command 'tpyo' ({target}) cannot be loaded: {why} "
        "(rerun with SCREENER_DEBUG=1 for details)"
    )


@pytest.mark.parametrize(("target", "why"), BAD_ENTRIES)
def test_a_broken_registry_entry_fails_help_in_one_line_naming_it(
    runner, monkeypatch: pytest.MonkeyPatch, target: str, why: str
) -> None:
    monkeypatch.setitem(COMMANDS, "tpyo", target)
    _one_line_load_error(runner.invoke(cli, ["--help"]), target, why)
    _one_line_load_error(runner.invoke(cli, []), target, why)  # no arguments shows the help too


@pytest.mark.parametrize(("target", "why"), BAD_ENTRIES)
def test_invoking_a_broken_registry_entry_fails_in_one_line_naming_it(
    invoke, monkeypatch: pytest.MonkeyPatch, target: str, why: str
) -> None:
    monkeypatch.setitem(COMMANDS, "tpyo", target)
    result = invoke("tpyo")
    _one_line_load_error(result, target, why)
    assert result.stdout == ""


def test_a_registry_entry_without_an_attribute_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(COMMANDS, "tpyo", "screener.cli.cmd_init")
    want = "command 'tpyo' is registered as 'screener.cli.cmd_init', not as 'module:attribute'"
    with pytest.raises(CommandLoadError, match=re.escape(want)):
        load_command("tpyo")


def test_screener_debug_shows_why_a_registry_entry_does_not_load(runner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(COMMANDS, "tpyo", "screener.cli.cmd_tpyo:tpyo")
    monkeypatch.setenv("SCREENER_DEBUG", "1")
    with pytest.raises(CommandLoadError) as info:
        runner.invoke(cli, ["--help"], catch_exceptions=False)
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_a_name_that_is_not_registered_is_a_usage_error(invoke) -> None:
    result = invoke("tpyo")
    assert result.exit_code == 2
    assert "No such command 'tpyo'" in result.stderr


@pytest.mark.parametrize(
    ("ended", "said"),
    [(False, "Interrupted; nothing stored."), (True, "Interrupted after the command ended; its output above stands.")],
)
def test_a_ctrl_c_outside_a_command_exits_130_with_one_true_line(
    ended: bool, said: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before a command began nothing of it was stored; after it ended its own output already said what it did, so
    the line must not claim 'nothing stored' over it."""
    from screener.cli import app

    def interrupted(**_kwargs: object) -> None:
        app._COMMAND_ENDED[0] = ended
        raise KeyboardInterrupt

    monkeypatch.setattr(app, "_COMMAND_ENDED", [False])
    monkeypatch.setattr(app, "cli", interrupted)
    monkeypatch.setattr(app, "_ignore_interrupts", lambda: None)  # leave this process's Ctrl-C handler alone
    with pytest.raises(SystemExit) as exit_:
        app.main()
    assert exit_.value.code == 130
    assert capsys.readouterr().err.strip().splitlines() == [said]
