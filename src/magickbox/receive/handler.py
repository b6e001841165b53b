"""One accepted TCP connection = one association: set up with the tuned socket and the storage
fast path, decided by called AE title, followed to its end, then its sessions released or
marked incomplete, and one log line written.

What a handler needs from the receiver that runs it is the `AssociationHost` Protocol below, so
this module never imports receive/receiver.py (the receiver imports it, not the reverse).
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pynetdicom import evt
from pynetdicom.association import Association
from pynetdicom.pdu_primitives import A_RELEASE
from pynetdicom.transport import RequestHandler, ThreadedAssociationServer

from magickbox.config import Settings
from magickbox.dicom.pdureader import RJ_LIMIT, PduLimits
from magickbox.dicom.pdustream import PduStream
from magickbox.dicom.pynetdicom_compat import install_pdu_reader, new_acceptor, wake_reactor_on_input
from magickbox.receive.access import AccessPolicy
from magickbox.receive.dimse import StoreFastPath
from magickbox.receive.guard import bounded_reader, proposed_contexts
from magickbox.receive.needs import ReceiverStore
from magickbox.receive.slots import SharedSlots
from magickbox.receive.tcp import AcceptedSocket, tune_accepted, wake_waiting_acceptor
from magickbox.receive.tracker import AssociationTracker, Peer

log = logging.getLogger(__name__)


@dataclass
class AssociationRecord:
    """What the association log line says."""

    ip: str
    port: int
    nodelay: bool
    started: float = field(default_factory=time.monotonic)
    calling_aet: str = ""
    called_aet: str = ""
    tracker: AssociationTracker | None = None
    fast_path: StoreFastPath | None = None
    stream: PduStream | None = None
    assoc: Association | None = None
    release_failed: bool = False  # the release could not be recorded: the sender must not get the RP
    has_slot: bool = False  # counted against max_associations (accepted, not just connected)


def end_association(record: AssociationRecord) -> None:
    """Abort an open association (the box stops); one still negotiating is woken and ends."""
    assoc = record.assoc
    if assoc is None:
        return
    if assoc.is_established:
        assoc.abort()
    else:
        wake_waiting_acceptor(assoc)


def cut_connection(assoc: Association) -> None:
    """Shut the socket down at once: nothing more (no A-RELEASE-RP) reaches the peer."""
    sock = assoc.dul.socket.socket if assoc.dul.socket is not None else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class AssociationEvents(Protocol):
    """What an association's end tells the process that supervises receiving."""

    def sessions_ended(self) -> None:
        """An association released or aborted its sessions: settle deadlines may have changed."""

    def end_unrecorded(self, session_id: int, why: str) -> None:
        """The store could not record an association's end (full disk): retry it later."""


class AssociationHost(Protocol):
    """What a handler needs from the receiver that runs it (receive/receiver.py's `Receiver`)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def store(self) -> ReceiverStore: ...
    @property
    def events(self) -> AssociationEvents: ...
    @property
    def policy(self) -> AccessPolicy: ...
    @property
    def slots(self) -> SharedSlots: ...
    @property
    def spill_dir(self) -> Path: ...
    @property
    def accepted_sop_classes(self) -> frozenset[str]: ...

    def free_space_ok(self) -> bool:
        """Room for another instance (asked for every one, so it must be cheap)."""

    def opened(self, record: AssociationRecord) -> None:
        """An association started: stop() must be able to abort it."""

    def closed(self, record: AssociationRecord) -> None:
        """The association has ended and its sessions are released or marked incomplete."""


class BoxServer(ThreadedAssociationServer):
    """The association server; knows the receiver its handlers report to."""

    receiver: AssociationHost
    daemon_threads = True


class BoxRequestHandler(RequestHandler):
    server: BoxServer

    def handle(self) -> None:
        receiver = self.server.receiver
        ip, port = str(self.client_address[0]), int(self.client_address[1])
        record = AssociationRecord(ip=ip, port=port, nodelay=tune_accepted(self.request))
        if not self._request_arrives(record):
            return
        assoc = record.assoc = self._make_association(record)
        receiver.opened(record)
        try:
            evt.trigger(assoc, evt.EVT_CONN_OPEN, {"address": self.client_address})
            assoc.start()
            assoc.join()
            if assoc.dul.is_alive():
                assoc.dul.join(timeout=5)
        finally:
            self._finish(assoc, record)
            receiver.closed(record)

    def _request_arrives(self, record: AssociationRecord) -> bool:
        """Wait here, without an association and its threads, for the peer's first bytes: an idle
        connection costs one thread and a descriptor until association_request_timeout_s."""
        wait_s = self.server.receiver.settings.association_request_timeout_s
        poller = select.poll()
        poller.register(self.request, select.POLLIN | select.POLLPRI)
        if poller.poll(int(wait_s * 1000)):
            return True
        log.info("connection %s:%d closed: no A-ASSOCIATE-RQ within %.0f s", record.ip, record.port, wait_s)
        return False

    def _make_association(self, record: AssociationRecord) -> Association:
        receiver = self.server.receiver
        settings = receiver.settings
        assoc = new_acceptor(self.ae, self.server)
        assoc.name = f"Association@{record.ip}:{record.port}"
        limits = PduLimits(settings.max_pdu, settings.pdu_timeout_s)
        accepted = AcceptedSocket(assoc, client_socket=self.request)
        stream = accepted.stream = record.stream = PduStream(self.request, limits)
        assoc.set_socket(accepted)
        fast_path = record.fast_path = StoreFastPath(
            assoc, lambda: record.tracker, receiver.spill_dir, receiver.free_space_ok
        )
        assoc.dimse = fast_path
        wake_reactor_on_input(assoc)
        request_deadline = record.started + settings.association_request_timeout_s
        install_pdu_reader(assoc, bounded_reader(limits, request_deadline, stream, fast_path.take_pdata))
        assoc.acceptor.maximum_length = self.ae.maximum_pdu_size
        assoc.acceptor.ae_title = self.server.ae_title
        assoc.acceptor.address_info = self.local
        assoc.acceptor.implementation_class_uid = self.ae.implementation_class_uid
        assoc.acceptor.implementation_version_name = self.ae.implementation_version_name
        assoc.acceptor.supported_contexts = []  # set from the proposed ones in _on_requested
        assoc.requestor.address_info = self.remote
        assoc.bind(evt.EVT_REQUESTED, self._on_requested, [record])
        assoc.bind(evt.EVT_ACSE_RECV, self._on_acse_received, [record])
        return assoc

    def _on_acse_received(self, event: evt.Event, record: AssociationRecord) -> None:
        """An A-RELEASE-RQ: make the send durable *before* pynetdicom answers with A-RELEASE-RP.

        pynetdicom triggers this event in the association thread when it takes the request from
        the DUL queue, and sends the RP right after. Once the sender has the RP it believes the
        send is done, so the release (and the final instance counts) must already be in the store:
        a kill after this point leaves a settling (or sealed) session that a restart queues.
        If recording fails the connection is cut instead, so the sender sees a failed send.
        """
        primitive = getattr(event, "primitive", None)
        if not isinstance(primitive, A_RELEASE) or primitive.result is not None:
            return
        tracker = record.tracker
        if tracker is None:
            return
        try:
            tracker.end(True, "", after=self.server.receiver.events.sessions_ended)
        except Exception:
            log.exception(
                "could not record the release of %s@%s; dropping the connection",
                record.calling_aet,
                record.ip,
            )
            record.release_failed = True
            cut_connection(event.assoc)

    def _on_requested(self, event: evt.Event, record: AssociationRecord) -> None:
        """A-ASSOCIATE-RQ arrived: pick the bucket from the called AE title before negotiation.

        pynetdicom rejects with "called AE title not recognized" (permanent, service user,
        reason 7) unless the acceptor's AE title equals the called one, so it is set only for
        titles the box knows.
        """
        assoc = event.assoc
        request = assoc.requestor.primitive
        assert request is not None
        record.calling_aet = str(request.calling_ae_title).strip()
        record.called_aet = str(request.called_ae_title).strip()
        receiver = self.server.receiver
        target = receiver.policy.target(record.called_aet)
        if target is None:
            log.warning(
                "association from %s@%s refused: called AE title %r not recognized",
                record.calling_aet, record.ip, record.called_aet,
            )  # fmt: skip
            return
        refusal = receiver.slots.take(record.ip)
        if refusal is not None:
            self._refuse(assoc, record, f"too many associations: {refusal}", RJ_LIMIT)
            return
        record.has_slot = True
        assoc.acceptor.ae_title = record.called_aet
        assoc.acceptor.supported_contexts = proposed_contexts(
            request.presentation_context_definition_list,
            echo_only=target.bucket is None and not target.retrieving,
            allowed=receiver.accepted_sop_classes,
        )
        if target.bucket is None and not target.retrieving:
            return
        peer = Peer(record.calling_aet, record.called_aet, record.ip, record.port)
        record.tracker = AssociationTracker(
            receiver.store,
            peer,
            target.bucket,
            target.settle_s,
            retrieval_session=receiver.policy.retrieval_session,
            on_unrecorded=receiver.events.end_unrecorded,
        )

    def _refuse(
        self, assoc: Association, record: AssociationRecord, why: str, reject: tuple[int, int, int]
    ) -> None:
        """A-ASSOCIATE-RJ from the EVT_REQUESTED handler, as pynetdicom's own rejections do it."""
        log.warning("association from %s@%s refused: %s", record.calling_aet, record.ip, why)
        assoc.acse.send_reject(*reject)
        assoc.is_rejected = True
        assoc.kill()

    def _finish(self, assoc: Association, record: AssociationRecord) -> None:
        if record.has_slot:
            record.has_slot = False
            self.server.receiver.slots.give(record.ip)
        released = bool(assoc.is_released) and not record.release_failed
        outcome = "released" if released else "rejected" if assoc.is_rejected else "aborted"
        if not record.called_aet:
            outcome = "closed before A-ASSOCIATE"
        if record.fast_path is not None:
            record.fast_path.discard()
        if record.stream is not None and not assoc.dul.is_alive():  # else its reader may still run
            record.stream.close()
        tracker = record.tracker
        if tracker is not None:
            reason = "the sender aborted the association or the connection dropped"
            tracker.end(released, reason, after=self.server.receiver.events.sessions_ended)
        log.info(
            "association %s:%d %s -> %s %s: TCP_NODELAY=%d, %d instances, %d bytes, %.3f s, sessions %s",
            record.ip, record.port, record.calling_aet or "?", record.called_aet or "?", outcome,
            int(record.nodelay), tracker.instances if tracker else 0, tracker.bytes if tracker else 0,
            time.monotonic() - record.started, ",".join(tracker.session_dirs) if tracker else "-",
        )  # fmt: skip
