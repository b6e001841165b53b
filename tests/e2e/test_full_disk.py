"""A running box whose data folder is a real 64 MiB tmpfs, filled to the last byte (issue 14, finding 7).

Each test fills the disk, acts as a user or sender would, frees the space, and checks the box kept
its promises: deleting works and frees space, an unrecorded release ends `incomplete`, a job that
failed on the full disk says so and re-runs cleanly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydicom import dcmread
from pynetdicom import AE, Association
from pynetdicom.sop_class import CTImageStorage  # type: ignore[attr-defined]

from magickbox.dicom import status
from tests.support.box import BoxProcess
from tests.support.dcmtk import storescu
from tests.support.dicomdata import write_study
from tests.support.net import wait_until
from tests.support.tmpfs import SmallDisk, empty_wal, small_tmpfs

BUCKET = "Hold"
# Waits for a flag outside the tmpfs, then writes 1 MiB of output: on a full disk that fails.
HOLD_SCRIPT = """#!/bin/sh
while [ ! -e "$MB_ARGUMENTS" ] && [ ! -e "{flag}" ]; do sleep 0.05; done
head -c 1048576 /dev/zero > "$MB_OUTPUT/result.bin" || {{ touch "{flag}.failed"; exit 3; }}
"""


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    with small_tmpfs(tmp_path / "data") as small:
        yield small


def start_box(box_factory: type[BoxProcess], disk: SmallDisk, flag: Path) -> BoxProcess:
    box = box_factory(data=disk.root)
    box.add_bucket(BUCKET, {"name": BUCKET, "AETitle": BUCKET, "enabled": 1}, HOLD_SCRIPT.format(flag=flag))
    (disk.root / "streams" / ".shipped-installed").write_text("")  # keep the tmpfs small
    return box.start()


def open_association(
    box: BoxProcess, tmp_path: Path, name: str, expect: int = status.SUCCESS
) -> tuple[Association, str]:
    """An association that has sent one CT instance of a new study (answered `expect`), still open."""
    study_uid, files = write_study(tmp_path / name, 1)
    ae = AE(ae_title="FILLER")
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", box.dicom_port, ae_title=BUCKET)
    assert assoc.is_established
    answer = assoc.send_c_store(dcmread(files[0]))
    assert answer.Status == expect, f"C-STORE answered {answer.Status:#06x}"
    return assoc, study_uid


def session_of(box: BoxProcess, study_uid: str) -> dict[str, Any]:
    rows = [row for row in box.get_json("/code/php/getScratch.php") if row["pid"] == f"scp_{study_uid}"]
    assert len(rows) == 1, rows
    return rows[0]


def listed(box: BoxProcess, scratchdir: str) -> bool:
    return any(row["scratchdir"] == scratchdir for row in box.get_json("/code/php/getScratch.php"))


def detail(box: BoxProcess, scratchdir: str) -> dict[str, Any]:
    result: dict[str, Any] = box.get_json(f"/api/v1/sessions/{scratchdir}")
    return result


def send_study(box: BoxProcess, tmp_path: Path, name: str) -> str:
    study_uid, _ = write_study(tmp_path / name, 2)
    storescu(box.dicom_port, tmp_path / name, called=BUCKET, check=True, timeout=60)
    return study_uid


def test_delete_works_on_a_full_disk_and_a_refused_release_is_resolved(
    disk: SmallDisk, tmp_path: Path, box_factory: type[BoxProcess]
) -> None:
    flag = tmp_path / "go"
    flag.touch()
    box = start_box(box_factory, disk, flag)
    finished = session_of(box, send_study(box, tmp_path, "done"))["scratchdir"]
    wait_until(lambda: detail(box, finished)["status"] == "finished", timeout=30, what="a finished session")
    refused, refused_uid = open_association(box, tmp_path, "refused")
    live, live_uid = open_association(box, tmp_path, "live")
    empty_wal(disk.root / "magickbox.db")
    disk.fill()

    refused.release()
    assert not refused.is_released, "the sender was told its send is done, but the box could not record it"
    newcomer = open_association(box, tmp_path, "late", expect=status.OUT_OF_RESOURCES)[0]
    newcomer.release()
    stuck = session_of(box, refused_uid)
    assert stuck["status"] == "receiving"
    # Before any delete: a delete frees the session's blocks, after which SQLite may find room.
    answer = httpx.post(f"{box.url}/api/v1/sessions/{finished}/rerun")
    assert answer.status_code == 507 and answer.json()["error"] == "insufficient storage", answer.text
    answer = httpx.get(f"{box.url}/code/php/deleteStudy.php", params={"scratchdir": stuck["scratchdir"]})
    assert answer.status_code == 200, answer.text
    assert not (disk.root / "scratch" / stuck["scratchdir"]).exists()
    answer = httpx.delete(f"{box.url}/api/v1/sessions/{finished}")
    assert answer.status_code == 200, answer.text
    assert not (disk.root / "scratch" / finished).exists()
    assert disk.free_bytes > 0, "deleting freed no space"
    held = session_of(box, live_uid)["scratchdir"]
    answer = httpx.get(f"{box.url}/code/php/deleteStudy.php", params={"scratchdir": held})
    assert answer.status_code == 409, "a session an association still feeds must not be deleted"

    disk.free()
    wait_until(lambda: not listed(box, stuck["scratchdir"]) and not listed(box, finished), timeout=30)
    live.release()
    assert live.is_released
    assert box.server_log().count("wait for free space in the data folder") <= 1, "logged per retry"


def test_a_restart_resolves_a_release_the_full_disk_refused(
    disk: SmallDisk, tmp_path: Path, box_factory: type[BoxProcess]
) -> None:
    box = start_box(box_factory, disk, tmp_path / "never")
    assoc, study_uid = open_association(box, tmp_path, "refused")
    empty_wal(disk.root / "magickbox.db")
    disk.fill()
    assoc.release()
    assert not assoc.is_released
    assert session_of(box, study_uid)["status"] == "receiving"
    box.kill()
    disk.free()
    box.start()
    scratchdir = session_of(box, study_uid)["scratchdir"]
    assert detail(box, scratchdir)["status"] == "incomplete"
    assert httpx.delete(f"{box.url}/api/v1/sessions/{scratchdir}").status_code == 200


def test_a_job_that_failed_on_a_full_disk_says_so_and_reruns(
    disk: SmallDisk, tmp_path: Path, box_factory: type[BoxProcess]
) -> None:
    flag = tmp_path / "go"
    box = start_box(box_factory, disk, flag)
    scratchdir = session_of(box, send_study(box, tmp_path, "study"))["scratchdir"]
    wait_until(lambda: detail(box, scratchdir)["status"] == "running", timeout=30, what="the job running")
    empty_wal(disk.root / "magickbox.db")
    disk.fill()
    flag.touch()
    wait_until(lambda: Path(f"{flag}.failed").exists(), timeout=30, what="the bucket failing to write")
    assert detail(box, scratchdir)["status"] == "running", "the end was recorded on a full disk?"
    answer = httpx.post(f"{box.url}/api/v1/sessions/{scratchdir}/rerun")
    assert answer.status_code == 409, answer.text  # still running: its end is not recorded yet

    disk.free()
    wait_until(lambda: detail(box, scratchdir)["status"] == "failed", timeout=30, what="the failure recorded")
    failed = detail(box, scratchdir)
    assert "no space left on device" in failed["reason"], failed["reason"]
    assert failed["job"]["attempts"] == 1
    assert httpx.post(f"{box.url}/api/v1/sessions/{scratchdir}/rerun").status_code == 202
    wait_until(lambda: detail(box, scratchdir)["status"] == "finished", timeout=30, what="the re-run done")
    history = detail(box, scratchdir)["history"]
    assert not any("interrupted" in event["detail"] for event in history), history
    assert [e["state"] for e in history][-4:] == ["failed", "queued", "running", "finished"], history
