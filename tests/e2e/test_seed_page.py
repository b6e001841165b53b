"""The seed page ("How to process a large number of subjects"), run literally against a served box.

storescu sends three subjects to a real bucket; then the page's curl | jq commands list the
finished sessions, count those still in the pipeline, download each OUTPUT zip into `<pid>/`
and delete them. Only the placeholders change: `<ip of MagickBox>`/`<ip of MB>` -> 127.0.0.1,
the ports -> the test box's, `ip44` -> the calling AE title storescu used (`MySelf`).
"""

# ruff: noqa: E501  (the page's commands are kept character for character)

from __future__ import annotations

import json
import subprocess
import time
import zipfile
from pathlib import Path

from tests.support.box import BoxProcess
from tests.support.dicomdata import EXPLICIT_LE, MR_EXPLICIT_LE, write_study
from tests.support.net import wait_until

# The page's commands, character for character.
SEND = "storescu +sd +r -nh -aet MySelf -aec ProcBucket <ip of MagickBox> <port of MagickBox> <single DICOM directory>"
LIST_DONE = """curl http://<ip of MB>:2813/code/php/getScratch.php | jq '.[] | select(.AETitleCaller=="ip44" and .processingTime!="0")'"""
COUNT_PENDING = """curl http://<ip of MB>:2813/code/php/getScratch.php | jq -c -M '.[] | select(.AETitleCaller=="ip44" and .processingTime=="0")' | wc -l"""
FILE_LIST = """fileList=`curl <ip of MB>:2813/code/php/getScratch.php | jq '.[] | select(.AETitleCaller=="ip44" and .processingTime!="0")' | jq '{"scratchdir": .scratchdir, "pid": .pid}'`"""
DOWNLOAD = """echo $fileList | jq -c -M . | while read line; do sc=`echo $line | cut -d'"' -f4`; d=`echo $line | cut -d'"' -f8`; mkdir -p "$d"; cd $d; curl -o ${d}.zip http://<ip of MB>:2813/code/php/getOutputZip.php?folder=$sc; cd ..; done"""
DELETE = """echo $fileList | jq -c -M . | while read line; do sc=`echo $line | cut -d'"' -f4`; d=`echo $line | cut -d'"' -f8`; mkdir -p "$d"; cd $d; curl http://<ip of MB>:2813/code/php/deleteStudy.php?scratchdir=$sc; cd ..; done"""

COPY_BUCKET = """#!/bin/sh
set -eu
echo "copying $1 to $2"
cp -R -- "$1/." "$2/"
"""


def literal(command: str, box: BoxProcess) -> str:
    return (
        command.replace("<ip of MagickBox>", "127.0.0.1")
        .replace("<port of MagickBox>", str(box.dicom_port))
        .replace("<ip of MB>", "127.0.0.1")
        .replace(":2813/", f":{box.http_port}/")
        .replace('"ip44"', '"MySelf"')
    )


def bash(script: str, cwd: Path) -> str:
    done = subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_seed_page_commands_work_literally(tmp_path: Path, box_factory: type[BoxProcess]) -> None:
    box = box_factory(data=tmp_path / "data")
    box.add_bucket(
        "bucketProcBucket",
        {"name": "ProcBucket", "AETitle": "ProcBucket", "enabled": 1, "version": "1"},
        COPY_BUCKET,
    )
    box.start()
    subjects = {}
    for number in range(3):
        folder = tmp_path / "subjects" / f"subject{number}"
        study_uid, files = write_study(folder, 2 + number, source=(EXPLICIT_LE, MR_EXPLICIT_LE)[number % 2])
        (folder / "notes.txt").write_text("not DICOM: storescu +sd +r keeps going")
        subjects[study_uid] = len(files)
        send = literal(SEND, box).replace("<single DICOM directory>", str(folder))
        subprocess.run(send.split(), check=True, capture_output=True, timeout=60)
        time.sleep(0.5)  # "in a loop with some sleep interval between send operations"

    work = tmp_path / "work"
    work.mkdir()
    wait_until(
        lambda: (
            bash(literal(COUNT_PENDING, box), work).strip() == "0"
            and len(bash(literal(LIST_DONE, box), work).strip().splitlines()) > 0
        ),
        timeout=90,
        interval=0.5,
        what="every session of MySelf has finished",
    )
    listed = bash(literal(LIST_DONE, box) + " | jq -c .", work).splitlines()
    finished = [json.loads(line) for line in listed]
    assert sorted(e["pid"] for e in finished) == sorted(f"scp_{uid}" for uid in subjects)
    assert all(e["status"] == "finished" and e["processingTime"] != "0" for e in finished)

    bash(f"{literal(FILE_LIST, box)}\n{literal(DOWNLOAD, box)}", work)
    for e in finished:
        archive = work / e["pid"] / f"{e['pid']}.zip"
        with zipfile.ZipFile(archive) as opened:
            assert opened.testzip() is None
            names = opened.namelist()
        assert names and all(n.startswith(f"{e['scratchdir']}/OUTPUT/") for n in names)
        assert len(names) == subjects[e["pid"].removeprefix("scp_")]

    said = bash(f"{literal(FILE_LIST, box)}\n{literal(DELETE, box)}", work)
    assert said.count(" will delete now ") == 3
    assert sorted(p.name for p in work.iterdir()) == sorted(e["pid"] for e in finished)
    assert bash(literal(LIST_DONE, box), work).strip() == ""
    assert bash(literal(COUNT_PENDING, box), work).strip() == "0"
    for e in finished:
        assert not (box.data / "scratch" / e["scratchdir"]).exists()
