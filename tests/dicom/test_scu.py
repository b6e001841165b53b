from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pynetdicom import evt

from magickbox.dicom import scu
from magickbox.dicom.netopts import has_nodelay
from magickbox.dicom.scu import Outgoing, SendFailed, send_files
from tests.route.peers import StoreSCP, assert_same_datasets
from tests.support.dicomdata import IMPLICIT_LE, JPEG_BASELINE, MR_EXPLICIT_LE, RLE, write_study
from tests.support.net import free_port


@pytest.fixture
def scp(tmp_path: Path) -> Iterator[StoreSCP]:
    peer = StoreSCP(tmp_path / "received").start()
    yield peer
    peer.stop()


def outgoing(paths: list[Path]) -> list[Outgoing]:
    return [Outgoing(p, f"{p.parent.name}/{p.name}") for p in paths]


def test_mixed_sop_classes_and_syntaxes_arrive_unchanged_and_non_dicom_is_skipped(
    tmp_path: Path, scp: StoreSCP
) -> None:
    _, ct = write_study(tmp_path / "out", 3)
    _, mr = write_study(tmp_path / "out2", 2, source=IMPLICIT_LE)
    _, mr2 = write_study(tmp_path / "out3", 1, source=MR_EXPLICIT_LE)
    junk = tmp_path / "readme.txt"
    junk.write_text("results are in the DICOM files")
    results = send_files(outgoing([*ct, *mr, *mr2, junk]), "127.0.0.1", scp.port, "BOX", "ANYSCP")
    outcomes = {r.key: r.outcome for r in results}
    assert outcomes.pop(f"{tmp_path.name}/readme.txt") == "skipped"
    assert set(outcomes.values()) == {"sent"}
    assert all(r.status == 0 for r in results if r.outcome == "sent")
    assert_same_datasets([*ct, *mr, *mr2], scp.received())


def test_compressed_files_keep_their_syntax_when_the_peer_accepts_it(tmp_path: Path) -> None:
    peer = StoreSCP(tmp_path / "received", accept_all=True).start()
    try:
        _, files = write_study(tmp_path / "out", 2, source=JPEG_BASELINE)
        results = send_files(outgoing(files), "localhost", peer.port, "BOX", "ANYSCP")
        assert [r.outcome for r in results] == ["sent", "sent"]
        received = peer.received()
        syntaxes = {str(pydicom.dcmread(p).file_meta.TransferSyntaxUID) for p in received}
        assert syntaxes == {str(pydicom.dcmread(files[0]).file_meta.TransferSyntaxUID)}
        assert_same_datasets(files, received)
    finally:
        peer.stop()


def test_a_compressed_file_is_decompressed_for_a_peer_that_takes_only_uncompressed(
    tmp_path: Path, scp: StoreSCP
) -> None:
    _, files = write_study(tmp_path / "out", 1, source=RLE)
    results = send_files(outgoing(files), "127.0.0.1", scp.port, "BOX", "ANYSCP")
    assert [r.outcome for r in results] == ["sent"]
    (received,) = scp.received()
    original, got = pydicom.dcmread(files[0]), pydicom.dcmread(received)
    assert got.SOPInstanceUID == original.SOPInstanceUID
    assert (got.pixel_array == original.pixel_array).all()


def test_no_peer_raises_send_failed(tmp_path: Path) -> None:
    _, files = write_study(tmp_path / "out", 1)
    with pytest.raises(SendFailed, match="could not be reached"):
        send_files(outgoing(files), "127.0.0.1", free_port(), "BOX", "ANYSCP", timeout_s=5)


def test_only_non_dicom_files_need_no_association(tmp_path: Path) -> None:
    junk = tmp_path / "a.txt"
    junk.write_text("x")
    results = send_files(outgoing([junk]), "127.0.0.1", free_port(), "BOX", "ANYSCP")
    assert [r.outcome for r in results] == ["skipped"]


def test_the_association_socket_has_tcp_nodelay(
    tmp_path: Path, scp: StoreSCP, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    tune = scu._tune

    def spy(event: evt.Event) -> None:
        tune(event)
        seen.append(has_nodelay(event.assoc.dul.socket.socket))

    monkeypatch.setattr(scu, "_tune", spy)
    _, files = write_study(tmp_path / "out", 1)
    assert [r.outcome for r in send_files(outgoing(files), "127.0.0.1", scp.port, "BOX", "X")] == ["sent"]
    assert seen == [True]


def test_many_files_over_one_association_all_get_their_status(tmp_path: Path, scp: StoreSCP) -> None:
    # Fast responses once raced pynetdicom's reactor for the response of the next file.
    _, files = write_study(tmp_path / "out", 150)
    results = send_files(outgoing(files), "127.0.0.1", scp.port, "BOX", "X", timeout_s=10)
    assert [r.outcome for r in results] == ["sent"] * 150
    assert len(scp.received()) == 150


def test_jpeg_baseline_is_decoded_for_a_peer_that_takes_only_uncompressed(
    tmp_path: Path, scp: StoreSCP
) -> None:
    _, files = write_study(tmp_path / "out", 2, source=JPEG_BASELINE)
    results = send_files(outgoing(files), "127.0.0.1", scp.port, "BOX", "X")
    assert [r.outcome for r in results] == ["sent", "sent"]
    got = {str(ds.SOPInstanceUID): ds for ds in map(pydicom.dcmread, scp.received())}
    for path in files:
        original = pydicom.dcmread(path)
        received = got[str(original.SOPInstanceUID)]
        assert not received.file_meta.TransferSyntaxUID.is_compressed
        assert (received.pixel_array == original.pixel_array).all()
