"""The receiver stage: the box's DICOM SCP (C-ECHO and every storage SOP class).

In the serve process it runs the acceptor (the DICOM port), the sealer, and either the receive
workers (`receive_workers` processes, supervised: receive/workers.py) or, with
`receive_workers = 0`, one receiver in this process. Workers let receiving use every core and
keep a busy receiver from slowing the HTTP API, scheduler and router (and the other way round).
"""

from __future__ import annotations

import logging
import shutil
import socket
import threading
import time

from magickbox.config import Settings
from magickbox.loop import Loop
from magickbox.receive.acceptor import Acceptor, Destination, OpenConnections
from magickbox.receive.access import AccessPolicy
from magickbox.receive.guard import raise_open_files_limit
from magickbox.receive.needs import ReceiverStore
from magickbox.receive.receiver import Receiver
from magickbox.receive.sealer import sealer_loop
from magickbox.receive.slots import SharedSlots
from magickbox.receive.workers import ReceiveWorker, spill_dir, stop_all

log = logging.getLogger(__name__)

READY_WAIT_S = 30.0  # start() waits this long at most for every worker to be ready


class LocalReceiver:
    """`receive_workers = 0`: the receiver runs in this process (a Destination and its events)."""

    ready = True

    def __init__(self, settings: Settings, store: ReceiverStore, slots: SharedSlots, sealer: Loop) -> None:
        self.store = store
        self.sealer = sealer
        self.connections = OpenConnections()
        self.receiver = Receiver(settings, store, slots, self, spill_dir(settings, 0))

    def hand(self, sock: socket.socket, address: tuple[str, int]) -> bool:
        self.receiver.hand(sock.dup(), address)  # the acceptor closes its own descriptor
        return True

    def connection_done(self) -> None:
        self.connections.closed()

    def sessions_ended(self) -> None:
        self.sealer.wake()

    def end_unrecorded(self, session_id: int, why: str) -> None:
        self.store.sessions.unrecorded_ends.add(session_id, why)


class ReceiveStage:
    name = "receiver"

    def __init__(self, settings: Settings, store: ReceiverStore) -> None:
        self.settings = settings
        self.store = store
        self.sealer = sealer_loop(store)
        self.readiness = threading.Condition()
        rows = max(settings.receive_workers, 1)
        self.slots = SharedSlots(settings.max_associations, settings.max_associations_per_ip, rows)
        self.local: LocalReceiver | None = None
        self.workers: list[ReceiveWorker] = []
        self.acceptor: Acceptor | None = None

    def start(self) -> None:
        raise_open_files_limit()
        shutil.rmtree(self.settings.scratch_dir / ".incoming", ignore_errors=True)  # left by a crash
        self.sealer.start()
        self.sealer.wake()  # sessions that were settling before a restart
        destinations: list[Destination]
        if self.settings.receive_workers == 0:
            self.local = LocalReceiver(self.settings, self.store, self.slots, self.sealer)
            destinations = [self.local]
        else:
            self.workers = [
                ReceiveWorker(n, self.settings, self.store, self.slots, self.readiness, self.sealer.wake)
                for n in range(self.settings.receive_workers)
            ]
            destinations = list(self.workers)
        for worker in self.workers:
            worker.start()
        self._wait_for_workers()  # the port opens when receiving can start at full speed
        policy = AccessPolicy(self.settings, self.store)
        self.acceptor = Acceptor(
            self.settings.host, self.settings.dicom_port, destinations, policy.network_allowed, self.readiness
        )
        self.acceptor.start()

    def _wait_for_workers(self) -> None:
        if not self.workers:
            return
        deadline = time.monotonic() + READY_WAIT_S
        with self.readiness:
            while not all(w.ready for w in self.workers) and time.monotonic() < deadline:
                self.readiness.wait(0.2)
        ready = sum(w.ready for w in self.workers)
        log.info("%d of %d receive worker(s) ready", ready, len(self.workers))

    def stop(self) -> None:
        """Stop accepting, then end the receivers: open associations end, their sessions incomplete."""
        if self.acceptor is not None:
            self.acceptor.stop()
        if self.local is not None:
            self.local.receiver.stop()
        stop_all(self.workers)
        self.sealer.stop()


def make_receiver(settings: Settings, store: ReceiverStore) -> ReceiveStage:
    return ReceiveStage(settings, store)
