"""The terminal table path: human-scaled money, percent, widths, headers, column choice; and the field catalogue."""

from __future__ import annotations

import io
import math
import re

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from screener.errors import ArgumentError
from screener.output.render import View, compact_columns, human_money, parse_money, render, to_csv_text

amounts = st.floats(min_value=-1e15, max_value=1e15, allow_nan=False, allow_infinity=False)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _scale(v: float) -> float:
    """The unit of the last printed digit: a cent below a thousand, a tenth of the scale above."""
    size = abs(v)
    for scale in (1e12, 1e9, 1e6, 1e3):
        if size >= scale * 0.99995:
            return scale / 10
    return 0.01


# -- money --------------------------------------------------------------------------------------------------------
@given(amounts)
def test_money_round_trips_within_the_printed_precision(v: float) -> None:
    text = human_money(v)
    back = parse_money(text)
    assert back is not None
    assert abs(back - v) <= _scale(v) / 2 + 1e-9 * abs(v), (v, text)


@given(amounts, amounts)
def test_money_text_is_monotone(a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    assert parse_money(human_money(lo)) <= parse_money(human_money(hi))  # type: ignore[operator]


@given(st.floats(min_value=1e-3, max_value=1e15, allow_nan=False))
def test_negative_money_mirrors_positive(v: float) -> None:
    pos, neg = human_money(v), human_money(-v)
    assert neg in (f"-{pos}", pos) and (neg == pos) == (pos == "0.00")
    assert "nan" not in pos.lower() and "e+" not in pos


@pytest.mark.parametrize("v", [None, math.nan, math.inf, -math.inf])
def test_unknown_money_is_an_empty_cell(v: float | None) -> None:
    assert human_money(v) == "" and parse_money(human_money(v)) is None


@pytest.mark.parametrize(
    ("v", "text"),
    [
        (79_898_347_851, "79.9bn"),
        (512_300_000, "512.3m"),
        (-512_300_000, "-512.3m"),
        (41_234, "41.2k"),
        (950.25, "950.25"),
        (999_960_000, "1.0bn"),  # rounding to 1000.0m moves up a scale
        (999.996, "1.0k"),
        (-0.001, "0.00"),
        (3.2e12, "3.2tn"),
    ],
)
def test_money_examples(v: float, text: str) -> None:
    assert human_money(v) == text


def test_money_columns_print_human_scaled_and_csv_keeps_the_number() -> None:
    frame = pl.DataFrame({"symbol": ["A", "B"], "market_cap_usd": [79_898_347_851.0, None]})
    out = io.StringIO()
    render(frame, "table", out)
    assert "79.9bn" in out.getvalue() and "79,898" not in out.getvalue()
    assert "79898347851" in to_csv_text(frame).replace(".0", "")


def test_money_with_a_currency() -> None:
    assert human_money(41.2e9, "JPY") == "JPY 41.2bn" and human_money(-5e5, "AUD") == "AUD -500.0k"
    assert human_money(None, "AUD") == "" and parse_money("JPY 41.2bn") == pytest.approx(41.2e9)


def test_percentiles_and_shares_print_as_percent_and_nan_is_empty() -> None:
    frame = pl.DataFrame(
        {
            "symbol": ["A", "B"],
            "dilution_risk_pct": [0.9166, math.nan],
            "weight": [0.0909, 0.5],
            "score": [0.805, None],
        }
    )
    out = io.StringIO()
    render(frame, "table", out)
    text = out.getvalue()
    assert "92%" in text and "9.1%" in text and "50.0%" in text and "0.805" in text
    assert "nan" not in text.lower()


# -- widths and columns -------------------------------------------------------------------------------------------
RANKED = pl.DataFrame(
    {
        "rank": [1, 2],
        "symbol": ["UCU.V", "NEO.TO"],
        "name": ["Ucore Rare Metals Inc.", "Neo Performance Materials Inc."],
        "country": ["CA", "CA"],
        "score": [0.805, 0.795],
        "contrib.localization_premium": [0.37, 0.27],
        "contrib.dilution_risk": [0.20, 0.35],
        "contrib.pullback": [0.05, 0.01],
        "localization_premium_pct": [0.92, 0.67],
        "dilution_risk_pct": [0.42, 0.0],
        "pullback_pct": [0.42, 0.08],
        "liquidity_pct": [0.4, 0.1],
        "reason": ["enabler (processor); high localization premium (pct 0.92); " * 3] * 2,
    }
)


def test_compact_set_puts_the_heaviest_contributions_first() -> None:
    required, optional = compact_columns(RANKED)
    assert required == ["rank", "symbol", "name", "score", "reason"]
    # localization_premium contributes most on average, then dilution_risk, then pullback; liquidity is not weighted
    assert optional[:3] == ["localization_premium_pct", "dilution_risk_pct", "pullback_pct"]
    assert "liquidity_pct" not in optional


@pytest.mark.parametrize("width", [60, 90, 120, 160])
def test_compact_table_fits_the_terminal(monkeypatch: pytest.MonkeyPatch, width: int) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    out = _Tty()
    render(RANKED, "table", out, view=View())
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in out.getvalue().splitlines() if line.strip()]
    assert max(len(line) for line in lines) <= width
    body = [line for line in lines if "UCU.V" in line]
    assert len(body) == 1  # one line per row


def test_headers_wrap_at_underscores_only_when_the_table_would_not_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    out = _Tty()
    render(RANKED.select("symbol", "localization_premium_pct"), "table", out)
    assert "localization_premium_pct" in re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())
    monkeypatch.setenv("COLUMNS", "40")
    out = _Tty()
    render(RANKED.select("symbol", "name", "localization_premium_pct"), "table", out)
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())
    assert "localization_premium_pct" not in text and "localization_" in text


def test_a_file_or_pipe_keeps_every_cell_whole_unless_asked_to_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    out = io.StringIO()
    render(RANKED, "table", out)
    assert RANKED["reason"][0] in out.getvalue()
    out = io.StringIO()
    render(RANKED, "table", out, view=View(fit=True))
    assert max(len(line) for line in out.getvalue().splitlines()) <= 80


def test_chosen_columns_are_checked_in_every_format() -> None:
    for fmt in ("table", "csv", "json"):
        with pytest.raises(ArgumentError, match="unknown column 'scroe' \\(did you mean 'score'\\?\\)"):
            render(RANKED, fmt, io.StringIO(), view=View(columns=("symbol", "scroe")))
    out = io.StringIO()
    render(RANKED, "csv", out, view=View(columns=("symbol",)))
    assert out.getvalue().splitlines()[0].count(",") == RANKED.width - 1  # csv carries every column


# -- the catalogue ------------------------------------------------------------------------------------------------
def test_catalogue_where_fields_are_what_a_screen_can_read(store) -> None:
    """Every name the rule language accepts on a real score frame is listed as a where-field, and vice versa."""
    from factors.engine import scores_for
    from rules.expr import namespace_from_schema
    from screener.output.fields import catalogue
    from tests.builders import MARKET_END, build_market_store

    build_market_store(store)
    scores = scores_for(store, MARKET_END)
    readable = set(namespace_from_schema(scores.schema).types)
    cat = catalogue()
    listed = set(cat.filter("where")["field"])
    assert readable == listed
    assert cat["field"].is_unique().all() and cat["meaning"].str.len_chars().min() > 0  # type: ignore[operator]


def test_unit_of_drives_the_table_formats() -> None:
    from screener.output.fields import PERCENTILE, USD, unit_of

    assert unit_of("market_cap_usd") == USD and unit_of("dilution_risk.funding_gap_usd") == USD
    assert unit_of("liquidity") == USD  # the factor declares its value a USD amount
    assert unit_of("pullback_pct") == PERCENTILE and unit_of("some_new_pct") == PERCENTILE
    assert unit_of("dilution_risk.months_to_raise") == "months"


def test_describe_gives_the_catalogues_words() -> None:
    from factors.registry import FACTORS
    from screener.output.fields import catalogue, describe

    cat = {r["field"]: r["meaning"] for r in catalogue().iter_rows(named=True)}
    assert all(m == describe(f) for f, m in cat.items())  # one meaning per field, verbatim
    assert all(describe(f) for f in cat)
    assert describe("pullback_pct_eligible") not in cat["pullback_pct"]  # two percentiles, two fields
    assert describe("dilution_risk") == FACTORS["dilution_risk"].description and describe("no_such_field") == ""


def _fitted(frame: pl.DataFrame, width: int, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("COLUMNS", str(width))
    out = io.StringIO()
    render(frame, "table", out, view=View(wide=True, fit=True))
    return out.getvalue().splitlines()


def test_text_is_cut_below_its_usual_floor_rather_than_overflow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chosen columns whose text, each cut to ``MIN_TEXT_WIDTH``, still overflow: the text gives way further, the
    numbers and the symbol stay whole."""
    frame = RANKED.select("rank", "symbol", "name", "score", "reason").with_columns(
        pl.lit("magnet_maker;recycler;processor").alias("roles"), pl.lit("developer-stage").alias("stage")
    )
    lines = _fitted(frame, 60, monkeypatch)
    assert max(len(line) for line in lines) <= 60
    text = "\n".join(lines)
    assert "NEO.TO" in text and "UCU.V" in text and "0.805" in text and "0.795" in text


def test_a_table_whose_numbers_and_identifiers_alone_overflow_stays_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Numbers and identifying columns are never cut: a cut number is a wrong number. Text is still cut as far as
    it goes (to its header's longest part)."""
    frame = pl.DataFrame(
        {
            "symbol": ["A-VERY-LONG-SYMBOL.EXCHANGE"],
            "market_cap_usd": [1.5e9],
            "revenue_usd": [2.5e6],
            "name": ["A company with a long name that is cut"],
        }
    )
    lines = _fitted(frame, 30, monkeypatch)
    text = "\n".join(lines)
    assert "A-VERY-LONG-SYMBOL.EXCHANGE" in text and "1.5bn" in text and "2.5m" in text
    assert "A company with a long name" not in text
    row = next(line for line in lines if "A-VERY-LONG" in line)
    name_cell = row.strip("│").split("│")[-1].strip()
    assert len(name_cell) == len("name")  # cut to its header
