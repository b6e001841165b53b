#!/usr/bin/env python3
"""Start latency: how soon after a study arrives does its bucket's process start?

Starts a real `magickbox serve` on a fresh data folder with a trivial bucket (bash, writes
$EPOCHREALTIME as its first act, so the bucket's own clock says when it started), sends N
one-instance studies with dcmtk `storescu`, one after the other, and reports median and p95 of

  - process start - seal              (sealed_at from the store; the scheduler's share)
  - process start - A-RELEASE         (storescu's exit, right after its A-RELEASE-RP)
  - process start - job claim         (spawn cost: claim in the store to the bucket's first act)

With `session_settle_s` 0 for the bucket, so the settle window (a receiving choice, default 2 s)
does not hide the scheduler. Reference: the original box started a bucket 15-30 s after the
last file arrived (quiet-time heuristic + cron); that is not re-measured here.

Run from the repository root:  .venv/bin/python -m bench.latency [--sessions 200]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from magickbox.config import load_settings
from magickbox.store import Store
from tests.support.box import BoxProcess
from tests.support.dcmtk import storescu
from tests.support.dicomdata import write_study
from tests.support.net import free_port, wait_for_port, wait_until

BUCKET = "Latency"
WORK_SH = """#!/bin/bash
# First act: note the time by the bucket's own clock (no fork: bash's EPOCHREALTIME).
echo "$EPOCHREALTIME" > "$2/started"
"""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary(name: str, values_s: list[float]) -> dict[str, float | str]:
    ms = [v * 1000 for v in values_s]
    return {
        "measure": name,
        "median_ms": round(statistics.median(ms), 1),
        "p95_ms": round(percentile(ms, 0.95), 1),
        "max_ms": round(max(ms), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--poll", type=float, default=None, help="MAGICKBOX_SCHEDULER_POLL_S for the box")
    parser.add_argument("--gap", type=float, default=0.0, help="seconds to wait between two sends")
    parser.add_argument("--keep", action="store_true", help="keep the data folder")
    parser.add_argument(
        "--reference-sessions", type=int, default=20, help="studies sent to the storescp reference (0: skip)"
    )
    args = parser.parse_args()
    if shutil.which("storescu") is None:
        print("storescu (dcmtk) is needed", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="mb-latency-"))
    data = work / "data"
    env = {"MAGICKBOX_SCHEDULER_POLL_S": str(args.poll)} if args.poll else {}
    box = BoxProcess(data=data, env=env)
    info = {"name": BUCKET, "AETitle": BUCKET, "enabled": 1, "session_settle_s": 0, "concurrency": 4}
    box.add_bucket(BUCKET, info, WORK_SH)
    box.start()
    store = Store(load_settings(data=str(data)))
    try:
        released = send_all(box, work, args.sessions, args.gap)
        wait_until(
            lambda: sum(s.state == "finished" for s in store.sessions.all()) >= args.sessions,
            timeout=120,
            what="all sessions finished",
        )
        rows = measure(store, released)
        if args.reference_sessions:
            reference = reference_storescp(work, args.reference_sessions)
            rows.append(summary("reference: storescp -xcs -tos 1, command start - A-RELEASE", reference))
    finally:
        box.stop()
        store.db.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"sessions": args.sessions, "results": rows}, indent=2))
    print()
    print(f"| measure (n={args.sessions}) | median ms | p95 ms | max ms |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['measure']} | {row['median_ms']} | {row['p95_ms']} | {row['max_ms']} |")
    if args.reference_sessions:
        box_ms, ref_ms = float(rows[1]["median_ms"]), float(rows[-1]["median_ms"])
        print(f"\nA-RELEASE -> process start, median: box {box_ms} ms, storescp reference {ref_ms} ms"
              f" ({ref_ms / box_ms:.0f}x faster)")  # fmt: skip
    return 0


def send_all(box: BoxProcess, work: Path, count: int, gap: float) -> dict[str, float]:
    """Send `count` one-instance studies; returns Study Instance UID -> time storescu finished."""
    released: dict[str, float] = {}
    for index in range(count):
        folder = work / "send" / str(index)
        study_uid, files = write_study(folder, 1)
        storescu(box.dicom_port, files[0], calling="BENCH", called=BUCKET, options=(), check=True)
        released[study_uid] = time.time()
        time.sleep(gap)
    return released


REFERENCE_SH = """#!/bin/bash
echo "$EPOCHREALTIME" >> "$1"
"""


def reference_storescp(work: Path, count: int) -> list[float]:
    """dcmtk's own receiver starting a command at end of study (`-xcs`, 1 s quiet time, its minimum).

    The same kind of trigger the original box used (with 15 s); the fastest dcmtk offers.
    """
    script, starts, received = work / "ref.sh", work / "ref-starts.txt", work / "ref-received"
    script.write_text(REFERENCE_SH)
    script.chmod(0o755)
    received.mkdir()
    port = free_port()
    scp = subprocess.Popen(
        ["storescp", "-aet", "REF", "-od", str(received), "--sort-on-study-uid", "st",
         "-xcs", f"{script} {starts}", "-tos", "1", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    delays = []
    try:
        wait_for_port(port)
        for index in range(count):
            _, files = write_study(work / "ref-send" / str(index), 1)
            storescu(port, files[0], calling="BENCH", called="REF", options=(), check=True)
            released = time.time()
            wait_until(lambda n=index: _lines(starts) > n, timeout=30, interval=0.005, what="the command")
            delays.append(float(starts.read_text().split()[index]) - released)
    finally:
        scp.terminate()
        scp.wait()
    return delays


def _lines(path: Path) -> int:
    return len(path.read_text().split()) if path.exists() else 0


def measure(store: Store, released: dict[str, float]) -> list[dict[str, float | str]]:
    from_seal, from_release, from_claim = [], [], []
    for session in store.sessions.all():
        started = float((store.layout.output_dir(session.scratchdir) / "started").read_text())
        assert session.sealed_at is not None and session.study_uid is not None
        from_seal.append(started - session.sealed_at)
        from_release.append(started - released[session.study_uid])
        claim = store.jobs.for_session(session.id)[0].started_at
        assert claim is not None
        from_claim.append(started - claim)
    return [
        summary("process start - seal", from_seal),
        summary("process start - A-RELEASE (storescu exit)", from_release),
        summary("process start - job claim (spawn)", from_claim),
    ]


if __name__ == "__main__":
    sys.exit(main())
