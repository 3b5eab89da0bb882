"""The rule sets a user can reach by name, summarised for ``rules list`` and ``rules check``.

``name`` is what ``--rules NAME`` accepts: the file name without ``.toml``. A file may declare another ``name``
inside; runs are stored under that one, so it is listed too (``runs_as``) and ``--rules`` accepts it as well.
"""

from __future__ import annotations

import polars as pl

from rules.ruleset import RuleSet, RuleSetError, available, load

SCHEMA = {
    "name": pl.String,
    "runs_as": pl.String,
    "origin": pl.String,
    "status": pl.String,
    "top_n": pl.Int64,
    "stay_within": pl.Int64,
    "weights": pl.String,
    "gates": pl.Int64,
    "description": pl.String,
    "file": pl.String,
}


def _weights(rs: RuleSet) -> str:
    return ", ".join(
        f"{w.factor} {w.weight / rs.total_weight:.0%}" + (" (worse first)" if w.prefer == "worse" else "")
        for w in rs.weights
    )


def summary(rs: RuleSet, origin: str = "file", name: str | None = None) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "name": name or rs.name,
                "runs_as": rs.name,
                "origin": origin,
                "status": "ok",
                "top_n": rs.top_n,
                "stay_within": rs.stay_within,
                "weights": _weights(rs),
                "gates": len(rs.gates),
                "description": rs.description,
                "file": rs.source,
            }
        ],
        schema=SCHEMA,
        orient="row",
    )


def catalog() -> pl.DataFrame:
    """Every reachable rule set; a broken user file is listed with its problem instead of hiding the rest."""
    frames = []
    for name, path, origin in available():
        try:
            frames.append(summary(load(path), origin, name))
        except RuleSetError as exc:
            frames.append(
                pl.DataFrame(
                    [{"name": name, "origin": origin, "status": f"invalid: {exc}", "file": str(path)}],
                    schema=SCHEMA,
                    orient="row",
                )
            )
    return pl.concat(frames) if frames else pl.DataFrame(schema=SCHEMA)
