"""A large DICOM instance written to disk without ever holding it in memory.

pydicom writes the Part 10 file without pixel data (a multi-frame 16-bit secondary capture
header); the Pixel Data element's header is then appended by hand with an explicit even length,
and its value is streamed in 1 MiB blocks. Each block is one random block with its index in
its first 8 bytes, so a shifted, dropped or repeated block changes the data set's hash.
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path
from typing import BinaryIO

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

BLOCK = 1 << 20
ROWS = COLUMNS = 512
FRAME_BYTES = ROWS * COLUMNS * 2  # 16 bits allocated
MULTIFRAME_WORD_SC = "1.2.840.10008.5.1.4.1.1.7.3"  # Multi-frame Grayscale Word Secondary Capture
PIXEL_DATA_OW = struct.pack("<HH2sH", 0x7FE0, 0x0010, b"OW", 0)  # tag, VR, 2 reserved bytes


def write_big_instance(path: Path, megabytes: int) -> str:
    """Write one instance with about `megabytes` MiB of pixel data; return its SOP Instance UID."""
    frames = max(1, (megabytes * BLOCK) // FRAME_BYTES)
    length = frames * FRAME_BYTES
    ds = _header(frames)
    ds.save_as(path, enforce_file_format=True)
    with open(path, "ab") as out:
        out.write(PIXEL_DATA_OW + struct.pack("<I", length))
        _stream_pattern(out, length)
    return str(ds.SOPInstanceUID)


def _header(frames: int) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MULTIFRAME_WORD_SC
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = MULTIFRAME_WORD_SC
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = "Big^Instance"
    ds.PatientID = "BIG1"
    ds.Modality = "OT"
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.NumberOfFrames = frames
    ds.Rows = ROWS
    ds.Columns = COLUMNS
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    return ds


def _stream_pattern(out: BinaryIO, length: int) -> None:
    block = bytearray(os.urandom(BLOCK))
    index = 0
    while length > 0:
        block[:8] = index.to_bytes(8, "little")
        size = min(BLOCK, length)
        out.write(block[:size])
        length -= size
        index += 1


def data_set_offset(handle: BinaryIO) -> int:
    """Where the data set starts in a Part 10 file (after preamble and File Meta Information)."""
    handle.seek(128)
    head = handle.read(16)
    assert head[:4] == b"DICM", "not a Part 10 file"
    # (0002,0000) UL 4: the group length follows the 12-byte element header
    return 144 + int.from_bytes(head[12:16], "little")


def data_set_digest(path: Path) -> tuple[str, int]:
    """SHA-256 and length of a Part 10 file's data set, read in blocks (never whole)."""
    digest = hashlib.sha256()
    nbytes = 0
    with open(path, "rb") as handle:
        handle.seek(data_set_offset(handle))
        while block := handle.read(BLOCK):
            digest.update(block)
            nbytes += len(block)
    return digest.hexdigest(), nbytes
