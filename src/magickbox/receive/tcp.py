"""The receiver's side of the tuned association socket (see dicom/tunedsocket.py).

- TCP_NODELAY on the accepted socket: our responses leave at once (Nagle would hold them).
- A connection closed before its A-ASSOCIATE-RQ wakes the waiting acceptor at once.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from magickbox.dicom.netopts import arm_quickack, has_nodelay, set_nodelay
from magickbox.dicom.pdustream import PduStream
from magickbox.dicom.tunedsocket import TunedSocket

if TYPE_CHECKING:
    from pynetdicom.association import Association


def tune_accepted(sock: socket.socket) -> bool:
    """Set TCP_NODELAY on an accepted connection; return whether it is set (read back)."""
    try:
        set_nodelay(sock)
        arm_quickack(sock)
        return has_nodelay(sock)
    except OSError:
        return False


def wake_waiting_acceptor(assoc: Association) -> None:
    """An acceptor still waiting for A-ASSOCIATE-RQ waits the whole ACSE timeout even when the
    connection is gone (a port probe, a stop). An empty item ends that wait at once."""
    if assoc.requestor.primitive is None and not assoc.is_established:
        assoc.dul.to_user_queue.put(None)  # type: ignore[arg-type, unused-ignore]


class AcceptedSocket(TunedSocket):
    """The tuned socket for accepted connections: a peer that closes early ends the wait, and
    PDUs already read into the association's PduStream count as data to read."""

    stream: PduStream | None = None

    def has_buffered_pdu(self) -> bool:
        return self.stream is not None and self.stream.has_pdu()

    def peer_closed(self) -> None:
        wake_waiting_acceptor(self.assoc)
