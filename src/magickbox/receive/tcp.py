"""pynetdicom's association socket, tuned for ingest.

- TCP_NODELAY on the accepted socket: our responses leave at once (Nagle would hold them).
- TCP_QUICKACK re-armed after every read (Linux clears it): the sender's small writes are
  acknowledged at once, so a sender with Nagle on (dcmtk by default) never waits for our
  delayed ACK (~40 ms per instance otherwise).
- A PDU is read straight into one buffer of its full length instead of 4 KB pieces.
- `ready` waits up to 1 ms in select() for data, so the DUL reactor wakes when a PDU arrives
  rather than on its next 1 ms poll.
"""

from __future__ import annotations

import select
import socket
from typing import TYPE_CHECKING

from pynetdicom.transport import AssociationSocket

from magickbox.dicom.netopts import arm_quickack, has_nodelay, set_nodelay

if TYPE_CHECKING:
    from pynetdicom.association import Association

READY_WAIT_S = 0.001


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
        assoc.dul.to_user_queue.put(None)


class TunedSocket(AssociationSocket):
    """An AssociationSocket for accepted connections that keeps the ping-pong of C-STORE fast."""

    @property
    def ready(self) -> bool:
        sock = self.socket
        if sock is None or self._is_connected is False:
            return False
        try:
            readable, _, _ = select.select([sock], [], [], READY_WAIT_S)
        except (OSError, ValueError):
            self.event_queue.put("Evt17")  # transport connection closed
            return False
        return bool(readable)

    def recv(self, nr_bytes: int) -> bytearray:
        sock = self.socket
        assert sock is not None
        buffer = bytearray(nr_bytes)
        view = memoryview(buffer)
        received = 0
        while received < nr_bytes:
            count = sock.recv_into(view[received:], nr_bytes - received)
            arm_quickack(sock)
            if count == 0:  # the peer closed: hand back what arrived, as pynetdicom expects
                wake_waiting_acceptor(self.assoc)
                return buffer[:received]
            received += count
        return buffer
