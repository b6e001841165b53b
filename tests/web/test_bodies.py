"""Request bodies against a running box: a 1 GiB body, sent from a raw socket as it is made (never
held by the test), is refused before it is read: 401 for an anonymous one once tokens exist,
413 over `http_max_body_bytes` otherwise; the box's peak memory (VmHWM) stays bounded; uploads
keep their own, larger limit."""

from __future__ import annotations

import json
import os
import select
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import httpx
import pytest

from tests.api.conftest import BUCKET_AET, Served, start_served
from tests.api.test_auth import token_cli
from tests.api.test_uploads import make_zip

pytestmark = pytest.mark.slow

GIB = 1 << 30
BLOCK = b"[" * (1 << 20)  # hostile even when parsed: 1 MiB of nesting
PEAK_LIMIT_KB = 400 << 10  # the box idles near 110 MB; a parsed 1 GiB body took 4.2 GB
Framing = Literal["chunked", "length", "lying"]


def peak_kb(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM in /proc/<pid>/status), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def post_huge(
    served: Served, path: str, framing: Framing, headers: tuple[str, ...] = (), total: int = GIB
) -> tuple[int, dict[str, object], int]:
    """POST `total` bytes to `path`, made block by block while sending; stop as soon as the box
    answers, stops reading or closes. Returns (status, JSON body, bytes sent)."""
    framing_header = {
        "chunked": "Transfer-Encoding: chunked",
        "length": f"Content-Length: {total}",
        "lying": "Content-Length: 1000",  # then 1 GiB anyway
    }[framing]
    head = "\r\n".join([f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
                        framing_header, *headers, "", ""])  # fmt: skip
    sent = 0
    with socket.create_connection(("127.0.0.1", served.box.http_port), timeout=10) as sock:
        sock.sendall(head.encode())
        while sent < total and not select.select([sock], [], [], 0)[0]:
            block = BLOCK if framing != "chunked" else b"%x\r\n%s\r\n" % (len(BLOCK), BLOCK)
            try:
                sock.sendall(block)
            except (TimeoutError, ConnectionError):
                break  # the box stopped reading (or closed): its answer is waiting
            sent += len(BLOCK)
        return (*read_response(sock), sent)


def read_response(sock: socket.socket) -> tuple[int, dict[str, object]]:
    sock.settimeout(30)
    data = b""
    while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < _length(data):
        try:
            chunk = sock.recv(65536)
        except ConnectionError:
            break
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body[: _length(data)])


def _length(data: bytes) -> int:
    for line in data.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 1 << 62


@pytest.fixture(scope="module")
def open_box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = start_served(tmp_path_factory.mktemp("open") / "data")
    yield served
    served.box.stop()
    served.store.db.close()


@pytest.fixture(scope="module")
def guarded_box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str]]:
    served = start_served(tmp_path_factory.mktemp("guarded") / "data")
    created = token_cli(served.box.data, "create", "--scope", "write", "--name", "writer")
    assert created.returncode == 0, created.stderr
    yield served, created.stdout.split()[0]
    served.box.stop()
    served.store.db.close()


def box_pid(served: Served) -> int:
    assert served.box.proc is not None
    return served.box.proc.pid


@pytest.mark.parametrize("framing", ["chunked", "length", "lying"])
def test_anonymous_gibibyte_to_retrievals_is_refused_unread(
    guarded_box: tuple[Served, str], framing: Framing
) -> None:
    served, _ = guarded_box
    status, body, sent = post_huge(served, "/api/v1/retrievals", framing)
    assert status == 401 and body["error"] == "token required"
    assert sent < GIB // 4  # refused long before the end of the body
    assert peak_kb(box_pid(served)) < PEAK_LIMIT_KB


def test_anonymous_routing_check_is_refused_once_tokens_exist(guarded_box: tuple[Served, str]) -> None:
    served, _ = guarded_box
    status, body, _ = post_huge(served, "/ui/routing/check", "chunked")
    assert status == 401 and "error" in body
    assert peak_kb(box_pid(served)) < PEAK_LIMIT_KB


def test_a_token_holder_body_is_still_bounded(guarded_box: tuple[Served, str]) -> None:
    served, token = guarded_box
    bearer = (f"Authorization: Bearer {token}",)
    status, body, sent = post_huge(served, "/api/v1/retrievals", "chunked", bearer)
    assert status == 413 and body["error"] == "request body too large"
    assert sent < GIB // 4
    assert peak_kb(box_pid(served)) < PEAK_LIMIT_KB


@pytest.mark.parametrize("path", ["/ui/routing/check", "/api/v1/retrievals", "/api/v1/notifications/test"])
@pytest.mark.parametrize("framing", ["chunked", "length"])
def test_open_box_refuses_a_gibibyte_with_413(open_box: Served, path: str, framing: Framing) -> None:
    status, body, sent = post_huge(open_box, path, framing)
    assert status == 413 and body["error"] == "request body too large"
    assert sent < GIB // 4
    assert peak_kb(box_pid(open_box)) < PEAK_LIMIT_KB


def test_open_box_lying_length_reads_only_what_was_declared(open_box: Served) -> None:
    status, body, _ = post_huge(open_box, "/api/v1/retrievals", "lying")
    assert 400 <= status < 500 and "error" in body
    assert peak_kb(box_pid(open_box)) < PEAK_LIMIT_KB


def test_uploads_keep_their_own_larger_limit(open_box: Served) -> None:
    """A 6 MiB zip (over the 4 MiB JSON cap) is still accepted by processZip.php and /api/v1/uploads."""
    payload = make_zip({"a.dcm": os.urandom(6 << 20)})  # random: deflate keeps it 6 MiB
    assert len(payload) > 6 << 20
    for path in ("/code/php/processZip.php", "/api/v1/uploads"):
        answer = httpx.post(
            open_box.url + path,
            data={"aetitle": BUCKET_AET},
            files={"theFile": ("u.zip", payload, "application/zip")},
            timeout=60,
        )
        assert answer.status_code in (200, 201), answer.text
