"""ProcAnon: de-identify every DICOM instance of INPUT into OUTPUT.

Called by MagickBox as: <python> work.py <INPUT> <OUTPUT>. Uses dicognito (PS3.15 basic profile
style: names and IDs replaced, dates shifted, UIDs replaced) and removes private tags. The
anonymizer's seed lives in MB_MEMORY, so the same original UID maps to the same new UID in
every session this box processes (studies sent in parts stay one study). Output files are named
by their new SOP Instance UID, so no original identifier survives in a file name.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

try:
    from dicognito.anonymizer import Anonymizer
except ImportError:  # the box was installed without its bucket extras
    sys.exit("ProcAnon needs dicognito: `.venv/bin/pip install 'magickbox[buckets]'`")


def seed(memory: Path) -> str:
    """The box's own anonymization seed, made once and kept between runs."""
    memory.mkdir(parents=True, exist_ok=True)
    path = memory / "anon-seed"
    if not path.exists():
        tmp = memory / f".anon-seed.{secrets.token_hex(4)}"
        tmp.write_text(secrets.token_hex(16))
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # first writer wins when two runs race
        tmp.unlink()
    return path.read_text().strip()


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: work.py INPUT OUTPUT", file=sys.stderr)
        return 2
    source, target = Path(argv[-2]), Path(argv[-1])
    memory = Path(os.environ.get("MB_MEMORY") or target.parent / "memory")
    anonymizer = Anonymizer(seed=seed(memory))
    done = skipped = 0
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        try:
            dataset = pydicom.dcmread(path)
        except (InvalidDicomError, OSError, ValueError) as exc:
            print(f"ProcAnon: skipped {path.name}: not DICOM ({exc})")
            skipped += 1
            continue
        dataset.remove_private_tags()
        anonymizer.anonymize(dataset)
        dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
        dataset.save_as(target / f"{dataset.SOPInstanceUID}.dcm", enforce_file_format=True)
        done += 1
    print(f"ProcAnon: {done} instance(s) de-identified, {skipped} file(s) skipped")
    return 0 if done else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
