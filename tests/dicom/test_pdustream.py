"""PduStream over a real socket pair: whole PDUs out of large reads, the same limits and deadline
as the single-PDU reader, PDUs larger than its buffer."""

from __future__ import annotations

import random
import socket
import threading
import time

import pytest

from magickbox.dicom import pdustream
from magickbox.dicom.pdureader import PDU_MARGIN, PduLimits, PduRefused, PeerClosed
from magickbox.dicom.pdustream import PduStream

LIMITS = PduLimits(max_pdu=131072, pdu_timeout_s=2.0)


def pdu(body: bytes, pdu_type: int = 0x04) -> bytes:
    return bytes((pdu_type, 0)) + len(body).to_bytes(4, "big") + body


def send_in_background(sock: socket.socket, data: bytes) -> threading.Thread:
    thread = threading.Thread(target=sock.sendall, args=(data,), daemon=True)
    thread.start()
    return thread


def test_pdus_that_arrived_together_come_out_one_by_one(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = pair
    first, second, third = pdu(b"a" * 10), pdu(b"b" * 3000), pdu(b"", pdu_type=0x05)
    peer.sendall(first + second + third)
    stream = PduStream(ours, LIMITS)

    assert bytes(stream.next_pdu(wait=True) or b"") == first
    assert stream.has_pdu()  # already read: the socket need not be readable
    assert bytes(stream.next_pdu(wait=False) or b"") == second
    assert bytes(stream.next_pdu(wait=False) or b"") == third
    assert not stream.has_pdu()
    assert stream.next_pdu(wait=False) is None


def test_a_long_stream_of_mixed_sizes_arrives_intact(pair: tuple[socket.socket, socket.socket]) -> None:
    """Sizes that straddle the buffer's end (kept PDUs are moved to its front) and the limit."""
    ours, peer = pair
    rng = random.Random(17)
    sizes = [rng.choice((0, 1, 6, 4000, 65536, 131072, LIMITS.data_limit)) for _ in range(120)]
    sent = [pdu(rng.randbytes(size)) for size in sizes]
    sender = send_in_background(peer, b"".join(sent))
    stream = PduStream(ours, LIMITS)

    received = [bytes(stream.next_pdu(wait=True) or b"") for _ in sent]

    sender.join(timeout=10)
    assert received == sent


def test_a_pdu_larger_than_the_buffer_gets_its_own(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = pair
    limits = PduLimits(max_pdu=0, pdu_timeout_s=2.0)  # "no limit": capped at 16 MiB
    big = pdu(random.Random(3).randbytes(pdustream.CAPACITY * 3))
    after = pdu(b"next")
    sender = send_in_background(peer, pdu(b"x") + big + after)
    stream = PduStream(ours, limits)

    assert bytes(stream.next_pdu(wait=True) or b"") == pdu(b"x")
    assert bytes(stream.next_pdu(wait=True) or b"") == big
    assert bytes(stream.next_pdu(wait=True) or b"") == after
    sender.join(timeout=10)


def test_a_length_over_the_limit_is_refused_before_reading(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = pair
    fits = LIMITS.max_pdu + PDU_MARGIN
    peer.sendall(b"\x04\x00" + (fits + 1).to_bytes(4, "big"))
    with pytest.raises(PduRefused, match=f"claims {fits + 1} bytes"):
        PduStream(ours, LIMITS).next_pdu(wait=True)


def test_an_unknown_pdu_type_is_refused(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = pair
    peer.sendall(pdu(b"zz", pdu_type=0x42))
    with pytest.raises(PduRefused, match="unknown PDU type 0x42"):
        PduStream(ours, LIMITS).next_pdu(wait=True)


def test_the_deadline_runs_from_the_first_byte_of_the_pdu(pair: tuple[socket.socket, socket.socket]) -> None:
    """A peer that drips a PDU cannot restart the clock by making the reader come back later."""
    ours, peer = pair
    stream = PduStream(ours, PduLimits(max_pdu=16384, pdu_timeout_s=1.5))
    peer.sendall(b"\x04\x00\x00\x00\x01\x00" + b"part")
    assert stream.next_pdu(wait=False) is None  # read, but incomplete
    time.sleep(1.0)

    started = time.monotonic()
    with pytest.raises(PduRefused, match="deadline"):
        stream.next_pdu(wait=True)
    assert time.monotonic() - started < 1.2  # what was left of 1.5 s, not another 1.5 s


def test_a_peer_that_closes_mid_pdu_is_reported(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = pair
    peer.sendall(b"\x04\x00\x00\x00\x01\x00" + b"part")
    peer.close()
    with pytest.raises(PeerClosed):
        PduStream(ours, LIMITS).next_pdu(wait=True)


def test_an_idle_stream_holds_no_buffer(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, _peer = pair
    stream = PduStream(ours, LIMITS)
    assert not stream.has_pdu()
    assert stream._buffer == bytearray()  # idle connections cost no megabyte each


@pytest.fixture
def no_spares(monkeypatch: pytest.MonkeyPatch) -> pdustream._Spares:
    spares = pdustream._Spares(2)
    monkeypatch.setattr(pdustream, "spares", spares)
    return spares


def test_a_closed_streams_buffer_serves_the_next_one(
    pair: tuple[socket.socket, socket.socket], no_spares: pdustream._Spares
) -> None:
    ours, peer = pair
    first = PduStream(ours, LIMITS)
    peer.sendall(pdu(b"x" * 5000) + pdu(b"y" * 700)[:300])  # the start of a PDU stays unread
    assert bytes(first.next_pdu(wait=True) or b"") == pdu(b"x" * 5000)
    first.close()
    assert len(no_spares) == 1

    other_ours, other_peer = socket.socketpair()
    with other_ours, other_peer:
        second = PduStream(other_ours, LIMITS)
        other_peer.sendall(pdu(b"z" * 2000) + pdu(b"w" * 10))
        assert bytes(second.next_pdu(wait=True) or b"") == pdu(b"z" * 2000)  # nothing of the first's
        assert bytes(second.next_pdu(wait=True) or b"") == pdu(b"w" * 10)
        assert len(no_spares) == 0  # the spare was taken, not a new buffer made
        second.close()
    assert len(no_spares) == 1


def test_an_unread_stream_gives_nothing_back_and_few_are_kept(
    pair: tuple[socket.socket, socket.socket], no_spares: pdustream._Spares
) -> None:
    PduStream(pair[0], LIMITS).close()
    assert len(no_spares) == 0
    for _ in range(5):
        no_spares.give(bytearray(pdustream.CAPACITY))
    assert len(no_spares) == 2
