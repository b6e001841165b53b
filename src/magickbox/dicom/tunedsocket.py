"""pynetdicom's association socket, tuned for the C-STORE ping-pong (both directions).

- TCP_QUICKACK re-armed after every read (Linux clears it): the peer's small writes are
  acknowledged at once, so a peer with Nagle on (dcmtk by default: storescu's requests,
  storescp's responses) never waits for our delayed ACK (~40 ms per instance otherwise).
  TCP_NODELAY and the first quick ACK are set by whoever owns the connection (netopts.py).
- A PDU is read straight into one buffer of its full length instead of 4 KB pieces.
- `ready` waits up to `ready_wait_s` in select() for data, so the DUL reactor wakes when a PDU
  arrives rather than on its next poll (pynetdicom sleeps between polls otherwise).

Subclasses say what else to do when the peer closes mid-read (`peer_closed`).
"""

from __future__ import annotations

import select

from pynetdicom.transport import AssociationSocket

from magickbox.dicom.netopts import arm_quickack


class TunedSocket(AssociationSocket):
    """An AssociationSocket that keeps the ping-pong of C-STORE fast."""

    ready_wait_s: float = 0.001

    def peer_closed(self) -> None:
        """Called when a read finds the connection closed by the peer; nothing by default."""

    @property
    def ready(self) -> bool:
        sock = self.socket
        if sock is None or self._is_connected is False:
            return False
        try:
            readable, _, _ = select.select([sock], [], [], self.ready_wait_s)
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
                self.peer_closed()
                return buffer[:received]
            received += count
        return buffer
