"""``screener import``: parse every file, validate, then store everything in one transaction.

Why parse everything before writing anything: an import is a unit. If the third of five files has a bad row, the
first two must not be half-applied, or the store would mix two vintages of the user's data. Validation is not
optional: every file goes through the suites of ``screener.intake``, as every other load does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from screener.errors import CompletedWithProblems, ScreenerError
from screener.intake import Checked, Policy, Refused
from screener.providers.files import ContractError, ParsedFile, Problem, read_paths
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


def _known_splits(store: Store, parsed: Sequence[ParsedFile]) -> pl.DataFrame:
    """Splits that explain jumps in this import: the stored ones, and those the import itself brings."""
    frames = [store.frame("splits").select("symbol", "date", "ratio")]
    frames += [pf.frame.select("symbol", "date", "ratio") for pf in parsed if pf.kind == "splits"]
    return pl.concat(frames).drop_nulls().unique(subset=["symbol", "date"], keep="last", maintain_order=True)


def _validation_problems(pf: ParsedFile, checked: Checked) -> list[Problem]:
    """The failing values of a file's parsed rows as problems at the rows the user sees (the rows that failed
    parsing are not in the validated frame, so its row numbers are mapped back)."""
    from screener.contract import KINDS

    names = KINDS[pf.kind].names
    said = {(p[0], p[2]) for p in pf.problems}  # a cell the contract already named is not repeated
    out = []
    for r in checked.failures.iter_rows(named=True):
        row = pf.row_number(int(r["row"]) - 2)
        if (row, r["column_name"]) in said:
            continue
        position = names.index(r["column_name"]) if r["column_name"] in names else len(names)
        out.append((row, position, r["column_name"], f"failed {r['expectation']} (value {r['value']!r})"))
    return out


def _control_text(parsed: Sequence[ParsedFile]) -> str | None:
    """One warning for every text cell of the import that holds control characters (escape sequences, bidi
    overrides; tab and newline apart), naming the first: they are stored exactly as given and shown escaped in
    tables, and the user hears once that the file carries them (a pasted terminal colour, a planted hyperlink)."""
    from screener.output.terminal import CONTROL_PATTERN

    cells, first = 0, ""
    for pf in parsed:
        for name, dtype in pf.frame.schema.items():
            if dtype != pl.String:
                continue
            column = pf.frame.get_column(name)
            if not column.unique().str.contains(CONTROL_PATTERN).any():
                continue  # asked of the distinct values first: 13 million symbols are 50,000 values
            hits = column.str.contains(CONTROL_PATTERN).fill_null(False)
            count = int(hits.sum())
            if count and not first:
                first = f"{pf.path}, row {pf.row_number(int(hits.arg_true()[0]))}, column {name}"
            cells += count
    if not cells:
        return None
    return (
        f"{cells} text cell(s) hold control characters, first at {first}; "
        "they are stored as given and shown escaped in tables"
    )


def import_paths(
    store: Store,
    paths: Sequence[str | Path],
    *,
    kind: str | None = None,
    quarantine: bool = False,
    today: date | None = None,
    note: Callable[[str], None] | None = None,
) -> ImportSummary:
    """Parse every file, validate every file, then store them all in one transaction through ``intake.admit``.

    Without ``quarantine`` any failing value refuses the whole import (every failure is listed); with it, the
    passing rows are stored and the failing ones recorded. A user's import is provider ``file``, the top of the
    provider precedence, so no stored row keeps it out. ``note`` receives the warnings and notes as they happen
    (files with symbols outside the universe, demo rows replaced, rows kept out); a library caller that passes
    nothing sees none, the CLI prints them on stderr. A refused import raises ``ImportRefused``.
    """
    from screener.intake import admit, check, refuse_failing

    policy: Policy = "quarantine" if quarantine else "refuse"
    parsed = read_paths(paths, kind, strict=not quarantine, collect=True)
    summary = ImportSummary()
    for pf in parsed:
        summary.warnings.extend(pf.warnings)
    splits = _known_splits(store, parsed)
    checked = [check(pf.kind, pf.frame, str(pf.path), today=today, splits=splits, spacing=pf.spacing) for pf in parsed]
    if any(pf.problems for pf in parsed):
        # A cell that cannot be parsed refuses the import under either policy; its row is left out of validation,
        # the other rows are validated, and every problem of every file is reported together, in one pass.
        found = [
            (pf.path, [*pf.problems, *_validation_problems(pf, c)])
            for pf, c in zip(parsed, checked, strict=True)
            if pf.problems or c.failures.height
        ]
        raise ContractError(found[0][0], found[0][1], *found[1:])
    if policy == "refuse":
        # Every file is checked before the first is stored: an import is a unit.
        refuse_failing(checked, ImportRefused)
    say = note or (lambda _msg: None)
    control = _control_text(parsed)
    if control:
        summary.warnings.append(control)
    for w in summary.warnings:
        say(f"Warning: {w}")
    known = store.company_symbols()
    # What a load did (demo rows replaced, rows kept out) is said only once the transaction committed: an import
    # that fails at its commit (a full disk) stored nothing and must not have said otherwise first.
    done_notes: list[str] = []
    # Each write says whether it changed anything (``Store.mark_inputs_changed``): an import of files stored
    # already commits without bumping the data version, so the stored scores stay current.
    with store.transaction(inputs=False):
        # each file's frames are let go once stored, so the next, larger one is stored beside fewer of them
        pending = list(zip(parsed, checked, strict=True))
        parsed, checked = [], []
        while pending:
            pf, c = pending.pop(0)
            frame = c.passing
            if pf.kind != "companies" and "symbol" in frame.columns:
                introduced = set(frame.filter(pl.col("symbol") != "*")["symbol"].unique().to_list())
                unknown = sorted(introduced - known)
                if unknown:
                    say(
                        f"Warning: {pf.path}: {len(unknown)} symbol(s) not in the universe, e.g. "
                        f"{', '.join(unknown[:5])}; add them with a companies file to score them"
                    )
            # A missing cell (or column) means "unknown": it never erases what the user's own import stored.
            done = admit(store, c, IMPORT_PROVIDER, origin="user", policy=policy)
            if done.dropped:
                done_notes.append(
                    f"Note: {pf.path}: replaced {done.dropped} synthetic demo row(s) of the same series, so real "
                    "and demo numbers never mix"
                )
            if done.kept_out:
                done_notes.append(
                    f"Note: {pf.path}: {done.kept_out} row(s) kept out: a provider of higher precedence stored them"
                )
            if pf.kind == "companies":
                known |= set(frame["symbol"].to_list())
            summary.rejected += done.rejected
            summary.rows.append(
                {
                    "file": str(pf.path),
                    "kind": pf.kind,
                    "rows": done.rows,
                    "inserted": done.inserted,
                    "updated": done.updated,
                    "stored": done.inserted + done.updated,
                    "rejected": done.rejected,
                }
            )
    for line in done_notes:
        say(line)
    return summary
