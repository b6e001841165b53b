"""The DICOM port: one listening socket, accepted connections handed to the receivers.

The acceptor runs in the serve process. It refuses addresses outside `allowed_networks` at once
and hands every other connection to the receiver with the fewest open connections (a receive
worker process, or the in-process receiver), so senders spread over the workers evenly whatever
their addresses and ports. Handing over costs one sendmsg per association.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from magickbox.loop import Loop

log = logging.getLogger(__name__)

BACKLOG = 512  # bursts of senders (and port scans) wait in the kernel, not refused
READY_WAIT_S = 1.0  # how long a connection waits for a receiver to be ready before looking again
OUT_OF_FILES_PAUSE_S = 0.1


class OpenConnections:
    """How many handed connections a destination has open: the acceptor counts a connection when
    it hands it over, the destination when it ends; the acceptor balances on the count."""

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        return self._count

    def opened(self) -> None:
        with self._lock:
            self._count += 1

    def closed(self) -> None:
        with self._lock:
            self._count = max(self._count - 1, 0)

    def reset(self) -> None:
        """The destination's process is gone, and every connection it had with it."""
        with self._lock:
            self._count = 0


class Destination(Protocol):
    """Somewhere an accepted connection can go: a receive worker or the in-process receiver."""

    connections: OpenConnections

    @property
    def ready(self) -> bool: ...

    def hand(self, sock: socket.socket, address: tuple[str, int]) -> bool:
        """Take the connection (the caller closes its copy); False if it could not."""
        ...


class Acceptor:
    def __init__(
        self,
        host: str,
        port: int,
        destinations: Sequence[Destination],
        allowed: Callable[[str], bool],
        readiness: threading.Condition,
    ) -> None:
        self.destinations = destinations
        self.allowed = allowed
        self.readiness = readiness  # notified when a destination becomes ready
        self._listener = socket.create_server((host, port), backlog=BACKLOG, reuse_port=False)
        # Each step blocks in accept(); stopping shuts the listener down, which wakes it.
        self._loop = Loop("dicom-accept", self._accept_one, interval_s=0.0, unblock=self._unblock)
        self._stopping = self._loop.stopping
        self._next = 0  # round-robin among equally busy destinations

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        """Stop accepting: connections not yet accepted are refused by the kernel from now on."""
        self._loop.stop()
        self._listener.close()

    def _unblock(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept() on Linux
        with self.readiness:  # and a connection waiting for a ready receiver
            self.readiness.notify_all()

    def _accept_one(self) -> float:
        """Accept one connection and hand it over; the next step follows at once."""
        try:
            sock, address = self._listener.accept()
        except OSError as exc:
            if not self._stopping.is_set():
                self._accept_failed(exc)
            return 0.0
        try:
            self._dispatch(sock, (str(address[0]), int(address[1])))
        except Exception:
            log.exception("handing a connection from %s over failed", address[0])
        finally:
            sock.close()  # the receiver has its own descriptor now
        return 0.0

    def _accept_failed(self, exc: OSError) -> None:
        if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
            log.warning("accepting DICOM connections paused: %s", exc)
            self._stopping.wait(OUT_OF_FILES_PAUSE_S)
        elif exc.errno not in (errno.ECONNABORTED, errno.EINTR, errno.EAGAIN):
            log.warning("accept on the DICOM port failed: %s", exc)
            self._stopping.wait(OUT_OF_FILES_PAUSE_S)

    def _dispatch(self, sock: socket.socket, address: tuple[str, int]) -> None:
        if not self.allowed(address[0]):
            log.warning("connection from %s refused: not in allowed_networks", address[0])
            return
        while not self._stopping.is_set():
            destination = self._least_busy()
            if destination is not None:
                destination.connections.opened()  # before: the connection may end at once
                if destination.hand(sock, address):
                    return
                destination.connections.closed()
            with self.readiness:  # no receiver ready (all starting or restarting): wait for one
                self.readiness.wait(READY_WAIT_S)

    def _least_busy(self) -> Destination | None:
        ready = [d for d in self.destinations if d.ready]
        if not ready:
            return None
        self._next = (self._next + 1) % len(ready)
        rotated = ready[self._next :] + ready[: self._next]
        return min(rotated, key=lambda d: d.connections.count)
