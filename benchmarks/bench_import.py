"""Time ``screener import`` of a synthetic contract directory against a bare DuckDB bulk load of the same files.

    python benchmarks/bench_import.py                              # 50,000 companies, Parquet and CSV
    python benchmarks/bench_import.py --n 5000 --formats parquet   # a quick run while developing
    python benchmarks/bench_import.py --sizes 5000,20000,50000 --formats parquet   # cost growth, three points
    python benchmarks/bench_import.py --n 20000 --formats parquet --work DIR --baseline MAIN   # against main's code
    python benchmarks/bench_import.py --formats parquet --work DIR --baseline MAIN --rounds 3   # medians of 3 rounds

For each size and format the contract files a user would import (``companies``, ``fundamentals``, ``prices``,
``fx``, ``events``, ``splits``) are written from ``gen_universe.generate`` (fiscal years as the sums of their
quarters, so the files pass validation), plus a copy in which one row in ten breaks a rule. Each step then runs in
a fresh process, side by side on the same machine:

- ``duckdb bulk load``: ``CREATE TABLE <kind> AS SELECT * FROM read_parquet(...)`` (or ``read_csv``) per file into a
  new database, with no validation and no keys: the floor.
- ``import``: ``screener import DIR`` into a new store, through the real command line.
- ``re-import``: the same command again on that store; it must duplicate nothing (row counts are checked).
- ``import --quarantine (10% bad)``: ``screener import --quarantine`` of the broken copy into a new store; the
  passing rows are stored and the failing ones recorded (the rejected count is checked).

With ``--baseline`` (a checkout of another version, such as a worktree of main) each import step runs twice, with
that checkout's code and then with this one, on the same files, so both are measured under the same load; with
``--work`` the generated files are kept and reused by later runs.

With ``--rounds N`` the whole sequence runs N times (every store new in each round) and each ratio is the median
of the N rounds' ratios, every round's CPU ratio printed beside it: on a shared machine one step of a single run can
take half as long again as the same step a minute later.

Wall time is measured around each child, CPU time (user + system) and peak resident set size are the child's own
(``os.wait4``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for entry in (ROOT, HERE):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

#: The contract kinds written, in the order an import reads them (files are named after their kind).
FILE_KINDS = ("companies", "fundamentals", "prices", "fx", "events", "splits")
FLOWS = ("revenue", "operating_income", "net_income", "operating_cash_flow", "capital_expenditure", "free_cash_flow")
#: How many rows in a hundred the quarantine step breaks.
BAD_PER_HUNDRED = 10


def contract_frames(n: int, seed: int = 11) -> dict[str, object]:
    """The generated universe as contract files: the bookkeeping ``provider`` column dropped, and each fiscal year's
    flows the sum of its four quarters (unknown when a quarter is), as a real filing would give."""
    import polars as pl
    from gen_universe import generate

    inputs = generate(n, seed=seed)
    frames: dict[str, pl.DataFrame] = {}
    for kind in FILE_KINDS:
        frames[kind] = getattr(inputs, kind).drop("provider", strict=False)
    fund = frames["fundamentals"]
    year = pl.col("period_end").dt.year()
    sums = (
        fund.filter(pl.col("period") == "Q")
        .group_by("symbol", year.alias("_y"))
        .agg(
            pl.len().alias("_n"),
            *(pl.when(pl.col(f).null_count() == 0).then(pl.col(f).sum()).alias(f"_sum_{f}") for f in FLOWS),
        )
    )
    fy = (
        fund.filter(pl.col("period") == "FY")
        .with_columns(year.alias("_y"))
        .join(sums, on=["symbol", "_y"], how="left")
        .with_columns(pl.when(pl.col("_n") == 4).then(pl.col(f"_sum_{f}")).otherwise(None).alias(f) for f in FLOWS)
        .select(fund.columns)
    )
    frames["fundamentals"] = pl.concat([fund.filter(pl.col("period") == "Q"), fy]).sort(
        "symbol", "period_end", "period"
    )
    return frames


def broken(frames: dict[str, object]) -> dict[str, object]:
    """The same frames with one row in ten (every tenth) breaking one rule of its kind: a value every real file
    could carry (a sign, an unknown code, a date decades ahead, a symbol with a stray character)."""
    import polars as pl

    out: dict[str, pl.DataFrame] = {}
    for kind, frame in frames.items():
        assert isinstance(frame, pl.DataFrame)
        i = pl.int_range(pl.len())
        bad = (i % (100 // BAD_PER_HUNDRED)) == 3
        third = (i // (100 // BAD_PER_HUNDRED)) % 3
        if kind == "companies":
            fix = [pl.when(bad).then(pl.lit("ZZ")).otherwise(pl.col("country")).alias("country")]
        elif kind == "fundamentals":
            fix = [pl.when(bad).then(pl.lit("ZZZ")).otherwise(pl.col("currency")).alias("currency")]
        elif kind == "prices":
            fix = [
                pl.when(bad & (third == 0)).then(-pl.col("close")).otherwise(pl.col("close")).alias("close"),
                pl.when(bad & (third == 1))
                .then(pl.col("date").dt.offset_by("30y"))
                .otherwise(pl.col("date"))
                .alias("date"),
                pl.when(bad & (third == 2)).then(pl.col("symbol") + "!").otherwise(pl.col("symbol")).alias("symbol"),
            ]
        elif kind == "fx":
            fix = [pl.when(bad).then(-pl.col("usd_per_unit")).otherwise(pl.col("usd_per_unit")).alias("usd_per_unit")]
        elif kind == "events":
            fix = [pl.when(bad).then(pl.lit("rumour")).otherwise(pl.col("kind")).alias("kind")]
        else:
            fix = [pl.when(bad).then(-pl.col("ratio")).otherwise(pl.col("ratio")).alias("ratio")]
        out[kind] = frame.with_columns(fix)
    return out


def _written(folder: Path, fmt: str) -> int | None:
    """The total row count of a directory written before (every kind's file present), else None."""
    import polars as pl

    paths = [folder / f"{kind}.{fmt}" for kind in FILE_KINDS]
    if not all(p.exists() for p in paths):
        return None
    if fmt == "csv":
        return sum(pl.scan_csv(p).select(pl.len()).collect().item() for p in paths)
    return sum(pl.scan_parquet(p).select(pl.len()).collect().item() for p in paths)


def write_dir(frames: dict[str, object], folder: Path, fmt: str) -> int:
    """Write each frame as ``<kind>.<fmt>``; return the total row count."""
    import polars as pl

    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for kind, frame in frames.items():
        assert isinstance(frame, pl.DataFrame)
        if fmt == "csv":
            frame.write_csv(folder / f"{kind}.csv")
        else:
            frame.write_parquet(folder / f"{kind}.parquet")
        total += frame.height
    return total


def _bare_load(folder: Path, fmt: str, db: Path) -> None:
    """The floor: every file into its own table with DuckDB's own reader, no checks, no keys."""
    import duckdb

    reader = "read_parquet" if fmt == "parquet" else "read_csv"
    con = duckdb.connect(str(db))
    for kind in FILE_KINDS:
        path = str(folder / f"{kind}.{fmt}").replace("'", "''")
        con.execute(f"CREATE TABLE {kind} AS SELECT * FROM {reader}('{path}')")
    con.close()


def timed(
    argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[float, float, float, int, str]:
    """Run ``argv`` in a fresh process: (wall seconds, CPU seconds, peak RSS in GB, exit code, stderr's last line).

    CPU time (user + system) is reported next to wall time: on a shared machine the wall time of the same work
    moves with other jobs' load, its CPU time much less."""
    t = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd)
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    last = err.strip().splitlines()[-1] if err.strip() else ""
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024 / 1e9, proc.returncode, last


def _counts(db: Path) -> dict[str, int]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {k: con.execute(f"SELECT count(*) FROM {k}").fetchone()[0] for k in FILE_KINDS}  # type: ignore[index]
        out["rejected_rows"] = con.execute("SELECT count(DISTINCT (source, key)) FROM rejected_rows").fetchone()[0]  # type: ignore[index]
    finally:
        con.close()
    return out


def _env(code: Path) -> dict[str, str]:
    """The environment that runs ``screener`` from the checkout ``code``."""
    return {**os.environ, "PYTHONPATH": str(code) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _median(values: list[float]) -> float:
    import statistics

    return statistics.median(values)


#: The import steps, by the names ``--steps`` takes.
STEPS: dict[str, str] = {
    "import": "import",
    "re-import": "re-import",
    "quarantine": f"import --quarantine ({BAD_PER_HUNDRED}% bad)",
}


def _report(mine: list[dict[str, object]], whos: list[str], rounds: int, chosen: Sequence[str]) -> None:
    """The ratios of one size and format: each import step against the bulk load, each quarantine against its clean
    import (medians of the per-round ratios, every round's CPU ratio in brackets), and each step's medians."""
    labels = [who + STEPS[s] for s in chosen for who in whos]

    def at(label: str, round_no: int) -> dict[str, object]:
        return next(r for r in mine if r["round"] == round_no and r["step"] == label)

    def num(row: dict[str, object], key: str) -> float:
        value = row[key]
        assert isinstance(value, (int, float))
        return float(value)

    def ratios(label: str, against: str) -> tuple[float, float, str]:
        pairs = [(at(label, k), at(against, k)) for k in range(1, rounds + 1)]
        walls = [num(a, "wall_s") / num(b, "wall_s") for a, b in pairs]
        cpus = [num(a, "cpu_s") / num(b, "cpu_s") for a, b in pairs]
        return _median(walls), _median(cpus), ", ".join(f"{c:.2f}" for c in cpus)

    pad = f"{'':>7} {'':<8}   "
    print(f"{pad} ratios ({'median of rounds' if rounds > 1 else 'one round'}; CPU per round in brackets)", flush=True)
    for label in labels:
        wall, cpu, each = ratios(label, "duckdb bulk load")
        print(f"{pad} {label + ' / bulk load':<32} {wall:7.2f}x wall {cpu:7.2f}x CPU  [{each}]", flush=True)
    for who in whos if {"import", "quarantine"} <= set(chosen) else ():
        q_label = who + STEPS["quarantine"]
        wall, cpu, each = ratios(q_label, who + "import")
        rejected = at(q_label, rounds).get("stored_rejected_rows")
        name = who + "quarantine / clean import"
        print(f"{pad} {name:<32} {wall:7.2f}x wall {cpu:7.2f}x CPU  [{each}]  (rejected rows {rejected})", flush=True)
    for label in ("duckdb bulk load", *labels):
        runs = [r for r in mine if r["step"] == label]
        wall = _median([num(r, "wall_s") for r in runs])
        cpu = _median([num(r, "cpu_s") for r in runs])
        peak = max(num(r, "peak_gb") for r in runs)
        print(f"{pad} {label:<32} median {wall:6.2f} s wall {cpu:6.2f} s CPU, peak {peak:.2f} GB", flush=True)


def run_size(
    n: int,
    formats: list[str],
    work: Path,
    baseline: Path | None = None,
    rounds: int = 1,
    chosen: Sequence[str] = tuple(STEPS),
) -> list[dict[str, object]]:
    """The ``chosen`` steps at ``n`` companies. With ``baseline`` (another checkout), each import step runs with
    that checkout's code and with this one, on the same files and one after the other, so the two are compared
    under the same load; which of the two goes first alternates round by round, so neither always runs on a
    machine the other just warmed (or tired). The files in ``work`` are reused when a run wrote them before.

    With ``rounds`` above 1 the whole sequence (bulk load, imports, re-imports, quarantines) runs that many times,
    every store new in each round, and the ratios reported are the medians of each round's ratios: a step and the
    step it is compared with always ran side by side, and a round that a burst of other work slowed does not decide
    the figure."""
    rows_out: list[dict[str, object]] = []
    cli = [sys.executable, "-m", "screener"]
    codes = [("", ROOT)] if baseline is None else [("baseline ", baseline), ("", ROOT)]
    for fmt in formats:
        clean_dir, bad_dir = work / f"{n}-{fmt}-clean", work / f"{n}-{fmt}-bad"
        rows = _written(clean_dir, fmt)
        if rows is None or _written(bad_dir, fmt) is None:
            frames = contract_frames(n)
            rows = write_dir(frames, clean_dir, fmt)
            write_dir(broken(frames), bad_dir, fmt)
        steps: list[tuple[str, list[str], Path, Path]] = []
        floor_db = work / f"{n}-{fmt}-floor.duckdb"
        steps.append(
            (
                "duckdb bulk load",
                [
                    sys.executable,
                    str(HERE / Path(__file__).name),
                    "--bare",
                    str(clean_dir),
                    "--format",
                    fmt,
                    "--db",
                    str(floor_db),
                ],
                floor_db,
                ROOT,
            )
        )
        for step in (STEPS[c] for c in chosen):
            for who, code in codes:
                tag = "base" if who else "this"
                store, qstore = work / f"{n}-{fmt}-{tag}.duckdb", work / f"{n}-{fmt}-{tag}-q.duckdb"
                if step in ("import", "re-import"):
                    steps.append((who + step, [*cli, "--db", str(store), "import", str(clean_dir)], store, code))
                else:
                    argv = [*cli, "--db", str(qstore), "import", "--quarantine", str(bad_dir)]
                    steps.append((who + step, argv, qstore, code))
        mine: list[dict[str, object]] = []
        for round_no in range(1, rounds + 1):
            for old in work.glob(f"{n}-{fmt}*.duckdb*"):
                old.unlink()  # every store starts new
            ordered = steps if round_no % 2 or baseline is None else _this_first(steps)
            for label, argv, db, code_dir in ordered:
                # run from the checkout itself: ``python -m`` puts the working directory first on the path
                wall, cpu, peak, code, last = timed(argv, _env(code_dir), cwd=code_dir)
                counts = _counts(db) if db.exists() and label != "duckdb bulk load" else {}
                row = {
                    "n": n,
                    "format": fmt,
                    "rows": rows,
                    "round": round_no,
                    "step": label,
                    "wall_s": wall,
                    "cpu_s": cpu,
                    "peak_gb": peak,
                    "exit": code,
                }
                row.update({f"stored_{k}": v for k, v in counts.items()})
                mine.append(row)
                print(
                    f"{n:>7,} {fmt:<8} r{round_no} {label:<32} {wall:7.2f} s wall {cpu:7.2f} s CPU  "
                    f"peak {peak:5.2f} GB  exit {code}" + (f"  ({last})" if code not in (0,) and last else ""),
                    flush=True,
                )
                if label.endswith("re-import"):
                    first = next(
                        r for r in mine if r["round"] == round_no and r["step"] == label.replace("re-import", "import")
                    )
                    same = all(first.get(f"stored_{k}") == row.get(f"stored_{k}") for k in FILE_KINDS)
                    print(f"{'':>7} {'':<8}    {'re-import duplicated nothing:':<32} {same}", flush=True)
        rows_out.extend(mine)
        _report(mine, [who for who, _ in codes], rounds, chosen)
    return rows_out


def _this_first(steps: list[tuple[str, list[str], Path, Path]]) -> list[tuple[str, list[str], Path, Path]]:
    """``steps`` with this checkout's run of each step before the baseline's (they come in pairs, baseline first)."""
    out = steps[:1]
    for i in range(1, len(steps), 2):
        out += [steps[i + 1], steps[i]]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description="Time screener import against a bare DuckDB bulk load.")
    ap.add_argument("--n", type=int, default=50_000, help="companies (default 50,000)")
    ap.add_argument("--sizes", default=None, help="comma-separated company counts, e.g. 5000,20000,50000")
    ap.add_argument("--formats", default="parquet,csv", help="parquet, csv or both (default both)")
    ap.add_argument(
        "--work",
        type=Path,
        default=None,
        help="folder for the files and stores, kept between runs (default: a temp dir)",
    )
    ap.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="another checkout (e.g. a worktree of main): each import step runs with its code, then with this one",
    )
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every step this many times, interleaved; ratios are medians of the rounds (default 1)",
    )
    ap.add_argument(
        "--steps",
        default=",".join(STEPS),
        help="comma-separated import steps: import, re-import, quarantine (default all; re-import needs import)",
    )
    ap.add_argument("--bare", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--format", default="parquet", help=argparse.SUPPRESS)
    ap.add_argument("--db", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.bare is not None:
        _bare_load(args.bare, args.format, args.db)
        return
    chosen = [c.strip() for c in args.steps.split(",") if c.strip()]
    unknown = [c for c in chosen if c not in STEPS]
    if unknown or not chosen or ("re-import" in chosen and "import" not in chosen):
        ap.error(f"--steps takes {', '.join(STEPS)} (re-import with import), not {args.steps!r}")
    chosen = [c for c in STEPS if c in chosen]  # always in this order: a re-import follows its import
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else [args.n]
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        work = (args.work or Path(tmp)).resolve()
        for n in sizes:
            run_size(n, formats, work, args.baseline, max(1, args.rounds), chosen)


if __name__ == "__main__":
    main()
