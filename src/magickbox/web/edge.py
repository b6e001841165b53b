"""The HTTP edge in front of every route: Host check, cross-site refusal, security headers.

A pure ASGI middleware (it never buffers a body, so streamed zips and uploads pass untouched):

- a `Host` header that is not an IP literal, `localhost`, this machine's name or a name in
  `allowed_hosts` gets 400 (a DNS-rebinding page names its own domain in `Host`);
- a state-changing request (any method but GET/HEAD/OPTIONS, and the original's GET endpoints
  that delete) that a browser marks as coming from another site gets 403: `Sec-Fetch-Site`
  `cross-site`/`same-site`, or an `Origin` (lacking it, a `Referer`) that is not this box's own
  scheme://host:port. curl and `mb` send none of these headers and pass;
- every response carries `X-Content-Type-Options: nosniff`, and a `Referrer-Policy` and
  `X-Frame-Options` unless the route set its own.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The original's GET endpoints that change state (an <img src=...> on a foreign page could call them).
STATE_CHANGING_GETS = frozenset({"/code/php/deleteStudy.php"})
DEFAULT_PORTS = {"http": 80, "https": 443}
EDGE_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
)


def own_names() -> set[str]:
    """`localhost` and this machine's host name and FQDN, lower case (always allowed hosts)."""
    names = {"localhost", socket.gethostname().lower()}
    with contextlib.suppress(OSError):  # no resolver: the short name is enough
        names.add(socket.getfqdn().lower())
    return {name.rstrip(".") for name in names if name}


def split_host(value: str) -> tuple[str, int | None]:
    """`host[:port]` or `[v6]:port` -> (host without brackets, lower case; port or None).

    Raises ValueError on a malformed value."""
    host, port = value.strip(), ""
    if host.startswith("["):
        inside, sep, rest = host[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(value)
        host, port = inside, rest[1:]
    elif host.count(":") == 1:
        host, port = host.split(":")
    elif ":" in host:
        raise ValueError(value)
    if port and not (port.isdigit() and int(port) <= 65535):
        raise ValueError(value)
    if not host:
        raise ValueError(value)
    return host.lower().rstrip("."), int(port) if port else None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class HostRule:
    """Which `Host` names the box answers to: IP literals, its own names, `allowed_hosts`."""

    def __init__(self, allowed: Iterable[str], own: Iterable[str]) -> None:
        names = [name.strip().lower().rstrip(".") for name in allowed if name.strip()]
        self.any = "*" in names
        self.exact = set(own) | {n for n in names if not n.startswith("*.")}
        self.suffixes = tuple(n[1:] for n in names if n.startswith("*."))

    def allows(self, host_header: str | None) -> bool:
        """True for a missing Host (HTTP/1.0 without one is no browser), an allowed name or an IP."""
        if self.any or host_header is None:
            return True
        try:
            host, _ = split_host(host_header)
        except ValueError:
            return False
        return _is_ip(host) or host in self.exact or host.endswith(self.suffixes)


def _origin_tuple(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host, port = split_host(parts.netloc.rpartition("@")[2])
    except ValueError:
        return None
    if scheme not in DEFAULT_PORTS:
        return None
    return scheme, host, port if port is not None else DEFAULT_PORTS[scheme]


def _own_origin(headers: Mapping[str, str], scheme: str) -> tuple[str, str, int] | None:
    host_header = headers.get("host")
    if host_header is None:
        return None
    return _origin_tuple(f"{scheme}://{host_header}")


def same_origin(headers: Mapping[str, str], scheme: str) -> bool:
    """False when a browser says the request comes from another site (fetch metadata, Origin,
    then Referer). A request with none of these headers (curl, `mb`) is not a browser's: True."""
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.lower() not in ("same-origin", "none"):
        return False
    origin = headers.get("origin")
    if origin is not None:
        if origin.strip() == "null":  # an opaque origin: only fetch metadata can vouch for it
            return fetch_site == "same-origin"
        claimed = _origin_tuple(origin.strip())
    else:
        referer = headers.get("referer")
        if referer is None:
            return True
        claimed = _origin_tuple(referer.strip())
    return claimed is not None and claimed == _own_origin(headers, scheme)


def changes_state(method: str, path: str) -> bool:
    """Requests a foreign page must not be able to make a browser send."""
    return method.upper() not in SAFE_METHODS or path in STATE_CHANGING_GETS


def _json(status: int, error: str, detail: str) -> tuple[dict[str, object], bytes]:
    body = json.dumps({"error": error, "detail": detail}).encode()
    start: dict[str, object] = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *EDGE_HEADERS,
        ],
    }
    return start, body


class HttpMiddleware:
    """Base of an ASGI middleware that guards HTTP requests (`handle`) and passes anything else
    (lifespan, websocket) to the app untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One HTTP request: answer it, or pass it on to `self.app`."""
        raise NotImplementedError


class EdgeGuard(HttpMiddleware):
    """ASGI middleware applying the rules in this module's docstring to every HTTP request."""

    def __init__(self, app: ASGIApp, *, hosts: HostRule) -> None:
        super().__init__(app)
        self.hosts = hosts

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            start, body = _json(*refusal)
            await send(start)
            await send({"type": "http.response.body", "body": body})
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in EDGE_HEADERS if n not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _refusal(self, scope: Scope, headers: Headers) -> tuple[int, str, str] | None:
        host = headers.get("host")
        if not self.hosts.allows(host):
            detail = f"this box does not answer to the host name {host!r}; add it to 'allowed_hosts'"
            return 400, "unknown host", detail
        if changes_state(scope["method"], scope["path"]) and not same_origin(headers, scope["scheme"]):
            detail = "cross-site request refused: a page of another site may not change this box"
            return 403, "forbidden", detail
        return None
