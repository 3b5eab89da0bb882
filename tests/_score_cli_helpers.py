"""Small contract files for the score and show CLI tests, written as CSV and loaded with ``screener import``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from tests.builders import AS_OF, LAST_Q, daily, events, quarterly

#: ENB reports fiscal quarters ending Feb/May/Aug/Nov: its last public one, and one inside the reporting lag.
ENB_LAST_Q = date(2026, 2, 28)
ENB_LATE_Q = date(2026, 5, 31)

COMPANIES = [
    {
        "symbol": "ENB",
        "exposure": 0.95,
        "name": "Enabler Magnetics",
        "country": "US",
        "currency": "USD",
        "roles": "magnet_maker;recycler",
        "segment": "",
        "stage": "producer",
        "gov_backing": "dod_award",
        "description": "Sintered NdFeB magnets.",
        "source": "https://example.com/enb",
    },
    {
        "symbol": "MIN.AX",
        "exposure": 1.0,
        "name": "Outback Miner",
        "country": "AU",
        "currency": "AUD",
        "roles": "miner",
        "segment": "",
        "stage": "developer",
        "gov_backing": "",
        "description": "Ionic clay.",
        "source": "https://example.com/min",
    },
    {
        "symbol": "DWN.T",
        "exposure": 0.01,
        "name": "Downstream Motors",
        "country": "JP",
        "currency": "JPY",
        "roles": "downstream_user",
        "segment": "ev_auto",
        "stage": "producer",
        "gov_backing": "",
        "description": "Automaker.",
        "source": "https://example.com/dwn",
    },
    {
        "symbol": "PRC.L",
        "exposure": 0.8,
        "name": "Pence Processing",
        "country": "GB",
        "currency": "GBp",
        "roles": "processor",
        "segment": "",
        "stage": "developer",
        "gov_backing": "uk_grant",
        "description": "Separation plant.",
        "source": "https://example.com/prc",
    },
    {
        "symbol": "BLANK",
        "name": "Blank Holdings",
        "country": "CA",
        "currency": "CAD",
        "roles": "miner",
        "segment": "",
        "stage": "explorer",
        "gov_backing": "",
        "description": "No data yet.",
        "source": "https://example.com/blank",
    },
]

_LOCAL = {"ENB": ("USD", 1.0), "MIN.AX": ("AUD", 0.5), "DWN.T": ("JPY", 0.0078125), "PRC.L": ("GBP", 1.25)}


def write_universe(folder: Path, *, n_events: int = 12) -> Path:
    """companies, fundamentals, prices, fx and events CSVs for five companies (one without any data); 400 days of
    prices, so the price factors see a full 52-week window."""
    folder.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(COMPANIES).write_csv(folder / "companies.csv")
    funds, prices = [], []
    for i, (sym, (cur, rate)) in enumerate(_LOCAL.items()):
        scale = 1 / rate
        # ENB's fiscal quarters end in Feb/May/Aug/Nov, so its late quarter below is a real quarter end
        funds.append(
            quarterly(
                sym,
                13,
                currency=cur,
                last=ENB_LAST_Q if sym == "ENB" else LAST_Q,
                revenue=100.0 * scale * (i + 1),
                operating_cash_flow=10.0 * scale,
                capital_expenditure=5.0 * scale * (i + 1),
                cash=200.0 * scale,
                total_debt=50.0 * scale * i,
                total_equity=500.0 * scale,
                shares_outstanding=lambda q, i=i: 1e6 * (1 + 0.02 * i) ** q,
            )
        )
        quote = 100.0 if cur == "GBP" else 1.0  # PRC.L quotes in pence
        prices.append(
            daily(sym, 400, close=lambda d, i=i, s=scale * quote: s * (10 + i + (d % 20) / 4), volume=1e5 * (i + 1))
        )
    # a quarter that ends inside the reporting lag (a day before AS_OF): stored, but not yet public on AS_OF
    funds.append(quarterly("ENB", 1, last=ENB_LATE_Q, revenue=1.0, cash=1.0, shares_outstanding=1e6))
    pl.concat(funds, how="diagonal_relaxed").write_csv(folder / "fundamentals.csv")
    pl.concat(prices).write_csv(folder / "prices.csv")
    fx = pl.DataFrame(
        {
            "currency": ["AUD", "JPY", "GBP", "CAD"],
            "date": [date(2020, 1, 1)] * 4,
            "usd_per_unit": [0.5, 0.0078125, 1.25, 0.75],
        }
    )
    fx.write_csv(folder / "fx.csv")
    ev = events(
        *[
            {
                "symbol": "ENB",
                "date": AS_OF - timedelta(days=30 * k),
                "kind": "offtake",
                "description": f"Offtake number {k}",
                "source": "https://example.com/ev",
            }
            for k in range(n_events)
        ],
        {
            "symbol": "MIN.AX",
            "date": AS_OF - timedelta(days=60),
            "kind": "equity_raise",
            "amount_usd": 5e6,
            "description": "Placement",
            "source": "https://example.com/raise",
        },
        {"symbol": "*", "date": AS_OF - timedelta(days=5), "kind": "policy", "description": "Market note"},
    )
    ev.write_csv(folder / "events.csv")
    return folder


def imported_template(store_template: Callable[..., tuple[Path, Any]]) -> Path:
    """A store with the universe (``write_universe``) imported through the CLI once per test run
    (``store_template``); tests copy it instead of importing again."""

    def fill(store: Any, folder: Path) -> None:
        from click.testing import CliRunner

        from screener.cli import cli

        store.close()  # the command opens the store file itself
        args = ["--db", str(store.path), "import", str(write_universe(folder / "data"))]
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, result.stderr

    return store_template("score-cli", fill)[0]


def scored_template(store_template: Callable[..., tuple[Path, Any]]) -> Path:
    """``imported_template`` with its scores for ``AS_OF`` stored, as the first ``show`` of that day leaves them."""

    def fill(store: Any, _folder: Path) -> None:
        from factors.engine import scores_for
        from tests.builders import load_template

        load_template(store, imported_template(store_template))
        scores_for(store, AS_OF)

    return store_template("score-cli-scored", fill)[0]
