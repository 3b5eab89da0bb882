"""A real store holding three weekly runs of a small list, a second rule set's run, capacity events and a stored
backtest: every report test reads from it, so each section is checked against numbers set here."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import polars as pl

from tests.builders import backtest_result, company, ensure_factors, events, score_frame

ensure_factors()

WEEKS = (date(2026, 5, 22), date(2026, 5, 29), date(2026, 6, 5))
OTHER_DAY = date(2026, 6, 12)
RULES = """
name = "wk"
description = "test list"
[weights]
localization_premium = 0.5
dilution_risk = 0.3
balance_sheet = 0.2
[constraints]
top_n = 3
[buffer]
stay_within = 3
"""
OTHER = RULES.replace('name = "wk"', 'name = "other"')
SYMBOLS = ("A", "B", "C", "D", "E")
#: The fill flag B carries: its dilution_risk contribution rests on an imputed input.
FILLED_B = "imputed:dilution_risk.cash_runway_years"
COUNTRIES = {"A": "US", "B": "JP", "C": "AU", "D": "CA", "E": "DE"}
ROLES = {"A": "processor", "B": "magnet_maker", "C": "miner", "D": "miner;processor", "E": "downstream_user"}
CLASSES = {"A": "enabler", "B": "enabler", "C": "pure_miner", "D": "integrated", "E": "downstream_user"}


def rows(week: int) -> list[dict]:
    """Week 0 ranks A, B, C; week 1 lifts D over C; week 2 keeps D. C's cash runway is never known (missing), and
    E's one-year share growth is never known. B's cash runway is flagged as imputed from its peers in every week
    (its dilution part rests on a filled input)."""
    lp = {"A": 0.9, "B": 0.8, "C": 0.7, "D": 0.6 + 0.25 * (week > 0), "E": 0.2}
    out = []
    for s in SYMBOLS:
        out.append(
            company(
                s,
                country=COUNTRIES[s],
                roles=ROLES[s],
                localization_premium=lp[s],
                dilution_risk=0.4,
                balance_sheet=0.5,
                flags=[FILLED_B] if s == "B" else [],
                **{
                    "dilution_risk.cash_runway_years": None if s == "C" else 1.0 + SYMBOLS.index(s),
                    "dilution_risk.share_growth_1y": None if s == "E" else 0.05 * (1 + SYMBOLS.index(s)),
                },
            )
        )
    return out


def scores(week: int) -> pl.DataFrame:
    frame = score_frame(rows(week), WEEKS[week])
    return frame.with_columns(pl.col("symbol").replace_strict(CLASSES).alias("role_class"))


def build(store, tmp: Path, *, backtest: bool = True) -> dict[str, int]:
    """Fill ``store``; returns the run ids (``w0``, ``w1``, ``w2``, ``other``) and the backtest id (``bt``)."""
    from screener.backtest.history import save_backtest
    from screener.watchlist.runs import run_weekly

    store.upsert(
        "companies",
        pl.DataFrame(
            {
                "symbol": list(SYMBOLS),
                "name": [f"{s} Corp" for s in SYMBOLS],
                "country": [COUNTRIES[s] for s in SYMBOLS],
                "currency": ["USD"] * len(SYMBOLS),
                "roles": [ROLES[s] for s in SYMBOLS],
                "stage": ["producer"] * len(SYMBOLS),
            }
        ),
        provider="file",
    )
    store.upsert(
        "events",
        events(
            # A (US): a producing plant of 1000 t NdPr oxide, all A's
            {
                "symbol": "A",
                "date": date(2025, 1, 10),
                "kind": "capacity",
                "stage": "production",
                "capacity_tpa": 1000.0,
                "unit": "ndpr_oxide",
                "project": "plant-a",
            },
            # B (JP): a funded 400 t plant at half stake
            {
                "symbol": "B",
                "date": date(2026, 1, 10),
                "kind": "capacity",
                "stage": "funded",
                "capacity_tpa": 400.0,
                "unit": "ndpr_oxide",
                "equity_share": 0.5,
                "project": "plant-b",
            },
            # D (CA): an announced project whose tonnage was never stated
            {"symbol": "D", "date": date(2026, 2, 10), "kind": "capacity", "stage": "announced", "project": "plant-d"},
        ),
        provider="file",
    )
    rules, other = write_rules(tmp)
    ids = {f"w{i}": run_weekly(store, rules, d, scores=scores(i)).run_id for i, d in enumerate(WEEKS)}
    # the other rule set's run is the newest of the store: "latest" of wk must not pick it
    ids["other"] = run_weekly(
        store, other, OTHER_DAY, scores=scores(2).with_columns(pl.lit(OTHER_DAY).alias("as_of"))
    ).run_id
    if backtest:
        ids["bt"] = save_backtest(store, of_rules(backtest_result(demo=False), "wk"), clock=lambda: STORED_AT)
    return ids


STORED_AT = datetime(2026, 6, 6, 12, 0)


def write_rules(tmp: Path) -> tuple[Path, Path]:
    """The rule files of the runs ``build`` stores, ``wk.toml`` and ``other.toml`` in ``tmp``."""
    rules = tmp / "wk.toml"
    rules.write_text(RULES)
    other = tmp / "other.toml"
    other.write_text(OTHER)
    return rules, other


def built(store, tmp: Path, store_template) -> dict[str, int]:
    """What ``build(store, tmp)`` leaves, for one test: the store built once per session (``store_template``) and
    copied into ``store``, and the rule files written to ``tmp``; returns the same ids."""
    from tests.builders import load_template

    template, ids = store_template("report", build)
    load_template(store, template)
    write_rules(tmp)
    return dict(ids)


def of_rules(result, rules: str, end: date | None = None):
    """``result`` as a backtest of the rule set ``rules`` (ending on ``end``, default: as built)."""
    from dataclasses import replace

    result.params = replace(result.params, rules=rules, end=end or result.params.end)
    result.rules_name = rules
    return result
