#!/usr/bin/env python3
"""One huge instance sent by dcmtk's storescu to the box and to dcmtk's storescp (default and +B).

Run from the repository with the project's venv:

    .venv/bin/python bench/huge_instance.py --mb 1024

The instance (a multi-frame 16-bit secondary capture, explicit VR little endian) is written to
disk in 1 MiB blocks, never held in memory. Every dcmtk process (storescu, storescp) runs with
TCP_NODELAY=1. The box runs with MAGICKBOX_MAX_WORKERS=0 (no bucket runs). Prints one row per
run (receivers take turns): the send time (storescu start to exit), MB/s, the receiver's peak
resident memory (VmHWM) before and after the send, and whether the stored data set equals the
sent one (SHA-256, read in blocks). `storescp` holds the whole data set in memory before
writing it; `storescp +B` (bit-preserving) writes it to the file as it arrives, like the box.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.receivers import CALLED_AET, Box, Receiver, Storescp, vm_hwm_mb, wait_for_port
from tests.support.bigdicom import data_set_digest, write_big_instance
from tests.support.dcmtk import storescu


class StorescpBitPreserving(Storescp):
    """storescp +B: writes the data set to the file as it arrives (dcmtk's streaming mode)."""

    def start(self) -> None:
        out = self.work / "out"
        out.mkdir(parents=True)
        argv = ["storescp", "+B", "-aet", CALLED_AET, "-od", str(out), str(self.port)]
        log = self._log()
        self.proc = subprocess.Popen(argv, env=self.dcmtk_env, stdout=log, stderr=log)
        os.close(log)
        wait_for_port(self.port)


def send(receiver: Receiver, path: Path, env: dict[str, str]) -> float:
    start = time.monotonic()
    result = storescu(
        receiver.port, path, calling="BENCH", called=CALLED_AET, options=(), env=env, timeout=1800
    )
    seconds = time.monotonic() - start
    if result.returncode != 0:
        raise SystemExit(f"storescu to {receiver.name} failed: {result.stderr[-500:]}")
    return seconds


def stored_file(receiver: Receiver) -> Path:
    pattern = "data/scratch/tmp.*/INPUT/*.dcm" if isinstance(receiver, Box) else "out/*"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = sorted(receiver.work.glob(pattern))
        if found:
            return found[0]
        time.sleep(0.2)
    raise SystemExit(f"{receiver.name} stored nothing")


def run_one(kind: type[Receiver], name: str, work: Path, path: Path, env: dict[str, str]) -> str:
    receiver = kind(name=name, work=work / name, dcmtk_env=env)
    receiver.start()
    try:
        assert receiver.proc is not None
        idle = vm_hwm_mb(receiver.proc.pid)
        seconds = send(receiver, path, env)
        peak = vm_hwm_mb(receiver.proc.pid)
        same = data_set_digest(stored_file(receiver)) == data_set_digest(path)
    finally:
        receiver.stop()  # also removes its work folder (and the stored copy)
    megabytes = path.stat().st_size / 1e6
    memory = " | ".join(f"{mb:.0f}" if mb is not None else "-" for mb in (idle, peak))
    return f"| {name} | {seconds:.2f} | {megabytes / seconds:.0f} | {memory} | {'yes' if same else 'NO'} |"


RECEIVERS: tuple[tuple[type[Receiver], str], ...] = (
    (Box, "box"),
    (Storescp, "storescp"),
    (StorescpBitPreserving, "storescp +B"),
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=int, default=1024, help="pixel data size in MiB (default 1024)")
    parser.add_argument("--runs", type=int, default=3, help="runs per receiver, taking turns (default 3)")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: a temp folder)")
    args = parser.parse_args()
    env = {**os.environ, "TCP_NODELAY": "1"}
    os.environ["MAGICKBOX_MAX_WORKERS"] = "0"  # the box inherits this: no bucket runs
    work = Path(tempfile.mkdtemp(prefix="huge-", dir=args.work))
    try:
        path = work / "huge.dcm"
        write_big_instance(path, args.mb)
        print(f"instance: {path.stat().st_size / 1e6:.0f} MB ({args.mb} MiB of pixel data)")
        print("| receiver | send s | MB/s | peak RSS MiB before | peak RSS MiB after | identical |")
        print("|---|---|---|---|---|---|")
        for _ in range(args.runs):
            for kind, name in RECEIVERS:
                print(run_one(kind, name, work, path, env), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
