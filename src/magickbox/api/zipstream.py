"""A zip of a session folder, produced while it is sent: constant memory, no temporary file.

`zipfile` writes to any object with `write()`; on a stream that cannot seek it puts sizes and
CRCs in data descriptors after each entry, and switches to ZIP64 records when an entry or the
archive passes 4 GiB. Entries are stored (not compressed), like `zip -0`: DICOM pixel data
rarely shrinks and the download should run at disk speed.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

CHUNK = 1 << 20


class _Pipe:
    """The write end `zipfile` sees; the generator drains what was written after each step."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._offset = 0

    def write(self, data: bytes | memoryview) -> int:
        self._parts.append(bytes(data))
        self._offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self._offset

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    @property
    def pending(self) -> bool:
        return bool(self._parts)

    def drain(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
    except (ValueError, OSError):
        return False
    return True


def session_files(folder: Path, allowed_root: Path) -> Iterator[tuple[Path, str]]:
    """Regular files under `folder` (sorted, recursively) and their paths relative to it.

    Links are followed only when they stay inside `allowed_root` (the scratch folder), so a bucket
    cannot publish other files of the machine through a link in OUTPUT.
    """
    if not folder.is_dir() or not _inside(folder, allowed_root):
        return
    for current, dirs, files in os.walk(folder, followlinks=False):
        here = Path(current)
        dirs.sort()
        # Follow linked folders only if they stay inside; os.walk would skip them otherwise.
        for name in list(dirs):
            sub = here / name
            if sub.is_symlink() and _inside(sub, allowed_root):
                yield from ((p, str(Path(name) / rel)) for p, rel in _linked(sub, allowed_root))
        for name in sorted(files):
            path = here / name
            if path.is_symlink() and not _inside(path, allowed_root):
                continue
            if path.is_file():
                yield path, str(path.relative_to(folder))


def _linked(folder: Path, allowed_root: Path) -> Iterator[tuple[Path, str]]:
    yield from session_files(folder.resolve(), allowed_root)


def stream_zip(entries: Iterator[tuple[Path, str]]) -> Iterator[bytes]:
    """Yield the bytes of a zip holding each (file, entry name); an empty iterator gives an empty zip."""
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for path, name in entries:
            try:
                handle = path.open("rb")
            except OSError:
                continue  # removed while we zip (e.g. a bucket cleaning up): skip it
            with handle:
                stat = os.fstat(handle.fileno())
                info = zipfile.ZipInfo.from_file(path, name, strict_timestamps=False)
                info.compress_type = zipfile.ZIP_STORED
                info.file_size = stat.st_size
                with archive.open(info, mode="w", force_zip64=stat.st_size >= zipfile.ZIP64_LIMIT) as entry:
                    # Exactly the size seen at the start: a file still growing is zipped as it was.
                    left = stat.st_size
                    while left > 0 and (block := handle.read(min(CHUNK, left))):
                        left -= len(block)
                        entry.write(block)
                        if pipe.pending:
                            yield pipe.drain()
            if pipe.pending:
                yield pipe.drain()
    tail = pipe.drain()
    if tail:
        yield tail
