"""Time the panel engine (every rebalance date scored in one pass) against a per-date loop on the same data.

    python benchmarks/bench_backtest.py                       # 5,000 companies x 156 weekly dates
    python benchmarks/bench_backtest.py --n 1000 --dates 52   # a quicker look

The data: ``gen_universe.py`` with 12 years of quarters and 3 years of business-day closes per company, generated
in a child process (its temporaries do not count). Both sides score the same in-memory inputs, so the figure is
the engine, not the store: the panel calls ``compute_panel(inputs, dates)`` once; the baseline calls
``compute_scores(inputs, d)`` for each date, which is what a backtest built on the single-date engine would do.
Before timing, one single-date call warms up, so neither side pays for a first call. The script then checks the
two agree row for row, byte for byte.

With ``--store``, the same data is first written to a DuckDB store and both sides start from it, as the backtest
and a back-dated ``weekly`` do: the panel reads the store once and scores every date (``score_panel``), the loop
reads each date's inputs and scores them (``load_inputs`` + ``compute_scores`` per date, what ``scores_for`` does
for one date). That is the whole library path a user waits for, store reads included.

Peak memory is the process's peak resident set size after the panel run (the loop runs after it and needs less);
polars allocates outside Python's allocator, so tracemalloc would miss it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for entry in (HERE.parent, HERE):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from bench_score import _peak_rss_gb  # noqa: E402  (one measure of peak memory for every benchmark)


def _write_store(folder: Path, path: Path) -> None:
    from gen_universe import read

    from screener.store import open_store

    inputs = read(folder)
    with open_store(path) as store:
        for kind in ("companies", "fundamentals", "prices", "fx", "events", "splits"):
            store.upsert(kind, getattr(inputs, kind), provider="file")
        store.upsert_share_history(inputs.share_history, provider="file")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--write-store":
        _write_store(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    ap = argparse.ArgumentParser(description="Panel engine vs a per-date loop.")
    ap.add_argument("--n", type=int, default=5_000, help="companies (default 5,000)")
    ap.add_argument("--dates", type=int, default=156, help="weekly rebalance dates (default 156)")
    ap.add_argument("--quarters", type=int, default=48, help="quarters of statements (default 48, 12 years)")
    ap.add_argument("--days", type=int, default=780, help="business days of closes (default 780, 3 years)")
    ap.add_argument("--no-loop", action="store_true", help="time the panel only")
    ap.add_argument("--repeat", type=int, default=2, help="further panel runs; the median is compared (default 2)")
    ap.add_argument("--store", action="store_true", help="start both sides from a DuckDB store of the same data")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "universe"
        cmd = [sys.executable, str(HERE / "gen_universe.py"), "--n", str(args.n), "--out", str(folder)]
        cmd += ["--quarters", str(args.quarters), "--days", str(args.days)]
        subprocess.run(cmd, check=True)
        from gen_universe import AS_OF, read

        if args.store:
            _store_run(folder, AS_OF, args, Path(tmp) / "bench.duckdb")
            return
        inputs = read(folder)

    from factors.engine import compute_panel, compute_scores

    dates = [AS_OF - timedelta(weeks=k) for k in range(args.dates)][::-1]
    compute_scores(inputs, dates[0])  # warms up polars, outside both timings
    t = time.perf_counter()
    panel = compute_panel(inputs, dates)
    first_s = time.perf_counter() - t
    peak = _peak_rss_gb()
    times = [first_s]
    for _ in range(args.repeat):
        t = time.perf_counter()
        again = compute_panel(inputs, dates)
        times.append(time.perf_counter() - t)
        assert again.equals(panel), "the panel is not deterministic"
    panel_s = sorted(times)[len(times) // 2]
    print(
        f"companies {inputs.companies.height:,}; prices {inputs.prices.height:,}; "
        f"fundamentals {inputs.fundamentals.height:,}; events {inputs.events.height:,}; dates {len(dates)}"
    )
    print(
        f"panel: first run {first_s:.2f} s, median of {len(times)} runs {panel_s:.2f} s "
        f"for {panel.height:,} score rows; peak RSS {peak:.2f} GB after the first"
    )
    if args.no_loop:
        return
    t = time.perf_counter()
    frames = [compute_scores(inputs, d) for d in dates]
    loop_s = time.perf_counter() - t
    _compare(panel, frames, panel_s, loop_s, len(dates))


def _compare(panel: Any, frames: list[Any], panel_s: float, loop_s: float, n: int) -> None:
    import polars as pl

    same = pl.concat(frames).equals(panel)
    print(f"per-date loop: {loop_s:.2f} s ({loop_s / n:.3f} s per date)")
    print(f"speed-up: {loop_s / panel_s:.1f}x against the panel's median run; identical rows: {same}")
    if not same:
        raise SystemExit("the panel and the per-date loop disagree")


def _store_run(folder: Path, as_of: Any, args: argparse.Namespace, path: Path) -> None:
    """Write the frames to a store (plain upserts, as an import stores them) in a child process, so the frames do
    not sit in this process's memory, then time both sides from the store."""
    from factors.engine import compute_scores, load_inputs, score_panel
    from screener.store import open_store

    t = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--write-store", str(folder), str(path)], check=True)
    print(f"store written in {time.perf_counter() - t:.1f} s")
    with open_store(path) as store:
        dates = [as_of - timedelta(weeks=k) for k in range(args.dates)][::-1]
        compute_scores(load_inputs(store, dates[0]), dates[0])  # warms up, outside both timings
        t = time.perf_counter()
        panel = score_panel(store, dates)
        panel_s = time.perf_counter() - t
        peak = _peak_rss_gb()
        print(f"panel from the store: {panel_s:.2f} s for {panel.height:,} score rows; peak RSS {peak:.2f} GB")
        if args.no_loop:
            return
        t = time.perf_counter()
        frames = [compute_scores(load_inputs(store, d), d) for d in dates]
        _compare(panel, frames, panel_s, time.perf_counter() - t, len(dates))


if __name__ == "__main__":
    main()
