#!/usr/bin/env python3
"""Retrieval throughput: the box pulling N studies from Orthanc against Orthanc pushing them.

Loads N studies (default 100, 3 instances of pydicom's CT_small each, one patient and accession
per study) into Debian's Orthanc on loopback, then, in the same run:

  - magickbox: a box (`magickbox serve`, stages receive,retrieve,http) is asked for all N
               accessions (`POST /api/v1/retrievals`, C-FIND + C-MOVE to the box); timed from the
               request until the retrieval has ended and every session is sealed;
  - orthanc:   Orthanc is told to send the same N studies to dcmtk `storescp` with its own REST
               API (`POST /modalities/storescp/store`, synchronous), timed until it answers;

and prints studies per minute for each and the ratio magickbox/orthanc (> 1 = faster).

Run from the repository root:  .venv/bin/python -m bench.retrieve [--studies 100] [--method move]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import httpx

from tests.route.peers import StoreSCP
from tests.support.box import BoxProcess
from tests.support.dicomdata import write_patient_study
from tests.support.net import wait_until
from tests.support.orthanc import Orthanc


def load(orthanc: Orthanc, work: Path, studies: int, instances: int) -> list[str]:
    accessions = [f"BENCH{n:05d}" for n in range(studies)]
    for accession in accessions:
        folder = work / "studies" / accession
        write_patient_study(
            folder, patient_id=f"PAT{accession}", patient_name="Bench^Patient", accession=accession,
            series=(("Series A", "CT", instances),),
        )  # fmt: skip
        orthanc.upload(sorted(folder.glob("*.dcm")))
    return accessions


def time_box(box: BoxProcess, accessions: list[str], method: str) -> float:
    body = {"pacs": "PACS", "bucket": "ProcX", "keys": accessions, "method": method}
    start = time.perf_counter()
    created = httpx.post(box.url + "/api/v1/retrievals", json=body, timeout=30)
    created.raise_for_status()
    path = f"/api/v1/retrievals/{created.json()['id']}"

    def ended() -> bool:
        report = box.get_json(path)
        return report["state"] == "done" and all(s["session_state"] != "receiving" for s in report["studies"])

    wait_until(ended, timeout=3600, interval=0.2, what="the retrieval")
    elapsed = time.perf_counter() - start
    report = box.get_json(path)
    bad = [k for k in report["keys"] if k["state"] != "received"]
    assert not bad, bad[:3]
    return elapsed


def time_orthanc_push(orthanc: Orthanc, port: int) -> float:
    orthanc.register("storescp", "STORESCP", port)
    studies = orthanc.get_json("/studies")
    start = time.perf_counter()
    answer = orthanc.send("storescp", studies, timeout=3600)
    answer.raise_for_status()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=100)
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--method", choices=("move", "get"), default="move")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-retrieve-"))
    orthanc = Orthanc(work / "orthanc", name="bench").start()
    box: BoxProcess | None = None
    peer = StoreSCP(work / "storescp").start()
    try:
        accessions = load(orthanc, work, args.studies, args.instances)
        pacs = {"PACS": {"host": "127.0.0.1", "port": orthanc.dicom_port, "ae_title": orthanc.ae_title}}
        box = BoxProcess(
            data=work / "box", env={"MAGICKBOX_PACS": json.dumps(pacs)}, stages="receive,retrieve,http"
        )
        box.add_bucket("bucketProcX", {"name": "ProcX", "AETitle": "ProcX", "enabled": 1})
        box.start()
        orthanc.register("magickbox", box.ae_title, box.dicom_port)
        theirs = time_orthanc_push(orthanc, peer.port)
        ours = time_box(box, accessions, args.method)
    finally:
        if box is not None:
            box.stop()
        peer.stop()
        orthanc.stop(remove_storage=False)
    per_minute_ours, per_minute_theirs = args.studies / ours * 60, args.studies / theirs * 60
    print(f"{args.studies} studies x {args.instances} instances, {args.method}; data in {work}")
    print(f"magickbox retrieval ({args.method}): {ours:.2f} s, {per_minute_ours:.0f} studies/min")
    print(f"orthanc REST store to storescp: {theirs:.2f} s, {per_minute_theirs:.0f} studies/min")
    ratio = per_minute_ours / per_minute_theirs
    print(f"ratio magickbox/orthanc (studies per minute, > 1 = faster): {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
