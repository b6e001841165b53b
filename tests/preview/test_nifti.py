"""NIfTI volumes to three-plane pictures: planes side by side, spacing respected, the middle
volume of a time series, a placeholder for a file that is not NIfTI."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from magickbox.preview.nifti import is_nifti, render_nifti_png
from tests.support import niftidata


def test_three_different_planes_side_by_side(tmp_path: Path) -> None:
    png = render_nifti_png(niftidata.write(tmp_path / "v.nii.gz", niftidata.gradient()), size=300)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.width == 300 and image.height < image.width
    axial, coronal, sagittal = niftidata.panels(png)
    for one, other in ((axial, coronal), (coronal, sagittal), (axial, sagittal)):
        assert one.shape != other.shape or not np.array_equal(one, other), "each panel is its own plane"
    for panel in (axial, coronal, sagittal):
        assert panel.std() > 10, "a plane whose pixels vary"
    # 40 x 30 x 20 voxels of 1 mm: axial 40 x 30 mm, coronal 40 x 20, sagittal 30 x 20.
    assert abs(axial.shape[1] / axial.shape[0] - 40 / 30) < 0.1
    assert abs(sagittal.shape[1] / sagittal.shape[0] - 30 / 20) < 0.1


def test_voxel_spacing_keeps_planes_unsquashed(tmp_path: Path) -> None:
    thick = niftidata.write(tmp_path / "thick.nii", niftidata.gradient(), zooms=(1.0, 1.0, 3.0))
    axial, coronal, sagittal = niftidata.panels(render_nifti_png(thick, size=400))
    # 3 mm slices: the coronal plane is 40 mm wide and 60 mm high, not 40 x 20.
    assert abs(coronal.shape[0] / coronal.shape[1] - 60 / 40) < 0.1
    assert abs(sagittal.shape[0] / sagittal.shape[1] - 60 / 30) < 0.1
    assert abs(coronal.shape[0] / axial.shape[0] - 60 / 30) < 0.1, "one scale for all panels"


def test_a_time_series_shows_its_middle_volume(tmp_path: Path) -> None:
    series = np.full((*niftidata.SHAPE, 5), 50.0, dtype=np.float32)
    series[..., 2] = niftidata.gradient()  # only the middle volume has structure
    png = render_nifti_png(niftidata.write(tmp_path / "bold.nii.gz", series), size=300)
    shown = niftidata.panels(png)
    assert len(shown) == 3 and all(p.std() > 10 for p in shown)


def test_a_broken_file_is_a_labelled_placeholder(tmp_path: Path) -> None:
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"not a volume at all" * 20)
    truncated = tmp_path / "truncated.nii"
    truncated.write_bytes(niftidata.write(tmp_path / "whole.nii", niftidata.gradient()).read_bytes()[:600])
    for path in (broken, truncated):
        image = Image.open(io.BytesIO(render_nifti_png(path, size=200)))
        assert image.size == (200, 200) and np.asarray(image).std() > 1, "a square with a label on it"


def test_nifti_names() -> None:
    assert is_nifti("a.nii") and is_nifti("sub/b.NII.GZ")
    assert not is_nifti("a.nii.bak") and not is_nifti("a.gz") and not is_nifti("nii")
