"""A study sent with the seed's storescu line, then again by a sender that keeps each file's own
encoding (a PACS resend, another sender) within the settle window: each instance is stored once.

storescu re-encodes what it sends (implicit VR becomes explicit, sequence lengths, trailing
padding), so the resend's bytes differ from what is stored while its data set is the same. A
different data set under the same SOP Instance UID is still kept as a second version.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE

from magickbox.config import load_settings
from magickbox.store import Store
from magickbox.store.sessions import Session
from tests.support.box import BoxProcess
from tests.support.dicomdata import EXPLICIT_LE, IMPLICIT_LE, RLE, RT_PLAN, load
from tests.support.net import wait_until

SETTLE_S = 10.0  # long enough for the second sender to join the first one's session
TRAILING_PADDING = 0xFFFCFFFC
# 65 instances of one study, as the issue saw it: a CT series plus implicit VR files (which
# storescu converts to explicit VR), nested sequences and an encapsulated (RLE) series.
MIX = ((EXPLICIT_LE, 56), (IMPLICIT_LE, 4), (RT_PLAN, 3), (RLE, 2))


def write_folder(folder: Path) -> tuple[str, list[Path]]:
    """The study's files, each in its source's own transfer syntax, with fresh UIDs."""
    folder.mkdir()
    study_uid, files = generate_uid(), []
    for source, count in MIX:
        series_uid = generate_uid()
        for number in range(count):
            ds = load(source)
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.PatientName, ds.PatientID = "Resend^Test", "RESEND1"
            ds.InstanceNumber = number + 1
            path = folder / f"{source.removesuffix('.dcm')}-{number:03d}.dcm"
            ds.save_as(path, enforce_file_format=True)  # keeps the source's transfer syntax
            files.append(path)
    return study_uid, files


def send_as_encoded(box: BoxProcess, files: list[Path]) -> None:
    """Send `files` with pynetdicom, each in its own transfer syntax, bytes unchanged."""
    ae = AE(ae_title="MySelf")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 120  # a loaded 2-core test machine
    contexts = set()
    for path in files:
        meta = pydicom.dcmread(path, stop_before_pixels=True).file_meta
        contexts.add((str(meta.MediaStorageSOPClassUID), str(meta.TransferSyntaxUID)))
    for sop_class, syntax in sorted(contexts):
        ae.add_requested_context(sop_class, [syntax])
    assoc = ae.associate("127.0.0.1", box.dicom_port, ae_title="ProcCopy")
    assert assoc.is_established
    try:
        for path in files:
            status = assoc.send_c_store(path)  # a path: its data set is sent as it is encoded
            assert status and status.Status == 0, f"{path.name}: {status}\n{box.server_log()}"
    finally:
        assoc.release()


def data_set(path: Path) -> Dataset:
    ds = pydicom.dcmread(path)
    ds.pop(TRAILING_PADDING, None)
    return ds


def sealed_session(store: Store, study_uid: str) -> Session:
    def sealed() -> bool:
        found = [s for s in store.sessions.all() if s.study_uid == study_uid]
        return len(found) == 1 and found[0].state not in ("receiving",)

    wait_until(sealed, timeout=90, what="the study's session sealed")
    (session,) = [s for s in store.sessions.all() if s.study_uid == study_uid]
    return session


def test_a_storescu_send_then_a_resend_in_its_own_encoding_stores_each_instance_once(
    tmp_path: Path, box_factory: type[BoxProcess]
) -> None:
    data = tmp_path / "data"
    box = box_factory(data=data, settle_s=SETTLE_S).start()
    study_uid, files = write_folder(tmp_path / "send")
    changed = data_set(files[0])
    changed.ImageComments = "changed after the first send"  # same UID, another data set
    changed_path = tmp_path / "changed.dcm"
    changed.save_as(changed_path, enforce_file_format=True)

    box.storescu(tmp_path / "send")
    send_as_encoded(box, [*files, changed_path])

    store = Store(load_settings(data=str(data)))
    try:
        session = sealed_session(store, study_uid)
        stored = sorted(store.layout.input_dir(session.scratchdir).glob("*.dcm"))
        log = store.layout.log_path(session.scratchdir).read_text()
    finally:
        store.db.close()
    sent = {str(data_set(path).SOPInstanceUID): path for path in files}
    names = {path.name for path in stored}
    first = files[0]
    uid = str(data_set(first).SOPInstanceUID)
    assert names == {f"{u}.dcm" for u in sent} | {f"{uid}.2.dcm"}, "an instance stored twice, or one missing"
    for path in stored:
        if path.name != f"{uid}.2.dcm":
            original = data_set(sent[path.name.removesuffix(".dcm")])
            assert data_set(path) == original, f"{path.name} is not what was sent"
    assert (
        data_set(next(p for p in stored if p.name == f"{uid}.2.dcm")).ImageComments == changed.ImageComments
    )
    assert "arrived again with the same data set" in log
    assert f"INPUT/{uid}.2.dcm" in log
