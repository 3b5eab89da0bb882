"""Time ``compute_scores`` on the synthetic universe and report wall time and peak memory.

    python benchmarks/bench_score.py                  # generate 50,000 companies in a child process, then time
    python benchmarks/bench_score.py --data /tmp/uni  # reuse parquet files written by gen_universe.py --out
    python benchmarks/bench_score.py --n 5000 --repeat 3

Peak memory is the process's peak resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``): polars
allocates outside Python's allocator, so tracemalloc would miss almost all of it. Generation runs in a child process
so its temporaries do not count; the figure covers reading the inputs plus scoring. The first call includes the
one-off warm-up of polars; later calls show the steady state.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
for entry in (HERE.parent, HERE):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))


def _peak_rss_gb() -> float:
    # Linux reports kilobytes (macOS bytes); this benchmark targets the Linux box it is recorded on.
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb * 1024 / 1e9 if sys.platform != "darwin" else kb / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description="Time factor scoring on a synthetic universe.")
    ap.add_argument("--n", type=int, default=50_000, help="companies to generate (default 50,000)")
    ap.add_argument("--data", type=Path, default=None, help="folder of parquet files from gen_universe.py --out")
    ap.add_argument("--repeat", type=int, default=3, help="timed calls after the first (default 3)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.data
        if folder is None:
            folder = Path(tmp) / "universe"
            subprocess.run(
                [
                    sys.executable,
                    str(Path(__file__).with_name("gen_universe.py")),
                    "--n",
                    str(args.n),
                    "--out",
                    str(folder),
                ],
                check=True,
            )
        from gen_universe import AS_OF, read

        t = time.perf_counter()
        inputs = read(folder)
        load_s = time.perf_counter() - t
        rss_loaded = _peak_rss_gb()

        from factors.engine import compute_scores

        t = time.perf_counter()
        scores = compute_scores(inputs, AS_OF)
        first = time.perf_counter() - t
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            again = compute_scores(inputs, AS_OF)
            times.append(time.perf_counter() - t)
        assert again.equals(scores), "scoring is not deterministic"

    n = inputs.companies.height
    print(
        f"companies {n:,}; prices {inputs.prices.height:,}; fundamentals {inputs.fundamentals.height:,}; "
        f"events {inputs.events.height:,}; splits {inputs.splits.height:,}; "
        f"share counts {inputs.share_history.height:,}"
    )
    print(f"read inputs: {load_s:.2f}s, peak RSS after reading {rss_loaded:.2f} GB")
    print(f"compute_scores first call: {first:.2f}s")
    if times:
        print(
            f"compute_scores steady state: best {min(times):.2f}s, median {sorted(times)[len(times) // 2]:.2f}s "
            f"over {len(times)} calls"
        )
    print(f"peak RSS (read + score): {_peak_rss_gb():.2f} GB")
    scored = {c: scores[c].is_not_null().sum() for c in scores.columns if c.endswith("_pct")}
    print("factor values per factor:", ", ".join(f"{k[:-4]} {v:,}" for k, v in scored.items()))


if __name__ == "__main__":
    main()
