"""The one way rows enter the store: validate a frame with its kind's suite, record what fails, store the rest.

Why one path: a check that one loader skips is a check the store cannot promise. Import, the demo generator and
``init`` all call ``intake`` (or ``check`` then ``admit``, when a caller must see every failure before anything is
written, as import does), so every stored row passed the same suites, and every row kept out is in the
rejected-rows ledger with its reason. ``refresh`` validates with the same ``validate_frame`` and writes through the
same ``Store.upsert_real``.

Costs: great_expectations is imported on the first check (a few seconds, once per process); a check costs about
0.1 s per 10 000 rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property

import polars as pl

from screener.store import Store, UpsertResult, utcnow

#: A custom write (``init`` keeps user-owned rows its own way): given the passing rows, store them and resolve
#: their earlier rejections (``Store.resolve_rejections``).
Writer = Callable[[pl.DataFrame], UpsertResult]


@dataclass(frozen=True)
class Checked:
    """A frame and its failing values (``validate_frame``'s columns). ``passing`` is the frame without every row
    that failed any check."""

    kind: str
    source: str
    frame: pl.DataFrame
    failures: pl.DataFrame

    @cached_property
    def failing_rows(self) -> list[int]:
        """0-based indices of the rows that failed a check."""
        if self.failures.height == 0:
            return []
        return sorted({int(r) - 2 for r in self.failures["row"].to_list()})

    @property
    def rejected(self) -> int:
        return len(self.failing_rows)

    @cached_property
    def passing(self) -> pl.DataFrame:
        if not self.failing_rows:
            return self.frame
        return self.frame.with_row_index("_r").filter(~pl.col("_r").is_in(self.failing_rows)).drop("_r")


@dataclass(frozen=True)
class Intake:
    """What one load did: rows offered, stored, rejected by validation, kept out by a higher-precedence provider,
    and synthetic demo rows dropped because real rows of the same series arrived."""

    kind: str
    source: str
    rows: int
    stored: int
    rejected: int
    kept_out: int
    dropped: int


def check(
    kind: str, frame: pl.DataFrame, source: str, *, today: date | None = None, splits: pl.DataFrame | None = None
) -> Checked:
    """Validate ``frame`` with the suite of ``kind``; ``splits`` (symbol, date, ratio) explain price and share jumps."""
    from screener.validation import validate_frame

    failures = validate_frame(kind, frame, source, today=today, splits=splits) if frame.height else pl.DataFrame()
    return Checked(kind, source, frame, failures)


def admit(
    store: Store,
    checked: Checked,
    provider: str,
    *,
    origin: str = "user",
    loaded_at: datetime | None = None,
    override: bool = False,
    write: Writer | None = None,
    log: bool = True,
) -> Intake:
    """Store the passing rows (``Store.upsert_real`` unless ``write`` is given), record the failing ones in the
    ledger, and log the load; all in one transaction. Storing first resolves earlier rejections of the keys it
    stores, so a rejection recorded now is never resolved by the same load."""
    stamp = loaded_at or utcnow()
    passing = checked.passing
    with store.transaction():
        if write is not None:
            result = write(passing)
        else:
            result = store.upsert_real(
                checked.kind, passing, provider, origin=origin, loaded_at=stamp, override=override
            )
        if checked.failures.height:
            store.record_rejections(checked.failures.drop("row"), provider=provider)
        if log:
            status = "rejected" if checked.rejected else "ok"
            notes = []
            if result.kept_out:
                notes.append(f"{result.kept_out} row(s) kept out: a provider of higher precedence stored them")
            if result.dropped:
                notes.append(f"{result.dropped} synthetic demo row(s) of the same series dropped")
            store.log_ingest(
                provider=provider,
                status=status,
                kind=checked.kind,
                source=checked.source,
                rows_in=checked.frame.height,
                rows_stored=result.stored,
                rows_rejected=checked.rejected,
                message="; ".join(notes) or None,
            )
    return Intake(
        checked.kind,
        checked.source,
        checked.frame.height,
        result.stored,
        checked.rejected,
        result.kept_out,
        result.dropped,
    )


def intake(
    store: Store,
    kind: str,
    frame: pl.DataFrame,
    provider: str,
    *,
    source: str,
    origin: str = "user",
    loaded_at: datetime | None = None,
    override: bool = False,
    today: date | None = None,
    splits: pl.DataFrame | None = None,
    write: Writer | None = None,
) -> Intake:
    """Validate ``frame`` and store what passes: ``admit(store, check(...), ...)``. Without ``splits``, the stored
    splits explain jumps."""
    if splits is None and kind in ("prices", "fundamentals"):
        splits = store.frame("splits")
    return admit(
        store,
        check(kind, frame, source, today=today, splits=splits),
        provider,
        origin=origin,
        loaded_at=loaded_at,
        override=override,
        write=write,
    )
