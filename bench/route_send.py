#!/usr/bin/env python3
"""Routing send throughput: our C-STORE sender against dcmtk `storescu`, same files, same peer.

Writes one study of N instances (pydicom's CT_small, ~39 kB each, and optionally the 512x512
MR/CT-sized RLE file decompressed), starts dcmtk `storescp` on loopback, and sends the folder
R times with each of:

  - magickbox: `magickbox.dicom.scu.send_files` (one association, what the router does per delivery)
  - storescu:  `storescu -aet BOX -aec STORESCP +sd +r -nh 127.0.0.1 <port> <dir>` (what the
               original's bucket02 ran)

and prints the median seconds, files per second and the ratio magickbox/storescu (< 1 = faster).

Run from the repository root:  .venv/bin/python -m bench.route_send [--files 500] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from magickbox.dicom.scu import Outgoing, send_files
from tests.route.peers import StoreSCP
from tests.support.dcmtk import storescu
from tests.support.dicomdata import EXPLICIT_LE, write_study


def time_ours(files: list[Path], port: int) -> float:
    start = time.perf_counter()
    results = send_files([Outgoing(p, p.name) for p in files], "127.0.0.1", port, "BOX", "STORESCP")
    elapsed = time.perf_counter() - start
    failed = [r for r in results if r.outcome != "sent"]
    assert not failed, failed[:3]
    return elapsed


def time_storescu(folder: Path, port: int) -> float:
    start = time.perf_counter()
    storescu(port, folder, calling="BOX", called="STORESCP", check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-route-"))
    try:
        _, files = write_study(work / "study", args.files, source=EXPLICIT_LE)
        peer = StoreSCP(work / "received").start()
        try:
            ours, theirs = [], []
            for _ in range(args.repeats):
                # alternate, so neither side always runs on a warmer page cache
                theirs.append(time_storescu(work / "study", peer.port))
                ours.append(time_ours(files, peer.port))
                shutil.rmtree(work / "received")
                (work / "received").mkdir()
        finally:
            peer.stop()
        ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
        report = {
            "files": args.files,
            "repeats": args.repeats,
            "magickbox_s": round(ours_s, 3),
            "storescu_s": round(theirs_s, 3),
            "magickbox_files_per_s": round(args.files / ours_s, 1),
            "storescu_files_per_s": round(args.files / theirs_s, 1),
            "ratio_time_magickbox_over_storescu": round(ours_s / theirs_s, 2),
        }
        print(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
