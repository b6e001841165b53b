"""Every use of pynetdicom's private parts, in one place, for the tested pynetdicom versions only.

The receiver and the senders need a few things pynetdicom 3 has no public API for: the DUL's
PDU reader (replaced by a bounded one), its reactor sleep, the acceptor reactor's polling
(replaced by a wake-up), an association's accepted contexts,
the AE's server list, the "send files as they are" switch and its UID conversion. Everything
else in the package uses public names only. `check_version()` runs when the box starts, so a
pynetdicom outside the tested range stops the start with a clear message instead of misbehaving
on the wire.
"""

from __future__ import annotations

import functools
import importlib
import logging
import threading
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from pynetdicom import _config, utils
from pynetdicom import association as association_module
from pynetdicom._globals import MODE_ACCEPTOR
from pynetdicom.association import Association

if TYPE_CHECKING:
    from pynetdicom import AE
    from pynetdicom.dul import DULServiceProvider
    from pynetdicom.presentation import PresentationContext
    from pynetdicom.transport import AssociationServer, AssociationSocket

log = logging.getLogger(__name__)

# pyproject.toml pins the same range; widen both only after the receiver tests pass on it.
TESTED_FROM = (3, 0, 0)
TESTED_BELOW = (3, 1, 0)


def _parse(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def check_version(installed: str | None = None) -> str:
    """The installed pynetdicom version; RuntimeError when it is outside the tested range."""
    if installed is None:
        try:
            installed = version("pynetdicom")
        except PackageNotFoundError as exc:
            raise RuntimeError("pynetdicom is not installed") from exc
    if not TESTED_FROM <= _parse(installed) < TESTED_BELOW:
        low, high = ".".join(map(str, TESTED_FROM)), ".".join(map(str, TESTED_BELOW))
        raise RuntimeError(
            f"pynetdicom {installed} is installed; the box is tested with >={low},<{high}:"
            f" install a version in that range (pip install 'pynetdicom>={low},<{high}')"
        )
    return installed


PduResult = bytearray | None

# pynetdicom modules that took `set_uid` by name from pynetdicom.utils
SET_UID_USERS = (
    "pynetdicom.ae",
    "pynetdicom.dimse_primitives",
    "pynetdicom.pdu_items",
    "pynetdicom.pdu_primitives",
    "pynetdicom.presentation",
)
SET_UID_CACHE = 4096


def remember_uid_conversions() -> None:
    """Convert each UID text once per process instead of every time pynetdicom meets it.

    pynetdicom turns every UID of an association request into a pydicom UID several times
    (decoding, the primitive, each presentation context), each time re-checking it against a
    pattern: about half of what an association costs before its first instance, with storescu
    proposing over a hundred contexts. The conversion depends on its arguments only, so its
    results are kept (bounded; failures are not kept and raise as before).
    """
    if hasattr(utils.set_uid, "cache_info"):
        return
    remembered = functools.lru_cache(maxsize=SET_UID_CACHE)(utils.set_uid)
    utils.set_uid = remembered
    for name in SET_UID_USERS:
        setattr(importlib.import_module(name), "set_uid", remembered)  # noqa: B010 - a module global


# ---- acceptor set-up ---------------------------------------------------------------------------
def new_acceptor(ae: AE, server: AssociationServer) -> Association:
    """An acceptor association owned by `server`, whose DUL polls without sleeping (the tuned
    socket already waits for data in poll())."""
    assoc = Association(ae, MODE_ACCEPTOR)
    assoc._server = server
    assoc.dul._run_loop_delay = 0.0
    return assoc


# pynetdicom's Association._run_reactor sleeps this long between two looks at its queues.
REACTOR_TICK_S = 0.001
# An acceptor with nothing queued still looks this often: for an ended DUL, the network
# timeout, a kill() from another thread.
REACTOR_IDLE_LOOK_S = 0.05


class _ReactorTime:
    """pynetdicom.association's `time` module, except that the reactor tick of an acceptor set
    up by wake_reactor_on_input() waits for its wake-up instead."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        woken: threading.Event | None = getattr(threading.current_thread(), "_magickbox_woken", None)
        if woken is None or seconds != REACTOR_TICK_S:
            time.sleep(seconds)
            return
        woken.wait(REACTOR_IDLE_LOOK_S)
        woken.clear()  # before the reactor looks: whatever comes after this wakes it again


def wake_reactor_on_input(assoc: Association) -> None:
    """Let the acceptor's reactor thread sleep until there is something for it to do.

    pynetdicom's reactor wakes every millisecond to look for a DIMSE message, a release or an
    abort. In a receive worker those wake-ups take the GIL from the thread that is reading
    data (thousands of hand-overs per second with a few associations), and most of the time
    there is nothing: instances go the storage fast path, which never queues anything. Here
    the reactor waits on an event that every put on its two input queues sets; it still looks
    every REACTOR_IDLE_LOOK_S for what no queue announces. Call it once the association's DIMSE
    provider is in place (its queue is one of the two).
    """
    woken = threading.Event()
    for inbox in (assoc.dul.to_user_queue, assoc.dimse.msg_queue):
        put = inbox.put

        def put_and_wake(item: Any, block: bool = True, timeout: float | None = None, put: Any = put) -> None:
            put(item, block, timeout)
            woken.set()

        setattr(inbox, "put", put_and_wake)  # noqa: B010 - an instance override, on purpose
    setattr(assoc, "_magickbox_woken", woken)  # noqa: B010 - read by _ReactorTime in its thread
    if not isinstance(getattr(association_module, "time", None), _ReactorTime):
        setattr(association_module, "time", _ReactorTime())  # noqa: B010 - pynetdicom's module global


def register_server(ae: AE, server: AssociationServer) -> None:
    ae._servers.append(server)  # type: ignore[arg-type]


def drop_server_registrations(ae: AE) -> None:
    ae._servers.clear()


def accepted_contexts(assoc: Association) -> dict[int, PresentationContext]:
    """Accepted presentation contexts by id (a dict pynetdicom keeps privately)."""
    contexts: dict[int, PresentationContext] = assoc._accepted_cx
    return contexts


def is_connected(sock: AssociationSocket) -> bool:
    return sock._is_connected is not False


def install_pdu_reader(assoc: Association, read: Callable[[DULServiceProvider], PduResult]) -> None:
    """Replace the DUL's PDU reader (which allocates whatever length a peer's header claims).

    `read` returns raw PDU bytes for pynetdicom to decode, or None when there is nothing for
    pynetdicom: the PDUs read were taken by the storage fast path, or the reader dealt with the
    peer itself (refused, closed: it closed the socket, which queues Evt17).
    """
    dul = assoc.dul

    def read_pdu_data() -> None:
        result = read(dul)
        if result is None:
            return
        try:
            pdu, event = dul._decode_pdu(result)
        except Exception as exc:  # a malformed PDU: one line, not a traceback
            log.warning("%s: undecodable PDU (%s: %s); aborting", assoc.name, type(exc).__name__, exc)
            dul.event_queue.put("Evt19")
            return
        dul.event_queue.put(event)
        dul._recv_pdu.put(pdu)

    setattr(dul, "_read_pdu_data", read_pdu_data)  # noqa: B010 - an instance override, on purpose


# ---- senders -----------------------------------------------------------------------------------
def send_files_from_disk() -> None:
    """From now on, in this process, a file given to send_c_store() goes from disk in chunks, its
    data set bytes as they are (never decoded and re-encoded). Called once at start by the
    processes that send (`serve`, `mb push --via dicom`); data sets that need converting are
    passed as data sets, which this setting does not touch."""
    _config.STORE_SEND_CHUNKED_DATASET = True


def responses_for_the_sender_only(assoc: Association) -> None:
    """Keep pynetdicom's reactor thread from taking a C-STORE-RSP meant for send_c_store().

    pynetdicom 3 pauses its reactor around each send_c_store(), but the handshake has a gap:
    when one send un-pauses the reactor and the next send starts before the reactor noticed,
    the reactor can take the next (fast) response off the queue, log "Received unexpected
    C-STORE service message", and send_c_store() then waits the whole DIMSE timeout for a
    response that never comes (the delivery fails after 30 s). This association only sends,
    so its reactor never needs a DIMSE message.
    """
    get_msg = assoc.dimse.get_msg

    def sender_only(block: bool = False) -> tuple[int | None, Any]:
        if threading.current_thread() is assoc:
            return None, None
        return get_msg(block)

    setattr(assoc.dimse, "get_msg", sender_only)  # noqa: B010 - an instance override, on purpose


def let_reactor_resume(assoc: Association) -> None:
    """Wait until pynetdicom's reactor thread has left its pause after a send_*() call.

    send_*() pauses the reactor, waits for the response, and un-pauses it. If the next send_*()
    starts before the reactor noticed, the pause looks already taken, and the reactor, on
    waking, may take the next response off the queue itself: that file then times out. Quick
    ACKs make responses fast enough to hit this.
    """
    deadline = time.monotonic() + 1.0
    while assoc._is_paused and assoc.is_alive() and time.monotonic() < deadline:
        time.sleep(0.00005)
