"""Seals sessions whose settle window has passed: one thread, asleep until the next deadline.

Also seals sessions that were settling when the box stopped (their deadline is in the store),
and, while the disk is full, retries what the store could not record: association ends and the
records of deleted sessions, with back-off, logging once per stretch of failures.
"""

from __future__ import annotations

import logging
import time

from magickbox.errors import StoreFull
from magickbox.loop import Backoff, Loop
from magickbox.receive.needs import SealerStore
from magickbox.receive.tracker import tidy_incoming

log = logging.getLogger(__name__)

IDLE_WAIT_S = 5.0  # re-read the store now and then, in case another process changed it
# Writes a full disk refused are retried sooner than the idle wait: from 0.5 s, doubling, to IDLE_WAIT_S.
RETRY = Backoff(initial_s=0.5, max_s=IDLE_WAIT_S)


def sealer_loop(store: SealerStore) -> Loop:
    """The sealer's thread. `wake()` it when a session may have started settling: it looks at
    the deadlines again."""
    return Loop("sealer", Sealer(store).step, interval_s=IDLE_WAIT_S, scope=store.connection)


class Sealer:
    """One round of sealing (a step of `sealer_loop`)."""

    def __init__(self, store: SealerStore) -> None:
        self.store = store
        self._refused = 0  # rounds in a row in which changes waited for free space (0: none wait)

    def step(self) -> float:
        """Record what waited, seal what settled; then sleep until the next deadline (or retry)."""
        self._back_off(self._catch_up() + self._seal_due())
        return self._wait_s()

    def _wait_s(self) -> float:
        try:
            deadline = self.store.sessions.next_settle_deadline()
        except Exception:
            log.exception("could not read settle deadlines")
            return 1.0
        wait = IDLE_WAIT_S if deadline is None else min(max(deadline - time.time(), 0.0), IDLE_WAIT_S)
        return min(wait, RETRY.delay(self._refused)) if self._refused else wait

    def _catch_up(self) -> int:
        """Record what a full disk refused earlier. Returns how many changes still wait."""
        sessions = self.store.sessions
        if not len(sessions.unrecorded_ends) and not self._refused and not self.store.layout.tombstoned():
            return 0
        try:
            return sessions.retry_unrecorded_ends() + sessions.finish_deletes()
        except Exception:
            log.exception("recording refused writes failed")
            return 1

    def _back_off(self, waiting: int) -> None:
        """Retry sooner than the idle wait while writes wait, less often each time; log once."""
        if waiting and not self._refused:
            log.warning("%d change(s) wait for free space in the data folder; retrying", waiting)
        elif not waiting and self._refused:
            log.info("the store can write again: what waited is recorded")
        self._refused = self._refused + 1 if waiting else 0

    def _seal_due(self) -> int:
        """Seal settled sessions; 1 when a full disk refused (their deadlines stay for the retry)."""
        try:
            for session_id in self.store.sessions.seal_due():
                tidy_incoming(self.store, session_id)
                log.info("session %d sealed: queued", session_id)
        except StoreFull:
            return 1
        return 0  # anything else is a failed step: logged by the loop, tried again after a pause
