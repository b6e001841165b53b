#!/usr/bin/env python3
"""Slurm bucket against the same bucket run on the box: N one-study sessions whose work is `sleep 1`.

Starts a real single-node Slurm cluster (tests/support/slurm.py: slurmctld + slurmd + munged,
CPUs = this machine's cores, `SchedulerParameters=sched_interval=2`) and, one after the other,
two fresh `magickbox serve` boxes with the same bucket: once `"slurm": {}`, once `"slurm": false`
(concurrency N in both by default, so every Slurm job is submitted at once and waits in Slurm's
queue; the box's `max_workers`, default the core count, holds the local run, the node's CPUs the
Slurm one; `--concurrency` sets another value). Sends N one-instance studies with dcmtk `storescu` and
reports, per executor:

  - makespan: first send to last session finished (the store's ended_at)
  - claim -> start: the job's claim in the store to the bucket's first act ($EPOCHREALTIME, the
    bucket's own clock); for Slurm this includes sbatch and Slurm's scheduling

Run from the repository root:  .venv/bin/python -m bench.cluster [--sessions 50]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.latency import summary
from magickbox.config import load_settings
from magickbox.store import Store
from tests.support.box import BoxProcess
from tests.support.dcmtk import storescu
from tests.support.dicomdata import write_study
from tests.support.net import wait_until
from tests.support.slurm import SlurmCluster, missing_binaries

BUCKET = "Sleep"
WORK_SH = """#!/bin/bash
echo "$EPOCHREALTIME" > "$2/started"
sleep 1
"""


def run_box(
    work: Path, cluster: SlurmCluster, sessions: int, concurrency: int, *, slurm: bool
) -> dict[str, Any]:
    env = {**cluster.env(), "MAGICKBOX_SLURM_POLL_S": "0.5"}
    box = BoxProcess(data=work / ("slurm" if slurm else "local"), env=env)
    info = {
        "name": BUCKET,
        "AETitle": BUCKET,
        "enabled": 1,
        "session_settle_s": 0,
        "concurrency": concurrency,
    }
    box.add_bucket(BUCKET, {**info, "slurm": {} if slurm else False}, WORK_SH)
    box.start()
    store = Store(load_settings(data=str(box.data)))
    try:
        first_send = time.time()
        for index in range(sessions):
            _, files = write_study(work / "send" / f"{slurm}-{index}", 1)
            storescu(box.dicom_port, files[0], calling="BENCH", called=BUCKET, options=(), check=True)
        wait_until(
            lambda: sum(s.state in ("finished", "failed") for s in store.sessions.all()) >= sessions,
            timeout=60 + 10 * sessions,
            interval=0.2,
            what="all sessions to end",
        )
        return _measure(store, first_send, sessions)
    finally:
        box.stop()
        store.db.close()


def _measure(store: Store, first_send: float, sessions: int) -> dict[str, Any]:
    ended, latency, failed = [], [], 0
    for session in store.sessions.all():
        failed += session.state != "finished"
        assert session.ended_at is not None
        ended.append(session.ended_at)
        job = store.jobs.for_session(session.id)[-1]
        started = float((store.layout.output_dir(session.scratchdir) / "started").read_text())
        assert job.started_at is not None
        latency.append(started - job.started_at)
    return {
        "sessions": sessions,
        "failed": failed,
        "makespan_s": round(max(ended) - first_send, 2),
        "claim_to_start": summary("claim -> bucket start", latency),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help="the bucket's concurrency (default: --sessions, all at once)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the data folders and the cluster's files")
    args = parser.parse_args()
    missing = missing_binaries() + [name for name in ("storescu",) if shutil.which(name) is None]
    if missing:
        print(f"needs {', '.join(missing)} (scripts/install-test-deps)", file=sys.stderr)
        return 2
    concurrency = args.concurrency or args.sessions
    work = Path(tempfile.mkdtemp(prefix="mb-cluster-"))
    cluster = SlurmCluster(work / "slurm").start()
    try:
        results = {
            "slurm": run_box(work, cluster, args.sessions, concurrency, slurm=True),
            "local": run_box(work, cluster, args.sessions, concurrency, slurm=False),
        }
    finally:
        cluster.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2))
    header = f"executor (n={args.sessions}, concurrency {concurrency})"
    print(f"\n| {header} | makespan s | claim->start median ms | p95 ms |")
    print("|---|---|---|---|")
    for name, row in results.items():
        lat = row["claim_to_start"]
        print(f"| {name} | {row['makespan_s']} | {lat['median_ms']} | {lat['p95_ms']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
