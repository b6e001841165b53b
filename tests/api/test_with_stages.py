"""The API on a full box (receiver and scheduler running): an mb-style upload is processed and
downloaded; deleting a running session stops its bucket process first."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import httpx

from tests.support.box import BoxProcess
from tests.support.net import wait_until

COPY = """#!/bin/sh
cp -R -- "$1/." "$2/"
echo done
"""
SLOW = """#!/bin/sh
echo $$ > "$2/../bucket.pid"
echo started
sleep 120
"""


def zipped(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def upload(box: BoxProcess, aetitle: str, jobname: str) -> dict[str, object]:
    response = httpx.post(
        box.url + "/api/v1/uploads",
        data={"aetitle": aetitle, "sender": "stages", "jobname": jobname},
        files={"theFile": ("x", zipped({"a_file00001.dcm": b"A" * 100, "notes.txt": b"n"}))},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


def scratch_entry(box: BoxProcess, scratchdir: object) -> dict[str, object]:
    entries = httpx.get(box.url + "/code/php/getScratch.php", timeout=10).json()
    return next((e for e in entries if e["scratchdir"] == scratchdir), {})


def test_upload_is_processed_and_downloadable(tmp_path: Path, box_factory: type[BoxProcess]) -> None:
    box = box_factory(data=tmp_path / "data")
    box.add_bucket("bucketCopy", {"name": "copy", "AETitle": "ProcCopyTest", "enabled": 1}, COPY)
    box.start()
    created = upload(box, "ProcCopyTest", "subject01")
    wait_until(lambda: scratch_entry(box, created["scratchdir"]).get("processingTime") != "0", timeout=60)
    entry = scratch_entry(box, created["scratchdir"])
    assert entry["status"] == "finished" and entry["pid"] == "mb_subject01"
    content = httpx.get(f"{box.url}/code/php/getOutputZip.php?folder={created['scratchdir']}").content
    names = sorted(zipfile.ZipFile(io.BytesIO(content)).namelist())
    assert names == [
        f"{created['scratchdir']}/OUTPUT/a_file00001.dcm",
        f"{created['scratchdir']}/OUTPUT/notes.txt",
    ]
    log = httpx.get(f"{box.url}/scratch/{created['scratchdir']}/processing.log").text
    assert "done" in log


def test_delete_stops_the_running_bucket_first(tmp_path: Path, box_factory: type[BoxProcess]) -> None:
    box = box_factory(data=tmp_path / "data")
    box.add_bucket("bucketSlow", {"name": "slow", "AETitle": "ProcSlow", "enabled": 1}, SLOW)
    box.start()
    created = upload(box, "ProcSlow", "slow")
    folder = box.data / "scratch" / str(created["scratchdir"])
    wait_until(lambda: (folder / "bucket.pid").exists(), timeout=60, what="the bucket started")
    pid = int((folder / "bucket.pid").read_text())
    response = httpx.get(
        box.url + "/code/php/deleteStudy.php", params={"scratchdir": created["scratchdir"]}, timeout=60
    )
    assert response.status_code == 200 and response.text.startswith(" will delete now ")
    assert not folder.exists()
    wait_until(lambda: not _alive(pid), timeout=10, what="the bucket process is gone")
    assert scratch_entry(box, created["scratchdir"]) == {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose (its parent reaps it).
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()
