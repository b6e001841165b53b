"""Receive workers, seen from the serve process: started, fed connections, watched, restarted.

Each worker is a process (`python -m magickbox.receive.worker_process`) with two channels to the
serve process: one that carries accepted connections (a descriptor per message), one that
carries what the worker reports (ready, a connection done, sessions ended, an end the store could
not record). A worker that dies is restarted; the sessions its open associations fed become
`incomplete` (store/feeds.py) and the slots it held are freed, while the other workers go on.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from magickbox.config import Settings
from magickbox.errors import StoreFull
from magickbox.loop import Loop
from magickbox.receive.acceptor import OpenConnections
from magickbox.receive.needs import SealerStore
from magickbox.receive.slots import SharedSlots

log = logging.getLogger(__name__)

HAND_TIMEOUT_S = 5.0  # a worker that takes no connection for this long gets none (it is stuck)
KILL_WAIT_S = 5.0  # after SIGKILL: the watch thread sees the worker gone and ends
RESTART_PAUSE_S = (0.0, 1.0, 2.0, 5.0, 10.0, 30.0)  # by deaths in the last minute: back off
DEATHS_WINDOW_S = 60.0


def spill_dir(settings: Settings, slot: int) -> Path:
    """Where worker `slot` spills instances too large for memory while they arrive."""
    return settings.scratch_dir / ".incoming" / f"worker-{slot}"


class ReceiveWorker:
    """One worker slot: its process (restarted when it dies) and its two channels."""

    def __init__(
        self,
        slot: int,
        settings: Settings,
        store: SealerStore,
        slots: SharedSlots,
        readiness: threading.Condition,
        sessions_ended: Callable[[], None],
    ) -> None:
        self.slot = slot
        self.name = f"receive-{slot}"
        self.settings = settings
        self.store = store
        self.slots = slots
        self.readiness = readiness
        self.sessions_ended = sessions_ended
        self.proc: subprocess.Popen[bytes] | None = None
        self._hand: socket.socket | None = None
        self.connections = OpenConnections()
        self._ready = False
        self._deaths: list[float] = []
        # One step is one life of the worker process: started, its reports read until it ends.
        self._loop = Loop(f"{self.name}-watch", self._supervise, interval_s=0.0, scope=store.connection)
        self._stopping = self._loop.stopping

    # ---- Destination (receive/acceptor.py) ------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self._ready

    def hand(self, sock: socket.socket, address: tuple[str, int]) -> bool:
        channel = self._hand
        if channel is None or not self._ready:
            return False
        try:
            socket.send_fds(channel, [f"{address[0]} {address[1]}".encode()], [sock.fileno()])
        except OSError as exc:
            log.warning("%s did not take a connection from %s: %s", self.name, address[0], exc)
            return False
        return True

    # ---- life ------------------------------------------------------------------------------------
    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        """SIGTERM to the worker (it aborts its associations and exits); join() waits for it."""
        self._loop.request_stop()
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    def join(self) -> None:
        """Wait for the watch thread (the join policy of every loop); a worker that hangs is killed."""
        if self._loop.join():
            return
        proc = self.proc
        if proc is not None and proc.poll() is None:
            log.warning("%s did not stop in time: killed", self.name)
            proc.kill()
            self._loop.join(KILL_WAIT_S)

    def _supervise(self) -> float:
        """Start the worker, read its reports until it ends, settle what it held; then the pause
        before it is started again (none after a single death, longer while it keeps dying)."""
        try:
            events = self._spawn()
        except OSError:
            log.exception("%s could not start", self.name)
            return RESTART_PAUSE_S[-1]
        if self._stopping.is_set() and self.proc is not None:  # stop() came while it was starting
            self.proc.send_signal(signal.SIGTERM)
        self._read_events(events)
        self._ended()
        return self._restart_pause()

    def _spawn(self) -> socket.socket:
        hand_here, hand_there = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        events_here, events_there = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        hand_here.settimeout(HAND_TIMEOUT_S)
        fds = (hand_there.fileno(), events_there.fileno(), self.slots.fd)
        argv = [
            sys.executable, "-m", "magickbox.receive.worker_process", "--slot", str(self.slot),
            "--rows", str(self.slots.rows), "--hand-fd", str(fds[0]), "--events-fd", str(fds[1]),
            "--slots-fd", str(fds[2]), "--parent", str(os.getpid()),
        ]  # fmt: skip
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, pass_fds=fds)
            assert self.proc.stdin is not None
            with self.proc.stdin:  # settings by pipe: not visible in ps or /proc/<pid>/environ
                self.proc.stdin.write(pickle.dumps(self.settings))
        finally:
            hand_there.close()
            events_there.close()
        self._hand = hand_here
        log.info("%s started (pid %d)", self.name, self.proc.pid)
        return events_here

    def _read_events(self, events: socket.socket) -> None:
        with events:
            while True:
                try:
                    message = events.recv(65536)
                except OSError:
                    return
                if not message:
                    return  # the worker is gone (or closing)
                try:
                    self._on_event(json.loads(message))
                except Exception:
                    log.exception("%s: a report could not be handled: %r", self.name, message[:200])

    def _on_event(self, event: dict[str, Any]) -> None:
        if event.get("ready"):
            self._ready = True
            with self.readiness:
                self.readiness.notify_all()
        if event.get("done"):
            self.connections.closed()
        unrecorded = event.get("unrecorded")
        if unrecorded:  # the "ended" report that follows wakes the sealer, which retries them
            self.store.sessions.unrecorded_ends.add(int(unrecorded[0]), str(unrecorded[1]))
        if event.get("ended"):
            self.sessions_ended()

    def _ended(self) -> None:
        """The worker's process is over: free what it held, end the sessions it was feeding."""
        self._ready = False
        hand, self._hand = self._hand, None
        if hand is not None:
            hand.close()  # connections handed but not yet taken close with it
        assert self.proc is not None
        code = self.proc.wait()
        self.slots.clear_row(self.slot)  # its spill folder goes when it starts again (Receiver)
        self.connections.reset()
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        if self._stopping.is_set() and code == 0:
            log.info("%s stopped", self.name)
            return
        self._deaths.append(time.monotonic())
        reason = f"the receive worker of this association stopped ({how}) during the send"
        ended = self._end_feeds(self.proc.pid, reason)
        log.warning(
            "%s (pid %d) ended with %s; sessions it was receiving: %s%s",
            self.name, self.proc.pid, how, ", ".join(ended) or "none",
            "" if self._stopping.is_set() else "; starting it again",
        )  # fmt: skip

    def _end_feeds(self, pid: int, reason: str) -> list[str]:
        try:
            ended = self.store.sessions.end_process_feeds(pid, reason)
        except StoreFull:
            log.warning("the sessions of dead worker pid %d stay open until the store can write", pid)
            return []
        except Exception:
            log.exception("ending the sessions of dead worker pid %d failed", pid)
            return []
        self.sessions_ended()
        return [f"{f.scratchdir} ({'incomplete' if f.incomplete else 'retrieval goes on'})" for f in ended]

    def _restart_pause(self) -> float:
        """No pause after a single death; longer ones while the worker keeps dying at once."""
        now = time.monotonic()
        self._deaths = [t for t in self._deaths if now - t < DEATHS_WINDOW_S]
        return RESTART_PAUSE_S[min(max(len(self._deaths) - 1, 0), len(RESTART_PAUSE_S) - 1)]


def stop_all(workers: list[ReceiveWorker]) -> None:
    """SIGTERM to every worker at once, then wait for each (killing any that hang)."""
    for worker in workers:
        worker.stop()
    for worker in workers:
        worker.join()
