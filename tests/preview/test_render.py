"""Each kind of pydicom test file renders to a PNG whose pixels look like the image they hold."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from magickbox.preview import Window, render_png
from tests.support import dicomdata


def _image(body: bytes) -> Image.Image:
    assert body[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(body))


def _pixels(name: str, size: int = 128, window: Window | None = None) -> tuple[Image.Image, np.ndarray]:
    image = _image(render_png(dicomdata.testdata_path(name), size=size, window=window))
    return image, np.asarray(image)


@pytest.mark.parametrize(
    ("name", "mode", "shape"),
    [
        ("CT_small.dcm", "L", (128, 128)),  # CT, explicit VR LE, rescaled
        ("MR_small.dcm", "L", (128, 128)),  # MR, with Window Center/Width
        ("MR_small_RLE.dcm", "L", (128, 128)),
        ("MR_small_jp2klossless.dcm", "L", (128, 128)),
        ("693_J2KI.dcm", "L", (128, 128)),  # a 512x512 CT slice, JPEG 2000 lossy
        ("MR_small_jpeg_ls_lossless.dcm", "L", (128, 128)),  # needs pylibjpeg-libjpeg
        ("JPGExtended.dcm", "L", (128, 32)),  # 12-bit JPEG extended, 1024x256
        ("SC_rgb_jpeg_dcmtk.dcm", "RGB", (128, 128)),  # JPEG baseline, YBR_FULL
        ("SC_rgb_rle.dcm", "RGB", (128, 128)),
        ("examples_rgb_color.dcm", "RGB", (96, 128)),  # US, RGB
        ("SC_ybr_full_422_uncompressed.dcm", "RGB", (128, 128)),
        ("examples_palette.dcm", "RGB", (56, 128)),  # US, palette colour
        ("examples_ybr_color.dcm", "RGB", (96, 128)),  # US, 30 frames, JPEG baseline YBR_FULL_422
        ("rtdose.dcm", "L", (128, 128)),  # 15 frames of 32-bit dose
    ],
)
def test_each_kind_renders_to_a_picture(name: str, mode: str, shape: tuple[int, int]) -> None:
    image, pixels = _pixels(name)
    assert image.mode == mode
    assert pixels.shape[:2] == shape
    assert pixels.std() > 5, "the picture is not uniform"
    if mode == "RGB":
        spread = pixels.max(axis=2).astype(int) - pixels.min(axis=2)
        assert (spread > 30).sum() >= 30, "colour is kept as colour (some pixels are far from grey)"


def test_the_size_asked_for_is_the_larger_side() -> None:
    image, _ = _pixels("693_J2KI.dcm", size=300)
    assert image.size == (300, 300)


def test_monochrome1_is_shown_inverted_against_its_monochrome2_twin(tmp_path: Path) -> None:
    ds = pydicom.dcmread(dicomdata.testdata_path("MR_small.dcm"))
    ds.PhotometricInterpretation = "MONOCHROME1"
    twin = tmp_path / "mono1.dcm"
    ds.save_as(twin)
    normal = np.asarray(_image(render_png(dicomdata.testdata_path("MR_small.dcm"), size=64))).astype(int)
    inverted = np.asarray(_image(render_png(twin, size=64))).astype(int)
    assert np.array_equal(inverted, 255 - normal)


def test_a_narrow_window_makes_more_pixels_black_or_white() -> None:
    _, wide = _pixels("CT_small.dcm", window=Window(40, 4000))
    _, narrow = _pixels("CT_small.dcm", window=Window(40, 80))
    saturated = lambda a: int(((a == 0) | (a == 255)).sum())  # noqa: E731
    assert saturated(narrow) > saturated(wide) + 1000


@pytest.mark.parametrize("name", ["rtplan.dcm", "test-SR.dcm", "rtstruct.dcm"])
def test_data_sets_without_pixels_get_a_labelled_placeholder(name: str) -> None:
    image, pixels = _pixels(name, size=96)
    assert image.size == (96, 96)
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 2, "the label is written on it"


def test_a_file_that_is_not_dicom_gets_a_placeholder(tmp_path: Path) -> None:
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"\0" * 300)
    image = _image(render_png(junk, size=64))
    assert image.size == (64, 64)
