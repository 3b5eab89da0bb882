from __future__ import annotations

from pathlib import Path

import click

from screener.cli.options import export_option, format_option, note, store_from


@click.command()
@export_option(default="screener-demo-watchlist.xlsx")
@click.option("--no-export", is_flag=True, default=False, help="Do not write the spreadsheet.")
@format_option
@click.pass_context
def demo(ctx: click.Context, export_path: str, no_export: bool, fmt: str) -> None:
    """First run, offline: init, synthetic demo data, the weekly job on the default rules, and the spreadsheet."""
    from rules.explain import plural
    from screener.cli.cmd_weekly import print_weekly
    from screener.cli.progress import ProgressBar, stderr_is_terminal
    from screener.errors import ScreenerError
    from screener.intake.demo import RealDataInStore, check_demo_store, load_demo
    from screener.intake.universe import load_bundled
    from screener.output.export import check_target, export_run
    from screener.watchlist.runs import run_weekly

    if not no_export:
        check_target(export_path)  # before anything is loaded, scored or stored
    with store_from(ctx) as store:
        try:
            check_demo_store(store)
        except RealDataInStore as exc:
            raise ScreenerError(f"{exc}; run the demo in its own store: screener --db demo.duckdb demo") from None
        with ProgressBar(stderr_is_terminal(), "demo") as bar:  # loading, validating and scoring take a while
            bar("universe", 0, 3)
            init = load_bundled(store)
            bar("demo data", 1, 3)
            counts = load_demo(store)
            bar("weekly run", 2, 3)
            result = run_weekly(store, "default")
            bar("", 3, 3)
        note(
            f"store {store.path}: {plural(init.companies, 'company')}; "
            + ", ".join(f"{n} {k}" for k, n in counts.items())
        )
        held = store.open_rejection_count("demo")
        if held:
            note(
                f"{held} demo value(s) failed validation and were kept out; list them with "
                "'screener validate --rejected'"
            )
        print_weekly(result, fmt)
        if not no_export:
            written = export_run(store, Path(export_path), run_id=result.run_id)
            note(f"wrote {written}")
