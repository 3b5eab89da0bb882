from __future__ import annotations

from datetime import timedelta

import click

from screener.cli.options import format_option, note, store_from, wait_option

MAX_AGE_HELP = (
    "Skip parts fetched more recently than this: one duration for both parts (7d, 12h, 30m, 0 = always fetch) "
    "or per part, e.g. 'fundamentals=7d,prices=1d' (the defaults; fx follows prices)."
)


DEADLINE_HELP = (
    "Stop asking Yahoo after this long (e.g. 20m, 1h; 0 = no deadline). Symbols not reached are reported "
    "'not_attempted', keep what is stored and are fetched by the next run."
)
MAX_REQUESTS_HELP = (
    "At most this many requests to Yahoo in the run, retries included (0 = no limit). Past it, the rest is "
    "'not_attempted', as with --deadline."
)


def _deadline(ctx: click.Context, param: click.Parameter, value: str) -> object:
    from screener.intake.refresh import parse_deadline

    try:
        return parse_deadline(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _max_age(ctx: click.Context, param: click.Parameter, value: str | None) -> object:
    from screener.intake.refresh import MaxAge

    try:
        return MaxAge.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.option(
    "--symbols",
    multiple=True,
    metavar="SYM[,SYM...]",
    help="Symbols to refresh (repeat the option or separate with commas); default: the whole universe.",
)
@click.option("--max-age", "max_age", default=None, callback=_max_age, help=MAX_AGE_HELP)
@click.option(
    "--workers",
    type=click.IntRange(1, 16),
    default=2,
    show_default=True,
    help="Symbols fetched at once. More is faster but more likely to be rate-limited by Yahoo.",
)
@click.option(
    "--deadline", default="20m", show_default=True, metavar="DURATION", callback=_deadline, help=DEADLINE_HELP
)
@click.option(
    "--max-requests",
    "max_requests",
    type=click.IntRange(min=0),
    default=3000,
    show_default=True,
    help=MAX_REQUESTS_HELP,
)
@click.option(
    "--overwrite-imports",
    "overwrite_imports",
    is_flag=True,
    default=False,
    help="Let Yahoo replace rows you imported yourself (provider 'file'). By default your own import "
    "wins and the report counts the Yahoo rows it kept out.",
)
@click.option(
    "--news",
    is_flag=True,
    default=False,
    help="Also store each symbol's latest Yahoo news headlines for the catalyst inbox ('screener events inbox'); "
    "news follows the prices' maximum age.",
)
@click.option("--quiet", is_flag=True, default=False, help="No progress bar and no notes on stderr.")
@format_option
@wait_option
@click.pass_context
def refresh(
    ctx: click.Context,
    symbols: tuple[str, ...],
    max_age: object,
    workers: int,
    deadline: object,
    max_requests: int,
    overwrite_imports: bool,
    news: bool,
    quiet: bool,
    fmt: str,
) -> None:
    """Fetch live statements, share counts, prices, splits and FX from Yahoo Finance, validate them, and store them.

    Incremental: fresh symbols cost no request, prices resume at the last stored date. A symbol that fails, or
    whose statements come back empty (unknown: throttling looks the same), is reported with its reason (also in
    the ingest log), never erases stored data and is not marked fresh; the command then exits 1. So does a run
    stopped early by --deadline, --max-requests or persistent rate limits.
    """
    from screener.cli.progress import ProgressBar, stderr_is_terminal
    from screener.intake.refresh import refresh as run_refresh
    from screener.output.render import render

    wanted = [s.strip() for item in symbols for s in item.split(",") if s.strip()]
    if symbols and not wanted:
        from screener.errors import ScreenerError

        raise ScreenerError("--symbols was given but names no symbol; e.g. --symbols MP,LYC.AX")
    with store_from(ctx, "brief") as store, ProgressBar(not quiet and stderr_is_terminal(), "refreshing") as bar:
        report = run_refresh(
            store,
            symbols=wanted or None,
            max_age=max_age,
            workers=workers,  # type: ignore[arg-type]
            on_progress=bar,
            note=None if quiet else note,
            deadline=deadline or timedelta(0),
            max_requests=max_requests,  # type: ignore[arg-type]
            override_imports=overwrite_imports,
            news=news,
        )
    render(report.table(), fmt)
    report.raise_if_problems()
