"""Downloading a session zip with the standard library's HTTP client.

httpx parses a streamed (chunked) answer at about a quarter of the speed of `curl` on loopback;
http.client reads it at curl's speed, so the large transfers of `mb pull` use it. The headers
(token, Range for resuming) and the error messages are the same as for every other request.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlencode

from magickbox.client.boxes import USER_AGENT, BoxClient

CHUNK = 1 << 20
STALL_S = 120.0  # no byte for this long: the download is broken (it is then resumed or redone)


def describe_os_error(exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "cannot connect: connection refused (is the box running, is the port right?)"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"did not answer within {timeout_s:g}s"
    if isinstance(exc, http.client.IncompleteRead):
        return "the connection broke off in the middle of the download"
    return f"broke the connection: {exc.__class__.__name__}: {exc}"


@dataclass
class ZipAnswer:
    client: BoxClient
    response: http.client.HTTPResponse

    @property
    def status(self) -> int:
        return self.response.status

    def header(self, name: str) -> str:
        return self.response.getheader(name) or ""

    def chunks(self) -> Iterator[bytes]:
        try:
            while chunk := self.response.read(CHUNK):
                yield chunk
        except (OSError, http.client.HTTPException) as exc:
            raise self.client.fail(describe_os_error(exc, STALL_S)) from exc


@contextmanager
def open_zip(client: BoxClient, scratchdir: str, kind: str, offset: int) -> Iterator[ZipAnswer]:
    """GET getOutputZip.php (type=input for the input); from `offset` on when resuming."""
    params = {"folder": scratchdir, **({"type": "input"} if kind == "input" else {})}
    headers = {"User-Agent": USER_AGENT}
    if client.machine.token:
        headers["Authorization"] = f"Bearer {client.machine.token}"
    if offset:
        headers["Range"] = f"bytes={offset}-"
    host = client.machine.host
    connection = http.client.HTTPConnection(host, int(client.machine.port), timeout=client.timeout_s)
    try:
        try:
            connection.connect()  # within the Timeout of ~/.mb; reads may then stall up to STALL_S
            if connection.sock is not None:
                connection.sock.settimeout(max(STALL_S, 10 * client.timeout_s))
            connection.request("GET", "/code/php/getOutputZip.php?" + urlencode(params), headers=headers)
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            raise client.fail(describe_os_error(exc, client.timeout_s)) from exc
        if response.status >= 300 and response.status != 416:
            raise client.status_error(response.status, response.read(65536), f"downloading {scratchdir}")
        yield ZipAnswer(client, response)
    finally:
        connection.close()
