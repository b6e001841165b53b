"""Small NIfTI volumes made with nibabel for the preview tests, and a PNG split into its panels."""

from __future__ import annotations

import io
from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image

SHAPE = (40, 30, 20)


def gradient(shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    """x + 2y + 3z plus a bright box, so every plane has structure and no column is all minimum."""
    x, y, z = np.mgrid[0 : shape[0], 0 : shape[1], 0 : shape[2]]
    volume = (100 + x + 2 * y + 3 * z).astype(np.float32)
    volume[10:20, 5:15, 8:12] = 400
    return volume


def write(path: Path, data: np.ndarray, zooms: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> Path:
    """`data` saved as NIfTI-1 (gzipped if the name ends .gz) with voxel sizes `zooms` in mm."""
    affine = np.diag([*zooms, 1.0])
    nib.save(nib.Nifti1Image(data, affine), path)
    return path


def panels(png: bytes) -> list[np.ndarray]:
    """The picture's panels: runs of columns that are not all black (the gaps between are)."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    used = (pixels > 0).any(axis=0)
    found: list[np.ndarray] = []
    start = None
    for column, on in enumerate([*used, False]):
        if on and start is None:
            start = column
        elif not on and start is not None:
            block = pixels[:, start:column]
            rows = np.flatnonzero((block > 0).any(axis=1))
            found.append(block[rows[0] : rows[-1] + 1])
            start = None
    return found
