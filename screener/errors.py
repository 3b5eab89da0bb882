"""Domain errors. The CLI maps each to one clean line and an exit code, so users never see a traceback."""

from __future__ import annotations

import errno
import re
from collections.abc import Callable, Sequence


class ScreenerError(Exception):
    """Bad input or a problem the user can fix: one line, exit 1."""

    exit_code = 1


#: What every command that needs companies says to a store without any: one wording, whichever command meets it.
NO_COMPANIES = "the store has no companies yet: run 'screener init' (or 'screener demo') first"


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


#: The longest line a message may take. Why a bound: one warning once carried a whole column of values (69,000
#: characters) and buried the terminal; a line this long still names the file, row, column and value.
MAX_LINE = 300


def and_more(items: Sequence[object], shown: int = 5, sep: str = ", ") -> str:
    """``a, b, c`` or ``a, b, c, … and 7 more``: a list in a message names its first ``shown`` items and counts the
    rest, so a message about a thousand rows stays one readable line."""
    texts = [str(i) for i in items[:shown]]
    if len(items) > shown:
        texts.append(f"… and {len(items) - shown} more")
    return sep.join(texts)


#: A word of a message is never cut shorter than this (a path keeps its start and its file name).
MIN_WORD = 24


def clip(line: str, limit: int = MAX_LINE) -> str:
    """``line`` cut to at most ``limit`` characters. What makes a message line long is a word in it (a value of
    70,000 characters, a deep path), so the longest words are cut first, each in its middle with ``…`` (never
    below ``MIN_WORD``): the file name, the row, the column and the advice around them stay whole. A line still too
    long loses its middle, saying how many characters went."""
    if len(line) <= limit:
        return line
    parts = re.split(r"(\s+)", line)
    excess = len(line) - limit
    for i in sorted(range(0, len(parts), 2), key=lambda i: (-len(parts[i]), i)):
        word = parts[i]
        if excess <= 0 or len(word) <= MIN_WORD:
            break
        keep = max(MIN_WORD, len(word) - excess - 1) - 1  # the characters kept besides the ``…``
        head = keep * 2 // 3
        parts[i] = word[:head] + "…" + word[len(word) - (keep - head) :]
        excess -= len(word) - len(parts[i])
    out = "".join(parts)
    if len(out) <= limit:
        return out
    # the mark's own length depends on the count it prints: size it for the largest count it could print
    room = max(limit - len(f" … ({len(out)} characters cut) … "), 0)
    head = room * 2 // 3
    tail = room - head
    return out[:head] + f" … ({len(out) - head - tail} characters cut) … " + (out[-tail:] if tail else "")


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it wraps: xlsxwriter and DuckDB wrap the system's) says the disk or quota is
    full."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(e) or "Disk quota exceeded" in str(e):
            return True
        todo.extend([e.__cause__, e.__context__, *(a for a in e.args if isinstance(a, BaseException))])
    return False
