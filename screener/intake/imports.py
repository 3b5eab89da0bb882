"""``screener import``: parse, validate and store file by file, all in one transaction.

Why one transaction: an import is a unit. If the third of five files has a bad row, the first two must not be
half-applied, or the store would mix two vintages of the user's data; they are rolled back, and every problem of
every file is still reported together. Why file by file: a directory of 13 million prices is never held whole.
Validation is not optional: every file goes through the suites of ``screener.intake``, as every other load does.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from screener.contract import distinct
from screener.errors import CompletedWithProblems, ScreenerError
from screener.intake import Checked, Intake, Policy, Refused
from screener.providers.files import ContractError, ParsedFile, Problem, expand_paths, read_file, skipped_note
from screener.store import Store

IMPORT_PROVIDER = "file"


#: The import summary's columns: per file, the rows offered, those new to the store, those whose stored values
#: changed, both together (``stored``: what the import wrote), and those validation kept out. A row offered again
#: unchanged is in ``rows`` only, so a re-import of the same files stores 0.
SUMMARY_SCHEMA: dict[str, pl.DataType] = {
    "file": pl.String(),
    "kind": pl.String(),
    "rows": pl.Int64(),
    "inserted": pl.Int64(),
    "updated": pl.Int64(),
    "stored": pl.Int64(),
    "rejected": pl.Int64(),
}


@dataclass
class ImportSummary:
    rows: list[dict[str, object]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rejected: int = 0

    def table(self) -> pl.DataFrame:
        return pl.DataFrame(self.rows, schema=SUMMARY_SCHEMA, orient="row")

    def raise_if_problems(self) -> None:
        if self.rejected:
            raise CompletedWithProblems(
                f"{self.rejected} row(s) failed validation and were quarantined", rejected=self.rejected
            )


class ImportRefused(Refused):
    """A strict import (the ``refuse`` policy) met failing values and stored nothing. ``failures`` lists every one
    (source, row, column, expectation, value) so the caller can show them all; the message is the first one and the
    count."""

    def __init__(self, failures: list[str]) -> None:
        self.failures = failures
        ScreenerError.__init__(self, f"{failures[0]}; nothing was imported ({len(failures)} failing value(s))")


#: How much an import reads ahead while great-expectations loads: every next file (``_held``) until those read
#: ahead hold this much; and how much the files still being written may hold while a file is checked (above it,
#: the check waits for the writes). Why the overlap at all: loading great-expectations is a couple of seconds of
#: Python on another thread, writing is mostly DuckDB, and reading a Parquet or CSV file is mostly polars' own
#: threads, so on two cores each overlaps the others instead of following them.
HELD_BYTES = 128 * 1024 * 1024

#: How much the files still being written may hold while the next file is read (``_Unit.wait_while_holding``):
#: above it, the read waits for the writes. Why this much: a 50,000-company import reads its 13 million prices
#: while its 2.5 million statements (0.27 GB of frames) are written, about a second sooner than one after the
#: other, and stays under its 2 GB ceiling because every write hands back DuckDB's copies of the blocks it wrote
#: (``Store.release_cache``) and the check of the prices waits for the statements' write (``HELD_BYTES``);
#: without those, the two together reached 2.0 to 2.1 GB. Two large frames being written (the prices and the
#: statements) are never held beside a third read.
WRITE_HELD = 512 * 1024 * 1024


def _held(early: dict[int, ParsedFile | Exception]) -> int:
    """The bytes held by the frames of the files read ahead (an error holds none)."""
    return sum(int(pf.frame.estimated_size()) for pf in early.values() if isinstance(pf, ParsedFile))


def _known_splits(store: Store, parsed: Sequence[ParsedFile]) -> pl.DataFrame:
    """Splits that explain jumps in this import: the stored ones, and those the import itself brings."""
    frames = [store.frame("splits").select("symbol", "date", "ratio")]
    frames += [pf.frame.select("symbol", "date", "ratio") for pf in parsed if pf.kind == "splits"]
    return pl.concat(frames).drop_nulls().unique(subset=["symbol", "date"], keep="last", maintain_order=True)


class _ControlCells:
    """The text cells of an import that hold control characters (escape sequences, bidi overrides; tab and newline
    apart), counted file by file, and the first of them: they are stored exactly as given and shown escaped in
    tables, and the user hears once that the files carry them (a pasted terminal colour, a planted hyperlink)."""

    def __init__(self) -> None:
        self.cells = 0
        self.first = ""

    def add(self, pf: ParsedFile) -> None:
        from screener.output.terminal import CONTROL_PATTERN

        for name, dtype in pf.frame.schema.items():
            if dtype != pl.String:
                continue
            column = pf.frame.get_column(name)
            if not distinct(column).str.contains(CONTROL_PATTERN).any():
                continue  # asked of the distinct values first: 13 million symbols are 50,000 values
            hits = column.str.contains(CONTROL_PATTERN).fill_null(False)
            count = int(hits.sum())
            if count and not self.first:
                self.first = f"{pf.path}, row {pf.row_number(int(hits.arg_true()[0]))}, column {name}"
            self.cells += count

    def warning(self) -> str | None:
        if not self.cells:
            return None
        return (
            f"{self.cells} text cell(s) hold control characters, first at {self.first}; "
            "they are stored as given and shown escaped in tables"
        )


@dataclass
class _Found:
    """What a file that cannot be stored leaves for the report once every file is read: its cell problems, the
    spreadsheet rows of its validated rows, and its failing values (its frames are let go)."""

    path: Path
    kind: str
    problems: list[Problem]
    rows: list[int] | None
    failures: pl.DataFrame

    def all_problems(self) -> list[Problem]:
        """The cell problems, then the failing values as problems at the rows the user sees (the rows that failed
        parsing are not in the validated frame, so its row numbers are mapped back)."""
        from screener.contract import KINDS

        names = KINDS[self.kind].names
        said = {(p[0], p[2]) for p in self.problems}  # a cell the contract already named is not repeated
        out: list[Problem] = list(self.problems)
        for r in self.failures.iter_rows(named=True):
            index = int(r["row"]) - 2
            row = self.rows[index] if self.rows is not None else index + 2
            if (row, r["column_name"]) in said:
                continue
            position = names.index(r["column_name"]) if r["column_name"] in names else len(names)
            out.append((row, position, r["column_name"], f"failed {r['expectation']} (value {r['value']!r})"))
        return out


class _Refusal(ScreenerError):
    """What rolls back the writes of an import that is then refused with every problem (never raised)."""


@dataclass
class _Write:
    """One file's write, queued for the writing thread: ``admit``'s answer once it ran (None while it has not, or
    when it failed or was skipped after a failure)."""

    path: Path
    kind: str
    checked: Checked | None
    policy: Policy
    done: Intake | None = None
    size: int = 0  # the bytes its frame holds until it is written


class _Unit:
    """The import's one transaction, opened at its first write and left open while the next file is read, and the
    thread that writes into it.

    Why a thread: a write is mostly DuckDB, which lets the interpreter go, and reading and checking the next file
    is mostly polars, pandas and great-expectations; on two cores they overlap instead of following each other.
    The writes run one at a time, in file order, on that one thread, and nothing else uses the store until they
    are all done (``finish``), so the store is never used by two threads at once. The transaction is opened,
    committed and rolled back by the importing thread.

    A write that fails (the write lock not free, a full disk) ends the writing: the writes queued after it are
    skipped, nothing more is started, and the transaction is rolled back once the writes in flight ended. The
    files are still read and checked: their problems are what the user must hear first, as when every file was
    read before the first write. ``error`` is what the failed write raised, ``failed_at`` its file's position."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.error: BaseException | None = None
        self.failed_at: int | None = None
        self.writes: list[_Write] = []
        self._open: AbstractContextManager[Store] | None = None
        self._queue: queue.Queue[tuple[int, _Write] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._failure: tuple[int, BaseException] | None = None  # set by the writing thread
        self._skip = False  # set when the import is abandoned: the queued writes are not run

    @property
    def failed(self) -> bool:
        """Whether a write failed: then nothing more is started."""
        return self.error is not None or self._failure is not None

    def start(self, index: int, path: Path, checked: Checked, policy: Policy) -> None:
        """Queue the write of one file's checked rows (``intake.admit``); nothing once a write failed."""
        if self.failed:
            return
        try:
            if self._open is None:
                opened = self.store.transaction(inputs=False)
                opened.__enter__()
                self._open = opened
        except Exception as exc:  # raised once every file is read
            self.failed_at = index
            self.error = self.abandon(exc)
            return
        write = _Write(path, checked.kind, checked, policy, size=int(checked.passing.estimated_size()))
        self.writes.append(write)
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="import-write", daemon=True)
            self._thread.start()
        self._queue.put((index, write))

    def _work(self) -> None:
        """The writing thread: run the queued writes in order until the end of the queue (None)."""
        from screener.intake import admit

        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                index, write = item
                checked, write.checked = write.checked, None  # its frames go once it is written
                if self._skip or self._failure is not None or checked is None:
                    continue
                try:
                    write.done = admit(self.store, checked, IMPORT_PROVIDER, origin="user", policy=write.policy)
                    # the blocks just written are in the file: DuckDB's copies of them are not held beside the
                    # next, larger file while it is read and checked
                    self.store.release_cache()
                except BaseException as exc:  # handed to the importing thread, which raises or reports it
                    self._failure = (index, exc)
                del checked
            finally:
                if item is not None:
                    item[1].size = 0
                self._queue.task_done()

    def wait_while_holding(self, limit: int) -> None:
        """Wait for the queued writes when their frames hold ``limit`` bytes or more (``WRITE_HELD``)."""
        if self._thread is not None and sum(w.size for w in self.writes) >= limit:
            self._queue.join()

    def _wait(self) -> None:
        """Wait until the queued writes ran (or were skipped), then let the thread end."""
        if self._thread is None:
            return
        self._queue.join()
        self._queue.put(None)
        self._thread.join()
        self._thread = None

    def finish(self) -> None:
        """Wait for every queued write; a failed one rolls the transaction back and leaves its error in ``error``."""
        self._wait()
        if self._failure is not None and self.error is None:
            (self.failed_at, failure), self._failure = self._failure, None
            self.error = self.abandon(failure)

    def abandon(self, exc: BaseException) -> BaseException:
        """Roll back what was written (nothing is kept of a failed import), once the write in flight ended (the
        queued ones are skipped); return the error to raise: ``exc``, or what the rollback raised instead."""
        self._skip = True
        self._wait()
        opened, self._open = self._open, None
        if opened is None:
            return exc
        try:
            opened.__exit__(type(exc), exc, exc.__traceback__)
        except BaseException as other:  # the transaction's own error replaces exc, as in a ``with``
            return other
        return exc

    def rollback(self) -> None:
        """Undo what was written: the import is refused."""
        self.abandon(_Refusal())

    def commit(self) -> None:
        opened, self._open = self._open, None
        if opened is not None:
            opened.__exit__(None, None, None)


def import_paths(
    store: Store,
    paths: Sequence[str | Path],
    *,
    kind: str | None = None,
    quarantine: bool = False,
    today: date | None = None,
    note: Callable[[str], None] | None = None,
) -> ImportSummary:
    """Parse, validate and store the files one by one in one transaction (``intake.check`` then ``intake.admit``).

    Without ``quarantine`` any failing value refuses the whole import (every failure is listed); with it, the
    passing rows are stored and the failing ones recorded. A user's import is provider ``file``, the top of the
    provider precedence, so no stored row keeps it out. ``note`` receives the warnings and notes (files with
    symbols outside the universe, demo rows replaced, rows kept out); a library caller that passes nothing sees
    none, the CLI prints them on stderr. A refused import raises ``ImportRefused``.

    Why file by file: each file's frames are let go once it is stored, so a directory of 13 million prices and 2.5
    million fundamentals is never held whole. The import stays a unit: once a file cannot be stored (a cell that
    cannot be read, a refused value) nothing more is written and the transaction is rolled back, but every later
    file is still read and checked, so every problem of every file is reported together, as before any write. The
    warnings are said once every file passed, in file order, and what was stored only after the commit.
    """
    from screener.intake import check, refuse_failing

    policy: Policy = "quarantine" if quarantine else "refuse"
    strict = not quarantine
    pairs, skipped = expand_paths(paths, kind)
    from screener.validation.runner import ready, warm_up

    warm_up()  # great-expectations loads on another thread while the first files are read
    # The splits an import brings explain the jumps of the prices before them in file order: they are read first.
    # A splits file that cannot be read at all raises at its turn, so the user hears of the first such file.
    early: dict[int, ParsedFile | Exception] = {}

    def read_early(i: int) -> None:
        """Read file ``i`` before its turn; an error is kept and raised at its turn, so problems keep file order."""
        try:
            early[i] = read_file(*pairs[i], strict=strict, collect=True)
        except Exception as exc:  # raised at its turn, below
            early[i] = exc

    for i, (_path, k) in enumerate(pairs):
        if k == "splits":
            read_early(i)
    splits = _known_splits(store, [pf for pf in early.values() if isinstance(pf, ParsedFile)])
    known = store.company_symbols()
    summary = ImportSummary()
    control = _ControlCells()
    found: list[_Found] = []
    refused: list[Checked] = []
    unreadable = False
    # Said in this order once every file passed: the files' warnings, symbols outside the universe (as each file
    # was queued for writing; up to the one whose write failed), and after the commit what the writes did.
    outside: list[tuple[int, str]] = []
    unit = _Unit(store)
    try:
        for i, (path, k) in enumerate(pairs):
            if i not in early:
                unit.wait_while_holding(WRITE_HELD)  # a large frame being written is not held beside this read
            got = early.pop(i) if i in early else read_file(path, k, strict=strict, collect=True)
            if isinstance(got, Exception):
                raise got
            pf = got
            if i == 0 and skipped:
                pf.warnings.append(skipped_note(skipped))
            summary.warnings.extend(pf.warnings)
            ahead = i + 1
            while not ready() and ahead < len(pairs) and _held(early) < HELD_BYTES:
                # great-expectations is still loading: the next files are read meanwhile, instead of after this
                # file's checks waited for it; reading stops once the files read ahead hold HELD_BYTES
                if ahead not in early:
                    read_early(ahead)
                ahead += 1
            # a check's own copies (derived columns, great-expectations' frames) are not made beside a large frame
            # still being written: the read overlapped that write, the check waits for it
            unit.wait_while_holding(HELD_BYTES)
            checked = check(pf.kind, pf.frame, str(pf.path), today=today, splits=splits, spacing=pf.spacing)
            control.add(pf)
            if pf.problems or checked.failures.height:
                found.append(_Found(pf.path, pf.kind, pf.problems, pf.rows, checked.failures))
            unreadable = unreadable or bool(pf.problems)
            if policy == "refuse" and checked.failures.height:
                refused.append(Checked(checked.kind, checked.source, pl.DataFrame(), checked.failures))
            if unreadable or refused or unit.failed:
                continue  # nothing more is written: the files are read on only to report every problem
            frame = checked.passing
            if pf.kind == "companies":
                # the universe as the next files see it, once this file is written (if its write fails, nothing
                # is written after it and the lines said about later files are dropped, below)
                known |= set(frame["symbol"].to_list())
            elif "symbol" in frame.columns:
                introduced = set(distinct(frame.get_column("symbol")).drop_nulls().to_list()) - {"*"}
                unknown = sorted(introduced - known)
                if unknown:
                    outside.append(
                        (
                            i,
                            f"Warning: {pf.path}: {len(unknown)} symbol(s) not in the universe, e.g. "
                            f"{', '.join(unknown[:5])}; add them with a companies file to score them",
                        )
                    )
            # A missing cell (or column) means "unknown": it never erases what the user's own import stored. The
            # write runs on the writing thread while the next file is read and checked.
            unit.start(i, pf.path, checked, policy)
            del pf, got, checked, frame  # only the queued write holds this file's frames now, until it ran
        unit.finish()
    except BaseException as exc:
        error = unit.abandon(exc)  # nothing of the import is kept
        if error is exc:
            raise
        raise error from exc
    if unreadable or refused:
        unit.rollback()
    if unreadable:
        # A cell that cannot be parsed refuses the import under either policy; its row is left out of validation,
        # the other rows are validated, and every problem of every file is reported together, in one pass.
        raise ContractError(found[0].path, found[0].all_problems(), *((f.path, f.all_problems()) for f in found[1:]))
    # Every file was checked before the refusal: an import is a unit, and its report names every failing value.
    refuse_failing(refused, ImportRefused)
    say = note or (lambda _msg: None)
    warning = control.warning()
    if warning:
        summary.warnings.append(warning)
    for w in summary.warnings:
        say(f"Warning: {w}")
    for index, line in outside:
        if unit.failed_at is None or index <= unit.failed_at:
            say(line)
    if unit.error is not None:
        raise unit.error
    # What a load did (demo rows replaced, rows kept out) is said only once the transaction committed: an import
    # that fails at its commit (a full disk) stored nothing and must not have said otherwise first. Each write says
    # whether it changed anything (``Store.mark_inputs_changed``): an import of files stored already commits
    # without bumping the data version, so the stored scores stay current.
    unit.commit()
    for write in unit.writes:
        done = write.done
        if done is None:
            continue
        summary.rejected += done.rejected
        summary.rows.append(
            {
                "file": str(write.path),
                "kind": write.kind,
                "rows": done.rows,
                "inserted": done.inserted,
                "updated": done.updated,
                "stored": done.inserted + done.updated,
                "rejected": done.rejected,
            }
        )
        if done.dropped:
            say(
                f"Note: {write.path}: replaced {done.dropped} synthetic demo row(s) of the same series, so real and "
                "demo numbers never mix"
            )
        if done.kept_out:
            say(f"Note: {write.path}: {done.kept_out} row(s) kept out: a provider of higher precedence stored them")
    return summary
