"""The C-STORE fast path fed P-DATA directly, as pynetdicom's primitives and as raw PDUs from
the wire (take_pdata, with pynetdicom decoding what it does not take): every order violation
aborts the association, and no partial data set reaches INPUT/ or the instance count."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pynetdicom import AE, build_context
from pynetdicom.association import Association
from pynetdicom.pdu import P_DATA_TF
from pynetdicom.transport import AssociationSocket

from magickbox.dicom.pynetdicom_compat import accepted_contexts
from magickbox.receive.dimse import StoreFastPath
from magickbox.receive.tracker import AssociationTracker
from magickbox.store import Store
from tests.receive import rawdicom
from tests.receive.test_writer import data_set_of, make_tracker
from tests.support import dicomdata

CT = "1.2.840.10008.5.1.4.1.1.2"


@dataclass
class Rig:
    fast_path: StoreFastPath
    tracker: AssociationTracker
    peer: socket.socket
    store: Store
    data: bytes
    command: bytes
    route: str  # "primitive" or "wire"
    taken: int = 0  # fragments the wire route took before pynetdicom decoded anything

    def feed(self, *fragments: tuple[int, int | None, bytes]) -> None:
        """One PDU per fragment: (context id, message control header or None, bytes)."""
        for context_id, header, data in fragments:
            value = b"" if header is None else bytes((header,)) + data
            self.feed_pdu(struct.pack(">IB", len(value) + 1, context_id) + value)

    def feed_pdu(self, items: bytes) -> None:
        """A P-DATA-TF PDU of raw items, on this rig's route (the wire route as the reader does)."""
        pdu = b"\x04\x00" + struct.pack(">I", len(items)) + items
        if self.route == "wire" and self.fast_path.take_pdata(memoryview(pdu)):
            self.taken += 1
            return
        decoded = P_DATA_TF()
        decoded.decode(pdu)
        self.fast_path.receive_primitive(decoded.to_primitive())

    def answer(self) -> bytes:
        """The first PDU the fast path sent to the peer (b"" if none)."""
        self.peer.settimeout(5)
        return rawdicom.read_pdu(self.peer)

    def stored(self) -> list[Path]:
        return sorted(self.store.settings.scratch_dir.rglob("*.dcm"))

    def parts(self) -> list[Path]:
        return sorted(self.store.settings.data.rglob("*.part"))


@pytest.fixture(params=["primitive", "wire"])
def rig(store: Store, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Rig]:
    data, ds = data_set_of(dicomdata.EXPLICIT_LE)
    tracker = make_tracker(store)
    assoc = Association(AE(), "acceptor")
    ours, peer = socket.socketpair()
    assoc.set_socket(AssociationSocket(assoc, client_socket=ours))
    for context_id, abstract in ((1, CT), (3, rawdicom.VERIFICATION)):
        context = build_context(abstract, str(ds.file_meta.TransferSyntaxUID))
        context.context_id = context_id
        accepted_contexts(assoc)[context_id] = context
    fast_path = StoreFastPath(assoc, lambda: tracker, tmp_path / "spill", lambda: True)
    command = rawdicom.command_set(0x0001, CT, 7, sop_instance=str(ds.SOPInstanceUID))
    yield Rig(fast_path, tracker, peer, store, data, command, request.param)
    peer.close()
    ours.close()


def test_a_well_ordered_c_store_is_stored_and_answered(rig: Rig) -> None:
    third = len(rig.data) // 3
    rig.feed(
        (1, 0x01, rig.command[:20]),
        (1, 0x03, rig.command[20:]),
        (1, 0x00, rig.data[:third]),
        (1, 0x00, rig.data[third : 2 * third]),
        (1, 0x02, rig.data[2 * third :]),
    )

    answer = rig.answer()
    assert answer[:1] == b"\x04"  # P-DATA-TF carrying the C-STORE-RSP
    assert struct.pack("<HHIH", 0, 0x0900, 2, 0) in answer  # Status 0x0000
    assert len(rig.stored()) == 1 and rig.tracker.instances == 1
    assert rig.stored()[0].read_bytes().endswith(rig.data)
    assert not rig.fast_path.aborted
    assert rig.taken == (5 if rig.route == "wire" else 0)  # pynetdicom decoded nothing


def test_several_fragments_in_one_pdu_are_decoded_by_pynetdicom_and_stored(rig: Rig) -> None:
    half = len(rig.data) // 2
    rig.feed((1, 0x03, rig.command))
    rig.feed_pdu(rawdicom.p_data((1, 0x00, rig.data[:half]), (1, 0x02, rig.data[half:]))[6:])

    assert struct.pack("<HHIH", 0, 0x0900, 2, 0) in rig.answer()
    assert rig.stored()[0].read_bytes().endswith(rig.data)
    assert rig.taken == (1 if rig.route == "wire" else 0)  # the command only


def test_a_c_echo_goes_to_pynetdicom_and_the_next_c_store_to_the_fast_path(rig: Rig) -> None:
    rig.feed((3, 0x03, rawdicom.command_set(0x0030, rawdicom.VERIFICATION, 8)))
    context_id, message = rig.fast_path.msg_queue.get_nowait()  # for the association thread
    assert (context_id, type(message).__name__, message.MessageID) == (3, "C_ECHO", 8)

    rig.feed((1, 0x03, rig.command), (1, 0x02, rig.data))
    assert struct.pack("<HHIH", 0, 0x0900, 2, 0) in rig.answer()
    assert rig.stored()[0].read_bytes().endswith(rig.data)
    assert rig.taken == (3 if rig.route == "wire" else 0)  # the C-ECHO's PDU too, then handed over


def _violations(command: bytes, data: bytes) -> dict[str, list[tuple[int, int | None, bytes]]]:
    half = len(data) // 2
    echo = rawdicom.command_set(0x0030, rawdicom.VERIFICATION, 8)
    return {
        "data before any command": [(1, 0x00, data[:half]), (1, 0x02, data[half:])],
        "data while the command is incomplete": [(1, 0x01, command[:20]), (1, 0x02, data)],
        "a C-ECHO command inside the data set": [
            (1, 0x03, command), (1, 0x00, data[:half]), (3, 0x03, echo), (1, 0x02, data[half:]),
        ],
        "a new C-STORE before the last fragment": [
            (1, 0x03, command), (1, 0x00, data[:half]), (1, 0x03, command), (1, 0x02, data),
        ],
        "data on another context": [(1, 0x03, command), (1, 0x00, data[:half]), (3, 0x02, data[half:])],
        "command on two contexts": [(1, 0x01, command[:20]), (3, 0x03, command[20:]), (1, 0x02, data)],
        "an empty value": [(1, 0x03, command), (1, 0x00, data[:half]), (1, None, b""), (1, 0x02, data)],
    }  # fmt: skip


@pytest.mark.parametrize("case", list(_violations(b"", b"")))
def test_a_fragment_order_violation_aborts_and_stores_nothing(rig: Rig, case: str) -> None:
    rig.feed(*_violations(rig.command, rig.data)[case])

    assert rig.answer()[:1] == b"\x07"  # A-ABORT, no C-STORE-RSP
    assert rig.answer() == b""  # then the connection is closed
    assert rig.fast_path.aborted
    assert rig.stored() == [] and rig.parts() == []
    assert rig.tracker.instances == 0
