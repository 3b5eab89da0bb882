"""The CLI's progress bar: the library reports ``(label, done, total)``, this draws it with rich on stderr."""

from __future__ import annotations

import sys
from typing import Any


def stderr_is_terminal() -> bool:
    """A bar only makes sense on a terminal: piped or captured stderr must stay plain lines."""
    return sys.stderr.isatty()


class ProgressBar:
    """A transient rich bar on stderr, drawn only when ``enabled`` (the CLI enables it when stderr is a terminal).

    Why it starts at the first report rather than on entry: the notes printed before the work starts (what will be
    fetched) must not be drawn over by a live bar."""

    def __init__(self, enabled: bool, description: str) -> None:
        self.enabled = enabled
        self.description = description
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def __call__(self, label: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=0)
        text = f"{self.description} {label}" if label else None
        self._bar.update(self._task, completed=done, total=total, **({"description": text} if text else {}))
