"""The acceptor reactor's wake-up (pynetdicom_compat.wake_reactor_on_input), on a real
association thread and DUL over a socket pair."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pynetdicom import AE
from pynetdicom._globals import MODE_ACCEPTOR
from pynetdicom.association import Association
from pynetdicom.transport import AssociationSocket

from magickbox.dicom import pynetdicom_compat


@pytest.fixture
def reactor(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Association, list[int]]]:
    """An acceptor whose reactor runs on its own (no negotiation), and a count of its looks
    at the DIMSE queue. Its idle look is 10 s here: anything sooner is a wake-up."""
    monkeypatch.setattr(pynetdicom_compat, "REACTOR_IDLE_LOOK_S", 10.0)
    assoc = Association(AE(), MODE_ACCEPTOR)
    ours, peer = socket.socketpair()
    assoc.set_socket(AssociationSocket(assoc, client_socket=ours))
    pynetdicom_compat.wake_reactor_on_input(assoc)
    looks: list[int] = []
    get_msg = assoc.dimse.get_msg

    def counted(block: bool = False) -> Any:
        looks.append(1)
        return get_msg(block)

    setattr(assoc.dimse, "get_msg", counted)  # noqa: B010
    setattr(assoc, "run", assoc._run_reactor)  # noqa: B010 - the reactor alone, as after negotiation
    assoc.dul.start()
    assoc.start()
    yield assoc, looks
    assoc._kill = True
    assoc.dul.kill_dul()
    assoc.dimse.msg_queue.put((None, None))
    assoc.join(5)
    assoc.dul.join(5)
    ours.close()
    peer.close()


def test_an_idle_acceptor_reactor_does_not_poll(reactor: tuple[Association, list[int]]) -> None:
    assoc, looks = reactor
    assoc.join(0.5)  # pynetdicom's own reactor looks every millisecond: about 500 times here
    assert assoc.is_alive()
    assert len(looks) <= 2


def wait_for_look(looks: list[int], more_than: int) -> bool:
    deadline = time.monotonic() + 5  # half the idle look: only a wake-up gets here in time
    while len(looks) <= more_than and time.monotonic() < deadline:
        time.sleep(0.01)
    return len(looks) > more_than


@pytest.mark.parametrize("inbox", ["DIMSE messages", "DUL primitives"])
def test_anything_queued_wakes_the_reactor(reactor: tuple[Association, list[int]], inbox: str) -> None:
    assoc, looks = reactor
    assoc.join(0.2)
    before = len(looks)
    if inbox == "DIMSE messages":
        assoc.dimse.msg_queue.put((None, None))  # nothing to serve: the reactor only looks
    else:
        assoc.dul.to_user_queue.put(None)  # neither a release nor an abort: the same
    assert wait_for_look(looks, before)
    assert assoc.is_alive()
