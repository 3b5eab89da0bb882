"""How the store's DuckDB file is opened: the settings of every connection, and an open started ahead of need.

Why open ahead: opening DuckDB is about 25 ms of a 0.35 s ``screen`` (DuckDB builds its catalogue of built-in
functions), and its first statement about 5 ms more; it lets go of the interpreter meanwhile, so it can run on a
second core while polars, the command's own code and the store's classes load (Python, which holds the
interpreter). Why a module of its own: it is started before those load, so it imports nothing of them (the package
loads its other names on first use).

The open ahead is only ever a head start on the very call the store would make (``screener.store.connection.
connect``, reading, the same file, the same settings): ``take`` hands it to that call, and anything unusual (an
open that failed, another file, a lock held by another process) is dropped, so the store opens as it always did and
says what it always said. A connection nobody took is closed by ``discard``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

#: No extension is ever loaded or downloaded behind the user's back.
SAFE_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
}


class _Ahead:
    """The one open under way or done: its file, its thread, and its connection once opened."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.con: duckdb.DuckDBPyConnection | None = None
        self.thread = threading.Thread(target=self._open, name="store-open-ahead", daemon=True)

    def _open(self) -> None:
        import duckdb  # loaded already by ``start``, on the calling thread: nothing is imported on this one

        try:
            con = duckdb.connect(str(self.path), read_only=True, config=SAFE_CONFIG)
        except Exception:  # the store's own open meets the same problem and says it in its words
            self.con = None
            return
        try:
            # DuckDB's first statement in a process sets up its query machinery (about 5 ms): done here, beside
            # polars' import, it is not paid by the store's first question on the command's thread
            con.execute("SELECT 1").fetchall()
        except Exception:
            con.close()
            self.con = None
            return
        self.con = con

    def close(self) -> None:
        self.thread.join()
        if self.con is not None:
            self.con.close()
            self.con = None


_lock = threading.Lock()
#: The open ahead not taken yet: one at most (a command opens one store first).
_pending: _Ahead | None = None


def start(path: Path) -> bool:
    """Start opening the store file at ``path`` for reading on a worker thread; whether an open was started.

    Nothing is started for a path that is not a file with content (a store to be created, a typo: the store's
    own open refuses those at once) or while another open ahead is pending. DuckDB is imported first, then the
    open starts, then polars is imported, all on the calling thread: the open (which imports nothing) runs while
    polars loads, about 0.15 s, so the command never waits for it; and two threads never import at once (two imports
    that meet in a shared module can deadlock)."""
    try:
        if not path.is_file() or path.stat().st_size == 0 or not os.access(path, os.R_OK):
            return False
    except OSError:
        return False
    import duckdb  # noqa: F401

    global _pending
    with _lock:
        if _pending is not None:
            return False
        ahead = _pending = _Ahead(path)
    ahead.thread.start()
    import polars  # noqa: F401

    return True


def take(path: Path) -> duckdb.DuckDBPyConnection | None:
    """The connection opened ahead for reading ``path``, waiting for it if it is still being opened; None when no
    open was started, when it failed, or when it was of another file (then it is closed).

    Taken once: the next call (a second open of the store in the same command) opens afresh."""
    global _pending
    with _lock:
        ahead, _pending = _pending, None
    if ahead is None:
        return None
    try:
        ahead.thread.join()
    except BaseException:  # a Ctrl-C while waiting: ``discard`` closes it when the command ends
        with _lock:
            _pending = ahead
        raise
    if ahead.path == path and ahead.con is not None:
        con, ahead.con = ahead.con, None
        return con
    ahead.close()
    return None


def discard() -> None:
    """Close an open ahead that nothing took (a command that ended before opening the store: a usage error,
    ``--help``), so that the file is not held past the command."""
    global _pending
    with _lock:
        ahead, _pending = _pending, None
    if ahead is not None:
        ahead.close()


def pending() -> bool:
    """Whether an open ahead waits to be taken (tests check that none outlives a command)."""
    with _lock:
        return _pending is not None
