"""TCP options for DICOM connections.

dcmtk (and most DICOM peers) write a C-STORE request in several small pieces. With Nagle's
algorithm on one side and delayed ACKs (up to 40 ms on Linux) on the other, every instance
stalls for tens of milliseconds. Setting TCP_NODELAY on our sockets and re-arming TCP_QUICKACK
after each read (Linux clears it) removes the stall whatever the peer does.
"""

from __future__ import annotations

import contextlib
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
