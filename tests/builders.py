"""Builders shared by the tests: companies, contract-shaped frames, synthetic score frames and a small market.

Dates are fixed so hand-computed expectations stay valid: the as-of date is 2026-06-01 and quarters end on calendar
quarter ends counting back from 2026-03-31 (visible: 2026-03-31 + 60 days = 2026-05-30 <= as-of). Score frames carry
the factor library's percentiles (``F_pct``), computed from the raw values the same way the factor engine does.
Import them as ``from tests.builders import ...``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import polars as pl

from factors.inputs import FIELD_COLUMNS, FactorInputs
from screener.contract import polars_schema

#: The as-of date of factor tests and of the score and show CLI tests.
AS_OF = date(2026, 6, 1)
#: The last day of the small market (``market_frames``) and the default date of a synthetic score frame: the Friday
#: of AS_OF's week. The rules, watchlist, screen and export tests were written for this day; they keep it.
MARKET_END = AS_OF + timedelta(days=4)
LAST_Q = date(2026, 3, 31)


def company(symbol: str, **kw: Any) -> dict[str, Any]:
    """A company as the universe lists it: a US processor that produces; ``kw`` overrides or adds any field.

    Factor tests pass only contract columns (``companies`` makes each one a column); rules tests may add factor
    values, components and fields, which ``score_frame`` reads and otherwise fills with neutral defaults.
    """
    row = {
        "symbol": symbol,
        "name": f"{symbol} Corp",
        "country": "US",
        "currency": "USD",
        "roles": "processor",
        "segment": None,
        "stage": "producer",
        "gov_backing": None,
    }
    row.update(kw)
    return row


def companies(*rows: dict[str, Any]) -> pl.DataFrame:
    """One frame of ``company`` rows: contract columns take their contract type (``exposure`` a float, the listing
    dates dates), any other field is text."""
    if not rows:
        return pl.DataFrame()
    typed = polars_schema("companies")
    keys = list(dict.fromkeys(k for r in rows for k in r))
    return pl.DataFrame([{k: r.get(k) for k in keys} for r in rows], schema={k: typed.get(k, pl.String) for k in keys})


def quarter_ends(n: int, last: date = LAST_Q) -> list[date]:
    """``n`` calendar quarter ends, oldest first, the last one being ``last`` (a quarter end)."""
    out = []
    y, m = last.year, last.month
    for _ in range(n):
        nxt = date(y + (m == 12), m % 12 + 1, 1)
        out.append(nxt - timedelta(days=1))
        m -= 3
        if m <= 0:
            m += 12
            y -= 1
    return out[::-1]


Value = float | None | Sequence[float | None] | Callable[[int], float | None]


def quarterly(
    symbol: str, n: int = 12, *, last: date = LAST_Q, currency: str = "USD", period: str = "Q", **fields: Value
) -> pl.DataFrame:
    """``n`` periods for one company; a field is a constant, a list (oldest first) or a function of the index."""
    ends = quarter_ends(n, last)
    data: dict[str, list[Any]] = {
        "symbol": [symbol] * n,
        "period_end": ends,
        "period": [period] * n,
        "currency": [currency] * n,
    }
    for name, value in fields.items():
        if callable(value):
            data[name] = [value(i) for i in range(n)]
        elif isinstance(value, (list, tuple)):
            assert len(value) == n, name
            data[name] = list(value)
        else:
            data[name] = [value] * n
    schema = {
        "symbol": pl.String,
        "period_end": pl.Date,
        "period": pl.String,
        "currency": pl.String,
        **{k: pl.Float64 for k in fields},
    }
    return pl.DataFrame(data, schema=schema)


def daily(
    symbol: str,
    n: int = 300,
    *,
    end: date = AS_OF,
    close: Value = 10.0,
    volume: Value = 1000.0,
    provider: str | None = None,
) -> pl.DataFrame:
    """``n`` consecutive calendar days of closes ending at ``end`` (oldest first)."""
    days = [end - timedelta(days=n - 1 - i) for i in range(n)]

    def values(v: Value) -> list[Any]:
        if callable(v):
            return [v(i) for i in range(n)]
        if isinstance(v, (list, tuple)):
            assert len(v) == n
            return list(v)
        return [v] * n

    frame = pl.DataFrame(
        {"symbol": [symbol] * n, "date": days, "close": values(close), "volume": values(volume)},
        schema={"symbol": pl.String, "date": pl.Date, "close": pl.Float64, "volume": pl.Float64},
    )
    if provider is not None:
        frame = frame.with_columns(pl.lit(provider).alias("provider"))
    return frame


def fx_rows(currency: str, rate: float, since: date = date(2015, 1, 1)) -> pl.DataFrame:
    return pl.DataFrame({"currency": [currency], "date": [since], "usd_per_unit": [rate]})


def events(*rows: dict[str, Any]) -> pl.DataFrame:
    base = {
        "symbol": None,
        "date": None,
        "kind": None,
        "stage": None,
        "capacity_tpa": None,
        "target_year": None,
        "amount_usd": None,
        "description": "event",
        "source": None,
    }
    full = [{**base, **r} for r in rows]
    for i, r in enumerate(full):
        if r["description"] == "event":
            r["description"] = f"event {i}"
    # every contract column (project, unit, equity_share, status, counterparty, direction, binding, ...) may be given;
    # the ones left out take the contract's defaults when the frame is conformed
    schema = polars_schema("events")
    unknown = sorted({k for r in full for k in r} - set(schema))
    assert not unknown, f"not event columns: {unknown}"
    return pl.DataFrame([{k: r.get(k) for k in schema} for r in full], schema=schema)


def concat(frames: Sequence[pl.DataFrame]) -> pl.DataFrame | None:
    frames = [f for f in frames if f is not None and f.height]
    return pl.concat(frames, how="diagonal_relaxed") if frames else None


def inputs(
    comps: Sequence[dict[str, Any]],
    *,
    fundamentals: Sequence[pl.DataFrame] = (),
    prices: Sequence[pl.DataFrame] = (),
    fx: Sequence[pl.DataFrame] = (),
    events_: pl.DataFrame | None = None,
) -> FactorInputs:
    return FactorInputs(
        companies=companies(*comps),
        fundamentals=concat(fundamentals),
        prices=concat(prices),
        fx=concat(fx),
        events=events_,
    )


def full_company(
    symbol: str,
    *,
    shares: Value = 1e8,
    close: Value = 10.0,
    volume: Value = 1e5,
    revenue: Value = 50.0,
    ocf: Value = 10.0,
    capex: Value = 5.0,
    cash: Value = 100.0,
    debt: Value = 50.0,
    equity: Value = 500.0,
    currency: str = "USD",
    n_q: int = 16,
    **company_kw: Any,
) -> tuple[dict[str, Any], pl.DataFrame, pl.DataFrame]:
    """A company with 16 quarters of statements and 300 days of prices (all in ``currency``), its exposure stated."""
    company_kw.setdefault("exposure", 1.0)
    comp = company(symbol, currency=company_kw.pop("listing_currency", currency), **company_kw)
    fund = quarterly(
        symbol,
        n_q,
        currency=currency,
        revenue=revenue,
        operating_cash_flow=ocf,
        capital_expenditure=capex,
        cash=cash,
        total_debt=debt,
        total_equity=equity,
        shares_outstanding=shares,
    )
    return comp, fund, daily(symbol, close=close, volume=volume)


def universe(n: int = 6, **overrides: Any) -> FactorInputs:
    """A small, varied, complete cross-section (all USD) for tests that need peers."""
    comps, funds, prices = [], [], []
    roles = ["processor", "miner", "miner;processor", "downstream_user", "magnet_maker", "recycler"]
    stages = ["producer", "developer", "explorer"]
    for i in range(n):
        c, f, p = full_company(
            f"C{i:02d}",
            roles=roles[i % len(roles)],
            stage=stages[i % len(stages)],
            shares=lambda q, i=i: 1e8 * (1 + 0.01 * i) ** q,
            close=lambda d, i=i: 10.0 + i + (d % 30) / 10,
            cash=100.0 + 40 * i,
            debt=30.0 * (i % 3),
            revenue=50.0 + 10 * i,
            capex=5.0 + 3 * i,
        )
        comps.append(c)
        funds.append(f)
        prices.append(p)
    return inputs(comps, fundamentals=funds, prices=prices, **overrides)


def row(frame: pl.DataFrame, symbol: str) -> dict[str, Any]:
    return frame.filter(pl.col("symbol") == symbol).row(0, named=True)


#: The repository root, for tests that read the source tree, the docs or pyproject.toml.
ROOT = Path(__file__).resolve().parent.parent

PUBLIC_FACTORS: dict[str, str] = {
    "localization_premium": "higher_is_better",
    "dilution_risk": "higher_is_worse",
    "balance_sheet": "higher_is_better",
    "commodity_dependence": "higher_is_worse",
    "pullback": "higher_is_better",
    "liquidity": "higher_is_better",
}
COMPONENTS: dict[str, tuple[str, ...]] = {
    "localization_premium": (
        "role_exposure",
        "exposure",
        "downstream_penalty",
        "allied_footprint",
        "gov_backing",
        "setbacks",
        "capacity_pipeline",
    ),
    "dilution_risk": (
        "share_growth_1y",
        "share_growth_3y",
        "cash_runway_years",
        "capex_intensity",
        "equity_raises_12m",
        "stage_risk",
        "remaining_capex_usd",
        "funding_gap_usd",
        "months_to_raise",
    ),
    "balance_sheet": ("net_cash_to_mcap", "debt_to_equity"),
    "commodity_dependence": ("pure_miner", "uncontracted"),
    "pullback": ("drawdown_52w",),
    "liquidity": ("median_traded_value_usd",),
}
#: The score frame's point-in-time fields, as the engine defines them (a built frame has the engine's shape).
FIELDS = FIELD_COLUMNS


def ensure_factors() -> None:
    """Make the six public factors known to the registry (the real modules register them when present)."""
    from factors.registry import FACTORS

    for name, direction in PUBLIC_FACTORS.items():
        if name not in FACTORS:
            FACTORS[name] = SimpleNamespace(
                name=name,
                direction=direction,
                components=COMPONENTS[name],
                missing="neutral",
                description=f"test stand-in for {name}",
            )


#: What ``score_frame`` assumes for a value a row leaves out: neutral factors, a USD 1bn market cap, liquid.
SCORE_DEFAULTS: dict[str, Any] = {
    **{f: 0.5 for f in PUBLIC_FACTORS},
    "liquidity.median_traded_value_usd": 5e6,
    "market_cap_usd": 1e9,
}


_SCORE_TEXT = (
    "symbol",
    "name",
    "country",
    "region",
    "roles",
    "stage",
    "segment",
    "currency",
    "gov_backing",
    "government_backing",
)


def score_frame(rows: list[dict[str, Any]], as_of: date = MARKET_END) -> pl.DataFrame:
    """A score frame with every schema column, sorted by symbol, from partial rows made by ``company``.

    A value a row leaves out takes ``SCORE_DEFAULTS`` (a value given as None stays missing); the region follows
    the country unless the row names one.
    """
    from factors.crosssection import percentile_rank
    from screener.contract import region_of

    ensure_factors()
    full = []
    for r in rows:
        r = {**SCORE_DEFAULTS, **r}
        r.setdefault("region", region_of(r["country"]))
        out: dict[str, Any] = {k: r.get(k) for k in _SCORE_TEXT}
        out["exposure"] = None if r.get("exposure") is None else float(r["exposure"])
        out["as_of"] = as_of
        out["demo"] = bool(r.get("demo", False))
        for f in PUBLIC_FACTORS:
            out[f] = None if r.get(f) is None else float(r[f])
            out[f"{f}_pct"] = None
        for f, comps in COMPONENTS.items():
            for c in comps:
                v = r.get(f"{f}.{c}")
                out[f"{f}.{c}"] = None if v is None else float(v)
        for fld in FIELDS:
            v = r.get(fld)
            out[fld] = None if v is None else float(v)
        out["data_completeness"] = float(r.get("data_completeness", 1.0))
        out["flags"] = sorted(r.get("flags") or [])
        full.append(out)
    schema: dict[str, Any] = {k: pl.String for k in _SCORE_TEXT}
    schema["exposure"] = pl.Float64
    schema["as_of"] = pl.Date
    schema["demo"] = pl.Boolean
    for f in PUBLIC_FACTORS:
        schema[f] = pl.Float64
        schema[f"{f}_pct"] = pl.Float64
    for f, comps in COMPONENTS.items():
        for c in comps:
            schema[f"{f}.{c}"] = pl.Float64
    for fld in FIELDS:
        schema[fld] = pl.Float64
    schema["data_completeness"] = pl.Float64
    schema["flags"] = pl.List(pl.String)
    df = pl.DataFrame(full, schema=schema, orient="row")
    df = df.with_columns([percentile_rank(f).alias(f"{f}_pct") for f in PUBLIC_FACTORS])
    return df.sort("symbol")


DEFAULT_TOML = """
name = "t"
description = "test set"

[weights]
localization_premium = 0.4
dilution_risk = 0.3
balance_sheet = 0.3
"""


def rules_from(text: str, source: str = "t.toml"):
    from rules.ruleset import parse

    ensure_factors()
    return parse(text, source)


MARKET_COMPANIES = [
    # symbol, name, country, roles, stage, segment
    ("PROC", "Allied Processing Inc", "US", "processor", "producer", None),
    ("MAGN", "Magnet Works KK", "JP", "magnet_maker", "producer", None),
    ("RECY", "Cycle Metals Ltd", "CA", "recycler", "developer", None),
    ("MINE", "Pure Mining Ltd", "AU", "miner", "producer", None),
    ("MIPR", "Mine and Refine Ltd", "AU", "miner;processor", "producer", None),
    ("EXPL", "Greenfield Explorer Ltd", "CA", "miner", "explorer", None),
    ("AUTO", '=HYPERLINK("http://x.example","Motors")', "DE", "downstream_user", "producer", "ev_auto"),
    ("DEFN", "-Defense Systems Corp", "US", "downstream_user", "producer", "defense"),
]


def market_frames(end: date = MARKET_END, *, bump: float = 0.0) -> dict[str, pl.DataFrame]:
    """Small, deterministic market data in contract shapes (all USD, so no FX is needed)."""
    companies = pl.DataFrame(
        [
            {"symbol": s, "name": n, "country": c, "currency": "USD", "roles": r, "stage": st, "segment": seg}
            for s, n, c, r, st, seg in MARKET_COMPANIES
        ]
    )
    days = [end - timedelta(days=d) for d in range(400, -1, -1)]
    days = [d for d in days if d.weekday() < 5]
    prices, funds = [], []
    for k, (sym, *_rest) in enumerate(MARKET_COMPANIES):
        base = 5.0 + 3 * k
        for i, d in enumerate(days):
            wave = ((i * (k + 3)) % 97) / 97
            prices.append(
                {
                    "symbol": sym,
                    "date": d,
                    "close": base * (0.7 + 0.6 * wave) * (1 + bump * (k == 1)),
                    "volume": 200_000.0 * (k + 1),
                }
            )
        for q in range(12):
            pe = date(end.year - 3, 3, 31) + timedelta(days=91 * q)
            shares = 1e8 * (1 + 0.02 * q * (k % 3))
            funds.append(
                {
                    "symbol": sym,
                    "period_end": pe,
                    "period": "Q",
                    "currency": "USD",
                    "revenue": 5e7 * (k + 1) if k != 5 else None,
                    "operating_income": 5e6 * (k - 2),
                    "net_income": 3e6 * (k - 2),
                    "operating_cash_flow": 6e6 * (k - 2),
                    "capital_expenditure": 2e6 * (k + 1),
                    "free_cash_flow": 6e6 * (k - 2) - 2e6 * (k + 1),
                    "cash": 4e7 * (8 - k),
                    "total_debt": 1e7 * k,
                    "total_equity": 2e8 + 1e7 * k,
                    "inventory": 1e7,
                    "shares_outstanding": shares,
                }
            )
    event_rows = pl.DataFrame(
        [
            {
                "symbol": "RECY",
                "date": end - timedelta(days=30),
                "kind": "equity_raise",
                "description": "placement",
                "amount_usd": 2e7,
            }
        ]
    )
    return {
        "companies": companies,
        "prices": pl.DataFrame(prices),
        "fundamentals": pl.DataFrame(funds),
        "events": event_rows,
    }


def build_market_store(store, end: date = MARKET_END) -> None:
    """Store the small market in ``store`` the way an import would (provider 'file')."""
    for kind, frame in market_frames(end).items():
        store.upsert(kind, frame, provider="file")


#: The factors, horizons and start of ``backtest_result``: a small backtest every output test can lay out.
BT_FACTORS = ("localization_premium", "dilution_risk", "balance_sheet")
BT_HORIZONS = ("1w", "4w", "13w")
BT_START = date(2025, 1, 3)
BT_SYMBOLS = ("LYC.AX", "MP", "6762.T", "NEO.TO", "IUC.AX", "ARU.AX")


def backtest_result(*, demo: bool = True, notes: Sequence[str] | None = None, **portfolio: Any):
    """A realistic stored-shape ``BacktestResult`` built by hand: three factors x three horizons for ``all`` and
    one role class, 5 quantiles, a 30-point weekly curve with a benchmark, and a few holdings per date.

    ``portfolio`` overrides figures (pass ``sharpe=None`` for an unmeasurable one). Every number is a pure function
    of its position, so two calls give equal results."""
    from screener.backtest.result import BacktestParams, BacktestResult

    dates = [BT_START + timedelta(weeks=i) for i in range(30)]
    days = {"1w": 7, "4w": 28, "13w": 91}
    ic, series, quant, spreads, stab = [], [], [], [], []
    for fi, f in enumerate(BT_FACTORS):
        for role in ("all", "enabler"):
            stab.append(
                {
                    "factor": f,
                    "role_class": role,
                    "rank_autocorrelation": 0.9 - 0.1 * fi,
                    "top_quintile_turnover": 0.05 + 0.02 * fi,
                    "n_dates": 29,
                }
            )
            for hi, h in enumerate(BT_HORIZONS):
                mean = 0.02 * (fi - 1) + 0.005 * hi
                ic.append(
                    {
                        "factor": f,
                        "role_class": role,
                        "horizon": h,
                        "horizon_days": days[h],
                        "mean_ic": mean,
                        "t_stat": None if (fi, hi) == (2, 2) else mean * 40,
                        "ic_ir": mean * 5,
                        "hit_rate": 0.5 + mean,
                        "n_dates": 30 - hi,
                        "nw_lags": [0, 3, 12][hi],
                    }
                )
                spreads.append({"factor": f, "role_class": role, "horizon": h, "spread": mean / 2, "n_dates": 30 - hi})
                for q in range(1, 6):
                    quant.append(
                        {
                            "factor": f,
                            "role_class": role,
                            "horizon": h,
                            "quantile": q,
                            "mean_return": 0.001 * (hi + 1) * (q - 3) * (fi - 1) + 0.002,
                            "n_dates": 30 - hi,
                        }
                    )
                if role == "all":
                    series += [
                        {
                            "date": d,
                            "factor": f,
                            "role_class": role,
                            "horizon": h,
                            "ic": mean + 0.01 * (i % 3 - 1),
                            "n": 6,
                        }
                        for i, d in enumerate(dates)
                    ]
    curve = [
        {
            "date": d,
            "portfolio": 1.0 + 0.004 * i + (0.01 if i % 4 == 1 else 0.0),
            "universe": 1.0 + 0.003 * i,
            "benchmark": 1.0 + 0.002 * i,
        }
        for i, d in enumerate(dates)
    ]
    holdings = [
        {"date": d, "symbol": s, "weight": 0.25} for i, d in enumerate(dates) for s in BT_SYMBOLS[i % 3 : i % 3 + 4]
    ]
    figures: dict[str, float | None] = {
        "cagr": 0.081,
        "volatility": 0.243,
        "sharpe": 0.41,
        "max_drawdown": 0.187,
        "turnover": 0.12,
        "hit_rate": 0.55,
        "benchmark_cagr": 0.052,
        "universe_cagr": 0.064,
        "active_share": None,
    }
    figures.update(portfolio)
    return BacktestResult(
        params=BacktestParams(
            rules="default", start=dates[0], end=dates[-1], horizons=BT_HORIZONS, benchmark="REMX", weights="equal"
        ),
        rules_name="default",
        rules_hash="54472fda9ea514a6",
        dates=dates,
        tables={
            "ic": pl.DataFrame(ic),
            "ic_series": pl.DataFrame(series),
            "quantiles": pl.DataFrame(quant),
            "spreads": pl.DataFrame(spreads),
            "stability": pl.DataFrame(stab),
            "curve": pl.DataFrame(curve),
            "holdings": pl.DataFrame(holdings),
        },
        portfolio=figures,
        notes=list(notes)
        if notes is not None
        else ["The demo's prices carry no planted signal, so its IC is noise: read the layout, not the numbers."],
        demo=demo,
    )


def weekly_market_template(store_template: Callable[..., tuple[Path, Any]]) -> Path:
    """The small market with two weekly runs of ``default`` (a week apart, so there is a diff) and one of
    ``balance-sheet-survivors``, stored once per test run (``store_template``): CLI tests copy it per test."""

    def fill(st: Any, _folder: Path) -> None:
        from screener.watchlist.runs import run_weekly

        build_market_store(st)
        run_weekly(st, "default", MARKET_END - timedelta(days=7))
        run_weekly(st, "default", MARKET_END)
        run_weekly(st, "balance-sheet-survivors", MARKET_END)

    return store_template("weekly-market", fill)[0]


#: A fresh interpreter runs one ``screener`` command line and prints its exit code and which watched modules it
#: imported (``modules_loaded_by``).
LOADED_SCRIPT = """
import json, sys
from screener.cli.app import cli

try:
    cli.main(args={args!r}, prog_name="screener", standalone_mode=False)
    code = 0
except SystemExit as exc:
    code = exc.code
watched = {watched!r}
print(json.dumps({{"code": code, "loaded": sorted(m for m in watched if m in sys.modules)}}))
"""


def modules_loaded_by(args: Sequence[str], watched: Sequence[str]) -> list[str]:
    """The modules of ``watched`` a fresh ``screener ARGS`` imported (nothing imported before it); the command must
    succeed. Why a fresh interpreter: the test process has imported everything already."""
    return loaded_and_said(args, watched)[0]


def loaded_and_said(args: Sequence[str], watched: Sequence[str]) -> tuple[list[str], str]:
    """``modules_loaded_by`` and what the command said on stderr (a test checks what it did, not only what it
    imported)."""
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", LOADED_SCRIPT.format(args=list(args), watched=tuple(watched))],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["code"] in (0, None), (list(args), out.stderr)
    return list(got["loaded"]), out.stderr


def load_template(store: Any, template: Path) -> None:
    """Turn the open test store ``store`` into a copy of the closed store file ``template``, in place: fixtures and
    tests that hold the object see the copy. Why a copy: a store built once per session (``store_template``) costs
    a file copy per test instead of its validated writes, and each test still writes to a file of its own."""
    import shutil

    from screener.store.connection import wal_path

    path = store.path
    store.close()
    wal_path(path).unlink(missing_ok=True)  # the closed store's log is folded into its file; none may replay
    shutil.copyfile(template, path)
    store.__init__(path)


def copy_template(template: Path, path: Path) -> Path:
    """A private copy of the closed store file ``template`` at ``path`` (for a test whose command opens the store)."""
    import shutil

    shutil.copyfile(template, path)
    return path


def market_template(store_template: Callable[..., tuple[Path, Any]]) -> Path:
    """The small market (``build_market_store``) as a session template (the ``store_template`` fixture)."""
    return store_template("market", lambda st, _folder: build_market_store(st))[0]


def scored_market_template(store_template: Callable[..., tuple[Path, Any]]) -> Path:
    """The small market with its scores for ``MARKET_END`` stored (``scores_for``), as a session template: a command
    that reads them spends its time on its own work, not on computing the same scores again."""

    def fill(store: Any, _folder: Path) -> None:
        from factors.engine import scores_for

        build_market_store(store)
        scores_for(store, MARKET_END)

    return store_template("market-scored", fill)[0]


def initialised(store_template: Callable[..., tuple[Path, Any]], path: Path) -> Path:
    """A private copy at ``path`` of the store ``screener init`` makes (the bundled universe), run through the CLI
    once per session (``store_template``): for tests that need an initialised store rather than test ``init``."""

    def fill(store: Any, _folder: Path) -> None:
        from click.testing import CliRunner

        from screener.cli import cli

        store.close()  # the command opens the store file itself
        result = CliRunner().invoke(cli, ["--db", str(store.path), "init"], catch_exceptions=False)
        assert result.exit_code == 0, result.stderr

    return copy_template(store_template("init", fill)[0], path)


def built_once(root: Path, name: str, build: Callable[[Path], Any]) -> tuple[Path, Any]:
    """``build(folder)`` run once per test run, whatever the number of xdist workers: the first worker to need it
    builds it in ``root/name`` under a file lock, the others wait for it and read what it returned (pickled).

    Why: a session fixture is otherwise built once per worker, and on two cores the second build is as long as the
    first. Without xdist, ``root`` is the session's own folder and the build is simply made once."""
    import fcntl
    import pickle
    import shutil

    folder, done = root / name, root / f"{name}.built"
    with (root / f"{name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not done.exists():
                if folder.exists():  # a worker's build that failed: built again, so the error is seen again
                    shutil.rmtree(folder)
                folder.mkdir()
                done_tmp = done.with_suffix(".tmp")
                done_tmp.write_bytes(pickle.dumps(build(folder)))
                done_tmp.replace(done)
            return folder, pickle.loads(done.read_bytes())
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
