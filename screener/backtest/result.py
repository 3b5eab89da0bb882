"""What a backtest produces: its parameters and its tables, in one value that is stored, shown and exported.

Why one value: the command prints it, the store keeps it (``screener backtest --show ID`` prints the same thing
again) and the workbook lays it out. If each of them assembled its own view, a stored backtest could read
differently from the one just run. The tables are polars frames with fixed columns (``TABLES``), so every output
can rely on their shape; ``to_blob``/``from_blob`` round-trip the whole value through the store byte for byte.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

__all__ = ["TABLES", "BacktestParams", "BacktestResult"]

#: Each table of a result and its columns, in order. ``role_class`` is ``all`` for the whole universe, else one of
#: ``factors.inputs.ROLE_CLASSES``; ``horizon`` is the label (``4w``), ``horizon_days`` its calendar days.
TABLES: dict[str, dict[str, Any]] = {
    # one row per (factor, role_class, horizon): the IC summary
    "ic": {
        "factor": pl.String,
        "role_class": pl.String,
        "horizon": pl.String,
        "horizon_days": pl.Int64,
        "mean_ic": pl.Float64,
        "t_stat": pl.Float64,
        "ic_ir": pl.Float64,
        "hit_rate": pl.Float64,
        "n_dates": pl.Int64,
        "nw_lags": pl.Int64,
    },
    # one row per (date, factor, role_class, horizon): the IC series behind the summary
    "ic_series": {
        "date": pl.Date,
        "factor": pl.String,
        "role_class": pl.String,
        "horizon": pl.String,
        "ic": pl.Float64,
        "n": pl.Int64,
    },
    # one row per (factor, role_class, horizon, quantile): mean forward return by bucket (1 = worst, 5 = best)
    "quantiles": {
        "factor": pl.String,
        "role_class": pl.String,
        "horizon": pl.String,
        "quantile": pl.Int64,
        "mean_return": pl.Float64,
        "n_dates": pl.Int64,
    },
    # one row per (factor, role_class, horizon): top-minus-bottom bucket
    "spreads": {
        "factor": pl.String,
        "role_class": pl.String,
        "horizon": pl.String,
        "spread": pl.Float64,
        "n_dates": pl.Int64,
    },
    # one row per (factor, role_class): rank stability between consecutive rebalances
    "stability": {
        "factor": pl.String,
        "role_class": pl.String,
        "rank_autocorrelation": pl.Float64,
        "top_quintile_turnover": pl.Float64,
        "n_dates": pl.Int64,
    },
    # one row per rebalance date and series: equity from 1.0 (benchmark null when its prices are not stored)
    "curve": {
        "date": pl.Date,
        "portfolio": pl.Float64,
        "universe": pl.Float64,
        "benchmark": pl.Float64,
    },
    # one row per (date, symbol) held: the simulated book
    "holdings": {
        "date": pl.Date,
        "symbol": pl.String,
        "weight": pl.Float64,
    },
}


@dataclass(frozen=True)
class BacktestParams:
    """The parameters a backtest ran with, resolved (defaults filled in), so a stored one can be rerun exactly."""

    rules: str
    start: date
    end: date
    every: str = "1w"
    horizons: tuple[str, ...] = ("1w", "4w", "13w", "26w")
    cost_bps: float = 20.0
    weights: str = "equal"
    benchmark: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rules": self.rules,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "every": self.every,
            "horizons": list(self.horizons),
            "cost_bps": self.cost_bps,
            "weights": self.weights,
            "benchmark": self.benchmark,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BacktestParams:
        return cls(
            rules=str(d["rules"]),
            start=date.fromisoformat(d["start"]),
            end=date.fromisoformat(d["end"]),
            every=str(d["every"]),
            horizons=tuple(d["horizons"]),
            cost_bps=float(d["cost_bps"]),
            weights=str(d["weights"]),
            benchmark=d.get("benchmark"),
        )


@dataclass
class BacktestResult:
    """A finished backtest. ``portfolio`` holds the summary figures (at least ``cagr``, ``volatility``, ``sharpe``,
    ``max_drawdown``, ``turnover``, ``hit_rate``, ``benchmark_cagr``, ``universe_cagr``, ``active_share``; a figure
    that cannot be measured is None, never 0). ``notes`` are sentences every output prints (for example that the
    demo's prices carry no planted signal, so its IC is noise)."""

    params: BacktestParams
    rules_name: str
    rules_hash: str
    dates: list[date]
    tables: dict[str, pl.DataFrame]
    portfolio: dict[str, float | None]
    notes: list[str] = field(default_factory=list)
    demo: bool = False
    backtest_id: int | None = None
    created_at: str | None = None

    def table(self, name: str) -> pl.DataFrame:
        """Table ``name`` with exactly the columns of ``TABLES[name]`` (an absent table is empty, typed)."""
        frame = self.tables.get(name)
        schema = TABLES[name]
        if frame is None:
            return pl.DataFrame(schema=schema)
        return frame.select([pl.col(c).cast(t) for c, t in schema.items()])

    def to_json(self) -> dict[str, Any]:
        """The ``--format json`` object: ``ic``, ``quantiles``, ``portfolio`` and ``curve`` first, then the rest."""

        def rows(name: str) -> list[dict[str, Any]]:
            return [
                {k: (v.isoformat() if isinstance(v, date) else v) for k, v in r.items()}
                for r in self.table(name).iter_rows(named=True)
            ]

        return {
            "ic": rows("ic"),
            "quantiles": rows("quantiles"),
            "portfolio": dict(self.portfolio),
            "curve": rows("curve"),
            "spreads": rows("spreads"),
            "stability": rows("stability"),
            "backtest_id": self.backtest_id,
            "rules": self.rules_name,
            "rules_hash": self.rules_hash,
            "params": self.params.to_dict(),
            "dates": len(self.dates),
            "demo": self.demo,
            "notes": list(self.notes),
        }

    def to_blob(self) -> bytes:
        """The whole result as bytes for the store: a JSON header line, then each table as Parquet."""
        head = {
            "params": self.params.to_dict(),
            "rules_name": self.rules_name,
            "rules_hash": self.rules_hash,
            "dates": [d.isoformat() for d in self.dates],
            "portfolio": self.portfolio,
            "notes": self.notes,
            "demo": self.demo,
            "tables": {},
        }
        parts: list[bytes] = []
        for name in TABLES:
            buf = io.BytesIO()
            self.table(name).write_parquet(buf)
            data = buf.getvalue()
            head["tables"][name] = len(data)
            parts.append(data)
        header = json.dumps(head).encode("utf-8")  # insertion order: --show prints the figures as the run did
        return len(header).to_bytes(8, "big") + header + b"".join(parts)

    @classmethod
    def from_blob(cls, blob: bytes, *, backtest_id: int | None = None, created_at: str | None = None) -> BacktestResult:
        n = int.from_bytes(blob[:8], "big")
        head = json.loads(blob[8 : 8 + n].decode("utf-8"))
        pos = 8 + n
        tables: dict[str, pl.DataFrame] = {}
        for name in TABLES:
            size = int(head["tables"].get(name, 0))
            if size:
                tables[name] = pl.read_parquet(io.BytesIO(blob[pos : pos + size]))
            pos += size
        return cls(
            params=BacktestParams.from_dict(head["params"]),
            rules_name=head["rules_name"],
            rules_hash=head["rules_hash"],
            dates=[date.fromisoformat(d) for d in head["dates"]],
            tables=tables,
            portfolio=head["portfolio"],
            notes=list(head["notes"]),
            demo=bool(head["demo"]),
            backtest_id=backtest_id,
            created_at=created_at,
        )
