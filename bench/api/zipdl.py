"""Zip download: getOutputZip.php throughput against `zip -0 -r` on the same folder (goal >= 1.0x),
and the server's memory during a 2 GB download (goal: flat).

Both sides write their zip to a file on the same disk: `zip -0 -r -q out.zip <scratchdir>/OUTPUT`
(run in scratch/, as the original did) and `curl -o out.zip .../getOutputZip.php?folder=...`.
The folder is read once before timing so that both read from the page cache.

Run from the repository root:  .venv/bin/python -m bench.api.zipdl [--mb 1024] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from bench.api.common import finished_session, start_box


def fill(folder: Path, total_mb: int, file_mb: int = 8) -> None:
    block = os.urandom(1 << 20)
    for number in range(max(1, total_mb // file_mb)):
        with (folder / f"series{number // 20:03d}" / f"img{number:05d}.dcm").open("wb") as handle:
            for part in range(file_mb):
                handle.write(block[part:] + block[:part])  # not all blocks alike


def timed(argv: list[str], cwd: Path | None = None) -> float:
    begin = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True)
    return time.perf_counter() - begin


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=1024, help="size of the OUTPUT folder to compare")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory-gb", type=float, default=2.0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-zip-"))
    box, store = start_box(root / "data")
    out = root / "out"
    out.mkdir()
    try:
        session = finished_session(store, "bench")
        output = store.layout.output_dir(session.scratchdir)
        for series in range(args.mb // 8 // 20 + 1):
            (output / f"series{series:03d}").mkdir()
        fill(output, args.mb)
        size = sum(p.stat().st_size for p in output.rglob("*") if p.is_file())
        scratch = store.layout.root
        url = f"{box.url}/code/php/getOutputZip.php?folder={session.scratchdir}"
        zip_argv = ["zip", "-q", "-0", "-r", str(out / "zip.zip"), f"{session.scratchdir}/OUTPUT"]
        curl_argv = ["curl", "-sSf", "-o", str(out / "curl.zip"), url]
        subprocess.run(["tar", "cf", "/dev/null", "."], cwd=output, check=True)  # warm the page cache
        zips, curls = [], []
        for _ in range(args.rounds):
            (out / "zip.zip").unlink(missing_ok=True)
            zips.append(timed(zip_argv, cwd=scratch))
            curls.append(timed(curl_argv))
        zip_s, curl_s = statistics.median(zips), statistics.median(curls)
        print(f"zip download of {size / 1e6:.0f} MB OUTPUT ({args.rounds} rounds, median):")
        print(f"  zip -0 -r            {zip_s:6.2f} s  {size / zip_s / 1e6:7.0f} MB/s")
        print(f"  getOutputZip (curl)  {curl_s:6.2f} s  {size / curl_s / 1e6:7.0f} MB/s")
        print(f"  ratio (zip time / ours) {zip_s / curl_s:.2f}x  (goal >= 1.0x)")
        check = subprocess.run(["unzip", "-tq", str(out / "curl.zip")], capture_output=True, text=True)
        print(f"  unzip -t of our zip: {check.stdout.strip()}")
        memory(box.proc.pid if box.proc else 0, store, args.memory_gb, box.url)
    finally:
        box.stop()
        store.db.close()
        shutil.rmtree(root, ignore_errors=True)


def memory(pid: int, store: object, gigabytes: float, base_url: str) -> None:
    from magickbox.store import Store

    assert isinstance(store, Store)
    session = finished_session(store, "bench-memory")
    with (store.layout.output_dir(session.scratchdir) / "big.raw").open("wb") as handle:
        handle.truncate(int(gigabytes * 1e9))  # sparse: the file costs no disk, the zip is real
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(rss_kib(pid))
            time.sleep(0.1)

    before = rss_kib(pid)
    sampler = threading.Thread(target=sample)
    sampler.start()
    url = f"{base_url}/code/php/getOutputZip.php?folder={session.scratchdir}"
    seconds = timed(["curl", "-sSf", "-o", "/dev/null", url])
    done.set()
    sampler.join()
    after = rss_kib(pid)
    print(f"server memory during a {gigabytes:.1f} GB download ({seconds:.1f} s, {len(samples)} samples):")
    print(
        f"  RSS before {before / 1024:.0f} MiB, max {max(samples) / 1024:.0f} MiB,"
        f" after {after / 1024:.0f} MiB (growth {(max(samples) - before) / 1024:.0f} MiB)"
    )


if __name__ == "__main__":
    main()
