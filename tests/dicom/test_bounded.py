"""Reading hostile files with a bound: headers without inflating, sizes checked before decoding."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from magickbox.dicom.bounded import (
    DecodeLimits,
    TooLarge,
    check_pixels,
    codestream_pixels,
    inflate,
    read_header,
    read_inflated,
)
from magickbox.preview.nifti import render_nifti_png
from magickbox.preview.render import placeholder_png, render_png
from tests.support import hostile

SMALL = DecodeLimits(max_pixels=1 << 20, max_frames=10, max_bytes=8 << 20)


def test_inflate_stops_at_its_limit() -> None:
    packed = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    stream = packed.compress(bytes(50 << 20)) + packed.flush()
    assert len(inflate(io.BytesIO(stream), 1 << 20, strict=False)) == 1 << 20
    with pytest.raises(TooLarge):
        inflate(io.BytesIO(stream), 1 << 20, strict=True)
    assert len(inflate(io.BytesIO(stream), 64 << 20, strict=True)) == 50 << 20


def test_a_deflated_bomb_is_read_to_its_header_and_refused_before_inflating(tmp_path: Path) -> None:
    bomb = hostile.deflated_bomb(tmp_path / "bomb.dcm", side=4000)  # 16 MB inflated
    header = read_header(bomb, specific_tags=["Rows", "SeriesInstanceUID"])
    assert header.Rows == 4000 and "PixelData" not in header
    with pytest.raises(TooLarge):
        check_pixels(bomb, DecodeLimits(max_pixels=1 << 20, max_frames=10, max_bytes=1 << 30))
    assert render_png(bomb, size=64, limits=SMALL) == placeholder_png("too large\nto show", size=64)


def test_a_codestream_larger_than_its_header_is_refused(tmp_path: Path) -> None:
    lying = hostile.j2k_lying(tmp_path / "j2k.dcm", declared=64, codestream=13_000)
    with pytest.raises(TooLarge, match="codestream"):
        check_pixels(lying, SMALL)
    honest = hostile.j2k_lying(tmp_path / "ok.dcm", declared=64, codestream=64)
    assert check_pixels(honest, SMALL) is not None


@pytest.mark.parametrize(("fmt", "options"), [("JPEG2000", {"no_jp2": True}), ("JPEG2000", {}), ("JPEG", {})])
def test_codestream_sizes(fmt: str, options: dict[str, bool]) -> None:
    out = io.BytesIO()
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(out, format=fmt, **options)
    assert codestream_pixels(out.getvalue()) == 30 * 40 * 3
    assert codestream_pixels(b"\x00" * 64) is None


def test_a_nifti_bomb_gets_a_placeholder(tmp_path: Path) -> None:
    bomb = hostile.nifti_bomb(tmp_path / "bomb.nii.gz", side=256)  # 16 MiB inflated, 64 MiB as float32
    assert render_nifti_png(bomb, size=64, limits=SMALL) == placeholder_png(
        "NIfTI\ntoo large\nto show", size=64
    )


def test_a_deflated_file_is_inflated_whole_only_within_a_limit(tmp_path: Path) -> None:
    bomb = hostile.deflated_bomb(tmp_path / "bomb.dcm", side=2000)  # 4 MB inflated
    assert len(read_inflated(bomb, 8 << 20).PixelData) == 2000 * 2000
    with pytest.raises(TooLarge):
        read_inflated(bomb, 1 << 20)
