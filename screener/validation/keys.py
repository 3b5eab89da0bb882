"""How a row is named in reports and in the rejected-rows ledger: its key values joined by ``/``.

Why one vectorised function: validation writes these names when it keeps a row out, and the store matches them when
a later load stores the same key (that resolves the rejection). Both sides must format a key identically, so they
share this code; it is plain polars, cheap to import from the store.
"""

from __future__ import annotations

import polars as pl

from screener.validation.suites import key_columns

#: Longer key parts (an event's description) are cut to this many characters, with an ellipsis.
KEY_PART_CHARS = 40


def _part(frame: pl.DataFrame, column: str) -> pl.Expr:
    dtype = frame.schema[column]
    if dtype == pl.Date:
        text = pl.col(column).dt.strftime("%Y-%m-%d")
    elif isinstance(dtype, pl.Datetime):
        text = pl.col(column).dt.strftime("%Y-%m-%dT%H:%M:%S")
    else:
        text = pl.col(column).cast(pl.String)
    text = text.fill_null("")
    return (
        pl.when(text.str.len_chars() > KEY_PART_CHARS)
        .then(text.str.slice(0, KEY_PART_CHARS - 1) + pl.lit("…"))
        .otherwise(text)
    )


def key_strings(kind: str, frame: pl.DataFrame) -> pl.Series:
    """Every row's key as ``MP/2025-06-30/FY`` (key columns the frame lacks are left out), in row order."""
    parts = [_part(frame, c) for c in key_columns(kind) if c in frame.columns]
    if not parts:
        return pl.Series("key", [""] * frame.height, dtype=pl.String)
    return frame.select(pl.concat_str(parts, separator="/").alias("key")).to_series()
