"""``screener backtest``: how well would the rule set's factors have ranked the companies on past dates?

Runs a backtest and stores it, prints a stored one again (``--show``), or lists them (``--list``). The result is one
value (``screener.backtest.result.BacktestResult``) that every output lays out, so a stored backtest reads exactly
as it did when it ran.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import click

from screener.cli.options import (
    backtest_export_option,
    benchmark_option,
    cost_bps_option,
    end_option,
    every_option,
    format_option,
    horizons_option,
    list_backtests_option,
    note,
    rules_option,
    show_backtest_option,
    start_option,
    store_from,
    store_path_of,
    table_option,
    wait_option,
    weights_option,
)

if TYPE_CHECKING:
    from screener.backtest.result import BacktestResult

#: Options that only a new backtest reads: given with --show or --list they would be silently ignored, so refused.
RUN_ONLY = ("rules_ref", "start", "end", "every", "horizons", "cost_bps", "weights", "benchmark")


@click.command()
@rules_option(default="default")
@start_option
@end_option
@every_option
@horizons_option
@cost_bps_option
@weights_option
@benchmark_option
@backtest_export_option
@show_backtest_option
@list_backtests_option
@table_option
@format_option
@wait_option
@click.pass_context
def backtest(
    ctx: click.Context,
    rules_ref: str,
    start: date | None,
    end: date | None,
    every: str,
    horizons: str,
    cost_bps: float,
    weights: str | None,
    benchmark: str | None,
    export_path: str | None,
    show_ref: str | None,
    list_stored: bool,
    table_name: str | None,
    fmt: str,
) -> None:
    """Backtest a rule set's factors on past dates, point in time, and store the result.

    Prints a report (table), the result as one JSON object (json) or one table as CSV (csv: the IC table, or
    --table). --show ID|latest prints a stored backtest again without recomputing; --list lists them.
    """
    from screener.errors import ScreenerError

    if show_ref is not None and list_stored:
        raise ScreenerError("--show and --list do different things; give one of them")
    if show_ref is not None or list_stored:
        given = [
            "--" + name.removesuffix("_ref").replace("_", "-")
            for name in RUN_ONLY
            if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
        ]
        if given:
            what = "--show" if show_ref is not None else "--list"
            raise ScreenerError(f"{what} reads stored backtests; {', '.join(given)} only apply to a new backtest")
    if list_stored:
        if export_path:
            raise ScreenerError("--export writes one backtest; use it with a run or with --show, not with --list")
        _list(ctx, fmt)
        return
    if export_path:
        from screener.output.backtest_export import check_backtest_target

        check_backtest_target(export_path, store_path_of(ctx))  # before anything is computed or stored
    if show_ref is not None:
        from screener.backtest.history import load_backtest

        with store_from(ctx, "never") as store:
            result = load_backtest(store, show_ref, parameter="show")
    else:
        result = _run(
            ctx,
            rules=rules_ref,
            start=start,
            end=end,
            every=every,
            horizons=horizons,
            cost_bps=cost_bps,
            weights=weights,
            benchmark=benchmark,
        )
    print_backtest(result, fmt, table_name)
    if show_ref is None:
        note(f"stored as backtest {result.backtest_id}")
    if export_path:
        from screener.output.backtest_export import write_backtest

        note(f"wrote {write_backtest(result, export_path, note)}")


def _run(ctx: click.Context, *, horizons: str, **options: Any) -> BacktestResult:
    """Run and store a backtest; ``options`` are ``run_backtest``'s keyword arguments as the command parsed them
    (``horizons`` is the text of ``--horizons``)."""
    from screener.backtest.history import save_backtest
    from screener.backtest.run import parse_horizons, run_backtest
    from screener.cli.progress import ProgressBar, stderr_is_terminal

    # the backtest reads for as long as it runs; the lock is taken only for the transaction that stores it
    with store_from(ctx, "brief") as store, ProgressBar(stderr_is_terminal(), "backtest") as bar:
        result = run_backtest(store, horizons=parse_horizons(horizons), progress=bar, **options)
        save_backtest(store, result)
    return result


def print_backtest(result: BacktestResult, fmt: str, table_name: str | None = None) -> None:
    """A backtest as ``fmt``: the same for a new run and for ``--show``, so a stored one reads as it did.

    The demo banner and the notes go to stderr with csv and json (json also carries the notes), so stdout stays
    data; the table report prints them itself."""
    from screener.output.backtest_report import DEMO_BANNER, json_text, report_text
    from screener.output.render import render

    if fmt != "table":
        if result.demo:
            note(DEMO_BANNER)
        for line in result.notes:
            note(f"note: {line}")
    if table_name is not None:
        render(result.table(table_name), fmt, title=f"Backtest {result.backtest_id}: {table_name}")
    elif fmt == "json":
        click.echo(json_text(result), nl=False)
    elif fmt == "csv":
        render(result.table("ic"), fmt)
    else:
        click.echo(report_text(result), nl=False)


def _list(ctx: click.Context, fmt: str) -> None:
    from rules.explain import plural
    from screener.backtest.history import list_backtests
    from screener.output.render import render

    with store_from(ctx, "never") as store:
        df = list_backtests(store)
    render(df, fmt)
    note(plural(df.height, "stored backtest"))
