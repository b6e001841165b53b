"""The receiver end to end: dcmtk's storescu/echoscu (and a pynetdicom SCU) against a real box."""

from __future__ import annotations

import json
import subprocess
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pydicom
import pytest

from tests.receive.helpers import (
    all_settled,
    assert_identical,
    input_files,
    make_box,
    normalise_like_storescu,
    sealed,
    session_dir,
    sessions,
    storescu_seed,
)
from tests.support import dicomdata
from tests.support.dcmtk import storescu, storescu_argv
from tests.support.net import wait_until


def test_seed_command_makes_one_queued_session_with_identical_files(box_factory: Any, tmp_path: Path) -> None:
    box = make_box(box_factory, tmp_path).start()
    study_uid, files = dicomdata.write_study(tmp_path / "send", 5)
    (tmp_path / "send" / "README.txt").write_text("not DICOM")
    (tmp_path / "send" / "DICOMDIR.bak").write_bytes(b"\x00" * 300)
    normalise_like_storescu(tmp_path / "send")

    result = storescu_seed(box, tmp_path / "send")

    assert result.returncode == 0, result.stderr
    wait_until(lambda: all_settled(box), timeout=20, what="the session to be sealed")
    [session] = sessions(box)
    assert sealed(box, session)  # queued (a scheduler may already have started the bucket)
    assert session["pid"] == f"scp_{study_uid}"
    assert session["instances"] == 5
    assert session["bucket"] == "bucketProcBucket"
    folder = session_dir(box, session)
    info = json.loads((folder / "info.json").read_text())
    assert info["CallerIP"] == "127.0.0.1"
    assert info["AETitleCalled"] == "ProcBucket"
    assert info["AETitleCaller"] == "MySelf"
    parsedate_to_datetime(info["received"])
    assert_identical(files, input_files(box, session))
    assert not (folder / ".incoming").exists()
    meta = pydicom.dcmread(next(iter(input_files(box, session).values()))).file_meta
    assert meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert meta.SourceApplicationEntityTitle == "MySelf"


def test_unknown_called_ae_title_is_rejected_with_the_reason(box_factory: Any, tmp_path: Path) -> None:
    box = make_box(box_factory, tmp_path).start()
    dicomdata.write_study(tmp_path / "send", 1)

    result = storescu(box.dicom_port, tmp_path / "send" / "img0000.dcm", called="NoSuchBucket", options=())

    assert result.returncode != 0
    assert "Called AE Title Not Recognized" in result.stderr
    assert sessions(box) == []


def test_own_ae_title_answers_echo_but_stores_nothing(box_factory: Any, tmp_path: Path) -> None:
    box = make_box(box_factory, tmp_path).start()
    dicomdata.write_study(tmp_path / "send", 1)

    echo = subprocess.run(
        ["echoscu", "-aec", "MAGICKBOX", "127.0.0.1", str(box.dicom_port)], capture_output=True, text=True
    )
    store = storescu(box.dicom_port, tmp_path / "send", calling="STORESCU", called="MAGICKBOX", options=())

    assert echo.returncode == 0, echo.stderr
    assert store.returncode != 0
    assert sessions(box) == []


def test_one_study_over_several_associations_is_one_session(box_factory: Any, tmp_path: Path) -> None:
    box = make_box(box_factory, tmp_path, settle_s=5.0).start()
    study_uid, first = dicomdata.write_study(tmp_path / "a", 3)
    _, second = dicomdata.write_study(tmp_path / "b", 2, study_uid=study_uid, source=dicomdata.MR_EXPLICIT_LE)
    normalise_like_storescu(tmp_path)

    assert storescu_seed(box, tmp_path / "a").returncode == 0
    assert storescu_seed(box, tmp_path / "b").returncode == 0

    [session] = sessions(box)
    assert session["state"] == "receiving"
    wait_until(lambda: all_settled(box), timeout=20, what="the session to be sealed")
    [session] = sessions(box)
    assert sealed(box, session)
    assert_identical(first + second, input_files(box, session))


def test_two_studies_in_one_association_are_two_sessions(box_factory: Any, tmp_path: Path) -> None:
    box = make_box(box_factory, tmp_path).start()
    study_a, files_a = dicomdata.write_study(tmp_path / "send" / "a", 2)
    study_b, files_b = dicomdata.write_study(tmp_path / "send" / "b", 3)
    normalise_like_storescu(tmp_path / "send")

    assert storescu_seed(box, tmp_path / "send").returncode == 0

    wait_until(lambda: all_settled(box), timeout=20, what="the sessions to be sealed")
    by_pid = {s["pid"]: s for s in sessions(box)}
    assert sorted(by_pid) == sorted([f"scp_{study_a}", f"scp_{study_b}"])
    assert_identical(files_a, input_files(box, by_pid[f"scp_{study_a}"]))
    assert_identical(files_b, input_files(box, by_pid[f"scp_{study_b}"]))


def test_resend_after_sealing_makes_a_new_session(box_factory: Any, tmp_path: Path) -> None:
    box = make_box(box_factory, tmp_path).start()
    dicomdata.write_study(tmp_path / "send", 2)

    assert storescu_seed(box, tmp_path / "send").returncode == 0
    wait_until(lambda: all_settled(box), timeout=20, what="the first session to be sealed")
    assert storescu_seed(box, tmp_path / "send").returncode == 0
    wait_until(lambda: len(sessions(box)) == 2 and all_settled(box), timeout=20, what="a second session")

    first, second = sessions(box)
    assert first["pid"] == second["pid"]
    assert first["scratchdir"] != second["scratchdir"]
    assert sealed(box, first) and sealed(box, second)
    assert len(input_files(box, second)) == 2


def test_low_disk_answers_out_of_resources_and_keeps_nothing(box_factory: Any, tmp_path: Path) -> None:
    box = make_box(box_factory, tmp_path, env={"MAGICKBOX_MIN_FREE_BYTES": str(1 << 60)}).start()
    dicomdata.write_study(tmp_path / "send", 2)

    result = storescu_seed(box, tmp_path / "send", "-v")  # -v: storescu prints each response status

    assert result.stderr.count("Refused: OutOfResources") == 2, result.stderr
    assert sessions(box) == []
    assert not list((box.data / "scratch").rglob("*.dcm"))
    assert not list((box.data / "scratch").rglob("*.part"))


def test_sixteen_concurrent_senders_each_get_their_session(box_factory: Any, tmp_path: Path) -> None:
    box = make_box(box_factory, tmp_path).start()
    studies = {}
    for number in range(16):
        uid, files = dicomdata.write_study(tmp_path / f"s{number}", 4)
        studies[f"scp_{uid}"] = files
    senders = [
        subprocess.Popen(
            storescu_argv(box.dicom_port, tmp_path / f"s{n}", called="ProcBucket"), stderr=subprocess.PIPE
        )
        for n in range(16)
    ]
    assert [p.wait(timeout=120) for p in senders] == [0] * 16

    wait_until(lambda: len(sessions(box)) == 16 and all_settled(box), timeout=30, what="16 sessions")
    for session in sessions(box):
        assert sealed(box, session)
        assert len(input_files(box, session)) == len(studies[session["pid"]])


def test_accepted_socket_has_tcp_nodelay_and_200_files_arrive_whole(box_factory: Any, tmp_path: Path) -> None:
    box = make_box(box_factory, tmp_path).start()
    _, files = dicomdata.write_study(tmp_path / "send", 200)
    normalise_like_storescu(tmp_path / "send")

    result = storescu_seed(box, tmp_path / "send")

    assert result.returncode == 0, result.stderr
    wait_until(lambda: all_settled(box), timeout=30, what="the session to be sealed")
    [session] = sessions(box)
    assert session["instances"] == 200
    assert_identical(files, input_files(box, session))
    log_lines = [line for line in box.server_log().splitlines() if "MySelf -> ProcBucket released" in line]
    assert log_lines and "TCP_NODELAY=1" in log_lines[-1], box.server_log()
    assert "200 instances" in log_lines[-1]


@pytest.mark.parametrize(
    ("source", "option"),
    [
        (dicomdata.IMPLICIT_LE, "-xi"),
        (dicomdata.JPEG_BASELINE, "-xy"),
        (dicomdata.JPEG_LS, "-xt"),
        (dicomdata.JPEG_2000, "-xv"),
        (dicomdata.RLE, "-xr"),
    ],
)
def test_storescu_compressed_transfer_syntaxes_arrive_as_sent(
    box_factory: Any, tmp_path: Path, source: str, option: str
) -> None:
    box = make_box(box_factory, tmp_path).start()
    _, files = dicomdata.write_study(tmp_path / "send", 2, source=source)
    normalise_like_storescu(tmp_path / "send")

    result = storescu_seed(box, tmp_path / "send", option)

    assert result.returncode == 0, result.stderr
    wait_until(lambda: all_settled(box), timeout=20, what="the session to be sealed")
    [session] = sessions(box)
    received = input_files(box, session)
    assert_identical(files, received)
    sent_syntax = pydicom.dcmread(files[0], stop_before_pixels=True).file_meta.TransferSyntaxUID
    for path in received.values():
        assert pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID == sent_syntax


def test_calling_ae_title_allow_list_rejects_others(box_factory: Any, tmp_path: Path) -> None:
    box = make_box(box_factory, tmp_path, env={"MAGICKBOX_ALLOWED_CALLING_AETS": '["TRUSTED"]'}).start()
    dicomdata.write_study(tmp_path / "send", 1)

    refused = storescu_seed(box, tmp_path / "send")
    trusted = storescu(
        box.dicom_port, tmp_path / "send" / "img0000.dcm", calling="TRUSTED", called="ProcBucket", options=()
    )

    assert "Calling AE Title Not Recognized" in refused.stderr
    assert trusted.returncode == 0, trusted.stderr
    wait_until(lambda: all_settled(box), timeout=20, what="the session to be sealed")
    assert [s["calling_aet"] for s in sessions(box)] == ["TRUSTED"]


def test_network_allow_list_refuses_other_callers(box_factory: Any, tmp_path: Path) -> None:
    box = make_box(box_factory, tmp_path, env={"MAGICKBOX_ALLOWED_NETWORKS": '["10.0.0.0/8"]'}).start()
    dicomdata.write_study(tmp_path / "send", 1)

    result = storescu_seed(box, tmp_path / "send")

    assert result.returncode != 0
    assert sessions(box) == []
