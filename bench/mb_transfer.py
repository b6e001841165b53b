"""`mb push` and `mb pull` against the reference tools, on one box on loopback, in the same run.

    .venv/bin/python -m bench.mb_transfer --mb 1024

- push: `mb push ProcX <folder>` versus `zip -0 -r` + `curl -F theFile=@... processZip.php`
  (what a script without mb would do); wall time and each client's peak resident memory.
- pull: `mb pull` versus `curl -o` of getOutputZip.php for the same session.
Peak memory is measured with wait4() on a child forked from a small launcher, so the number is
the client's own, not inherited from this process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from magickbox.config import load_settings
from magickbox.store import Store
from tests.support.box import BoxProcess
from tests.support.peak_rss import run_measured

MB = Path(sys.executable).parent / "mb"
AET = "ProcX"
WORK_SH = '#!/bin/sh\ncp -R "$1"/. "$2"/\n'


def measured(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int, str]:
    """(seconds, peak RSS in kB, stdout) of one run; raises when it fails."""
    run = run_measured(argv, env, cwd)
    if run.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({run.returncode}): {run.stderr[-2000:]}")
    return run.seconds, run.peak_kb, run.stdout


def write_folder(folder: Path, megabytes: int, files: int = 64) -> None:
    """Random (incompressible) data in four sub-folders, written quickly from one random block."""
    block = os.urandom(1 << 20)
    per_file = max(1, megabytes // files)
    for index in range(files):
        path = folder / f"series{index % 4}" / f"part{index:03d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            for _ in range(per_file):
                handle.write(block)


def wait_finished(store: Store, scratchdir: str, timeout: float = 600) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if store.sessions.by_scratchdir(scratchdir).state == "finished":
            return
        time.sleep(0.2)
    raise SystemExit(f"{scratchdir} did not finish")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=int, default=1024, help="megabytes of data to push (default 1024)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mb-bench-") as raw:
        root = Path(raw)
        box = BoxProcess(data=root / "box")
        box.add_bucket("bucketProcX", {"name": "x", "AETitle": AET, "enabled": 1}, WORK_SH)
        box.start(wait_dicom=False)
        store = Store(load_settings(data=str(box.data)))
        try:
            run(root, box, store, args.mb)
        finally:
            box.stop()
            store.db.close()


def run(root: Path, box: BoxProcess, store: Store, megabytes: int) -> None:
    home = root / "home"
    home.mkdir()
    (home / ".mb").write_text(json.dumps({"Sender": "bench", "Timeout": 10_000_000_000}))
    (home / ".magickbox").write_text(json.dumps([{"Machine": "127.0.0.1", "Port": str(box.http_port)}]))
    env = {**os.environ, "MB_HOME": str(home)}
    folder = root / "subject"
    write_folder(folder, megabytes)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(f"data: {size / 1e6:.0f} MB in {sum(1 for _ in folder.rglob('*.bin'))} files")

    mb_s, mb_kb, out = measured([str(MB), "push", AET, str(folder)], env, root)
    scratchdir = json.loads(out)[0]["scratchdir"]
    zip_s, zip_kb, _ = measured(["zip", "-0", "-r", "-q", str(root / "ref.zip"), "subject"], env, root)
    form = [
        "-F",
        f"aetitle={AET}",
        "-F",
        "sender=bench-curl",
        "-F",
        "jobname=subject",
        "-F",
        "filename=s.zip",
    ]
    url = f"{box.url}/code/php/processZip.php"
    curl_s, curl_kb, _ = measured(
        ["curl", "-sf", "-F", f"theFile=@{root / 'ref.zip'}", *form, url], env, root
    )
    (root / "ref.zip").unlink()
    ref_s = zip_s + curl_s
    print(f"push  mb: {mb_s:6.2f} s, peak {mb_kb / 1024:6.1f} MiB")
    print(f"push  zip -0 -r + curl -F: {ref_s:6.2f} s (zip {zip_s:.2f} s, curl {curl_s:.2f} s),"
          f" peak zip {zip_kb / 1024:.1f} MiB, curl {curl_kb / 1024:.1f} MiB")  # fmt: skip
    print(f"push  ratio mb / reference: {mb_s / ref_s:.2f}x time")

    wait_finished(store, scratchdir)
    pulls = root / "pulls"
    pulls.mkdir()
    pull_s, pull_kb, _ = measured([str(MB), "pull", f"^{scratchdir}$"], env, pulls)
    zip_url = f"{box.url}/code/php/getOutputZip.php?folder={scratchdir}"
    cget_s, cget_kb, _ = measured(["curl", "-sf", "-o", str(pulls / "ref.zip"), zip_url], env, pulls)
    print(f"pull  mb (download + CRC check): {pull_s:6.2f} s, peak {pull_kb / 1024:6.1f} MiB")
    print(f"pull  curl -o: {cget_s:6.2f} s, peak {cget_kb / 1024:.1f} MiB")
    print(f"pull  ratio mb / curl: {pull_s / cget_s:.2f}x time")


if __name__ == "__main__":
    main()
