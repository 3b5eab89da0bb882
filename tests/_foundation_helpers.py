"""Helpers for the store, import, universe and demo tests: store snapshots and small contract files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Every table a write could touch: "nothing changed" means all of them are identical.
TABLES = (
    "companies",
    "role_tags",
    "role_tag_history",
    "fundamentals",
    "prices",
    "fx",
    "events",
    "ingest_log",
    "rejected_rows",
)


def snapshot(db_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order, so two snapshots compare equal only if nothing changed."""
    from screener.store import Store

    with Store(db_path) as store:
        return {t: store.rows(f"SELECT * FROM {t} ORDER BY ALL") for t in TABLES}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


COMPANIES_CSV = """symbol,name,country,currency,roles,segment,stage,gov_backing,description,source
AAA,Alpha Magnets,US,USD,magnet_maker;recycler,,producer,dod_award,Sintered NdFeB magnets in Texas.,https://example.com/a
BBB.AX,Beta Rare Earths,AU,AUD,miner,,developer,,Ionic clay project.,https://example.com/b
"""

PRICES_CSV = """symbol,date,close,volume
AAA,2024-01-02,10.5,1000
AAA,2024-01-03,10.75,1500
BBB.AX,2024-01-02,0.42,250000
"""

FUNDAMENTALS_CSV = """symbol,period_end,period,currency,revenue,net_income,capital_expenditure,cash,shares_outstanding
AAA,2023-12-31,Q,USD,120000000,8000000,5000000,40000000,50000000
BBB.AX,2023-12-31,Q,AUD,0,-3000000,1000000,12000000,800000000
"""

FX_CSV = """currency,date,usd_per_unit
AUD,2024-01-02,0.68
AUD,2024-01-03,0.675
"""

EVENTS_CSV = """symbol,date,kind,stage,capacity_tpa,target_year,amount_usd,description,source
AAA,2024-01-10,capacity,construction,1000,2026,50000000,Second magnet line (t/yr of magnet).,https://example.com/e
*,2024-02-01,policy,,,,,Market-wide policy note.,https://example.com/p
"""


#: What a recorded progress bar was asked: (enabled, description, [(label, done, total), ...]) per bar made.
Bars = list[tuple[bool, str, list[tuple[str, int, int]]]]


def record_bars(monkeypatch: Any, terminal: bool) -> Bars:
    """Replace the CLI's progress bar with one that draws nothing and records what it is told, with stderr taken for
    a terminal or not: a command's wiring (is the bar on exactly in a terminal, does it hear every step) is then
    checked in process, without a pseudo-terminal."""
    import screener.cli.progress as progress

    bars: Bars = []

    class Recording(progress.ProgressBar):
        def __init__(self, enabled: bool, description: str) -> None:
            super().__init__(False, description)
            bars.append((enabled, description, []))

        def __call__(self, label: str, done: int, total: int) -> None:
            bars[-1][2].append((label, done, total))

    monkeypatch.setattr(progress, "ProgressBar", Recording)
    monkeypatch.setattr(progress, "stderr_is_terminal", lambda: terminal)
    return bars
