"""End to end with real peers: dcmtk storescu -> box (receiver, session, scheduler) -> ProcCopy -> OUTPUT."""

from __future__ import annotations

from pathlib import Path

import pydicom

from magickbox.config import load_settings
from magickbox.store import Store
from tests.support.box import BoxProcess
from tests.support.dcmtk import storescu
from tests.support.dicomdata import EXPLICIT_LE, write_study
from tests.support.net import wait_until

TRAILING_PADDING = 0xFFFCFFFC


def _by_sop_uid(folder: Path) -> dict[str, pydicom.Dataset]:
    found = {}
    for path in (p for p in folder.rglob("*") if p.is_file()):
        ds = pydicom.dcmread(path)
        # Trailing padding is not part of the data set; storescu does not send it.
        ds.pop(TRAILING_PADDING, None)
        found[str(ds.SOPInstanceUID)] = ds
    return found


def test_storescu_study_goes_through_proccopy(tmp_path: Path, box_factory: type[BoxProcess]) -> None:
    data = tmp_path / "data"
    box = box_factory(data=data).start()  # an empty data folder: the shipped buckets get installed
    study_uid, _ = write_study(tmp_path / "send", 5, source=EXPLICIT_LE)
    storescu(box.dicom_port, tmp_path / "send", check=True, timeout=60)
    store = Store(load_settings(data=str(data)))
    try:
        wait_until(
            lambda: any(s.state == "finished" and s.study_uid == study_uid for s in store.sessions.all()),
            timeout=60,
            what="the ProcCopy session finished",
        )
        session = next(s for s in store.sessions.all() if s.study_uid == study_uid)
        assert session.bucket == "ProcCopy" and session.calling_aet == "MySelf"
        sent = _by_sop_uid(tmp_path / "send")
        received = _by_sop_uid(store.layout.output_dir(session.scratchdir))
        assert sent.keys() == received.keys()
        for uid, original in sent.items():
            assert received[uid] == original, f"data set {uid} changed on its way through the box"
        proc = store.layout.proc_path(session.scratchdir).read_text()
        assert '"success": "success"' in proc
        assert session.started_at is not None and session.ended_at is not None
    finally:
        store.db.close()
