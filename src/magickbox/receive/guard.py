"""The receiver's defences against hostile or broken peers (docs/receiving.md, "Hostile peers").

- every PDU read through dicom/pdureader.py (bounded length and time, request checked first);
- association slots taken when an association is accepted, not when TCP connects, with a
  limit in total and per calling IP, shared by all receive workers (receive/slots.py);
- presentation contexts built from what the peer proposes: every storage SOP class (retired
  and private included) with the transfer syntaxes proposed, nothing else but Verification;
- the open-files limit raised at start, so many idle connections cannot starve the box.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import resource
from collections.abc import Callable, Iterable

from pynetdicom import AllStoragePresentationContexts, build_context
from pynetdicom.dul import DULServiceProvider
from pynetdicom.presentation import PresentationContext

from magickbox.dicom.pdureader import (
    ABORT_INVALID_PARAMETER,
    PduLimits,
    PduRefused,
    PeerClosed,
    abort_pdu,
    read_pdu,
    reject_pdu,
)
from magickbox.dicom.pdustream import PduStream
from magickbox.dicom.uid import is_valid_uid
from magickbox.receive.tcp import wake_waiting_acceptor

log = logging.getLogger(__name__)

VERIFICATION = "1.2.840.10008.1.1"
DICOM_ROOT = "1.2.840.10008."
STORAGE_ARC = "1.2.840.10008.5.1.4.1.1."  # PS3.4 B.5: storage SOP classes, retired ones included
# Storage classes outside that arc (hanging protocols, palettes, implant templates...).
KNOWN_STORAGE = frozenset(str(cx.abstract_syntax) for cx in AllStoragePresentationContexts)


def is_storage_class(uid: str) -> bool:
    """A storage SOP class: standard (retired included) or private. Other standard services
    (query/retrieve, worklist, print...) are not."""
    if uid.startswith(STORAGE_ARC) or uid in KNOWN_STORAGE:
        return True
    return not uid.startswith(DICOM_ROOT)


def proposed_contexts(
    proposed: Iterable[PresentationContext], *, echo_only: bool, allowed: frozenset[str]
) -> list[PresentationContext]:
    """What the acceptor supports for this request: each acceptable proposed SOP class with
    every transfer syntax proposed for it (the box stores data as received, never decodes)."""
    request = tuple((str(cx.abstract_syntax or ""), tuple(map(str, cx.transfer_syntax))) for cx in proposed)
    return list(_supported(request, echo_only, allowed))


@functools.lru_cache(maxsize=64)
def _supported(
    request: tuple[tuple[str, tuple[str, ...]], ...], echo_only: bool, allowed: frozenset[str]
) -> tuple[PresentationContext, ...]:
    """Built once per distinct request: a sender proposes the same hundred-odd contexts every
    time, and pynetdicom only reads the supported contexts (negotiate_as_acceptor)."""
    wanted: dict[str, list[str]] = {}
    for uid, proposed_syntaxes in request:
        if not _acceptable(uid, echo_only=echo_only, allowed=allowed):
            continue
        syntaxes = wanted.setdefault(uid, [])
        for syntax in proposed_syntaxes:
            if is_valid_uid(syntax) and syntax not in syntaxes:
                syntaxes.append(syntax)
    return tuple(build_context(uid, syntaxes) for uid, syntaxes in wanted.items() if syntaxes)


def _acceptable(uid: str, *, echo_only: bool, allowed: frozenset[str]) -> bool:
    if uid == VERIFICATION:
        return True
    if echo_only or not is_valid_uid(uid):
        return False
    if allowed:
        return uid in allowed
    return is_storage_class(uid)


P_DATA_TF = 0x04
ESTABLISHED = "Sta6"
TAKEN_PER_TURN = 64  # PDUs taken straight from the wire before the reactor gets a turn
READ_AGAIN_WITHIN_S = 0.001  # what the reactor's own wait for data would be (TunedSocket.ready)


def bounded_reader(
    limits: PduLimits,
    request_deadline: float,
    stream: PduStream,
    take_pdata: Callable[[memoryview | bytearray], bool],
) -> Callable[[DULServiceProvider], bytearray | None]:
    """The DUL's PDU reader for one accepted connection (see pynetdicom_compat.install_pdu_reader).

    The A-ASSOCIATE-RQ is read on its own (pdureader.read_pdu); after that PDUs come from
    `stream`, and a P-DATA-TF PDU that `take_pdata` takes (a data set fragment for the storage
    fast path) never reaches pynetdicom: PDUs already received are taken in one turn, the
    first one pynetdicom must see is handed back for it to decode.

    A peer that breaks a limit gets an A-ASSOCIATE-RJ (before negotiation) or an A-ABORT, one log
    line, and the connection is closed; the association thread is woken if it still waits.
    """

    def read(dul: DULServiceProvider) -> bytearray | None:
        wrapper = dul.socket
        raw = wrapper.socket if wrapper is not None else None
        if wrapper is None or raw is None:
            return None
        # Sta1 too: the reactor may read before it has handled "connection open" (Evt5).
        negotiating = dul.state_machine.current_state in ("Sta1", "Sta2")
        try:
            if negotiating:
                return read_pdu(raw, limits, negotiating=True, deadline=request_deadline)
            return take_received(dul)
        except PeerClosed:
            pass
        except PduRefused as exc:
            answer = "A-ASSOCIATE-RJ" if negotiating and exc.reject else "A-ABORT"
            log.warning("%s: %s; %s sent, connection closed", dul.assoc.name, exc.reason, answer)
            pdu = reject_pdu(exc.reject) if negotiating and exc.reject else abort_pdu(ABORT_INVALID_PARAMETER)
            with contextlib.suppress(OSError):
                raw.sendall(pdu)
        wrapper.close()  # queues Evt17: the state machine ends the association
        wake_waiting_acceptor(dul.assoc)
        return None

    def take_received(dul: DULServiceProvider) -> bytearray | None:
        """PDUs from the stream: None when all were taken (or the fast path closed the
        connection), else the first one for pynetdicom."""
        pdu = stream.next_pdu(wait=True)
        taken = 0
        while pdu is not None and dul.socket is not None and dul.socket.socket is not None:
            established = dul.state_machine.current_state == ESTABLISHED
            if not (pdu[0] == P_DATA_TF and established and take_pdata(pdu)):
                return bytearray(pdu)
            taken += 1
            if taken == TAKEN_PER_TURN:  # the rest waits in the stream; ready() says so
                return None
            pdu = stream.next_pdu(wait=False)
            if pdu is None and stream.readable_within(READ_AGAIN_WITHIN_S):
                pdu = stream.next_pdu(wait=False)  # the sender keeps up: no turn of the reactor
        return None

    return read


def raise_open_files_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit: each idle peer costs a descriptor."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft >= hard:
        log.info("open files limit %s (hard %s)", soft, hard)
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:
        log.warning("could not raise the open files limit from %d to %d: %s", soft, hard, exc)
        return
    log.info("open files limit raised from %d to %d", soft, hard)
