"""Validation gates: a great-expectations suite per kind, run before anything reaches the store.

- ``validate_frame(kind, frame, source, *, today, splits)``: the failing values of one frame, each named by row,
  key, column and expectation. ``today`` bounds dates (default: the machine's date); ``splits`` (symbol, date,
  ratio) are the known splits, which explain price and share-count jumps. Every load goes through
  ``screener.intake``, which keeps failing rows out and records them; ``import`` refuses the file instead (or, with
  ``--quarantine``, stores the rest).
- ``checked(kind, frame, splits, *, today)``: the frame with its derived columns and every check's result, in the
  suite's order: what ``validate_frame`` reports from (the two halves of the checks run side by side).
- ``validate_parsed(parsed, *, today, splits)``: the same per imported file.
- ``validate_store(store, *, today)``: every suite over what is stored (with the stored splits), for
  ``screener validate``, including the refresh subjects whose latest answer was empty.

The suites themselves are data in ``suites.py``; the cross-row columns they check are computed in ``derived.py``;
great_expectations is imported only when a check runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from screener.validation.suites import SUITE_KINDS, Check, checks_for, key_columns

if TYPE_CHECKING:
    from screener.providers.files import ParsedFile
    from screener.store import Store
    from screener.validation.runner import CheckResult

__all__ = [
    "SUITE_KINDS",
    "Check",
    "StoreValidation",
    "checked",
    "checks_for",
    "key_columns",
    "validate_frame",
    "validate_parsed",
    "validate_store",
]

SUMMARY_SCHEMA: dict[str, type[pl.DataType]] = {
    "kind": pl.String,
    "expectation": pl.String,
    "column_name": pl.String,
    "checked": pl.Int64,
    "failed": pl.Int64,
    "failing_keys": pl.String,
}
#: How many failing keys a summary row names before it says "and N more".
KEYS_SHOWN = 10


def validate_frame(
    kind: str,
    frame: pl.DataFrame,
    source: str,
    *,
    today: date | None = None,
    splits: pl.DataFrame | None = None,
    spacing: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Failing values of ``frame`` against the suite of ``kind``: columns source, row (0-based index + 2, the
    spreadsheet row), kind, key, expectation, column_name, value. Empty when every row passes. ``spacing``: the
    period spacing of this frame computed already (``derived.derive``)."""
    from screener.validation.runner import failures_frame

    derived, results = checked(kind, frame, splits, spacing=spacing, today=today)
    return failures_frame(kind, derived, results, source)


def checked(
    kind: str,
    frame: pl.DataFrame,
    splits: pl.DataFrame | None = None,
    *,
    spacing: pl.DataFrame | None = None,
    today: date | None = None,
) -> tuple[pl.DataFrame, list[CheckResult]]:
    """``frame`` with its derived columns (``derived.derive``) and the results of every check of its kind, in the
    suite's order.

    Why two threads: the checks on the frame's own columns (great-expectations, mostly Python holding the
    interpreter) do not need the derived columns, and computing those (polars, which lets the interpreter go) does
    not need the checks; run side by side they take a 50,000-company import's statements and prices through
    validation about a third of a second sooner each, on two cores. The checks on derived columns run after.
    The results are the ones one after the other gives (the same checks on the same values), in the same order."""
    import threading

    from screener.validation.derived import derive
    from screener.validation.runner import run_checks

    today = today or date.today()  # both halves check against one day, even across midnight
    made: list[pl.DataFrame | BaseException] = []

    def derived_columns() -> None:
        try:
            made.append(derive(kind, frame, splits, spacing=spacing))
        except BaseException as exc:  # raised by the caller's thread, below
            made.append(exc)

    worker = threading.Thread(target=derived_columns, name="validate-derive", daemon=True)
    worker.start()
    try:
        own = run_checks(kind, frame, today)
    finally:
        worker.join()
    if isinstance(made[0], BaseException):
        raise made[0]
    derived = made[0]
    rest = run_checks(kind, derived, today, skip=frame.columns)
    order = {c.match_key: i for i, c in enumerate(checks_for(kind, today))}
    return derived, sorted([*own, *rest], key=lambda r: order[r.check.match_key])


def validate_parsed(
    parsed: Sequence[ParsedFile], *, today: date | None = None, splits: pl.DataFrame | None = None
) -> dict[Path, pl.DataFrame]:
    """Failing values per imported file (an empty frame for a clean file)."""
    return {pf.path: validate_frame(pf.kind, pf.frame, str(pf.path), today=today, splits=splits) for pf in parsed}


@dataclass
class StoreValidation:
    summary: pl.DataFrame  # one row per kind and expectation
    failures: pl.DataFrame  # one row per failing value

    @property
    def failed(self) -> int:
        return self.failures.height


def _stored_frames(store: Store) -> dict[str, pl.DataFrame]:
    from screener.validation.market_cap import stored_market_caps

    frames = {kind: store.frame(kind) for kind in ("companies", "fundamentals", "prices", "fx", "events", "splits")}
    frames["profiles"] = store.profiles()
    frames["shares"] = store.share_history()
    frames["market_cap"] = stored_market_caps(store)
    frames["refresh"] = store.refresh_state().select("subject", "part", "status", "empty_since", "message")
    frames["headlines"] = store.stored_headlines().drop("loaded_at", "accepted")
    return frames


def validate_store(
    store: Store, *, today: date | None = None, progress: Callable[[str, int, int], None] | None = None
) -> StoreValidation:
    """Re-run every suite over what is stored. Sorted by kind (suite order) and check order, so the report is
    the same every time for the same data. ``progress`` receives ``(kind, done, total)`` as each kind starts and
    ``("", total, total)`` at the end: a store of years of prices takes a while, and the library draws nothing."""
    from screener.validation.runner import FAILURE_SCHEMA, failures_frame

    tell = progress or (lambda _label, _done, _total: None)
    summary_rows = []
    failures = []
    frames = _stored_frames(store)
    splits = frames["splits"]
    for done, (kind, frame) in enumerate(frames.items()):
        tell(kind, done, len(frames))
        derived, results = checked(kind, frame, splits, today=today)
        fails = failures_frame(kind, derived, results, f"store:{kind}")
        failures.append(fails)
        for res in results:
            part = failures_frame(kind, derived, [res], f"store:{kind}")
            keys = sorted(set(part["key"].to_list()))
            shown = "; ".join(keys[:KEYS_SHOWN]) + (
                f"; ... and {len(keys) - KEYS_SHOWN} more" if len(keys) > KEYS_SHOWN else ""
            )
            summary_rows.append(
                {
                    "kind": kind,
                    "expectation": res.check.label,
                    "column_name": res.check.column_name,
                    "checked": res.checked,
                    "failed": len(res.failed_rows),
                    "failing_keys": shown or None,
                }
            )
    tell("", len(frames), len(frames))
    summary = pl.DataFrame(summary_rows, schema=SUMMARY_SCHEMA, orient="row")
    all_failures = pl.concat(failures) if failures else pl.DataFrame(schema=FAILURE_SCHEMA)
    return StoreValidation(summary=summary, failures=all_failures)
