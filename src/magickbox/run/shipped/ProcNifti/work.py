"""ProcNifti: convert the DICOM series in INPUT to NIfTI with JSON sidecars in OUTPUT.

Called by MagickBox as: <python> work.py <INPUT> <OUTPUT>. Runs the dcm2niix binary that the
`dcm2niix` PyPI package ships (or one on PATH): compressed .nii.gz, BIDS JSON sidecar, one file
set per series, named `<series number>_<protocol>`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def dcm2niix_binary() -> str | None:
    try:
        import dcm2niix

        if Path(dcm2niix.bin).is_file():
            return str(dcm2niix.bin)
    except ImportError:
        pass
    return shutil.which("dcm2niix")


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: work.py INPUT OUTPUT", file=sys.stderr)
        return 2
    source, target = argv[-2], argv[-1]
    binary = dcm2niix_binary()
    if binary is None:
        print(
            "ProcNifti needs dcm2niix: install the box with its bucket extras,"
            " `.venv/bin/pip install 'magickbox[buckets]'` (or put dcm2niix on PATH)",
            file=sys.stderr,
        )
        return 3
    argv_out = [binary, "-b", "y", "-z", "y", "-f", "%s_%p", "-o", target, source]
    print("ProcNifti: " + " ".join(argv_out), flush=True)
    code = subprocess.run(argv_out, check=False).returncode
    made = sorted(p.name for p in Path(target).glob("*.nii*"))
    print(f"ProcNifti: dcm2niix exit code {code}; {len(made)} NIfTI file(s): {', '.join(made)}")
    return code if code != 0 else (0 if made else 1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
