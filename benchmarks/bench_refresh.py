"""Refresh benchmark: 100 symbols against an offline Yahoo that takes 300 ms per request.

Measures the wall time of a first refresh with the default worker count and with one worker (serial), and the
number of requests a second refresh right after the first makes (it must be zero: everything is fresh).
Real yfinance runs end to end; only the network is replaced (tests/_yahoo_helpers.py).

    python benchmarks/bench_refresh.py [--symbols 100] [--latency 0.3] [--skip-serial]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402
from _yahoo_helpers import ANCHOR_NOW, FakeYahoo, Listing, reset_yfinance  # noqa: E402

from screener.intake.refresh import DEFAULT_WORKERS, refresh  # noqa: E402
from screener.providers.yahoo import YahooProvider  # noqa: E402
from screener.store import Store  # noqa: E402


def universe(n: int) -> tuple[pl.DataFrame, list[Listing]]:
    """``n`` listings, one in five quoted in EUR (so the run also fetches fx), plus the EURUSD=X pair."""
    rows, listings = [], []
    for i in range(n):
        sym, eur = f"B{i:03d}", i % 5 == 4
        ccy = "EUR" if eur else "USD"
        rows.append((sym, f"Bench {i}", "DE" if eur else "US", ccy, "processor", "producer"))
        listings.append(
            Listing(
                sym,
                quote_currency=ccy,
                financial_currency=ccy,
                price=10.0 + i,
                timezone="Europe/Berlin" if eur else "America/New_York",
            )
        )
    listings.append(Listing("EURUSD=X", price=1.08, timezone="Europe/London"))
    frame = pl.DataFrame(rows, schema=["symbol", "name", "country", "currency", "roles", "stage"], orient="row")
    return frame, listings


def run(folder: Path, n: int, latency: float, workers: int, second: bool) -> dict[str, float]:
    os.environ["XDG_CACHE_HOME"] = str(folder / "cache")
    reset_yfinance()
    companies, listings = universe(n)
    fake = FakeYahoo(listings, latency=latency)
    provider = YahooProvider(fake)
    out: dict[str, float] = {}
    with Store(folder / "bench.duckdb") as store:
        store.upsert("companies", companies, "file")
        t0 = time.perf_counter()
        report = refresh(store, provider, workers=workers, now=ANCHOR_NOW)  # the fake market's clock
        out["seconds"] = time.perf_counter() - t0
        out["requests"] = len(fake.calls)
        out["failed"] = len(report.failed)
        if second:
            before = len(fake.calls)
            t0 = time.perf_counter()
            again = refresh(store, provider, workers=workers, now=ANCHOR_NOW)
            out["second_seconds"] = time.perf_counter() - t0
            out["second_requests"] = len(fake.calls) - before
            out["second_skipped"] = again.skipped
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=100)
    ap.add_argument("--latency", type=float, default=0.3, help="seconds per request")
    ap.add_argument("--skip-serial", action="store_true")
    args = ap.parse_args()
    from screener.validation.runner import _context

    t0 = time.perf_counter()
    _context()  # great-expectations' one-off import, kept out of both timings so they compare like for like
    warmup = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        parallel = run(Path(tmp) / "parallel", args.symbols, args.latency, DEFAULT_WORKERS, second=True)
        serial = None if args.skip_serial else run(Path(tmp) / "serial", args.symbols, args.latency, 1, False)
    print(f"refresh of {args.symbols} symbols, {args.latency * 1000:.0f} ms per request\n")
    print("| run | workers | wall time (s) | requests | failed symbols |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| first refresh | {DEFAULT_WORKERS} (default) | {parallel['seconds']:.1f} | {parallel['requests']:.0f} "
        f"| {parallel['failed']:.0f} |"
    )
    if serial is not None:
        print(
            f"| first refresh | 1 (serial) | {serial['seconds']:.1f} | {serial['requests']:.0f} "
            f"| {serial['failed']:.0f} |"
        )
    print(
        f"| second refresh right after | {DEFAULT_WORKERS} | {parallel['second_seconds']:.2f} "
        f"| {parallel['second_requests']:.0f} | 0 ({parallel['second_skipped']:.0f} skipped as fresh) |"
    )
    print(f"\n(great-expectations import and context, once per process, not in the times above: {warmup:.1f} s)")
    if parallel["second_requests"] != 0:
        raise SystemExit("the second refresh made requests; it must make none")


if __name__ == "__main__":
    main()
