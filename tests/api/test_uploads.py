"""processZip.php and POST /api/v1/uploads: one upload, one session; refusals leave nothing behind."""

from __future__ import annotations

import errno
import io
import json
import os
import stat
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from magickbox.api.uploads import clean_spool, disk_error, pid_for, spool_dir
from magickbox.config import load_settings
from magickbox.web.errors import ApiError
from tests.api.conftest import BUCKET, BUCKET_AET, Served, start_served

LIMITS = {
    "MAGICKBOX_UPLOAD_MAX_BYTES": "300000",
    "MAGICKBOX_UPLOAD_MAX_ENTRIES": "20",
    "MAGICKBOX_UPLOAD_MAX_UNPACKED_BYTES": "1000000",
}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = start_served(tmp_path_factory.mktemp("box") / "data", env=LIMITS)
    yield served
    served.box.stop()
    served.store.db.close()


def make_zip(entries: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def post(
    served: Served, body: bytes, path: str = "/code/php/processZip.php", **fields: str
) -> httpx.Response:
    data = {"aetitle": BUCKET_AET, "filename": "upload_123", "description": "Send by MagickBox", **fields}
    return httpx.post(served.url + path, data=data, files={"theFile": ("upload_123", body)}, timeout=30)


def state_of(served: Served) -> tuple[list[str], list[str], list[str]]:
    """Session folders, session rows, spooled uploads: what a refused upload must not change."""
    folders = sorted(p.name for p in served.store.layout.root.iterdir())
    rows = sorted(r["scratchdir"] for r in served.store.db.query("SELECT scratchdir FROM sessions"))
    spool = served.store.settings.data / ".uploads"
    spooled = sorted(p.name for p in spool.iterdir()) if spool.exists() else []
    return folders, rows, spooled


def test_process_zip_makes_one_queued_session(small: Served) -> None:
    body = make_zip({"a_file00001.dcm": b"x" * 500, "file00002_notes.txt": b"notes"})
    response = post(small, body, sender='hauke:p1 "quoted" $(id)', jobname="DICOMS;rm -rf /", arguments="-v")
    assert response.status_code == 200 and response.content == b""
    rows = small.store.db.query("SELECT * FROM sessions WHERE calling_aet = ?", ('hauke:p1 "quoted" $(id)',))
    assert len(rows) == 1
    row = rows[0]
    assert row["state"] == "queued" and row["bucket"] == BUCKET and row["source"] == "upload"
    assert row["pid"] == "mb_DICOMS_rm_-rf" and row["arguments"] == "-v"
    folder = small.store.layout.session_dir(row["scratchdir"])
    assert sorted(p.name for p in (folder / "INPUT").iterdir()) == ["a_file00001.dcm", "file00002_notes.txt"]
    assert not any(p.stat().st_mode & 0o111 for p in (folder / "INPUT").iterdir())
    info = json.loads((folder / "info.json").read_text())
    assert info["AETitleCaller"] == 'hauke:p1 "quoted" $(id)' and info["AETitleCalled"] == BUCKET_AET
    listed = [
        e
        for e in httpx.get(small.url + "/code/php/getScratch.php").json()
        if e["scratchdir"] == row["scratchdir"]
    ]
    assert len(listed) == 1 and listed[0]["pid"] == "mb_DICOMS_rm_-rf"


def test_sender_defaults_to_mb_shell_and_v1_answers_the_session(small: Served) -> None:
    response = post(small, make_zip({"x.dcm": b"x"}), path="/api/v1/uploads")
    assert response.status_code == 201
    created = response.json()
    assert created["caller"] == "mb-shell" and created["status"] == "queued" and created["pid"] == "mb_upload"
    assert small.store.sessions.by_scratchdir(created["scratchdir"]).instances == 1


def test_mb_push_style_upload_with_curl(small: Served, tmp_path: Path) -> None:
    archive = tmp_path / "DICOMS_4711"
    archive.write_bytes(make_zip({"img_file00001.dcm": b"d" * 100}))
    fields = [
        "aetitle=" + BUCKET_AET,
        "sender=curlsender",
        "jobname=DICOMS",
        "filename=DICOMS_4711",
        "arguments=",
    ]
    argv = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-F", f"theFile=@{archive}"]
    for value in fields:
        argv += ["-F", value]
    code = subprocess.run(
        [*argv, small.url + "/code/php/processZip.php"], capture_output=True, text=True
    ).stdout
    assert code == "200"
    row = small.store.db.query_one("SELECT pid FROM sessions WHERE calling_aet = 'curlsender'")
    assert row is not None and row["pid"] == "mb_DICOMS"


@pytest.mark.parametrize(
    ("body", "fields", "status"),
    [
        (make_zip({"a.dcm": b"x"}), {"aetitle": "NoSuchBucket"}, 404),
        (make_zip({"a.dcm": b"x"}), {"aetitle": "ProcOff"}, 404),
        (make_zip({"a.dcm": b"x"}), {"aetitle": ""}, 400),
        (b"this is not a zip file at all", {}, 400),
        (make_zip({"a.dcm": b"x"})[:-30], {}, 400),
        (make_zip({"../escape.txt": b"x"}), {}, 400),
        (make_zip({"sub/../../escape.txt": b"x"}), {}, 400),
        (make_zip({"/etc/escape.txt": b"x"}), {}, 400),
        (make_zip({"ok.dcm": b"x"}, links={"link": "/etc/passwd"}), {}, 400),
        (make_zip({f"f{i}.dcm": b"x" for i in range(25)}), {}, 413),
        (make_zip({"big.dcm": b"\0" * 2_000_000}), {}, 413),
        (b"z" * 400_000, {}, 413),
    ],
    ids=[
        "unknown-aetitle", "disabled-bucket", "empty-aetitle", "not-a-zip", "truncated-zip", "dotdot",
        "nested-dotdot", "absolute", "symlink", "too-many-entries", "unpacks-too-large", "too-large",
    ],
)  # fmt: skip
def test_refused_uploads_leave_nothing_behind(
    small: Served, body: bytes, fields: dict[str, str], status: int
) -> None:
    before = state_of(small)
    response = post(small, body, **fields)
    assert response.status_code == status
    assert set(response.json()) == {"error", "detail"}
    assert state_of(small) == before


def test_upload_without_file_is_refused(small: Served) -> None:
    response = httpx.post(small.url + "/code/php/processZip.php", data={"aetitle": BUCKET_AET})
    assert response.status_code == 400
    response = httpx.post(small.url + "/code/php/processZip.php", content=b"{}")
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("jobname", "pid"),
    [
        ("DICOMS", "mb_DICOMS"),
        ("", "mb_upload"),
        ("../..", "mb_upload"),
        ("a b/c", "mb_a_b_c"),
        ("ü", "mb_upload"),
    ],
)
def test_pid_is_never_empty_and_safe(jobname: str, pid: str) -> None:
    assert pid_for(jobname) == pid


@pytest.mark.parametrize(
    "body",
    [
        b"garbage",
        b"--abc\r\nbroken header\r\n\r\nx\r\n--abc--\r\n",
        b'--abc\r\nContent-Disposition: form-data; name="aetitle"\r\n\r\nProcTest',
        b'--abc\r\nContent-Disposition: form-data; name="theFile"; filename="x"\r\n\r\nPK',
    ],
    ids=["garbage", "bad-header", "no-closing-boundary", "cut-in-file"],
)
def test_malformed_multipart_is_a_400(small: Served, body: bytes) -> None:
    before = state_of(small)
    headers = {"content-type": "multipart/form-data; boundary=abc"}
    response = httpx.post(small.url + "/code/php/processZip.php", content=body, headers=headers)
    assert response.status_code == 400 and set(response.json()) == {"error", "detail"}
    assert state_of(small) == before


def test_stale_spooled_uploads_are_removed(tmp_path: Path) -> None:
    settings = load_settings(data=str(tmp_path / "data"))
    spool = spool_dir(settings)
    old, fresh = spool / "upload-old.zip", spool / "upload-fresh.zip"
    old.write_bytes(b"x")
    fresh.write_bytes(b"y")
    os.utime(old, (0, 0))
    assert clean_spool(settings) == 1
    assert not old.exists() and fresh.exists()


def test_a_full_disk_is_a_507() -> None:
    full = disk_error(OSError(errno.ENOSPC, "No space left on device"))
    assert isinstance(full, ApiError) and full.status == 507
    other = OSError(errno.EIO, "I/O error")
    assert disk_error(other) is other
