"""``screener check``: read every object of the store back and say, one line each, whether it is whole."""

from __future__ import annotations

import click

from screener.cli.options import format_option, note, store_path_of, wait_option

#: Exit code of a store that could not be read at all: neither whole (0) nor damaged (1).
UNREADABLE = 2


@click.command()
@format_option
@wait_option
@click.pass_context
def check(ctx: click.Context, fmt: str) -> None:
    """Read every table of the store row by row and verify every primary key: one line per object, ok or damaged.

    Exit 0 when the store is whole, 1 when anything is damaged, 2 when the file cannot be read at all (no read
    permission; a log that cannot be replayed where nothing can be written). A writer is waited for (--wait). A
    store that cannot be written (read-only file system, no write permission) is checked read-only. Damage found:
    restore a backup with 'screener backup --restore PATH' (migrations keep their own beside the store).
    """
    from screener.output.render import render
    from screener.store.connection import LogNotReplayedError, StoreUnwritableError
    from screener.store.health import check_store, findings_frame

    root = ctx.find_root().obj
    try:
        findings = check_store(store_path_of(ctx), wait=root.wait if root else 10.0, on_wait=note)
    except (StoreUnwritableError, LogNotReplayedError) as exc:
        exc.exit_code = UNREADABLE  # not damage: exit 1 would send the user to restore a whole store
        raise
    render(findings_frame(findings), fmt)
    damaged = [f for f in findings if not f.ok]
    if damaged:
        note(
            f"the store is damaged: {len(damaged)} of {len(findings)} object(s); restore a backup with "
            "'screener backup --restore PATH'"
        )
        ctx.exit(1)
    note(f"the store is whole: {len(findings)} object(s) read back")
