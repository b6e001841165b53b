"""The receiver stage: the box's DICOM SCP (C-ECHO and every storage SOP class)."""

from __future__ import annotations

import logging
import shutil
import threading
import time

from pydicom.uid import AllTransferSyntaxes
from pynetdicom import AE, AllStoragePresentationContexts, build_context
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from magickbox.config import Settings
from magickbox.receive.access import AccessPolicy
from magickbox.receive.dimse import free_bytes
from magickbox.receive.handler import AssociationRecord, BoxRequestHandler, BoxServer, end_association
from magickbox.receive.sealer import Sealer
from magickbox.store import Store

log = logging.getLogger(__name__)

MAX_ASSOCIATIONS = 64
STOP_WAIT_S = 10.0
# Everything a sender may propose; the data are stored as received, so no syntax is a problem.
TRANSFER_SYNTAXES = [str(uid) for uid in AllTransferSyntaxes]


def storage_contexts() -> list[PresentationContext]:
    contexts = [build_context(Verification, TRANSFER_SYNTAXES)]
    for context in AllStoragePresentationContexts:
        if context.abstract_syntax is not None:
            contexts.append(build_context(context.abstract_syntax, TRANSFER_SYNTAXES))
    return contexts


class Receiver:
    name = "receiver"

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.policy = AccessPolicy(settings, store)
        self.sealer = Sealer(store)
        self.spill_dir = settings.scratch_dir / ".incoming"
        self.echo_contexts = [build_context(Verification, TRANSFER_SYNTAXES)]
        self._open: dict[int, AssociationRecord] = {}
        self._open_lock = threading.Condition()
        self._server: BoxServer | None = None
        self._thread: threading.Thread | None = None
        self._ae = self._make_ae()

    def _make_ae(self) -> AE:
        ae = AE(ae_title=self.settings.ae_title)
        ae.maximum_pdu_size = self.settings.max_pdu
        ae.maximum_associations = MAX_ASSOCIATIONS
        ae.require_called_aet = True
        ae.require_calling_aet = list(self.settings.allowed_calling_aets)
        ae.network_timeout = 60
        return ae

    # ---- used by the association handlers ------------------------------------------------------
    def free_space_ok(self) -> bool:
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
        shutil.rmtree(self.spill_dir, ignore_errors=True)  # left over from a crash
        self.sealer.start()
        self.sealer.wake()  # sessions that were settling before a restart
        server = BoxServer(
            self._ae,
            (self.settings.host, self.settings.dicom_port),
            self.settings.ae_title,
            storage_contexts(),
            request_handler=BoxRequestHandler,
        )
        server.receiver = self
        self._ae._servers.append(server)
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
            self._ae._servers.clear()
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
