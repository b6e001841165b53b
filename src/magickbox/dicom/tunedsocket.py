"""pynetdicom's association socket, tuned for the C-STORE ping-pong (both directions).

- TCP_QUICKACK re-armed after every read of a response and before every wait for data (Linux
  clears it): the peer's small writes are acknowledged at once, so a peer with Nagle on (dcmtk
  by default: storescu's requests, storescp's responses) never waits for our delayed ACK (~40
  ms per instance otherwise).
  TCP_NODELAY and the first quick ACK are set by whoever owns the connection (netopts.py).
- A PDU is read in large pieces (at most CHUNK bytes each) instead of 4 KB pieces; the buffer
  grows with what arrives, never with what a peer's header claims.
- `ready` waits up to `ready_wait_s` in poll() for data, so the DUL reactor wakes when a PDU
  arrives rather than on its next poll (pynetdicom sleeps between polls otherwise). poll()
  works for descriptors >= 1024, which select() cannot watch. It does not wait while the DUL's
  state machine has events queued: a read can queue two (the connection opening and the
  A-ASSOCIATE-RQ), and the reactor handles one per turn, so the second one would wait out the
  poll (a millisecond on every association's answer).

Subclasses say what else to do when the peer closes mid-read (`peer_closed`).
"""

from __future__ import annotations

import select

from pynetdicom.transport import AssociationSocket

from magickbox.dicom.netopts import arm_quickack, poll_acking
from magickbox.dicom.pynetdicom_compat import is_connected

CHUNK = 256 << 10


class TunedSocket(AssociationSocket):
    """An AssociationSocket that keeps the ping-pong of C-STORE fast."""

    ready_wait_s: float = 0.001
    _poller: select.poll | None = None

    def peer_closed(self) -> None:
        """Called when a read finds the connection closed by the peer; nothing by default."""

    def has_buffered_pdu(self) -> bool:
        """A whole PDU was already read from the socket into a buffer; none by default."""
        return False

    @property
    def ready(self) -> bool:
        sock = self.socket
        if sock is None or not is_connected(self):
            return False
        if self.has_buffered_pdu():
            return True
        try:
            if self._poller is None:
                self._poller = select.poll()
                self._poller.register(sock, select.POLLIN | select.POLLPRI)
            wait_ms = 0 if self.event_queue.qsize() else int(self.ready_wait_s * 1000) or 1
            events = poll_acking(self._poller, sock, wait_ms)
        except (OSError, ValueError):
            self.event_queue.put("Evt17")  # transport connection closed
            return False
        return bool(events)

    def recv(self, nr_bytes: int) -> bytearray:
        sock = self.socket
        assert sock is not None
        buffer = bytearray()
        while len(buffer) < nr_bytes:
            chunk = sock.recv(min(CHUNK, nr_bytes - len(buffer)))
            arm_quickack(sock)
            if not chunk:  # the peer closed: hand back what arrived, as pynetdicom expects
                self.peer_closed()
                return buffer
            buffer += chunk
        return buffer
