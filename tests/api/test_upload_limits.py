"""Upload limits against a running box: zip bombs (413), malformed zips (400), a full disk (507).

Every refusal answers JSON and leaves nothing behind: no session row, no folder, no spooled file.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import BUCKET_AET, Served, start_served
from tests.api.test_uploads import make_zip, post, state_of


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = start_served(tmp_path_factory.mktemp("box") / "data")  # default limits
    yield served
    served.box.stop()
    served.store.db.close()


def bomb(path: Path, unpacked: int = 512 << 20) -> Path:
    """One entry of zeros: about 509 KB that unpacks to `unpacked` bytes."""
    zeros = bytes(1 << 20)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("zeros.dcm", "w", force_zip64=True) as entry,
    ):
        for _ in range(unpacked // len(zeros)):
            entry.write(zeros)
    return path


def curl_upload(served: Served, archive: Path, *extra: str) -> tuple[int, str]:
    argv = ["curl", "-sS", "-w", "\n%{http_code}", "-F", f"theFile=@{archive}", "-F", f"aetitle={BUCKET_AET}"]
    done = subprocess.run(
        [*argv, *extra, served.url + "/code/php/processZip.php"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


def test_a_509_kb_zip_that_unpacks_to_512_mb_is_a_413(served: Served, tmp_path: Path) -> None:
    archive = bomb(tmp_path / "bomb.zip")
    assert archive.stat().st_size < 600_000
    before = state_of(served)
    status, body = curl_upload(served, archive)
    assert status == 413 and "compression ratio" in body
    assert state_of(served) == before


def test_ratio_is_judged_per_entry_too(served: Served) -> None:
    """Random bytes keep the overall ratio low; one 3 MB entry of zeros still breaches it."""
    body = make_zip({"noise.bin": os.urandom(200_000), "zeros.bin": bytes(3 << 20)})
    before = state_of(served)
    response = post(served, body)
    assert response.status_code == 413 and "zeros.bin" in response.json()["detail"]
    assert state_of(served) == before


def test_an_honestly_compressible_small_file_is_accepted(served: Served) -> None:
    """A blank image compresses 1000:1; below the 1 MiB floor the ratio is not judged."""
    assert post(served, make_zip({"blank.dcm": bytes(500_000)}), sender="BLANK").status_code == 200


def _stored(name: str = "a.dcm", data: bytes = b"0123456789" * 10) -> bytearray:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(name, data)
    return bytearray(buffer.getvalue())


def _patch(body: bytearray, local: int, central: int, fmt: str, value: int) -> bytes:
    """Set one field in the local header (offset `local`) and the central record (`central`)."""
    struct.pack_into(fmt, body, local, value)
    struct.pack_into(fmt, body, body.find(b"PK\x01\x02") + central, value)
    return bytes(body)


def _bad_crc() -> bytes:
    body = _stored()
    body[40] ^= 0xFF  # a byte of the entry's data (its local header is 30 + 5 bytes long)
    return bytes(body)


MALFORMED = {
    "bad-crc": _bad_crc(),
    "size-smaller": _patch(_stored(), 22, 24, "<I", 50),
    "size-larger": _patch(_stored(), 22, 24, "<I", 5000),
    "encrypted": _patch(_stored(), 6, 8, "<H", 0x1),
    "unknown-method": _patch(_stored(), 8, 10, "<H", 99),
    "file-then-folder": make_zip({"a": b"x", "a/b": b"y"}),
    "folder-then-file": make_zip({"a/b": b"y", "a": b"x"}),
    "twice": make_zip({"a.dcm": b"x", "./a.dcm": b"y"}),
    "300-characters": make_zip({"n" * 300: b"x"}),
    "absolute": make_zip({"/tmp/x.dcm": b"x"}),
    "dotdot": make_zip({"a/../../x.dcm": b"x"}),
    "not-a-zip": b"PK\x03\x04 this only starts like a zip",
    "empty": b"",
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_zips_are_a_400_with_a_reason(served: Served, body: bytes) -> None:
    before = state_of(served)
    response = post(served, body)
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"error", "detail"} and response.json()["detail"]
    assert state_of(served) == before


def test_min_free_bytes_refuses_uploads_with_507(tmp_path: Path) -> None:
    served = start_served(tmp_path / "data", env={"MAGICKBOX_MIN_FREE_BYTES": str(1 << 60)})
    try:
        before = state_of(served)
        response = post(served, make_zip({"a.dcm": b"x"}))
        assert response.status_code == 507 and response.json()["error"] == "disk full"
        assert state_of(served) == before
    finally:
        served.box.stop()
        served.store.db.close()


# ---- a real full disk: a 64 MB tmpfs as the data folder ---------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_while_unpacking_or_spooling_is_a_507(small_disk: Path, tmp_path: Path) -> None:
    served = start_served(small_disk / "data")
    try:
        # 20,000 one-byte files: 2 MB of zip that needs 80 MB of 4 KB blocks on the tmpfs.
        archive = tmp_path / "many.zip"
        archive.write_bytes(make_zip({f"d{i // 1000}/f{i}.dcm": b"x" for i in range(20_000)}))
        before = state_of(served)
        status, body = curl_upload(served, archive)
        assert status == 507 and '"disk full"' in body
        assert state_of(served) == before
        # A body larger than the disk, sent without a Content-Length: full while spooling.
        big = tmp_path / "big.zip"
        big.write_bytes(os.urandom(80 << 20))
        status, body = curl_upload(served, big, "-H", "Transfer-Encoding: chunked")
        assert status == 507 and '"disk full"' in body
        assert state_of(served) == before
        # The box still works once the space is back.
        assert post(served, make_zip({"a.dcm": b"x"}), sender="AFTER").status_code == 200
        assert httpx.get(served.url + "/healthz").status_code == 200
    finally:
        served.box.stop()
        served.store.db.close()
