"""TCP options for DICOM connections.

dcmtk (and most DICOM peers) write a C-STORE request in several small pieces. With Nagle's
algorithm on one side and delayed ACKs (up to 40 ms on Linux) on the other, every instance
stalls for tens of milliseconds. Setting TCP_NODELAY on our sockets and sending a quick ACK
(TCP_QUICKACK, which Linux clears after use) whenever we have read everything and are about to
wait removes the stall whatever the peer does.
"""

from __future__ import annotations

import contextlib
import select
import socket

_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)  # Linux only


def set_nodelay(sock: socket.socket) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def has_nodelay(sock: socket.socket) -> bool:
    return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


def arm_quickack(sock: socket.socket) -> None:
    """Acknowledge the next segments at once. A no-op where the platform lacks TCP_QUICKACK."""
    if _QUICKACK is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)


def poll_acking(poller: select.poll, sock: socket.socket, timeout_ms: int) -> list[tuple[int, int]]:
    """poll() for data; when none is there yet, first acknowledge what did arrive.

    A sender with Nagle's algorithm on holds its last small segment until it sees our ACK, so
    the ACK goes out (TCP_QUICKACK) just before we would wait, not after every read: while data
    keeps arriving, the kernel acknowledges it on its own schedule, with fewer packets.
    """
    events = poller.poll(0)
    if events:
        return events
    arm_quickack(sock)
    return poller.poll(timeout_ms)
