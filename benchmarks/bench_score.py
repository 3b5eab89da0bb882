"""Time ``screener score`` end to end (a fresh process: imports, store reads, scoring, saving, output) beside the
floor (``bench_floor.py``: one lazy polars pass over the same data as Parquet), and report wall time, CPU time and
peak memory of each.

    python benchmarks/bench_score.py                          # 50,000 companies: generate, build a store, time
    python benchmarks/bench_score.py --n 5000                 # a smaller universe (the growth points)
    python benchmarks/bench_score.py --data /tmp/uni --store /tmp/uni.duckdb   # reuse both (built if missing)
    python benchmarks/bench_score.py --data /tmp/uni --store /tmp/uni.duckdb --baseline ../old   # side by side

The store is built once from ``gen_universe.py`` data (plain upserts, as an import stores rows) in a child process;
then each round runs the floor and ``screener score --recompute`` in fresh processes, one after the other, so both
see the same machine. ``--recompute`` makes every round score, never reuse the stored set. Peak memory is each
child's own peak resident set size (``os.wait4``); CPU time is its user plus system time. The children run with
bytecode caching on, as an installed product does. ``--baseline DIR`` also runs the score in every round with
another checkout of the project first on the path (e.g. ``git worktree add --detach ../old HEAD~3``), so a change
is measured beside the code it replaces on the same loaded machine. When the two checkouts keep different store
schemas, ``--baseline-store COPY`` gives the baseline its own copy of the store at its schema (a newer checkout
upgrades the store it opens, and an older one refuses a store newer than it knows).

    python benchmarks/bench_score.py --data /tmp/uni --store /tmp/uni.duckdb --baseline ../old \
        --baseline-store /tmp/uni-old.duckdb
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for entry in (ROOT, HERE):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))


def _peak_rss_gb() -> float:
    """This process's peak resident set size (the other benchmarks report their own with it)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb * 1024 / 1e9 if sys.platform != "darwin" else kb / 1e9


def child_env() -> dict[str, str]:
    """The environment of a timed child: this project first on the path, bytecode caching on."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def run_child(argv: list[str], root: Path | None = None) -> dict[str, float]:
    """Run ``argv`` (output discarded) and return its wall time, CPU time and peak RSS (GB). With ``root``, that
    checkout of the project comes first on the path instead of this one (and is the working directory, which
    ``python -m`` puts before the path)."""
    env = child_env()
    if root is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(root), *env["PYTHONPATH"].split(os.pathsep)[1:]])  # ours was first
    t = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=root)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {err.strip()[-500:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss": usage.ru_maxrss * 1024 / 1e9}


def warm_bytecode() -> None:
    """Compile the project once, so no timed child pays for it (as after ``pip install``)."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", *(str(ROOT / p) for p in ("screener", "factors", "rules"))],
        check=True,
        env=child_env(),
        stdout=subprocess.DEVNULL,
    )


def ensure_data(folder: Path, n: int) -> None:
    if not (folder / "prices.parquet").exists():
        subprocess.run(
            [sys.executable, str(HERE / "gen_universe.py"), "--n", str(n), "--out", str(folder)],
            check=True,
            env=child_env(),
        )


def ensure_store(folder: Path, store: Path) -> None:
    if not store.exists():
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, str(HERE / "bench_backtest.py"), "--write-store", str(folder), str(store)],
            check=True,
            env=child_env(),
        )
        print(f"store built in {time.perf_counter() - t:.1f} s -> {store}")


def summary(name: str, runs: list[dict[str, float]]) -> str:
    walls, cpus = [r["wall"] for r in runs], [r["cpu"] for r in runs]
    return (
        f"{name:<22} wall median {statistics.median(walls):6.2f} s (best {min(walls):.2f}); "
        f"CPU median {statistics.median(cpus):6.2f} s; peak RSS {max(r['rss'] for r in runs):.2f} GB"
    )


def universe_arguments(ap: argparse.ArgumentParser, rounds: int, rounds_help: str) -> None:
    """The options every whole-command benchmark shares: the universe's size, its files, its store, the rounds."""
    ap.add_argument("--n", type=int, default=50_000, help="companies to generate (default 50,000)")
    ap.add_argument("--data", type=Path, default=None, help="folder of gen_universe.py parquet files (made if missing)")
    ap.add_argument("--store", type=Path, default=None, help="DuckDB store of the same data (built if missing)")
    ap.add_argument("--rounds", type=int, default=rounds, help=f"{rounds_help} (default {rounds})")


def prepared_universe(args: argparse.Namespace, tmp: str) -> tuple[Path, Path]:
    """(parquet folder, store) of ``universe_arguments``, generated and built when missing (in ``tmp`` unless
    given), with the project's bytecode compiled so no timed child pays for it."""
    folder = args.data or Path(tmp) / "universe"
    store = args.store or Path(tmp) / "bench.duckdb"
    ensure_data(folder, args.n)
    ensure_store(folder, store)
    warm_bytecode()
    return folder, store


def main() -> None:
    ap = argparse.ArgumentParser(description="Time screener score end to end beside the polars floor.")
    universe_arguments(ap, 3, "rounds of floor + score")
    ap.add_argument("--baseline", type=Path, default=None, help="another checkout: score timed with it too, per round")
    ap.add_argument(
        "--baseline-store",
        type=Path,
        default=None,
        help="the baseline's own copy of the store, at its schema (default: the same store as this checkout's)",
    )
    args = ap.parse_args()
    if args.baseline_store and not args.baseline:
        ap.error("--baseline-store needs --baseline")

    from gen_universe import AS_OF

    with tempfile.TemporaryDirectory() as tmp:
        folder, store = prepared_universe(args, tmp)
        floor_cmd = [sys.executable, str(HERE / "bench_floor.py"), "--data", str(folder)]
        score_cmd = [sys.executable, "-m", "screener", "--db", str(store), "score", "--as-of", AS_OF.isoformat()]
        score_cmd += ["--recompute", "--format", "csv"]
        run_child(score_cmd)  # the first run upgrades a store built by an older schema; not timed
        base_cmd = score_cmd
        if args.baseline_store:
            base_cmd = [str(args.baseline_store) if part == str(store) else part for part in score_cmd]
        if args.baseline:
            subprocess.run(
                [sys.executable, "-m", "compileall", "-q"]
                + [str(args.baseline / p) for p in ("screener", "factors", "rules")],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        floors, scores, baselines = [], [], []
        for _ in range(args.rounds):
            floors.append(run_child(floor_cmd))
            scores.append(run_child(score_cmd))
            if args.baseline:
                baselines.append(run_child(base_cmd, args.baseline))
        load = os.getloadavg()
    print(f"companies {args.n:,}; as of {AS_OF}; {args.rounds} rounds; load average {load[0]:.2f} {load[1]:.2f}")
    print(summary("floor (bench_floor.py)", floors))
    print(summary("screener score", scores))
    runs = [("score", scores)]
    if baselines:
        print(summary("score (baseline)", baselines))
        runs.append(("baseline", baselines))
    for name, timed in runs:
        wall = statistics.median(r["wall"] for r in timed) / statistics.median(r["wall"] for r in floors)
        cpu = statistics.median(r["cpu"] for r in timed) / statistics.median(r["cpu"] for r in floors)
        print(f"{name} / floor: wall {wall:.2f}x, CPU {cpu:.2f}x")


if __name__ == "__main__":
    main()
