"""Cross-row facts, computed in polars, that the great-expectations suites then check row by row.

Why derived columns: the damage that breaks rankings is rarely visible in one cell. A close stored in pence next to
closes in pounds, a share count off by a thousand, half years labelled as quarters, or an annual figure that is not
the sum of its quarters all look plausible alone; they show only against the neighbouring rows. Each function here
adds columns that put that comparison on the row itself (``close_change``, ``period_by_spacing``,
``revenue_vs_parts``), so a failure is reported like any other: by key, column and value. Row order is kept.

Splits: a split changes the price and the share count on its date. A jump that the split ratio accounts for is not
damage, whether the provider's history is split-adjusted (no jump) or raw (a jump the ratio explains).
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from screener.contract import PERIOD_SPACING, PERIODS

#: A close or an FX rate that moves more than this factor from one row to the next is a unit error, not a market.
PRICE_JUMP_LIMIT = 20.0
#: A share count that moves more than this factor between consecutive periods, with no split, is a unit error.
SHARE_JUMP_LIMIT = 3.0
#: An FY flow may differ from the sum of its quarters (or halves) by this share of their size.
FY_TOLERANCE = 0.10
#: Flows that add up over a year; balances (cash, debt, shares) do not.
FLOWS: tuple[str, ...] = (
    "revenue",
    "operating_income",
    "net_income",
    "operating_cash_flow",
    "capital_expenditure",
    "free_cash_flow",
)
#: The quarters (halves) inside a fiscal year end after ``FY end - 330 days`` and no later than a week after it
#: (52/53-week years): the previous year's last quarter is about 365 days earlier and the next one 91 days later.
_PARTS_WINDOW = (timedelta(days=330), timedelta(days=7))
_PARTS = {"Q": 4, "H": 2}
_ROW = "_row_index"


def change_column(value: str) -> str:
    return f"{value}_change"


def shown_column(name: str) -> str:
    return f"{name}_shown"


def parts_column(flow: str) -> str:
    return f"{flow}_vs_parts"


def _closest_to_one(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """Of two ratios, the one nearer 1 on a log scale (``a`` when ``b`` is unknown)."""
    return pl.when(b.is_null() | (a.log().abs() <= b.log().abs())).then(a).otherwise(b)


def _split_factor(rows: pl.DataFrame, series: str, on: str, splits: pl.DataFrame | None) -> pl.Series:
    """Per row, the product of the ratios of every split of its symbol on or before its date (1 before any)."""
    if splits is None or splits.height == 0 or series != "symbol":
        return pl.repeat(1.0, rows.height, dtype=pl.Float64, eager=True).alias("_cum")
    cum = (
        splits.select(
            pl.col("symbol").cast(pl.String),
            pl.col("date").cast(pl.Date).alias("_split_on"),
            pl.col("ratio").cast(pl.Float64),
        )
        .drop_nulls()
        .filter(pl.col("ratio") > 0)
        .sort("symbol", "_split_on")
        .with_columns(pl.col("ratio").cum_prod().over("symbol").alias("_cum"))
        .sort("_split_on")
    )
    left = rows.select(
        pl.col(series).alias("symbol"), pl.col(on).cast(pl.Date).alias("_on"), pl.int_range(pl.len()).alias("_pos")
    ).filter(pl.col("symbol").is_in(cum["symbol"].unique().implode()))  # a series with no split keeps 1
    joined = left.sort("_on").join_asof(
        cum.select("symbol", "_split_on", "_cum"),
        left_on="_on",
        right_on="_split_on",
        by="symbol",
        strategy="backward",
        check_sortedness=False,
    )
    factor = pl.repeat(1.0, rows.height, dtype=pl.Float64, eager=True)
    return factor.scatter(joined["_pos"], joined["_cum"].fill_null(1.0))


def _jumps(
    frame: pl.DataFrame, *, series: str, on: str, value: str, limit: float, splits: pl.DataFrame | None, exponent: int
) -> pl.DataFrame:
    """Add ``<value>_change`` (ratio to the previous sound row, after splits) and, where it breaks the limit, a
    readable ``..._shown``.

    ``exponent`` says how a split moves the value: +1 for prices (a 5:1 split divides the price by 5, so the price
    times the cumulative ratio is comparable across it), -1 for share counts. The row that returns from a one-row
    spike is compared with the row before the spike, so only the bad row is blamed. Rows repeating another row's
    series, date and value are compared once and share its result.

    Why integer codes: the series (a symbol) is sorted and compared as a small integer, and the previous rows of a
    series are plain shifts guarded by "same series" tests, so 13 million closes need no string sort and no
    per-series window.
    """
    name, shown = change_column(value), shown_column(change_column(value))
    rows = frame.select(_ROW, series, value_codes(frame.get_column(series)).alias("_series"), on, value)
    usable = rows.select(pl.col(series).is_not_null() & pl.col(on).is_not_null() & (pl.col(value) > 0)).to_series()
    if not bool(usable.all()):
        rows = rows.filter(usable)  # a copy of the columns only when a row is left out
    del usable
    # Each row's split factor is read off its text series here, before any sort: the rows are then ordered and
    # deduplicated with the series as a small integer only (gathering 13 million symbols in a new order costs
    # several times more than gathering their factors).
    rows = rows.with_columns(_split_factor(rows, series, on, splits).alias("_cum").cast(pl.Float64)).drop(series)
    # A file in series and date order, each date once (the usual file), is in the order the sort below gives
    # already, with no row repeating another: tested as (series, then day) rising from each row to the next, which
    # costs a pass instead of a sort (compared as they are: no column of 64-bit keys is made for it).
    n = rows.height
    code, day = pl.col("_series"), pl.col(on).cast(pl.Date).to_physical()
    after = code.slice(1) > code.slice(0, n - 1)
    later = (code.slice(1) == code.slice(0, n - 1)) & (day.slice(1) > day.slice(0, n - 1))
    in_order = n > 1 and bool(rows.select((after | later).all()).item())
    if not in_order:
        rows = _in_series_order(rows, on, value)
    if rows.height == 0:
        return frame.with_columns(
            pl.lit(None, dtype=pl.Float64).alias(name), pl.lit(None, dtype=pl.String).alias(shown)
        )
    if in_order:
        distinct = rows  # each (series, date) once: no row repeats another
    else:
        repeat = (
            (pl.col("_series") == pl.col("_series").shift(1))
            & (pl.col(on) == pl.col(on).shift(1))
            & (pl.col(value) == pl.col(value).shift(1))
        ).fill_null(False)
        rows = rows.with_columns(((~repeat).cum_sum() - 1).alias("_first"))
        distinct = rows.filter(~repeat)
    rows = rows.select(_ROW) if in_order else rows.select(_ROW, "_first")  # where each result goes
    distinct = distinct.drop(on, _ROW)  # the dates are read no further
    derived = _changes(distinct, value=value, limit=limit, exponent=exponent)
    if in_order and rows.height == frame.height:
        # every row of the frame, in its order, each its own: the columns are the frame's as they are
        return frame.with_columns(derived[name], derived[shown])
    # each row takes the result of its first repeat, put at its own position (``_ROW`` is the row's position)
    at = rows[_ROW]
    values = derived[name] if in_order else derived[name].gather(rows["_first"])
    added = [pl.repeat(None, frame.height, dtype=pl.Float64, eager=True).alias(name).scatter(at, values)]
    # the readable text is set on the few rows that break the limit: only those are gathered and placed
    written = derived[shown].is_not_null().arg_true()
    if in_order:
        to, text = at.gather(written), derived[shown].gather(written)
    else:
        firsts = rows["_first"]
        taking = firsts.is_in(written.implode())
        to, text = at.filter(taking), derived[shown].gather(firsts.filter(taking))
    added.append(pl.repeat(None, frame.height, dtype=pl.String, eager=True).alias(shown).scatter(to, text))
    return frame.with_columns(added)


def _changes(distinct: pl.DataFrame, *, value: str, limit: float, exponent: int) -> pl.DataFrame:
    """``_jumps``'s measure on rows in series and date order, each (series, date) once (columns ``_series``,
    ``value`` and ``_cum``, the split factor): ``<value>_change`` for every row and its ``..._shown`` text where it
    breaks the limit, in the rows' order."""
    name, shown = change_column(value), shown_column(change_column(value))
    x = pl.col(value).cast(pl.Float64)

    def prev(expr: pl.Expr, k: int) -> pl.Expr:
        return pl.when(pl.col("_series").shift(k) == pl.col("_series")).then(expr.shift(k))

    low, high = 1 / limit, limit
    # Why one column at a time: of a step's parts (the values one and two rows back, both ratios, the value
    # before) every row needs only the ratio to the previous value; the others matter on the few rows near a split,
    # after a jump or failing the check, and are computed there alone, so 13 million closes cost one new column
    # instead of six (the memory of an import's largest file).
    series = distinct.get_column("_series")
    values = distinct.select(x.alias(value)).to_series()
    factors = distinct.get_column("_cum").cast(pl.Float64)
    step1 = distinct.select((x / prev(x, 1)).alias(name)).to_series()
    near: pl.Series | None = None
    if bool((factors != 1.0).any()):
        cum = pl.col("_cum")
        moved = (cum != 1.0) | (prev(cum, 1) != 1.0).fill_null(False) | (prev(cum, 2) != 1.0).fill_null(False)
        near = distinct.select(pl.arg_where(moved)).to_series()

    def back(column: pl.Series, at: pl.Series, k: int) -> pl.Series:
        """``prev`` at the rows ``at`` alone: the value ``k`` rows back where that row is of the same series."""
        at = at.cast(pl.Int64)
        source = (at - k).clip(lower_bound=0)
        same = (at >= k) & (series.gather(source) == series.gather(at))
        return pl.DataFrame({"same": same, "v": column.gather(source)}).select(pl.when("same").then("v")).to_series()

    def steps(at: pl.Series, k: int) -> pl.Series:
        """The ratio to the value ``k`` rows back at the rows ``at``, or, at a row near a split (``near``), to the
        split-adjusted level when that is nearer 1."""
        parts = pl.DataFrame(
            {
                value: values.gather(at),
                "_cum": factors.gather(at),
                "_xk": back(values, at, k),
                "_ck": back(factors, at, k),
            }
        )
        plain = x / pl.col("_xk")
        if near is None:
            return parts.select(plain).to_series()
        level = x * pl.col("_cum").pow(exponent)
        adjusted = _closest_to_one(plain, level / (pl.col("_xk") * pl.col("_ck").pow(exponent)))
        return (
            parts.with_columns(at.is_in(near.implode()).alias("_near"))
            .select(pl.when("_near").then(adjusted).otherwise(plain))
            .to_series()
        )

    if near is not None and near.len():
        step1 = step1.scatter(near, steps(near, 1))
    jumped = step1.is_not_null() & ~step1.is_between(low, high)
    # A row that jumps right after a row that jumped may be the return from a one-row spike: compared with the row
    # before the spike instead (step 2), it is blamed only when that comparison breaks the limit too.
    after_jump = (
        pl.DataFrame({"_series": series, "_j": jumped})
        .select(pl.arg_where(pl.col("_j") & prev(pl.col("_j"), 1).fill_null(False)))
        .to_series()
    )
    step2 = steps(after_jump, 2)
    returned = step2.is_between(low, high).fill_null(False)
    spike = after_jump.filter(returned)
    changes = step1.scatter(spike, step2.filter(returned)) if spike.len() else step1
    del step1, step2, jumped
    # written only where the check fails: it is what a report shows, and formatting every close costs seconds
    failing = (
        changes.to_frame().select(pl.arg_where((~pl.col(name).is_between(low, high)).fill_null(False))).to_series()
    )
    texts = pl.repeat(None, changes.len(), dtype=pl.String, eager=True).alias(shown)
    if failing.len():
        from_spike = failing.is_in(spike.implode())
        before = pl.DataFrame(
            {"_spike": from_spike, "_x1": back(values, failing, 1), "_x2": back(values, failing, 2)}
        ).select(pl.when("_spike").then("_x2").otherwise("_x1").alias("_before"))
        text = pl.DataFrame({value: values.gather(failing), "_before": before.to_series()}).select(
            pl.format("{} after {}", x, pl.col("_before")).cast(pl.String)
        )
        texts = texts.scatter(failing, text.to_series())
    return pl.DataFrame([changes.alias(name), texts])


def _in_series_order(rows: pl.DataFrame, on: str, value: str) -> pl.DataFrame:
    """``rows`` (no series or date unknown) sorted on series, date, value and row. When no two rows share a series
    and a date (a file out of order, but each date once), the order is told by one sort of 64-bit keys instead of a
    sort on four columns: each key packs the series, the day and the row's position, so the sorted keys carry the
    order in their low bits (a plain sort, about a third of an arg-sort of the same keys); rows that share a series
    and a date are sorted on all four."""
    day = pl.col(on).cast(pl.Date).to_physical().cast(pl.Int64)
    n = rows.height
    if n < 2:
        return rows
    low, high, first, last = rows.select(
        pl.col("_series").min().alias("low"),
        pl.col("_series").max().alias("high"),
        day.min().alias("lo"),
        day.max().alias("hi"),
    ).row(0)
    series_bits = max(1, int(high).bit_length())
    day_bits, row_bits = max(1, int(last - first).bit_length()), max(1, (n - 1).bit_length())
    if int(low) >= 0 and series_bits + day_bits + row_bits <= 63:
        packed = (
            (pl.col("_series").cast(pl.Int64) * (1 << (day_bits + row_bits)))
            + ((day - first) * (1 << row_bits))
            + pl.int_range(n, dtype=pl.Int64)
        )
        ordered = rows.select(packed.sort().alias("_k")).to_series()
        by_day = ordered // (1 << row_bits)  # series and day, in order
        if bool((by_day.slice(1) == by_day.slice(0, n - 1)).any()):
            return rows.sort("_series", on, value, _ROW)
        return rows[ordered % (1 << row_bits)]
    day = day + 2**31  # 0 .. 2**32 for any date
    key = rows.select((pl.col("_series").cast(pl.UInt64) * 2**32 + day.cast(pl.UInt64)).alias("_k")).to_series()
    order = key.arg_sort()
    ordered = key.gather(order)
    del key
    if bool((ordered.slice(1) == ordered.slice(0, n - 1)).any()):
        return rows.sort("_series", on, value, _ROW)
    return rows[order]


def value_codes(column: pl.Series) -> pl.Series:
    """Integers equal where the values are equal (null where the value is): text and dates compared as small
    numbers. A sorted text column (a file in symbol order) is numbered by its runs, a pass over neighbours instead
    of hashing every string."""
    dtype = column.dtype
    if dtype == pl.String and column.null_count() == 0 and column.is_sorted():
        return column.rle_id()
    if dtype in (pl.String, pl.Categorical):
        return column.cast(pl.Categorical).to_physical()
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        return column.to_physical()
    return column


def _codes(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with ``_series`` (the symbol as a small integer), ``_label`` (the position of the period label in
    ``PERIODS``; null for another label) and ``_key``, one integer that orders as (series, label, period end) and is
    null when a part is: sorted, made unique and joined as one integer column instead of text."""
    days = pl.col("period_end").cast(pl.Date).to_physical().cast(pl.Int64) + 2**31  # 0 .. 2**32 for any date
    return frame.with_columns(
        value_codes(frame.get_column("symbol")).alias("_series"),
        pl.col("period").replace_strict(list(PERIODS), list(range(len(PERIODS))), default=None).alias("_label"),
    ).with_columns(
        (pl.col("_series").cast(pl.Int64) * 2**34 + pl.col("_label").cast(pl.Int64) * 2**32 + days).alias("_key")
    )


def _spacing(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``period_by_spacing``: the label the days since the previous period of the same series (symbol and
    label) imply. A longer gap in a series whose typical (median) spacing fits its label is a missing period, not
    another label, and keeps the label; a shorter one never does. The text a report shows is written only where
    the label and the spacing disagree (the rows the check fails)."""
    coded = _codes(frame.select("symbol", "period_end", "period"))
    same = (pl.col("_series") == pl.col("_series").shift(1)) & (pl.col("_label") == pl.col("_label").shift(1))
    rows = (
        coded.select("_key", "_series", "_label", "period_end", "period")
        .filter(pl.col("_key").is_not_null())
        .sort("_key")
        .filter(pl.col("_key") != pl.col("_key").shift(1).fill_null(-1))  # each (series, label, end) once
        .with_columns(
            pl.when(same)
            .then(pl.col("period_end") - pl.col("period_end").shift(1))
            .dt.total_days()
            .alias("period_gap_days")
        )
    )
    implied = pl.lit(None, dtype=pl.String)
    for label, (lo, hi) in reversed(list(PERIOD_SPACING.items())):
        implied = pl.when(pl.col("period_gap_days").is_between(lo, hi)).then(pl.lit(label)).otherwise(implied)
    high = pl.col("period").replace_strict({k: v[1] for k, v in PERIOD_SPACING.items()}, return_dtype=pl.Int64)
    low = pl.col("period").replace_strict({k: v[0] for k, v in PERIOD_SPACING.items()}, return_dtype=pl.Int64)
    typical = pl.col("period_gap_days").median().over("_series", "_label")
    # A series' typical spacing matters only where a gap is longer than its label allows (rare): the median is
    # taken over the series that have such a gap, each whole, instead of over every series.
    longer = (pl.col("period_gap_days") > high).fill_null(False)
    rows = rows.with_columns(longer.alias("_gap"), implied.alias("_implied"))
    if bool(rows["_gap"].any()):
        series = pl.col("_series").cast(pl.Int64) * len(PERIODS) + pl.col("_label").cast(pl.Int64)
        with_gap = rows.filter(pl.col("_gap")).select(series.unique()).to_series()
        at = rows.select(pl.arg_where(series.is_in(with_gap.implode()))).to_series()
        gap = rows[at].select((pl.col("_gap") & typical.is_between(low, high)).fill_null(False)).to_series()
        rows = rows.with_columns(rows["_gap"].scatter(at, gap))
    rows = rows.with_columns(
        pl.when(pl.col("period_gap_days").is_null())
        .then(None)
        .when(pl.col("_gap"))
        .then(pl.col("period"))
        .otherwise(pl.col("_implied"))
        .alias("period_by_spacing")
    )
    # a gap that fits no label is named by its days: rare, so written only where it happens
    odd = pl.col("period_gap_days").is_not_null() & ~pl.col("_gap").fill_null(False) & pl.col("_implied").is_null()
    rows = rows.with_columns(
        _only_where(rows, odd, pl.format("{} days", pl.col("period_gap_days")), rows["period_by_spacing"])
    )
    shown = pl.format(
        "{}, {} days after the previous {} ({})",
        pl.col("period"),
        pl.col("period_gap_days"),
        pl.col("period"),
        pl.when(pl.col("_gap"))
        .then(pl.lit("a missing period"))
        .otherwise(pl.coalesce(pl.col("_implied"), pl.lit("no period")) + pl.lit(" spacing")),
    )
    name = shown_column("period_by_spacing")
    fails = pl.col("period_by_spacing") != pl.col("period")
    rows = rows.with_columns(
        _only_where(rows, fails, shown, pl.repeat(None, rows.height, dtype=pl.String, eager=True).alias(name))
    )
    # each row of the frame finds its (series, label, end) among the sorted distinct ones
    keys = rows["_key"]
    key = coded["_key"]
    at = pl.select(pl.when(key.is_not_null()).then(keys.search_sorted(key.fill_null(-1), side="left"))).to_series()
    added = rows.select(pl.col("period_gap_days", "period_by_spacing", name).gather(at))
    return pl.concat([frame, added], how="horizontal")


def _only_where(frame: pl.DataFrame, mask: pl.Expr, value: pl.Expr, base: pl.Series) -> pl.Series:
    """``base`` with ``value`` (computed on the rows where ``mask`` holds, and only there) at those rows: text a
    report shows is formatted for the few rows that need it, not for millions (``when/then`` computes both sides
    on every row)."""
    idx = frame.select(pl.arg_where(mask.fill_null(False))).to_series()
    if idx.len() == 0:
        return base
    return base.scatter(idx, frame[idx].select(value.cast(base.dtype)).to_series())


#: The columns ``_spacing`` adds: computed once per frame, by the import's parse or by ``derive``.
SPACING_COLUMNS: tuple[str, ...] = ("period_gap_days", "period_by_spacing", shown_column("period_by_spacing"))


def with_spacing(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame``'s symbol, period_end and period plus ``period_gap_days`` (days since the previous period end of the
    same symbol and label), ``period_by_spacing`` (the label that spacing implies; see ``_spacing``) and the text a
    report shows where they disagree (``SPACING_COLUMNS``), in the frame's row order."""
    return _spacing(frame.select("symbol", "period_end", "period"))


def _fy_parts(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``<flow>_vs_parts`` for FY rows: |FY - sum of its parts| over the larger of |FY| and the parts' total
    size, when every quarter (else every half) inside the year is present with a value. Null otherwise.

    Why a sorted search: a series' parts, sorted on ``_key`` (series, label, period end), lie side by side, so the
    parts inside a year's window are the ones between two binary searches, and how many there are is known before
    any is fetched. Only the years with every quarter (else every half) then meet their parts, each its few, and
    the flows are read for those pairs alone."""
    flows = [f for f in FLOWS if f in frame.columns]
    if not flows:
        return frame  # nothing to add up
    out_cols = [parts_column(f) for f in flows] + [shown_column(parts_column(f)) for f in flows]
    base = _codes(frame.select(_ROW, "symbol", "period_end", "period")).filter(
        pl.col("symbol").is_not_null() & pl.col("period_end").is_not_null()
    )
    fy = base.filter(pl.col("period") == "FY").select(_ROW, "_series", "period_end")
    parts = base.filter(pl.col("period").is_in(list(_PARTS))).select(_ROW, "_label", "_key")
    del base
    if not _rising(parts["_key"]):  # a file in symbol and date order holds each part once, in key order
        parts = parts.unique(subset="_key", keep="first", maintain_order=True).sort("_key")
    if fy.height == 0 or parts.height == 0:
        return frame.with_columns(
            pl.lit(None, dtype=pl.Float64 if not c.endswith("_shown") else pl.String).alias(c) for c in out_cols
        )
    before, after = _PARTS_WINDOW
    keys = parts["_key"]
    # a part is inside a year ending on day e when it ends after e - 330 days and no later than e + 7 (``_codes``
    # numbers a day from 0 to 2**32, so the bounds are kept in that range)
    day = pl.col("period_end").cast(pl.Date).to_physical().cast(pl.Int64) + 2**31
    low = pl.max_horizontal(day - (before.days - 1), pl.lit(0, pl.Int64))
    high = pl.min_horizontal(day + after.days, pl.lit(2**32 - 1, pl.Int64))
    counted = fy.select(
        _ROW, (pl.col("_series").cast(pl.Int64) * 2**34).alias("_s"), low.alias("_lo"), high.alias("_hi")
    )
    windows = []
    for label in _PARTS:
        at = pl.col("_s") + PERIODS.index(label) * 2**32
        first = keys.search_sorted(counted.select(at + pl.col("_lo")).to_series(), side="left")
        last = keys.search_sorted(counted.select(at + pl.col("_hi")).to_series(), side="right")
        windows += [first.alias(f"_first_{label}"), (last.cast(pl.Int64) - first.cast(pl.Int64)).alias(f"_n_{label}")]
    counted = counted.select(_ROW).with_columns(windows)
    # quarters first: a year fully covered by quarters is checked against them, else against its halves
    chosen = pl.concat(
        [
            counted.filter(pl.col("_n_Q") == _PARTS["Q"]).select(
                _ROW, pl.col("_first_Q").alias("_first"), pl.lit("Q").alias("period")
            ),
            counted.filter((pl.col("_n_Q") != _PARTS["Q"]) & (pl.col("_n_H") == _PARTS["H"])).select(
                _ROW, pl.col("_first_H").alias("_first"), pl.lit("H").alias("period")
            ),
        ]
    ).sort(_ROW)
    del counted
    if chosen.height == 0:  # no year to check: the columns a check writes, each followed by its text, all unknown
        return frame.with_columns(
            pl.lit(None, dtype=dtype).alias(c)
            for f in flows
            for c, dtype in ((parts_column(f), pl.Float64), (shown_column(parts_column(f)), pl.String))
        )
    want = pl.col("period").replace_strict(_PARTS, return_dtype=pl.Int64)
    # every pair (year, part) in year order, then the part's key order: its date order within the label
    pairs = chosen.select(
        _ROW, pl.int_ranges(pl.col("_first"), pl.col("_first") + want, dtype=pl.UInt32).alias("_part")
    ).explode("_part")
    rows = parts[_ROW].gather(pairs["_part"])
    inside = pl.concat(
        [pairs.select(_ROW), parts.select("_label")[pairs["_part"]], frame.select(flows)[rows]], how="horizontal"
    )
    del pairs, rows
    # the sums of each year's parts, grouped on integers (the label's position in ``PERIODS``)
    per_label = inside.group_by(_ROW, "_label", maintain_order=True).agg(
        *(pl.col(f).count().alias(f"_n_{f}") for f in flows),
        *(pl.col(f).sum().alias(f"_sum_{f}") for f in flows),
        *(pl.col(f).abs().sum().alias(f"_abs_{f}") for f in flows),
    )
    del inside
    checked = pl.concat(
        [
            chosen.select(_ROW, "period", want.alias("_want")),
            per_label.drop(_ROW, "_label"),
            frame.select(pl.col(f).alias(f"_fy_{f}") for f in flows)[chosen[_ROW]],
        ],
        how="horizontal",
    )
    exprs = []
    texts = []
    for f in flows:
        fy_v, total, size = pl.col(f"_fy_{f}"), pl.col(f"_sum_{f}"), pl.col(f"_abs_{f}")
        complete = (pl.col(f"_n_{f}") == pl.col("_want")) & fy_v.is_not_null()
        scale = pl.max_horizontal(fy_v.abs(), size)
        gap = pl.when(scale > 0).then((fy_v - total).abs() / scale).otherwise(0.0)
        parts_name = pl.when(pl.col("period") == "Q").then(pl.lit("quarters")).otherwise(pl.lit("halves"))
        exprs.append(pl.when(complete).then(gap).alias(parts_column(f)))
        texts.append(
            (
                complete & ~gap.is_between(0, FY_TOLERANCE),
                pl.format("FY {} vs {} from its {}", fy_v, total, parts_name),
                shown_column(parts_column(f)),
            )
        )
    derived = checked.select(_ROW, *exprs)
    # the text a report shows, written only where the check fails (``_fy_parts`` checks 0 .. FY_TOLERANCE)
    empty = pl.repeat(None, checked.height, dtype=pl.String, eager=True)
    derived = derived.with_columns(_only_where(checked, fails, text, empty.alias(col)) for fails, text, col in texts)
    derived = derived.select(_ROW, *(c for f in flows for c in (parts_column(f), shown_column(parts_column(f)))))
    return frame.with_columns(_at_rows(frame.height, derived))


def _rising(values: pl.Series) -> bool:
    """Whether every value is above the one before (no nulls): the order a sort would give, with no repeats."""
    if values.null_count():
        return False
    return values.len() < 2 or bool((values.slice(1) > values.slice(0, values.len() - 1)).all())


def _at_rows(height: int, derived: pl.DataFrame) -> list[pl.Series]:
    """``derived``'s columns (besides ``_ROW``, the row's position) as columns of ``height`` rows, each value at its
    row and null elsewhere: placed by position instead of a join on the row number."""
    at = derived[_ROW]
    return [
        pl.repeat(None, height, dtype=col.dtype, eager=True).alias(col.name).scatter(at, col)
        for col in derived.iter_columns()
        if col.name != _ROW
    ]


def _refresh(frame: pl.DataFrame) -> pl.DataFrame:
    since = (
        pl.col("empty_since").dt.strftime("%Y-%m-%d %H:%M:%S")
        if "empty_since" in frame.columns
        else pl.lit(None, pl.String)
    )
    message = pl.col("message") if "message" in frame.columns else pl.lit(None, pl.String)
    text = (
        pl.col("status")
        + pl.when(since.is_not_null()).then(pl.lit(" since ") + since).otherwise(pl.lit(""))
        + pl.when(message.is_not_null()).then(pl.lit(": ") + message).otherwise(pl.lit(""))
    )
    return frame.with_columns(text.alias(shown_column("status")))


def derive(
    kind: str, frame: pl.DataFrame, splits: pl.DataFrame | None = None, *, spacing: pl.DataFrame | None = None
) -> pl.DataFrame:
    """``frame`` with the derived columns its kind's suite checks, in the same row order. ``splits`` (symbol,
    date, ratio) are the known splits; jumps they explain pass. ``spacing`` is ``with_spacing``'s
    ``SPACING_COLUMNS`` for this very frame, when the caller computed them already (the import's parse does, to
    name a mislabelled series): they are taken as they are instead of computed again."""
    cols = set(frame.columns)
    out = frame.with_row_index(_ROW)
    if kind == "prices" and {"symbol", "date", "close"} <= cols:
        out = _jumps(out, series="symbol", on="date", value="close", limit=PRICE_JUMP_LIMIT, splits=splits, exponent=1)
    elif kind == "fx" and {"currency", "date", "usd_per_unit"} <= cols:
        out = _jumps(
            out, series="currency", on="date", value="usd_per_unit", limit=PRICE_JUMP_LIMIT, splits=None, exponent=1
        )
    elif kind == "shares" and {"symbol", "date", "shares"} <= cols:
        out = _jumps(
            out, series="symbol", on="date", value="shares", limit=SHARE_JUMP_LIMIT, splits=splits, exponent=-1
        )
    elif kind == "fundamentals" and {"symbol", "period_end", "period"} <= cols:
        if "shares_outstanding" in cols:
            out = _jumps(
                out,
                series="symbol",
                on="period_end",
                value="shares_outstanding",
                limit=SHARE_JUMP_LIMIT,
                splits=splits,
                exponent=-1,
            )
        if spacing is not None and spacing.height == out.height:
            out = pl.concat([out, spacing.select(SPACING_COLUMNS)], how="horizontal")
        else:
            out = _spacing(out)
        out = _fy_parts(out)
    elif kind == "refresh" and "status" in cols:
        out = _refresh(out)
    return out.sort(_ROW).drop(_ROW)
