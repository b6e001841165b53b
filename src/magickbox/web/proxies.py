"""Who the client is: the peer address, or what a trusted reverse proxy says it forwarded.

`X-Forwarded-For`, `X-Forwarded-Proto` and `Forwarded` are written by whoever sends the
request, so they are believed only from the networks in `trusted_proxies` (default none; uvicorn's
own handling, which believes any loopback peer, is off). From a trusted peer the client is the
right-most address of the chain that is not itself a trusted proxy, and the scheme is the
proxy's (`https` behind a TLS proxy, which the cross-site check compares against `Origin`).
`ClientAddress` rewrites the ASGI scope's `client` and `scheme` once, before any other rule or
route looks at them, so the audit log, uploads and the edge rules all see the same client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> list[Network]:
    """`10.0.0.0/8`, `::1`, `127.0.0.1` (a single address is a /32 or /128). Raises ValueError."""
    return [ipaddress.ip_network(value.strip(), strict=False) for value in values]


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address out of one hop: `1.2.3.4`, `1.2.3.4:5`, `[::1]:5`, `"[::1]"`; None otherwise."""
    text = value.strip().strip('"')
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _forwarded_pairs(value: str, key: str) -> list[str]:
    """The values of `key` in an RFC 7239 `Forwarded` header, in order."""
    found = []
    for element in value.split(","):
        for pair in element.split(";"):
            name, _, item = pair.partition("=")
            if name.strip().lower() == key:
                found.append(item.strip())
    return found


class ProxyRule:
    """Which peers may speak for a client, and what they say."""

    def __init__(self, networks: Iterable[Network]) -> None:
        self.networks = tuple(networks)

    def trusts(self, host: str) -> bool:
        address = _address(host)
        return address is not None and any(address in network for network in self.networks)

    def client(self, peer: str, headers: Headers) -> tuple[str, str | None]:
        """(client address, forwarded scheme or None) for a request from `peer`."""
        if not self.networks or not self.trusts(peer):
            return peer, None
        forwarded = headers.get("forwarded")
        if forwarded is not None:
            hops, protos = _forwarded_pairs(forwarded, "for"), _forwarded_pairs(forwarded, "proto")
        else:
            hops = [h for v in headers.getlist("x-forwarded-for") for h in v.split(",") if h.strip()]
            protos = [p for v in headers.getlist("x-forwarded-proto") for p in v.split(",")]
        client = peer
        for hop in reversed(hops):
            address = _address(hop)
            if address is None:
                break  # an obfuscated or unknown hop: the last proxy we trust is as far as we know
            client = str(address)
            if not self.trusts(client):
                break
        proto = protos[-1].strip().strip('"').lower() if protos else ""
        return client, proto if proto in ("http", "https") else None


class ClientAddress:
    """ASGI middleware: sets `scope["client"]` (and `scheme`) per `ProxyRule`."""

    def __init__(self, app: ASGIApp, *, rule: ProxyRule) -> None:
        self.app = app
        self.rule = rule

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.rule.networks and scope.get("client"):
            peer, port = scope["client"]
            client, scheme = self.rule.client(peer, Headers(scope=scope))
            if client != peer or scheme is not None:
                scope = {**scope, "client": (client, port if client == peer else 0)}
                if scheme is not None:
                    scope["scheme"] = scheme if scope["type"] == "http" else scheme.replace("http", "ws")
        await self.app(scope, receive, send)
