"""Zips of folders produced while they are sent: the server's downloads and `mb push` uploads.

Both use zipstream-ng: entries are stored (not compressed: DICOM barely compresses and the other
side unpacks at once), sizes and CRCs travel in data descriptors, ZIP64 records appear when an
entry or the archive passes 4 GiB, and memory stays at one read buffer.

- Downloads (`stream_folder`) are not sized: each entry is taken as it is when its turn comes,
  and a file removed meanwhile (a bucket cleaning up) is skipped.
- Uploads (`SizedZip`) know their exact length before the first byte, so the original box's
  PHP endpoint gets a plain `Content-Length`; a file that changes size while sent stops the push.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from zipstream import ZipStream

CHUNK = 1 << 20


class ChangedWhileZipped(Exception):
    """A file's size changed after the zip's length was announced."""


@dataclass(frozen=True)
class Member:
    """A regular file to zip and its entry name (relative, with "/" separators)."""

    path: Path
    name: str
    size: int


def collect(folder: Path, warn: Callable[[str], None]) -> list[Member]:
    """Every regular file under `folder` (links to files read through, links to folders skipped),
    sorted by name; what cannot be read is named through `warn` and left out."""
    members: list[Member] = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        base = Path(root)
        for name in list(dirs):
            if (base / name).is_symlink():
                warn(f"skipping {base / name}: a link to a folder is not followed")
        dirs.sort()
        for name in sorted(files):
            path = base / name
            try:
                info = path.stat()  # follows a link to a file
            except OSError as exc:
                warn(f"skipping {path}: {exc.strerror}")
                continue
            if not stat.S_ISREG(info.st_mode):
                warn(f"skipping {path}: not a regular file")
                continue
            members.append(Member(path, path.relative_to(folder).as_posix(), info.st_size))
    return members


def _read_exactly(handle: BinaryIO, size: int, path: Path) -> Iterator[bytes]:
    with handle:
        left = size
        while left and (block := handle.read(min(CHUNK, left))):
            left -= len(block)
            yield block
        if left or handle.read(1):
            raise ChangedWhileZipped(f"{path} changed size while it was being sent")


class SizedZip:
    """The zip of `members`, whose exact `length` is known before `chunks()` yields it."""

    def __init__(self, members: list[Member]) -> None:
        self._members = members
        self._zip = ZipStream(sized=True)
        for member in members:
            self._zip.add(self._content(member), member.name, size=member.size)
        self.length = len(self._zip)

    @staticmethod
    def _content(member: Member) -> Iterator[bytes]:
        # Opened lazily: only when the entry's turn comes, so one file is open at a time.
        yield from _read_exactly(member.path.open("rb"), member.size, member.path)

    def chunks(self) -> Iterator[bytes]:
        try:
            yield from self._zip
        except RuntimeError as exc:  # zipstream-ng's own size check, should ours be bypassed
            raise ChangedWhileZipped(str(exc)) from exc


def session_files(folder: Path, allowed_root: Path) -> Iterator[tuple[Path, str]]:
    """Regular files under `folder` (sorted, recursively) and their paths relative to it.

    No link is followed, neither `folder` itself (a bucket may have replaced OUTPUT with one) nor
    any folder or file link inside it: a zip holds the session's own files only. `allowed_root`
    (the scratch folder) must contain `folder`.
    """
    if folder.is_symlink() or not folder.is_dir() or not folder.absolute().is_relative_to(allowed_root):
        return
    for current, dirs, files in os.walk(folder, followlinks=False):
        here = Path(current)
        dirs.sort()
        for name in sorted(files):
            path = here / name
            if not path.is_symlink() and path.is_file():
                yield path, path.relative_to(folder).as_posix()


def stream_folder(entries: Iterator[tuple[Path, str]]) -> Iterator[bytes]:
    """The bytes of a zip holding each (file, entry name), produced entry by entry."""
    archive = ZipStream(sized=False)
    for path, name in entries:
        try:
            handle = path.open("rb")
        except OSError:
            continue  # removed while we zip (e.g. a bucket cleaning up): skip it
        # Exactly the size seen when opened: a file still growing is zipped as it was.
        size = os.fstat(handle.fileno()).st_size
        archive.add(_read_growing(handle, size), name, size=size)
        yield from archive.all_files()
    yield from archive.footer()


def _read_growing(handle: BinaryIO, size: int) -> Iterator[bytes]:
    with handle:
        left = size
        while left and (block := handle.read(min(CHUNK, left))):
            left -= len(block)
            yield block
