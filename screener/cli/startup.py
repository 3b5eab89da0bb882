"""The garbage collector during a command's start-up.

Why: a short command (``screen``, ``show``) spends about 30 ms, a tenth of importing polars and DuckDB, in Python's
cyclic garbage collector, which runs every 700 new container objects and walks the young objects the imports just
made (classes, functions, dicts), none of which is garbage. Collecting rarely while the libraries load, then
freezing what they left (``gc.freeze``: moved out of every later collection), keeps that work away; afterwards the
collector runs at its usual pace over what the command itself creates, so a long command (an import, a refresh)
reclaims cycles as before.

Only the command-line entry point holds collection (``hold``): a program that imports the package as a library
keeps its own collector settings, and ``release`` does nothing in a process where ``hold`` was not called.
"""

from __future__ import annotations

import gc

#: How many new container objects start a collection while the libraries load: rare enough that loading polars
#: and DuckDB (a few hundred thousand objects) triggers a handful of collections instead of about a hundred.
STARTUP_THRESHOLD = 100_000

_held: list[tuple[int, int, int]] = []


def hold() -> None:
    """Collect rarely until ``release``: called first thing by the ``screener`` entry point."""
    if not _held:
        _held.append(gc.get_threshold())
        gc.set_threshold(STARTUP_THRESHOLD, *_held[0][1:])


def release(*, freeze: bool = True) -> None:
    """The libraries are loaded (a store is open): freeze what exists now and collect at the usual pace again.

    ``freeze=False`` only restores the pace: the entry point's last word for a command that never opened a store,
    so that a process running the entry point in-process (a test) gets its own settings back unfrozen."""
    if _held:
        if freeze:
            gc.freeze()
        gc.set_threshold(*_held.pop())


def held() -> bool:
    """Whether collection is held (between ``hold`` and ``release``)."""
    return bool(_held)
