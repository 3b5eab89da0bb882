"""Time the commands a user waits for at the terminal, each in a fresh process, beside the bare import of the
libraries every command needs (``python -c "import polars, duckdb, click"``):

* ``screener screen`` on the stored scores of a large universe (50,000 companies by default), all rows as csv and
  the top 20 of a ``--where`` as a table;
* ``screener show SYMBOL`` on the same store;
* ``screener weekly`` on the bundled universe (a ``screener demo`` store) for an as-of date with nothing stored yet:
  a fresh copy of the store per round, so every round scores from the stored data.

    python benchmarks/bench_cli.py --data /tmp/uni --store /tmp/uni.duckdb    # both made if missing
    python benchmarks/bench_cli.py --n 5000 --rounds 5

Commands run as a user types them: the ``screener`` script the install put beside this Python (``--module`` runs
``python -m screener`` instead, which adds finding and running the package's ``__main__`` through ``runpy``).
Rounds interleave the commands, so each sees the same machine; medians are reported, with each command's ratio to
the bare import (wall and CPU). With a baseline, each command runs with this checkout first in even rounds and with
the baseline first in odd ones, so neither side always gets the slot right after another command.

``--baseline DIR`` runs ``screen`` and ``show`` a second time in every round with another checkout of the project
(e.g. ``git worktree add --detach ../old HEAD~3``) first on the path, so a change is measured side by side with
the code it replaces on the same loaded machine. A change of the store's schema needs ``--baseline-store COPY``, a
copy of the store made before the change: the baseline reads that copy (a store at its own schema version; the
newer code upgrades its own store the first time it opens it) and everything else reads ``--store``;
``--no-weekly`` skips the weekly command (and the demo store it needs):

    python benchmarks/bench_cli.py --data /tmp/uni --store /tmp/uni.duckdb --baseline ../old --no-weekly
    python benchmarks/bench_cli.py --data /tmp/uni --store /tmp/new.duckdb --baseline ../old \
        --baseline-store /tmp/old.duckdb --no-weekly
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
for entry in (HERE.parent, HERE):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from bench_score import child_env, prepared_universe, run_child, universe_arguments  # noqa: E402


def screener_command(*, module: bool = False) -> list[str]:
    """How a command is started: the installed ``screener`` script beside this Python (what a user types), or
    ``python -m screener`` when asked or when the project is not installed here. The script imports the package
    from the path like ``-m`` does, so a baseline checkout put first on ``PYTHONPATH`` runs through it the same."""
    script = Path(sys.executable).with_name("screener")
    if module or not script.is_file():
        return [sys.executable, "-m", "screener"]
    return [str(script)]


def _baseline_child(argv: list[str], root: Path) -> dict[str, float]:
    """``run_child`` with the checkout at ``root``, not this one, first on the path (and as the working directory,
    which ``python -m`` puts before the path)."""
    env = child_env()
    env["PYTHONPATH"] = os.pathsep.join([str(root), *env["PYTHONPATH"].split(os.pathsep)[1:]])  # ours was first
    t = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=root)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed with {root}: {err.strip()[-500:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss": usage.ru_maxrss * 1024 / 1e9}


def _demo_store(path: Path) -> None:
    if not path.exists():
        subprocess.run(
            [sys.executable, "-m", "screener", "--db", str(path), "demo", "--no-export", "--format", "csv"],
            check=True,
            env=child_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def _latest_close(path: Path) -> object:
    from screener.store import open_store

    with open_store(path, read_only=True) as store:
        return store.rows("SELECT max(date) FROM prices")[0][0]


def main() -> None:
    ap = argparse.ArgumentParser(description="Time screen, show and weekly beside the bare library import.")
    universe_arguments(ap, 5, "rounds")
    ap.add_argument("--baseline", type=Path, default=None, help="another checkout: screen and show timed with it too")
    ap.add_argument(
        "--baseline-store",
        type=Path,
        default=None,
        help="a copy of --store the baseline reads (its own schema version); default: --store",
    )
    ap.add_argument("--no-weekly", action="store_true", help="skip the weekly command and its demo store")
    ap.add_argument("--module", action="store_true", help="run python -m screener instead of the screener script")
    args = ap.parse_args()

    from gen_universe import AS_OF

    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        _, store = prepared_universe(args, tmp)
        day = AS_OF.isoformat()
        # the score set screen and show read: stored once (reused afterwards as long as the data is unchanged)
        run_child([py, "-m", "screener", "--db", str(store), "score", "--as-of", day, "--format", "csv"])
        demo = Path(tmp) / "demo.duckdb"
        if not args.no_weekly:
            _demo_store(demo)
            weekly_day = (_latest_close(demo) - timedelta(days=14)).isoformat()  # type: ignore[operator]
        if args.baseline:
            subprocess.run(
                [py, "-m", "compileall", "-q", *(str(args.baseline / p) for p in ("screener", "factors", "rules"))],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        base_store = args.baseline_store or store
        if args.baseline and args.baseline_store:
            _baseline_child([py, "-m", "screener", "--db", str(base_store), "score", "--as-of", day], args.baseline)
        cli = screener_command(module=args.module)
        base = [*cli, "--db", str(store)]
        commands = {
            "bare import": [py, "-c", "import polars, duckdb, click"],
            "screen (all, csv)": [*base, "screen", "--as-of", day, "--format", "csv"],
            "screen (--where, top 20)": [
                *base,
                "screen",
                "--as-of",
                day,
                "--where",
                "net_cash_usd > 0",
                "--sort",
                "dilution_risk",
                "--top",
                "20",
            ],
            "show SYMBOL": [*base, "show", "S000123.X", "--as-of", day],
        }
        names = list(commands)
        if args.baseline:
            names += [f"{n} (baseline)" for n in commands if n != "bare import"]
        results: dict[str, list[dict[str, float]]] = {n: [] for n in names}
        if not args.no_weekly:
            results["weekly (demo, new date)"] = []
        for round_no in range(args.rounds):
            for name, argv in commands.items():
                theirs = [str(base_store) if a == str(store) else a for a in argv]
                # with a baseline, which of the two runs first alternates by round: a command run right after
                # another (or after a pause) is not favoured on one side only
                mine_first = round_no % 2 == 0 or not args.baseline or name == "bare import"
                if mine_first:
                    results[name].append(run_child(argv))
                if args.baseline and name != "bare import":
                    results[f"{name} (baseline)"].append(_baseline_child(theirs, args.baseline))
                if not mine_first:
                    results[name].append(run_child(argv))
            if args.no_weekly:
                continue
            fresh = Path(tmp) / "weekly.duckdb"
            shutil.copyfile(demo, fresh)
            weekly = [*cli, "--db", str(fresh), "weekly", "--as-of", weekly_day, "--format", "csv"]
            results["weekly (demo, new date)"].append(run_child(weekly))
        load = os.getloadavg()
    bare_wall = statistics.median(r["wall"] for r in results["bare import"])
    bare_cpu = statistics.median(r["cpu"] for r in results["bare import"])
    print(f"large store {args.n:,} companies; {args.rounds} rounds; load average {load[0]:.2f} {load[1]:.2f}")
    print(f"commands run as: {' '.join(Path(c).name for c in cli)}")
    for name, runs in results.items():
        wall = statistics.median(r["wall"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        print(
            f"{name:<37} wall {wall:5.2f} s ({wall / bare_wall:4.2f}x bare)  CPU {cpu:5.2f} s "
            f"({cpu / bare_cpu:4.2f}x bare)  peak RSS {max(r['rss'] for r in runs):.2f} GB"
        )


if __name__ == "__main__":
    main()
