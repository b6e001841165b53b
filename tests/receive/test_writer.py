"""The instance writer in-process: fragments in, `INPUT/<uid>.dcm` out, nothing partial left."""

from __future__ import annotations

import os
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.filewriter import dcmwrite

from magickbox.dicom import status
from magickbox.receive import writer as writer_module
from magickbox.receive.tracker import AssociationTracker, Peer
from magickbox.receive.writer import InstanceWriter
from magickbox.store import Store, load_bucket
from tests.support import dicomdata


def make_tracker(store: Store) -> AssociationTracker:
    folder = store.settings.streams_dir / "bucketProcBucket"
    folder.mkdir(parents=True)
    (folder / "info.json").write_text('{"name": "P", "AETitle": "ProcBucket", "enabled": 1}')
    return AssociationTracker(
        store, Peer("MySelf", "ProcBucket", "127.0.0.1", 1234), load_bucket(folder), 0.0
    )


def data_set_of(name: str) -> tuple[bytes, pydicom.Dataset]:
    ds = dicomdata.load(name)
    buffer = BytesIO()
    dcmwrite(buffer, ds, enforce_file_format=True)
    raw = buffer.getvalue()
    return raw[144 + int.from_bytes(raw[140:144], "little") :], ds


def feed_in_pieces(writer: InstanceWriter, data: bytes, size: int = 1000) -> None:
    for start in range(0, len(data), size):
        writer.feed(memoryview(data)[start : start + size])


@pytest.mark.parametrize("piece", [1000, 1 << 30], ids=["header over several fragments", "one fragment"])
@pytest.mark.parametrize("spill_after", [writer_module.SPILL_AFTER, 100])
def test_fragments_become_one_part10_file_in_input(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spill_after: int, piece: int
) -> None:
    monkeypatch.setattr(writer_module, "SPILL_AFTER", spill_after)  # 100: the header is "late"
    monkeypatch.setattr(writer_module, "FIRST_SCAN_AT", 64)
    tracker = make_tracker(store)
    data, ds = data_set_of(dicomdata.EXPLICIT_LE)
    writer = InstanceWriter(tracker, str(ds.file_meta.TransferSyntaxUID), ds.SOPClassUID, tmp_path / "spill")

    feed_in_pieces(writer, data, piece)
    outcome = writer.finish()
    tracker.end(released=True, reason="")

    assert outcome.status == status.SUCCESS
    [session] = store.sessions.all()
    assert session.state == "queued" and session.instances == 1
    stored = store.layout.input_dir(session.scratchdir) / f"{ds.SOPInstanceUID}.dcm"
    raw = stored.read_bytes()
    assert raw[144 + int.from_bytes(raw[140:144], "little") :] == data
    assert pydicom.dcmread(stored).file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert not list(tmp_path.rglob("*.part")) and not list(store.settings.data.rglob("*.part"))


class ShortWrites:
    """The os module as the writer sees it, except that a write takes at most 700 bytes (what
    a file system may do; a disk that fills up takes fewer and fewer)."""

    LIMIT = 700

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def write(self, fd: int, data: bytes) -> int:
        return os.write(fd, memoryview(data)[: self.LIMIT])

    def writev(self, fd: int, buffers: Sequence[bytes]) -> int:
        return os.write(fd, memoryview(b"".join(buffers))[: self.LIMIT])


@pytest.mark.parametrize("piece", [1000, 1 << 30], ids=["several fragments", "one fragment"])
def test_short_writes_still_store_every_byte_in_order(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, piece: int
) -> None:
    monkeypatch.setattr(writer_module, "os", ShortWrites())
    tracker = make_tracker(store)
    data, ds = data_set_of(dicomdata.EXPLICIT_LE)
    writer = InstanceWriter(tracker, str(ds.file_meta.TransferSyntaxUID), ds.SOPClassUID, tmp_path / "spill")

    feed_in_pieces(writer, data, piece)
    assert writer.finish().status == status.SUCCESS

    [stored] = store.settings.scratch_dir.rglob(f"{ds.SOPInstanceUID}.dcm")
    raw = stored.read_bytes()
    assert raw[144 + int.from_bytes(raw[140:144], "little") :] == data


def test_deflated_data_set_is_scanned_and_stored_unchanged(store: Store, tmp_path: Path) -> None:
    tracker = make_tracker(store)
    data, ds = data_set_of(dicomdata.DEFLATED)
    writer = InstanceWriter(tracker, str(ds.file_meta.TransferSyntaxUID), ds.SOPClassUID, tmp_path / "spill")

    feed_in_pieces(writer, data, size=500)
    outcome = writer.finish()

    assert outcome.status == status.SUCCESS
    assert outcome.sop_instance_uid == ds.SOPInstanceUID


def test_garbage_is_refused_and_leaves_nothing(store: Store, tmp_path: Path) -> None:
    tracker = make_tracker(store)
    writer = InstanceWriter(tracker, "1.2.840.10008.1.2.1", "1.2.3", tmp_path / "spill")

    feed_in_pieces(writer, b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 100" * 3)
    outcome = writer.finish()

    assert outcome.status == status.CANNOT_UNDERSTAND
    assert store.sessions.all() == []
    assert not list(store.settings.data.rglob("*.part"))
