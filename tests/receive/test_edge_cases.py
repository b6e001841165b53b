"""Receiver edge cases driven by a pynetdicom SCU, which sends a file's data set bytes unchanged
(so every transfer syntax can be checked bit for bit), can abort, and can send broken data."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.uid import generate_uid

from tests.receive.helpers import (
    all_settled,
    assert_identical,
    context_of,
    input_files,
    make_box,
    pynetdicom_association,
    sealed,
    session_dir,
    sessions,
)
from tests.support import dicomdata
from tests.support.net import wait_until

ALL_SYNTAXES = [
    dicomdata.EXPLICIT_LE,
    dicomdata.IMPLICIT_LE,
    dicomdata.BIG_ENDIAN,
    dicomdata.DEFLATED,
    dicomdata.JPEG_BASELINE,
    dicomdata.JPEG_EXTENDED,
    dicomdata.JPEG_LS,
    dicomdata.JPEG_2000,
    dicomdata.RLE,
    dicomdata.RT_PLAN,
]


def send_files(box: Any, files: list[Path], release: bool = True) -> list[int]:
    assoc = pynetdicom_association(box, sorted({context_of(p) for p in files}))
    statuses = [int(assoc.send_c_store(p).Status) for p in files]
    if release:
        assoc.release()
    return statuses


def test_every_transfer_syntax_is_stored_bit_for_bit(box_factory: Any, tmp_path: Path) -> None:
    box = make_box(box_factory, tmp_path).start()
    study_uid = generate_uid()
    files: list[Path] = []
    for name in ALL_SYNTAXES:
        files += dicomdata.write_study(tmp_path / name, 1, source=name, study_uid=study_uid)[1]

    assert send_files(box, files) == [0] * len(files)

    wait_until(lambda: all_settled(box), timeout=20, what="the session to be sealed")
    [session] = sessions(box)
    received = input_files(box, session)
    assert_identical(files, received)
    for path in files:
        sent_meta = pydicom.dcmread(path, stop_before_pixels=True).file_meta
        got = pydicom.dcmread(received[sent_meta.MediaStorageSOPInstanceUID], stop_before_pixels=True)
        assert got.file_meta.TransferSyntaxUID == sent_meta.TransferSyntaxUID
        assert got.file_meta.MediaStorageSOPClassUID == sent_meta.MediaStorageSOPClassUID


def test_abort_leaves_the_session_incomplete_and_nothing_partial(box_factory: Any, tmp_path: Path) -> None:
    box = make_box(box_factory, tmp_path).start()
    _, files = dicomdata.write_study(tmp_path / "send", 3)
    assoc = pynetdicom_association(box, [context_of(files[0])])
    assert int(assoc.send_c_store(files[0]).Status) == 0

    assoc.abort()

    wait_until(lambda: all_settled(box), timeout=20, what="the session to leave receiving")
    [session] = sessions(box)
    assert session["state"] == "incomplete"
    assert "abort" in session["reason"]
    assert not (session_dir(box, session) / ".incoming").exists()
    # A resend of the study makes a new session.
    assert send_files(box, files) == [0, 0, 0]
    wait_until(lambda: len(sessions(box)) == 2 and all_settled(box), timeout=20, what="a new session")
    first, second = sessions(box)
    assert first["state"] == "incomplete" and sealed(box, second)


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")  # the bad UID is the point
def test_missing_or_unsafe_sop_instance_uid_is_refused(box_factory: Any, tmp_path: Path) -> None:
    box = make_box(box_factory, tmp_path).start()
    _, [missing, unsafe, good] = dicomdata.write_study(tmp_path / "send", 3)
    ds = pydicom.dcmread(missing)
    del ds.SOPInstanceUID
    ds.save_as(missing)  # the file meta still names a valid UID; the data set has none
    ds = pydicom.dcmread(unsafe)
    ds.SOPInstanceUID = "../../../etc/evil"
    ds.save_as(unsafe)

    statuses = send_files(box, [missing, unsafe, good])

    assert statuses[0] == statuses[1] == 0xC000
    assert statuses[2] == 0
    wait_until(lambda: all_settled(box), timeout=20, what="the session to be sealed")
    [session] = sessions(box)
    assert list(input_files(box, session)) == [pydicom.dcmread(good).SOPInstanceUID]
    assert not list(box.data.rglob("evil*"))


def test_repeated_sop_instance_uid_identical_is_stored_once_different_is_kept_too(
    box_factory: Any, tmp_path: Path
) -> None:
    box = make_box(box_factory, tmp_path).start()
    _, [first] = dicomdata.write_study(tmp_path / "a", 1, series_description="first")
    ds = pydicom.dcmread(first)
    ds.SeriesDescription = "second"
    later = tmp_path / "later.dcm"
    ds.save_as(later)
    uid = str(ds.SOPInstanceUID)

    assert send_files(box, [first, first, later, later]) == [0, 0, 0, 0]

    wait_until(lambda: all_settled(box), timeout=20, what="the session to be sealed")
    [session] = sessions(box)
    stored = input_files(box, session)
    assert sorted(stored) == [uid, f"{uid}.2"]  # one file per distinct data set, none overwritten
    assert pydicom.dcmread(stored[uid]).SeriesDescription == "first"
    assert pydicom.dcmread(stored[f"{uid}.2"]).SeriesDescription == "second"
    assert session["instances"] == 2
    folder = session_dir(box, session)
    assert f"{uid} arrived again with different contents" in (folder / "processing.log").read_text()
    info = json.loads((folder / "info.json").read_text())
    assert info["DuplicateSOPInstanceUIDs"] == [{"SOPInstanceUID": uid, "file": f"INPUT/{uid}.2.dcm"}]


def test_instance_without_study_uid_gets_a_session_of_its_association(
    box_factory: Any, tmp_path: Path
) -> None:
    box = make_box(box_factory, tmp_path).start()
    _, files = dicomdata.write_study(tmp_path / "send", 2)
    for path in files:
        ds = pydicom.dcmread(path)
        del ds.StudyInstanceUID
        ds.save_as(path)

    assert send_files(box, files) == [0, 0]

    wait_until(lambda: all_settled(box), timeout=20, what="the session to be sealed")
    [session] = sessions(box)
    assert session["study_uid"] is None
    assert session["pid"].startswith("scp_") and len(session["pid"]) > 4
    assert len(input_files(box, session)) == 2


def test_kill_during_transfer_then_restart_recovers(box_factory: Any, tmp_path: Path) -> None:
    box = make_box(box_factory, tmp_path).start()
    _, files = dicomdata.write_study(tmp_path / "send", 3)
    assoc = pynetdicom_association(box, [context_of(files[0])])
    assert int(assoc.send_c_store(files[0]).Status) == 0

    box.stop(signal.SIGKILL)
    assoc.abort()
    box.start()

    [session] = sessions(box)
    assert session["state"] == "incomplete"
    assert session["instances"] == 1  # recounted from INPUT/: counts reach SQLite in batches
    assert not list(box.data.rglob("*.part"))
    assert send_files(box, files) == [0, 0, 0]  # the box accepts new sends
    wait_until(lambda: len(sessions(box)) == 2 and all_settled(box), timeout=20, what="a new session")
    assert len(input_files(box, sessions(box)[1])) == 3


@pytest.mark.parametrize("settle_s", [60.0])
def test_kill_inside_the_settle_window_then_restart_queues_the_session(
    box_factory: Any, tmp_path: Path, settle_s: float
) -> None:
    box = make_box(box_factory, tmp_path, settle_s=settle_s).start()
    _, files = dicomdata.write_study(tmp_path / "send", 3)
    assert send_files(box, files) == [0, 0, 0]
    wait_until(lambda: sessions(box)[0]["settle_until"] is not None, timeout=10, what="settling")
    assert sessions(box)[0]["state"] == "receiving"

    box.stop(signal.SIGKILL)
    box.start()

    wait_until(lambda: all_settled(box), timeout=20, what="the session to be sealed")
    [session] = sessions(box)
    assert sealed(box, session)
    assert_identical(files, input_files(box, session))


@pytest.mark.parametrize("settle_s", [60.0])
def test_a_release_is_durable_before_the_sender_gets_the_release_response(
    box_factory: Any, tmp_path: Path, settle_s: float
) -> None:
    """Once the sender's release completed, the send is in the store: a kill at that very
    moment leaves a settling session with every instance counted, and a restart queues it."""
    box = make_box(box_factory, tmp_path, settle_s=settle_s).start()
    _, files = dicomdata.write_study(tmp_path / "send", 4)

    assert send_files(box, files) == [0, 0, 0, 0]  # returns once the A-RELEASE-RP arrived
    [at_release] = sessions(box)  # read at once, before the box's handler thread ends
    box.stop(signal.SIGKILL)

    assert at_release["state"] == "receiving" and at_release["open_associations"] == 0
    assert at_release["settle_until"] is not None
    assert at_release["instances"] == 4
    box.start()
    wait_until(lambda: all_settled(box), timeout=20, what="the session to be sealed")
    [session] = sessions(box)
    assert sealed(box, session)
    assert session["instances"] == 4
    assert_identical(files, input_files(box, session))


def test_stop_aborts_open_associations_and_marks_their_sessions_incomplete(
    box_factory: Any, tmp_path: Path
) -> None:
    box = make_box(box_factory, tmp_path).start()
    _, files = dicomdata.write_study(tmp_path / "send", 2)
    assoc = pynetdicom_association(box, [context_of(files[0])])
    assert int(assoc.send_c_store(files[0]).Status) == 0

    assert box.stop(signal.SIGTERM) == 0

    assert not assoc.is_established
    [session] = sessions(box)
    assert session["state"] == "incomplete"
    assert not list(box.data.rglob("*.part"))
