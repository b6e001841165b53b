"""Hostile peers against a running box: raw sockets attack, real storescu must still get through."""

from __future__ import annotations

import contextlib
import re
import resource
import socket
import threading
from pathlib import Path
from typing import Any

import httpx
import pydicom
import pytest
from pynetdicom import AE

from tests.receive import rawdicom
from tests.receive.helpers import (
    BUCKET_AET,
    all_settled,
    assert_identical,
    context_of,
    input_files,
    make_box,
    normalise_like_storescu,
    pynetdicom_association,
    sessions,
    storescu_seed,
)
from tests.receive.test_large_instance import vm_hwm_mb
from tests.support import dicomdata
from tests.support.net import wait_until

CT = "1.2.840.10008.5.1.4.1.1.2"
SAFE_PID = re.compile(r"[A-Za-z0-9._-]{1,80}")


def send_a_study(box: Any, tmp_path: Path, name: str = "send", count: int = 3) -> None:
    """storescu (the seed command) sends a small study; it must succeed and arrive whole."""
    _, files = dicomdata.write_study(tmp_path / name, count)
    normalise_like_storescu(tmp_path / name)
    result = storescu_seed(box, tmp_path / name)
    assert result.returncode == 0, result.stderr + box.server_log()
    wait_until(lambda: all_settled(box), timeout=30, what="the session to be sealed")
    stored = [s for s in sessions(box) if s["state"] != "incomplete"]
    assert any(sorted(input_files(box, s)) == sorted(dicomdata_uids(files)) for s in stored)


def dicomdata_uids(files: list[Path]) -> list[str]:
    return [str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in files]


def healthy(box: Any) -> bool:
    return httpx.get(box.url + "/healthz", timeout=5).status_code == 200


def test_pdu_headers_claiming_4_gib_cost_no_memory(box_factory: Any, tmp_path: Path) -> None:
    box = make_box(box_factory, tmp_path).start()
    assert box.proc is not None
    before = vm_hwm_mb(box.proc.pid)
    answers = []
    for pdu_type in (0x01, 0x01, 0x01, 0x04):
        with rawdicom.connect(box.dicom_port) as sock:
            sock.sendall(bytes((pdu_type, 0)) + b"\xff\xff\xff\xff" + b"\x00\x01\x00\x00")
            answers.append(rawdicom.read_pdu(sock)[:1])
    # an established association whose peer then claims 4 GiB
    assoc_sock = rawdicom.connect(box.dicom_port)
    assoc_sock.sendall(rawdicom.associate_rq([(CT, [rawdicom.EXPLICIT_LE])]))
    assert rawdicom.read_pdu(assoc_sock)[:1] == b"\x02"  # A-ASSOCIATE-AC
    assoc_sock.sendall(b"\x04\x00\xff\xff\xff\xff\x00\x00")
    assert rawdicom.read_pdu(assoc_sock)[:1] == b"\x07"  # A-ABORT
    assert rawdicom.closed_by_peer(assoc_sock)

    assert answers == [b"\x03"] * 4  # A-ASSOCIATE-RJ before negotiation
    assert vm_hwm_mb(box.proc.pid) < before + 100
    assert healthy(box)
    assert "claims 4294967295 bytes" in box.server_log()
    send_a_study(box, tmp_path)


def test_idle_and_dripping_connections_do_not_block_senders(box_factory: Any, tmp_path: Path) -> None:
    box = make_box(box_factory, tmp_path, env={"MAGICKBOX_ASSOCIATION_REQUEST_TIMEOUT_S": "60"}).start()
    idle = [rawdicom.connect(box.dicom_port) for _ in range(80)]
    dripping = [rawdicom.connect(box.dicom_port) for _ in range(70)]
    request = rawdicom.associate_rq([(CT, [rawdicom.EXPLICIT_LE])])
    stop = threading.Event()

    def drip() -> None:
        for offset in range(len(request)):
            for sock in dripping:
                with contextlib.suppress(OSError):
                    sock.send(request[offset : offset + 1])
            if stop.wait(0.5):
                return

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    try:
        send_a_study(box, tmp_path, "first")
        send_a_study(box, tmp_path, "second")
    finally:
        stop.set()
        dripper.join()
    # each dripping connection is cut once its A-ASSOCIATE-RQ is not complete in time
    assert rawdicom.closed_by_peer(dripping[0], timeout=90)
    for sock in idle + dripping:
        sock.close()


def test_per_pdu_deadline_cuts_a_drip_fed_request(box_factory: Any, tmp_path: Path) -> None:
    env = {"MAGICKBOX_PDU_TIMEOUT_S": "1", "MAGICKBOX_ASSOCIATION_REQUEST_TIMEOUT_S": "60"}
    box = make_box(box_factory, tmp_path, env=env).start()
    with rawdicom.connect(box.dicom_port) as sock:
        sock.sendall(rawdicom.associate_rq([(CT, [rawdicom.EXPLICIT_LE])])[:20])  # then nothing

        assert rawdicom.closed_by_peer(sock, timeout=30)
    wait_until(lambda: "did not arrive within its deadline" in box.server_log(), timeout=10)


def test_descriptors_above_1024_still_receive(box_factory: Any, tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 4096:
        pytest.skip(f"the hard open-files limit ({hard}) is too low for this test")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # One receive worker, so that one process holds every connection (descriptors past 1024).
    env = {"MAGICKBOX_ASSOCIATION_REQUEST_TIMEOUT_S": "120", "MAGICKBOX_RECEIVE_WORKERS": "1"}
    box = make_box(box_factory, tmp_path, env=env).start()
    wait_until(lambda: 0 in box.receive_workers(), timeout=30, what="the receive worker")
    held: list[socket.socket] = []
    try:
        for _ in range(1100):
            held.append(rawdicom.connect(box.dicom_port))
        fds = Path(f"/proc/{box.receive_workers()[0]}/fd")
        wait_until(lambda: len(list(fds.iterdir())) > 1100, timeout=30, what="1,100 sockets in the worker")
        send_a_study(box, tmp_path)
        assert healthy(box)
    finally:
        for sock in held:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert "open files limit" in box.server_log()


@pytest.mark.parametrize(
    ("calling", "called", "reason"),
    [
        (b"\x01\x02BAD", b"ProcBucket", 3),
        (b"A\\B", b"ProcBucket", 3),
        (b" " * 16, b"ProcBucket", 3),
        (b"\x00" * 16, b"ProcBucket", 3),
        (b"RAWSCU", b"Proc\x07Bucket", 7),
    ],
)
def test_odd_ae_titles_get_a_reject_not_a_traceback(
    box_factory: Any, tmp_path: Path, calling: bytes, called: bytes, reason: int
) -> None:
    box = make_box(box_factory, tmp_path).start()
    with rawdicom.connect(box.dicom_port) as sock:
        sock.sendall(rawdicom.associate_rq([(CT, [rawdicom.EXPLICIT_LE])], calling=calling, called=called))
        answer = rawdicom.read_pdu(sock)

    assert answer[:1] == b"\x03" and answer[7:10] == bytes((1, 1, reason))
    wait_until(lambda: "is not a valid AE title" in box.server_log(), timeout=10)
    assert "Traceback" not in box.server_log()


def test_huge_requests_are_refused_before_decoding(box_factory: Any, tmp_path: Path) -> None:
    box = make_box(box_factory, tmp_path).start()
    many = rawdicom.associate_rq([(CT, [rawdicom.EXPLICIT_LE])] * 129)
    ten_mb_start = b"\x01\x00" + (10 << 20).to_bytes(4, "big") + many[6:]  # the rest never sent
    for request in (many, ten_mb_start):
        with rawdicom.connect(box.dicom_port) as sock:
            sock.sendall(request)
            assert rawdicom.read_pdu(sock)[:1] == b"\x03"

    assert "129 presentation contexts proposed (at most 128)" in box.server_log()
    assert "claims 10485760 bytes" in box.server_log()
    assert "Traceback" not in box.server_log()
    send_a_study(box, tmp_path)


def test_association_slots_are_counted_per_calling_ip(box_factory: Any, tmp_path: Path) -> None:
    box = make_box(box_factory, tmp_path, env={"MAGICKBOX_MAX_ASSOCIATIONS_PER_IP": "1"}).start()
    _, files = dicomdata.write_study(tmp_path / "send", 1)
    first = pynetdicom_association(box, [context_of(files[0])])
    ae = AE(ae_title="SECOND")
    ae.add_requested_context(*context_of(files[0]))
    second = ae.associate("127.0.0.1", box.dicom_port, ae_title=BUCKET_AET)

    assert second.is_rejected
    assert "max_associations_per_ip" in box.server_log()
    first.release()
    wait_until(lambda: _associates(ae, box), timeout=20, what="a slot after the release")


def _associates(ae: AE, box: Any) -> bool:
    assoc = ae.associate("127.0.0.1", box.dicom_port, ae_title=BUCKET_AET)
    established = bool(assoc.is_established)
    if established:
        assoc.release()
    return established


BAD_STUDY_UIDS = ["1.2/../../../tmp/evil", "1.2 3", "$(touch evil)", "1." + "2" * 63, "9" * 60000]


def test_unsafe_study_uids_give_safe_pids_and_the_data_as_received(box_factory: Any, tmp_path: Path) -> None:
    box = make_box(box_factory, tmp_path).start()
    files = []
    for index, study_uid in enumerate(BAD_STUDY_UIDS):
        _, [path] = dicomdata.write_study(tmp_path / f"s{index}", 1)
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID = study_uid
        ds.save_as(path)
        files.append(path)
    assoc = pynetdicom_association(box, sorted({context_of(p) for p in files}))
    assert [int(assoc.send_c_store(p).Status) for p in files] == [0] * len(files)
    assoc.release()

    wait_until(lambda: len(sessions(box)) == len(files) and all_settled(box), timeout=30, what="sessions")
    scratch = box.get_json("/code/php/getScratch.php")
    assert len(scratch) == len(files)
    for entry in scratch:
        assert SAFE_PID.fullmatch(entry["pid"]), entry["pid"]
    for row in sessions(box):
        assert len(row["study_uid"]) <= 64
    received: dict[str, Path] = {}
    for row in sessions(box):
        received.update(input_files(box, row))
    assert_identical(files, received)
    assert not list(tmp_path.rglob("evil")) and not Path("/tmp/evil").exists()


RETIRED_AND_PRIVATE = [
    "1.2.840.10008.5.1.4.1.1.6",  # Ultrasound Image Storage (Retired)
    "1.2.840.10008.5.1.4.1.1.3",  # Ultrasound Multi-frame Image Storage (Retired)
    "1.3.12.2.1107.5.9.1",  # Siemens CSA Non-Image Storage
    "1.2.840.113619.4.26",  # a GE private storage class
]


def test_retired_and_private_storage_classes_are_stored_bit_for_bit(box_factory: Any, tmp_path: Path) -> None:
    box = make_box(box_factory, tmp_path).start()
    study_uid, files = dicomdata.write_study(tmp_path / "send", len(RETIRED_AND_PRIVATE))
    for path, sop_class in zip(files, RETIRED_AND_PRIVATE, strict=True):
        ds = pydicom.dcmread(path)
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class
        ds.save_as(path)
    ae = AE(ae_title="PYSCU")
    for sop_class, syntax in sorted({context_of(p) for p in files}):
        ae.add_requested_context(sop_class, syntax)
    ae.add_requested_context("1.2.840.10008.5.1.4.1.2.2.1")  # Study Root Q/R FIND: not storage
    assoc = ae.associate("127.0.0.1", box.dicom_port, ae_title=BUCKET_AET)
    assert assoc.is_established
    accepted = {str(cx.abstract_syntax) for cx in assoc.accepted_contexts}
    assert accepted == set(RETIRED_AND_PRIVATE)

    assert [int(assoc.send_c_store(p).Status) for p in files] == [0] * len(files)
    assoc.release()

    wait_until(lambda: all_settled(box), timeout=20, what="the session to be sealed")
    [session] = sessions(box)
    assert_identical(files, input_files(box, session))
    assert str(study_uid) in session["pid"]


def test_a_c_echo_between_data_set_fragments_aborts_and_stores_nothing(
    box_factory: Any, tmp_path: Path
) -> None:
    box = make_box(box_factory, tmp_path).start()
    _, [path] = dicomdata.write_study(tmp_path / "send", 1)
    ds = pydicom.dcmread(path)
    raw = path.read_bytes()
    data = raw[144 + int.from_bytes(raw[140:144], "little") :]
    sock = rawdicom.connect(box.dicom_port)
    contexts = [(CT, [str(ds.file_meta.TransferSyntaxUID)]), (rawdicom.VERIFICATION, [rawdicom.IMPLICIT_LE])]
    sock.sendall(rawdicom.associate_rq(contexts))
    assert rawdicom.read_pdu(sock)[:1] == b"\x02"
    store = rawdicom.command_set(0x0001, CT, 1, sop_instance=str(ds.SOPInstanceUID))
    echo = rawdicom.command_set(0x0030, rawdicom.VERIFICATION, 2)
    half = len(data) // 2
    sock.sendall(rawdicom.p_data((1, 0x03, store)) + rawdicom.p_data((1, 0x00, data[:half])))
    sock.sendall(rawdicom.p_data((3, 0x03, echo)) + rawdicom.p_data((1, 0x02, data[half:])))

    assert rawdicom.read_pdu(sock)[:1] == b"\x07"  # A-ABORT, no C-STORE-RSP
    assert rawdicom.closed_by_peer(sock)
    sock.close()
    wait_until(lambda: "a command fragment inside a data set" in box.server_log(), timeout=10)
    wait_until(lambda: all(r["state"] != "receiving" for r in sessions(box)), timeout=20, what="the end")
    assert not list(box.data.rglob("*.dcm")) and not list(box.data.rglob("*.part"))
    assert all(row["instances"] == 0 and row["state"] == "incomplete" for row in sessions(box))
    assert "a command fragment inside a data set" in box.server_log()
