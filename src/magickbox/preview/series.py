"""Which stored file belongs to which series, in viewing order.

The receiver does not record it (it writes files as they come), so the headers of the folder's
files are read once (pydicom, a few tags, never the pixels) and the result is kept in
`<session>/.preview/series-<folder>.json`, valid while the folder's listing (names, sizes,
modification times) is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from pathlib import Path
from typing import Any

from pydicom.errors import InvalidDicomError

from magickbox.dicom.bounded import read_header
from magickbox.files import write_json_atomic

# Shown beside the image in the viewer, in this order.
SHOWN_TAGS = (
    "PatientName", "PatientID", "StudyDate", "StudyDescription", "SeriesNumber", "SeriesDescription",
    "Modality", "BodyPartExamined", "InstanceNumber", "SliceLocation", "SliceThickness",
    "Rows", "Columns", "NumberOfFrames", "PhotometricInterpretation", "WindowCenter", "WindowWidth",
    "RescaleSlope", "RescaleIntercept",
)  # fmt: skip
READ_TAGS = (
    *SHOWN_TAGS,
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "ImagePositionPatient",
    "ImageOrientationPatient",
)

Instance = dict[str, Any]


def files(folder: Path) -> list[os.DirEntry[str]]:
    """Every regular file under `folder`; symbolic links are left out (they may point anywhere)."""
    found: list[os.DirEntry[str]] = []
    if folder.is_symlink():  # OUTPUT (or INPUT) replaced by a link: nothing in it is the session's
        return found
    pending = [folder]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    found.append(entry)
    return found


def _signature(folder: Path, entries: list[os.DirEntry[str]]) -> str:
    digest = hashlib.sha256()
    for entry in sorted(entries, key=lambda e: e.path):
        stat = entry.stat(follow_symlinks=False)
        digest.update(f"{os.path.relpath(entry.path, folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value)


def _read(path: Path, folder: Path) -> Instance | None:
    try:
        ds = read_header(path, specific_tags=list(READ_TAGS))  # a deflated file: its header only
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError, struct.error):
        return None
    series_uid = str(ds.get("SeriesInstanceUID", "") or "")
    if not series_uid:
        return None
    tags = {name: _text(ds.get(name)) for name in SHOWN_TAGS if ds.get(name) not in (None, "")}
    return {
        "file": path.relative_to(folder).as_posix(),
        "SeriesInstanceUID": series_uid,
        "SOPInstanceUID": str(ds.get("SOPInstanceUID", "") or ""),
        "position": _position(ds.get("ImagePositionPatient"), ds.get("ImageOrientationPatient")),
        "tags": tags,
    }


def _position(position: Any, orientation: Any) -> float | None:
    """Distance along the slice normal, so slices sort in space whatever the orientation."""
    try:
        p = [float(v) for v in position]
        o = [float(v) for v in orientation]
    except (TypeError, ValueError):
        return None
    if len(p) != 3 or len(o) != 6:
        return None
    normal = (o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3])
    return sum(a * b for a, b in zip(p, normal, strict=True))


def _order(item: Instance) -> tuple[float, float, str]:
    number = item["tags"].get("InstanceNumber", "")
    try:
        first = float(number)
    except ValueError:
        first = math.inf
    position = item["position"]
    return (first, math.inf if position is None else position, item["file"])


def scan(folder: Path) -> dict[str, list[Instance]]:
    """Every series in `folder`, its instances ordered by InstanceNumber, then position, then name."""
    by_series: dict[str, list[Instance]] = {}
    if not folder.is_dir():
        return by_series
    for entry in files(folder):
        item = _read(Path(entry.path), folder)
        if item is not None:
            by_series.setdefault(item["SeriesInstanceUID"], []).append(item)
    for items in by_series.values():
        items.sort(key=_order)
    return by_series


def cached_scan(folder: Path, cache: Path) -> dict[str, list[Instance]]:
    """`scan(folder)`, answered from `cache` while the folder's listing has not changed."""
    signature = _signature(folder, files(folder)) if folder.is_dir() else ""
    try:
        kept = json.loads(cache.read_text(encoding="utf-8"))
        if kept.get("signature") == signature:
            series: dict[str, list[Instance]] = kept["series"]
            return series
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    found = scan(folder)
    cache.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(cache, {"signature": signature, "series": found})
    return found
