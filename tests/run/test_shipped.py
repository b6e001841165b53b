"""The shipped buckets, installed into an empty data folder and run on real DICOM files."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import nibabel
import pydicom
import pytest

from magickbox.run.scheduler import Scheduler
from magickbox.run.shipped import MARKER, install_shipped, shipped_names
from magickbox.store import Store, load_catalog
from tests.run.conftest import new_session, wait_state
from tests.support.dicomdata import MR_EXPLICIT_LE, write_study


@pytest.fixture
def shipped(run_store: Store, streams: Path) -> Path:
    (streams / MARKER).unlink()
    assert install_shipped(streams) == ["ProcAnon", "ProcCopy", "ProcNifti"]
    return streams


def test_install_only_into_an_empty_streams_folder(tmp_path: Path) -> None:
    streams = tmp_path / "streams"
    assert install_shipped(streams) == shipped_names()
    catalog = load_catalog(streams)
    assert not catalog.invalid
    assert {b.info.AETitle for b in catalog.valid if b.info.enabled} == {"ProcCopy", "ProcAnon", "ProcNifti"}
    assert install_shipped(streams) == [], "never twice"
    for name in shipped_names():
        (streams / name / "info.json").unlink()
        (streams / name).joinpath("memory").rmdir()
    other = tmp_path / "other"
    (other / "Mine").mkdir(parents=True)
    assert install_shipped(other) == [], "a folder with a bucket is left alone"


def test_proccopy_copies_input_to_output(
    run_store: Store, shipped: Path, start_scheduler: Callable[..., Scheduler]
) -> None:
    session = new_session(run_store, "ProcCopy", count=3)
    start_scheduler()
    wait_state(run_store, session, "finished")
    source = run_store.layout.input_dir(session.scratchdir)
    target = run_store.layout.output_dir(session.scratchdir)
    assert sorted(p.name for p in target.iterdir()) == sorted(p.name for p in source.iterdir())
    for path in source.iterdir():
        assert (target / path.name).read_bytes() == path.read_bytes()


def test_procanon_removes_identity_and_maps_uids(
    run_store: Store, shipped: Path, start_scheduler: Callable[..., Scheduler]
) -> None:
    session = new_session(run_store, "ProcAnon", count=3)
    start_scheduler()
    wait_state(run_store, session, "finished")
    originals = [pydicom.dcmread(p) for p in sorted(run_store.layout.input_dir(session.scratchdir).iterdir())]
    outputs = [pydicom.dcmread(p) for p in sorted(run_store.layout.output_dir(session.scratchdir).iterdir())]
    assert len(outputs) == 3
    original_uids = {o.SOPInstanceUID for o in originals} | {originals[0].StudyInstanceUID}
    for ds in outputs:
        assert ds.PatientName != originals[0].PatientName
        assert ds.PatientID != originals[0].PatientID
        assert ds.SOPInstanceUID not in original_uids and ds.StudyInstanceUID not in original_uids
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert "DICOGNITO" in str(ds.DeidentificationMethod)
        ds.pixel_array  # noqa: B018 - the image data survives
    assert len({ds.StudyInstanceUID for ds in outputs}) == 1, "one study stays one study"
    for path in run_store.layout.output_dir(session.scratchdir).iterdir():
        dumped = subprocess.run(["dcmdump", "-q", str(path)], capture_output=True, text=True, check=False)
        assert dumped.returncode == 0 and "PatientName" in dumped.stdout, "dcmtk reads it as DICOM"
    assert len({ds.SOPInstanceUID for ds in outputs}) == 3


def test_procanon_maps_the_same_uid_the_same_way_across_sessions(
    run_store: Store, shipped: Path, start_scheduler: Callable[..., Scheduler]
) -> None:
    first = new_session(run_store, "ProcAnon", count=1)
    second = new_session(run_store, "ProcAnon", count=0)
    for path in run_store.layout.input_dir(first.scratchdir).iterdir():
        (run_store.layout.input_dir(second.scratchdir) / path.name).write_bytes(path.read_bytes())
    start_scheduler()
    wait_state(run_store, first, "finished")
    wait_state(run_store, second, "finished")
    names = [
        sorted(p.name for p in run_store.layout.output_dir(s.scratchdir).iterdir()) for s in (first, second)
    ]
    assert names[0] == names[1]


def test_procnifti_writes_nifti_and_sidecar(
    run_store: Store, shipped: Path, start_scheduler: Callable[..., Scheduler]
) -> None:
    session = new_session(run_store, "ProcNifti", count=0)
    _, files = write_study(run_store.layout.input_dir(session.scratchdir), 4, source=MR_EXPLICIT_LE)
    for index, path in enumerate(files):  # a real stack: one slice position per instance
        ds = pydicom.dcmread(path)
        ds.ImagePositionPatient = [0.0, 0.0, float(index) * 5]
        ds.SliceLocation = float(index) * 5
        ds.save_as(path)
    start_scheduler()
    wait_state(run_store, session, "finished")
    target = run_store.layout.output_dir(session.scratchdir)
    images = list(target.glob("*.nii.gz"))
    assert len(images) == 1
    image = nibabel.load(images[0])
    assert image.shape[:3] == (64, 64, 4)
    sidecar = json.loads(images[0].with_name(images[0].name.replace(".nii.gz", ".json")).read_text())
    assert sidecar["Modality"] == "MR"
