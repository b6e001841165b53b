"""The storage hot path: C-STORE-RQ fragments go to the instance writer as they arrive, and the
C-STORE-RSP leaves from the same (DUL) thread as soon as the file is in place.

pynetdicom keeps everything else: negotiation, release, abort, C-ECHO and any other message are
handed to its own DIMSE provider unchanged. Skipped for C-STORE: building pydicom data sets for
the command and the response, the hand-off to the association thread and its 1 ms polling loop,
and pynetdicom's temporary-file chunking.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.pdu_primitives import P_DATA

from magickbox.dicom import command, status
from magickbox.dicom.pdureader import abort_pdu
from magickbox.dicom.pynetdicom_compat import accepted_contexts
from magickbox.receive.fragments import FragmentOrder
from magickbox.receive.tracker import AssociationTracker
from magickbox.receive.writer import InstanceWriter, Outcome

if TYPE_CHECKING:
    from pynetdicom.association import Association

log = logging.getLogger(__name__)

SINGLE_PDV = 12  # PDU header (6), item length (4), context id, message control header
Fragment = bytes | memoryview  # a presentation data value: message control header, then bytes


def _primitive(context_id: int, data: Fragment) -> P_DATA:
    primitive = P_DATA()
    item: Any = [context_id, bytes(data)]  # pynetdicom wants a list here (its type hint says tuple)
    primitive.presentation_data_value_list = [item]
    return primitive


@dataclass
class _Store:
    """A C-STORE-RQ being received."""

    context_id: int
    message_id: int
    sop_class_uid: str
    sop_instance_uid: str
    writer: InstanceWriter | None
    refusal: Outcome | None = None


class StoreFastPath(DIMSEServiceProvider):
    """A DIMSE provider for an accepted association that handles C-STORE-RQ itself."""

    def __init__(
        self,
        assoc: Association,
        tracker_of: Callable[[], AssociationTracker | None],
        spill_dir: Path,
        free_bytes_ok: Callable[[], bool],
    ) -> None:
        super().__init__(assoc)
        self._tracker_of = tracker_of
        self._spill_dir = spill_dir
        self._free_bytes_ok = free_bytes_ok
        self._command = bytearray()
        self._pending: list[P_DATA] = []  # primitives of a message whose command is not complete
        self._store: _Store | None = None
        self._delegating = False  # the current message belongs to pynetdicom
        self._order = FragmentOrder()
        self.aborted = ""  # why the association was aborted for a protocol violation

    # Called by pynetdicom's state machine (DUL thread) for every P-DATA primitive it decoded.
    def receive_primitive(self, primitive: P_DATA) -> None:
        self._receive(primitive.presentation_data_value_list, lambda: primitive)

    # Called by the PDU reader (DUL thread) for a P-DATA-TF PDU before pynetdicom decodes it.
    def take_pdata(self, pdu: memoryview | bytearray) -> bool:
        """Receive a P-DATA-TF PDU straight from the wire: True when taken. The common shape is
        taken, one fragment per PDU while no message is pynetdicom's; anything else (several
        fragments in a PDU, the rest of a message handed to pynetdicom) returns False and
        reaches receive_primitive() after pynetdicom decoded it, in the same order."""
        if self._delegating or self.aborted or len(pdu) < SINGLE_PDV:
            return False
        if int.from_bytes(pdu[6:10], "big") != len(pdu) - 10:  # not exactly one item
            return False
        context_id, data = pdu[10], memoryview(pdu)[11:]
        store = self._store
        if store is not None and context_id == store.context_id and not data[0] & 1:
            # The bulk of the traffic: the next fragment of the data set being received (what
            # FragmentOrder would check: data, on the command's context, after its command).
            if data[0] & 2:
                self._order.data_set_ended()
            self._store_fragment(data)
            return True
        self._receive([(context_id, data)], lambda: _primitive(context_id, data))
        return True

    def _receive(self, items: Sequence[tuple[int, Fragment]], primitive_of: Callable[[], P_DATA]) -> None:
        """The fragments of one PDU, in order. `primitive_of` gives them as pynetdicom's
        primitive, for messages handed to pynetdicom (a copy: wire bytes are reused)."""
        if self.aborted:
            return
        for context_id, data in items:
            violation = self._order.check(context_id, data)
            if violation is not None:
                self._abort(violation)
                return
        if self._delegating:
            self._delegate(primitive_of())
            return
        for context_id, data in items:
            if self._store is not None:
                self._store_fragment(data)
                continue
            if not data[0] & 1:
                # Data set bytes with no command before them: let pynetdicom judge.
                self._hand_over(primitive_of())
                return
            self._command += data[1:]
            # Any fragments after a C-STORE command in this PDU are data set bytes (above).
            # One fragment per PDU: the order check has just parsed this very command set.
            parsed = self._order.command_values if len(items) == 1 else None
            if data[0] & 2 and not self._start_message(context_id, parsed):
                self._hand_over(primitive_of())
                return
        if self._store is None and self._command:
            self._pending.append(primitive_of())

    # ---- pynetdicom's path -------------------------------------------------------------------
    def _hand_over(self, primitive: P_DATA) -> None:
        pending, self._pending = [*self._pending, primitive], []
        self._command = bytearray()
        self._delegating = True
        for item in pending:
            self._delegate(item)

    def _delegate(self, primitive: P_DATA) -> None:
        super().receive_primitive(primitive)
        if self.message is None:  # pynetdicom finished (and queued) the message
            self._delegating = False

    # ---- our path ------------------------------------------------------------------------------
    def _start_message(self, context_id: int, parsed: dict[int, bytes] | None) -> bool:
        """The command set is complete. True when it is a C-STORE-RQ we take."""
        values = parsed if parsed is not None else command.parse_command(self._command)
        if command.us_value(values, command.COMMAND_FIELD) != command.C_STORE_RQ:
            return False
        if command.us_value(values, command.COMMAND_DATA_SET_TYPE) == command.NO_DATA_SET:
            return False
        self._command = bytearray()
        self._pending = []
        self._store = _Store(
            context_id=context_id,
            message_id=command.us_value(values, command.MESSAGE_ID) or 0,
            sop_class_uid=command.ui_value(values, command.AFFECTED_SOP_CLASS_UID),
            sop_instance_uid=command.ui_value(values, command.AFFECTED_SOP_INSTANCE_UID),
            writer=None,
        )
        self._store.refusal = self._refusal(context_id)
        if self._store.refusal is None:
            tracker = self._tracker_of()
            assert tracker is not None
            self._store.writer = InstanceWriter(
                tracker, self._transfer_syntax(context_id), self._store.sop_class_uid, self._spill_dir
            )
        return True

    def _refusal(self, context_id: int) -> Outcome | None:
        if self._tracker_of() is None:
            return Outcome(status.SOP_CLASS_NOT_SUPPORTED, "this AE title only answers C-ECHO")
        if context_id not in accepted_contexts(self.assoc):
            return Outcome(status.CANNOT_UNDERSTAND, "presentation context not accepted")
        if not self._free_bytes_ok():
            return Outcome(status.OUT_OF_RESOURCES, "the box is short of disk space")
        return None

    def _transfer_syntax(self, context_id: int) -> str:
        return str(accepted_contexts(self.assoc)[context_id].transfer_syntax[0])

    def _store_fragment(self, data: Fragment) -> None:
        store = self._store
        assert store is not None
        if store.writer is not None:
            store.writer.feed(memoryview(data)[1:])
        if data[0] & 2:  # last fragment of the data set
            self._store = None
            self._answer(store, self._finish(store))

    def _finish(self, store: _Store) -> Outcome:
        if store.refusal is not None or store.writer is None:
            return store.refusal or Outcome(status.PROCESSING_FAILURE)
        try:
            return store.writer.finish()
        except Exception:
            log.exception("storing an instance failed")
            store.writer.discard()
            return Outcome(status.PROCESSING_FAILURE, "internal error while storing")

    def _answer(self, store: _Store, outcome: Outcome) -> None:
        if outcome.status != status.SUCCESS:
            log.warning(
                "C-STORE %s refused: %s %s", store.sop_instance_uid, status.describe(outcome.status),
                outcome.comment,
            )  # fmt: skip
        pdu = command.c_store_rsp_pdu(
            store.context_id,
            store.message_id,
            store.sop_class_uid,
            outcome.sop_instance_uid or store.sop_instance_uid,
            outcome.status,
            outcome.comment,
        )
        wrapper = self.dul.socket
        sock = wrapper.socket if wrapper is not None else None
        if wrapper is None or sock is None:
            return
        try:
            sock.sendall(pdu)  # the socket itself: pynetdicom's send() adds an event per response
        except OSError:
            wrapper.close()  # as pynetdicom does on a failed send: the association ends

    def _abort(self, violation: str) -> None:
        """A protocol violation: drop the instance being received, send A-ABORT, close.

        Closing the socket queues "transport closed" for pynetdicom's state machine, which ends
        the association as aborted (its sessions become incomplete); this runs in the DUL thread,
        where pynetdicom's own abort() would wait for itself.
        """
        self.aborted = violation
        log.warning("association %s aborted: %s", self.assoc.name, violation)
        self.discard()
        self._command, self._pending, self._delegating = bytearray(), [], False
        wrapper = self.dul.socket
        if wrapper is None:
            return
        if wrapper.socket is not None:
            with contextlib.suppress(OSError):
                wrapper.socket.sendall(abort_pdu())
        wrapper.close()

    def discard(self) -> None:
        """The association ended: drop a half-received instance."""
        store, self._store = self._store, None
        if store is not None and store.writer is not None:
            store.writer.discard()
