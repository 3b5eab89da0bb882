"""The synthetic demo data: deterministic, shaped by role and stage, in the contract, and always labelled demo."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from screener.contract import KINDS, normalise_currency, polars_schema
from screener.errors import ScreenerError
from screener.intake.demo import load_demo
from screener.paths import bundled_data_dir
from screener.providers.demo import DEMO_PROVIDER, FX_LEVELS, archetype, default_end, generate_demo
from screener.providers.files import parse_frame, read_file
from screener.store import Store

END = date(2026, 3, 13)  # a Friday

#: Every archetype several times, in every listing currency the bundled universe uses (GBp included).
SYNTHETIC = pl.DataFrame(
    [
        ("EXA.AX", "AU", "AUD", "miner", "explorer"),
        ("EXB.V", "CA", "CAD", "miner", "explorer"),
        ("EXC.L", "GB", "GBp", "miner", "explorer"),
        ("DVA", "US", "USD", "miner;processor", "developer"),
        ("DVB.AX", "AU", "AUD", "processor;recycler", "developer"),
        ("DVC.KQ", "KR", "KRW", "magnet_maker", "developer"),
        ("DVD.L", "GB", "GBp", "miner;processor", "developer"),
        ("PRA.AX", "AU", "AUD", "miner", "producer"),
        ("PRB.T", "JP", "JPY", "trader_offtaker", "producer"),
        ("PRC", "US", "USD", "miner", "producer"),
        ("ENA", "US", "USD", "miner;processor;magnet_maker", "producer"),
        ("ENB.BR", "BE", "EUR", "processor;chemicals_tolling", "producer"),
        ("ENC.T", "JP", "JPY", "magnet_maker", "producer"),
        ("ENE.TO", "CA", "CAD", "processor;magnet_maker", "producer"),
        ("DSA", "US", "USD", "downstream_user", "producer"),
        ("DSB.DE", "DE", "EUR", "downstream_user", "producer"),
        ("DSC.KS", "KR", "KRW", "downstream_user", "producer"),
        ("DSD.SW", "CH", "CHF", "downstream_user", "producer"),
        ("DSE.CO", "DK", "DKK", "downstream_user", "producer"),
        ("DSF.T", "JP", "JPY", "magnet_maker;downstream_user", "producer"),
    ],
    schema=["symbol", "country", "currency", "roles", "stage"],
    orient="row",
)
BUNDLED = read_file(bundled_data_dir() / "companies.csv", "companies").frame
UNIVERSE = pl.concat([SYNTHETIC, BUNDLED.select(SYNTHETIC.columns)])


@pytest.fixture(scope="module")
def demo() -> dict[str, pl.DataFrame]:
    return generate_demo(UNIVERSE, end=END)


@pytest.fixture(scope="module")
def facts(demo: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """One row per company: archetype and the USD figures of its latest quarters (or half years, for a half-year
    reporter), and ``mcap_usd`` on the end date."""
    fx_end = dict(demo["fx"].sort("date").group_by("currency").agg(pl.col("usd_per_unit").last()).iter_rows())
    fx_end["USD"] = 1.0
    parts = demo["fundamentals"].filter(pl.col("period") != "FY").sort("symbol", "period_end")
    last_close = dict(demo["prices"].sort("date").group_by("symbol").agg(pl.col("close").last()).iter_rows())
    rows = []
    for r in UNIVERSE.iter_rows(named=True):
        mine = parts.filter(pl.col("symbol") == r["symbol"])
        (period,) = set(mine["period"])
        per_year = {"Q": 4, "H": 2}[period]
        iso, sub = normalise_currency(r["currency"])
        usd = fx_end[iso]
        shares = mine["shares_outstanding"].to_list()
        rows.append(
            {
                "symbol": r["symbol"],
                "kind": archetype(r["roles"], r["stage"]),
                "listing": r["currency"],
                "period": period,
                "statement_currency": mine["currency"][0],
                "mcap_usd": shares[-1] * last_close[r["symbol"]] * sub * usd,
                "revenue_ttm_usd": mine["revenue"].tail(per_year).sum() * usd,
                "ocf_ttm_usd": mine["operating_cash_flow"].tail(per_year).sum() * usd,
                "fcf_ttm_usd": mine["free_cash_flow"].tail(per_year).sum() * usd,
                "fcf_min_q": mine["free_cash_flow"].min(),
                "growth_years": [
                    shares[i + per_year] / shares[i] - 1 for i in range(len(shares) - 1 - per_year, -1, -per_year)
                ][::-1],
                "growth_1y": shares[-1] / shares[-1 - per_year] - 1,
            }
        )
    return pl.DataFrame(rows)


# -- determinism -------------------------------------------------------------------------------------------------
def _digest(frames: dict[str, pl.DataFrame]) -> str:
    h = hashlib.sha256()
    for kind in sorted(frames):
        h.update(kind.encode())
        h.update(frames[kind].write_csv().encode())
    return h.hexdigest()


def test_same_inputs_give_byte_identical_frames(demo: dict[str, pl.DataFrame]) -> None:
    again = generate_demo(UNIVERSE, end=END)
    for kind in demo:
        assert demo[kind].equals(again[kind], null_equal=True), kind
        assert demo[kind].write_csv() == again[kind].write_csv()
    # the input's row order does not matter
    assert _digest(generate_demo(UNIVERSE.reverse(), end=END)) == _digest(demo)


def test_determinism_does_not_depend_on_the_process(demo: dict[str, pl.DataFrame], tmp_path: Path) -> None:
    script = (
        "import hashlib, sys\nfrom datetime import date\nimport polars as pl\n"
        "from screener.providers.demo import generate_demo\n"
        f"u = pl.read_csv({str(tmp_path / 'u.csv')!r}, infer_schema=False)\n"
        f"frames = generate_demo(u, end=date({END.year}, {END.month}, {END.day}))\n"
        "h = hashlib.sha256()\n"
        "for k in sorted(frames):\n    h.update(k.encode()); h.update(frames[k].write_csv().encode())\n"
        "print(h.hexdigest())\n"
    )
    UNIVERSE.write_csv(tmp_path / "u.csv")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == _digest(demo)


def test_seed_and_end_change_the_data(demo: dict[str, pl.DataFrame]) -> None:
    assert _digest(generate_demo(UNIVERSE, end=END, seed=8)) != _digest(demo)
    assert _digest(generate_demo(UNIVERSE, end=END + timedelta(days=7))) != _digest(demo)


def test_a_company_does_not_change_when_others_are_added(demo: dict[str, pl.DataFrame]) -> None:
    alone = generate_demo(SYNTHETIC.filter(pl.col("symbol") == "DVA"), end=END)
    for kind in ("fundamentals", "prices", "events"):
        assert alone[kind].equals(demo[kind].filter(pl.col("symbol") == "DVA"), null_equal=True), kind


def test_default_end_is_the_last_friday() -> None:
    assert default_end(date(2026, 3, 13)) == date(2026, 3, 13)  # Friday
    assert default_end(date(2026, 3, 15)) == date(2026, 3, 13)  # Sunday
    assert default_end(date(2026, 3, 19)) == date(2026, 3, 13)  # Thursday
    assert default_end().weekday() == 4


# -- the contract ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["fundamentals", "prices", "fx", "events"])
def test_every_frame_passes_the_contract(demo: dict[str, pl.DataFrame], kind: str) -> None:
    frame = demo[kind]
    assert frame.height > 0
    assert dict(frame.schema) == polars_schema(kind)
    # re-parse as a user's file would be: every cell as text through the importer's checks
    text = pl.read_csv(io.StringIO(frame.write_csv()), infer_schema=False)
    parsed = parse_frame(text, kind, Path(f"{kind}.csv")).frame
    assert parsed.equals(frame, null_equal=True)
    assert frame.select(KINDS[kind].key).is_duplicated().sum() == 0


def test_statements_are_in_the_listing_currency(facts: pl.DataFrame) -> None:
    for row in facts.iter_rows(named=True):
        assert row["statement_currency"] == normalise_currency(row["listing"])[0]
    assert set(facts.filter(pl.col("listing") == "GBp")["statement_currency"]) == {"GBP"}


def test_calendar(demo: dict[str, pl.DataFrame]) -> None:
    prices = demo["prices"]
    assert prices["date"].max() == END
    # three years of closes: enough for a backtest with half a year of price history behind its first date
    assert prices["date"].min() >= END - timedelta(days=3 * 365 + 1)
    assert prices["date"].min() <= END - timedelta(days=3 * 365 - 5)
    assert prices["date"].dt.weekday().max() <= 5  # Monday=1 .. Friday=5
    per_symbol = prices.group_by("symbol").agg(pl.len())["len"]
    assert per_symbol.n_unique() == 1 and per_symbol[0] > 500
    assert set(prices["symbol"]) == set(UNIVERSE["symbol"])
    fund = demo["fundamentals"]
    quarters = fund.filter(pl.col("period") == "Q")
    half_years = fund.filter(pl.col("period") == "H")
    australian = set(UNIVERSE.filter(pl.col("country") == "AU")["symbol"])
    assert australian and set(half_years["symbol"]) == australian  # ASX companies report half years
    assert set(quarters["symbol"]) == set(UNIVERSE["symbol"]) - australian
    assert set(quarters.group_by("symbol").agg(pl.len())["len"]) == {17}
    ends = sorted(set(quarters["period_end"]))
    assert ends[-1] <= END - timedelta(days=60)  # every quarter would be public by the end date
    assert (ends[-1] - ends[0]).days >= 4 * 365  # four years of changes: 3-year share growth on most back-dates
    assert all((e + timedelta(days=1)).day == 1 and e.month % 3 == 0 for e in ends)
    halves = sorted(set(half_years["period_end"]))
    assert {e.month for e in halves} == {6, 12} and halves[-1] <= ends[-1]
    assert set(half_years.group_by("symbol").agg(pl.len())["len"]) == {8}
    assert {(b - a).days for a, b in itertools.pairwise(halves)} <= set(range(181, 185))


def test_fy_rows_match_their_quarters(demo: dict[str, pl.DataFrame]) -> None:
    fund = demo["fundamentals"]
    fy = fund.filter(pl.col("period") == "FY")
    assert fy.height >= 2 * UNIVERSE.height
    for row in fy.sample(40, seed=1).iter_rows(named=True):
        mine = fund.filter(
            (pl.col("symbol") == row["symbol"])
            & (pl.col("period") != "FY")
            & (pl.col("period_end") <= row["period_end"])
        ).sort("period_end")
        parts = mine.tail({"Q": 4, "H": 2}[mine["period"][0]])
        assert parts["period_end"][0] > row["period_end"] - timedelta(days=366)
        assert parts["period_end"][-1] == row["period_end"]
        for flow in ("revenue", "operating_cash_flow", "capital_expenditure", "free_cash_flow"):
            assert row[flow] == pytest.approx(parts[flow].sum())
        assert row["shares_outstanding"] == parts["shares_outstanding"][-1]
        assert row["cash"] == parts["cash"][-1]
    # fiscal years follow the headquarters' custom: March in Japan, June in Australia, December elsewhere
    months = (
        fy.join(UNIVERSE.select("symbol", "country"), on="symbol")
        .group_by("country")
        .agg(pl.col("period_end").dt.month().unique().sort())
    )
    got = dict(months.iter_rows())
    assert got.pop("JP") == [3] and got.pop("AU") == [6]
    assert all(m == [12] for m in got.values())


def test_fx_for_every_currency_met(demo: dict[str, pl.DataFrame]) -> None:
    fx = demo["fx"]
    needed = {normalise_currency(c)[0] for c in UNIVERSE["currency"]} - {"USD"}
    assert set(fx["currency"]) == needed
    levels = fx.group_by("currency").agg(
        pl.col("usd_per_unit").min().alias("lo"),
        pl.col("usd_per_unit").max().alias("hi"),
        pl.col("date").min().alias("first"),
    )
    for ccy, lo, hi, first in levels.iter_rows():
        assert FX_LEVELS[ccy] * 0.7 < lo <= hi < FX_LEVELS[ccy] * 1.3, ccy
        assert first <= demo["fundamentals"]["period_end"].min()  # old statements convert too


# -- shapes by role and stage ------------------------------------------------------------------------------------
def _of(facts: pl.DataFrame, *kinds: str) -> pl.DataFrame:
    out = facts.filter(pl.col("kind").is_in(list(kinds)))
    assert out.height > 0
    return out


@pytest.mark.parametrize(
    ("kind", "low", "high"),
    [
        ("explorer", 50e6, 500e6),
        ("developer", 200e6, 3e9),
        ("producer", 1e9, 20e9),
        ("enabler", 1e9, 20e9),
        ("downstream", 20e9, 300e9),
    ],
)
def test_market_caps_are_plausible(facts: pl.DataFrame, kind: str, low: float, high: float) -> None:
    """Sizes are drawn in the archetype's range; the price path then walks freely for three years (no anchor on the
    end date, which would plant a signal), so on the end date the typical name is still in range and none is
    further off than such a walk takes it."""
    caps = _of(facts, kind)["mcap_usd"]
    assert low <= caps.median() <= high  # type: ignore[operator]
    assert caps.min() >= low / 12 and caps.max() <= high * 12


def test_the_demo_prices_carry_no_planted_signal(demo: dict[str, pl.DataFrame]) -> None:
    """No price-level measure forecasts the next week's return: the mean weekly rank IC of traded value (close x
    volume, what the liquidity factor reads) over two years is near zero. A path anchored at its end date planted
    one (a name above its end price must fall to it): this IC was -0.06 with a t-stat near -3."""
    from screener.backtest.stats import forward_returns, ic_summary, rank_ic

    prices = demo["prices"].select("symbol", "date", pl.col("close").alias("close_usd"), "volume")
    dates = [END - timedelta(weeks=k) for k in range(4, 104)]
    level = (
        prices.with_columns((pl.col("close_usd") * pl.col("volume")).log().alias("traded"))
        .sort("date")
        .group_by_dynamic("date", every="1d", group_by="symbol")
        .agg(pl.col("traded").last())
        .filter(pl.col("date").is_in(dates))
    )
    returns = forward_returns(prices.select("symbol", "date", "close_usd"), dates, {"1w": 7})
    ic = rank_ic(level, returns, factor_col="traded")
    summary = ic_summary(ic, horizon_days={"1w": 7}, step_days=7)
    assert abs(summary["mean_ic"][0]) < 0.05
    assert abs(summary["t_stat"][0]) < 3


def test_juniors_burn_cash_and_issue_shares(facts: pl.DataFrame, demo: dict[str, pl.DataFrame]) -> None:
    juniors = _of(facts, "explorer", "developer")
    assert (juniors["ocf_ttm_usd"] < 0).all() and (juniors["fcf_ttm_usd"] < 0).all()
    assert (juniors["revenue_ttm_usd"] < 0.1 * juniors["mcap_usd"]).all()
    assert (_of(facts, "explorer")["revenue_ttm_usd"] == 0).all()
    # the generator's years end at the last quarter; a half-year reporter's years end at its last half year, so
    # one of its years can straddle two placements
    by_quarter = juniors.filter(pl.col("period") == "Q")
    for years in by_quarter["growth_years"]:
        assert len(years) == 4 and all(0.099 <= g <= 0.401 for g in years), years
    assert by_quarter["growth_1y"].is_between(0.099, 0.401).all()
    by_half = juniors.filter(pl.col("period") == "H")
    assert by_half.height > 0
    for years in by_half["growth_years"]:
        assert len(years) >= 2 and all(0.0 < g < 1.0 for g in years), years
    raises = demo["events"].group_by("symbol").agg(pl.len())
    counts = dict(raises.iter_rows())
    assert all(counts.get(s, 0) >= 3 for s in juniors["symbol"])


def test_producers_have_revenue_and_mixed_free_cash_flow(facts: pl.DataFrame) -> None:
    producers = _of(facts, "producer", "enabler")
    # revenue is set from the drawn size; the price has walked since, so the ratio scatters around it
    ratio = producers["revenue_ttm_usd"] / producers["mcap_usd"]
    assert ratio.median() > 0.1 and (ratio > 0.02).all()  # type: ignore[operator]
    assert (producers["fcf_ttm_usd"] > 0).any() and (producers["fcf_ttm_usd"] < 0).any()
    assert producers["growth_1y"].is_between(-0.001, 0.05).all()


def test_downstream_users_are_large_and_cash_generative(facts: pl.DataFrame) -> None:
    downstream = _of(facts, "downstream")
    assert (downstream["revenue_ttm_usd"] > 3e9).all()
    assert (downstream["fcf_min_q"] > 0).all()  # positive free cash flow in every quarter
    assert downstream["growth_1y"].is_between(-0.031, 0.0).all()
    medians = [_of(facts, k)["mcap_usd"].median() for k in ("downstream", "enabler", "developer", "explorer")]
    assert medians == sorted(medians, reverse=True)


def test_archetypes() -> None:
    assert archetype("magnet_maker;downstream_user", "producer") == "downstream"
    assert archetype("miner", "explorer") == "explorer"
    assert archetype("processor", "developer") == "developer"
    assert archetype("processor;recycler", "producer") == "enabler"
    assert archetype("miner", "producer") == "producer"
    assert archetype("trader_offtaker", "producer") == "producer"


def test_events_are_equity_raises_of_juniors(demo: dict[str, pl.DataFrame], facts: pl.DataFrame) -> None:
    events = demo["events"]
    assert set(events["kind"]) == {"equity_raise"}
    juniors = set(_of(facts, "explorer", "developer")["symbol"])
    assert set(events["symbol"]) <= juniors
    assert (events["amount_usd"] > 0).all()
    assert events["description"].str.contains("synthetic").all()
    assert events["date"].max() <= END


def test_prices_and_volumes(demo: dict[str, pl.DataFrame]) -> None:
    prices = demo["prices"]
    assert (prices["close"] > 0).all() and (prices["volume"] >= 0).all()
    assert (prices["volume"] == prices["volume"].round(0)).all()
    # a pence listing quotes about a hundred times its pound value: shares x pence x 0.01 is the cap
    pence = prices.filter(pl.col("symbol") == "DVD.L")["close"].median()
    assert pence > 10


# -- storing -----------------------------------------------------------------------------------------------------
def _store_with(db_path: Path, companies: pl.DataFrame) -> Store:
    store = Store(db_path)
    store.upsert("companies", companies, "file")
    return store


def test_load_demo_stores_everything_as_demo(db_path: Path) -> None:
    companies = SYNTHETIC.with_columns(pl.col("symbol").alias("name"))
    with _store_with(db_path, companies) as store:
        assert not store.uses_demo_data()
        counts = load_demo(store, end=END)
        frames = generate_demo(companies, end=END)
        assert counts == {k: frames[k].height for k in ("fx", "fundamentals", "prices", "events")}
        for kind in ("fundamentals", "prices", "fx", "events"):
            assert set(store.frame(kind)["provider"]) == {DEMO_PROVIDER}, kind
        assert store.rows("SELECT DISTINCT origin FROM events") == [("demo",)]
        assert store.uses_demo_data()
        stored = store.frame("prices").drop("provider", "loaded_at")
        assert stored.equals(frames["prices"], null_equal=True)
        # a rerun replaces the demo rows instead of piling them up
        later = END + timedelta(days=7)
        expected = {k: v.height for k, v in generate_demo(companies, end=later).items()}
        assert load_demo(store, end=later) == expected
        assert store.scalar("SELECT max(date) FROM prices") == later
        assert store.counts()["events"] == expected["events"]
        assert store.counts()["prices"] == expected["prices"]


def test_load_demo_never_touches_real_data(db_path: Path) -> None:
    companies = SYNTHETIC.with_columns(pl.col("symbol").alias("name"))
    with _store_with(db_path, companies) as store:
        real = pl.DataFrame([("DSA", END, 123.0, 1.0)], schema=polars_schema("prices"), orient="row")
        store.upsert("prices", real, "file")
        real_fx = pl.DataFrame([("EUR", END, 1.5)], schema=polars_schema("fx"), orient="row")
        store.upsert("fx", real_fx, "file")
        load_demo(store, end=END)
        dsa = store.frame("prices").filter(pl.col("symbol") == "DSA")
        assert dsa.select("close", "provider").rows() == [(123.0, "file")]
        assert store.frame("fx").filter(pl.col("currency") == "EUR").select("usd_per_unit", "provider").rows() == [
            (1.5, "file")
        ]
        assert store.frame("prices").filter(pl.col("symbol") == "DVA")["provider"].unique().to_list() == ["demo"]


def test_load_demo_is_one_transaction(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    companies = SYNTHETIC.with_columns(pl.col("symbol").alias("name"))
    with _store_with(db_path, companies) as store:
        real_write = store._write  # every market-data write of the load goes through it

        def failing(kind: str, *args, **kwargs):
            if kind == "prices":
                raise RuntimeError("disk full")
            return real_write(kind, *args, **kwargs)

        monkeypatch.setattr(store, "_write", failing)
        with pytest.raises(RuntimeError):
            load_demo(store, end=END)
        counts = store.counts()
        assert counts["fx"] == counts["fundamentals"] == counts["prices"] == counts["events"] == 0


def test_load_demo_needs_companies(store: Store) -> None:
    with pytest.raises(ScreenerError, match="screener init"):
        load_demo(store, end=END)


def test_load_demo_covers_the_bundled_universe(db_path: Path) -> None:
    from screener.intake.universe import load_bundled
    from screener.validation import validate_store

    with Store(db_path) as store:
        load_bundled(store)
        counts = load_demo(store, end=END)
        assert counts["prices"] > 0 and counts["fundamentals"] > 0
        symbols = set(store.query("SELECT DISTINCT symbol FROM fundamentals")["symbol"])
        assert symbols == set(store.companies()["symbol"])
        assert store.scalar("SELECT max(date) FROM prices") == END
        assert store.scalar("SELECT count(*) FROM rejected_rows") == 0
        latest = max(END, store.scalar("SELECT max(date) FROM events"))  # bundled events may postdate the demo
        assert validate_store(store, today=latest).failed == 0


# -- validation --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["fundamentals", "prices", "fx", "events"])
def test_every_frame_passes_every_check(demo: dict[str, pl.DataFrame], kind: str) -> None:
    from screener.validation import validate_frame
    from screener.validation.derived import derive

    assert validate_frame(kind, demo[kind], "demo", today=END).height == 0
    if kind == "fundamentals":
        # not vacuous: years are checked against their quarters and against their halves, and spacing is known (the
        # text naming the parts is written where a check fails: with every FY revenue at 1e18, on every
        # year checked)
        off = pl.when(pl.col("period") == "FY").then(pl.lit(1e18)).otherwise(pl.col("revenue"))
        derived = derive(kind, demo[kind].with_columns(off.alias("revenue"))).filter(
            pl.col("revenue_vs_parts").is_not_null()
        )
        assert {"quarters", "halves"} == set(derived["revenue_vs_parts_shown"].str.extract(r"its (\w+)$").to_list())
        assert derive(kind, demo[kind])["period_by_spacing"].drop_nulls().n_unique() == 3


def test_load_demo_validates_what_it_stores(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import screener.intake.demo

    companies = SYNTHETIC.with_columns(pl.col("symbol").alias("name"))
    frames = generate_demo(companies, end=END)
    day = frames["prices"].filter(pl.col("symbol") == "DVA")["date"][100]
    broken = dict(
        frames,
        prices=frames["prices"].with_columns(
            pl.when((pl.col("symbol") == "DVA") & (pl.col("date") == day))
            .then(pl.col("close") * 1000)
            .otherwise(pl.col("close"))
            .alias("close")
        ),
    )
    monkeypatch.setattr(screener.intake.demo, "generate_demo", lambda *a, **k: broken)
    with _store_with(db_path, companies) as store:
        counts = load_demo(store, end=END)
        assert counts["prices"] == frames["prices"].height - 1
        assert store.scalar("SELECT count(*) FROM prices WHERE symbol = 'DVA' AND date = ?", [day]) == 0
        assert store.rows("SELECT provider, kind, key, column_name FROM rejected_rows") == [
            ("demo", "prices", f"DVA/{day.isoformat()}", "close")
        ]


def test_a_listing_trades_only_while_it_is_listed() -> None:
    comps = pl.DataFrame(
        {
            "symbol": ["IPO", "GONE", "ALWAYS"],
            "country": ["US"] * 3,
            "currency": ["USD"] * 3,
            "roles": ["miner"] * 3,
            "stage": ["developer"] * 3,
            "listed_from": [date(2026, 1, 5), None, None],
            "delisted_on": [None, date(2026, 3, 2), None],
        }
    )
    prices = generate_demo(comps, end=date(2026, 6, 1))["prices"]
    span = dict(
        prices.group_by("symbol")
        .agg(pl.struct(pl.col("date").min().alias("a"), pl.col("date").max().alias("b")))
        .rows()
    )
    assert span["IPO"]["a"] == date(2026, 1, 5) and span["IPO"]["b"] == date(2026, 6, 1)
    assert span["GONE"]["b"] == date(2026, 2, 27)  # the last business day before the delisting
    assert span["ALWAYS"]["a"] < date(2025, 1, 1)
