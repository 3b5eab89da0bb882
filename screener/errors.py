"""Domain errors. The CLI maps each to one clean line and an exit code, so users never see a traceback."""

from __future__ import annotations

from collections.abc import Callable


class ScreenerError(Exception):
    """Bad input or a problem the user can fix: one line, exit 1."""

    exit_code = 1


class StoreLockedError(ScreenerError):
    """Another process holds the DuckDB file; DuckDB allows one writer process at a time."""


class StoreDamagedError(ScreenerError):
    """The store file (or its write-ahead log) cannot be read back: one line that says so and what to do, never a
    DuckDB internal error, so that nobody keeps writing into a damaged file."""


class CompletedWithProblems(ScreenerError):
    """The command did its work but some parts failed (e.g. symbols in a refresh); exit 1 after the summary.

    ``rejected`` counts the rows validation kept out, so a caller can point to where they are listed (the CLI names
    ``screener validate --rejected``; a script reads ``Store.rejected_rows``) without the library naming a command.
    """

    def __init__(self, message: str, *, rejected: int = 0) -> None:
        self.rejected = rejected
        super().__init__(message)


class Option:
    """A caller-supplied argument named inside an ``ArgumentError`` message, by its Python parameter name."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class ArgumentError(ScreenerError):
    """A bad argument. The message is built from text and ``Option`` parts, so each caller names the argument its
    own way: ``str()`` uses the Python parameter name (``workers must be at least 1``), the CLI its flag
    (``--workers must be at least 1``). Why: the library knows nothing of flags, yet a command-line user must read
    the option they typed."""

    def __init__(self, *parts: str | Option) -> None:
        self.parts = parts
        super().__init__(self.worded(lambda name: name))

    @property
    def options(self) -> list[str]:
        """The parameter names the message mentions, in order."""
        return [p.name for p in self.parts if isinstance(p, Option)]

    def worded(self, name_of: Callable[[str], str]) -> str:
        """The message with each argument named by ``name_of(parameter name)``."""
        return "".join(name_of(p.name) if isinstance(p, Option) else p for p in self.parts)
