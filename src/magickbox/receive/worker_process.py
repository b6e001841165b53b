"""A receive worker process: takes connections from the serve process and receives them.

Started by receive/workers.py as `python -m magickbox.receive.worker_process ...` with the
settings on stdin (pickled by the parent; never from anyone else). It dies with its parent
(PR_SET_PDEATHSIG), stops on SIGTERM or when the serve process closes the channel, and ignores
SIGINT (a Ctrl-C reaches the whole process group; the serve process decides when workers stop).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import logging
import os
import pickle
import signal
import socket
import sys
import threading
from typing import Any

import pydicom.config

from magickbox.config import Settings
from magickbox.dicom import pynetdicom_compat
from magickbox.logsetup import configure_logging
from magickbox.receive.guard import raise_open_files_limit
from magickbox.receive.receiver import Receiver
from magickbox.receive.slots import SharedSlots
from magickbox.receive.workers import spill_dir
from magickbox.store import Store

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


class ChannelEvents:
    """ReceiverEvents sent to the serve process, one small JSON message each."""

    def __init__(self, channel: socket.socket) -> None:
        self.channel = channel

    def send(self, event: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):  # the serve process is gone; this worker dies with it
            self.channel.send(json.dumps(event).encode())

    def connection_done(self) -> None:
        self.send({"done": 1})

    def sessions_ended(self) -> None:
        self.send({"ended": 1})

    def end_unrecorded(self, session_id: int, why: str) -> None:
        self.send({"unrecorded": [session_id, why]})


def die_with_parent(parent: int) -> None:
    """Ask Linux to kill this process when the serve process dies (even by kill -9)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(1)


def take_connections(hand: socket.socket, receiver: Receiver, stop: threading.Event) -> None:
    """Receive descriptors until the serve process closes the channel."""
    while True:
        try:
            message, fds, _flags, _addr = socket.recv_fds(hand, 256, 1)
        except OSError:
            break
        if not message and not fds:
            break
        for fd in fds:
            ip, _, port = message.decode().partition(" ")
            receiver.hand(socket.socket(fileno=fd), (ip, int(port or 0)))
    stop.set()


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="magickbox receive worker")
    for name in ("--slot", "--rows", "--hand-fd", "--events-fd", "--slots-fd", "--parent"):
        parser.add_argument(name, type=int, required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    die_with_parent(args.parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    settings: Settings = pickle.load(sys.stdin.buffer)
    configure_logging(settings, process=f"receive-{args.slot}")
    pynetdicom_compat.check_version()
    pynetdicom_compat.remember_uid_conversions()
    # Negotiation makes a pydicom UID of every proposed context (storescu proposes over a
    # hundred), and pydicom checks each against a pattern only to warn. The receiver checks the
    # UIDs it relies on itself (guard.proposed_contexts, dicom/uid.py); skipping pydicom's
    # check takes a third off what an association costs before its first instance.
    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
    raise_open_files_limit()
    events = ChannelEvents(socket.socket(fileno=args.events_fd))
    slots = SharedSlots(
        settings.max_associations,
        settings.max_associations_per_ip,
        args.rows,
        fd=args.slots_fd,
        row=args.slot,
    )
    store = Store(settings)
    receiver = Receiver(settings, store, slots, events, spill_dir(settings, args.slot))
    hand = socket.socket(fileno=args.hand_fd)
    threading.Thread(target=take_connections, args=(hand, receiver, stop), name="take", daemon=True).start()
    events.send({"ready": True})
    while not stop.wait(1.0):
        pass
    receiver.stop()


if __name__ == "__main__":
    main()
