"""Hostile files against a running box (issue 28, items 3 and 7): decompression bombs sent over
DICOM and written by a bucket, and a bucket that makes OUTPUT a link out of its session.

Memory is the box's own peak (VmHWM of `magickbox serve` and its receive workers, from /proc):
a bomb must cost the box a placeholder picture, not gigabytes.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image
from pydicom.uid import CTImageStorage, DeflatedExplicitVRLittleEndian, JPEG2000Lossless, generate_uid
from pynetdicom import AE, _config

from magickbox.config import load_settings
from magickbox.store import Store
from tests.support import hostile
from tests.support.box import BoxProcess
from tests.support.net import wait_until

MEMORY_BOUND_KB = 1 << 20  # 1 GiB: the box, receive workers included, while it shows the bombs
PLACEHOLDER_GREY = (48, 52, 60)  # preview.render.placeholder_png's background


def peak_kb(box: BoxProcess) -> dict[int, int]:
    """VmHWM (peak resident memory) of the box process and of each receive worker, by pid."""
    assert box.proc is not None
    peaks = {}
    for pid in (box.proc.pid, *box.receive_workers().values()):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks[pid] = int(line.split()[1])
    return peaks


def send_files(box: BoxProcess, paths: list[Path], calling: str) -> None:
    """C-STORE each file as it is on disk (pynetdicom streams it, never decodes or inflates it)."""
    _config.STORE_SEND_CHUNKED_DATASET = True
    ae = AE(ae_title=calling)
    for syntax in (DeflatedExplicitVRLittleEndian, JPEG2000Lossless):
        ae.add_requested_context(CTImageStorage, [syntax])
    assoc = ae.associate("127.0.0.1", box.dicom_port, ae_title="ProcCopy")
    assert assoc.is_established
    try:
        for path in paths:
            assert assoc.send_c_store(path).Status == 0x0000, path
    finally:
        assoc.release()


def is_placeholder(body: bytes) -> bool:
    image = Image.open(io.BytesIO(body)).convert("RGB")
    return image.getpixel((4, 4)) == PLACEHOLDER_GREY


@pytest.fixture
def store_of() -> Iterator[list[Store]]:
    opened: list[Store] = []
    yield opened
    for store in opened:
        store.db.close()


@pytest.mark.slow
def test_bombs_over_dicom_get_a_placeholder_and_bounded_memory(
    tmp_path: Path, box_factory: type[BoxProcess], store_of: list[Store]
) -> None:
    box = box_factory(data=tmp_path / "data").start()
    bombs = tmp_path / "bombs"
    bombs.mkdir()
    deflated = hostile.deflated_bomb(bombs / "deflated.dcm", study_uid=generate_uid())
    j2k = hostile.j2k_lying(bombs / "j2k.dcm", study_uid=generate_uid())
    assert deflated.stat().st_size < 4 << 20 and j2k.stat().st_size < 4 << 10  # small on the wire
    send_files(box, [deflated], "DEFLATE")
    send_files(box, [j2k], "JPEG2000")

    store = Store(load_settings(data=str(box.data)))
    store_of.append(store)
    wait_until(lambda: len(store.sessions.all()) == 2, timeout=60, what="two sessions")
    sessions = store.sessions.all()
    wait_until(lambda: all(store.studies.series(s.id) for s in sessions), timeout=30, what="indexed")
    with httpx.Client(base_url=box.url, timeout=60) as http:
        assert http.get("/").status_code == 200  # the sessions list, as a browser opens it
        urls = [f"/ui/sessions/{s.scratchdir}/thumbnail.png?size=64" for s in sessions]
        for s in sessions:
            uid = store.studies.series(s.id)[0]["SeriesInstanceUID"]
            base = f"/api/v1/sessions/{s.scratchdir}/series/{uid}"
            urls += [f"{base}/thumbnail.png?size={n}" for n in (64, 128, 256)]
            urls.append(f"{base}/instances/0/image.png?size=512&wc=0&ww=10")  # uncached
        with ThreadPoolExecutor(max_workers=len(urls)) as pool:  # at once, as a page's pictures load
            answers = list(pool.map(http.get, urls))
    for url, answer in zip(urls, answers, strict=True):
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/png", url
        assert is_placeholder(answer.content), f"{url} decoded the bomb instead of refusing it"
    peaks = peak_kb(box)
    assert max(peaks.values()) < MEMORY_BOUND_KB, f"peak resident memory (KiB) by pid: {peaks}"
    assert "too large" in box.server_log(20000)


LINK_OUTPUT = """#!/bin/sh
# A bucket tricked into making OUTPUT a link out of its session (each run counted in {runs}).
echo run >> {runs}
rm -rf "$2"
ln -s {outside} "$2"
"""
LINKS_INSIDE = """#!/bin/sh
# A bucket that puts links to files and folders outside its session into OUTPUT, and a NIfTI bomb.
cp "$1"/* "$2"/
ln -s {outside}/canary.txt "$2"/canary.txt
ln -s {outside} "$2"/outside
cp {bomb} "$2"/bomb.nii.gz
"""


def _downloads(http: httpx.Client, scratchdir: str) -> list[bytes]:
    """Everything the HTTP surfaces serve of a session's OUTPUT: zips, listings, the page."""
    bodies = []
    for url in (
        f"/code/php/getOutputZip.php?folder={scratchdir}",
        f"/api/v1/sessions/{scratchdir}/output.zip",
        f"/api/v1/sessions/{scratchdir}",
        f"/api/v1/sessions/{scratchdir}/output/nifti",
        f"/api/v1/sessions/{scratchdir}/output/series",
        f"/ui/sessions/{scratchdir}",
    ):
        answer = http.get(url)
        assert answer.status_code in (200, 404), (url, answer.status_code, answer.text[:200])
        body = answer.content
        if body.startswith(b"PK"):
            with zipfile.ZipFile(io.BytesIO(body)) as archive:
                body = (
                    "\n".join(archive.namelist()).encode()
                    + b"\n"
                    + b"".join(archive.read(n) for n in archive.namelist())
                )
        bodies.append(body)
    return bodies


@pytest.mark.slow
def test_a_bucket_cannot_publish_or_empty_what_is_outside_its_session(
    tmp_path: Path, box_factory: type[BoxProcess], store_of: list[Store]
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = b"CANARY-" + generate_uid().encode()
    (outside / "canary.txt").write_bytes(secret)
    bomb = hostile.nifti_bomb(tmp_path / "bomb.nii.gz")
    box = box_factory(data=tmp_path / "data")
    box.add_bucket("bucketLinkOut", {"name": "LinkOut", "AETitle": "LinkOut", "enabled": 1},
                   LINK_OUTPUT.format(outside=outside, runs=tmp_path / "runs"))  # fmt: skip
    box.add_bucket("bucketLinkIn", {"name": "LinkIn", "AETitle": "LinkIn", "enabled": 1},
                   LINKS_INSIDE.format(outside=outside, bomb=bomb))  # fmt: skip
    box.start()
    for called in ("LinkOut", "LinkIn"):
        study = tmp_path / called
        study.mkdir()
        hostile.with_series_uid(study / "a.dcm", generate_uid(), study_uid=generate_uid(), patient_id="P")
        box.storescu(study, calling=called, called=called)

    store = Store(load_settings(data=str(box.data)))
    store_of.append(store)
    ended = ("finished", "failed")
    wait_until(lambda: len([s for s in store.sessions.all() if s.state in ended]) == 2, timeout=90,
               what="both buckets ended")  # fmt: skip
    by_bucket = {s.called_aet: s for s in store.sessions.all()}
    with httpx.Client(base_url=box.url, timeout=60) as http:
        for session in by_bucket.values():
            for body in _downloads(http, session.scratchdir):
                assert secret not in body and b"canary.txt" not in body, session.called_aet
        inside = by_bucket["LinkIn"].scratchdir
        assert http.get(f"/api/v1/sessions/{inside}/output/nifti").json() == ["bomb.nii.gz"]
        picture = http.get(f"/ui/sessions/{inside}/output/nifti/bomb.nii.gz/preview.png?size=384")
        assert picture.status_code == 200 and is_placeholder(picture.content)

        linked = by_bucket["LinkOut"]
        rerun = http.post(f"/api/v1/sessions/{linked.scratchdir}/rerun")
        assert rerun.status_code < 300, rerun.text
        runs = tmp_path / "runs"
        wait_until(
            lambda: runs.read_text().count("run") == 2 and store.sessions.get(linked.id).state in ended,
            timeout=90, what="the rerun ended",
        )  # fmt: skip
        removed = http.delete(f"/api/v1/sessions/{linked.scratchdir}/output")
        assert removed.status_code < 500, removed.text
    assert (outside / "canary.txt").read_bytes() == secret, "a rerun or removal emptied the link's target"
    peaks = peak_kb(box)
    assert max(peaks.values()) < MEMORY_BOUND_KB, f"peak resident memory (KiB) by pid: {peaks}"
