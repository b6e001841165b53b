"""Whole PDUs from an established association, read in large pieces.

After negotiation a sender streams P-DATA-TF PDUs back to back. Reading them one at a time
costs two system calls per PDU (header, then body) and a buffer per PDU. A PduStream instead
takes whatever has arrived, up to CAPACITY bytes, in one call (often several PDUs) and hands
each PDU out as a view into its buffer. The limits of dicom/pdureader.py hold unchanged: a
PDU's length is checked before anything is read for it, and a PDU must be complete within
`pdu_timeout_s` of its first byte. A PDU larger than the buffer gets a buffer of its own.

Buffers outlive their stream: `close()` gives the buffer back for the next association. A new
1 MiB buffer is zeroed page by page, about a millisecond of page faults per association on a
virtual machine, as much as the rest of taking a small study's association.
"""

from __future__ import annotations

import select
import socket
import threading
import time

from magickbox.dicom.netopts import arm_quickack, poll_acking
from magickbox.dicom.pdureader import (
    HEADER,
    PDU_TYPES,
    PduLimits,
    PduRefused,
    PeerClosed,
    fill_from,
    wait_readable,
)

CAPACITY = 1 << 20
SPARE_BUFFERS = 4  # kept per process for the next associations: at most 4 MiB idle


class _Spares:
    """Read buffers of closed streams, handed to the next ones (any thread)."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self._buffers: list[bytearray] = []
        self._lock = threading.Lock()

    def take(self) -> bytearray:
        with self._lock:
            if self._buffers:
                return self._buffers.pop()
        return bytearray(CAPACITY)

    def give(self, buffer: bytearray) -> None:
        with self._lock:
            if len(self._buffers) < self.keep:
                self._buffers.append(buffer)

    def __len__(self) -> int:
        return len(self._buffers)


spares = _Spares(SPARE_BUFFERS)


class PduStream:
    """Reads PDUs from one socket; used by one thread (the association's DUL reactor)."""

    def __init__(self, sock: socket.socket, limits: PduLimits) -> None:
        self.sock = sock
        self.limits = limits
        self._buffer = bytearray()  # allocated at the first read: idle connections cost nothing
        self._view = memoryview(self._buffer)
        self._start = 0  # the next PDU's first byte
        self._end = 0  # one past the last byte received
        self._first_byte_at = 0.0  # when the PDU at _start began to arrive
        self._filled_at = 0.0  # when the last bytes arrived
        self._poller: select.poll | None = None

    def has_pdu(self) -> bool:
        """A whole PDU is already in the buffer (the socket need not be readable for it)."""
        length = self._buffered_length()
        return length is not None and self._end - self._start >= HEADER + length

    def readable_within(self, seconds: float) -> bool:
        """More bytes arrived within `seconds` (waits in poll(): no CPU while waiting)."""
        if self._poller is None:
            self._poller = select.poll()
            self._poller.register(self.sock, select.POLLIN | select.POLLPRI)
        return bool(poll_acking(self._poller, self.sock, max(1, int(seconds * 1000))))

    def next_pdu(self, *, wait: bool) -> memoryview | bytearray | None:
        """The next whole PDU, valid until the next call. With `wait`, blocks until it is
        complete or its deadline passes (PduRefused); without, returns None unless it is whole
        after at most one non-blocking read. A PDU larger than the buffer is always read whole
        (waiting up to its deadline either way)."""
        if not self._buffer:
            self._buffer = spares.take()
            self._view = memoryview(self._buffer)
        while True:
            length = self._buffered_length()
            if length is not None:
                self._check(length)
                size = HEADER + length
                if size > CAPACITY:
                    return self._oversized(size)
                if self._end - self._start >= size:
                    pdu = self._view[self._start : self._start + size]
                    self._start += size
                    self._first_byte_at = self._filled_at  # the rest came with the last read
                    return pdu
                if self._start + size > CAPACITY:
                    self._compact()
            if self._fill():
                continue
            if not wait:
                return None
            arm_quickack(self.sock)  # everything that arrived is read: acknowledge it before waiting
            wait_readable(self.sock, self._deadline())

    def close(self) -> None:
        """No more reads (the association's threads have ended): the buffer goes to the next
        stream. PDUs handed out before must no longer be in use."""
        buffer, self._buffer = self._buffer, bytearray()
        self._view.release()
        self._view = memoryview(self._buffer)
        self._start = self._end = 0
        if buffer:
            spares.give(buffer)

    # ---- the buffer ------------------------------------------------------------------------------
    def _buffered_length(self) -> int | None:
        if self._end - self._start < HEADER:
            return None
        return int.from_bytes(self._buffer[self._start + 2 : self._start + HEADER], "big")

    def _check(self, length: int) -> None:
        pdu_type = self._buffer[self._start]
        if pdu_type not in PDU_TYPES:
            raise PduRefused(f"unknown PDU type 0x{pdu_type:02X}")
        if length > self.limits.data_limit:
            raise PduRefused(
                f"PDU type 0x{pdu_type:02X} claims {length} bytes (limit {self.limits.data_limit})"
            )

    def _fill(self) -> bool:
        """One non-blocking read into the free end of the buffer; True when bytes arrived."""
        if self._start == self._end:
            self._start = self._end = 0
        elif self._end == CAPACITY:
            self._compact()
        try:
            got = self.sock.recv_into(self._view[self._end :], CAPACITY - self._end, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            raise PeerClosed(str(exc)) from exc
        if got == 0:
            raise PeerClosed("the peer closed the connection")
        self._filled_at = time.monotonic()
        if self._end == self._start:
            self._first_byte_at = self._filled_at
        self._end += got
        return True

    def _compact(self) -> None:
        """Move the incomplete PDU at the front of the buffer to its start."""
        count = self._end - self._start
        self._buffer[:count] = self._buffer[self._start : self._end]
        self._start, self._end = 0, count

    def _deadline(self) -> float:
        began = self._first_byte_at if self._end > self._start else time.monotonic()
        return began + self.limits.pdu_timeout_s

    def _oversized(self, size: int) -> bytearray:
        """A PDU larger than the buffer (a peer with a very large maximum): read into its own."""
        pdu = bytearray(size)
        have = self._end - self._start
        pdu[:have] = self._buffer[self._start : self._end]
        deadline = self._deadline()
        self._start = self._end = 0
        fill_from(self.sock, pdu, have, deadline)
        return pdu
