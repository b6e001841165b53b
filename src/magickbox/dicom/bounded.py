"""DICOM files read with a bound: a header without inflating the whole file, pixels only when the
declared (and, for JPEG and JPEG 2000, the codestream's own) size is within limits.

A received file is hostile input: a 2 MB deflated data set may inflate to gigabytes, and a 1.5 KB
JPEG 2000 codestream may declare 13,000 x 13,000 pixels. pydicom inflates a deflated file in one
call and decoders allocate what a codestream declares, so everything that reads stored files
(previews, routing rules, the study index of uploads) goes through here first.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filereader import read_dataset, read_file_meta_info, read_preamble
from pydicom.tag import BaseTag
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
)

# What a header read inflates at most: every element before the pixel data of any real data set.
HEADER_INFLATE_LIMIT = 4 << 20
_CHUNK = 64 << 10
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
_UNDEFINED = 0xFFFFFFFF
_FRAGMENT_HEAD = 4096  # enough of a fragment for a codestream's SIZ or a JPEG's SOF


class TooLarge(ValueError):
    """The file declares (or inflates to) more than the limits allow; it is not decoded."""


@dataclass(frozen=True)
class DecodeLimits:
    """How much one picture may cost: pixels of one frame (rows x columns x samples), frames,
    and bytes (a deflated data set inflated, one frame's decoded bytes)."""

    max_pixels: int
    max_frames: int
    max_bytes: int


def _meta_and_body(path: Path) -> tuple[FileMetaDataset, int]:
    """The file meta of a Part 10 file and the offset where its data set begins."""
    with path.open("rb") as handle:
        read_preamble(handle, False)
        start = handle.tell()
    return read_file_meta_info(path), start + _meta_length(path, start)


def _meta_length(path: Path, start: int) -> int:
    """Bytes of group 0002 from `start` (explicit VR little endian, as PS3.10 requires)."""
    length = 0
    with path.open("rb") as handle:
        handle.seek(start)
        while True:
            head = handle.read(8)
            if len(head) < 8:
                return length
            group, _element = struct.unpack("<HH", head[:4])
            if group != 0x0002:
                return length
            vr = head[4:6]
            if vr in (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"UC", b"UR", b"OD", b"OL", b"OV"):
                extra = handle.read(4)
                size = struct.unpack("<I", extra)[0]
                length += 12 + size
            else:
                size = struct.unpack("<H", head[6:8])[0]
                length += 8 + size
            handle.seek(size, io.SEEK_CUR)


def inflate(handle: BinaryIO, limit: int, *, strict: bool) -> bytes:
    """The raw-deflate stream read from `handle`, inflated in steps of at most `limit` bytes in all.

    With `strict`, a stream that inflates to more than `limit` raises TooLarge; without, the
    first `limit` bytes are the answer (enough for a header). Never holds more than `limit`."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    out = bytearray()
    pending = b""
    while not inflater.eof:
        if not pending:
            pending = handle.read(_CHUNK)
            if not pending:
                break
        room = limit - len(out)
        out += inflater.decompress(pending, room + 1)
        pending = inflater.unconsumed_tail
        if len(out) > limit:
            if strict:
                raise TooLarge(f"the deflated data set inflates to more than {limit} bytes")
            return bytes(out[:limit])
    return bytes(out)


Pixels = tuple[int, int, int]  # the pixel element's tag, the file offset of its value, its length


def _until_pixels(
    fp: BinaryIO, *, is_implicit_vr: bool, is_little_endian: bool
) -> tuple[Dataset, Pixels | None]:
    """The top-level elements before the pixel data, and where the pixel data is (if any)."""
    seen: list[Pixels] = []

    def stop(tag: BaseTag, _vr: str | None, length: int) -> bool:
        if int(tag) in _PIXEL_TAGS:
            seen.append((int(tag), fp.tell(), length))
            return True
        return False

    ds = read_dataset(fp, is_implicit_VR=is_implicit_vr, is_little_endian=is_little_endian, stop_when=stop)
    return ds, (seen[0] if seen else None)


def _header(path: Path) -> tuple[Dataset, Pixels | None]:
    meta, body = _meta_and_body(path)
    syntax = UID(str(meta.get("TransferSyntaxUID", ExplicitVRLittleEndian)))
    with path.open("rb") as handle:
        handle.seek(body)
        if syntax == DeflatedExplicitVRLittleEndian:
            fp: BinaryIO = io.BytesIO(inflate(handle, HEADER_INFLATE_LIMIT, strict=False))
            ds, pixels = _until_pixels(fp, is_implicit_vr=False, is_little_endian=True)
        else:
            implicit = syntax.is_implicit_VR if syntax.is_transfer_syntax else False
            little = syntax.is_little_endian if syntax.is_transfer_syntax else True
            ds, pixels = _until_pixels(handle, is_implicit_vr=implicit, is_little_endian=little)
    ds.file_meta = meta
    return ds, pixels


def read_header(path: Path, *, specific_tags: list[str] | None = None) -> Dataset:
    """The data set up to its pixel data; a deflated one inflated no further than its header
    (HEADER_INFLATE_LIMIT). Raises what pydicom raises for a file that is not DICOM."""
    ds, _pixels = _header(path)
    if specific_tags is None:
        return ds
    wanted = Dataset()
    wanted.file_meta = ds.file_meta
    for keyword in specific_tags:
        if keyword in ds:
            wanted[keyword] = ds[keyword]
    return wanted


def check_pixels(path: Path, limits: DecodeLimits) -> Dataset | None:
    """The header of a file whose pixels may be decoded within `limits`; None when it has no pixel
    data. Raises TooLarge when the header, or a JPEG / JPEG 2000 codestream's own header, declares
    more. Reads no pixel data but the first bytes of each fragment."""
    ds, pixels = _header(path)
    if pixels is None:
        return None
    check_declared(ds, limits)
    tag, offset, length = pixels
    if tag == 0x7FE00010 and length == _UNDEFINED and transfer_syntax(ds).is_compressed:
        with path.open("rb") as handle:
            handle.seek(offset)
            check_codestreams(handle, ds, limits)
    return ds


def read_for_pixels(path: Path, header: Dataset, limits: DecodeLimits) -> Dataset | Path:
    """What `pydicom.pixels.pixel_array` may decode: the path itself, or for a deflated file the
    data set inflated in memory (no more than its declared frames need, at most
    `limits.max_bytes`). Raises TooLarge past the limit."""
    if transfer_syntax(header) != DeflatedExplicitVRLittleEndian:
        return path
    needed = _frame_bytes(header) * int(header.get("NumberOfFrames") or 1) + HEADER_INFLATE_LIMIT
    return read_inflated(path, min(limits.max_bytes, needed))


def read_inflated(path: Path, limit: int) -> Dataset:
    """A deflated file's whole data set, inflated in memory as Explicit VR Little Endian; TooLarge
    when it inflates to more than `limit` bytes (never holds more)."""
    meta, body = _meta_and_body(path)
    with path.open("rb") as handle:
        handle.seek(body)
        data = inflate(handle, limit, strict=True)
    ds = read_dataset(io.BytesIO(data), is_implicit_VR=False, is_little_endian=True)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian  # what it is once inflated
    ds.file_meta = meta
    ds.set_original_encoding(False, True)
    return ds


def _frame_bytes(ds: Dataset) -> int:
    pixels = int(ds.get("Rows") or 0) * int(ds.get("Columns") or 0) * int(ds.get("SamplesPerPixel") or 1)
    return pixels * max(1, (int(ds.get("BitsAllocated") or 8) + 7) // 8)


def check_declared(ds: Dataset, limits: DecodeLimits) -> None:
    """Refuse (TooLarge) a data set whose header declares more than the limits, before decoding."""
    rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    samples = int(ds.get("SamplesPerPixel") or 1)
    frames = int(ds.get("NumberOfFrames") or 1)
    pixels = rows * columns * samples
    if pixels > limits.max_pixels:
        raise TooLarge(f"{columns} x {rows} x {samples} pixels per frame (limit {limits.max_pixels})")
    if frames > limits.max_frames:
        raise TooLarge(f"{frames} frames (limit {limits.max_frames})")
    if _frame_bytes(ds) > limits.max_bytes:
        raise TooLarge(f"a frame of {_frame_bytes(ds)} bytes (limit {limits.max_bytes})")


def check_codestreams(handle: BinaryIO, ds: Dataset, limits: DecodeLimits) -> None:
    """For encapsulated pixel data at `handle`: every JPEG or JPEG 2000 codestream's own declared
    size must be within the limits and no larger than the header's Rows x Columns (which may lie)."""
    declared = int(ds.get("Rows") or 0) * int(ds.get("Columns") or 0) * int(ds.get("SamplesPerPixel") or 1)
    for fragment in _fragment_heads(handle):
        size = codestream_pixels(fragment)
        if size is None:
            continue
        if size > limits.max_pixels or size > max(declared, 1):
            raise TooLarge(f"a codestream of {size} pixels (header: {declared}, limit {limits.max_pixels})")


def _fragment_heads(handle: BinaryIO) -> Iterator[bytes]:
    """The first bytes of each fragment after the basic offset table (PS3.5 A.4), read in place."""
    first = True
    while len(head := handle.read(8)) == 8:
        group, element, length = struct.unpack("<HHI", head)
        if (group, element) != (0xFFFE, 0xE000) or length == _UNDEFINED:
            return  # the sequence delimiter, or not encapsulated as it should be: the decoder says so
        start = handle.tell()
        if not first:
            yield handle.read(min(length, _FRAGMENT_HEAD))
        first = False
        handle.seek(start + length)


def codestream_pixels(data: bytes) -> int | None:
    """Width x height x components a JPEG 2000 (SIZ) or JPEG/JPEG-LS (SOF) codestream declares at
    its start; None when `data` does not begin one (a continuation fragment)."""
    if data[:4] == b"\xff\x4f\xff\x51" and len(data) >= 42:  # SOC, then SIZ (PS3.5 via ISO 15444-1 A.5.1)
        x, y, x0, y0 = struct.unpack(">IIII", data[8:24])
        (components,) = struct.unpack(">H", data[40:42])
        return int(max(0, x - x0) * max(0, y - y0) * components)
    jp2 = data.find(b"\xff\x4f\xff\x51", 0, 4096) if data[4:8] == b"jP  " else -1
    if jp2 >= 0:  # a JP2 file instead of a bare codestream
        return codestream_pixels(data[jp2:])
    if data[:2] == b"\xff\xd8":
        return _jpeg_pixels(data)
    return None


# SOF markers: baseline, extended, progressive, lossless (C0-CF but DHT, JPG, DAC) and JPEG-LS.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC} | {0xF7}


def _jpeg_pixels(data: bytes) -> int:
    """The frame size of a JPEG codestream's SOF; 0 (refused) when it has none in its header."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return 0
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _SOF and pos + 10 <= len(data):
            rows, columns = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return int(rows) * int(columns) * data[pos + 9]
        if marker == 0xDA:  # start of scan before any SOF
            return 0
        pos += 2 + length
    return 0


def transfer_syntax(ds: Dataset) -> UID:
    """The data set's transfer syntax (Explicit VR Little Endian when it names none)."""
    meta = getattr(ds, "file_meta", None)
    return UID(str(meta.get("TransferSyntaxUID", ExplicitVRLittleEndian))) if meta else ExplicitVRLittleEndian
