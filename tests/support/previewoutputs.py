"""A session with something in OUTPUT to show: a DICOM series, NIfTI files, a file of neither."""

from __future__ import annotations

from pathlib import Path

import pydicom

from magickbox.store import Session, Store
from tests.support import dicomdata, niftidata
from tests.support.sessions import make_session


def session_with_outputs(store: Store, tmp_path: Path) -> tuple[Session, str]:
    """A finished session whose INPUT has one indexed series and whose OUTPUT has another series
    (3 instances, under a sub-folder), two NIfTI files and a text file."""
    session = make_session(store)
    _, given = dicomdata.write_study(tmp_path / "in", 2)
    input_dir = store.layout.input_dir(session.scratchdir)
    for path in given:
        (input_dir / path.name).write_bytes(path.read_bytes())
    store.studies.index_input(session.id, input_dir)
    output = store.layout.output_dir(session.scratchdir)
    (output / "derived").mkdir(parents=True)
    _, made = dicomdata.write_study(tmp_path / "out", 3, series_description="derived")
    for path in made:
        (output / "derived" / path.name).write_bytes(path.read_bytes())
    niftidata.write(output / "brain.nii.gz", niftidata.gradient(), zooms=(1.0, 1.0, 3.0))
    niftidata.write(output / "derived" / "mask.nii", niftidata.gradient())
    (output / "report.txt").write_text("not a picture")
    series = str(pydicom.dcmread(made[0]).SeriesInstanceUID)
    return session, series
