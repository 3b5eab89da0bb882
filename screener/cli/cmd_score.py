from __future__ import annotations

import io
import sys
from typing import TYPE_CHECKING

import click

from screener.cli.options import DEMO_BANNER, as_of_option, format_option, note, store_from, wait_option

if TYPE_CHECKING:
    from datetime import date

    import polars as pl


def table_view(frame: pl.DataFrame) -> pl.DataFrame:
    """The compact columns a terminal can show: who, how big, each factor's percentile, completeness, flags."""
    from factors.registry import FACTORS

    cols = [
        "symbol",
        "role_class",
        "region",
        "market_cap_usd",
        *(s.pct_column for s in FACTORS.values()),
        "data_completeness",
        "flags",
    ]
    return frame.select([c for c in cols if c in frame.columns])


@click.command()
@as_of_option
@format_option
@click.option(
    "--recompute",
    is_flag=True,
    default=False,
    help="Compute again even when scores stored for this date are still current.",
)
@wait_option
@click.pass_context
def score(ctx: click.Context, as_of: date | None, fmt: str, recompute: bool) -> None:
    """Score every company on every factor as of a date: value, percentile, components, market cap, completeness
    and flags. The table shows percentiles; csv and json carry every column.

    Example: screener score --as-of 2026-05-29 --format csv > scores.csv
    """
    from factors.engine import rests_on_demo, scores_for
    from screener.output import render as output

    # csv and json are written out while a computed set is being saved (``scores_for``'s ``meanwhile``): into
    # memory, and to stdout once the save is done, so an output never precedes a failed save. The table, which
    # reads the terminal, and a stdout that is not UTF-8 are written after the save, as before
    written: list[bytes] = []
    stdout = sys.stdout
    encoding = (getattr(stdout, "encoding", None) or "").lower().replace("-", "").replace("_", "")
    early = fmt != "table" and hasattr(stdout, "buffer") and encoding == "utf8"

    def write_out(frame: pl.DataFrame) -> None:
        text = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
        output.render(frame, fmt, dest=text)
        text.flush()
        written.append(text.buffer.getvalue())  # type: ignore[attr-defined]

    # computing reads; the lock is taken only for the transaction that stores the score set
    with store_from(ctx, "brief") as store:
        frame = scores_for(store, as_of, recompute=recompute, meanwhile=write_out if early else None)
    if rests_on_demo(frame):
        note(DEMO_BANNER)
    if written:
        stdout.flush()
        stdout.buffer.write(written[0])
        stdout.buffer.flush()
    else:
        output.render(table_view(frame) if fmt == "table" else frame, fmt)
    day = frame["as_of"][0].isoformat() if frame.height else ""
    hint = "; the table shows percentiles, use --format csv or json for values and components" if fmt == "table" else ""
    note(f"{frame.height} companies scored as of {day}{hint}")
