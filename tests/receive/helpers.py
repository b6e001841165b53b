"""Helpers for receiver tests: senders (dcmtk and pynetdicom), the box's sessions and files."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pydicom
from pynetdicom import AE, _config
from pynetdicom.association import Association

from tests.support.box import BoxProcess
from tests.support.dcmtk import storescu

BUCKET_AET = "ProcBucket"


def make_box(box_factory: Any, tmp_path: Path, **kwargs: Any) -> BoxProcess:
    box: BoxProcess = box_factory(data=tmp_path / "data", **kwargs)
    box.add_bucket("bucketProcBucket", {"name": "ProcBucket", "AETitle": BUCKET_AET, "enabled": 1})
    return box


def storescu_seed(box: BoxProcess, folder: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """The seed page's command, literally (no TCP_NODELAY in the environment)."""
    return storescu(box.dicom_port, folder, called=BUCKET_AET, extra_args=extra)


def normalise_like_storescu(folder: Path) -> None:
    """Rewrite files the way storescu sends them (explicit lengths, no group lengths, no padding),
    so "what storescu sent" equals the file's data set bytes."""
    for path in sorted(p for p in folder.rglob("*.dcm") if p.is_file()):
        subprocess.run(["dcmconv", "+e", "-g", "-p", str(path), str(path)], check=True, capture_output=True)


def data_set_bytes(path: Path) -> bytes:
    """The bytes after the File Meta Information of a Part 10 file."""
    raw = path.read_bytes()
    assert raw[128:132] == b"DICM", f"{path} is not a Part 10 file"
    group_length = int.from_bytes(raw[140:144], "little")
    return raw[144 + group_length :]


def sop_uid(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def sessions(box: BoxProcess) -> list[dict[str, Any]]:
    conn = sqlite3.connect(box.data / "magickbox.db")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM sessions ORDER BY id")]
    finally:
        conn.close()


def session_dir(box: BoxProcess, session: dict[str, Any]) -> Path:
    return box.data / "scratch" / str(session["scratchdir"])


def input_files(box: BoxProcess, session: dict[str, Any]) -> dict[str, Path]:
    return {p.stem: p for p in (session_dir(box, session) / "INPUT").iterdir()}


def sealed(box: BoxProcess, session: dict[str, Any]) -> bool:
    """The session was sealed and queued (the scheduler may have taken it further since)."""
    conn = sqlite3.connect(box.data / "magickbox.db")
    try:
        rows = conn.execute("SELECT state FROM session_events WHERE session_id = ?", (session["id"],))
        return "queued" in {r[0] for r in rows} and session["sealed_at"] is not None
    finally:
        conn.close()


def all_settled(box: BoxProcess) -> bool:
    rows = sessions(box)
    return bool(rows) and all(r["state"] != "receiving" for r in rows)


def assert_identical(sent: list[Path], received: dict[str, Path]) -> None:
    """Every sent file arrived as INPUT/<SOPInstanceUID>.dcm with the same data set bytes."""
    expected = {sop_uid(p): p for p in sent}
    assert sorted(received) == sorted(expected)
    for uid, path in expected.items():
        assert data_set_bytes(received[uid]) == data_set_bytes(path), f"{path.name} changed"


def pynetdicom_association(box: BoxProcess, contexts: list[tuple[str, str]]) -> Association:
    """An association from a pynetdicom SCU that sends files' data set bytes unchanged
    (with STORE_SEND_CHUNKED_DATASET, set for these tests by tests/receive/conftest.py)."""
    assert _config.STORE_SEND_CHUNKED_DATASET
    ae = AE(ae_title="PYSCU")
    for sop_class, transfer_syntax in contexts:
        ae.add_requested_context(sop_class, transfer_syntax)
    assoc = ae.associate("127.0.0.1", box.dicom_port, ae_title=BUCKET_AET)
    assert assoc.is_established
    return assoc


def context_of(path: Path) -> tuple[str, str]:
    meta = pydicom.dcmread(path, stop_before_pixels=True).file_meta
    return str(meta.MediaStorageSOPClassUID), str(meta.TransferSyntaxUID)
