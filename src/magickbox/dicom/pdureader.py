"""Reading one PDU from a peer we do not trust: bounded length, bounded time, checked request.

Nothing is allocated from a length a peer claims until that length passed its limit: an
A-ASSOCIATE-RQ may be at most ASSOCIATE_RQ_MAX bytes (and is read in chunks as it arrives),
later PDUs at most the negotiated maximum plus a margin. A PDU must be complete within its
deadline once its first byte arrived, so a peer cannot hold a connection by dripping bytes.
An A-ASSOCIATE-RQ is checked before pynetdicom decodes it (AE titles, at most 128 presentation
contexts), which keeps a huge or odd request from costing CPU or a traceback.
"""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass

from magickbox.dicom.netopts import arm_quickack

HEADER = 6
ASSOCIATE_RQ = 0x01
PDU_TYPES = range(0x01, 0x08)
ASSOCIATE_RQ_MAX = 1 << 20
PDU_MARGIN = 4096  # peers that count the PDV headers differently still fit
UNLIMITED_PDU_CAP = 16 << 20  # max_pdu 0 ("no limit" in DICOM) still gets a bound
MAX_CONTEXTS = 128  # PS3.8: presentation context ids are the odd numbers 1-255
CHUNK = 256 << 10
FIXED_RQ = 74  # PDU header + protocol version, reserved, AE titles, reserved

# A-ASSOCIATE-RJ (result, source, reason) triples, PS3.8 9.3.4
RJ_NO_REASON = (0x01, 0x01, 0x01)
RJ_CALLING_AE = (0x01, 0x01, 0x03)
RJ_CALLED_AE = (0x01, 0x01, 0x07)
RJ_LIMIT = (0x02, 0x03, 0x02)  # transient, presentation related, local limit exceeded
ABORT_INVALID_PARAMETER = 0x06


class PeerClosed(Exception):
    """The peer closed the connection before a whole PDU arrived."""


class PduRefused(Exception):
    """The peer broke a limit: `reject` is the A-ASSOCIATE-RJ triple to send, or None for A-ABORT."""

    def __init__(self, reason: str, reject: tuple[int, int, int] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.reject = reject


@dataclass(frozen=True)
class PduLimits:
    max_pdu: int
    pdu_timeout_s: float

    @property
    def data_limit(self) -> int:
        return (self.max_pdu or UNLIMITED_PDU_CAP) + PDU_MARGIN


def reject_pdu(reject: tuple[int, int, int]) -> bytes:
    result, source, reason = reject
    return b"\x03\x00" + (4).to_bytes(4, "big") + bytes((0, result, source, reason))


def abort_pdu(reason: int = 0) -> bytes:
    """An A-ABORT from the service provider (source 2)."""
    return b"\x07\x00" + (4).to_bytes(4, "big") + bytes((0, 0, 2, reason))


def read_pdu(
    sock: socket.socket, limits: PduLimits, *, negotiating: bool, deadline: float | None = None
) -> bytearray:
    """One whole PDU. `negotiating`: no association yet (A-ASSOCIATE-RQ limits); `deadline`
    (monotonic) is an earlier end than the per-PDU timeout (the association request's)."""
    end = time.monotonic() + limits.pdu_timeout_s
    if deadline is not None:
        end = min(end, deadline)
    header = bytearray(HEADER)
    fill_from(sock, header, 0, end)
    pdu_type, length = header[0], int.from_bytes(header[2:6], "big")
    if pdu_type not in PDU_TYPES:
        raise PduRefused(f"unknown PDU type 0x{pdu_type:02X}")
    limit = ASSOCIATE_RQ_MAX if negotiating else limits.data_limit
    if length > limit:
        reject = RJ_LIMIT if negotiating else None
        raise PduRefused(f"PDU type 0x{pdu_type:02X} claims {length} bytes (limit {limit})", reject)
    if negotiating:  # memory grows with what arrives, not with what the header claims
        pdu = header + _read_growing(sock, length, end)
    else:  # bounded by the negotiated maximum: one buffer, no copies
        pdu = bytearray(HEADER + length)
        pdu[:HEADER] = header
        fill_from(sock, pdu, HEADER, end)
    if pdu_type == ASSOCIATE_RQ:
        check_associate_rq(bytes(pdu))
    return pdu


def fill_from(sock: socket.socket, buffer: bytearray, start: int, end: float) -> None:
    """Fill `buffer[start:]` from the socket by `end` (monotonic)."""
    view = memoryview(buffer)
    got, count = start, len(buffer)
    while got < count:
        try:
            read = sock.recv_into(view[got:], min(CHUNK, count - got), socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            wait_readable(sock, end)
            continue
        except OSError as exc:
            raise PeerClosed(str(exc)) from exc
        arm_quickack(sock)
        if read == 0:
            raise PeerClosed("the peer closed the connection")
        got += read


def _read_growing(sock: socket.socket, count: int, end: float) -> bytearray:
    buffer = bytearray()
    while len(buffer) < count:  # a chunk at a time: memory grows only as fast as bytes arrive
        chunk = bytearray(min(CHUNK, count - len(buffer)))
        fill_from(sock, chunk, 0, end)
        buffer += chunk
    return buffer


def wait_readable(sock: socket.socket, end: float) -> None:
    left = end - time.monotonic()
    if left <= 0:
        raise PduRefused("the PDU did not arrive within its deadline", RJ_LIMIT)
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLPRI)
    poller.poll(max(1, int(left * 1000)))


def check_associate_rq(pdu: bytes) -> None:
    """AE titles readable and at most MAX_CONTEXTS presentation contexts, checked on the bytes."""
    if len(pdu) < FIXED_RQ:
        raise PduRefused("A-ASSOCIATE-RQ shorter than its fixed fields", RJ_NO_REASON)
    if not ae_title_ok(pdu[10:26]):
        raise PduRefused(f"called AE title {pdu[10:26]!r} is not a valid AE title", RJ_CALLED_AE)
    if not ae_title_ok(pdu[26:42]):
        raise PduRefused(f"calling AE title {pdu[26:42]!r} is not a valid AE title", RJ_CALLING_AE)
    contexts, offset = 0, FIXED_RQ
    while offset + 4 <= len(pdu):
        if pdu[offset] == 0x20:
            contexts += 1
        offset += 4 + int.from_bytes(pdu[offset + 2 : offset + 4], "big")
    if contexts > MAX_CONTEXTS:
        raise PduRefused(f"{contexts} presentation contexts proposed (at most {MAX_CONTEXTS})", RJ_NO_REASON)


def ae_title_ok(raw: bytes) -> bool:
    """16 bytes of printable ASCII without backslash, not all spaces (NUL padding tolerated)."""
    text = raw.rstrip(b"\x00")
    return bool(text.strip(b" ")) and all(0x20 <= byte <= 0x7E and byte != 0x5C for byte in text)
