"""The receiver stage: the box's DICOM SCP (C-ECHO and every storage SOP class)."""

from __future__ import annotations

import logging
import shutil
import threading
import time

from pynetdicom import AE

from magickbox.config import Settings
from magickbox.dicom.pynetdicom_compat import drop_server_registrations, register_server
from magickbox.receive.access import AccessPolicy
from magickbox.receive.dimse import free_bytes
from magickbox.receive.guard import Slots, raise_open_files_limit
from magickbox.receive.handler import AssociationRecord, BoxRequestHandler, BoxServer, end_association
from magickbox.receive.sealer import Sealer
from magickbox.store import Store
from magickbox.store.retention import wake_if_high

log = logging.getLogger(__name__)

# pynetdicom counts every connection's thread against its limit; the box counts accepted
# associations itself (receive/guard.py Slots), so pynetdicom's limit is set out of the way.
PYNETDICOM_ASSOCIATIONS = 1 << 20
STOP_WAIT_S = 10.0


class Receiver:
    name = "receiver"

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.policy = AccessPolicy(settings, store)
        self.sealer = Sealer(store)
        self.spill_dir = settings.scratch_dir / ".incoming"
        self.slots = Slots(settings.max_associations, settings.max_associations_per_ip)
        self.accepted_sop_classes = frozenset(settings.accepted_sop_classes)
        self._open: dict[int, AssociationRecord] = {}
        self._open_lock = threading.Condition()
        self._server: BoxServer | None = None
        self._thread: threading.Thread | None = None
        self._ae = self._make_ae()

    def _make_ae(self) -> AE:
        ae = AE(ae_title=self.settings.ae_title)
        ae.maximum_pdu_size = self.settings.max_pdu
        ae.maximum_associations = PYNETDICOM_ASSOCIATIONS
        ae.require_called_aet = True
        ae.require_calling_aet = list(self.settings.allowed_calling_aets)
        ae.network_timeout = 60
        return ae

    # ---- used by the association handlers ------------------------------------------------------
    def free_space_ok(self) -> bool:
        wake_if_high(self.settings.data, self.settings.disk_high_percent)  # housekeeping sweeps now
        minimum = self.settings.min_free_bytes
        return minimum <= 0 or free_bytes(self.settings.data) >= minimum

    def opened(self, record: AssociationRecord) -> None:
        with self._open_lock:
            self._open[id(record)] = record

    def closed(self, record: AssociationRecord) -> None:
        with self._open_lock:
            self._open.pop(id(record), None)
            self._open_lock.notify_all()

    # ---- Stage ---------------------------------------------------------------------------------
    def start(self) -> None:
        raise_open_files_limit()
        shutil.rmtree(self.spill_dir, ignore_errors=True)  # left over from a crash
        self.sealer.start()
        self.sealer.wake()  # sessions that were settling before a restart
        server = BoxServer(
            self._ae,
            (self.settings.host, self.settings.dicom_port),
            self.settings.ae_title,
            [],  # each association's contexts are built from what its peer proposes
            request_handler=BoxRequestHandler,
        )
        server.receiver = self
        register_server(self._ae, server)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="dicom-accept", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, abort associations still open (their sessions become incomplete)."""
        if self._server is not None:
            self._server.shutdown()
            with self._open_lock:
                records = list(self._open.values())
            for record in records:
                end_association(record)
            self._wait_for_handlers()
            self._server.server_close()
            drop_server_registrations(self._ae)
            self._server = None
        self.sealer.stop()

    def _wait_for_handlers(self) -> None:
        deadline = time.monotonic() + STOP_WAIT_S
        with self._open_lock:
            while self._open and time.monotonic() < deadline:
                self._open_lock.wait(0.1)
        if self._open:
            log.warning("%d association(s) did not end within %.0f s", len(self._open), STOP_WAIT_S)


def make_receiver(settings: Settings, store: Store) -> Receiver:
    return Receiver(settings, store)
