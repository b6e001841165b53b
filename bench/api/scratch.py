"""getScratch.php latency with many sessions in the store (goal: median under 50 ms at 10,000).

Run from the repository root:  .venv/bin/python -m bench.api.scratch [--sessions 10000] [--requests 50]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from bench.api.common import finished_session, percentile, start_box, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-scratch-"))
    box, store = start_box(root / "data")
    try:
        started = time.perf_counter()
        for number in range(args.sessions):
            finished_session(store, f"caller{number % 50}", log=number % 10 != 0)
        print(f"made {args.sessions} sessions in {time.perf_counter() - started:.1f} s")
        url = box.url + "/code/php/getScratch.php"
        times: list[float] = []
        begin = time.perf_counter()
        size = len(subprocess.run(["curl", "-sSf", url], capture_output=True, check=True).stdout)
        first = time.perf_counter() - begin
        for _ in range(args.requests):
            begin = time.perf_counter()
            subprocess.run(["curl", "-sSf", url], capture_output=True, check=True)
            times.append(time.perf_counter() - begin)
        kept: list[float] = []
        with httpx.Client(timeout=30) as client:  # one connection: without curl's own start-up
            for _ in range(args.requests):
                begin = time.perf_counter()
                client.get(url).raise_for_status()
                kept.append(time.perf_counter() - begin)
        median, p95 = statistics.median(times) * 1000, percentile(times, 0.95) * 1000
        print(
            f"getScratch.php, {args.sessions} sessions, {size / 1e6:.1f} MB JSON, {args.requests} requests:"
        )
        print(f"  first request {first * 1000:.0f} ms (renders every entry once)")
        verdict = "met" if median < 50 else "NOT met"
        print(f"  curl per request:    median {median:.1f} ms, p95 {p95:.1f} ms (goal < 50 ms: {verdict})")
        print(f"  one kept connection: {summary(kept)}")
    finally:
        box.stop()
        store.db.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
