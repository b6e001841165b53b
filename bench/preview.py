#!/usr/bin/env python3
"""Series pictures: a cold thumbnail of a 512x512 CT slice, and viewer images for paging.

Run from the repository with the project's venv:

    .venv/bin/python bench/preview.py --runs 30

Renders with `preview.render_png` in this process (imports warm, no cached picture: the box's
cache is a file per picture, so "cold" is a render), for a 512x512 CT slice stored uncompressed
and JPEG 2000 compressed (pydicom's 693_J2KI.dcm), at 128 px (thumbnail) and 512 px (viewer).
Reference: dcmtk's dcmj2pnm writing a PNG of the same file (a new process per picture; it has
no JPEG 2000 decoder, so that row has no reference), timed in the same run. Prints medians and
the ratio box / dcmj2pnm.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pydicom
import pydicom.data
from pydicom.uid import ExplicitVRLittleEndian

from magickbox.preview import render_png


def _files(folder: Path) -> dict[str, Path]:
    j2k = Path(pydicom.data.get_testdata_file("693_J2KI.dcm") or "")
    ds = pydicom.dcmread(j2k)
    ds.decompress()
    plain = folder / "ct512.dcm"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(plain, enforce_file_format=True)
    return {"CT 512x512 uncompressed": plain, "CT 512x512 JPEG 2000": j2k}


def _median_ms(action: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _reference(argv: list[str], runs: int) -> float:
    """dcmj2pnm's median, or 0 when it cannot read the file (dcmtk has no JPEG 2000 decoder)."""
    if subprocess.run(argv, capture_output=True, check=False).returncode != 0:
        return 0.0
    return _median_ms(lambda: subprocess.run(argv, check=True), runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    dcmj2pnm = shutil.which("dcmj2pnm")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.png"
        print(f"{'file':28} {'size':>5} {'box ms':>8} {'dcmj2pnm ms':>12} {'ratio':>6}")
        for label, path in _files(Path(tmp)).items():
            for size in (128, 512):
                box = _median_ms(lambda p=path, s=size: render_png(p, size=s), args.runs)
                argv = [dcmj2pnm or "dcmj2pnm", "--write-png", "+Sxv", str(size), "+Wm", str(path), str(out)]
                ref = _reference(argv, args.runs) if dcmj2pnm else 0.0
                ratio = f"{box / ref:.2f}" if ref else "-"
                print(f"{label:28} {size:>5} {box:>8.1f} {ref:>12.1f} {ratio:>6}")


if __name__ == "__main__":
    main()
