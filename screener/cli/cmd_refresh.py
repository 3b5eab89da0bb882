from __future__ import annotations

import click

from screener.cli.options import format_option, note, store_from

MAX_AGE_HELP = (
    "Skip parts fetched more recently than this: one duration for both parts (7d, 12h, 30m, 0 = always fetch) "
    "or per part, e.g. 'fundamentals=7d,prices=1d' (the defaults; fx follows prices)."
)


def _max_age(ctx: click.Context, param: click.Parameter, value: str | None) -> object:
    from screener.refresh import MaxAge

    try:
        return MaxAge.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.option("--symbols", multiple=True, metavar="SYM[,SYM...]",
              help="Symbols to refresh (repeat the option or separate with commas); default: the whole universe.")
@click.option("--max-age", "max_age", default=None, callback=_max_age, help=MAX_AGE_HELP)
@click.option("--workers", type=click.IntRange(1, 16), default=2, show_default=True,
              help="Symbols fetched at once. More is faster but more likely to be rate-limited by Yahoo.")
@click.option("--quiet", is_flag=True, default=False, help="No progress bar and no notes on stderr.")
@format_option
@click.pass_context
def refresh(ctx: click.Context, symbols: tuple[str, ...], max_age: object, workers: int, quiet: bool,
            fmt: str) -> None:
    """Fetch live statements, share counts, prices and FX from Yahoo Finance, validate them, and store them.

    Incremental: fresh symbols cost no request, prices resume at the last stored date. A symbol that fails is
    reported (with its reason, also in the ingest log) and never erases stored data; the command then exits 1.
    """
    from screener.refresh import refresh as run_refresh
    from screener.refresh import stderr_is_terminal
    from screener.render import render

    wanted = [s.strip() for item in symbols for s in item.split(",") if s.strip()]
    if symbols and not wanted:
        from screener.errors import ScreenerError

        raise ScreenerError("--symbols was given but names no symbol; e.g. --symbols MP,LYC.AX")
    with store_from(ctx) as store:
        report = run_refresh(store, symbols=wanted or None, max_age=max_age, workers=workers,  # type: ignore[arg-type]
                             progress=not quiet and stderr_is_terminal(), note=None if quiet else note)
    render(report.table(), fmt)
    report.raise_if_problems()
