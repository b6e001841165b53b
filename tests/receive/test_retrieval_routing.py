"""The receiver and retrievals: instances a PACS moves to the box's own AE title go to the
session of the study being retrieved; anything else sent there is refused."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from magickbox.config import load_settings
from magickbox.dicom.qr import FoundStudy, Progress
from magickbox.store import NewRetrieval, SessionKey, Store
from tests.receive.helpers import assert_identical, input_files, make_box, normalise_like_storescu, sessions
from tests.support import dcmtk, dicomdata


def storescu(box: Any, folder: Path, calling: str) -> subprocess.CompletedProcess[str]:
    """Verbose (the refusal's status is in stderr), without -nh: storescu fails on a refused store."""
    return dcmtk.storescu(
        box.dicom_port, folder, calling=calling, called=box.ae_title, options=("+sd", "+r"),
        extra_args=["-v"], timeout=60,
    )  # fmt: skip


def test_own_ae_title_takes_only_the_studies_being_retrieved(box_factory: Any, tmp_path: Path) -> None:
    box = make_box(box_factory, tmp_path, stages="receive,http").start()
    wanted_uid, wanted = dicomdata.write_study(tmp_path / "wanted", 2)
    dicomdata.write_study(tmp_path / "other", 1)
    normalise_like_storescu(tmp_path / "wanted")

    refused = storescu(box, tmp_path / "wanted", "ORTHANC")  # no retrieval yet: C-ECHO only
    assert refused.returncode != 0 and sessions(box) == []

    store = Store(load_settings(data=str(box.data)))
    with store.connection():
        retrieval_id = store.retrievals.create(
            NewRetrieval("PACS", "bucketProcBucket", "move", box.ae_title, "study_uid", [wanted_uid])
        )
        [(item_id, _key)] = store.retrievals.pending_keys(retrieval_id)
        store.retrievals.record_found(item_id, [FoundStudy(wanted_uid)])
        [study] = store.retrievals.studies_to_fetch(retrieval_id)
        key = SessionKey("ORTHANC", "ProcBucket", "127.0.0.1", wanted_uid, f"retrieval-{retrieval_id}")
        session_id = store.retrievals.begin_study(study, key, "bucketProcBucket", "scp_" + wanted_uid)

        other = storescu(box, tmp_path / "other", "ORTHANC")
        assert "Status: 0x124" in other.stderr  # refused: not authorized
        stranger = storescu(box, tmp_path / "wanted", "SOMEONE")
        assert "Status: 0x124" in stranger.stderr
        moved = storescu(box, tmp_path / "wanted", "ORTHANC")
        assert moved.returncode == 0, moved.stderr

        [session] = sessions(box)
        assert session["id"] == session_id and session["state"] == "receiving"  # the retrieval's hold
        assert_identical(wanted, input_files(box, session))
        store.retrievals.finish_study(
            type(study)(**{**vars(study), "session_id": session_id}),
            Progress(completed=2, status=0),
            cancelled=False,
        )
    [session] = sessions(box)
    assert session["state"] in ("queued", "running", "finished", "failed") and session["instances"] == 2
