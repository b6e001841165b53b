"""Seals sessions whose settle window has passed: one thread, asleep until the next deadline.

Also seals sessions that were settling when the box stopped (their deadline is in the store),
and, while the disk is full, retries what the store could not record: association ends and the
records of deleted sessions, with back-off, logging once per stretch of failures.
"""

from __future__ import annotations

import logging
import threading
import time

from magickbox.errors import StoreFull
from magickbox.receive.needs import SealerStore
from magickbox.receive.tracker import tidy_incoming

log = logging.getLogger(__name__)

IDLE_WAIT_S = 5.0  # re-read the store now and then, in case another process changed it
RETRY_FIRST_S = 0.5  # back-off for writes a full disk refused: doubles up to IDLE_WAIT_S


class Sealer:
    def __init__(self, store: SealerStore) -> None:
        self.store = store
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sealer", daemon=True)
        self._retry_s = 0.0  # 0: nothing waits to be recorded

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
        with self.store.connection():
            while not self._stop.is_set():
                self._wake.wait(self._wait_s())
                self._wake.clear()
                if self._stop.is_set():
                    break
                self._back_off(self._catch_up() + self._seal_due())

    def _wait_s(self) -> float:
        try:
            deadline = self.store.sessions.next_settle_deadline()
        except Exception:
            log.exception("could not read settle deadlines")
            return 1.0
        wait = IDLE_WAIT_S if deadline is None else min(max(deadline - time.time(), 0.0), IDLE_WAIT_S)
        return min(wait, self._retry_s) if self._retry_s else wait

    def _catch_up(self) -> int:
        """Record what a full disk refused earlier. Returns how many changes still wait."""
        sessions = self.store.sessions
        if not len(sessions.unrecorded_ends) and not self._retry_s and not self.store.layout.tombstoned():
            return 0
        try:
            return sessions.retry_unrecorded_ends() + sessions.finish_deletes()
        except Exception:
            log.exception("recording refused writes failed")
            return 1

    def _back_off(self, waiting: int) -> None:
        """Retry sooner than the idle wait while writes wait, less often each time; log once."""
        if waiting and not self._retry_s:
            log.warning("%d change(s) wait for free space in the data folder; retrying", waiting)
        elif not waiting and self._retry_s:
            log.info("the store can write again: what waited is recorded")
        self._retry_s = min(max(self._retry_s * 2, RETRY_FIRST_S), IDLE_WAIT_S) if waiting else 0.0

    def _seal_due(self) -> int:
        """Seal settled sessions; 1 when a full disk refused (their deadlines stay for the retry)."""
        try:
            for session_id in self.store.sessions.seal_due():
                tidy_incoming(self.store, session_id)
                log.info("session %d sealed: queued", session_id)
        except StoreFull:
            return 1
        except Exception:
            log.exception("sealing settled sessions failed")
            time.sleep(1.0)
        return 0
