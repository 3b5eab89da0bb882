"""The one place that maps failures to output: domain errors are one line and exit 1, surprises exit 2 with no
traceback, and SCREENER_DEBUG brings the traceback back for a developer."""

from __future__ import annotations

import pytest


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("boom\nsecond line")


def test_an_unexpected_error_is_one_line_and_exit_2(invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("screener.universe.list_universe", _boom)
    result = invoke("universe", "list")
    assert result.exit_code == 2
    assert result.stderr.strip() == ("Internal error: RuntimeError: boom (rerun with SCREENER_DEBUG=1 for details)")
    assert result.stdout == ""


def test_screener_debug_shows_the_real_exception(invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("screener.universe.list_universe", _boom)
    monkeypatch.setenv("SCREENER_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        invoke("universe", "list")


def test_a_domain_error_is_one_line_and_exit_1(invoke) -> None:
    result = invoke("universe", "list")  # an empty store
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "Error: the store has no companies yet: run 'screener init' (or 'screener demo')"
    ]
