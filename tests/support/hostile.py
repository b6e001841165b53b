"""Hostile files built in the test: decompression bombs (DICOM deflate, JPEG 2000, NIfTI gzip)
and data sets whose header values are made to escape from a URL. Small on disk, huge declared."""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import (
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    generate_uid,
)

from tests.support import dicomdata

ZEROS = bytes(16 << 20)


def _image(rows: int, columns: int, study_uid: str) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "CT"
    ds.PatientID = "BOMB"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    return ds


def _meta(ds: Dataset, syntax: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = syntax
    meta.ImplementationClassUID = "1.2.826.0.1.3680043.10.1"
    return meta


def deflated_bomb(path: Path, *, side: int = 45_000, study_uid: str | None = None) -> Path:
    """A Deflated Explicit VR Little Endian file declaring side x side 8-bit pixels, all of them
    present (zeros): a few MB on disk, side^2 bytes inflated. Built in a stream, never in memory."""
    ds = _image(side, side, study_uid or generate_uid())
    head = DicomBytesIO()
    head.is_implicit_VR, head.is_little_endian = False, True
    write_dataset(head, ds)  # the data set as the file would hold it before deflating
    size = side * side + (side * side) % 2
    head.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, size))
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    with path.open("wb") as out:
        out.write(b"\0" * 128 + b"DICM")
        write_file_meta_info(out, _meta(ds, DeflatedExplicitVRLittleEndian))
        out.write(packer.compress(head.getvalue()))
        left = size
        while left:
            block = ZEROS[: min(left, len(ZEROS))]
            out.write(packer.compress(block))
            left -= len(block)
        out.write(packer.flush())
    return path


def j2k_lying(
    path: Path, *, declared: int = 64, codestream: int = 13_000, study_uid: str | None = None
) -> Path:
    """A JPEG 2000 data set whose header says declared x declared while its codestream's SIZ
    marker says codestream x codestream (one tile): a decoder allocates what SIZ says."""
    ds = _image(declared, declared, study_uid or generate_uid())
    out = io.BytesIO()
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(out, format="JPEG2000", no_jp2=True)
    stream = bytearray(out.getvalue())
    assert stream[:4] == b"\xff\x4f\xff\x51"
    # SIZ: Xsiz, Ysiz at 8 and 12; XTsiz, YTsiz (the tile) at 24 and 28.
    struct.pack_into(">IIII", stream, 8, codestream, codestream, 0, 0)
    struct.pack_into(">II", stream, 24, codestream, codestream)
    ds.PixelData = encapsulate([bytes(stream)])
    ds["PixelData"].VR = "OB"
    ds.file_meta = _meta(ds, JPEG2000Lossless)
    ds.save_as(path, enforce_file_format=True)
    return path


def with_series_uid(path: Path, series_uid: str, *, study_uid: str, patient_id: str) -> Path:
    """pydicom's CT_small with a chosen SeriesInstanceUID (anything: it is hostile input)."""
    ds = dicomdata.load("CT_small.dcm")
    ds.SeriesInstanceUID = series_uid
    ds.StudyInstanceUID = study_uid
    ds.SOPInstanceUID = generate_uid()
    ds.PatientID = patient_id
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    return path


def nifti_bomb(path: Path, *, side: int = 768) -> Path:
    """A .nii.gz of side^3 zero voxels (uint8): a few hundred KB, side^3 bytes inflated."""
    import nibabel as nib

    header = nib.Nifti1Header()
    header.set_data_dtype(np.uint8)
    header.set_data_shape((side, side, side))
    header.set_zooms((1.0, 1.0, 1.0))
    header.set_qform(np.eye(4), code=1)
    header["vox_offset"] = 352
    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write(header.binaryblock + b"\0" * 4)
        left = side**3
        while left:
            block = ZEROS[: min(left, len(ZEROS))]
            out.write(block)
            left -= len(block)
    return path
