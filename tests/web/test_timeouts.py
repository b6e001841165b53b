"""Unfinished request heads and stalled bodies are closed by the box; others keep being served."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator

import pytest

from tests.api.conftest import BUCKET_AET, Served, start_served
from tests.support.net import wait_until

HALF_HEAD = b"GET /code/php/getScratch.php HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow"
TIMEOUTS = {"MAGICKBOX_HTTP_HEADER_TIMEOUT_S": "2", "MAGICKBOX_HTTP_BODY_TIMEOUT_S": "2"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = start_served(tmp_path_factory.mktemp("box") / "data", env=TIMEOUTS)
    yield served
    served.box.stop()
    served.store.db.close()


def open_fds(served: Served) -> int:
    assert served.box.proc is not None
    return len(os.listdir(f"/proc/{served.box.proc.pid}/fd"))


def closed_by_peer(sock: socket.socket) -> bool:
    """True once the box has closed its end (EOF or reset); waits at most 30 s for it."""
    sock.settimeout(30)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def curl_status(url: str) -> str:
    argv = ["curl", "-sS", "-m", "20", "-o", "/dev/null", "-w", "%{http_code}", url]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout


def test_1100_half_request_heads_are_closed_and_curl_works_meanwhile(served: Served) -> None:
    baseline = open_fds(served)
    socks = []
    try:
        for _ in range(1100):
            sock = socket.create_connection(("127.0.0.1", served.box.http_port))
            sock.sendall(HALF_HEAD)
            socks.append(sock)
        assert curl_status(served.url + "/code/php/getScratch.php") == "200"
        assert all(closed_by_peer(sock) for sock in socks)
    finally:
        for sock in socks:
            sock.close()
    wait_until(lambda: open_fds(served) <= baseline + 10, timeout=30, what="the box's descriptors back")
    assert curl_status(served.url + "/healthz") == "200"


def test_a_silent_connection_and_a_slow_second_head_are_closed(served: Served) -> None:
    with socket.create_connection(("127.0.0.1", served.box.http_port)) as silent:
        assert closed_by_peer(silent)
    with socket.create_connection(("127.0.0.1", served.box.http_port)) as kept:
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        kept.settimeout(10)
        assert kept.recv(4096).startswith(b"HTTP/1.1 200")
        kept.sendall(HALF_HEAD)  # the next request on the kept-alive connection never finishes
        assert closed_by_peer(kept)


def test_a_stalled_upload_body_is_closed_and_leaves_nothing(served: Served) -> None:
    spool = served.store.settings.data / ".uploads"
    head = (
        "POST /code/php/processZip.php HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: multipart/form-data; boundary=abc\r\nContent-Length: 100000\r\n\r\n"
    )
    part = f'--abc\r\nContent-Disposition: form-data; name="aetitle"\r\n\r\n{BUCKET_AET}\r\n--abc\r\n'
    with socket.create_connection(("127.0.0.1", served.box.http_port)) as stalled:
        stalled.sendall(head.encode() + part.encode() + b'Content-Disposition: form-data; name="theFile"')
        assert closed_by_peer(stalled)
    wait_until(lambda: not any(spool.glob("upload-*")), timeout=10, what="the spooled part removed")
    assert served.store.db.query("SELECT id FROM sessions") == []
