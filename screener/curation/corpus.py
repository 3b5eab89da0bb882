"""The bundled labelled corpus (``data/descriptions.csv``): short descriptions with their roles and exposure band.

Why bundled: a fresh store knows too few tagged companies for a classifier to learn every role (the rare ones have a
handful of members), so the product ships descriptions of every bundled company and of further companies across
every role, written for this purpose from sourced facts. The file is validated like every other input before a
model learns from it.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from screener.errors import ScreenerError
from screener.paths import bundled_data_dir

CORPUS_FILE = "descriptions.csv"
#: The corpus columns, in file order.
CORPUS_COLUMNS: tuple[str, ...] = ("symbol", "name", "description", "roles", "exposure_band", "source")


def corpus_path() -> Path:
    """Where the bundled corpus lives (inside the package when installed, ``data/`` in a checkout)."""
    return bundled_data_dir() / CORPUS_FILE


def read_corpus(path: Path | None = None) -> tuple[pl.DataFrame, bytes]:
    """The corpus as text columns, and its raw bytes (the model cache hashes them).

    A missing file or column is an error naming the file: without the corpus no model can be learnt."""
    path = path or corpus_path()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ScreenerError(f"cannot read the labelled corpus {path.name}: {exc.strerror or exc}") from exc
    try:
        frame = pl.read_csv(raw, infer_schema=False)
    except Exception as exc:  # polars raises several error types for a malformed CSV
        raise ScreenerError(f"cannot parse the labelled corpus {path.name}: {str(exc).splitlines()[0]}") from exc
    missing = [c for c in CORPUS_COLUMNS if c not in frame.columns]
    if missing:
        raise ScreenerError(f"the labelled corpus {path.name} lacks column(s) {', '.join(missing)}")
    return frame.select(CORPUS_COLUMNS), raw


def check_corpus(frame: pl.DataFrame, source: str = CORPUS_FILE) -> None:
    """Run the ``descriptions`` validation suite; the first failing value becomes a one-line error.

    Why refuse rather than skip rows: the corpus ships with the product, so a failing row is a defect to fix, and a
    model learnt from part of it would differ silently from the documented figures."""
    from screener.validation import validate_frame

    fails = validate_frame("descriptions", frame, source)
    if fails.height:
        first = fails.row(0, named=True)
        more = f" (and {fails.height - 1} more)" if fails.height > 1 else ""
        raise ScreenerError(
            f"{source} row {first['row']} ({first['key']}): {first['column_name']} = {first['value']!r} fails "
            f"{first['expectation']}{more}"
        )
