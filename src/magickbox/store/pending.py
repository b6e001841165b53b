"""Association ends the store could not record (full disk), kept in memory until it can.

The receiver cuts such a connection (the sender sees a failed send), so the truthful end of each
session it fed is `incomplete`. Until that is written, the session stays `receiving` with an
association counted that no longer exists; this registry lets deleting proceed anyway and lets
the sealer retry. A restart resolves what is left (`recover_receiving`).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from magickbox.errors import StoreFull


class UnrecordedEnds:
    """Thread-safe: association threads add, the sealer retries, the API asks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reasons: dict[int, str] = {}
        self._count: Counter[int] = Counter()

    def add(self, session_id: int, reason: str) -> None:
        with self._lock:
            self._reasons[session_id] = reason
            self._count[session_id] += 1

    def count(self, session_id: int) -> int:
        """How many of the session's counted associations are in fact over."""
        with self._lock:
            return self._count[session_id]

    def __len__(self) -> int:
        with self._lock:
            return len(self._reasons)

    def retry(self, abort: Callable[[int, str], None]) -> list[int]:
        """Record each end with `abort`; stops at the first `StoreFull` (the disk is still full).

        Returns the sessions whose end is now recorded; the rest stay for the next retry.
        """
        with self._lock:
            pending = list(self._reasons.items())
        done = []
        for session_id, reason in pending:
            try:
                abort(session_id, reason)
            except StoreFull:
                break
            done.append(session_id)
            with self._lock:
                self._reasons.pop(session_id, None)
                self._count.pop(session_id, None)
        return done
