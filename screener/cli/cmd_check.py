"""``screener check``: read every object of the store back and say, one line each, whether it is whole."""

from __future__ import annotations

import click

from screener.cli.options import format_option, note, store_path_of, wait_option


@click.command()
@format_option
@wait_option
@click.pass_context
def check(ctx: click.Context, fmt: str) -> None:
    """Read every table of the store row by row and verify every primary key: one line per object, ok or damaged.

    Exit 0 when the store is whole, 1 when anything is damaged. The store is opened read-only, so other readers
    may run meanwhile; a writer is waited for (--wait). Damage found: restore a backup with
    'screener backup --restore PATH' (migrations keep their own beside the store).
    """
    from screener.output.render import render
    from screener.store.health import check_store, findings_frame

    root = ctx.find_root().obj
    findings = check_store(store_path_of(ctx), wait=root.wait if root else 10.0, on_wait=note)
    render(findings_frame(findings), fmt)
    damaged = [f for f in findings if not f.ok]
    if damaged:
        note(
            f"the store is damaged: {len(damaged)} of {len(findings)} object(s); restore a backup with "
            "'screener backup --restore PATH'"
        )
        ctx.exit(1)
    note(f"the store is whole: {len(findings)} object(s) read back")
