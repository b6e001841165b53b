"""Webhook URLs as hostile input: where the box may post (no link-local or cloud metadata
addresses, however written) and how a URL is shown (credentials masked).

The same rule is applied twice: to the URL when it is saved, and to every address its host
resolves to when it is sent (a name may resolve elsewhere by then: DNS rebinding), so the
notifier connects to an address this module has checked. `webhook_allow_networks` allows more.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from magickbox.config import check_url_syntax

MASK = "********"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Names of cloud metadata services (GCP, Azure, AWS, Alibaba, OpenStack resolve these inside).
METADATA_NAMES = frozenset({"metadata", "metadata.google.internal", "metadata.goog", "instance-data"})
# Metadata addresses outside the link-local ranges: AWS IPv6 (Nitro), Alibaba Cloud.
METADATA_ADDRESSES = (ipaddress.ip_network("fd00:ec2::254/128"), ipaddress.ip_network("100.100.100.200/32"))
LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
# A host of numbers only, in any form the C resolver reads as IPv4 (hex, octal, fewer parts).
_NUMERIC_HOST = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?", re.IGNORECASE)
# Query parameters whose values are credentials (matched as parts of the name).
_SECRET_PARAM = re.compile(r"key|token|secret|pass|pwd|auth|sig|cred|session|code", re.IGNORECASE)


class TargetRefused(ValueError):
    """The URL or an address of its host is not a place the box posts to; `str()` says why."""


class Unresolved(OSError):
    """The host name does not resolve now (maybe later: the send is tried again)."""


def _networks(allow: Sequence[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(network, strict=False) for network in allow]


def check_address(address: IPAddress, allow: Sequence[str] = ()) -> None:
    """Refuse link-local and metadata addresses (also as IPv4-mapped IPv6) unless allowed."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in _networks(allow)):
        return
    if any(address in network for network in METADATA_ADDRESSES):
        raise TargetRefused(f"{address} is a cloud metadata address")
    if any(address in network for network in LINK_LOCAL) or address.is_link_local:
        raise TargetRefused(f"{address} is link-local (cloud metadata services live there)")
    if address.is_unspecified or address.is_multicast:
        raise TargetRefused(f"{address} is not an address to post to")


def check_target(value: str, allow: Sequence[str] = ()) -> httpx.URL:
    """The URL as it will be sent, or ValueError/TargetRefused: a URL httpx cannot send, a
    metadata name, an address written in a numeric form other than dotted decimal (0x7f000001,
    2130706433, 0177.0.0.1: only used to slip past filters), or a refused address."""
    url = check_url_syntax(value)
    host = url.raw_host.decode("ascii").lower()
    if host.removesuffix(".") in METADATA_NAMES:
        raise TargetRefused(f"{host} is a cloud metadata service")
    try:
        address: IPAddress = ipaddress.ip_address(host)
    except ValueError:
        if _NUMERIC_HOST.fullmatch(host):
            raise TargetRefused(f"host {host!r}: write an IPv4 address as four decimal numbers") from None
        return url  # a name: its addresses are checked when it is sent
    check_address(address, allow)
    return url


@dataclass(frozen=True)
class Resolved:
    """Where to connect for a checked URL: the URL with its host replaced by a checked address,
    and the original host for the Host header and TLS (SNI and certificate check)."""

    url: httpx.URL
    host_header: str
    sni_hostname: str

    def extensions(self) -> dict[str, str]:
        """httpx request extensions: TLS speaks to (and checks the certificate of) the name."""
        is_name = ":" not in self.sni_hostname and not _NUMERIC_HOST.fullmatch(self.sni_hostname)
        return {"sni_hostname": self.sni_hostname} if is_name else {}


def resolve(value: str, allow: Sequence[str] = ()) -> Resolved:
    """Check the URL, resolve its host, check every address; connect to the first. Raises
    TargetRefused, or Unresolved when the name does not resolve."""
    url = check_target(value, allow)
    host = url.raw_host.decode("ascii")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Unresolved(f"{host} does not resolve: {exc}") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    for address in addresses:
        check_address(address, allow)
    if not addresses:
        raise Unresolved(f"{host} resolves to no address")
    header = url.netloc.decode("ascii").rpartition("@")[2]
    return Resolved(url.copy_with(host=str(addresses[0])), header, host)


def masked_url(value: str) -> str:
    """The URL for showing and logging: user:password and secret-looking query values masked.
    A URL that does not parse is shown up to its host only."""
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, UnicodeError):
        head = re.sub(r"//[^/?#]*@", f"//{MASK}@", value.split("?")[0].split("#")[0])
        return head[:200] + ("?" + MASK if "?" in value else "")
    if url.userinfo:
        url = url.copy_with(username=MASK, password=None)
    params = [(name, MASK if _SECRET_PARAM.search(name) else v) for name, v in url.params.multi_items()]
    if params:
        url = url.copy_with(params=params)
    return str(url).replace("%2A", "*")
