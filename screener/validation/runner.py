"""Running the checks with great-expectations, and turning its results into failing rows named by key.

great_expectations is imported here only inside functions: importing it costs seconds, so only commands that
validate pay for it. One ephemeral context serves the whole process (no files, no network), with progress bars
off. Polars frames go in as pandas frames with the default index, which GX reports for every failing value
(``result_format`` COMPLETE), so the index is the position among the rows handed over (every row, or only those a
check can fail: see ``run_checks``), mapped back to the frame's row; key and value are then read back from the
polars frame so they print exactly as stored.
"""

from __future__ import annotations

import gc
import importlib
import logging
import math
import sys
import threading
import types
import warnings
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from screener.contract import distinct as distinct_values
from screener.validation.derived import value_codes
from screener.validation.keys import key_strings
from screener.validation.suites import Check, checks_for, columns_of, key_columns

_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}


@dataclass
class CheckResult:
    check: Check
    checked: int
    failed_rows: list[int] = field(default_factory=list)  # 0-based row indices of the frame
    error: str | None = None


#: Held while the context is made: by the first check, or by ``warm_up``'s thread while the caller reads files.
_CONTEXT_LOCK = threading.Lock()


def _context() -> Any:
    """The process-wide ephemeral GX context, made on first use (or waited for, when ``warm_up`` is making it)."""
    ctx = _STATE.get("context")
    if ctx is not None:
        return ctx
    with _CONTEXT_LOCK:
        ctx = _STATE.get("context")
        if ctx is None:
            # The import and the context make hundreds of thousands of objects that live as long as the process:
            # the collector is paused while they are made (its passes over them were a seventh of the import) and
            # they are then frozen out of every later collection (``gc.freeze``), which would otherwise walk them
            # again.
            gc.disable()
            try:
                ctx = _make_context()
            finally:
                gc.enable()
                gc.freeze()
    return ctx


def warm_up() -> None:
    """Start importing great-expectations and making its context on another thread, once per process.

    Why: that is about two seconds of Python that holds the interpreter, while reading and parsing a file is
    mostly polars and DuckDB, which let it go. An import starts this before it reads its files, and reads the next
    file while the context is not ``ready`` (``intake.imports``), so the two overlap instead of following each
    other. The first check waits for the thread's context; if making it failed there, the check makes it again
    and raises the error itself."""
    if "context" in _STATE or _STATE.get("warming") is not None:
        return

    def make() -> None:
        try:
            _context()
        except Exception:  # said by the first check, which makes the context again
            return

    thread = threading.Thread(target=make, name="great-expectations", daemon=True)
    _STATE["warming"] = thread
    thread.start()


def ready() -> bool:
    """Whether the context is made (a check would not wait for it)."""
    return "context" in _STATE


#: Modules great-expectations imports when it loads and that no check here uses: its KL-divergence expectation and
#: two distribution tests need ``scipy.stats`` (with scipy's optimisers, spatial and special functions), and the
#: first draws with ``altair``; together about 1.5 s of CPU, a fifth of a 50,000-company import beside the checks.
DEFERRED_BY_GX = ("scipy.stats", "altair")


class _Deferred(types.ModuleType):
    """A stand-in for a module that is imported only when one of its attributes is first read.

    great-expectations binds the stand-in under the module's usual name (``stats``, ``alt``); every attribute read
    is forwarded to the real module, which is imported on the first one. So a check that did use scipy or altair
    would get them, at the cost of a slower first call, never a different answer."""

    def __getattr__(self, attr: str) -> Any:
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]  # read while still standing in: the real module takes its place
        return getattr(importlib.import_module(name), attr)


@contextmanager
def _deferring(names: Sequence[str]) -> Iterator[None]:
    """Stand in for ``names`` (those not imported yet) while the block imports, then take the stand-ins back out of
    ``sys.modules``, so any later ``import`` of those names, anywhere in the process, loads the real module."""
    placed: dict[str, _Deferred] = {}
    for name in names:
        if name not in sys.modules:
            placed[name] = sys.modules[name] = _Deferred(name)
    try:
        yield
    finally:
        for name, stand_in in placed.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
            parent = sys.modules.get(name.rpartition(".")[0])
            child = name.rpartition(".")[2]
            # the package's own namespace, not getattr: scipy answers a missing attribute by importing it
            if parent is not None and vars(parent).get(child) is stand_in:
                delattr(parent, child)


def _make_context() -> Any:
    """Import great-expectations and make the context (``_context`` holds the collector off meanwhile)."""
    with _deferring(DEFERRED_BY_GX):
        import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    for name in ("great_expectations", "great_expectations.core"):
        logger = logging.getLogger(name)
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
    from great_expectations.execution_engine import pandas_execution_engine

    # great-expectations fingerprints every batch under this size by hashing every cell, twice per run (when the
    # batch is made and again when it is validated): a marker nothing here reads, and a third of a run's time.
    # Size 0 turns the fingerprint off; every check still runs on every row.
    pandas_execution_engine.HASH_THRESHOLD = 0
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    _STATE["suites"] = {}
    # One data asset for every run: ``read_dataframe`` would delete and re-add its asset on each call, and the
    # context rewrites its whole configuration as YAML twice for that (a fifth of a small frame's validation).
    _STATE["asset"] = ctx.data_sources.pandas_default.add_dataframe_asset(name="screener-frame")
    _STATE["context"] = ctx  # last: a caller that finds the context finds everything made with it
    return ctx


def _suite(kind: str, checks: list[Check], today: date) -> Any:
    ctx = _context()
    import great_expectations as gx

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


#: Checks whose verdict on a row depends on that row's value of one column alone: run on a text or date column they
#: run once per distinct value (a symbol pattern on 50,000 symbols, not on 13 million price rows), and the verdict
#: is mapped back to every row holding the value. great-expectations ignores nulls in these checks, and so does this.
PER_VALUE = frozenset(
    {
        "ExpectColumnValuesToMatchRegex",
        "ExpectColumnValuesToBeInSet",
        "ExpectColumnValuesToNotBeInSet",
        "ExpectColumnValuesToBeBetween",
    }
)
#: Checks that only compare values for equality or nullness: their text columns go to pandas as categoricals, which
#: great-expectations hashes as small integers instead of millions of Python strings.
_EQUALITY_ONLY = frozenset(
    {"ExpectColumnValuesToNotBeNull", "ExpectColumnValuesToBeUnique", "ExpectCompoundColumnsToBeUnique"}
)


def vacuous(check: Check, frame: pl.DataFrame) -> bool:
    """Whether ``check`` cannot fail on ``frame`` because every value it would look at is null: a value rule
    (``PER_VALUE``) on an all-null column, or a pair that skips a row when either value is missing with either
    column all null. great-expectations passes such a check with no failing row (it is vacuously true), so it is
    not handed over: a small frame often leaves most optional columns empty, and each check costs
    great-expectations a graph of metrics to build whatever the data."""
    if check.gx_class in PER_VALUE and len(check.columns) == 1:
        return frame.get_column(check.columns[0]).null_count() == frame.height
    if check.gx_class == "ExpectColumnPairValuesToBeEqual" and check.kwargs.get("ignore_row_if") == (
        "either_value_is_missing"
    ):
        return any(frame.get_column(c).null_count() == frame.height for c in check.columns)
    return False


#: The dates a ``datetime64[ns]`` holds, with a day to spare at each end.
_NS_RANGE = (date(1677, 9, 23), date(2262, 4, 10))


def per_value(check: Check, frame: pl.DataFrame) -> bool:
    """Whether ``check`` runs on the distinct values of its column: a one-column value rule on text or dates (the
    columns whose values repeat; a column of prices has as many values as rows, so it runs whole)."""
    if check.gx_class not in PER_VALUE or len(check.columns) != 1:
        return False
    dtype = frame.schema[check.columns[0]]
    return dtype in (pl.String, pl.Date, pl.Categorical) or isinstance(dtype, pl.Datetime)


def _pandas(
    frame: pl.DataFrame,
    columns: list[str],
    categorical: frozenset[str] = frozenset(),
    nullness: frozenset[str] = frozenset(),
) -> Any:
    """Only the checked columns, with the default index (row 0, 1, ...). Dates become ``datetime64[ns]``, the one
    datetime type great-expectations compares with bounds in vectorised pandas (any other unit makes it call Python
    per row). Columns in ``categorical`` are only compared for equality or nullness: text and dates there become
    integer codes (equal values, equal codes; a null stays null). Columns in ``nullness`` are only asked whether a
    value is there: they go over as a 0 where it is and a null where it is not. Numbers and dates go over as numpy
    arrays, without a copy where they have no nulls (nulls become NaN or NaT, as pandas holds them)."""
    import pandas as pd

    data: dict[str, Any] = {}
    for name in columns:
        column = frame.get_column(name)
        dtype = column.dtype
        if name in nullness:
            if column.null_count() == 0:
                column = pl.repeat(0, column.len(), dtype=pl.Int8, eager=True).alias(name)
            else:
                column = pl.select(pl.when(column.is_null()).then(None).otherwise(pl.lit(0, pl.Int8)).alias(name))
                column = column.to_series()
        elif name in categorical and dtype in (pl.String, pl.Categorical):
            column = value_codes(column)  # compared for equality only: one code per value
        elif name in categorical and dtype == pl.Date:
            column = column.to_physical()  # compared for equality only: the day number is exact
        elif dtype == pl.Date:
            # nanoseconds span 1677..2262; a date beyond is clamped to the edge, on the same side of every bound
            column = column.clip(_NS_RANGE[0], _NS_RANGE[1]).cast(pl.Datetime("ns"))
        elif isinstance(dtype, pl.Datetime):
            column = column.cast(pl.Datetime("ns"))
        plain_time = isinstance(column.dtype, pl.Datetime) and column.dtype.time_zone is None
        if column.dtype.is_numeric() or plain_time:
            data[name] = column.to_numpy()
        else:
            data[name] = column.to_frame().to_pandas()[name]
    return pd.DataFrame(data, copy=False)


#: What a run returns per check: every failing row's index (COMPLETE), and nothing ``_read`` does not read.
_RESULT_FORMAT = {"result_format": "COMPLETE", "partial_unexpected_count": 0, "return_unexpected_index_query": False}


def _validate(kind: str, checks: list[Check], today: date, data: Any) -> dict[tuple[str, tuple[str, ...]], Any]:
    """One great-expectations run of ``checks`` over the pandas frame ``data``: each check's result by match key."""
    suite = _suite(kind, checks, today)
    _context()
    asset = _STATE["asset"]
    batch = asset.get_batch(asset.build_batch_request(options={"dataframe": data}))
    # No ``unexpected_index_column_names``: with them great-expectations reads each failing row's index value one
    # cell at a time (seconds per 100,000 failing rows); without, it returns the frame's index: the row number.
    # Only that index list is read (``_read``): no sample of failing values (``partial_unexpected_count`` 0) and no
    # query text naming every failing index, each a metric or a pass over the failures per check.
    outcome = batch.validate(suite, result_format=_RESULT_FORMAT)
    _forget(batch.data.execution_engine)
    return {(res.expectation_config.type, columns_of(res.expectation_config.kwargs)): res for res in outcome.results}


def _forget(engine: Any) -> None:
    """Drop what the shared execution engine keeps of a run: the frame handed over and every metric computed on it
    (a mask of millions of rows each). Every run names its batch alike and computes its metrics afresh, so nothing
    kept is read again; kept, a file's masks would stay in memory while the next, larger file is validated."""
    engine.batch_manager.reset_batch_cache()
    engine.batch_manager.batch_data_cache.clear()
    metrics = getattr(engine, "_metric_cache", None)
    if isinstance(metrics, dict):
        metrics.clear()


def _read(res: Any, target: CheckResult, rows: int) -> list[int] | None:
    """The failing rows (index values) of one result (None when the check raised: ``target.error`` says why)."""
    info = res.exception_info or {}
    if info.get("raised_exception"):
        target.error = str(info.get("exception_message") or "the check could not run")
        return None
    result = res.result or {}
    found = result.get("unexpected_index_list") or []
    return sorted({int(item) for item in found})


#: Checks whose verdict on a row depends only on the rows holding the same value (or values): a row whose value no
#: other row holds passes whatever the rest of the frame holds.
_UNIQUE = frozenset({"ExpectColumnValuesToBeUnique", "ExpectCompoundColumnsToBeUnique"})


def _rising_rows(codes: Sequence[pl.Series]) -> bool:
    """Whether every row's codes (no nulls) come after the row before's, compared column by column: the order in
    which the packed key below rises, told by comparing the columns as they are, without making a column of 64-bit
    keys (13 million rows of it, with the parts it is summed from)."""
    n = codes[0].len()
    columns = pl.DataFrame([c.alias(str(i)) for i, c in enumerate(codes)])
    rising: pl.Expr | None = None
    for i in reversed(range(len(codes))):
        before, after = pl.col(str(i)).slice(0, n - 1), pl.col(str(i)).slice(1)
        rising = (after > before) if rising is None else (after > before) | ((after == before) & rising)
    assert rising is not None
    return bool(columns.select(rising.all()).item())


def repeated_rows(frame: pl.DataFrame, columns: Sequence[str]) -> pl.Series:
    """0-based indices of the rows whose values in ``columns`` another row holds too (nulls equal to nulls): the only
    rows a uniqueness check can fail. The values are packed into one integer per row when they fit (else hashed,
    and a collision is only one more row to check); a frame in key order, each key once, is told by one pass."""
    if frame.height < 2:
        return pl.Series("_i", [], dtype=pl.UInt32)
    codes = [value_codes(frame.get_column(c)) for c in columns]
    packed: pl.Series | None = None
    if all(c.null_count() == 0 and c.dtype.is_integer() for c in codes):
        if _rising_rows(codes):
            return pl.Series("_i", [], dtype=pl.UInt32)  # each row's codes after the last row's: no key repeats
        bits, parts = 0, []
        for i, c in reversed(list(enumerate(codes))):
            low, high = int(c.min()), int(c.max())  # type: ignore[arg-type]
            parts.append((pl.col(str(i)).cast(pl.Int64) - low) * (1 << bits))
            bits += max(1, (high - low).bit_length())
        if bits <= 62:
            packed = pl.DataFrame([c.alias(str(i)) for i, c in enumerate(codes)]).select(pl.sum_horizontal(parts))
            packed = packed.to_series()
    key = packed if packed is not None else frame.select(pl.struct(list(columns)).hash()).to_series()
    if key.len() < 2 or bool((key.slice(1) > key.slice(0, key.len() - 1)).all()):
        return pl.Series("_i", [], dtype=pl.UInt32)
    ordered = key.sort()
    repeated = ordered.filter(ordered == ordered.shift(1)).unique()
    return key.is_in(repeated.implode()).arg_true()


def _rows_seen(check: Check, frame: pl.DataFrame) -> tuple[str, tuple[str, ...]] | None:
    """Which rows great-expectations is handed for ``check``: None for every row, ``("set", columns)`` for the rows
    where every column is set (a one-column value rule skips nulls, a pair rule here skips a row missing either
    value, so those rows cannot fail), or ``("repeated", columns)`` for the rows of a uniqueness check whose key
    repeats (no other row can fail it)."""
    skips_nulls = (check.gx_class in PER_VALUE and len(check.columns) == 1) or (
        check.gx_class == "ExpectColumnPairValuesToBeEqual"
        and check.kwargs.get("ignore_row_if") == "either_value_is_missing"
    )
    if skips_nulls:
        return ("set", check.columns) if any(frame.get_column(c).null_count() for c in check.columns) else None
    if check.gx_class in _UNIQUE:
        return ("repeated", check.columns)
    return None


def run_checks(
    kind: str, frame: pl.DataFrame, today: date | None = None, *, skip: Collection[str] = ()
) -> list[CheckResult]:
    """Run the kind's checks on the columns the frame has; a check on an absent column is skipped. Checks on
    derived columns need the frame from ``derived.derive`` (``validate_frame`` and ``validate_store`` pass it).
    ``skip``: columns whose checks ran already (``validation.checked``: the frame's own columns, checked while
    the derived ones were computed); a check on those columns alone (or on no column) is left out.

    Rules on single text or date values run on each column's distinct values (``per_value``); the rest run on every
    row that can fail them: a value rule skips nulls, so a column's nulls are not handed over, and a uniqueness
    check sees only the rows whose key repeats (``repeated_rows``). Both are great-expectations runs, fed the types
    it vectorises; the failing rows it names are mapped back to the frame's rows. A check that cannot fail
    (``vacuous``, or a key that never repeats) passes without one."""
    today = today or date.today()
    checks = [
        c
        for c in checks_for(kind, today)
        if all(col in frame.columns for col in c.columns) and not (skip and all(col in skip for col in c.columns))
    ]
    if frame.height == 0 or not checks:
        return [CheckResult(c, 0) for c in checks]
    by_key = {c.match_key: CheckResult(c, frame.height) for c in checks}
    run = [c for c in checks if not vacuous(c, frame)]  # a vacuous check passes as it is: no failing row
    whole = [c for c in run if not per_value(c, frame)]
    by_column: dict[str, list[Check]] = {}
    for c in run:
        if per_value(c, frame):
            by_column.setdefault(c.columns[0], []).append(c)
    with _LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if whole:
            compared = {col for c in whole if c.gx_class not in _EQUALITY_ONLY for col in c.columns}
            equality = frozenset(col for c in whole for col in c.columns) - compared
            nullness = frozenset(col for c in whole for col in c.columns) - {
                col for c in whole if c.gx_class != "ExpectColumnValuesToNotBeNull" for col in c.columns
            }
            # One run per set of columns (and of rows), over a frame of those alone: great-expectations copies the
            # whole frame it is given for each check that skips nulls, so a check on one column of twelve copied
            # all twelve, and a check that skips nulls copied every non-null row.
            by_columns: dict[tuple[tuple[str, ...], tuple[str, tuple[str, ...]] | None], list[Check]] = {}
            for c in whole:
                by_columns.setdefault((tuple(sorted(set(c.columns))), _rows_seen(c, frame)), []).append(c)
            for (columns, seen), group in by_columns.items():
                part = frame.select(columns)
                rows: pl.Series | None = None  # the frame's rows handed over, when not all of them
                if seen is not None and seen[0] == "set":
                    kept = part.select(pl.all_horizontal(pl.col(list(seen[1])).is_not_null())).to_series()
                    rows = kept.arg_true()
                    part = part.filter(kept)
                elif seen is not None:
                    rows = repeated_rows(frame, seen[1])
                    part = part[rows]
                if part.height == 0:
                    continue  # nothing to hand over: no row can fail
                data = _pandas(part, list(columns), equality, nullness)
                del part
                results = _validate(kind, group, today, data)
                del data  # the pandas copy is let go before the next group's is made
                for c in group:
                    target, res = by_key[c.match_key], results.get(c.match_key)
                    if res is None:
                        continue
                    failed = _read(res, target, frame.height)
                    if failed is None:
                        target.failed_rows = list(range(frame.height))
                    elif rows is None or not failed:
                        target.failed_rows = failed
                    else:
                        target.failed_rows = rows.gather(failed).to_list()
        if by_column:
            # Every column's distinct values side by side, each padded with nulls (which these checks skip) to the
            # longest: one great-expectations run for all of them.
            distinct = {c: distinct_values(frame.get_column(c)).drop_nulls().sort() for c in sorted(by_column)}
            longest = max(v.len() for v in distinct.values())
            values = pl.DataFrame([v.extend_constant(None, longest - v.len()) for v in distinct.values()])
            group = [c for cs in by_column.values() for c in cs]
            results = _validate(kind, group, today, _pandas(values, list(distinct)))
            for c in group:
                target, res = by_key[c.match_key], results.get(c.match_key)
                if res is None:
                    continue
                failed = _read(res, target, frame.height)
                column = c.columns[0]
                if failed is None:
                    target.failed_rows = list(range(frame.height))
                elif failed:
                    bad = distinct[column].gather(failed)
                    target.failed_rows = (
                        frame.select(pl.arg_where(pl.col(column).is_in(bad.implode()))).to_series().to_list()
                    )
    return list(by_key.values())


def _text(value: Any) -> str | None:
    """One failing value as a report shows it: a date in ISO form, a whole float without its ``.0``, any other float
    as Python writes it (``repr``), the rest as ``str``."""
    if value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value) or abs(value) >= 1e16:
            return repr(value)
        return str(int(value))
    return str(value)


#: Floats whose magnitude is in this range are written by polars as Python writes them (``repr``: shortest digits
#: that read back to the same float, no exponent); outside it Python switches to an exponent and polars writes
#: it differently, so those few go through ``_text``.
_PLAIN_FLOATS = (1e-4, 1e16)


def value_texts(column: pl.Series) -> pl.Series:
    """``_text`` of every value of ``column``, as a column: a quarantine of a million failing values formats them in
    polars instead of a million Python calls. Text passes as it is; dates, integers and floats in the range polars
    writes alike (``_PLAIN_FLOATS``) are cast; only the rest (a float beyond that range, a timestamp, a flag) is
    written value by value, so every value reads exactly as ``_text`` would write it."""
    dtype = column.dtype
    if dtype == pl.String:
        return column
    if dtype == pl.Date or dtype.is_integer():
        return column.cast(pl.String)
    if not dtype.is_float():
        return pl.Series(column.name, [_text(v) for v in column.to_list()], dtype=pl.String)
    x = pl.col(column.name).cast(pl.Float64)
    whole = x.is_finite() & (x == x.floor()) & (x.abs() < 1e16)
    plain = x.is_finite() & (x.abs() >= _PLAIN_FLOATS[0]) & (x.abs() < _PLAIN_FLOATS[1])
    frame = column.to_frame()
    texts = frame.select(
        pl.when(whole).then(x.cast(pl.Int64).cast(pl.String)).when(plain).then(x.cast(pl.String)).alias("t")
    ).to_series()
    rest = (column.is_not_null() & texts.is_null()).arg_true()  # beyond the plain range, or not finite
    if rest.len():
        others = [_text(v) for v in column.gather(rest).to_list()]
        texts = texts.scatter(rest, pl.Series(others, dtype=pl.String))
    return texts.alias(column.name)


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
    it (``1050.0 after 10.5``), so the report reads the same for every check. Built per check from the failing rows
    gathered at once, so a file with a million failing values costs a gather and a format, not a million lookups."""
    parts = [pl.DataFrame(schema=FAILURE_SCHEMA)]
    for res in results:
        if not res.failed_rows:
            continue
        idx = pl.Series("_i", res.failed_rows, dtype=pl.Int64)
        shown = res.check.shown_columns
        # only the columns the report reads (the key and the values shown) are gathered, not the whole frame
        read = [c for c in dict.fromkeys((*key_columns(kind), *shown)) if c in frame.columns]
        failing = frame.select(read)[idx]
        texts = [value_texts(failing.get_column(c)) for c in shown]
        if len(shown) == 1:
            values = texts[0]
        else:
            values = pl.select(pl.concat_str([t.fill_null("") for t in texts], separator="/")).to_series()
        parts.append(
            pl.DataFrame(
                {
                    "source": source,
                    "row": idx + 2,
                    "kind": kind,
                    "key": key_strings(kind, failing),
                    "expectation": res.check.label if res.error is None else f"{res.check.label}: {res.error}",
                    "column_name": res.check.column_name,
                    "value": values.alias("value"),
                },
                schema=FAILURE_SCHEMA,
            )
        )
    return pl.concat(parts).sort(["row", "column_name", "expectation"])
