"""``screener backup``: a consistent copy of the store, and bringing one back."""

from __future__ import annotations

from pathlib import Path

import click

from screener.cli.options import note, store_path_of, wait_option


@click.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--restore",
    "restore",
    default=None,
    type=click.Path(dir_okay=False),
    metavar="BACKUP",
    help="Bring this backup back as the store; the store it replaces is kept beside it, renamed.",
)
@wait_option
@click.pass_context
def backup(ctx: click.Context, path: str | None, restore: str | None) -> None:
    """Copy the store to PATH (default: <store>-backup-<UTC time>.duckdb beside it) while holding its write lock,
    then read the copy back whole. With --restore BACKUP, check that BACKUP is a whole store of a schema this
    screener knows and put it in the store's place.

    Example: screener backup ~/backups/screener-2026-06-05.duckdb; screener backup --restore ~/backups/x.duckdb
    """
    from screener.output.render import check_writable
    from screener.store.health import backup_store, default_backup_path, restore_store

    root = ctx.find_root().obj
    wait = root.wait if root else 10.0
    store = store_path_of(ctx)
    if restore is not None:
        if path is not None:
            raise click.UsageError("give either PATH (make a backup) or --restore BACKUP, not both")
        done = restore_store(store, Path(restore).expanduser(), wait=wait, on_wait=note)
        # one path per line: a message line is bounded (300 characters) and a path cut to fit cannot be copied
        note(f"restored the store {store} (schema v{done.schema_version})")
        note(f"  from {done.source}")
        if done.kept_as:
            note(f"  the store it replaced is kept as {done.kept_as}")
        return
    target = Path(path).expanduser() if path else default_backup_path(store)
    check_writable(target, store=store)
    findings = backup_store(store, target, wait=wait, on_wait=note)
    tables = sum(1 for f in findings if f.kind == "table")
    note(f"backed up the store {store}: {tables} tables, read back whole")
    note(f"  to {target}")
