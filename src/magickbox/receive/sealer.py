"""Seals sessions whose settle window has passed: one thread, asleep until the next deadline.

Also seals sessions that were settling when the box stopped (their deadline is in the store).
"""

from __future__ import annotations

import logging
import threading
import time

from magickbox.receive.tracker import tidy_incoming
from magickbox.store import Store

log = logging.getLogger(__name__)

IDLE_WAIT_S = 5.0  # re-read the store now and then, in case another process changed it


class Sealer:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sealer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """A session may have started settling: look at the deadlines again."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._wake.wait(self._wait_s())
                self._wake.clear()
                if self._stop.is_set():
                    break
                self._seal_due()
        finally:
            self.store.db.close()

    def _wait_s(self) -> float:
        try:
            deadline = self.store.sessions.next_settle_deadline()
        except Exception:
            log.exception("could not read settle deadlines")
            return 1.0
        if deadline is None:
            return IDLE_WAIT_S
        return min(max(deadline - time.time(), 0.0), IDLE_WAIT_S)

    def _seal_due(self) -> None:
        try:
            for session_id in self.store.sessions.seal_due():
                tidy_incoming(self.store, session_id)
                log.info("session %d sealed: queued", session_id)
        except Exception:
            log.exception("sealing settled sessions failed")
            time.sleep(1.0)
