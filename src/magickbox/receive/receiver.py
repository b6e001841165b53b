"""The association side of receiving: connections handed in by the acceptor become associations.

A `Receiver` runs in a receive worker process (or, with `receive_workers = 0`, in the serve
process itself). It owns no listening socket: the acceptor (receive/acceptor.py) accepts and
hands each connection over; what the receiver learns that others must know (a connection ended,
sessions were released, an end the store could not record) goes out through `ReceiverEvents`.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from pynetdicom import AE

from magickbox.config import Settings
from magickbox.dicom.pynetdicom_compat import drop_server_registrations, register_server
from magickbox.receive.access import AccessPolicy
from magickbox.receive.handler import (
    AssociationEvents,
    AssociationRecord,
    BoxRequestHandler,
    BoxServer,
    end_association,
)
from magickbox.receive.needs import ReceiverStore
from magickbox.receive.slots import SharedSlots
from magickbox.store import wake_if_high

log = logging.getLogger(__name__)

# pynetdicom counts every connection's thread against its limit; the box counts accepted
# associations itself (receive/slots.py), so pynetdicom's limit is set out of the way.
PYNETDICOM_ASSOCIATIONS = 1 << 20
STOP_WAIT_S = 10.0
DISK_CHECK_EVERY_S = 0.01


class ReceiverEvents(AssociationEvents, Protocol):
    """What a receiver tells the process that supervises receiving: what its associations'
    ends say (`AssociationEvents`: sessions ended, an end the store could not record), and:"""

    def connection_done(self) -> None:
        """A handed connection is over (the acceptor balances on open connections)."""


class HandedServer(BoxServer):
    """The association server without a listening socket: connections come from the acceptor."""

    events: ReceiverEvents  # told when a handed connection is over

    def server_bind(self) -> None:
        pass

    def server_activate(self) -> None:
        pass

    def server_close(self) -> None:
        if self.socket is not None:
            with contextlib.suppress(OSError):
                self.socket.close()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with contextlib.suppress(OSError):
                request.close()
            self.events.connection_done()


class Receiver:
    """Turns handed connections into associations; stop() aborts the open ones."""

    def __init__(
        self,
        settings: Settings,
        store: ReceiverStore,
        slots: SharedSlots,
        events: ReceiverEvents,
        spill_dir: Path,
    ) -> None:
        self.settings = settings
        self.store = store
        self.events = events
        self.policy = AccessPolicy(settings, store)
        self.spill_dir = spill_dir
        self.slots = slots
        self.accepted_sop_classes = frozenset(settings.accepted_sop_classes)
        self._open: dict[int, AssociationRecord] = {}
        self._open_lock = threading.Condition()
        self._disk_checked_at, self._disk_ok = -DISK_CHECK_EVERY_S, True
        self._ae = self._make_ae()
        shutil.rmtree(spill_dir, ignore_errors=True)  # this receiver's, left over from a crash
        self._server = HandedServer(
            self._ae,
            (settings.host, 0),
            settings.ae_title,
            [],  # each association's contexts are built from what its peer proposes
            request_handler=BoxRequestHandler,
        )
        self._server.receiver = self  # checked against handler.AssociationHost
        self._server.events = events
        register_server(self._ae, self._server)

    def _make_ae(self) -> AE:
        ae = AE(ae_title=self.settings.ae_title)
        ae.maximum_pdu_size = self.settings.max_pdu
        ae.maximum_associations = PYNETDICOM_ASSOCIATIONS
        ae.require_called_aet = True
        ae.require_calling_aet = list(self.settings.allowed_calling_aets)
        ae.network_timeout = 60
        return ae

    def hand(self, sock: socket.socket, address: tuple[str, int]) -> None:
        """Take over an accepted connection: its association runs in a thread of its own."""
        self._server.process_request(sock, address)

    # ---- used by the association handlers ------------------------------------------------------
    def free_space_ok(self) -> bool:
        """Room for another instance. Asked for every one, so the answer is reused for
        DISK_CHECK_EVERY_S (a few megabytes at full speed, against a margin of min_free_bytes)."""
        now = time.monotonic()
        if now - self._disk_checked_at < DISK_CHECK_EVERY_S:
            return self._disk_ok
        self._disk_checked_at, self._disk_ok = now, self._check_disk()
        return self._disk_ok

    def _check_disk(self) -> bool:
        """One statvfs for both checks: past the high mark housekeeping sweeps now."""
        use = wake_if_high(self.settings.data, self.settings.disk_high_percent)
        if use is None:
            return True  # the write itself will say what is wrong
        minimum = self.settings.min_free_bytes
        return minimum <= 0 or use.available >= minimum

    def opened(self, record: AssociationRecord) -> None:
        with self._open_lock:
            self._open[id(record)] = record

    def closed(self, record: AssociationRecord) -> None:
        with self._open_lock:
            self._open.pop(id(record), None)
            self._open_lock.notify_all()

    def stop(self) -> None:
        """Abort associations still open (their sessions become incomplete) and wait for them."""
        with self._open_lock:
            records = list(self._open.values())
        for record in records:
            end_association(record)
        self._wait_for_handlers()
        self._server.server_close()
        drop_server_registrations(self._ae)

    def _wait_for_handlers(self) -> None:
        deadline = time.monotonic() + STOP_WAIT_S
        with self._open_lock:
            while self._open and time.monotonic() < deadline:
                self._open_lock.wait(0.1)
        if self._open:
            log.warning("%d association(s) did not end within %.0f s", len(self._open), STOP_WAIT_S)
