from __future__ import annotations

from pathlib import Path

import click

from screener.cli.options import export_option, format_option, note, store_from, store_path_of, wait_option


@click.command()
@export_option(default="screener-demo-watchlist.xlsx")
@click.option("--no-export", is_flag=True, default=False, help="Do not write the spreadsheet.")
@format_option
@wait_option
@click.pass_context
def demo(ctx: click.Context, export_path: str, no_export: bool, fmt: str) -> None:
    """First run, offline: init, synthetic demo data, two weekly runs on the default rules, and the spreadsheet.

    The runs are a week apart and end on the demo's last day, so the latest run already has changes to explain.
    """
    from rules.explain import plural
    from screener.cli.cmd_weekly import print_weekly
    from screener.cli.progress import ProgressBar, stderr_is_terminal
    from screener.errors import ScreenerError
    from screener.intake.demo import RealDataInStore, check_demo_store, demo_run_dates, load_demo
    from screener.intake.universe import load_bundled
    from screener.output.export import check_target, export_run
    from screener.providers.demo import default_end
    from screener.watchlist.runs import run_weekly

    if not no_export:
        check_target(export_path, store_path_of(ctx))  # before anything is loaded, scored or stored
    with store_from(ctx) as store:
        try:
            check_demo_store(store)
        except RealDataInStore as exc:
            raise ScreenerError(f"{exc}; run the demo in its own store: screener --db demo.duckdb demo") from None
        end = default_end()
        with ProgressBar(stderr_is_terminal(), "demo") as bar:  # loading, validating and scoring take a while
            bar("universe", 0, 4)
            init = load_bundled(store)
            bar("demo data", 1, 4)
            counts = load_demo(store, end=end)
            *earlier, last = demo_run_dates(end)
            bar("weekly runs", 2, 4)
            past_runs = [run_weekly(store, "default", day) for day in earlier]
            bar("weekly runs", 3, 4)
            result = run_weekly(store, "default", last)
            bar("", 4, 4)
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
        for past in past_runs:
            verb = "replaced this week's run" if past.replaced else "stored"
            note(f"run {past.run_id}: default, {past.iso_week}, as of {past.as_of} ({verb}; the week before)")
        print_weekly(result, fmt)
        if not no_export:
            written = export_run(store, Path(export_path), run_id=result.run_id, note=note)
            note(f"wrote {written}")
