from __future__ import annotations

import click

from screener.cli.options import note, store_from, wait_option


@click.command()
@wait_option
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create or upgrade the store and load the bundled universe and events (safe to rerun)."""
    from screener.intake.universe import load_bundled

    with store_from(ctx) as store:
        res = load_bundled(store)
        note(
            f"store {store.path} at schema v{res.schema_version}: {res.companies_added} companies added, "
            f"{res.companies_updated} refreshed, {res.companies_kept_user} kept as edited by you; "
            f"{res.events_added} events added"
        )
        if res.rejected:
            note(
                f"{res.rejected} bundled row(s) failed validation and were kept out; list them with "
                "'screener validate --rejected'"
            )
