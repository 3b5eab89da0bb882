"""The one way rows enter the store: validate a frame with its kind's suite, record what fails, store the rest.

Why one path: a check that one loader skips is a check the store cannot promise. Import, refresh, the demo
generator and ``init`` all call ``intake`` (or ``check`` then ``admit``, when a caller validates a batch once and
stores it in parts, as import and refresh do), so every stored row passed the same suites. The failure policy is
the caller's choice and nobody else's: ``refuse`` raises ``Refused`` with every failure and stores nothing,
``quarantine`` stores the passing rows and records every row kept out in the rejected-rows ledger with its reason.
No other module writes a contract kind (a test scans the source for it).

Costs: great_expectations is imported on the first check (a few seconds, once per process); a check costs about
0.1 s per 10 000 rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import Literal

import polars as pl

from screener.errors import ScreenerError
from screener.store import Store, UpsertResult, utcnow

#: What a load does with rows that fail validation: ``refuse`` stores nothing and raises ``Refused``;
#: ``quarantine`` stores the passing rows and records the failing ones in the rejected-rows ledger.
Policy = Literal["refuse", "quarantine"]
POLICIES: tuple[Policy, ...] = ("refuse", "quarantine")

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
        return (self.failures["row"].cast(pl.Int64).unique().sort() - 2).to_list()

    @property
    def rejected(self) -> int:
        return len(self.failing_rows)

    @cached_property
    def passing(self) -> pl.DataFrame:
        if not self.failing_rows:
            return self.frame
        return self.frame.with_row_index("_r").filter(~pl.col("_r").is_in(self.failing_rows)).drop("_r")

    def part(self, rows: pl.Expr, source: str) -> Checked:
        """The rows matching ``rows`` with their own failures (renumbered, labelled ``source``): a batch validated
        once is stored in parts, each part admitted on its own (refresh stores each symbol in its transaction)."""
        indexed = self.frame.with_row_index("_r").filter(rows)
        renumber = {old + 2: new + 2 for new, old in enumerate(indexed["_r"].to_list())}
        failures = self.failures
        if failures.height:
            failures = failures.filter(pl.col("row").cast(pl.Int64).is_in(list(renumber))).with_columns(
                pl.col("row").cast(pl.Int64).replace_strict(renumber, return_dtype=failures.schema["row"]),
                pl.lit(source).alias("source"),
            )
        return Checked(self.kind, source, indexed.drop("_r"), failures)

    def lines(self) -> list[str]:
        """Every failing value as one readable line: source, row, column, expectation and value."""
        return [
            f"{r['source']}, row {r['row']}, column {r['column_name']}: failed {r['expectation']} "
            f"(value {r['value']!r})"
            for r in self.failures.iter_rows(named=True)
        ]


class Refused(ScreenerError):
    """A load under the ``refuse`` policy met failing values and stored nothing. ``failures`` lists every one
    (source, row, column, expectation, value) so the caller can show them all; the message is the first one and
    the count."""

    def __init__(self, failures: list[str]) -> None:
        self.failures = failures
        super().__init__(f"{failures[0]}; nothing was stored ({len(failures)} failing value(s))")


def refuse_failing(checked: Iterable[Checked], error: type[Refused] = Refused) -> None:
    """Raise ``error`` with every failure of every frame, if any failed: the ``refuse`` policy over a whole load,
    checked before the first row is written."""
    lines = [line for c in checked for line in c.lines()]
    if lines:
        raise error(lines)


@dataclass(frozen=True)
class Intake:
    """What one load did: rows offered, stored, rejected by validation, kept out by a higher-precedence provider,
    and synthetic demo rows dropped because real rows of the same series arrived; of the stored rows, those new to
    the store (``inserted``) and those whose values changed (``updated``), the others being stored unchanged."""

    kind: str
    source: str
    rows: int
    stored: int
    rejected: int
    kept_out: int
    dropped: int
    inserted: int = 0
    updated: int = 0


def check(
    kind: str,
    frame: pl.DataFrame,
    source: str,
    *,
    today: date | None = None,
    splits: pl.DataFrame | None = None,
    spacing: pl.DataFrame | None = None,
) -> Checked:
    """Validate ``frame`` with the suite of ``kind``; ``splits`` (symbol, date, ratio) explain price and share jumps;
    ``spacing`` is the frame's period spacing when its parse computed it (``ParsedFile.spacing``)."""
    from screener.validation import validate_frame

    failures = (
        validate_frame(kind, frame, source, today=today, splits=splits, spacing=spacing)
        if frame.height
        else pl.DataFrame()
    )
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
    policy: Policy = "quarantine",
) -> Intake:
    """Apply ``policy`` to the failures, then store the passing rows (``Store.upsert_real`` unless ``write`` is
    given), record the failing ones in the ledger, and log the load; all in one transaction. Storing first resolves
    earlier rejections of the keys it stores, so a rejection recorded now is never resolved by the same load.
    Under ``refuse``, a failure raises ``Refused`` before anything is written."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}, not {policy!r}")
    if policy == "refuse":
        refuse_failing([checked])
    stamp = loaded_at or utcnow()
    passing = checked.passing
    # The store's own write says whether it changed score inputs (a load of rows stored already changes nothing,
    # and stored scores stay current); a custom writer is trusted to have changed them.
    with store.transaction(inputs=write is not None):
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
        result.inserted,
        result.updated,
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
    policy: Policy = "quarantine",
) -> Intake:
    """Validate ``frame`` and store it under ``policy``: ``admit(store, check(...), ...)``. Without ``splits``, the
    stored splits explain jumps."""
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
        policy=policy,
    )
