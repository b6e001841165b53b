"""A zip of a folder, produced as a stream of chunks, whose exact length is known before it starts.

The original client built the zip in memory, then the multipart body in memory again. Here the
entries are stored (not compressed: DICOM barely compresses and the box unpacks it at once), the
CRC travels in a data descriptor after each entry, and every header's size depends only on the
names and file sizes, so the length is computed up front. That gives a plain `Content-Length`
upload (which the original PHP box needs) with memory bounded by one read buffer.

Entry names are the paths relative to the pushed folder, so the folder structure is kept.
ZIP64 records are used for entries or offsets beyond 4 GiB (and for more than 65535 entries).
"""

from __future__ import annotations

import os
import stat
import struct
import time
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

from magickbox.client.errors import MbError

LIMIT_32 = 0xFFFFFFFF
LIMIT_16 = 0xFFFF
FLAG_DATA_DESCRIPTOR = 0x0008
FLAG_UTF8 = 0x0800
VERSION_PLAIN = 20
VERSION_ZIP64 = 45
MADE_BY_UNIX = 3 << 8
CHUNK = 1 << 20


@dataclass(frozen=True)
class Member:
    path: Path
    name: str  # relative, with "/" separators
    size: int
    mtime: float
    mode: int


def collect(folder: Path, warn: Callable[[str], None]) -> list[Member]:
    """Every regular file under `folder` (symlinked files read through), sorted by name."""
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
            relative = path.relative_to(folder).as_posix()
            members.append(Member(path, relative, info.st_size, info.st_mtime, info.st_mode & 0o777))
    return members


def _dos_time(mtime: float) -> tuple[int, int]:
    t = time.localtime(mtime)
    year = min(max(t.tm_year, 1980), 2107)
    return (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2), ((year - 1980) << 9) | (
        t.tm_mon << 5
    ) | t.tm_mday


class StreamedZip:
    """The zip of `members`. `length` is exact; `chunks()` yields it, reading one buffer at a time."""

    def __init__(self, members: list[Member], zip64_from: int = LIMIT_32) -> None:
        # `zip64_from` is lowered only by tests, to exercise the ZIP64 records with small files.
        self.members = members
        self.zip64_from = zip64_from
        self.offsets: list[int] = []
        offset = 0
        for member in members:
            self.offsets.append(offset)
            offset += len(self._local_header(member)) + member.size + self._descriptor_size(member)
        self.central_offset = offset
        central = sum(len(self._central_header(m, o, 0)) for m, o in zip(members, self.offsets, strict=True))
        self.length = offset + central + len(self._end(central))

    def _big(self, member: Member) -> bool:
        return member.size >= self.zip64_from

    def _encoded(self, member: Member) -> bytes:
        return member.name.encode("utf-8")

    def _local_header(self, member: Member) -> bytes:
        name = self._encoded(member)
        dostime, dosdate = _dos_time(member.mtime)
        big = self._big(member)
        # With a data descriptor, CRC and sizes are 0 here (ZIP64: the sizes live in the extra field).
        extra = struct.pack("<HHQQ", 1, 16, 0, 0) if big else b""
        sizes = LIMIT_32 if big else 0
        return struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, VERSION_ZIP64 if big else VERSION_PLAIN,
            FLAG_DATA_DESCRIPTOR | FLAG_UTF8, 0, dostime, dosdate, 0, sizes, sizes, len(name), len(extra),
        ) + name + extra  # fmt: skip

    def _descriptor_size(self, member: Member) -> int:
        return 24 if self._big(member) else 16

    def _descriptor(self, member: Member, crc: int) -> bytes:
        if self._big(member):
            return struct.pack("<IIQQ", 0x08074B50, crc, member.size, member.size)
        return struct.pack("<IIII", 0x08074B50, crc, member.size, member.size)

    def _central_header(self, member: Member, offset: int, crc: int) -> bytes:
        name = self._encoded(member)
        dostime, dosdate = _dos_time(member.mtime)
        values: list[int] = []
        size32 = member.size
        if self._big(member):
            values += [member.size, member.size]
            size32 = LIMIT_32
        offset32 = offset
        if offset >= self.zip64_from or offset >= LIMIT_32:
            values.append(offset)
            offset32 = LIMIT_32
        extra = struct.pack(f"<HH{len(values)}Q", 1, 8 * len(values), *values) if values else b""
        version = VERSION_ZIP64 if values else VERSION_PLAIN
        return struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, MADE_BY_UNIX | version, version,
            FLAG_DATA_DESCRIPTOR | FLAG_UTF8, 0, dostime, dosdate, crc, size32, size32,
            len(name), len(extra), 0, 0, 0, (stat.S_IFREG | member.mode) << 16, offset32,
        ) + name + extra  # fmt: skip

    def _end(self, central_size: int) -> bytes:
        count, start = len(self.members), self.central_offset
        record = b""
        if count >= LIMIT_16 or central_size >= LIMIT_32 or start >= LIMIT_32 or start >= self.zip64_from:
            zip64_end = start + central_size
            record = struct.pack(
                "<IQHHIIQQQQ", 0x06064B50, 44, MADE_BY_UNIX | VERSION_ZIP64, VERSION_ZIP64,
                0, 0, count, count, central_size, start,
            ) + struct.pack("<IIQI", 0x07064B50, 0, zip64_end, 1)  # fmt: skip
            count, central_size, start = min(count, LIMIT_16), LIMIT_32, LIMIT_32
        return record + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, central_size, start, 0)

    def chunks(self, chunk_size: int = CHUNK) -> Iterator[bytes]:
        crcs: list[int] = []
        for member in self.members:
            yield self._local_header(member)
            crc = yield from self._content(member, chunk_size)
            crcs.append(crc)
            yield self._descriptor(member, crc)
        central = b"".join(
            self._central_header(m, o, c) for m, o, c in zip(self.members, self.offsets, crcs, strict=True)
        )
        yield central
        yield self._end(len(central))

    def _content(self, member: Member, chunk_size: int) -> Generator[bytes, None, int]:  # returns the CRC
        crc, left = 0, member.size
        try:
            with member.path.open("rb") as handle:
                while left:
                    block = handle.read(min(chunk_size, left))
                    if not block:
                        break
                    left -= len(block)
                    crc = zlib.crc32(block, crc)
                    yield block
                grew = bool(handle.read(1))
        except OSError as exc:
            raise MbError(f"cannot read {member.path}: {exc.strerror}") from exc
        if left or grew:
            # The announced length is already on the wire; a changed file cannot be sent correctly.
            raise MbError(f"{member.path} changed size while it was being sent; push again")
        return crc
