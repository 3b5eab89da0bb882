"""Domain errors. The CLI maps each to one clean line and an exit code, so users never see a traceback."""

from __future__ import annotations


class ScreenerError(Exception):
    """Bad input or a problem the user can fix: one line, exit 1."""

    exit_code = 1


class StoreLockedError(ScreenerError):
    """Another process holds the DuckDB file; DuckDB allows one writer process at a time."""


class CompletedWithProblems(ScreenerError):
    """The command did its work but some parts failed (e.g. symbols in a refresh); exit 1 after the summary."""
