"""The bounded PDU reader over a real socket pair, the proposed-context rules, the version check."""

from __future__ import annotations

import re
import socket

import pytest
from pynetdicom import build_context

from magickbox.dicom import pdureader
from magickbox.dicom.pdureader import PduLimits, PduRefused, PeerClosed, read_pdu
from magickbox.dicom.pynetdicom_compat import check_version
from magickbox.receive.guard import proposed_contexts
from tests.receive import rawdicom

LIMITS = PduLimits(max_pdu=16384, pdu_timeout_s=0.2)
CT = "1.2.840.10008.5.1.4.1.1.2"


def test_a_whole_request_is_read(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = pair
    request = rawdicom.associate_rq([(CT, [rawdicom.EXPLICIT_LE])] * 128)
    peer.sendall(request)
    assert read_pdu(ours, LIMITS, negotiating=True) == request


@pytest.mark.parametrize(("negotiating", "reject"), [(True, pdureader.RJ_LIMIT), (False, None)])
def test_a_claimed_length_over_the_limit_is_refused_before_reading(
    pair: tuple[socket.socket, socket.socket], negotiating: bool, reject: tuple[int, int, int] | None
) -> None:
    ours, peer = pair
    peer.sendall(b"\x04\x00\xff\xff\xff\xff")
    with pytest.raises(PduRefused, match="claims 4294967295 bytes") as caught:
        read_pdu(ours, LIMITS, negotiating=negotiating)
    assert caught.value.reject == reject


def test_the_established_limit_is_the_negotiated_maximum_plus_a_margin(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, peer = pair
    fits = LIMITS.max_pdu + pdureader.PDU_MARGIN
    peer.sendall(b"\x04\x00" + fits.to_bytes(4, "big") + bytes(fits))
    assert len(read_pdu(ours, LIMITS, negotiating=False)) == 6 + fits
    peer.sendall(b"\x04\x00" + (fits + 1).to_bytes(4, "big"))
    with pytest.raises(PduRefused):
        read_pdu(ours, LIMITS, negotiating=False)


def test_a_pdu_that_stops_arriving_misses_its_deadline(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = pair
    peer.sendall(rawdicom.associate_rq([(CT, [rawdicom.EXPLICIT_LE])])[:30])
    with pytest.raises(PduRefused, match="deadline"):
        read_pdu(ours, LIMITS, negotiating=True)


def test_a_closed_peer_is_told_apart(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = pair
    peer.sendall(b"\x05\x00\x00\x00")
    peer.close()
    with pytest.raises(PeerClosed):
        read_pdu(ours, LIMITS, negotiating=False)


def test_unknown_pdu_types_and_too_many_contexts_are_refused(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, peer = pair
    peer.sendall(b"\x09\x00\x00\x00\x00\x00")
    with pytest.raises(PduRefused, match="unknown PDU type 0x09"):
        read_pdu(ours, LIMITS, negotiating=True)
    peer.sendall(rawdicom.associate_rq([(CT, [rawdicom.EXPLICIT_LE])] * 129))
    with pytest.raises(PduRefused, match="129 presentation contexts") as caught:
        read_pdu(ours, LIMITS, negotiating=True)
    assert caught.value.reject == pdureader.RJ_NO_REASON


@pytest.mark.parametrize(
    ("title", "ok"),
    [
        (b"MySelf", True),
        (b"  LEADING", True),
        (b"NUL-PADDED".ljust(16, b"\x00"), True),
        (b"", False),
        (b"\x00" * 16, False),
        (b"A\\B", False),
        (b"TAB\tHERE", False),
        (b"caf\xc3\xa9", False),
    ],
)
def test_ae_title_check(title: bytes, ok: bool) -> None:
    assert pdureader.ae_title_ok(rawdicom.ae(title)) is ok


def test_proposed_contexts_take_every_storage_class_with_the_proposed_syntaxes() -> None:
    proposed = [
        build_context("1.2.840.10008.5.1.4.1.1.6", ["1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2"]),
        build_context("1.3.12.2.1107.5.9.1", ["1.2.840.10008.1.2.1"]),
        build_context("1.2.840.10008.5.1.4.1.2.2.1", ["1.2.840.10008.1.2"]),  # Q/R FIND
        build_context("1.2.840.10008.5.1.4.31", ["1.2.840.10008.1.2"]),  # worklist
        build_context("1.2.840.10008.1.1", ["1.2.840.10008.1.2"]),
    ]
    accepted = proposed_contexts(proposed, echo_only=False, allowed=frozenset())
    assert {str(cx.abstract_syntax): list(map(str, cx.transfer_syntax)) for cx in accepted} == {
        "1.2.840.10008.5.1.4.1.1.6": ["1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2"],
        "1.3.12.2.1107.5.9.1": ["1.2.840.10008.1.2.1"],
        "1.2.840.10008.1.1": ["1.2.840.10008.1.2"],
    }
    echo = proposed_contexts(proposed, echo_only=True, allowed=frozenset())
    assert [str(cx.abstract_syntax) for cx in echo] == ["1.2.840.10008.1.1"]
    only = proposed_contexts(proposed, echo_only=False, allowed=frozenset({"1.3.12.2.1107.5.9.1"}))
    assert sorted(str(cx.abstract_syntax) for cx in only) == ["1.2.840.10008.1.1", "1.3.12.2.1107.5.9.1"]


@pytest.mark.parametrize(
    ("installed", "ok"), [("3.0.4", True), ("3.0.0", True), ("2.0.2", False), ("3.1.0", False)]
)
def test_pynetdicom_version_check(installed: str, ok: bool) -> None:
    if ok:
        assert check_version(installed) == installed
    else:
        with pytest.raises(RuntimeError, match=re.escape("tested with >=3.0.0,<3.1.0")):
            check_version(installed)
