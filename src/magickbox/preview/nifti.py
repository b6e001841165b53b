"""One NIfTI volume to one PNG: the middle axial, coronal and sagittal slices side by side.

The volume is turned to the closest RAS orientation first (so "axial" is axial whatever order
the file stores its axes in), a 4-D file shows its middle volume, and each panel is scaled by
its voxel spacing, so a volume of 1 x 1 x 3 mm voxels is not drawn squashed. One window (the
0.5th to 99.5th percentile of the three slices) serves all panels, so they are comparable.
A file that cannot be read becomes a labelled placeholder, never an exception.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from magickbox.dicom.bounded import DecodeLimits, TooLarge
from magickbox.preview.render import (
    DEFAULT_LIMITS,
    _apply_window,
    _png,
    auto_window,
    picture_or_placeholder,
)

log = logging.getLogger(__name__)

SUFFIXES = (".nii", ".nii.gz")
GAP = 0.02  # black space between panels, as a share of the picture's width


def is_nifti(name: str) -> bool:
    """Whether a file name has a NIfTI suffix (`.nii`, `.nii.gz`, any case)."""
    return name.lower().endswith(SUFFIXES)


def render_nifti_png(path: Path, *, size: int, limits: DecodeLimits = DEFAULT_LIMITS) -> bytes:
    """Three planes of the volume in `path` as PNG, its longer side `size` pixels; a placeholder
    when the header declares a volume beyond `limits` (checked before any voxel is read)."""

    def draw() -> bytes:
        return _png(_side_by_side(_planes(path, limits), size))

    return picture_or_placeholder(path, size, draw, "NIfTI")


Plane = tuple[Any, float, float]  # grey pixels (rows top-down), column and row spacing in mm


def check_volume(image: Any, path: Path, limits: DecodeLimits) -> None:
    """Refuse (TooLarge) a volume whose header declares more than `limits`: the voxels of the
    volume shown (as float32), and for a gzipped file the bytes inflated to reach it."""
    shape = tuple(int(n) for n in image.shape)
    volume = math.prod(shape[:3])
    if volume * 4 > limits.max_bytes or max(shape[:3], default=0) ** 2 > limits.max_pixels:
        raise TooLarge(f"a volume of {' x '.join(map(str, shape[:3]))} voxels")
    if path.name.lower().endswith(".gz"):  # reaching the middle volume inflates all before it
        before = math.prod(n // 2 for n in shape[3:]) if len(shape) > 3 else 0
        itemsize = np.dtype(image.header.get_data_dtype()).itemsize
        if (before + 1) * volume * itemsize > limits.max_bytes:
            raise TooLarge(f"{shape} voxels of {itemsize} bytes to inflate")


def _planes(path: Path, limits: DecodeLimits) -> list[Plane]:
    import nibabel as nib  # imported on first use: the box starts without it loaded

    image: Any = nib.load(path)  # reads the header only; the voxels wait until asked for
    check_volume(image, path, limits)
    if len(image.shape) > 3:  # a time series (or more): its middle volume
        middle = tuple(n // 2 for n in image.shape[3:])
        image = image.slicer[(slice(None),) * 3 + middle]
    if len(image.shape) != 3 or min(image.shape) < 1:
        raise ValueError(f"shape {image.shape} is not a volume")
    image = nib.as_closest_canonical(image)  # type: ignore[no-untyped-call]  # nibabel has no hints here
    data = np.asarray(image.get_fdata(dtype=np.float32))
    dx, dy, dz = (abs(float(z)) or 1.0 for z in image.header.get_zooms()[:3])
    i, j, k = (n // 2 for n in data.shape)
    # RAS+: anterior or superior at the top of each panel; the patient's right on the right of
    # the picture (the neurological convention, as FSL and nibabel's own viewers draw it).
    slices = (
        (data[:, :, k].T[::-1], dx, dy),  # axial: x across, y (anterior) up
        (data[:, j, :].T[::-1], dx, dz),  # coronal: x across, z (superior) up
        (data[i, :, :].T[::-1], dy, dz),  # sagittal: y across, z up
    )
    values = np.concatenate([np.nan_to_num(s[0]).ravel() for s in slices])
    window = auto_window(values)
    return [(_apply_window(np.nan_to_num(pixels), window), cols, rows) for pixels, cols, rows in slices]


def _side_by_side(planes: list[Plane], size: int) -> Image.Image:
    """The panels at one scale (pixels per mm), centred in height, fitted into `size`."""
    widths = [p.shape[1] * cols for p, cols, _ in planes]
    heights = [p.shape[0] * rows for p, _, rows in planes]
    gap = GAP * sum(widths)
    scale = size / max(sum(widths) + gap * (len(planes) - 1), max(heights))
    height = max(1, round(max(heights) * scale))
    canvas = Image.new("L", (max(1, round((sum(widths) + gap * (len(planes) - 1)) * scale)), height))
    x = 0.0
    for (pixels, _, _), width, panel_height in zip(planes, widths, heights, strict=True):
        target = (max(1, round(width * scale)), max(1, round(panel_height * scale)))
        panel = Image.fromarray(np.ascontiguousarray(pixels), mode="L")
        panel = panel.resize(target, Image.Resampling.BILINEAR)
        canvas.paste(panel, (round(x), (height - target[1]) // 2))
        x += width * scale + gap * scale
    return canvas
