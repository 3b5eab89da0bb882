"""``screener import``: parse every file, validate, then store everything in one transaction.

Why parse everything before writing anything: an import is a unit. If the third of five files has a bad row, the
first two must not be half-applied, or the store would mix two vintages of the user's data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from screener.errors import CompletedWithProblems, ScreenerError
from screener.importer import ParsedFile, read_paths
from screener.store import Store

IMPORT_PROVIDER = "file"


@dataclass
class ImportSummary:
    rows: list[dict[str, object]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rejected: int = 0

    def table(self) -> pl.DataFrame:
        schema = {"file": pl.String, "kind": pl.String, "rows": pl.Int64, "stored": pl.Int64, "rejected": pl.Int64}
        return pl.DataFrame(self.rows, schema=schema, orient="row")

    def raise_if_problems(self) -> None:
        if self.rejected:
            raise CompletedWithProblems(
                f"{self.rejected} row(s) failed validation and were quarantined; see 'screener validate --rejected'"
            )


def _validate(parsed: list[ParsedFile]) -> dict[Path, pl.DataFrame]:
    """Run the great-expectations suites; return failing rows per file (empty when validation is unavailable)."""
    try:
        from screener.validation import validate_parsed
    except ModuleNotFoundError as exc:  # the validation package is optional only while it is being built
        if exc.name and exc.name.startswith("screener.validation"):
            return {}
        raise
    return validate_parsed(parsed)


def import_paths(store: Store, paths: Sequence[str | Path], *, kind: str | None = None,
                 quarantine: bool = False) -> ImportSummary:
    from click import echo

    parsed = read_paths(paths, kind, strict=not quarantine)
    summary = ImportSummary()
    for pf in parsed:
        summary.warnings.extend(pf.warnings)
    failures = {p: f for p, f in _validate(parsed).items() if f.height}
    if failures and not quarantine:
        lines = [
            f"{r['source']}, row {r['row']}, column {r['column_name']}: failed {r['expectation']} "
            f"(value {r['value']!r})"
            for p, f in failures.items() for r in f.iter_rows(named=True)
        ]
        for line in lines[1:20]:
            echo(f"  {line}", err=True)
        if len(lines) > 20:
            echo(f"  ... and {len(lines) - 20} more", err=True)
        raise ScreenerError(f"{lines[0]}; nothing was imported ({len(lines)} failing value(s); "
                            "use --quarantine to store the passing rows)")
    for w in summary.warnings:
        echo(f"Warning: {w}", err=True)
    known = set(store.query("SELECT symbol FROM companies")["symbol"].to_list())
    with store.transaction():
        for pf in parsed:
            frame = pf.frame
            bad = failures.get(pf.path)
            n_bad = 0
            if bad is not None and bad.height:
                bad_rows = sorted(set(bad["row"].to_list()))
                n_bad = len(bad_rows)
                frame = frame.with_row_index("_r").filter(~(pl.col("_r") + 2).is_in(bad_rows)).drop("_r")
                store.record_rejections(bad.drop("row"), provider=IMPORT_PROVIDER)
            if pf.kind != "companies" and "symbol" in frame.columns:
                introduced = set(frame.filter(pl.col("symbol") != "*")["symbol"].to_list())
                unknown = sorted(introduced - known)
                if unknown:
                    echo(f"Warning: {pf.path}: {len(unknown)} symbol(s) not in the universe, e.g. "
                         f"{', '.join(unknown[:5])}; add them with a companies file to score them", err=True)
            # A missing cell (or column) means "unknown": it never erases what is stored.
            stored, dropped = store.upsert_real(pf.kind, frame, IMPORT_PROVIDER, origin="user")
            if dropped:
                echo(f"Note: {pf.path}: replaced {dropped} synthetic demo row(s) of the same series, so real and "
                     "demo numbers never mix", err=True)
            if pf.kind == "companies":
                known |= set(frame["symbol"].to_list())
            store.log_ingest(provider=IMPORT_PROVIDER, status="ok" if not n_bad else "rejected", kind=pf.kind,
                             source=str(pf.path), rows_in=pf.frame.height, rows_stored=stored, rows_rejected=n_bad)
            summary.rejected += n_bad
            summary.rows.append({"file": str(pf.path), "kind": pf.kind, "rows": pf.frame.height, "stored": stored,
                                 "rejected": n_bad})
    return summary
