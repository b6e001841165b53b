"""`mb push --via dicom`: C-STORE to a real SCP (dcmtk storescp), one association per folder."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from tests.client.conftest import AET, Fleet, run_mb
from tests.support.dicomdata import EXPLICIT_LE, IMPLICIT_LE, write_study
from tests.support.net import free_port, wait_for_port


@pytest.fixture
def storescp(tmp_path: Path) -> Iterator[tuple[int, Path, Path]]:
    """storescp accepting everything into a folder; its verbose log counts the associations."""
    port, received, log = free_port(), tmp_path / "received", tmp_path / "storescp.log"
    received.mkdir()
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            ["storescp", "-d", "+xa", "-od", str(received), str(port)], stdout=sink, stderr=subprocess.STDOUT
        )
        try:
            wait_for_port(port)
            yield port, received, log
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_push_via_dicom_sends_each_folder_in_one_association(
    fleet: Fleet, sender: str, tmp_path: Path, storescp: tuple[int, Path, Path]
) -> None:
    port, received, log = storescp
    uid_one, _ = write_study(tmp_path / "sub-01", 3, source=EXPLICIT_LE)
    uid_two, _ = write_study(tmp_path / "sub-02" / "series", 2, source=IMPLICIT_LE)
    (tmp_path / "sub-01" / "README.txt").write_text("not DICOM")
    result = run_mb(
        fleet.home, "push", AET, str(tmp_path / "sub-01"), str(tmp_path / "sub-02"), "--via", "dicom",
        "--dicom-port", str(port),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    pushed = json.loads(result.stdout)
    assert [p["instances"] for p in pushed] == [3, 2]
    assert "skipping 1 file(s) that are not DICOM" in result.stderr
    files = sorted(received.iterdir())
    assert len(files) == 5
    studies = sorted(str(pydicom.dcmread(f, stop_before_pixels=True).StudyInstanceUID) for f in files)
    assert studies == sorted([uid_one] * 3 + [uid_two] * 2)
    text = log.read_text(errors="replace")
    assert text.count("Association Acknowledged") == 2  # one per folder
    assert re.search(rf"Called Application Name:\s+{AET}\n", text)
    assert re.search(rf"Calling Application Name:\s+{sender}\n", text)  # the Sender of ~/.mb


def test_dicom_port_comes_from_the_machines_file(
    fleet: Fleet, sender: str, tmp_path: Path, storescp: tuple[int, Path, Path]
) -> None:
    port, received, _ = storescp
    machines = [{**box.machine(), "DicomPort": str(port)} for box in fleet.boxes]
    fleet.write_machines(machines)
    write_study(tmp_path / "study", 2)
    result = run_mb(fleet.home, "p", AET, str(tmp_path / "study"), "--via", "dicom")
    assert result.returncode == 0, result.stderr
    assert len(list(received.iterdir())) == 2


def test_push_via_dicom_to_a_closed_port_fails_clearly(fleet: Fleet, sender: str, tmp_path: Path) -> None:
    write_study(tmp_path / "study", 1)
    result = run_mb(
        fleet.home, "push", AET, str(tmp_path / "study"), "--via", "dicom", "--dicom-port", str(free_port())
    )
    assert result.returncode == 1
    assert "DICOM" in result.stderr and "could not be reached" in result.stderr


def test_push_via_dicom_to_a_box_makes_one_session_per_folder(
    fleet: Fleet, sender: str, tmp_path: Path
) -> None:
    """The box's DICOM port comes from its /api/v1/machines; the box's receiver makes the sessions."""
    for box in fleet.boxes:
        wait_for_port(box.process.dicom_port)
    uid_one, _ = write_study(tmp_path / "sub-01", 2)
    uid_two, _ = write_study(tmp_path / "sub-02", 3)
    result = run_mb(
        fleet.home, "push", AET, str(tmp_path / "sub-01"), str(tmp_path / "sub-02"), "--via", "dicom"
    )
    assert result.returncode == 0, result.stderr
    waited = run_mb(fleet.home, "wait", sender, "--interval", "0.2", "--timeout", "60")
    assert waited.returncode == 0, waited.stderr
    sessions = json.loads(waited.stdout)
    assert sorted(s["pid"] for s in sessions) == sorted([f"scp_{uid_one}", f"scp_{uid_two}"])
    assert {s["AETitleCalled"] for s in sessions} == {AET}
    assert {s["status"] for s in sessions} == {"finished"}
