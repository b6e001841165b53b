"""Read the few header attributes the box needs from the raw bytes of a data set.

The scan walks top-level elements only as far as Study Instance UID and skips every value it
does not need (sequences included), so pixel data are never read. It works on the first bytes
of a data set that is still arriving: when those bytes end before the scan is done it says so,
and the caller tries again with more.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from magickbox.dicom.uid import clean_uid

SOP_CLASS_UID = 0x00080016
SOP_INSTANCE_UID = 0x00080018
STUDY_INSTANCE_UID = 0x0020000D
SERIES_INSTANCE_UID = 0x0020000E
_UIDS = (SOP_CLASS_UID, SOP_INSTANCE_UID, STUDY_INSTANCE_UID)
# What the study index keeps (dicom/studyattrs.py decodes them); all come before Series Number,
# so scanning that far costs a few more elements of the header, never pixel data.
INDEXED_TAGS = frozenset(
    {
        0x00080005,  # SpecificCharacterSet
        0x00080020,  # StudyDate
        0x00080030,  # StudyTime
        0x00080050,  # AccessionNumber
        0x00080060,  # Modality
        0x00080090,  # ReferringPhysicianName
        0x00081030,  # StudyDescription
        0x0008103E,  # SeriesDescription
        0x00100010,  # PatientName
        0x00100020,  # PatientID
        0x00100030,  # PatientBirthDate
        0x00100040,  # PatientSex
        0x00180015,  # BodyPartExamined
        SERIES_INSTANCE_UID,
        0x00200011,  # SeriesNumber
    }
)
_LAST_WANTED = 0x00200011
_WANTED = frozenset(_UIDS) | INDEXED_TAGS
MAX_INDEXED_VALUE = 1024  # longer values are not kept (no indexed VR allows more than 64 chars per value)

_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
# Explicit VR: these VRs have a 2-byte reserved field and a 4-byte length.
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)

EXPLICIT_BIG_ENDIAN = "1.2.840.10008.1.2.2"
IMPLICIT_LITTLE_ENDIAN = "1.2.840.10008.1.2"
DEFLATED_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99"


class NeedMore(Exception):
    """The bytes end before the scan could finish."""


@dataclass(frozen=True)
class Header:
    sop_class_uid: str | None
    sop_instance_uid: str | None
    study_instance_uid: str | None
    indexed: dict[int, bytes] = field(default_factory=dict)  # INDEXED_TAGS present: raw value bytes


@dataclass(frozen=True)
class _Encoding:
    implicit: bool
    little: bool


_IMPLICIT_LE = _Encoding(implicit=True, little=True)
_EXPLICIT_BE = _Encoding(implicit=False, little=False)
_EXPLICIT_LE = _Encoding(implicit=False, little=True)


def encoding_of(transfer_syntax: str) -> _Encoding:
    if transfer_syntax == IMPLICIT_LITTLE_ENDIAN:
        return _IMPLICIT_LE
    if transfer_syntax == EXPLICIT_BIG_ENDIAN:
        return _EXPLICIT_BE
    return _EXPLICIT_LE


# The structs each byte order needs, made once (a scan runs for every instance received).
_STRUCTS = {
    little: {
        name: struct.Struct(("<" if little else ">") + fmt)
        for name, fmt in (("u16", "H"), ("u32", "I"), ("tag", "HH"), ("explicit", "HH2sH"))
    }
    for little in (True, False)
}


def is_deflated(transfer_syntax: str) -> bool:
    return transfer_syntax == DEFLATED_LITTLE_ENDIAN


def inflate_head(data: bytes, limit: int = 1 << 20) -> bytes:
    """The first (up to `limit`) bytes of a deflated data set, from its first compressed bytes."""
    return zlib.decompressobj(-zlib.MAX_WBITS).decompress(data, limit)


class _Scanner:
    def __init__(self, data: bytes | bytearray | memoryview, enc: _Encoding) -> None:
        self.data = memoryview(data)
        self.enc = enc
        self.pos = 0
        structs = _STRUCTS[enc.little]
        self.u16, self.u32, self.tag_struct = structs["u16"], structs["u32"], structs["tag"]

    def _need(self, count: int) -> None:
        if self.pos + count > len(self.data):
            raise NeedMore

    def element_header(self) -> tuple[int, bytes, int]:
        """(tag, VR or b"", length) of the element at pos; pos moves to its value."""
        self._need(8)
        group, element = self.tag_struct.unpack_from(self.data, self.pos)
        tag = (group << 16) | element
        if self.enc.implicit or group == 0xFFFE:
            (length,) = self.u32.unpack_from(self.data, self.pos + 4)
            self.pos += 8
            return tag, b"", length
        vr = bytes(self.data[self.pos + 4 : self.pos + 6])
        if vr in _LONG_VRS:
            self._need(12)
            (length,) = self.u32.unpack_from(self.data, self.pos + 8)
            self.pos += 12
        else:
            (length,) = self.u16.unpack_from(self.data, self.pos + 6)
            self.pos += 8
        return tag, vr, length

    def skip_undefined(self) -> None:
        """Skip the items of an undefined-length sequence (or encapsulated value) up to its end."""
        while True:
            tag, _vr, length = self.element_header()
            if tag == _SEQUENCE_END:
                return
            if tag != _ITEM:
                raise ValueError(f"unexpected tag {tag:08X} inside a sequence")
            if length == _UNDEFINED:
                self.skip_item_dataset()
            else:
                self.pos += length

    def skip_item_dataset(self) -> None:
        """Skip the elements of an undefined-length item up to its item delimiter."""
        while True:
            tag, _vr, length = self.element_header()
            if tag == _ITEM_END:
                return
            if length == _UNDEFINED:
                self.skip_undefined()
            else:
                self.pos += length


def scan_header(data: bytes | bytearray | memoryview, transfer_syntax: str, complete: bool) -> Header:
    """The wanted attributes of a (possibly still incomplete) data set encoded in `transfer_syntax`.

    Raises NeedMore when `data` ends before Series Number's place and `complete` is False.
    Raises ValueError when the bytes are not a data set the scan understands.
    """
    scanner = _Scanner(data, encoding_of(transfer_syntax))
    found: dict[int, str] = {}
    indexed: dict[int, bytes] = {}
    try:
        _walk(scanner, found, indexed)
    except NeedMore:
        if not complete:
            raise
        if SOP_INSTANCE_UID not in found:
            raise ValueError("the data set ends before its SOP Instance UID") from None
    return Header(
        sop_class_uid=found.get(SOP_CLASS_UID) or None,
        sop_instance_uid=found.get(SOP_INSTANCE_UID) or None,
        study_instance_uid=found.get(STUDY_INSTANCE_UID) or None,
        indexed=indexed,
    )


def _walk(scanner: _Scanner, found: dict[int, str], indexed: dict[int, bytes]) -> None:
    """Top-level elements up to Series Number: the wanted values into `found` and `indexed`."""
    if scanner.enc.implicit:
        _walk_any(scanner, found, indexed)
    else:
        _walk_explicit(scanner, found, indexed)


def _walk_explicit(scanner: _Scanner, found: dict[int, str], indexed: dict[int, bytes]) -> None:
    """The usual encoding, made fast: this runs for every instance received, over a hundred
    elements each. One unpack per element; the rare ones (items, long VRs, undefined lengths)
    go through _Scanner."""
    view, size = scanner.data, len(scanner.data)
    unpack = _STRUCTS[scanner.enc.little]["explicit"].unpack_from
    long_vrs, wanted, last = _LONG_VRS, _WANTED, _LAST_WANTED
    pos = 0
    while True:
        if pos + 8 > size:
            raise NeedMore  # the end of the bytes; the end of the data set only if complete
        group, element, vr, length = unpack(view, pos)
        if group == 0xFFFE or vr in long_vrs:
            scanner.pos = pos
            tag, _vr, length = scanner.element_header()
            if tag > last:
                return
            if length == _UNDEFINED:
                scanner.skip_undefined()
                pos = scanner.pos
                continue
            value = scanner.pos
        else:
            tag = (group << 16) | element
            if tag > last:
                return
            value = pos + 8
        pos = value + length
        if pos > size:  # every element up to Series Number (itself wanted) must be whole
            raise NeedMore
        if tag in wanted:
            _keep(tag, view[value:pos], found, indexed)


def _walk_any(scanner: _Scanner, found: dict[int, str], indexed: dict[int, bytes]) -> None:
    """Any encoding (implicit VR), element by element through _Scanner."""
    view, size = scanner.data, len(scanner.data)
    while True:
        if scanner.pos + 8 > size:
            raise NeedMore
        tag, _vr, length = scanner.element_header()
        if tag > _LAST_WANTED:
            return
        if length == _UNDEFINED:
            scanner.skip_undefined()
            continue
        value = scanner.pos
        end = scanner.pos = value + length
        if end > size:  # as in _walk_explicit
            raise NeedMore
        if tag in _WANTED:
            _keep(tag, view[value:end], found, indexed)


def _keep(tag: int, value: memoryview, found: dict[int, str], indexed: dict[int, bytes]) -> None:
    if tag in _UIDS:
        found[tag] = clean_uid(bytes(value))
    elif len(value) <= MAX_INDEXED_VALUE:
        indexed[tag] = bytes(value)
