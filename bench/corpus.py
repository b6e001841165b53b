"""Benchmark corpora: uncompressed CT instances with fresh UIDs, built from pydicom's CT_small.dcm.

Each corpus is written as two shards (`shard0/`, `shard1/`) of whole studies, so one sender can
send both folders and two senders can send one each.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pydicom
import pydicom.data
from pydicom.uid import generate_uid

SOURCE = Path(pydicom.data.__file__).parent / "test_files" / "CT_small.dcm"


@dataclass(frozen=True)
class Profile:
    name: str
    count: int
    rows: int  # square 16-bit frames: rows * rows * 2 bytes of pixel data
    per_study: int


def profiles(quick: bool) -> dict[str, Profile]:
    if quick:
        return {
            "small": Profile("small", 400, 192, 50),
            "large": Profile("large", 40, 1024, 10),
            "small-literal": Profile("small-literal", 60, 192, 15),
        }
    return {
        "small": Profile("small", 2000, 192, 100),  # ~74 KB each
        "large": Profile("large", 200, 1024, 20),  # ~2.1 MB each
        "small-literal": Profile("small-literal", 200, 192, 25),  # 8 studies: up to 8 senders
    }


def build(profile: Profile, root: Path) -> Path:
    """Write the corpus once (kept between runs); returns its folder."""
    folder = root / f"{profile.name}-{profile.count}"
    done = folder / ".complete"
    if done.exists():
        return folder
    template = pydicom.dcmread(SOURCE)
    pixels = bytes(range(256)) * (profile.rows * profile.rows * 2 // 256)
    studies = profile.count // profile.per_study
    for study in range(studies):
        shard = folder / f"shard{study % 2}" / f"study{study:03d}"
        shard.mkdir(parents=True, exist_ok=True)
        study_uid, series_uid = generate_uid(), generate_uid()
        for number in range(profile.per_study):
            ds = template.copy()
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
            ds.SOPInstanceUID = generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.InstanceNumber = number + 1
            ds.Rows = ds.Columns = profile.rows
            ds.PixelData = pixels
            ds.save_as(shard / f"img{number:04d}.dcm", enforce_file_format=True)
    done.touch()
    return folder


def size_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*.dcm"))


def file_count(folder: Path) -> int:
    return sum(1 for _ in folder.rglob("*.dcm"))


def shards(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith("shard"))


def studies(folder: Path) -> list[Path]:
    """Every study folder of the corpus, in a stable order (senders split them round-robin)."""
    return sorted(p for shard in shards(folder) for p in shard.iterdir() if p.is_dir())


def split(folder: Path, senders: int) -> list[list[Path]]:
    """The corpus for `senders` concurrent storescu: whole studies, round-robin."""
    if senders == 1:
        return [shards(folder)]
    every = studies(folder)
    return [every[n::senders] for n in range(senders) if every[n::senders]]
