"""HTTP calls to one box (the original's `/code/php/` endpoints, plus ours), and asking many at once."""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx

from magickbox import __version__
from magickbox.client.errors import BoxError
from magickbox.client.home import Machine

T = TypeVar("T")
USER_AGENT = f"mb/{__version__} (MagickBox)"


def describe_http_error(exc: httpx.HTTPError, timeout_s: float) -> str:
    """A sentence a user understands, for a failed request."""
    if isinstance(exc, httpx.ConnectTimeout):
        return f"did not accept a connection within {timeout_s:g}s (down, or a firewall?)"
    if isinstance(exc, httpx.TimeoutException):
        return f"did not answer within {timeout_s:g}s (raise it with `mb setSetting Timeout 10s`)"
    if isinstance(exc, httpx.ConnectError):
        reason = str(exc) or "connection failed"
        if "refused" in reason.lower():
            reason = "connection refused (is the box running, is the port right?)"
        return f"cannot connect: {reason}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"broke the connection: {exc}"
    return f"request failed: {exc.__class__.__name__}: {exc}"


def error_detail(content: bytes) -> str:
    """The box's JSON error (`{"error", "detail"}`), or nothing."""
    try:
        body = json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""
    if isinstance(body, dict):
        parts = [str(body[key]) for key in ("error", "detail") if body.get(key)]
        return ": ".join(parts)
    return ""


class BoxClient:
    """One box. `timeout_s` is the Timeout of `~/.mb`: it bounds connecting, and (x10) waiting for answers."""

    def __init__(self, machine: Machine, timeout_s: float) -> None:
        self.machine = machine
        self.timeout_s = timeout_s
        headers = {"User-Agent": USER_AGENT}
        if machine.token:
            headers["Authorization"] = f"Bearer {machine.token}"
        self.http = httpx.Client(
            base_url=machine.base_url,
            headers=headers,
            timeout=httpx.Timeout(10 * timeout_s, connect=timeout_s),
            follow_redirects=False,
        )

    @property
    def label(self) -> str:
        return self.machine.label

    def close(self) -> None:
        self.http.close()

    def fail(self, message: str) -> BoxError:
        return BoxError(self.label, message)

    def check(self, response: httpx.Response, what: str) -> httpx.Response:
        """Raise a named error for a non-2xx answer (the original saved error pages as zips)."""
        if response.is_success:
            return response
        raise self.status_error(response.status_code, response.content, what)

    def status_error(self, code: int, content: bytes, what: str) -> BoxError:
        detail = error_detail(content)
        if code in (401, 403):
            hint = "the box needs an API token: `mb activeMachines add <host> <port> --token <token>`"
            return self.fail(f"{what}: refused ({code}{': ' + detail if detail else ''}); {hint}")
        return self.fail(f"{what}: HTTP {code}{': ' + detail if detail else ''}")

    def request(self, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise self.fail(describe_http_error(exc, self.timeout_s)) from exc
        return self.check(response, what)

    def get_json(self, path: str, what: str, **params: str) -> Any:
        response = self.request("GET", path, what, params=params or None)
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise self.fail(f"{what}: the answer is not JSON") from exc

    # ---- ours only ----------------------------------------------------------------------------
    def search(self, text: str) -> set[str]:
        """The scratchdirs of the sessions the box's study index finds for `text` (`q=`)."""
        found: set[str] = set()
        offset = 0
        while True:
            page = self.get_json(
                "/api/v1/sessions", f"searching for {text!r}", q=text, limit="1000", offset=str(offset)
            )
            items = page.get("items") if isinstance(page, dict) else None
            if not isinstance(items, list):
                raise self.fail("searching: the answer is not a page of sessions")
            found.update(str(item.get("scratchdir")) for item in items if isinstance(item, dict))
            offset += len(items)
            if not items or offset >= int(page.get("total", 0)):
                return found

    # ---- the original's endpoints ---------------------------------------------------------
    def scratch(self) -> list[dict[str, Any]]:
        data = self.get_json("/code/php/getScratch.php", "listing sessions")
        if not isinstance(data, list):
            raise self.fail("listing sessions: the answer is not a JSON array")
        return [entry for entry in data if isinstance(entry, dict)]

    def log(self, scratchdir: str) -> str:
        try:
            response = self.http.get(f"/scratch/{scratchdir}/processing.log")
        except httpx.HTTPError as exc:
            raise self.fail(describe_http_error(exc, self.timeout_s)) from exc
        if response.status_code == 404:
            return ""  # no log yet (queued), or the session is gone
        return self.check(response, f"reading the log of {scratchdir}").text

    def buckets(self) -> list[dict[str, Any]]:
        data = self.get_json("/code/php/getInstalledBuckets.php", "listing buckets")
        if not isinstance(data, list):
            raise self.fail("listing buckets: the answer is not a JSON array")
        return [entry for entry in data if isinstance(entry, dict)]

    def status(self) -> list[list[str]]:
        data = self.get_json("/code/php/getStatus.php", "reading the queue status")
        if not isinstance(data, list):
            raise self.fail("reading the queue status: the answer is not a JSON array")
        return [[str(cell) for cell in row] for row in data if isinstance(row, list)]

    def delete(self, scratchdir: str) -> str:
        response = self.request(
            "GET", "/code/php/deleteStudy.php", f"removing {scratchdir}", params={"scratchdir": scratchdir}
        )
        return response.text

    # ---- ours ---------------------------------------------------------------------------------
    def keep(self, scratchdir: str, kept: bool) -> None:
        """Keep (or release) a session: `/api/v1/sessions/<scratchdir>/keep`."""
        what = f"{'keeping' if kept else 'releasing'} {scratchdir}"
        self.request("POST" if kept else "DELETE", f"/api/v1/sessions/{scratchdir}/keep", what)

    def machines(self) -> list[dict[str, Any]] | None:
        """The boxes this box knows (`/api/v1/machines`); None for a box without that endpoint."""
        try:
            response = self.http.get("/api/v1/machines")
        except httpx.HTTPError as exc:
            raise self.fail(describe_http_error(exc, self.timeout_s)) from exc
        if response.status_code in (404, 405):
            return None
        data = self.check(response, "listing the boxes it knows").json()
        if not isinstance(data, list):
            raise self.fail("listing the boxes it knows: the answer is not a JSON array")
        return [entry for entry in data if isinstance(entry, dict)]

    def has_api_v1(self) -> bool:
        """Whether this is one of our boxes (so `/api/v1` exists), not an original MagickBox.

        `MB_ORIGINAL_ENDPOINTS=1` answers no: mb then uses only what an original box offers.
        """
        if os.environ.get("MB_ORIGINAL_ENDPOINTS", "") not in ("", "0"):
            return False
        try:
            response = self.http.get("/healthz")
        except httpx.HTTPError:
            return False
        return response.status_code == 200


@dataclass
class Answer(Generic[T]):
    client: BoxClient
    value: T | None = None
    error: BoxError | None = None


def fan_out(
    clients: Sequence[BoxClient], call: Callable[[BoxClient], T], deadline_s: float
) -> list[Answer[T]]:
    """Run `call` on every box at once; a box that fails or misses the deadline gets an error.

    Results keep the order of `clients` (the order of `~/.magickbox`). Threads are daemons, so a
    box that hangs past the deadline never keeps `mb` from exiting.
    """
    answers = [Answer[T](client) for client in clients]
    done: queue.Queue[int] = queue.Queue()

    def run(index: int) -> None:
        answer = answers[index]
        try:
            answer.value = call(answer.client)
        except BoxError as exc:
            answer.error = exc
        except Exception as exc:  # a bug or an odd answer must name the box, not kill the others
            answer.error = answer.client.fail(f"{exc.__class__.__name__}: {exc}")
        done.put(index)

    for index in range(len(answers)):
        threading.Thread(target=run, args=(index,), daemon=True).start()
    finished: set[int] = set()
    end = time.monotonic() + deadline_s
    while len(finished) < len(answers):
        try:
            finished.add(done.get(timeout=max(0.0, end - time.monotonic())))
        except queue.Empty:
            break
    # Copies: a straggler thread may still write into `answers` after the deadline.
    return [
        Answer(a.client, a.value, a.error)
        if index in finished
        else Answer[T](a.client, None, a.client.fail(f"did not answer within {deadline_s:g}s"))
        for index, a in enumerate(answers)
    ]
