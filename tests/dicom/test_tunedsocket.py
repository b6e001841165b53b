"""TunedSocket.ready: waits for data in poll(), but never while the state machine has work."""

from __future__ import annotations

import socket
import threading

from pynetdicom import AE
from pynetdicom._globals import MODE_ACCEPTOR
from pynetdicom.association import Association

from magickbox.dicom.tunedsocket import TunedSocket


def ready_within(wrapper: TunedSocket, seconds: float) -> bool | None:
    """What `ready` answered, or None if it was still waiting after `seconds`."""
    answer: list[bool] = []
    thread = threading.Thread(target=lambda: answer.append(wrapper.ready), daemon=True)
    thread.start()
    thread.join(seconds)
    return answer[0] if answer else None


def tuned_pair() -> tuple[TunedSocket, socket.socket]:
    ours, peer = socket.socketpair()
    wrapper = TunedSocket(Association(AE(), MODE_ACCEPTOR), client_socket=ours)
    wrapper.ready_wait_s = 5.0  # longer than the tests wait: an answer before means no wait
    while not wrapper.event_queue.empty():  # what the constructor queued (connection open)
        wrapper.event_queue.get()
    return wrapper, peer


def test_it_waits_for_data_when_there_is_nothing_else_to_do() -> None:
    wrapper, peer = tuned_pair()
    answer: list[bool] = []
    waiting = threading.Thread(target=lambda: answer.append(wrapper.ready), daemon=True)
    with peer:
        waiting.start()
        waiting.join(0.3)
        assert waiting.is_alive()  # still in poll(), no busy loop
        peer.sendall(b"\x01")
        waiting.join(2)
        assert answer == [True]


def test_queued_events_are_not_kept_waiting_for_data() -> None:
    """A read that queued two events (connection open, A-ASSOCIATE-RQ) gets its second one
    handled at once, not after the poll's wait."""
    wrapper, peer = tuned_pair()
    with peer:
        wrapper.event_queue.put("Evt6")
        assert ready_within(wrapper, 2) is False  # no data, and no wait for it
