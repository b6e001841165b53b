"""Same data set, other encoding: files re-encoded by dcmtk's dcmconv (a real peer's encoder)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pydicom
import pytest

from magickbox.dicom.sameset import same_data_set
from tests.support.dicomdata import BIG_ENDIAN, EXPLICIT_LE, IMPLICIT_LE, RLE, RT_PLAN
from tests.support.dicomdata import testdata_path as pydicom_file


def dcmconv(source: Path, target: Path, *options: str) -> Path:
    subprocess.run(
        ["dcmconv", *options, str(source), str(target)], check=True, capture_output=True, timeout=30
    )
    return target


@pytest.mark.parametrize(
    ("source", "options"),
    [
        (EXPLICIT_LE, ["+ti"]),  # explicit VR -> implicit VR
        (IMPLICIT_LE, ["+te", "+g"]),  # implicit -> explicit, with group lengths
        (RT_PLAN, ["+te", "-e"]),  # nested sequences: defined -> undefined lengths
        (RT_PLAN, ["+te", "+e"]),
        (EXPLICIT_LE, ["+tb"]),  # little -> big endian: pixel words swapped
        (BIG_ENDIAN, ["+te"]),
        (RLE, ["-g"]),  # encapsulated, the same syntax
    ],
)
def test_a_re_encoded_file_holds_the_same_data_set(source: str, options: list[str], tmp_path: Path) -> None:
    original = pydicom_file(source)
    converted = dcmconv(original, tmp_path / "converted.dcm", *options)

    assert original.read_bytes() != converted.read_bytes()
    assert same_data_set(original, converted)
    assert same_data_set(converted, original)


def test_trailing_padding_of_a_string_does_not_count(tmp_path: Path) -> None:
    ds = pydicom.dcmread(pydicom_file(EXPLICIT_LE))
    ds.StudyDescription = "HEAD"
    plain = tmp_path / "plain.dcm"
    ds.save_as(plain)
    ds.StudyDescription = "HEAD  "
    padded = tmp_path / "padded.dcm"
    ds.save_as(padded)

    assert same_data_set(plain, padded)


@pytest.mark.parametrize("change", ["value", "item", "pixels", "element"])
def test_a_changed_data_set_is_different(change: str, tmp_path: Path) -> None:
    source = RT_PLAN if change == "item" else EXPLICIT_LE
    ds = pydicom.dcmread(pydicom_file(source))
    first = tmp_path / "first.dcm"
    ds.save_as(first)
    if change == "value":
        ds.PatientName = "Other^Name"
    elif change == "item":
        ds.BeamSequence[0].BeamName = "other beam"
    elif change == "pixels":
        pixels = bytearray(ds.PixelData)
        pixels[100] ^= 1
        ds.PixelData = bytes(pixels)
    else:
        ds.ImageComments = "added"
    second = tmp_path / "second.dcm"
    ds.save_as(second)

    assert not same_data_set(first, second)


def test_encapsulated_against_native_pixels_counts_as_different(tmp_path: Path) -> None:
    native = tmp_path / "native.dcm"
    subprocess.run(
        ["dcmdrle", str(pydicom_file(RLE)), str(native)], check=True, capture_output=True, timeout=30
    )

    assert not same_data_set(pydicom_file(RLE), native)


def test_an_unreadable_file_is_different(tmp_path: Path) -> None:
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"\x00" * 10)

    assert not same_data_set(pydicom_file(EXPLICIT_LE), junk)
