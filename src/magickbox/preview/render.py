"""One DICOM file to one PNG: modality rescale, a window, MONOCHROME1 inverted, colour kept.

Pixel data is decoded by pydicom with the plug-ins it finds (Pillow: JPEG baseline, JPEG 2000;
pylibjpeg-libjpeg: JPEG extended, lossless and JPEG-LS; pydicom itself: RLE). Only the middle
frame of a multi-frame file is decoded. Anything that cannot be shown becomes a labelled
placeholder, never an exception: a picture is a convenience, not a check of the data.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut
from pydicom.pixels.utils import pixel_array

from magickbox.dicom.bounded import DecodeLimits, TooLarge, check_pixels, read_for_pixels, read_header

log = logging.getLogger(__name__)

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
# An automatic window leaves out the extreme 0.5 % at each end (air, metal, padding values).
AUTO_PERCENTILES = (0.5, 99.5)
# The settings' defaults (config.py preview_max_*), for callers without settings at hand.
DEFAULT_LIMITS = DecodeLimits(max_pixels=32 << 20, max_frames=100_000, max_bytes=256 << 20)


@dataclass(frozen=True)
class Window:
    """A VOI window in modality units (after rescale): centre and width, width > 0."""

    center: float
    width: float


def render_png(
    path: Path, *, size: int, limits: DecodeLimits = DEFAULT_LIMITS, window: Window | None = None
) -> bytes:
    """The file's picture as PNG, fitted into `size`×`size`; a placeholder if it has no pixels,
    they cannot be decoded, or they would cost more than `limits` (checked before decoding, from
    the header and from a JPEG or JPEG 2000 codestream's own header). `window` overrides the
    file's and the automatic window."""

    def draw() -> bytes:
        header = Dataset()
        probe = check_pixels(path, limits)  # the header only: nothing is decoded or inflated yet
        if probe is None:
            return placeholder_png(_label(read_header(path)), size=size)
        source = read_for_pixels(path, probe, limits)  # a deflated file: inflated here, bounded
        frames = int(probe.get("NumberOfFrames") or 1)
        pixels = pixel_array(source, index=frames // 2, ds_out=header)
        return _png(_fit(_to_image(pixels, header, window), size))

    return picture_or_placeholder(path, size, draw)


def picture_or_placeholder(path: Path, size: int, draw: Callable[[], bytes], kind: str = "") -> bytes:
    """`draw()`, or a placeholder saying why it failed (`kind`, e.g. "NIfTI", leads its text).

    A picture never fails a page: what could not be shown is logged and said in the picture.
    """
    lead = f"{kind}\n" if kind else ""
    what = f"{kind} picture" if kind else "picture"
    try:
        return draw()
    except TooLarge as exc:
        log.warning("no %s of %s: too large to decode: %s", what, path.name, exc)
        return placeholder_png(f"{lead}too large\nto show", size=size)
    except Exception as exc:
        log.info("no %s of %s: %s", what, path.name, exc)
        return placeholder_png(f"{lead}cannot show\n{type(exc).__name__}", size=size)


def _fit(image: Image.Image, size: int) -> Image.Image:
    """Scaled (up or down) so that its longer side is `size`, aspect kept."""
    scale = size / max(image.size)
    target = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image if target == image.size else image.resize(target, Image.Resampling.BILINEAR)


def _label(ds: Dataset) -> str:
    modality = str(ds.get("Modality", "") or "")
    sop = ds.get("SOPClassUID")
    name = getattr(sop, "name", "") if sop is not None else ""
    return f"{modality}\nno image\n{name}".strip()


def _to_image(pixels: Any, ds: Dataset, window: Window | None) -> Image.Image:
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(pixels, ds)
        return Image.fromarray(_to_uint8(rgb, bits=int(ds.get("RedPaletteColorLookupTableDescriptor")[2])))
    if pixels.ndim == 3:  # pydicom has converted YBR to RGB already
        return Image.fromarray(_to_uint8(pixels, bits=int(ds.get("BitsStored", 8))), mode="RGB")
    values = np.asarray(apply_modality_lut(pixels, ds), dtype=np.float32)
    grey = _apply_window(values, window or file_window(ds) or auto_window(values))
    if photometric == "MONOCHROME1":
        grey = 255 - grey
    return Image.fromarray(grey, mode="L")


def _to_uint8(rgb: Any, *, bits: int) -> Any:
    if rgb.dtype == np.uint8:
        return rgb
    top = float((1 << bits) - 1) if bits > 8 else 255.0
    return np.clip(rgb.astype(np.float32) * (255.0 / top), 0, 255).astype(np.uint8)


def file_window(ds: Dataset) -> Window | None:
    """The first Window Center/Width of the file, if it has a usable one."""
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if center is None or width is None:
        return None
    first_c = center[0] if hasattr(center, "__getitem__") and not isinstance(center, str) else center
    first_w = width[0] if hasattr(width, "__getitem__") and not isinstance(width, str) else width
    try:
        found = Window(float(first_c), float(first_w))
    except (TypeError, ValueError):
        return None
    return found if found.width > 0 else None


def auto_window(values: Any) -> Window:
    """A window over the bulk of the values (percentiles), so a few outliers do not grey it out."""
    low, high = (float(v) for v in np.percentile(values, AUTO_PERCENTILES))
    if high <= low:
        high = low + 1.0
    return Window((low + high) / 2, high - low)


def _apply_window(values: Any, window: Window) -> Any:
    low = window.center - window.width / 2
    scaled = (values - low) * (255.0 / window.width)
    return np.clip(scaled, 0, 255).astype(np.uint8)


def placeholder_png(label: str, *, size: int) -> bytes:
    """A grey square with `label` written on it, for data sets without a picture."""
    image = Image.new("RGB", (size, size), (48, 52, 60))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, size - 1, size - 1), outline=(110, 118, 130))
    draw.multiline_text((size // 2, size // 2), label, fill=(220, 224, 230), anchor="mm", align="center")
    return _png(image)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    # Level 1: these are small, short-lived pictures; speed matters more than the last bytes.
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()
