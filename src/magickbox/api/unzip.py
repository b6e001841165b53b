"""Checking and unpacking an uploaded zip, bounded while it unpacks.

`check_zip` refuses, before any session exists, what the central directory already shows:
unsafe or over-long names, links, encrypted entries, unknown compression, a name that is both a
file and a folder, too many entries, too large or too compressed by the declared sizes. The
declared sizes may lie, so `unpack` counts what it writes and stops at the first breach of the
unpacked-size limit, the compression-ratio limit (per entry and overall), the free-space floor
(`min_free_bytes`) or an entry growing past its declared size. Every refusal is an ApiError with
a 4xx/507 status; the caller removes what was written.
"""

from __future__ import annotations

import lzma
import os
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO

from magickbox.config import Settings
from magickbox.web.errors import ApiError

COPY_CHUNK = 1 << 20
MAX_COMPONENT_BYTES = 255  # the longest file name Linux file systems take
MAX_NAME_BYTES = 1024
# Ratios are only judged past this many bytes: a small blank image compresses 1000:1 honestly.
RATIO_FLOOR = 1 << 20
METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})
# What a damaged or lying archive raises while it is read (never a reason for a 500).
BROKEN = (zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError, NotImplementedError, ValueError)

Entries = list[tuple[zipfile.ZipInfo, PurePosixPath]]


def broken(exc: BaseException) -> ApiError:
    return ApiError(400, "broken zip", f"the upload is not a readable zip file: {exc}")


def too_large(what: str, limit: float) -> ApiError:
    return ApiError(413, "unpacks too large", f"{what}: the limit is {limit:g}")


def no_room(settings: Settings) -> ApiError:
    return ApiError(
        507,
        "disk full",
        f"the box keeps {settings.min_free_bytes} bytes free and has no room for this upload;"
        " try again later",
    )


def safe_name(name: str) -> PurePosixPath | None:
    """The entry's relative path, or None when it would leave INPUT/ (absolute, `..`, drive)."""
    if not name or "\x00" in name or "\\" in name:
        return None
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", name):
        return None
    parts = [p for p in path.parts if p not in ("", ".")]
    return PurePosixPath(*parts) if parts else None


def _entry_problem(info: zipfile.ZipInfo, rel: PurePosixPath | None) -> str | None:
    if stat.S_ISLNK(info.external_attr >> 16):
        return f"{info.filename!r} is a link"
    if rel is None:
        return f"{info.filename!r} would be written outside INPUT/"
    if len(info.filename.encode()) > MAX_NAME_BYTES or any(
        len(part.encode()) > MAX_COMPONENT_BYTES for part in rel.parts
    ):
        return f"{info.filename[:80]!r}... is too long a name"
    if info.flag_bits & 0x1:
        return f"{info.filename!r} is encrypted"
    if info.compress_type not in METHODS:
        return f"{info.filename!r} uses an unsupported compression method {info.compress_type}"
    return None


def _check_tree(entries: Entries) -> None:
    """A name may be a file or a folder, once: `a` then `a/b` (or `a` twice) is refused."""
    files: set[PurePosixPath] = set()
    folders: set[PurePosixPath] = set()
    for info, rel in entries:
        folders.update(rel.parents)
        if info.is_dir():
            folders.add(rel)
        elif rel in files:
            raise ApiError(400, "refused entry", f"{info.filename!r} appears twice")
        else:
            files.add(rel)
    clash = files & folders
    if clash:
        raise ApiError(400, "refused entry", f"{str(min(clash))!r} is both a file and a folder")


def _over_ratio(unpacked: int, packed: int, ratio: float) -> bool:
    return unpacked > RATIO_FLOOR and unpacked > ratio * max(packed, 1)


def check_zip(path: Path, settings: Settings) -> Entries:
    """Open the zip and check every entry; raise a 4xx ApiError naming the first problem."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (OSError, *BROKEN) as exc:
        raise broken(exc) from None
    if len(infos) > settings.upload_max_entries:
        raise ApiError(413, "too many entries", f"the limit is {settings.upload_max_entries} entries")
    total = sum(i.file_size for i in infos)
    if total > settings.upload_max_unpacked_bytes:
        raise too_large("declared unpacked size", settings.upload_max_unpacked_bytes)
    zip_size = max(path.stat().st_size, 1)
    if _over_ratio(total, zip_size, settings.upload_max_ratio):
        raise too_large("declared compression ratio", settings.upload_max_ratio)
    checked: Entries = []
    for info in infos:
        rel = safe_name(info.filename)
        problem = _entry_problem(info, rel)
        if problem is not None:
            raise ApiError(400, "refused entry", problem)
        assert rel is not None
        if (
            info.file_size > RATIO_FLOOR
            and info.file_size / max(info.compress_size, 1) > settings.upload_max_ratio
        ):
            raise too_large(f"{info.filename!r} declares a compression ratio", settings.upload_max_ratio)
        checked.append((info, rel))
    _check_tree(checked)
    return checked


@dataclass
class _Budget:
    """What may still be written; raises at the first breach."""

    settings: Settings
    zip_size: int
    written: int = 0

    def take(self, info: zipfile.ZipInfo, entry_written: int, block: int, out_fd: int) -> None:
        self.written += block
        limits = self.settings
        if self.written > limits.upload_max_unpacked_bytes:
            raise too_large("unpacked size", limits.upload_max_unpacked_bytes)
        if entry_written > info.file_size:
            raise ApiError(400, "broken zip", f"{info.filename!r} is larger than its header says")
        if entry_written > RATIO_FLOOR and entry_written > limits.upload_max_ratio * max(
            info.compress_size, 1
        ):
            raise too_large(f"{info.filename!r} compression ratio", limits.upload_max_ratio)
        if _over_ratio(self.written, self.zip_size, limits.upload_max_ratio):
            raise too_large("overall compression ratio", limits.upload_max_ratio)
        found = os.fstatvfs(out_fd)
        if found.f_bavail * found.f_frsize < limits.min_free_bytes:
            raise no_room(limits)


def unpack(path: Path, entries: Entries, dest: Path, settings: Settings) -> None:
    """Write the checked entries under `dest` (files 0644, never executable, never through a link)."""
    budget = _Budget(settings, max(path.stat().st_size, 1))
    with zipfile.ZipFile(path) as archive:
        for info, rel in entries:
            target = dest.joinpath(*rel.parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(target, flags, 0o644)
            with os.fdopen(fd, "wb") as out, archive.open(info) as src:
                _copy(src, out, info, budget)


def _copy(src: IO[bytes], out: BinaryIO, info: zipfile.ZipInfo, budget: _Budget) -> None:
    entry_written = 0
    while True:
        try:
            block = src.read(COPY_CHUNK)
        except BROKEN as exc:
            raise broken(exc) from None
        if not block:
            if entry_written != info.file_size:
                detail = f"{info.filename!r} unpacks to {entry_written} bytes, not {info.file_size}"
                raise ApiError(400, "broken zip", detail)
            return
        entry_written += len(block)
        budget.take(info, entry_written, len(block), out.fileno())
        out.write(block)
