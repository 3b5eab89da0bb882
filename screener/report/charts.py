"""The report's charts as Vega-Altair specifications, and their rendering to static SVG with ``vl-convert``.

Why Altair and vl-convert: a chart is declared as data plus encodings (no drawing code to get wrong), and
vl-convert runs the Vega renderer in-process, so each chart becomes plain SVG without a browser and the page needs no
script at view time. Each function takes a frame from ``screener.report.data`` and returns a chart; a row with a
null value is left out of the chart (the page lists it as missing), so nothing missing is ever drawn as zero.

Altair and vl_convert are imported inside the functions: only the report pays for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    import altair as alt

#: Width of a full-width chart in CSS pixels: fits an A4 landscape page with its margins.
FULL_WIDTH = 860
#: Fonts every system has; the SVG names them and the viewer's own font draws the text (nothing is fetched).
FONT = "Helvetica, Arial, sans-serif"
#: Colours that stay apart in print and for the common colour-vision deficiencies (Tableau 10).
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]
#: Vega-Lite settings shared by every chart: plain fonts, no frame around the plot.
CONFIG: dict[str, Any] = {
    "font": FONT,
    "view": {"stroke": None},
    "axis": {"labelFontSize": 11, "titleFontSize": 11, "gridColor": "#e6e6e6"},
    "legend": {"labelFontSize": 11, "titleFontSize": 11, "orient": "bottom", "columns": 3},
    "title": {"fontSize": 13, "anchor": "start"},
    "range": {"category": PALETTE},
}

#: The two kinds of point in the scatter charts, told apart by colour.
STATUS = ["member", "not a member"]
#: The two kinds of bar part in the ranked list: a factor measured for the member, or one resting on an input the
#: factor's missing-value policy filled (peers' median, cross-section median or worst value).
FILLED = ["measured", "rests on a filled input"]


def _alt() -> Any:
    import altair as alt

    return alt


def contributions_chart(contributions: pl.DataFrame, factors: Sequence[str], longest: float | None = None) -> alt.Chart:
    """One horizontal bar per member, stacked by factor contribution: the bar's length is the score. ``longest``
    fixes the end of the scale, so the parts of a long list drawn as several charts read on one scale."""
    alt = _alt()
    data = contributions.filter(pl.col("contrib").is_not_null()).with_columns(
        pl.format("{}. {}", pl.col("rank"), pl.col("symbol")).alias("member"),
        pl.when(pl.col("filled").is_not_null()).then(pl.lit(FILLED[1])).otherwise(pl.lit(FILLED[0])).alias("input")
        if "filled" in contributions.columns
        else pl.lit(FILLED[0]).alias("input"),
    )
    order = data.sort("rank")["member"].unique(maintain_order=True).to_list()
    any_filled = FILLED[1] in set(data["input"].to_list())
    return (
        alt.Chart(data, title="Score by factor contribution")
        # a part resting on a filled input is paler and outlined in dashes, so it reads apart in colour and in print
        .mark_bar(strokeWidth=1.2)
        .encode(
            opacity=alt.Opacity(
                "input:N",
                scale=alt.Scale(domain=FILLED, range=[1.0, 0.35]),
                title="inputs",
                legend=alt.Legend() if any_filled else None,
            ),
            stroke=alt.condition(f"datum.input == '{FILLED[1]}'", alt.value("#333333"), alt.value(None)),
            strokeDash=alt.condition(f"datum.input == '{FILLED[1]}'", alt.value([3, 2]), alt.value([1, 0])),
            y=alt.Y("member:N", sort=order, title=None),
            x=alt.X(
                "sum(contrib):Q",
                title="contribution to score (weight share × percentile × tilt)",
                scale=alt.Scale(domain=[0, longest]) if longest else alt.Undefined,
            ),
            color=alt.Color("factor:N", sort=list(factors), title="factor"),
            order=alt.Order("order:Q"),
        )
        .properties(width=FULL_WIDTH - 160, height=max(60, 18 * len(order)))
    )


def changes_chart(changes: pl.DataFrame) -> alt.Chart:
    """Each change's blamed factor and how much its contribution moved (positive lifted the name)."""
    alt = _alt()
    data = (
        changes.filter(pl.col("contrib_from").is_not_null() & pl.col("contrib_to").is_not_null())
        .with_columns(
            (pl.col("contrib_to") - pl.col("contrib_from")).alias("delta"),
            pl.format("{} ({})", pl.col("symbol"), pl.col("change")).alias("label"),
        )
        .sort(["delta", "symbol"], descending=[True, False])
    )
    return (
        alt.Chart(data, title="Change in the blamed factor's contribution")
        .mark_bar()
        .encode(
            y=alt.Y("label:N", sort=data["label"].to_list(), title=None),
            x=alt.X("delta:Q", title="contribution change since the previous run"),
            color=alt.Color("factor:N", title="factor"),
        )
        .properties(width=FULL_WIDTH - 260, height=max(60, 18 * data.height))
    )


def rank_history_chart(history: pl.DataFrame, order: Sequence[str], top: int | None = None) -> alt.FacetChart:
    """One small panel per member: its rank in each of the recent runs (1 at the top; a gap where it was out, the
    line broken there). ``top`` is the lowest rank on the scale (default: the lowest in ``history``)."""
    alt = _alt()
    data = history.with_columns(pl.col("as_of").cast(pl.String).alias("run"))
    runs = data.sort(["as_of", "run_id"])["run"].unique(maintain_order=True).to_list()
    # the titles carry the rank in the newest run (by as-of date: a rerun keeps an older run id)
    newest = data.sort(["as_of", "run_id"])["run_id"][-1]
    last = data.filter(pl.col("run_id") == newest)
    titles = {s: f"{r}. {s}" if r is not None else s for s, r in last.select("symbol", "rank").iter_rows()}
    data = data.with_columns(pl.col("symbol").replace_strict(titles, default=pl.col("symbol")).alias("member"))
    top = top or max(1, int(data["rank"].max() or 1))
    ticks = [1, *range(5, top + 1, 5)]
    base = alt.Chart().encode(
        # every run of the history is on the axis, also one in which no member of this part was on the list
        x=alt.X("run:O", scale=alt.Scale(domain=runs), title=None, axis=alt.Axis(labelAngle=-45, labelFontSize=9)),
        y=alt.Y(
            "rank:Q",
            scale=alt.Scale(reverse=True, domain=[1, top], nice=False, padding=6),
            axis=alt.Axis(values=ticks, format="d", labelOverlap=False),
            title="rank",
        ),
    )
    # the rows of the runs a company was out of stay in, rank null: the line breaks there (Vega-Lite's
    # "break-paths-show-domains" draws a path through the valid points only, in separate pieces; its default would
    # join the runs on either side of the gap, and ``invalid=None`` draws a null at rank 0), and the points leave
    # them out
    layered = alt.layer(
        base.mark_line(color=PALETTE[0], invalid="break-paths-show-domains"),
        base.mark_point(color=PALETTE[0], filled=True, size=30),
        data=data,
    )
    return layered.properties(width=150, height=90).facet(
        facet=alt.Facet("member:N", sort=[titles.get(s, s) for s in order], title=None), columns=5
    )


def score_by_role_chart(scores: pl.DataFrame, classes: Sequence[str]) -> alt.Chart:
    """Every scored company's score, one row per role class; members filled, the rest hollow."""
    alt = _alt()
    data = scores.filter(pl.col("score").is_not_null()).with_columns(
        pl.col("role_class").fill_null("unknown"),
        pl.when(pl.col("member")).then(pl.lit("member")).otherwise(pl.lit("not a member")).alias("status"),
        # a fixed spread within each row (by score order) so equal scores stay visible; no random jitter, so the
        # same run always draws the same picture
        ((pl.int_range(pl.len()).over("role_class") % 5) - 2).alias("spread"),
    )
    present = [c for c in [*classes, "unknown"] if c in set(data["role_class"].to_list())]
    return (
        alt.Chart(data, title="Score distribution by role class")
        .mark_circle(size=60, opacity=0.8)
        .encode(
            y=alt.Y("role_class:N", sort=present, title="role class"),
            x=alt.X("score:Q", title="score"),
            color=alt.Color("status:N", sort=STATUS, title=None),
            yOffset=alt.YOffset("spread:Q", title=None),
        )
        .properties(width=FULL_WIDTH - 160, height=max(60, 36 * len(present)))
    )


def capacity_chart(capacity: pl.DataFrame, stages: Sequence[str], regions: Sequence[str]) -> alt.HConcatChart:
    """Stake-weighted and risked NdPr-oxide-equivalent tonnes a year, by project stage, stacked by region."""
    alt = _alt()
    present = [s for s in stages if s in set(capacity["stage"].to_list())]

    def panel(column: str, title: str) -> alt.Chart:
        return (
            alt.Chart(capacity, title=title)
            .mark_bar()
            .encode(
                x=alt.X("stage:N", sort=present, title="stage", axis=alt.Axis(labelAngle=-30)),
                y=alt.Y(f"sum({column}):Q", title="t/yr NdPr oxide eq."),
                color=alt.Color("region:N", sort=list(regions), title="region"),
            )
            .properties(width=(FULL_WIDTH - 200) // 2, height=220)
        )

    return alt.hconcat(panel("ndpr_tpa", "Stated capacity (at stake)"), panel("risked_tpa", "Risked capacity"))


def dilution_chart(dilution: pl.DataFrame) -> alt.Chart:
    """Cash runway against one-year share growth: the top left (short runway, many new shares) is where
    dilution bites. Members are labelled."""
    alt = _alt()
    data = dilution.with_columns(
        pl.when(pl.col("member")).then(pl.lit("member")).otherwise(pl.lit("not a member")).alias("status"),
        pl.when(pl.col("member")).then(pl.col("symbol")).otherwise(pl.lit("")).alias("label"),
    ).sort(["member", "symbol"])  # members last, so they are drawn on top
    base = alt.Chart(data, title="Dilution map: cash runway against one-year share growth").encode(
        x=alt.X("runway_years:Q", title="cash runway (years; capped by the factor)"),
        y=alt.Y("share_growth_1y:Q", title="share count growth, 1 year", axis=alt.Axis(format="%")),
    )
    points = base.mark_circle(size=50, opacity=0.8).encode(
        color=alt.Color("status:N", sort=STATUS, title=None),
    )
    labels = base.mark_text(align="left", dx=6, fontSize=9).encode(text="label:N")
    return alt.layer(points, labels).properties(width=FULL_WIDTH - 160, height=300)


def equity_chart(curve: pl.DataFrame, benchmark: str | None = None) -> alt.Chart:
    """The portfolio's equity from 1.0 against the equal-weight universe and the benchmark (named by its symbol),
    at each rebalance."""
    alt = _alt()
    named = f"benchmark {benchmark}" if benchmark else "benchmark"
    curve = curve.with_columns(pl.col("series").replace("benchmark", named))
    return (
        alt.Chart(curve, title="Equity curve")
        .mark_line()
        .encode(
            # the year on every label: a curve over more than a year would otherwise show "June" twice
            x=alt.X("date:T", title=None, axis=alt.Axis(format="%b %Y", labelAngle=0)),
            y=alt.Y("equity:Q", title="equity (start = 1.0)", scale=alt.Scale(zero=False)),
            color=alt.Color("series:N", sort=["portfolio", "universe", named], title=None),
        )
        .properties(width=FULL_WIDTH - 160, height=240)
    )


def ic_chart(ic: pl.DataFrame, horizons: Sequence[str]) -> alt.LayerChart:
    """Mean information coefficient by factor and horizon over the whole universe; an IC that could not be
    measured is an empty cell marked n/a."""
    alt = _alt()
    data = ic.with_columns(
        pl.when(pl.col("mean_ic").is_null())
        .then(pl.lit("n/a"))
        .otherwise(pl.col("mean_ic").map_elements(_three_places, return_dtype=pl.String))
        .alias("label")
    )  # a fixed three decimals, so 0.020 beside 0.022 reads as the same precision
    base = alt.Chart(data, title="Mean IC by factor and horizon").encode(
        x=alt.X("horizon:N", sort=list(horizons), title="horizon", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("factor:N", title=None),
    )
    limit = max(0.05, float(data["mean_ic"].abs().max() or 0.0))
    cells = (
        base.transform_filter("isValid(datum.mean_ic)")
        .mark_rect()
        .encode(
            color=alt.Color("mean_ic:Q", scale=alt.Scale(scheme="redblue", domain=[-limit, limit]), title="mean IC")
        )
    )
    # dark cells get white text so every value stays readable
    dark = f"isValid(datum.mean_ic) && abs(datum.mean_ic) > {0.6 * limit}"
    text = base.mark_text(fontSize=10).encode(
        text="label:N", color=alt.condition(dark, alt.value("white"), alt.value("black"))
    )
    return alt.layer(cells, text).properties(width=80 * max(1, len(horizons)), height=26 * ic["factor"].n_unique())


def _three_places(value: float) -> str:
    """A value at three decimals; one that rounds to zero reads 0.000, not -0.000."""
    text = f"{value:.3f}"
    return "0.000" if text == "-0.000" else text


def to_svg(chart: alt.TopLevelMixin) -> str:
    """The chart as one static SVG document: rendered in-process, with no URL it may load (the data is inline)."""
    import vl_convert as vlc

    alt = _alt()
    spec = chart.configure(**CONFIG).to_dict()
    version = ".".join(alt.SCHEMA_VERSION.removeprefix("v").split(".")[:2])
    return vlc.vegalite_to_svg(spec, vl_version=version, allowed_base_urls=[])
