"""Reading contract files (CSV, Parquet, XLSX) into typed polars frames, with errors that name file, row and column.

Why the strictness: users fill these files by hand from terminals and spreadsheets. A silently coerced value (an
empty cell read as 0, a "1,234" read as text) would flow into a ranking that someone trades on. So every cell is
checked against the contract, and any problem stops the whole import and leaves nothing stored; every problem in
the file is reported at once, so a user fixes the file in one pass.

Row numbers in messages are spreadsheet rows: the header is row 1, the first data row is row 2.
"""

from __future__ import annotations

import codecs
import re
import warnings
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

import polars as pl

from screener.contract import (
    BOOLEAN_TEXT,
    ISO_CURRENCIES,
    KIND_NAMES,
    KINDS,
    MARKET_SYMBOL,
    PERIOD_DAYS,
    SUBUNITS,
    Column,
    Kind,
    polars_schema,
    with_defaults,
)
from screener.contract import distinct as distinct_values
from screener.errors import ArgumentError, Option, ScreenerError, and_more

SUPPORTED_SUFFIXES = (".csv", ".parquet", ".xlsx")
#: (first row, column position, column, message[, the rows it is about, when more than one]).
Problem = tuple[int, int, str, str] | tuple[int, int, str, str, str]


@dataclass
class ParsedFile:
    """A typed file. Read with ``collect``, ``problems`` holds every cell that could not be parsed or broke the
    contract, ``frame`` only the rows without one, and ``rows`` their spreadsheet row numbers, so the validation of
    the remaining rows reports the rows the user sees."""

    path: Path
    kind: str
    frame: pl.DataFrame
    warnings: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    rows: list[int] | None = None
    #: The period spacing of ``frame`` (``validation.derived.with_spacing``), when the parse computed it for
    #: exactly these rows: validation takes it instead of computing it again.
    spacing: pl.DataFrame | None = None

    def row_number(self, index: int) -> int:
        """The spreadsheet row of ``frame`` row ``index`` (0-based)."""
        return self.rows[index] if self.rows is not None else index + 2


def _kinds_text() -> str:
    return ", ".join(KIND_NAMES[:-1]) + f" or {KIND_NAMES[-1]}"


def kind_from_name(path: Path) -> str | None:
    stem = path.name.split(".")[0].lower()
    return stem if stem in KINDS else None


def expand_paths(paths: Iterable[str | Path], kind: str | None) -> tuple[list[tuple[Path, str]], list[Path]]:
    """Files and directories to (file, kind) pairs, plus the files a directory held that are not imported
    (named after no kind, or of another type), so the user hears which of their files were passed over."""
    out: list[tuple[Path, str]] = []
    skipped: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            skipped.extend(
                sorted(
                    f
                    for f in p.iterdir()
                    if f.is_file()
                    and not f.name.startswith(".")
                    and not (f.suffix.lower() in SUPPORTED_SUFFIXES and kind_from_name(f))
                )
            )
            found = sorted(
                f for f in p.iterdir() if f.is_file() and f.suffix.lower() in SUPPORTED_SUFFIXES and kind_from_name(f)
            )
            if not found:
                raise ScreenerError(
                    f"{p}: no importable files (expected {_kinds_text()} with a .csv, .parquet or .xlsx suffix)"
                )
            out.extend((f, kind or kind_from_name(f) or "") for f in found)
        elif p.is_file():
            k = kind or kind_from_name(p)
            if k is None:
                raise ArgumentError(
                    f"{p}: cannot tell the kind from the file name; pass ",
                    Option("kind"),
                    f" ({'|'.join(KIND_NAMES)}) or name it companies.csv, prices.csv, ...",
                )
            out.append((p, k))
        else:
            raise ScreenerError(f"{p}: no such file or directory")
    for p, k in out:
        if k not in KINDS:
            raise ScreenerError(f"{p}: unknown kind {k!r}; use one of {', '.join(KIND_NAMES)}")
    return out, skipped


def _read_raw(path: Path, *, typed: bool = False, floats: Collection[str] = ()) -> pl.DataFrame:
    """Every column as text, so that parsing and its errors are ours, not a reader's guess.

    With ``typed``, a Parquet column that is 64-bit floats or dates (years 1000 to 9999) stays as it is:
    ``_parse_column`` parses it to the very value and problems its text would give, without writing millions of
    cells as text and reading them back. A CSV file's columns named in ``floats`` are read as 64-bit floats when
    every cell of them reads as one (``_read_csv``); the caller reads the file as text again when one of them
    breaks a rule, so that the problems quote the file's text (``read_file``).

    Trailing blank rows (an editor's final newlines, a spreadsheet's formatted but empty rows) are dropped; a blank
    row in the middle stays, so that it is reported with its true row number.
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        df = _read_csv(path, floats if typed else ())
    elif suffix == ".parquet":
        df = _read_parquet(path)
        df = df.with_columns(_as_text(path, df.select(c for c in df.columns if not (typed and _keeps_type(df[c])))))
    elif suffix == ".xlsx":
        df = _read_xlsx(path)
    else:
        raise ScreenerError(f"{path}: unsupported file type {suffix or '(none)'}; use .csv, .parquet or .xlsx")
    _check_header(path, df.columns)
    return _drop_trailing_blank_rows(df)


def _read_parquet(path: Path) -> pl.DataFrame:
    """The file's columns, each in one chunk: a file of many row groups is copied into place once here, not at
    every select. Read column by column, so that only one column is ever held twice (its row groups and its copy),
    not the whole file: 13 million prices read in half the memory. A file that this cannot read (no columns, a
    name twice, a damaged file) is read whole, and its error is the reader's."""
    try:
        names = list(pl.read_parquet_schema(path))
        if names and len(set(names)) == len(names):
            return pl.DataFrame([pl.read_parquet(path, columns=[name]).to_series().rechunk() for name in names])
    except Exception:  # read whole below: the error, if any, is said as the whole file's
        pass
    try:
        return pl.read_parquet(path).rechunk()
    except Exception as exc:
        raise ScreenerError(f"{path}: cannot read as Parquet: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


#: How much of a CSV file is decoded at a time to check that it is UTF-8 text (``_utf8_blank``).
_DECODE_STEP = 1 << 24


def _utf8_blank(data: bytes) -> bool:
    """Whether ``data``, UTF-8 text, holds nothing but white space; ``UnicodeDecodeError`` when it is not UTF-8.

    Why in steps: the file's text is never needed whole, only the knowledge that it is text. Decoded 16 MiB at a
    time, a 620 MB price file costs one step's text at a time instead of its whole text and a copy of its bytes
    (1.2 GB of the import's peak). A step that breaks the rules is decoded again whole, so the error names the
    byte's place in the file as it always did."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    blank = True
    try:
        for at in range(0, len(data), _DECODE_STEP):
            text = decoder.decode(data[at : at + _DECODE_STEP])
            blank = blank and (not text or text.isspace())
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        data.decode("utf-8")  # raises with the byte's place in the whole file
        raise
    return blank


def _read_csv(path: Path, floats: Collection[str] = ()) -> pl.DataFrame:
    """The file's columns as text, those named in ``floats`` (names as the contract spells them) as 64-bit floats
    when every cell of them reads as one, else as text too.

    Why floats: 13 million closes and volumes held as text are about 0.5 GB more than as numbers, and the import's
    peak is the price file being read. polars' reader reads a number from the same texts as a cast of the stripped
    text would (white space at either end, an empty cell as missing), and refuses the rest ("1,5", "abc"): a file
    it refuses is read all as text, so that the problems name each cell as they always did."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ScreenerError(f"{path}: cannot read the file: {exc.strerror or _first_line(exc)}") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        blank = _utf8_blank(data)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _fail(path, line, None, f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save it as CSV UTF-8") from None
    if blank:
        raise ScreenerError(f"{path}: the file is empty")
    if floats:
        try:
            header = pl.read_csv(data, infer_schema=False, n_rows=0).columns
            numbers = {name: pl.Float64 for name in header if name.strip() in floats}
            if numbers:
                return pl.read_csv(data, infer_schema=False, schema_overrides=numbers)
        except pl.exceptions.PolarsError:
            pass  # a cell that is not a number, or a file polars cannot read: all as text, below
    try:
        return pl.read_csv(data, infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise ScreenerError(f"{path}: cannot parse as CSV: {_first_line(exc)}") from None


def _xlsx_cell(value: object) -> str | None:
    """Spreadsheet cells to the text a CSV would hold: dates as ISO dates, whole numbers without ``.0``."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.time() == time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def _read_xlsx(path: Path) -> pl.DataFrame:
    """First sheet, header row first. Read with openpyxl cell by cell: a reader's type guess would turn dates into
    timestamps and identifiers such as ``4063`` into numbers."""
    from openpyxl import load_workbook

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = load_workbook(path, read_only=True, data_only=True)
            try:
                sheet = wb.worksheets[0]
                rows = [[_xlsx_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]
            finally:
                wb.close()
    except Exception as exc:
        raise ScreenerError(f"{path}: cannot read as an XLSX workbook: {_first_line(exc)}") from None
    if not rows or all(v is None for v in rows[0]):
        if all(v is None for row in rows for v in row):
            raise ScreenerError(f"{path}: the file is empty")
        raise _fail(path, 1, None, "the first row must be the header (column names)")
    header = [("" if v is None else str(v)) for v in rows[0]]
    while header and header[-1] == "":
        header.pop()
    if "" in header:
        raise _fail(path, 1, None, f"column {header.index('') + 1} of the header has no name")
    repeated = next((h for i, h in enumerate(header) if h in header[:i]), None)
    if repeated is not None:
        raise _fail(path, 1, repeated, "the column appears more than once")
    width = len(header)
    body = [(row + [None] * width)[:width] for row in rows[1:]]
    return pl.DataFrame(body, schema=dict.fromkeys(header, pl.String), orient="row")


def _check_header(path: Path, columns: Sequence[str]) -> None:
    """Polars renames a repeated header to ``x_duplicated_0``; say plainly that ``x`` appears twice instead."""
    stripped = {c.strip() for c in columns}
    seen: set[str] = set()
    for name in columns:
        base = re.sub(r"_duplicated_\d+$", "", name.strip())
        if base in seen or (base != name.strip() and base in stripped):
            raise _fail(path, 1, base, "the column appears more than once")
        seen.add(base)


def _drop_trailing_blank_rows(df: pl.DataFrame) -> pl.DataFrame:
    if df.height == 0 or df.width == 0:
        return df
    # a typed cell is blank when null (its text is never empty); a file that ends in a filled row is kept whole
    # without testing every row
    blank_row = pl.all_horizontal(
        (pl.col(c).str.strip_chars().fill_null("") == "") if t == pl.String else pl.col(c).is_null()
        for c, t in df.schema.items()
    )
    if not df.tail(1).select(blank_row).item():
        return df
    blank = df.select(blank_row).to_series()
    filled = (~blank).arg_true()
    return df.head(int(filled[-1]) + 1 if filled.len() else 0)


#: The dates a typed Parquet date column may hold and stay typed: their text has four-digit years, which parses back.
_TYPED_DATES = (date(1000, 1, 1), date(9999, 12, 31))


def _keeps_type(column: pl.Series) -> bool:
    """Whether a Parquet column is parsed as it is (``_read_raw`` with ``typed``): 64-bit floats, whose text is the
    shortest form that reads back to the same float, and dates whose text reads back as the same date."""
    if column.dtype == pl.Float64:
        return True
    if column.dtype != pl.Date:
        return False
    low, high = column.min(), column.max()
    return low is None or (_TYPED_DATES[0] <= low and high <= _TYPED_DATES[1])  # type: ignore[operator]


class _Shown:
    """A typed column's cells as the text the file would give (``_as_text``), made only for the cells a message
    quotes."""

    def __init__(self, column: pl.Series) -> None:
        self.column = column

    def __getitem__(self, index: int) -> str:
        cell = self.column.slice(index, 1)
        text = cell.dt.strftime("%Y-%m-%d") if cell.dtype == pl.Date else cell.cast(pl.String)
        return str(text[0])


def _as_text(path: Path, df: pl.DataFrame) -> list[pl.Expr]:
    exprs = []
    for name, dtype in df.schema.items():
        if dtype == pl.Date or isinstance(dtype, pl.Datetime):
            exprs.append(pl.col(name).dt.strftime("%Y-%m-%d").alias(name))
        elif isinstance(dtype, pl.List):
            exprs.append(pl.col(name).cast(pl.List(pl.String)).list.join(";").alias(name))
        elif dtype.is_numeric() or dtype in (pl.Boolean, pl.Categorical) or isinstance(dtype, pl.Enum):
            exprs.append(pl.col(name).cast(pl.String).alias(name))
        elif dtype not in (pl.String, pl.Null):
            raise _fail(path, None, name, f"unsupported Parquet column type {dtype}; use text, numbers or dates")
        elif dtype == pl.Null:
            exprs.append(pl.col(name).cast(pl.String).alias(name))
    return exprs


def _fail(path: Path, row: int | None, column: str | None, message: str, rows: str | None = None) -> ScreenerError:
    where = str(path)
    if rows is not None:
        where += f", {rows}"
    elif row is not None:
        where += f", row {row}"
    if column is not None:
        where += f", column {column}"
    return ScreenerError(f"{where}: {message}")


def _first_bad(mask: pl.Series) -> int | None:
    idx = mask.arg_true()
    return int(idx[0]) if len(idx) else None


class ContractError(ScreenerError):
    """Every problem found in one file (or in each of several), in reading order: file, row, then column. The
    message is the first one; the rest are in ``details`` so the CLI can list them all instead of making the user
    fix one cell per run."""

    def __init__(self, path: Path, problems: list[Problem], *more_files: tuple[Path, list[Problem]]) -> None:
        files = [(path, problems), *more_files]
        self.details = [
            str(_fail(p, q[0], q[2], q[3], q[4] if len(q) > 4 else None))  # type: ignore[misc]
            for p, found in files
            for q in sorted(found)
        ]
        more = len(self.details) - 1
        where = "in this file" if len(files) == 1 else "in these files"
        super().__init__(
            self.details[0] + (f" (and {more} more problem{'s' if more > 1 else ''} {where})" if more else "")
        )


#: Whole-number columns are 64-bit: a value this large or larger cannot be stored and is a row's problem.
INT_LIMIT = float(2**63)


def _short(text: str, limit: int = 40) -> str:
    """A value quoted in a message, cut to ``limit`` characters (a number of 5,000 digits is named, not printed)."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"… ({len(text)} characters)"


#: Bounds that no real filing or quote reaches; a value outside them is a unit or typing mistake.
EARLIEST_DATE = date(1900, 1, 1)
MAX_AMOUNT = 1e15


def outside_domain(text: pl.Series, domain: frozenset[str], *, multi: bool) -> pl.Series:
    """Per row, whether a value breaks ``domain``: for a ``;`` list, an empty item or any item outside it. Null
    (empty) cells pass; the required check speaks for them."""
    allowed = pl.Series(sorted(domain), dtype=pl.String)
    if not multi:
        bad = ~text.is_in(allowed.implode())
    else:
        items = text.str.split(";").list.eval(pl.element().str.strip_chars())
        bad = items.list.eval((pl.element() == "") | ~pl.element().is_in(allowed.implode())).list.any()
    return (bad & text.is_not_null()).fill_null(False)


def unknown_currency(text: pl.Series, *, listing: bool) -> pl.Series:
    """Per row, whether a currency code is unknown: a listing may be quoted in a sub-unit (GBp), a statement or an
    fx rate only in an ISO 4217 main unit."""
    known = ISO_CURRENCIES | set(SUBUNITS) if listing else ISO_CURRENCIES
    return (text.is_not_null() & ~text.is_in(pl.Series(sorted(known), dtype=pl.String).implode())).fill_null(False)


def invalid_symbol(text: pl.Series, kind: str) -> pl.Series:
    """Per row, whether a symbol is invalid: it holds a space, or it is the market-wide ``*`` outside events."""
    bad = text.str.contains(" ", literal=True)
    if kind != "events":
        bad = bad | (text == MARKET_SYMBOL)
    return bad.fill_null(False)


def _where(text: pl.Series, values: pl.Series) -> list[tuple[int, str]]:
    """(row index, value) of every row holding one of ``values``, in row order: only the failing rows are read."""
    if values.len() == 0:
        return []
    idx = text.is_in(values.implode()).fill_null(False).arg_true()
    return list(zip(idx.to_list(), text.gather(idx).to_list(), strict=True))


def _domain_message(col: Column, value: str) -> str:
    """Why ``value`` breaks ``col``'s domain: the first item outside it, with the closest known value as a hint."""
    assert col.domain is not None
    items = [x.strip() for x in value.split(";")] if col.multi else [value]
    if col.multi and any(x == "" for x in items):
        return f"empty item in {value!r}; separate values with ';'"
    item = next(x for x in items if x not in col.domain)
    from difflib import get_close_matches

    hint = get_close_matches(item.lower(), sorted(col.domain), n=1)
    suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
    label = "country code" if col.name == "country" else col.name.removesuffix("s") if col.multi else col.name
    return f"unknown {label} {item!r}{suggestion}"


def _parse_column(
    path: Path, kind: str, col: Column, raw: pl.Series, problems: list[Problem], position: int, strict: bool = True
) -> pl.Series:
    """Parse one text column to its contract type, recording every cell that does not fit in ``problems``.

    Without ``strict`` only cells that cannot be typed at all are problems; rule checks are left to validation.
    """

    def bad(mask: pl.Series, message: Callable[[int], str]) -> None:
        for i in mask.fill_null(False).arg_true().to_list():
            problems.append((int(i) + 2, position, col.name, message(int(i))))

    typed = (col.dtype == "float" and raw.dtype == pl.Float64) or (col.dtype == "date" and raw.dtype == pl.Date)
    if not typed and col.dtype in ("float", "int") and raw.dtype == pl.String:
        # A clean number column (the usual one) is parsed as it is. polars reads no number from a cell with white
        # space at either end, nor from an empty one, so when every cell reads as a number that fits, no cell
        # needed stripping or blanking: asking that of the column's distinct values first (13 million closes
        # in a CSV file, nearly all distinct: 5.5 s) gives nothing. Any doubt takes the way below, rule by rule.
        parsed = raw.cast(pl.Float64, strict=False)
        if _numbers_fit(col, parsed, raw, strict=strict):
            if strict and col.required:
                bad(raw.is_null(), lambda i: "required value is empty")
            return parsed.alias(col.name).cast(pl.Int64) if col.dtype == "int" else parsed.alias(col.name)
    if typed:
        # a typed Parquet column (``_keeps_type``): its text is never blank, and it parses to the values it holds
        text, shown = raw, _Shown(raw)
    else:
        if raw.dtype != pl.String:
            raw = raw.to_frame().select(_as_text(Path(), raw.to_frame())).to_series()
        # Text repeats (13 million prices, 50,000 symbols): whether any cell needs stripping or is blank is asked of
        # the distinct values, and the column is rewritten only when one does.
        distinct = distinct_values(raw)
        stripped = distinct.str.strip_chars()
        if bool((stripped == distinct).all()) and not bool((stripped == "").any()):
            text = raw
        else:
            text = raw.str.strip_chars()
            text = pl.select(pl.when(text == "").then(None).otherwise(text).alias(col.name)).to_series()
            distinct = distinct_values(text)
        shown = text  # type: ignore[assignment]
    if strict and col.required:
        bad(text.is_null(), lambda i: "required value is empty")
    if col.dtype == "str":
        # each rule below holds or fails per value: it is tested on the distinct values (``distinct``), and only the
        # rows holding a failing one are read back
        if col.upper:
            upper = distinct.str.to_uppercase()
            if not bool((upper == distinct).all()):
                text, distinct = text.str.to_uppercase(), upper.unique()
        if strict and col.domain is not None:
            # the message (with its "did you mean") is written once per distinct bad value
            failing = distinct.filter(outside_domain(distinct, col.domain, multi=col.multi))
            said = {v: _domain_message(col, v) for v in failing.to_list()}
            for i, v in _where(text, failing):
                problems.append((i + 2, position, col.name, said[v]))
            if col.multi:
                text = text.str.split(";").list.eval(pl.element().str.strip_chars()).list.join(";")
                distinct = distinct_values(text)
        if strict and col.name == "currency":
            # Statements and fx rates are in whole currency units; only a listing may be quoted in a sub-unit.
            for i, v in _where(text, distinct.filter(unknown_currency(distinct, listing=kind == "companies"))):
                problems.append(
                    (
                        i + 2,
                        position,
                        col.name,
                        f"unknown currency code {v!r} (ISO 4217, e.g. USD, AUD, KRW"
                        + (")" if kind == "companies" else "; sub-units such as GBp only for listings)"),
                    )
                )
        if col.name == "symbol":
            for i, v in _where(text, distinct.filter(invalid_symbol(distinct, kind))):
                problems.append((i + 2, position, col.name, f"invalid symbol {v!r}"))
        return text
    if col.dtype == "bool":
        lowered = text.str.to_lowercase()
        parsed = lowered.replace_strict(BOOLEAN_TEXT, default=None, return_dtype=pl.Boolean)
        bad(parsed.is_null() & text.is_not_null(), lambda i: f"not true or false {text[i]!r}")
        return parsed
    if col.dtype == "date":
        parsed = text if typed else text.str.strptime(pl.Date, "%Y-%m-%d", strict=False)
        if not typed:
            bad(parsed.is_null() & text.is_not_null(), lambda i: f"not a date {text[i]!r}; write YYYY-MM-DD")
        if strict:
            bad(parsed < EARLIEST_DATE, lambda i: f"implausible date {shown[i]} (before {EARLIEST_DATE})")
        return parsed.alias(col.name)
    # numbers: accept plain decimals and exponents only; "1,234" or "12%" are errors, not guesses
    parsed = text if typed else text.cast(pl.Float64, strict=False)
    if _numbers_fit(col, parsed, None if typed else text, strict=strict):
        return parsed.alias(col.name).cast(pl.Int64) if col.dtype == "int" else parsed.alias(col.name)
    # a number too large for the column's type (``1e400``; ``1e20`` as a whole number) is a problem of its row, like
    # text in a number column: it would otherwise overflow to infinity or fail the cast to a whole number (a typed
    # infinity reads as ``inf``: not a number, never an overflow)
    overflow = parsed.is_infinite() & (
        pl.repeat(False, len(parsed), eager=True) if typed else ~text.str.contains(r"(?i)inf")
    )
    if col.dtype == "int":
        overflow = overflow | (parsed.is_finite() & (parsed.abs() >= INT_LIMIT))
    bad(overflow, lambda i: f"number out of range {_short(shown[i])}")
    unreadable = (parsed.is_null() & text.is_not_null()) | parsed.is_nan() | parsed.is_infinite()
    bad(unreadable & ~overflow.fill_null(False), lambda i: f"not a number {shown[i]!r}")
    unreadable = unreadable | overflow.fill_null(False)
    if unreadable.any():
        parsed = pl.select(pl.when(unreadable).then(None).otherwise(parsed).alias(col.name)).to_series()
    parsed = parsed.alias(col.name)
    if strict:
        bad(parsed.abs() > MAX_AMOUNT, lambda i: f"implausible value {shown[i]} (more than {MAX_AMOUNT:.0e} in size)")
    if strict and col.positive:
        bad(parsed <= 0, lambda i: f"must be > 0, got {shown[i]}")
    if strict and col.non_negative:
        bad(parsed < 0, lambda i: f"must be >= 0, got {shown[i]}")
    if strict and col.fraction:
        bad((parsed < 0) | (parsed > 1), lambda i: f"must be between 0 and 1, got {shown[i]}")
    if col.dtype == "int":
        fractional = parsed.is_not_null() & (parsed != parsed.round(0))
        bad(fractional, lambda i: f"not a whole number {text[i]!r}")
        return pl.select(pl.when(fractional).then(None).otherwise(parsed).alias(col.name)).to_series().cast(pl.Int64)
    return parsed


def _numbers_fit(col: Column, parsed: pl.Series, text: pl.Series | None, *, strict: bool) -> bool:
    """Whether no cell of a number column breaks a rule ``_parse_column`` checks (text that is not a number, not a
    finite number, too large, the wrong sign or range, a fraction where a whole number is due).

    Why: a clean column (the usual one) is then read once, every rule in one pass over it, instead of one pass and
    one mask per rule: a tenth of a second per million values. Any doubt sends the column through the rules one by
    one, which name each failing cell; a column that passes here passes each of them (the same conditions)."""
    value = pl.col("value")
    troubles = [value.is_nan() | value.is_infinite()]
    if text is not None:  # a cell with text that is not a number
        troubles.append(value.is_null() & pl.col("text").is_not_null())
    if strict:
        troubles.append(value.abs() > MAX_AMOUNT)
        if col.positive:
            troubles.append(value <= 0)
        if col.non_negative:
            troubles.append(value < 0)
        if col.fraction:
            troubles.append((value < 0) | (value > 1))
    if col.dtype == "int":
        troubles += [value.abs() >= INT_LIMIT, value != value.round(0)]
    columns = {"value": parsed} if text is None else {"value": parsed, "text": text}
    return not pl.DataFrame(columns).select(pl.any_horizontal(troubles).any()).item()


def parse_frame(raw: pl.DataFrame, kind: str, path: Path, *, strict: bool = True, collect: bool = False) -> ParsedFile:
    """Check columns, parse every cell, and reject duplicate keys; return a typed frame in contract order.

    Raises ``ContractError`` listing every problem in the file (the first one is its message). With ``collect``
    the cell problems are returned instead (``ParsedFile.problems``) and the frame keeps only the rows without one,
    so the caller can validate the rest and report everything in one pass; a problem with the file as a whole (a
    missing column, no rows) still raises, as nothing of the file can be read then.
    """
    spec = KINDS[kind]
    schema = polars_schema(kind)
    notes: list[str] = []
    columns = [c.strip() for c in raw.columns]
    raw.columns = columns
    lowered = {c: c.lower() for c in columns if c != c.lower() and c.lower() in spec.names}
    if lowered:
        name, fixed = next(iter(lowered.items()))
        raise _fail(path, 1, name, f"column names are lower case; rename to {fixed!r}")
    missing = [c for c in spec.required if c not in columns]
    if missing:
        raise _fail(path, 1, missing[0], f"missing required column (required: {', '.join(spec.required)})")
    extra = [c for c in columns if c not in spec.names]
    if extra:
        notes.append(f"{path}: ignoring {len(extra)} unknown column(s): {and_more(extra, 8)}")
    if raw.height == 0:
        raise ScreenerError(f"{path}: the file has a header but no rows")
    problems: list[Problem] = []
    parsed = {}
    for position, col in enumerate(spec.columns):
        if col.name in columns:
            parsed[col.name] = _parse_column(path, kind, col, raw.get_column(col.name), problems, position, strict)
        else:
            parsed[col.name] = pl.Series(col.name, [None] * raw.height, dtype=pl.String).cast(schema[col.name])
    frame = with_defaults(kind, pl.DataFrame(parsed))
    # rows left out of validation: a cell that could not be typed, or a repeated key. A row that only breaks a
    # contract rule (a sign, a domain, an empty required cell) is validated too, so every problem of a file is
    # reported in one pass; the importer drops a validation failure that repeats one already said of the same cell
    excluded = _untyped_rows(raw, frame, spec)
    if strict:
        duplicates = _duplicate_keys(frame, spec.key)
        problems.extend(duplicates)
        excluded |= {p[0] for p in duplicates}
    spacing = None
    if strict and kind == "fundamentals":
        from screener.validation.derived import with_spacing

        spacing = with_spacing(frame)
        for problem, rows in _spacing_problems(spacing, spec.names.index("period")):
            problems.append(problem)
            excluded |= set(rows)
    if problems and not collect:
        raise ContractError(path, problems)
    if not problems:
        return ParsedFile(path=path, kind=kind, frame=frame, warnings=notes, spacing=spacing)
    rows = pl.int_range(2, frame.height + 2, eager=True)
    keep = ~rows.is_in(pl.Series(sorted(excluded), dtype=rows.dtype).implode())
    return ParsedFile(
        path=path,
        kind=kind,
        frame=frame.filter(keep),
        warnings=notes,
        problems=sorted(problems),
        rows=rows.filter(keep).to_list(),
    )


def _untyped_rows(raw: pl.DataFrame, frame: pl.DataFrame, spec: Kind) -> set[int]:
    """The file rows (1-based with the header, as problems number them) holding a cell that has text but could not
    be typed (a number, date, true/false or whole number that is not one)."""
    masks = []
    for col in spec.columns:
        if col.dtype == "str" or col.name not in raw.columns:
            continue
        if frame.get_column(col.name).null_count() == 0:
            continue  # every cell typed: no text to look at (13 million closes of a CSV file, stripped: 0.5 s)
        cell = raw.get_column(col.name)
        if cell.dtype == pl.String:
            has = (cell.str.strip_chars() != "").fill_null(False)
        else:
            has = cell.is_not_null()  # a typed cell's text is never empty
        masks.append((has & frame.get_column(col.name).is_null()).fill_null(False))
    if not masks:
        return set()
    untyped = pl.select(pl.any_horizontal(masks)).to_series()
    return {int(i) + 2 for i in untyped.arg_true().to_list()}


def _duplicate_keys(frame: pl.DataFrame, key: Sequence[str]) -> list[Problem]:
    """A problem on every row whose key (all parts known) an earlier row already holds, naming that first row.
    Found by a 64-bit hash of each key, sorted: only the rows whose hash repeats (every duplicate, and rarely a
    collision) are compared whole, so 13 million keys need no hash table of keys; only the duplicated rows are read
    back."""
    cols = list(key)
    if all(frame.get_column(c).null_count() == 0 for c in cols):
        from screener.validation.runner import repeated_rows

        if repeated_rows(frame, cols).len() == 0:
            return []  # no key repeats (told in one pass for a file in key order): nothing to compare
    complete = pl.all_horizontal(pl.col(c).is_not_null() for c in cols)
    hashed = frame.select(pl.when(complete).then(pl.struct(cols).hash())).to_series()
    ordered = hashed.drop_nulls().sort()
    repeated = ordered.filter(ordered == ordered.shift(1))
    if repeated.len() == 0:
        return []
    dup = (
        frame.select(cols)
        .with_row_index("_i")
        .filter(hashed.is_in(repeated.unique().implode()).fill_null(False))
        .filter(pl.struct(cols).is_duplicated())
        .with_columns(pl.col("_i").min().over(cols).alias("_first"))
        .filter(pl.col("_i") != pl.col("_first"))
    )
    out: list[Problem] = []
    for row in dup.iter_rows(named=True):
        shown = ", ".join(f"{k}={row[k]}" for k in cols)
        out.append((int(row["_i"]) + 2, 0, cols[0], f"duplicate key ({shown}) also on row {int(row['_first']) + 2}"))
    return out


def _and(items: Sequence[object], limit: int = 8) -> str:
    """``3``, ``3 and 5``, ``3, 5 and 7``, ``3, 5, ... and 4 more``."""
    shown = [str(i) for i in items[:limit]]
    if len(items) > limit:
        return ", ".join(shown) + f" and {len(items) - limit} more"
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + f" and {shown[-1]}"


def _rows_text(rows: Sequence[int]) -> str:
    return f"row {rows[0]}" if len(rows) == 1 else f"rows {_and(rows)}"


def _spacing_problems(spaced: pl.DataFrame, position: int) -> list[tuple[Problem, list[int]]]:
    """One problem per series (symbol and period label) whose periods are spaced unlike the label, with the rows it
    is about: a half year labelled ``Q`` would be summed as a quarter and double trailing revenue. ``spaced`` is the
    frame's ``validation.derived.with_spacing``: the rule is validation's, so import and ``validate`` agree."""
    spaced = spaced.with_row_index("_i").with_columns(
        (pl.col("period_by_spacing").is_not_null() & (pl.col("period") != pl.col("period_by_spacing"))).alias("_bad")
    )
    out: list[tuple[Problem, list[int]]] = []
    if not spaced["_bad"].any():
        return out
    series = spaced.filter(pl.col("_bad").any().over("symbol", "period"))
    for (symbol, period), group in series.group_by("symbol", "period", maintain_order=True):
        bad = group.filter(pl.col("_bad"))
        # a series spaced unlike its label throughout is named whole, its first row included
        whole = bad.height == group["period_by_spacing"].count()
        rows = sorted(int(i) + 2 for i in (group if whole else bad)["_i"].to_list())
        implied = sorted(set(bad["period_by_spacing"].to_list()))
        gaps = _and(sorted(set(bad["period_gap_days"].to_list())), 4)
        ends = "this period ends" if len(rows) == 1 else "these periods end"
        message = f"{symbol} is labelled {period} but {ends} {gaps} days after the previous {period}"
        if len(implied) == 1 and implied[0] in PERIOD_DAYS:
            label = implied[0]
            message += f", the spacing of {label}; label them {label}"
            if PERIOD_DAYS[label] > PERIOD_DAYS[period]:
                message += f" (or add the missing {period} periods in between)"
        else:
            message += ", which fits no period's spacing; check the labels and period ends"
        out.append(((rows[0], position, "period", message, _rows_text(rows)), rows))
    return out


def read_file(path: str | Path, kind: str, *, strict: bool = True, collect: bool = False) -> ParsedFile:
    """One file, parsed (``parse_frame``; ``collect`` returns the cell problems instead of raising them)."""
    p = Path(path)
    if kind not in KINDS:
        raise ScreenerError(f"{p}: unknown kind {kind!r}; use one of {', '.join(KIND_NAMES)}")
    floats = {c.name: c for c in KINDS[kind].columns if c.dtype == "float"}
    raw = _read_raw(p, typed=True, floats=floats)
    if p.suffix.lower() == ".csv" and not all(
        _numbers_fit(floats[name.strip()], raw.get_column(name), None, strict=strict)
        for name, dtype in raw.schema.items()
        if dtype == pl.Float64 and name.strip() in floats
    ):
        # a number that breaks a rule (NaN, too large, the wrong sign): read as text, whose cells the problems quote
        raw = _read_raw(p, typed=True)
    if raw.width == 0:
        raise ScreenerError(f"{p}: the file is empty")
    return parse_frame(raw, kind, p, strict=strict, collect=collect)


def read_paths(
    paths: Sequence[str | Path], kind: str | None = None, *, strict: bool = True, collect: bool = False
) -> list[ParsedFile]:
    """Parse every file first; nothing is stored unless all of them are clean.

    ``strict=False`` (for ``import --quarantine``) still refuses what cannot be typed (a date that is not a date,
    text in a number column) but leaves domain rules (required values, known codes, signs, unique keys) to the
    validation suites, which quarantine the failing rows instead of refusing the file. ``collect`` returns each
    file's cell problems with its clean rows instead of raising on the first file that has any.
    """
    pairs, skipped = expand_paths(paths, kind)
    parsed = [read_file(p, k, strict=strict, collect=collect) for p, k in pairs]
    if skipped and parsed:
        parsed[0].warnings.append(skipped_note(skipped))
    return parsed


def skipped_note(skipped: Sequence[Path]) -> str:
    """The warning that names the files a directory held but an import passes over (``expand_paths``), said with
    the first file's warnings."""
    names = and_more(skipped, 5)
    return f"not imported (the name is not {_kinds_text()}, or the type is not .csv/.parquet/.xlsx): {names}"
