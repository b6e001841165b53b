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

Then NIfTI three-plane previews (`preview.nifti.render_nifti_png`, 384 px, no cached picture) of
volumes a bucket typically writes: a T1 of 256x256x176 int16 (1 mm, gzipped and not) and a BOLD
series of 64x64x36x200 float32 (3 mm, gzipped; the middle volume is shown). No reference tool.
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
from magickbox.preview.nifti import render_nifti_png


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


def _volumes(folder: Path) -> dict[str, Path]:
    import nibabel as nib
    import numpy as np

    rng = np.random.default_rng(22)
    x, y, z = np.mgrid[0:256, 0:256, 0:176]
    head = ((x - 128) ** 2 + (y - 128) ** 2 + ((z - 88) * 1.3) ** 2 < 100**2) * 800
    t1 = (head + rng.normal(0, 30, head.shape)).astype(np.int16)
    bold = rng.normal(500, 20, (64, 64, 36, 200)).astype(np.float32)
    found = {}
    for label, data, zooms, name in (
        ("T1 256x256x176 int16 .nii", t1, (1.0, 1.0, 1.0), "t1.nii"),
        ("T1 256x256x176 int16 .nii.gz", t1, (1.0, 1.0, 1.0), "t1.nii.gz"),
        ("BOLD 64x64x36x200 .nii.gz", bold, (3.0, 3.0, 3.0, 2.0), "bold.nii.gz"),
    ):
        image = nib.Nifti1Image(data, np.diag([*zooms[:3], 1.0]))
        image.header.set_zooms(zooms)
        nib.save(image, folder / name)
        found[label] = folder / name
    return found


def _nifti(folder: Path, runs: int) -> None:
    print(f"\n{'NIfTI volume':28} {'size':>5} {'box ms':>8}")
    for label, path in _volumes(folder).items():
        box = _median_ms(lambda p=path: render_nifti_png(p, size=384), runs)
        print(f"{label:28} {384:>5} {box:>8.1f}")


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
        _nifti(Path(tmp), max(3, args.runs // 3))


if __name__ == "__main__":
    main()
