"""Running the checks with great-expectations, and turning its results into failing rows named by key.

great_expectations is imported here only inside functions: importing it costs seconds, so only commands that
validate pay for it. One ephemeral context serves the whole process (no files, no network), with progress bars
off. Polars frames go in as pandas frames carrying a ``_row`` column, which GX reports for every failing value
(``result_format`` COMPLETE with ``unexpected_index_column_names``); key and value are then read back from the
polars frame so they print exactly as stored.
"""

from __future__ import annotations

import logging
import math
import threading
import warnings
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from screener.validation.keys import key_strings
from screener.validation.suites import Check, checks_for, columns_of

_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}


@dataclass
class CheckResult:
    check: Check
    checked: int
    failed_rows: list[int] = field(default_factory=list)  # 0-based row indices of the frame
    error: str | None = None


def _context() -> Any:
    """The process-wide ephemeral GX context, made on first use."""
    ctx = _STATE.get("context")
    if ctx is None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        for name in ("great_expectations", "great_expectations.core"):
            logger = logging.getLogger(name)
            logger.addHandler(logging.NullHandler())
            logger.propagate = False
        ctx = gx.get_context(mode="ephemeral")
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        _STATE["context"] = ctx
        _STATE["suites"] = {}
    return ctx


def _suite(kind: str, checks: list[Check], today: date) -> Any:
    import great_expectations as gx

    ctx = _context()
    cache: dict[tuple[Any, ...], Any] = _STATE["suites"]
    cache_key = (kind, today, tuple(c.label + repr(c.columns) for c in checks))
    suite = cache.get(cache_key)
    if suite is None:
        suite = gx.ExpectationSuite(name=f"{kind}-{today.isoformat()}-{len(cache)}")
        for check in checks:
            suite.add_expectation(getattr(gx.expectations, check.gx_class)(**check.kwargs))
        suite = ctx.suites.add(suite)
        cache[cache_key] = suite
    return suite


def _pandas(frame: pl.DataFrame, columns: list[str]) -> Any:
    """Only the checked columns, plus ``_row``; Date columns become datetimes, which GX compares with bounds."""
    cols = [pl.int_range(pl.len(), dtype=pl.Int64).alias("_row")]
    for name in columns:
        dtype = frame.schema[name]
        cols.append(pl.col(name).cast(pl.Datetime("ms")) if dtype == pl.Date else pl.col(name))
    return frame.select(cols).to_pandas()


def run_checks(kind: str, frame: pl.DataFrame, today: date | None = None) -> list[CheckResult]:
    """Run the kind's checks on the columns the frame has; a check on an absent column is skipped. Checks on
    derived columns need the frame from ``derived.derive`` (``validate_frame`` and ``validate_store`` pass it)."""
    today = today or date.today()
    checks = [c for c in checks_for(kind, today) if all(col in frame.columns for col in c.columns)]
    if frame.height == 0 or not checks:
        return [CheckResult(c, 0) for c in checks]
    columns = sorted({col for c in checks for col in c.columns})
    with _LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        suite = _suite(kind, checks, today)
        batch = _context().data_sources.pandas_default.read_dataframe(_pandas(frame, columns))
        outcome = batch.validate(
            suite, result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["_row"]}
        )
    by_key = {c.match_key: CheckResult(c, frame.height) for c in checks}
    for res in outcome.results:
        cfg = res.expectation_config
        target = by_key.get((cfg.type, columns_of(cfg.kwargs)))
        if target is None:
            continue
        info = res.exception_info or {}
        if info.get("raised_exception"):
            target.error = str(info.get("exception_message") or "the check could not run")
            target.failed_rows = list(range(frame.height))
            continue
        result = res.result or {}
        target.checked = int(result.get("element_count", frame.height))
        target.failed_rows = sorted({int(item["_row"]) for item in result.get("unexpected_index_list") or []})
    return list(by_key.values())


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value) or abs(value) >= 1e16:
            return repr(value)
        return str(int(value))
    return str(value)


def key_of(frame: pl.DataFrame, kind: str, index: int) -> str:
    """A row's key as ``MP/2025-06-30/FY``: what rejected-row reports and ``validate`` name failing rows by."""
    return key_strings(kind, frame.slice(index, 1))[0]


FAILURE_SCHEMA: dict[str, type[pl.DataType]] = {
    "source": pl.String,
    "row": pl.Int64,
    "kind": pl.String,
    "key": pl.String,
    "expectation": pl.String,
    "column_name": pl.String,
    "value": pl.String,
}


def failures_frame(kind: str, frame: pl.DataFrame, results: list[CheckResult], source: str) -> pl.DataFrame:
    """One row per failing value: source, spreadsheet row (header = 1), kind, key, expectation, column, value.

    A check on a derived column is reported under the contract column it is about, with the value that explains
    it (``1050.0 after 10.5``), so the report reads the same for every check."""
    failing = sorted({i for res in results for i in res.failed_rows})
    keys = dict(zip(failing, key_strings(kind, frame[failing]).to_list(), strict=True)) if failing else {}
    rows = []
    for res in results:
        shown = res.check.shown_columns
        for i in res.failed_rows:
            value = "/".join(_text(frame[c][i]) or "" for c in shown) if len(shown) > 1 else _text(frame[shown[0]][i])
            rows.append(
                {
                    "source": source,
                    "row": i + 2,
                    "kind": kind,
                    "key": keys[i],
                    "expectation": res.check.label if res.error is None else f"{res.check.label}: {res.error}",
                    "column_name": res.check.column_name,
                    "value": value,
                }
            )
    out = pl.DataFrame(rows, schema=FAILURE_SCHEMA, orient="row")
    return out.sort(["row", "column_name", "expectation"])
